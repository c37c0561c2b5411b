"""LinkedIn's engagement figures: organizationalEntityShareStatistics, networkSizes; none for members."""

import responses

from connections.platforms.base import Account, PermanentError
from connections.platforms.linkedin.adapter import LinkedInAdapter
from connections.tests.contract import LINKEDIN, AdapterTestCase

ORG = Account(account_id="urn:li:organization:2414183", access_token="token-1")
MEMBER = Account(account_id="urn:li:person:abc", access_token="token-1")
STATS = {
    "uniqueImpressionsCount": 80,
    "shareCount": 2,
    "engagement": 0.051,
    "clickCount": 6,
    "likeCount": 9,
    "impressionCount": 120,
    "commentCount": 3,
}


class LinkedInMetricsTests(AdapterTestCase):
    adapter_class = LinkedInAdapter

    def test_it_reads_shares_and_ugc_posts_in_one_call_with_encoded_urns(self):
        elements = [
            {"share": "urn:li:share:1", "organizationalEntity": ORG.account_id, "totalShareStatistics": STATS},
            {"ugcPost": "urn:li:ugcPost:2", "organizationalEntity": ORG.account_id, "totalShareStatistics": STATS},
        ]
        self.http.add(
            responses.GET, f"{LINKEDIN}/rest/organizationalEntityShareStatistics", json={"elements": elements}
        )

        found = self.adapter.post_metrics(ORG, ["urn:li:share:1", "urn:li:ugcPost:2"])

        url = self.http.calls[0].request.url
        self.assertIn("shares=List(urn%3Ali%3Ashare%3A1)", url)
        self.assertIn("ugcPosts=List(urn%3Ali%3AugcPost%3A2)", url)
        self.assertIn("organizationalEntity=urn%3Ali%3Aorganization%3A2414183", url)
        self.assertEqual(self.http.calls[0].request.headers["LinkedIn-Version"], "202501")
        self.assertEqual(
            found["urn:li:share:1"].values,
            {"views": 120, "reach": 80, "likes": 9, "comments": 3, "shares": 2, "clicks": 6},
        )
        self.assertNotIn("engagement", found["urn:li:share:1"].raw, "a rate, not a count")
        self.assertIn("urn:li:ugcPost:2", found)

    def test_it_says_member_posts_give_no_figures_without_calling(self):
        refused = self.adapter.metrics_refused(MEMBER)
        self.assertIn("Community Management API", refused)
        with self.assertRaises(PermanentError):
            self.adapter.post_metrics(MEMBER, ["urn:li:share:1"])
        self.assertEqual(len(self.http.calls), 0)

    def test_it_reads_the_organization_followers(self):
        self.http.add(
            responses.GET,
            f"{LINKEDIN}/rest/networkSizes/urn%3Ali%3Aorganization%3A2414183",
            json={"firstDegreeSize": 4321},
        )
        self.assertEqual(self.adapter.account_metrics(ORG).values, {"followers": 4321})
