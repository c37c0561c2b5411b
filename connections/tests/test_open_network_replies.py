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
from connections.platforms.bluesky.adapter import BlueskyAdapter
from connections.platforms.mastodon.adapter import MastodonAdapter
from connections.tests.contract import BLUESKY, MASTODON, NOW, AdapterTestCase, pinned

# Calls to a PDS or an instance connect to the address they checked (planrrr.urlsafety).
XRPC = pinned(f"{BLUESKY}/xrpc")
CREATE = f"{XRPC}/com.atproto.repo.createRecord"
GET_RECORD = f"{XRPC}/com.atproto.repo.getRecord"
AUTHOR_FEED = f"{XRPC}/app.bsky.feed.getAuthorFeed"
DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
ROOT_RKEY, PARENT_RKEY, RKEY = "3l6oveex3ii2a", "3l6oveex3ii2b", "3l6oveex3ii2c"
ROOT = f"at://{DID}/app.bsky.feed.post/{ROOT_RKEY}"
PARENT = f"at://{DID}/app.bsky.feed.post/{PARENT_RKEY}"
URI = f"at://{DID}/app.bsky.feed.post/{RKEY}"
ROOT_CID = "bafyreiroot0000000000000000000000000000000000000000000000"
PARENT_CID = "bafyreiparent000000000000000000000000000000000000000000"
CID = "bafyreinew00000000000000000000000000000000000000000000000"

STATUSES = pinned(f"{MASTODON}/api/v1/statuses")
INSTANCE = pinned(f"{MASTODON}/api/v2/instance")


def query(call) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(call.request.url).query).items()}


