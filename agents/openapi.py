"""A tool's arguments, read off its operation in the API's OpenAPI schema (drf-spectacular's
generator, the schema served at /api/v1/schema): the path's id as ``<resource>Id`` (``postId``),
the query's parameters, and the JSON body's fields at the top level, with the schema's own types,
limits and descriptions. A tool therefore takes what its operation takes, and changes with it.

The schema is OpenAPI 3.0; an MCP tool's ``inputSchema`` is JSON Schema (2020-12): references
move from ``#/components/schemas/`` to ``#/$defs/``, and ``nullable: true`` becomes a ``null`` type.
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass, field
from typing import Any

from drf_spectacular.generators import SchemaGenerator

IDEMPOTENCY_KEY = "idempotencyKey"
_COMPONENTS = "#/components/schemas/"


@dataclass(frozen=True)
class Operation:
    id: str
    method: str  # GET, POST…
    path: str  # /api/v1/posts/{id}
    summary: str
    path_arguments: dict[str, str] = field(default_factory=dict)  # argument -> path parameter
    query: dict[str, dict] = field(default_factory=dict)  # parameter -> its schema
    body: frozenset[str] = frozenset()  # the JSON body's fields
    input_schema: dict[str, Any] = field(default_factory=dict)


@functools.cache
def schema() -> dict[str, Any]:
    """The API's OpenAPI schema, generated once per process."""
    return SchemaGenerator().get_schema(request=None, public=True)


@functools.cache
def operations() -> dict[str, Operation]:
    """Every operation of the schema, by operationId."""
    document = schema()
    found = {}
    for path, methods in document["paths"].items():
        for method, spec in methods.items():
            found[spec["operationId"]] = _operation(document, path, method.upper(), spec)
    return found


def _operation(document: dict, path: str, method: str, spec: dict) -> Operation:
    properties: dict[str, Any] = {}
    required: list[str] = []
    path_arguments: dict[str, str] = {}
    query: dict[str, dict] = {}
    # The resource a path's {id} is a row of: /api/v1/posts/{id}/cancel -> postId.
    resource = re.match(r"^/api/v1/([a-z-]+?)s?/\{", path)
    for parameter in spec.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        described = {**_json_schema(parameter.get("schema", {}))}
        if parameter.get("description"):
            described["description"] = parameter["description"]
        if where == "path":
            argument = name
            if resource and name == "id":
                argument = f"{_camel(resource.group(1))}Id"
                described["description"] = f"The {resource.group(1).replace('-', ' ')}'s id."
            path_arguments[argument] = name
            properties[argument] = described
            required.append(argument)
        elif where == "query":
            query[name] = parameter.get("schema", {})
            properties[name] = described
            if parameter.get("required"):
                required.append(name)
    body: set[str] = set()
    content = spec.get("requestBody", {}).get("content", {}).get("application/json")
    if content:
        shape = _resolve(document, content["schema"])
        for name, prop in shape.get("properties", {}).items():
            if prop.get("readOnly"):
                continue
            if name in properties:
                raise ValueError(f"{spec['operationId']}: the body's {name!r} is also a parameter's name")
            properties[name] = _json_schema(prop)
            body.add(name)
        required += [name for name in shape.get("required", []) if name in body]
    input_schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        input_schema["required"] = required
    definitions = _definitions(document, properties)
    if definitions:
        input_schema["$defs"] = definitions
    return Operation(
        id=spec["operationId"],
        method=method,
        path=path,
        summary=spec.get("description") or spec.get("summary") or "",
        path_arguments=path_arguments,
        query=query,
        body=frozenset(body),
        input_schema=input_schema,
    )


def _camel(segment: str) -> str:
    head, *rest = segment.split("-")
    return head + "".join(part.title() for part in rest)


def _resolve(document: dict, schema_: dict) -> dict:
    while "$ref" in schema_:
        schema_ = document["components"]["schemas"][schema_["$ref"].removeprefix(_COMPONENTS)]
    return schema_


def _definitions(document: dict, properties: dict) -> dict[str, Any]:
    """The components the arguments refer to, transitively, as JSON Schema ``$defs``."""
    found: dict[str, Any] = {}
    pending = list(_references(properties))
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found[name] = _json_schema(document["components"]["schemas"][name])
        pending.extend(_references(found[name]))
    return found


def _references(value: Any):
    if isinstance(value, dict):
        if isinstance(value.get("$ref"), str):
            yield value["$ref"].removeprefix("#/$defs/")
        for item in value.values():
            yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _json_schema(value: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema."""
    if isinstance(value, list):
        return [_json_schema(item) for item in value]
    if not isinstance(value, dict):
        return value
    converted = {key: _json_schema(item) for key, item in value.items() if key not in ("nullable", "readOnly")}
    if isinstance(converted.get("$ref"), str):
        converted["$ref"] = "#/$defs/" + converted["$ref"].removeprefix(_COMPONENTS)
    if value.get("nullable"):
        if isinstance(converted.get("type"), str):
            converted["type"] = [converted["type"], "null"]
            if "enum" in converted:
                converted["enum"] = [*converted["enum"], None]
        else:
            converted = {"anyOf": [converted, {"type": "null"}]}
    return copy.deepcopy(converted)
