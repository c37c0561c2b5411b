"""Thread parts and first comments on Bluesky and Mastodon, as each adapter sends them: a
Bluesky reply names its root and parent by uri and cid; a Mastodon reply names the status it
answers, keeps the post's visibility and carries its own Idempotency-Key."""

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import responses

from connections.platforms.base import Account, Draft, PermanentError
from connections.platforms.bluesky.adapter import BlueskyAdapter
from connections.tests.contract import BLUESKY, NOW, AdapterTestCase, pinned

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
