"""Thread parts and first comments on Bluesky and Mastodon, as each adapter sends them: a
Bluesky reply names its root and parent by uri and cid; a Mastodon reply names the status it
answers, keeps the post's visibility and carries its own Idempotency-Key."""

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import responses
from django.core.cache import cache
from django.test import override_settings

from connections.platforms.base import Account, Draft, PermanentError
from connections.platforms.mastodon.adapter import MastodonAdapter
from connections.tests.contract import MASTODON, NOW, AdapterTestCase, pinned

STATUSES = pinned(f"{MASTODON}/api/v1/statuses")


INSTANCE = pinned(f"{MASTODON}/api/v2/instance")


def query(call) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(call.request.url).query).items()}


@override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}})
class MastodonReplyTests(AdapterTestCase):
    adapter_class = MastodonAdapter
    account = Account(account_id="109302316291234567@mastodon.test", access_token="token-1", base_url=MASTODON)

    def setUp(self):
        super().setUp()
        cache.clear()  # the instance's limits, cached per instance

    def mock_status(self, **answer) -> None:
        # The instance's limits, read before a status is sent, then the status.
        configuration = {"statuses": {"max_characters": 500, "max_media_attachments": 4}}
        self.http.add(responses.GET, INSTANCE, json={"configuration": configuration})
        self.http.add(responses.POST, STATUSES, **answer)

    def sent(self) -> tuple[dict, dict]:
        call = next(call for call in self.http.calls if call.request.url == STATUSES)
        return json.loads(call.request.body), dict(call.request.headers)

    def test_it_takes_threads_and_first_comments_of_500_characters(self):
        self.assertTrue(MastodonAdapter.supports_threads)
        self.assertEqual(MastodonAdapter.max_comment_length, 500)
        # As Mastodon counts: a URL is 23 characters, whatever its length.
        self.assertEqual(self.adapter.text_length("See https://example.com/" + "a" * 100), 4 + 23)

    def test_a_thread_part_replies_to_the_previous_status_with_its_own_key_and_the_posts_visibility(self):
        self.mock_status(json={"id": "113427315827212802", "url": "https://m/2"})
        draft = Draft(text="2/2 more", reply_to="113427315827212801", idempotency_key="planrrr-publication-7-part-1")

        published = self.adapter.publish(self.account, draft)

        self.assertEqual(published.external_id, "113427315827212802")
        body, headers = self.sent()
        self.assertEqual(body, {"status": "2/2 more", "visibility": "public", "in_reply_to_id": "113427315827212801"})
        self.assertEqual(headers["Idempotency-Key"], "planrrr-publication-7-part-1")

    def test_its_first_comment_is_a_reply_with_the_key_it_is_given(self):
        self.mock_status(json={"id": "113427315827212809"})
        comment = Draft(
            text="Shop: https://a.example",
            reply_to="113427315827212801",
            idempotency_key="planrrr-first-comment-113427315827212801",
        )

        self.assertEqual(self.adapter.comment(self.account, comment), "113427315827212809")

        body, headers = self.sent()
        self.assertEqual(body["in_reply_to_id"], "113427315827212801")
        self.assertEqual(body["visibility"], "public")
        self.assertEqual(headers["Idempotency-Key"], "planrrr-first-comment-113427315827212801")

    def test_a_reply_to_a_status_that_is_gone_gives_up_with_mastodons_words(self):
        words = "The post you are trying to reply to does not appear to exist."
        self.mock_status(status=404, json={"error": words})

        with self.assertRaises(PermanentError) as caught:
            self.adapter.comment(self.account, Draft(text="Too late", reply_to="1"))

        self.assertEqual(caught.exception.message, f"Mastodon API error (404): {words}")


def status(status_id: str, content: str, *, reply_to: str | None = None, minutes_ago: int = 0, **fields) -> dict:
    """A Status as GET /api/v1/accounts/:id/statuses lists it: no text, the rendered content."""
    created = (NOW - timedelta(minutes=minutes_ago)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "id": status_id,
        "created_at": created,
        "in_reply_to_id": reply_to,
        "content": content,
        "media_attachments": [],
        "reblog": None,
        **fields,
    }


ACCOUNT_STATUSES = pinned(f"{MASTODON}/api/v1/accounts/109302316291234567/statuses")


