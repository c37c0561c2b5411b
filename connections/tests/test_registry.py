from unittest import mock

from django.test import SimpleTestCase

from connections.models import Connection, Platform
from connections.platforms import DECLARATIONS, UnknownPlatform, get_adapter
from connections.platforms import adapter_class as class_of

# The adapter class of every declared platform, by name.
ADAPTERS = {declared.name: class_of(declared.name) for declared in DECLARATIONS}


class GetAdapterTests(SimpleTestCase):
    def test_it_knows_the_six_platforms(self):
        self.assertEqual(set(ADAPTERS), {"FACEBOOK", "INSTAGRAM", "TWITTER", "LINKEDIN", "BLUESKY", "MASTODON"})
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
            "Unknown platform 'MYSPACE'; known platforms: FACEBOOK, INSTAGRAM, TWITTER, LINKEDIN, BLUESKY, MASTODON.",
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
