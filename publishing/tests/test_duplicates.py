"""A duplicate refusal that names the post it duplicates (LinkedIn's DUPLICATE_POST): after an
attempt whose answer was lost, the post named is adopted once LinkedIn confirms it is the account's
own, published and made since the attempt; otherwise, and on a first attempt, the publication fails
naming it (docs/posts.md, "Attempts")."""

from datetime import timedelta

import responses
from django.test import TestCase, override_settings
from django.utils import timezone

from devtools.testing import flush_redis
from publishing import services
from publishing.models import JobMetric, Post, Publication
from publishing.tests.base import FACEBOOK_PAGE, LINKEDIN_ORG, Actors

API = "https://linkedin.test/rest"
POSTS = f"{API}/posts"
LOST = "urn:li:share:7893000000000000001"
BY_URN = f"{POSTS}/urn%3Ali%3Ashare%3A7893000000000000001"


def duplicate_of(urn: str) -> dict:
    """LinkedIn's 422 for commentary the author already posted."""
    return {
        "status": 422,
        "json": {
            "message": "com.linkedin.content.common.exception.BadRequestResponseException: "
            f"Content is a duplicate of {urn}",
            "status": 422,
            "errorDetails": {
                "inputErrors": [{"description": "Duplicate post is detected", "input": {}, "code": "DUPLICATE_POST"}]
            },
        },
    }


class LostAnswerCase(Actors, TestCase):
    """A publication on ``platform`` whose first attempt may have lost its answer, published
    against ``responses``."""

    platform = ""

    def setUp(self):
        flush_redis()
        self.make_actors()
        self.enterContext(responses.mock)

    def publication(self, *, unknown: bool) -> Publication:
        """A publication due now; with ``unknown``, one whose first attempt, two minutes ago, lost
        its answer."""
        post = services.post_create(team=self.team, content="Said twice", platforms=[self.platform])
        Post.objects.filter(pk=post.pk).update(
            status=Post.Status.PUBLISHING, scheduled_at=timezone.now() - timedelta(minutes=3)
        )
        publication = post.publications.get()
        if unknown:
            Publication.objects.filter(pk=publication.pk).update(
                attempt_count=1, outcome_unknown=True, first_attempt_at=timezone.now() - timedelta(minutes=2)
            )
        return publication

    def publish(self, publication: Publication) -> str:
        with self.captureOnCommitCallbacks(execute=True):
            outcome = services.publication_publish(publication_id=publication.pk)
        publication.refresh_from_db()
        return outcome


