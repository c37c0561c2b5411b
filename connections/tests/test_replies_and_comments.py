"""Replies and first comments as each adapter sends them (docs/platforms/: replies, threads
and first comments)."""

import json

import responses

from connections.platforms.base import Account, Draft, TransientError
from connections.platforms.facebook.adapter import FacebookAdapter
from connections.platforms.instagram.adapter import InstagramAdapter
from connections.platforms.linkedin.adapter import LinkedInAdapter
from connections.platforms.x.adapter import XAdapter
from connections.tests.contract import GRAPH, LINKEDIN, NOW, AdapterTestCase, X

ACCOUNT = Account(account_id="acct-1", access_token="token-1")
SHARE = "urn:li:share:7012345678901234567"
ORG = "urn:li:organization:5515715"


class XReplyTests(AdapterTestCase):
    adapter_class = XAdapter

    def test_it_sends_a_thread_part_as_a_reply_to_the_previous_post(self):
        self.http.add(responses.POST, f"{X}/2/tweets", status=201, json={"data": {"id": "22", "text": "2/2"}})

        published = self.adapter.publish(ACCOUNT, Draft(text="2/2", reply_to="11"))

        self.assertEqual(published.external_id, "22")
        sent = json.loads(self.http.calls[0].request.body)
        self.assertEqual(sent, {"text": "2/2", "reply": {"in_reply_to_tweet_id": "11"}})

    def test_its_first_comment_is_a_reply(self):
        self.http.add(responses.POST, f"{X}/2/tweets", status=201, json={"data": {"id": "33", "text": "more"}})
        self.assertEqual(self.adapter.comment(ACCOUNT, Draft(text="more", reply_to="11")), "33")
        self.assertEqual(json.loads(self.http.calls[0].request.body)["reply"], {"in_reply_to_tweet_id": "11"})


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


class LinkedInCommentTests(AdapterTestCase):
    adapter_class = LinkedInAdapter

    def test_it_comments_through_social_actions_with_the_encoded_urn(self):
        account = Account(account_id=ORG, access_token="token-1")
        url = f"{LINKEDIN}/rest/socialActions/urn%3Ali%3Ashare%3A7012345678901234567/comments"
        self.http.add(responses.POST, url, status=201, json={"id": "7001"}, headers={"x-restli-id": "7001"})

        self.assertEqual(self.adapter.comment(account, Draft(text="First!", reply_to=SHARE)), "7001")

        sent = json.loads(self.http.calls[0].request.body)
        self.assertEqual(sent, {"actor": ORG, "object": SHARE, "message": {"text": "First!"}})
        self.assertIn("LinkedIn-Version", self.http.calls[0].request.headers)