TEXT = (
    "New roast & more\nSee https://acme.example/shop/a-very-long-path-to-the-roast, ask @dana@example.social\n\n#coffee"
)


RENDERED = (
    '<p>New roast &amp; more<br />See <a href="https://acme.example/shop/a-very-long-path-to-the-roast" '
    'target="_blank" rel="nofollow noopener" translate="no"><span class="invisible">https://</span>'
    '<span class="ellipsis">acme.example/shop/a-very-long-</span><span class="invisible">path-to-the-roast'
    '</span></a>, ask <span class="h-card" translate="no"><a href="https://example.social/@dana" '
    'class="u-url mention">@<span>dana</span></a></span></p><p><a href="https://mastodon.test/tags/coffee" '
    'class="mention hashtag" rel="tag">#<span>coffee</span></a></p>'
)


class MastodonLookupTests(AdapterTestCase):
    """A status whose answer was lost is found among the account's own statuses: Mastodon keeps an
    Idempotency-Key an hour, and planrrr may try again later than that."""

    adapter_class = MastodonAdapter
    account = Account(account_id="109302316291234567@mastodon.test", access_token="token-1", base_url=MASTODON)

    def test_it_finds_a_post_by_the_content_mastodon_rendered_from_its_text(self):
        statuses = [
            status("113427315827212805", RENDERED, reply_to="113427315827212801"),  # a reply with the text
            status("113427315827212804", "<p>Another post</p>"),
            status("113427315827212803", RENDERED, reblog={"id": "1"}),  # a boost
            status("113427315827212802", RENDERED),
        ]
        self.http.add(responses.GET, ACCOUNT_STATUSES, json=statuses)

        found = self.adapter.find_published(self.account, Draft(text=TEXT), NOW - timedelta(minutes=1))

        self.assertEqual(found, "113427315827212802")
        self.assertEqual(query(self.http.calls[0]), {"limit": "40", "exclude_reblogs": "true"})

    def test_it_finds_a_thread_part_or_a_comment_by_the_status_it_replies_to(self):
        statuses = [
            status("113427315827212805", "<p>2/2 more</p>", reply_to="113427315827212899"),
            status("113427315827212804", "<p>2/2 more</p>", reply_to="113427315827212801"),
        ]
        self.http.add(responses.GET, ACCOUNT_STATUSES, json=statuses)

        part = Draft(text="2/2 more", reply_to="113427315827212801")
        self.assertEqual(self.adapter.find_published(self.account, part, NOW), "113427315827212804")
        self.http.add(responses.GET, ACCOUNT_STATUSES, json=statuses)
        self.assertEqual(self.adapter.find_comment(self.account, part, NOW), "113427315827212804")

    def test_it_pages_back_with_max_id_and_stops_at_statuses_older_than_the_attempt(self):
        first = [status(str(113427315827212900 - n), f"<p>Newer {n}</p>") for n in range(40)]
        second = [
            status("113427315827212800", "<p>Found me</p>", minutes_ago=2),
            status("113427315827212799", "<p>Older</p>", minutes_ago=30),
        ]
        self.http.add(responses.GET, ACCOUNT_STATUSES, json=first)
        self.http.add(responses.GET, ACCOUNT_STATUSES, json=second)

        since = NOW - timedelta(minutes=5)
        self.assertEqual(self.adapter.find_published(self.account, Draft(text="Found me"), since), "113427315827212800")
        self.assertEqual(query(self.http.calls[1])["max_id"], "113427315827212861")

        self.http.add(responses.GET, ACCOUNT_STATUSES, json=second)
        self.assertIsNone(self.adapter.find_published(self.account, Draft(text="Never sent"), since))
        self.assertEqual(len(self.http.calls), 3, "no page past a status older than the attempt")

    def test_a_status_with_other_media_or_made_before_the_attempt_is_not_it(self):
        statuses = [
            status("113427315827212805", "<p>Look</p>", media_attachments=[{"id": "1"}, {"id": "2"}]),
            status("113427315827212804", "<p>Look</p>", minutes_ago=10),
        ]
        self.http.add(responses.GET, ACCOUNT_STATUSES, json=statuses)

        draft = Draft(text="Look", media_urls=["https://acme.example/a.png"])
        self.assertIsNone(self.adapter.find_published(self.account, draft, NOW - timedelta(minutes=5)))