@override_settings(LINKEDIN_API_URL="https://linkedin.test", PUBLISH_MAX_ATTEMPTS=3)
class DuplicateNamingThePostTests(LostAnswerCase):
    platform = "LINKEDIN"

    def setUp(self):
        super().setUp()
        self.linkedin = self.connect("LINKEDIN", LINKEDIN_ORG, "li-token")

    def the_lost_post(self, **fields) -> dict:
        made = timezone.now() - timedelta(minutes=2) + timedelta(seconds=1)
        return {
            "id": LOST,
            "author": LINKEDIN_ORG,
            "commentary": "Said twice",
            "lifecycleState": "PUBLISHED",
            "createdAt": int(made.timestamp() * 1000),
            **fields,
        }

    def not_seen_then_refused(self) -> None:
        """The retry's look among the recent posts misses it; the POST is refused naming it."""
        responses.get(POSTS, json={"elements": []})
        responses.post(POSTS, **duplicate_of(LOST))

    def by_urn_calls(self) -> list:
        return [call for call in responses.calls if call.request.url.startswith(f"{POSTS}/")]

    def test_after_a_lost_answer_it_adopts_the_post_named_once_linkedin_confirms_it(self):
        self.not_seen_then_refused()
        responses.get(BY_URN, json=self.the_lost_post())
        publication = self.publication(unknown=True)

        self.assertEqual(self.publish(publication), JobMetric.Outcome.RECONCILED)

        self.assertEqual((publication.status, publication.external_id), (Publication.Status.PUBLISHED, LOST))
        self.assertTrue(publication.metadata["reconciled"])
        self.assertFalse(publication.outcome_unknown)
        self.assertEqual(publication.error, "")
        last = publication.metadata["history"][-1]
        self.assertEqual((last["attempt"], last["outcome"], last["error"]), (2, "RECONCILED", ""))
        self.assertEqual(
            last["note"], f"LinkedIn said the post duplicates {LOST}, made by the attempt whose answer was lost"
        )
        self.assertEqual(len(self.by_urn_calls()), 1)
        self.assertEqual(Post.objects.get(pk=publication.post_id).status, Post.Status.PUBLISHED)

    def test_after_a_lost_answer_it_never_adopts_a_post_linkedin_does_not_confirm(self):
        long_before = int((timezone.now() - timedelta(days=3)).timestamp() * 1000)
        cases = {
            "another author's": (
                {"json": self.the_lost_post(author="urn:li:organization:999")},
                "it is not a published post of this account made since",
            ),
            "made before the first attempt": (
                {"json": self.the_lost_post(createdAt=long_before)},
                "it is not a published post of this account made since",
            ),
            "a draft": (
                {"json": self.the_lost_post(lifecycleState="DRAFT")},
                "it is not a published post of this account made since",
            ),
            "not there": (
                {"status": 404, "json": {"status": 404, "message": f"Not enough permissions or {LOST} does not exist"}},
                f"checking it failed: LinkedIn API error (404): Not enough permissions or {LOST} does not exist",
            ),
        }
        for name, (answer, why) in cases.items():
            with self.subTest(name):
                responses.reset()
                self.not_seen_then_refused()
                responses.get(BY_URN, **answer)
                publication = self.publication(unknown=True)

                self.assertEqual(self.publish(publication), JobMetric.Outcome.FAILED)

                self.assertEqual((publication.status, publication.external_id), (Publication.Status.FAILED, ""))
                self.assertIn(f"Content is a duplicate of {LOST} [DUPLICATE_POST]", publication.error)
                self.assertIn(
                    "an earlier attempt whose answer was lost most likely published it, but it is not among the "
                    "account's recent posts planrrr can see: check the account before posting it again.",
                    publication.error,
                )
                self.assertIn(
                    f"LinkedIn named {LOST} as the post it duplicates, but planrrr did not adopt it: {why}",
                    publication.error,
                )
                self.assertTrue(publication.outcome_unknown, "a person's retry still looks first")
                self.assertNotIn("reconciled", publication.metadata)

    def test_a_check_that_fails_for_now_is_tried_again_by_a_later_attempt_which_adopts_the_post(self):
        # LinkedIn answering 503 to the check must not end the publication: its post is on the
        # account, and the next attempt looks, is refused and checks again.
        self.not_seen_then_refused()
        responses.get(BY_URN, status=503, json={"status": 503, "message": "Service Unavailable"})
        publication = self.publication(unknown=True)

        self.assertEqual(self.publish(publication), JobMetric.Outcome.RETRY)

        self.assertEqual(publication.status, Publication.Status.PENDING)
        self.assertTrue(publication.outcome_unknown, "the next attempt looks first again")
        self.assertIn("503", publication.error)
        responses.replace(responses.GET, BY_URN, json=self.the_lost_post())
        Publication.objects.filter(pk=publication.pk).update(next_attempt_at=timezone.now())

        self.assertEqual(self.publish(publication), JobMetric.Outcome.RECONCILED)

        self.assertEqual((publication.status, publication.external_id), (Publication.Status.PUBLISHED, LOST))
        self.assertEqual(len(self.by_urn_calls()), 2)

    def test_after_a_lost_answer_it_never_adopts_a_post_another_publication_already_is(self):
        earlier = self.publication(unknown=False)
        Publication.objects.filter(pk=earlier.pk).update(status=Publication.Status.PUBLISHED, external_id=LOST)
        self.not_seen_then_refused()
        publication = self.publication(unknown=True)

        self.assertEqual(self.publish(publication), JobMetric.Outcome.FAILED)

        self.assertIn(f"planrrr did not adopt it: publication #{earlier.pk} already is that post", publication.error)
        self.assertEqual(self.by_urn_calls(), [], "nothing to ask LinkedIn")

    def test_a_first_attempt_refused_as_a_duplicate_fails_naming_the_earlier_post_and_adopts_nothing(self):
        responses.post(POSTS, **duplicate_of(LOST))
        publication = self.publication(unknown=False)

        self.assertEqual(self.publish(publication), JobMetric.Outcome.FAILED)

        self.assertEqual((publication.status, publication.external_id), (Publication.Status.FAILED, ""))
        self.assertEqual(
            publication.error,
            f"LinkedIn API error (422): com.linkedin.content.common.exception.BadRequestResponseException: Content is "
            f"a duplicate of {LOST} [DUPLICATE_POST] — this account already posted the same text ({LOST}): change "
            "the text to post it again.",
        )
        self.assertEqual([call.request.method for call in responses.calls], ["POST"], "nothing looked up or adopted")
        self.assertFalse(publication.outcome_unknown)


