"""LinkedIn's engagement figures: organizationalEntityShareStatistics, networkSizes; none for members."""

from datetime import timedelta

import responses

from connections.platforms.base import Account, PermanentError, TransientError
from connections.platforms.linkedin.adapter import LinkedInAdapter
from connections.tests.contract import LINKEDIN, NOW, AdapterTestCase

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


class LinkedInBackfillTests(AdapterTestCase):
    """An organization's posts made outside planrrr (the backfill); none of a member's."""

    adapter_class = LinkedInAdapter

    def element(self, urn: str, days: float, **extra) -> dict:

        millis = int((NOW.timestamp() - days * 86400) * 1000)
        body = {"id": urn, "author": ORG.account_id, "commentary": "Hello \\(world\\)", "lifecycleState": "PUBLISHED"}
        return {**body, "createdAt": millis, "publishedAt": millis, **extra}

    def test_it_lists_the_organizations_published_posts_page_by_page_until_the_lookback(self):

        since = NOW - timedelta(days=90)
        page = [self.element(f"urn:li:share:{100 - n}", n / 10) for n in range(100)]
        page[1]["lifecycleState"] = "DRAFT"
        page[2]["author"] = "urn:li:organization:other"
        self.http.add(
            responses.GET, f"{LINKEDIN}/rest/posts", json={"elements": page, "paging": {"start": 0, "count": 100}}
        )
        last = [self.element("urn:li:ugcPost:7", 89), self.element("urn:li:share:6", 91)]
        self.http.add(responses.GET, f"{LINKEDIN}/rest/posts", json={"elements": last, "paging": {"start": 100}})

        listed, cursor = self.adapter.recent_posts(ORG, since=since, cursor=None)
        self.assertEqual((len(listed), cursor), (98, "100"), "a draft and another author's post are left out")
        self.assertEqual(
            (listed[0].text, listed[0].url), ("Hello (world)", "https://www.linkedin.com/feed/update/urn:li:share:100/")
        )
        query = self.query(self.http.calls[0])
        self.assertEqual(
            (query["q"], query["author"], query["sortBy"], query["start"]), ("author", ORG.account_id, "CREATED", "0")
        )
        self.assertEqual(self.http.calls[0].request.headers["LinkedIn-Version"], "202501")

        listed, cursor = self.adapter.recent_posts(ORG, since=since, cursor=cursor)
        self.assertEqual(self.query(self.http.calls[1])["start"], "100")
        self.assertEqual(([p.external_id for p in listed], cursor), (["urn:li:ugcPost:7"], None))

    def test_a_members_posts_are_never_asked_for(self):

        self.assertIn("r_member_social", self.adapter.backfill_refused(MEMBER))
        self.assertIsNone(self.adapter.backfill_refused(ORG))
        with self.assertRaises(PermanentError):
            self.adapter.recent_posts(MEMBER, since=NOW - timedelta(days=90), cursor=None)
        self.assertEqual(len(self.http.calls), 0)

    def test_a_malformed_page_is_a_clear_error(self):

        self.http.add(responses.GET, f"{LINKEDIN}/rest/posts", json={"elements": {"id": "urn:li:share:1"}})
        with self.assertRaises(TransientError) as caught:
            self.adapter.recent_posts(ORG, since=NOW - timedelta(days=90), cursor=None)
        self.assertIn("LinkedIn API error: malformed answer, no elements list", caught.exception.message)
