"""Replies and first comments as each adapter sends them (docs/platforms/: replies, threads
and first comments)."""

import responses

from connections.platforms.base import Account, Draft, TransientError
from connections.platforms.facebook.adapter import FacebookAdapter
from connections.platforms.instagram.adapter import InstagramAdapter
from connections.tests.contract import GRAPH, NOW, AdapterTestCase

ACCOUNT = Account(account_id="acct-1", access_token="token-1")


class GraphCommentTests(AdapterTestCase):
    adapter_class = FacebookAdapter

    def test_it_comments_on_the_post_with_message(self):
        self.http.add(responses.POST, f"{GRAPH}/acct-1_99/comments", json={"id": "acct-1_555"})

        self.assertEqual(
            self.adapter.comment(ACCOUNT, Draft(text="Link: https://acme.example", reply_to="acct-1_99")), "acct-1_555"
        )

        self.assertIn("message=Link", self.http.calls[0].request.body)

    def test_a_server_error_on_a_comment_is_transient(self):
        body = {"error": {"message": "An unknown error occurred", "type": "OAuthException", "code": 1}}
        self.http.add(responses.POST, f"{GRAPH}/acct-1_99/comments", status=500, json=body)
        with self.assertRaises(TransientError):
            self.adapter.comment(ACCOUNT, Draft(text="x", reply_to="acct-1_99"))

    def test_instagram_finds_its_comment_by_text(self):
        self.adapter = InstagramAdapter()
        listing = {"data": [{"id": "1", "text": "other"}, {"id": "2", "text": "mine"}]}
        self.http.add(responses.GET, f"{GRAPH}/1789/comments", json=listing)
        self.assertEqual(self.adapter.find_comment(ACCOUNT, Draft(text="mine", reply_to="1789"), NOW), "2")