GRAPH = "https://graph.facebook.test/v21.0"
FEED = f"{GRAPH}/{FACEBOOK_PAGE}/feed"
FACEBOOK_DUPLICATE = {
    "status": 400,
    "json": {"error": {"message": "(#506) Duplicate status message", "type": "OAuthException", "code": 506}},
}


@override_settings(FACEBOOK_API_URL="https://graph.facebook.test", PUBLISH_MAX_ATTEMPTS=3)
class DuplicateNamingNoPostTests(LostAnswerCase):
    """Facebook's and X's refusals name no post: after an attempt whose answer was lost, a refusal
    means the lost request made the post, though the look before sending missed it (still being
    made: an answer far out in the latency tail). It is looked for once more."""

    platform = "FACEBOOK"

    def test_a_refusal_after_a_lost_answer_looks_again_and_adopts_the_post_it_then_sees(self):
        made = (timezone.now() - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S+0000")
        lost = f"{FACEBOOK_PAGE}_77"
        responses.get(FEED, json={"data": []})  # the first look: not made yet
        responses.post(FEED, **FACEBOOK_DUPLICATE)
        responses.get(FEED, json={"data": [{"id": lost, "message": "Said twice", "created_time": made}]})
        publication = self.publication(unknown=True)

        self.assertEqual(self.publish(publication), JobMetric.Outcome.RECONCILED)

        self.assertEqual((publication.status, publication.external_id), (Publication.Status.PUBLISHED, lost))
        self.assertFalse(publication.outcome_unknown)
        last = publication.metadata["history"][-1]
        self.assertEqual((last["attempt"], last["outcome"], last["error"]), (2, "RECONCILED", ""))
        self.assertIn("refused the post again as a duplicate; found among the account's posts", last["note"])
        self.assertEqual([call.request.method for call in responses.calls], ["GET", "POST", "GET"])

    def test_a_refusal_after_a_lost_answer_gives_up_saying_why_when_the_second_look_misses_too(self):
        responses.get(FEED, json={"data": []})
        responses.post(FEED, **FACEBOOK_DUPLICATE)
        publication = self.publication(unknown=True)

        self.assertEqual(self.publish(publication), JobMetric.Outcome.FAILED)

        self.assertEqual(publication.status, Publication.Status.FAILED)
        self.assertIn("Duplicate status message", publication.error)
        self.assertIn("earlier attempt whose answer was lost most likely published it", publication.error)
        self.assertEqual([call.request.method for call in responses.calls], ["GET", "POST", "GET"])

    def test_a_second_look_that_fails_for_now_leaves_the_next_attempt_to_look(self):
        responses.get(FEED, json={"data": []})
        responses.post(FEED, **FACEBOOK_DUPLICATE)
        responses.get(FEED, status=503, json={"error": {"message": "Service temporarily unavailable", "code": 2}})
        publication = self.publication(unknown=True)

        self.assertEqual(self.publish(publication), JobMetric.Outcome.RETRY)

        self.assertEqual(publication.status, Publication.Status.PENDING)
        self.assertTrue(publication.outcome_unknown, "the next attempt looks first")
        self.assertEqual(publication.external_id, "")

    def test_a_first_attempt_refused_as_a_duplicate_does_not_look(self):
        responses.post(FEED, **FACEBOOK_DUPLICATE)
        publication = self.publication(unknown=False)

        self.assertEqual(self.publish(publication), JobMetric.Outcome.FAILED)

        self.assertIn("Duplicate status message", publication.error)
        self.assertEqual([call.request.method for call in responses.calls], ["POST"])
