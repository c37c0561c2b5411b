"""Every MCP tool is an operation of the API's OpenAPI schema, and every operation of the schema is a
tool or listed as deliberately absent with its reason: an operation the API gains fails here, by
name, until it is given a tool (one declaration in agents/tools.py) or a reason."""

from pathlib import Path

from django.conf import settings
from django.test import SimpleTestCase

from agents.openapi import operations
from agents.tools import ABSENT, TOOLS


class ParityTests(SimpleTestCase):
    def test_every_tool_is_an_operation_of_the_schema(self):
        unknown = sorted(f"{tool.name} -> {tool.operation}" for tool in TOOLS if tool.operation not in operations())
        self.assertEqual(unknown, [], "tools naming an operation the OpenAPI schema does not have")

    def test_every_operation_is_a_tool_or_deliberately_absent(self):
        covered = {tool.operation for tool in TOOLS}
        missing = sorted(
            f"{op.method} {op.path} ({op.id})" for op in operations().values() if op.id not in covered | set(ABSENT)
        )
        self.assertEqual(
            missing,
            [],
            "operations of the API with no MCP tool: declare a Tool for each in agents/tools.py, or list it in "
            "ABSENT with the reason",
        )

    def test_an_absent_operation_is_no_tool_exists_and_says_why(self):
        covered = {tool.operation for tool in TOOLS}
        self.assertEqual(sorted(covered & set(ABSENT)), [], "operations both a tool and absent")
        self.assertEqual(sorted(set(ABSENT) - set(operations())), [], "absent operations the schema does not have")
        self.assertTrue(all(len(reason) > 20 for reason in ABSENT.values()))

    def test_tool_names_are_unique_and_their_arguments_are_the_operations(self):
        self.assertEqual(len({tool.name for tool in TOOLS}), len(TOOLS))
        create = operations()["posts_create"].input_schema
        self.assertEqual(create["required"], ["content"])
        self.assertIn("variants", create["properties"])
        self.assertIn("VariantsRequest", create["$defs"])
        self.assertEqual(operations()["posts_cancel_create"].input_schema["required"], ["postId"])
        self.assertEqual(operations()["channels_queue_retrieve"].path_arguments, {"channelId": "id"})
        self.assertEqual(
            operations()["posts_create"].input_schema["properties"]["scheduledAt"]["type"], ["string", "null"]
        )

    def test_the_docs_list_every_tool(self):
        page = (Path(settings.BASE_DIR) / "docs" / "mcp.md").read_text()
        self.assertEqual([tool.name for tool in TOOLS if f"`{tool.name}`" not in page], [])
