"""Replies and first comments as each adapter sends them (docs/platforms/: replies, threads
and first comments)."""

import json

import responses

from connections.platforms.base import Account, Draft
from connections.platforms.linkedin.adapter import LinkedInAdapter
from connections.tests.contract import LINKEDIN, AdapterTestCase

SHARE = "urn:li:share:7012345678901234567"


ORG = "urn:li:organization:5515715"


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
