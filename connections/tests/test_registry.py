"""The registry of platforms (connections.platforms), and the checklist of docs/adding-a-platform.md
for every declared platform."""

import os
import pkgutil
import re
import sys
from importlib import import_module
from re import _parser as regex_parser
from unittest import mock

from django.apps import apps
from django.conf import settings
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState
from django.test import SimpleTestCase, override_settings
from django.urls import URLResolver, resolve
from django.urls.resolvers import RoutePattern
from django.utils.module_loading import import_string

from connections.models import Connection, Platform
from connections.platforms import DECLARATIONS, UnknownPlatform, connected_with, get_adapter, get_client, setting_value
from connections.platforms import adapter_class as class_of
from connections.platforms.config import value_of
from connections.platforms.declaration import Setting
from connections.tests.contract import AdapterContract
from mockapis.state import store
from planrrr.settings import BASE_DIR

# The adapter class of every declared platform, by name.
ADAPTERS = {declared.name: class_of(declared.name) for declared in DECLARATIONS}


class GetAdapterTests(SimpleTestCase):
    def test_it_knows_the_six_platforms(self):
        # The six names of the contracts (docs/api.md); a new platform adds its own.
        self.assertLessEqual({"FACEBOOK", "INSTAGRAM", "TWITTER", "LINKEDIN", "BLUESKY", "MASTODON"}, set(ADAPTERS))
        for name, adapter_class in ADAPTERS.items():
            self.assertEqual(adapter_class.platform, name)

    def test_it_gives_one_instance_per_platform_sharing_one_session(self):
        facebook, twitter = get_adapter("FACEBOOK"), get_adapter("TWITTER")
        self.assertIs(get_adapter("FACEBOOK"), facebook)
        self.assertIs(facebook.session, twitter.session)

    def test_it_builds_new_instances_in_a_forked_process(self):
        facebook = get_adapter("FACEBOOK")
        with mock.patch("os.getpid", return_value=-1):
            child = get_adapter("FACEBOOK")
        self.assertIsNot(child, facebook)
        self.assertIsNot(child.session, facebook.session)

    def test_it_names_the_known_platforms_for_an_unknown_one(self):
        with self.assertRaisesMessage(
            UnknownPlatform,
            "Unknown platform 'MYSPACE'; known platforms: FACEBOOK, INSTAGRAM, TWITTER, LINKEDIN, BLUESKY, MASTODON",
        ):
            get_adapter("MYSPACE")
        self.assertTrue(issubclass(UnknownPlatform, ValueError))


class PlatformChoicesTests(SimpleTestCase):
    def test_it_builds_the_choices_from_the_registry(self):
        self.assertEqual(Platform.values, list(ADAPTERS))
        self.assertEqual(Platform.choices, [(name, adapter.label) for name, adapter in ADAPTERS.items()])

    def test_it_gives_every_platform_the_label_its_adapter_uses(self):
        for name, adapter_class in ADAPTERS.items():
            with self.subTest(platform=name):
                self.assertEqual(Platform(name).label, adapter_class.label)
                self.assertEqual(get_adapter(name).label, Platform(name).label)
        self.assertEqual(Platform("TWITTER").label, "X")

    def test_it_keeps_the_text_choices_api(self):
        self.assertEqual(Platform.FACEBOOK, "FACEBOOK")
        self.assertEqual(Platform.FACEBOOK.label, "Facebook")
        self.assertEqual(Platform.TWITTER.label, "X")
        self.assertIn("LINKEDIN", Platform.values)
        self.assertEqual(Connection(platform="TWITTER").get_platform_display(), "X")


class ConfigTests(SimpleTestCase):
    """A platform's variable: the Django setting of its name, else the environment, else its default."""

    SETTING = Setting("PLANRRR_TEST_PLATFORM_SECONDS", 3600)

    def test_it_reads_the_declared_default_when_nothing_is_set(self):
        with mock.patch.dict(os.environ, {}, clear=False):
            os.environ.pop(self.SETTING.name, None)
            self.assertEqual(value_of(self.SETTING), 3600)

    def test_it_reads_the_environment_with_the_defaults_type(self):
        with mock.patch.dict(os.environ, {self.SETTING.name: "60"}):
            self.assertEqual(value_of(self.SETTING), 60)

    def test_a_django_setting_wins_and_is_read_with_the_defaults_type(self):
        with mock.patch.dict(os.environ, {self.SETTING.name: "60"}), override_settings(**{self.SETTING.name: "5"}):
            self.assertEqual(value_of(self.SETTING), 5)

    def test_it_reads_a_declared_variable_by_its_name(self):
        with override_settings(TWITTER_API_URL="https://api.x.test"):
            self.assertEqual(setting_value("TWITTER_API_URL"), "https://api.x.test")
        with self.assertRaisesMessage(LookupError, "No platform declares the variable 'NOT_A_PLATFORM_URL'."):
            setting_value("NOT_A_PLATFORM_URL")


def example_path(pattern) -> str:
    """A path the URL pattern matches: a route's converters filled with "1", a regex's shortest
    match (its first branch, optional parts left out, "a" for a class such as [^/])."""
    if isinstance(pattern, RoutePattern):
        return re.sub(r"<(?:\w+:)?\w+>", "1", str(pattern))

    def shortest(parsed) -> str:
        out = []
        for op, arg in parsed:
            kind = str(op)
            if kind == "LITERAL":
                out.append(chr(arg))
            elif kind == "SUBPATTERN":
                out.append(shortest(arg[-1]))
            elif kind in ("MAX_REPEAT", "MIN_REPEAT"):
                out.append(shortest(arg[2]) * arg[0])
            elif kind == "BRANCH":
                out.append(shortest(arg[1][0]))
            elif kind in ("IN", "NOT_LITERAL", "ANY"):
                out.append("a")
            elif kind != "AT":
                raise ValueError(f"example_path cannot read {kind} in {pattern}")
        return "".join(out)

    return shortest(regex_parser.parse(str(pattern)))