def feed_item(uri: str, text: str, *, parent: str = "", author: str = DID, minutes_ago: int = 0) -> dict:
    created = (NOW - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")
    record: dict = {"$type": "app.bsky.feed.post", "text": text, "createdAt": created}
    if parent:
        record["reply"] = {"root": {"uri": ROOT, "cid": ROOT_CID}, "parent": {"uri": parent, "cid": PARENT_CID}}
    return {"post": {"uri": uri, "cid": CID, "author": {"did": author}, "record": record, "indexedAt": created}}


class BlueskyReplyTests(AdapterTestCase):
    adapter_class = BlueskyAdapter
    account = Account(account_id=DID, access_token="token-1", base_url=BLUESKY)

    def part(self, **kwargs) -> Draft:
        state = {"rkey": RKEY, "createdAt": "2025-03-01T12:00:00.000Z"}
        return Draft(text="3/3 the end", state=state, **kwargs)

    def mock_record(self, uri: str, cid: str) -> None:
        self.http.add(responses.GET, GET_RECORD, json={"uri": uri, "cid": cid, "value": {}})

    def mock_create(self) -> None:
        self.http.add(responses.POST, CREATE, json={"uri": URI, "cid": CID, "commit": {"cid": CID, "rev": RKEY}})

    def sent_record(self) -> dict:
        creates = [call for call in self.http.calls if call.request.url == CREATE]
        self.assertEqual(len(creates), 1)
        return json.loads(creates[0].request.body)["record"]

    def test_it_takes_threads_and_first_comments_of_300_graphemes(self):
        self.assertTrue(BlueskyAdapter.supports_threads)
        self.assertEqual(BlueskyAdapter.max_comment_length, 300)

    def test_a_thread_part_names_its_parent_and_root_by_uri_and_cid(self):
        self.mock_record(PARENT, PARENT_CID)
        self.mock_record(ROOT, ROOT_CID)
        self.mock_create()

        published = self.adapter.publish(self.account, self.part(reply_to=PARENT, reply_root=ROOT))

        self.assertEqual(published.external_id, URI)
        self.assertEqual(
            self.sent_record()["reply"],
            {"root": {"uri": ROOT, "cid": ROOT_CID}, "parent": {"uri": PARENT, "cid": PARENT_CID}},
        )
        reads = [query(call) for call in self.http.calls if call.request.url.startswith(GET_RECORD)]
        self.assertEqual(
            reads,
            [
                {"repo": DID, "collection": "app.bsky.feed.post", "rkey": PARENT_RKEY},
                {"repo": DID, "collection": "app.bsky.feed.post", "rkey": ROOT_RKEY},
            ],
        )

    def test_a_retried_part_sends_the_same_refs_without_reading_them_again(self):
        draft = self.part(reply_to=PARENT, reply_root=ROOT)
        draft.state["reply"] = {"root": {"uri": ROOT, "cid": ROOT_CID}, "parent": {"uri": PARENT, "cid": PARENT_CID}}
        self.mock_create()

        self.adapter.publish(self.account, draft)

        self.assertEqual(len(self.http.calls), 1, "no getRecord: the refs were kept in the part's state")
        self.assertEqual(self.sent_record()["reply"]["parent"], {"uri": PARENT, "cid": PARENT_CID})

    def test_the_second_part_reads_the_first_post_once_as_root_and_parent(self):
        self.mock_record(ROOT, ROOT_CID)
        self.mock_create()
        draft = self.part(reply_to=ROOT, reply_root=ROOT)

        self.adapter.publish(self.account, draft)

        self.assertEqual(len(self.http.calls), 2)
        ref = {"uri": ROOT, "cid": ROOT_CID}
        self.assertEqual(self.sent_record()["reply"], {"root": ref, "parent": ref})
        self.assertEqual(draft.state["reply"], {"root": ref, "parent": ref})

    def test_its_first_comment_is_a_reply_whose_root_and_parent_are_the_post(self):
        self.mock_record(ROOT, ROOT_CID)
        self.mock_create()

        comment = Draft(text="Menu: https://acme.example", reply_to=ROOT, reply_root=ROOT)
        self.assertEqual(self.adapter.comment(self.account, comment), URI)

        record = self.sent_record()
        self.assertEqual(record["text"], "Menu: https://acme.example")
        ref = {"uri": ROOT, "cid": ROOT_CID}
        self.assertEqual(record["reply"], {"root": ref, "parent": ref})

    def test_a_reply_to_a_deleted_post_gives_up_without_sending_it(self):
        body = {"error": "RecordNotFound", "message": f"Could not locate record: {PARENT}"}
        self.http.add(responses.GET, GET_RECORD, status=400, json=body)

        with self.assertRaises(PermanentError) as caught:
            self.adapter.publish(self.account, self.part(reply_to=PARENT, reply_root=ROOT))

        self.assertIn(f"Bluesky has no post {PARENT} to reply to", caught.exception.message)
        self.assertFalse([call for call in self.http.calls if call.request.url == CREATE])

    def test_it_finds_a_part_whose_key_was_lost_among_the_accounts_posts_and_replies(self):
        feed = [
            feed_item(f"at://did:plc:someoneelse/app.bsky.feed.post/{RKEY}", "3/3 the end", parent=PARENT),
            feed_item(f"at://{DID}/app.bsky.feed.post/3l6oveex3ii2x", "3/3 the end", parent=ROOT),
            feed_item(URI, "3/3 the end", parent=PARENT),
        ]
        self.http.add(responses.GET, AUTHOR_FEED, json={"feed": feed})

        found = self.adapter.find_published(self.account, Draft(text="3/3 the end", reply_to=PARENT), NOW)

        self.assertEqual(found, URI, "the account's own reply, with this text, to this parent")
        self.assertEqual(query(self.http.calls[0]), {"actor": DID, "filter": "posts_with_replies", "limit": "100"})

    def test_it_stops_searching_at_posts_older_than_the_window(self):
        feed = [feed_item(URI, "3/3 the end", parent=PARENT, minutes_ago=30)]
        self.http.add(responses.GET, AUTHOR_FEED, json={"feed": feed, "cursor": "next"})

        since = NOW - timedelta(minutes=5)
        self.assertIsNone(self.adapter.find_published(self.account, Draft(text="3/3 the end", reply_to=PARENT), since))
        self.assertEqual(len(self.http.calls), 1, "no second page: the rest is older still")

    def test_it_finds_its_first_comment_at_its_record_key_without_reading_the_feed(self):
        self.mock_record(URI, CID)
        comment = Draft(text="More below", reply_to=ROOT, reply_root=ROOT, state={"rkey": RKEY})

        self.assertEqual(self.adapter.find_comment(self.account, comment, NOW), URI)

        self.assertEqual(query(self.http.calls[0])["rkey"], RKEY)
        self.assertEqual(len(self.http.calls), 1, "one getRecord; the AppView's feed, which lags, is not read")

    def test_it_finds_its_first_comment_by_text_under_the_post(self):
        # A comment begun before its record key was kept.
        self.http.add(responses.GET, AUTHOR_FEED, json={"feed": [feed_item(URI, "More below", parent=ROOT)]})
        self.assertEqual(self.adapter.find_comment(self.account, Draft(text="More below", reply_to=ROOT), NOW), URI)


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
