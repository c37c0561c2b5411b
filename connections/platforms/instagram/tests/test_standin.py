"""Instagram's stand-in: containers, carousels, publishing and its daily limit."""

import json
import re
from unittest import mock

from mockapis.media import FetchError
from mockapis.state import store
from mockapis.tests.base import AN_IMAGE, IG_USER, StandInTestCase


@mock.patch("connections.platforms.instagram.standin.fetch_image", return_value=AN_IMAGE)
class InstagramTests(StandInTestCase):
    def container(self, **fields) -> str:
        response = self.graph("POST", f"{IG_USER}/media", {"image_url": "http://img/a.jpg", **fields})
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()["id"]

    def status(self, container_id: str) -> str:
        return self.graph("GET", container_id, {"fields": "status_code"}).json()["status_code"]

    def publish(self, container_id: str):
        return self.graph("POST", f"{IG_USER}/media_publish", {"creation_id": container_id})

    def test_it_keeps_a_new_container_in_progress_for_the_configured_polls(self, fetch):
        self.configure(container_polls_before_finished=2)
        container_id = self.container(caption="Hi")

        self.assertRegex(container_id, r"^\d{17,18}$")
        self.assertEqual([self.status(container_id) for _ in range(3)], ["IN_PROGRESS", "IN_PROGRESS", "FINISHED"])
        body = self.graph("GET", container_id, {"fields": "status_code,status"}).json()
        self.assertEqual(body["id"], container_id)
        self.assertTrue(body["status"].startswith("Finished"))

    def test_it_refuses_to_publish_a_container_not_finished_with_9007(self, fetch):
        container_id = self.container(caption="Hi")

        error = self.graph_error(self.publish(container_id))

        self.assertEqual((error["code"], error["error_subcode"]), (9007, 2207027))
        self.assertEqual(self.posts("INSTAGRAM"), [])

    def test_it_publishes_a_finished_container_and_lists_it(self, fetch):
        container_id = self.container(caption="Hi")
        self.assertEqual(self.status(container_id), "IN_PROGRESS")
        self.assertEqual(self.status(container_id), "FINISHED")

        response = self.publish(container_id)

        media_id = response.json()["id"]
        self.assertRegex(media_id, r"^\d{17,18}$")
        self.assertEqual(self.status(container_id), "PUBLISHED")
        listed = self.graph("GET", f"{IG_USER}/media", {"fields": "id,caption,timestamp"}).json()["data"]
        self.assertEqual([(m["id"], m["caption"]) for m in listed], [(media_id, "Hi")])
        self.assertRegex(listed[0]["timestamp"], r"\+0000$")
        self.assertEqual(self.graph_error(self.publish(container_id))["code"], 100)

    def test_it_publishes_a_carousel_of_child_containers(self, fetch):
        self.configure(container_polls_before_finished=0)
        children = [self.container(is_carousel_item="true") for _ in range(2)]
        carousel = self.container(media_type="CAROUSEL", children=",".join(children), caption="Two")

        self.assertEqual(self.publish(carousel).status_code, 200)

        [post] = self.posts("INSTAGRAM")
        self.assertEqual((post["text"], post["media_ids"]), ("Two", children))
        self.assertEqual(len(self.client.get("/_control/media", {"platform": "INSTAGRAM"}).json()["media"]), 3)

    def test_it_refuses_a_carousel_of_one(self, fetch):
        child = self.container(is_carousel_item="true")

        response = self.graph("POST", f"{IG_USER}/media", {"media_type": "CAROUSEL", "children": child})

        self.assertEqual(self.graph_error(response)["code"], 100)

    def test_it_enforces_the_daily_publishing_limit_with_code_9(self, fetch):
        self.configure(container_polls_before_finished=0, ig_daily_limit=1)
        self.assertEqual(self.publish(self.container(caption="one")).status_code, 200)

        error = self.graph_error(self.publish(self.container(caption="two")))

        self.assertEqual((error["code"], error["error_subcode"]), (9, 2207042))
        limit = self.graph("GET", f"{IG_USER}/content_publishing_limit", {"fields": "quota_usage,config"}).json()
        self.assertEqual(limit["data"], [{"quota_usage": 1, "config": {"quota_total": 1, "quota_duration": 86400}}])

    def test_it_can_make_containers_end_in_error_or_expired(self, fetch):
        self.configure(container_polls_before_finished=0)
        self.fail("INSTAGRAM", "container_error", times=1)
        self.fail("INSTAGRAM", "container_expired", times=1)

        errored, expired, fine = self.container(), self.container(), self.container()

        self.assertEqual([self.status(c) for c in (errored, expired, fine)], ["ERROR", "EXPIRED", "FINISHED"])
        self.assertEqual(self.graph_error(self.publish(errored))["code"], 100)

    def test_it_answers_9004_when_the_image_cannot_be_fetched(self, fetch):
        fetch.side_effect = FetchError("http://img/a.jpg answered HTTP 404")

        response = self.graph("POST", f"{IG_USER}/media", {"image_url": "http://img/a.jpg"})

        error = self.graph_error(response)
        self.assertEqual((error["code"], error["error_subcode"]), (9004, 2207052))
        self.assertIn("HTTP 404", error["error_user_msg"])

    def test_it_rate_limits_publishing_with_code_4_and_http_403(self, fetch):
        self.configure(container_polls_before_finished=0)
        self.fail("INSTAGRAM", "rate_limit", times=1, seconds=120)

        response = self.publish(self.container())

        self.assertEqual((response.status_code, self.graph_error(response)["code"]), (403, 4))
        [usage] = json.loads(response["X-Business-Use-Case-Usage"])[IG_USER]
        # Whole minutes until access is regained.
        self.assertEqual((usage["call_count"], usage["estimated_time_to_regain_access"]), (100, 2))

    def test_it_counts_container_polls_per_container(self, fetch):
        first, second = self.container(), self.container()

        self.assertEqual(self.status(first), "IN_PROGRESS")
        self.assertEqual(self.status(first), "FINISHED")
        self.assertEqual(self.status(second), "IN_PROGRESS")
        self.assertTrue(re.fullmatch(r"\d+", store.get("containers", second)["id"]))