def routes(patterns) -> list:
    """Every URL pattern, those of the included urlconfs with them."""
    found = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            found.extend(routes(entry.url_patterns))
        else:
            found.append(entry)
    return found


@override_settings(ROOT_URLCONF=settings.MOCK_APIS_URLCONF, RATE_LIMIT_ENABLED=False, RANDOM_FAILURES=0.0, LATENCY_MS=0)
class DeclaredPlatformTests(SimpleTestCase):
    """docs/adding-a-platform.md, kept true: every declared platform has each of its parts, each
    matching its declaration. A platform that lacks one fails here, saying which."""

    def setUp(self) -> None:
        super().setUp()
        store.reset()
        self.addCleanup(store.reset)

    def test_its_name_fits_the_column_that_stores_it(self):
        longest = Connection._meta.get_field("platform").max_length
        for declared in DECLARATIONS:
            with self.subTest(platform=declared.name):
                self.assertRegex(declared.name, r"^[A-Z][A-Z0-9_]*$")
                self.assertLessEqual(len(declared.name), longest)

    def test_its_adapter_imports_and_speaks_for_it(self):
        for declared in DECLARATIONS:
            with self.subTest(platform=declared.name):
                adapter = import_string(declared.adapter)
                self.assertIs(adapter.declaration, declared)
                self.assertEqual((adapter.platform, adapter.label), (declared.name, declared.label))
                self.assertIsInstance(get_adapter(declared.name), adapter)

    def test_its_client_imports_and_connects_its_accounts(self):
        for declared in DECLARATIONS:
            with self.subTest(platform=declared.name):
                client = import_string(declared.client)
                # The client's own platform declares it (Instagram's accounts come with Facebook's).
                self.assertEqual(client.declaration.client, declared.client)
                self.assertIn(declared, connected_with(client.platform))
                self.assertIsInstance(get_client(declared.name), client)

    def test_the_contract_tests_are_subclassed_for_it(self):
        for declared in DECLARATIONS:
            with self.subTest(platform=declared.name):
                adapter = import_string(declared.adapter)
                tests = f"{package_of(declared)}.tests"
                cases = [
                    case
                    for module in submodules(tests)
                    for case in vars(module).values()
                    if isinstance(case, type)
                    and issubclass(case, AdapterContract)
                    and getattr(case, "adapter_class", None) is adapter
                ]
                self.assertTrue(cases, f"No AdapterContract subclass tests {adapter.__name__} in {tests}.")

    def test_its_stand_in_is_mounted_and_answers(self):
        mounted = routes(import_module(settings.MOCK_APIS_URLCONF).urlpatterns)
        for declared in DECLARATIONS:
            with self.subTest(platform=declared.name):
                own = routes(import_module(declared.standin).urlpatterns)
                self.assertTrue(own, f"{declared.standin} has no urlpatterns.")
                for route in own:
                    self.assertIn(route, mounted)
                    path = "/" + example_path(route.pattern).lstrip("^")
                    self.assertIs(resolve(path).func, route.callback, path)
                    answer = self.client.post(path)
                    self.assertNotIn(answer.status_code, (404, 500), f"POST {path}: {answer.content[:200]!r}")
                # Each URL it plays under the stand-in's base has its routes there.
                for setting in declared.all_settings:
                    if setting.standin:
                        prefix = setting.standin.strip("/") + "/"
                        self.assertTrue(
                            any(example_path(route.pattern).lstrip("^").startswith(prefix) for route in own),
                            f"{setting.name} is played at {prefix} but {declared.standin} has no route there.",
                        )

    def test_its_docs_page_exists_and_is_linked(self):
        index = (BASE_DIR / "docs/platforms/README.md").read_text()
        for declared in DECLARATIONS:
            with self.subTest(platform=declared.name):
                page = BASE_DIR / declared.docs
                self.assertTrue(page.is_file(), f"{declared.docs} is missing.")
                self.assertEqual(page.parent, BASE_DIR / "docs/platforms")
                self.assertTrue(f"]({page.name})" in index, f"docs/platforms/README.md does not link {page.name}.")

    def test_its_variables_are_in_the_configuration_page(self):
        configuration = (BASE_DIR / "docs/configuration.md").read_text()
        for declared in DECLARATIONS:
            for setting in declared.all_settings:
                with self.subTest(platform=declared.name, variable=setting.name):
                    self.assertTrue(
                        f"`{setting.name}`" in configuration, f"docs/configuration.md lacks {setting.name}."
                    )

    def test_the_model_choices_need_no_migration(self):
        loader = MigrationLoader(None, ignore_no_migrations=True)
        changes = MigrationAutodetector(loader.project_state(), ProjectState.from_apps(apps)).changes(
            graph=loader.graph
        )
        self.assertEqual({app: [str(m.operations) for m in found] for app, found in changes.items()}, {})


def package_of(declared) -> str:
    """The package whose ``__init__`` holds this declaration."""
    return next(
        name
        for name, module in list(sys.modules.items())
        if name.startswith("connections.platforms.") and getattr(module, "DECLARATION", None) is declared
    )


def submodules(package: str) -> list:
    """The modules of a package (its tests), imported."""
    try:
        root = import_module(package)
    except ModuleNotFoundError:
        return []
    return [import_module(info.name) for info in pkgutil.iter_modules(root.__path__, f"{package}.")]
