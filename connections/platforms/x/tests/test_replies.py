"""Replies and first comments as each adapter sends them (docs/platforms/: replies, threads
and first comments)."""

import json

import responses

from connections.platforms.base import Account, Draft
from connections.platforms.x.adapter import XAdapter
from connections.tests.contract import AdapterTestCase, X

ACCOUNT = Account(account_id="acct-1", access_token="token-1")


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
