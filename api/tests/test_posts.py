"""Posts over the API: the door's rules and messages, camelCase, RFC 3339, every action."""

from datetime import UTC, datetime, timedelta
from unittest import mock

from django.db import connection
from django.utils import timezone

from api import services as api_services
from api.tests.base import ApiTestCase
from connections.models import Connection
from publishing.models import Post, Publication
from publishing.tests.base import INSTAGRAM_USER


class PostApiTests(ApiTestCase):
    def later(self, minutes: int = 60) -> str:
        return (timezone.now() + timedelta(minutes=minutes)).isoformat()

    def test_it_creates_a_scheduled_post_in_camel_case(self):
        at = "2030-01-15T09:30:00+01:00"
        data = self.create_post(platforms=["FACEBOOK", "TWITTER"], scheduledAt=at, mediaUrls=[])
        self.assertEqual(data["status"], "SCHEDULED")
        self.assertEqual(data["scheduledAt"], "2030-01-15T08:30:00Z")
        self.assertEqual([p["platform"] for p in data["publications"]], ["FACEBOOK", "TWITTER"])
        self.assertEqual(set(data["publications"][0]), {
            "id", "postId", "platform", "status", "externalId", "error", "attemptCount", "metadata",
            "publishedAt", "nextAttemptAt", "connectionId", "channelId", "createdAt", "updatedAt",
        })  # fmt: skip
        self.assertEqual(data["channels"], [self.facebook.pk, self.twitter.pk])
        self.assertEqual([p["channelId"] for p in data["publications"]], data["channels"])
        self.assertEqual(self.post_row(data).scheduled_at, datetime(2030, 1, 15, 8, 30, tzinfo=UTC))

    def test_it_answers_a_create_with_its_location(self):
        response = self.api.post("/api/v1/posts", {"content": "Draft", "platforms": ["FACEBOOK"]}, format="json")
        self.assertEqual(response.status_code, 201)
        self.assertEqual(response["Location"], f"/api/v1/posts/{response.json()['id']}")
        self.assertEqual(response.json()["status"], "DRAFT")

    def test_it_refuses_a_time_without_offset(self):
        response = self.api.post(
            "/api/v1/posts",
            {"content": "When?", "platforms": ["FACEBOOK"], "scheduledAt": "2030-01-15T09:30:00"},
            format="json",
        )
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response["Content-Type"], "application/problem+json")
        self.assertIn("has no time zone: give the offset", response.json()["errors"]["scheduledAt"][0])
        self.assertFalse(Post.objects.filter(team=self.team).exists())

    def test_it_refuses_an_impossible_time_as_bad_input(self):
        for value in ("2030-01-15T09:30:00+25:00", "2030-02-30T09:30:00Z"):
            with self.subTest(value=value):
                response = self.api.post(
                    "/api/v1/posts",
                    {"content": "When?", "platforms": ["FACEBOOK"], "scheduledAt": value},
                    format="json",
                )
                self.assertEqual(response.status_code, 400)
                self.assertIn("Give an RFC 3339 date and time", response.json()["errors"]["scheduledAt"][0])
        self.assertFalse(Post.objects.filter(team=self.team).exists())

    def test_it_refuses_a_body_nested_too_deeply_as_bad_input(self):
        body = b'{"content": "x", "platforms": ["FACEBOOK"], "extra": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        response = self.api.post("/api/v1/posts", body, content_type="application/json")
        self.assertEqual(response.status_code, 400)
        self.assertIn("nested too deeply", response.json()["detail"])
        self.assertFalse(Post.objects.filter(team=self.team).exists())

    def test_it_refuses_a_thread_or_a_media_list_longer_than_any_platform_takes(self):
        parts = [{"content": f"Part {n}"} for n in range(2, 40)]
        response = self.api.post(
            "/api/v1/posts", {"content": "1/39", "platforms": ["TWITTER"], "thread": parts}, format="json"
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("at most 25 follow-up parts; this one has 38", response.json()["errors"]["thread"][0])

        urls = [f"https://cdn.example.com/{n}.png" for n in range(5000)]
        with mock.patch("publishing.rules.fields.media_url_problem") as checked:
            response = self.api.post(
                "/api/v1/posts", {"content": "Many", "platforms": ["LINKEDIN"], "mediaUrls": urls}, format="json"
            )
        self.assertEqual(response.status_code, 400)
        self.assertIn("more than 20 images on a post; this list has 5000", response.json()["errors"]["mediaUrls"][0])
        checked.assert_not_called()  # refused before resolving 5,000 hosts
        self.assertFalse(Post.objects.filter(team=self.team).exists())

    def test_it_gives_the_rule_book_messages_by_field(self):
        response = self.api.post(
            "/api/v1/posts",
            {
                "content": "   ",
                "platforms": ["FACEBOOK", "TWITTER", "MYSPACE"],
                "variants": {"TWITTER": {"content": "x" * 301}},
            },
            format="json",
        )
        self.assertEqual(response.status_code, 400)
        errors = response.json()["errors"]
        self.assertEqual(errors["content"], ["The post is empty: write some text."])
        self.assertIn("Unknown platform 'MYSPACE'", errors["platforms"][0])
        self.assertIn("X allows at most 280 characters; this post has 301", errors["variants.TWITTER.content"][0])
        response = self.api.post(
            "/api/v1/posts",
            {"content": "Hi", "platforms": ["FACEBOOK"], "mediaUrls": ["file:///etc/passwd"]},
            format="json",
        )
        self.assertIn("file:///etc/passwd", response.json()["errors"]["mediaUrls"][0])

    def test_it_takes_variants_with_camel_case_media_and_refuses_other_keys(self):
        self.connect("INSTAGRAM", INSTAGRAM_USER, "ig_token")
        image = "https://cdn.example.com/a.png"
        data = self.create_post(
            platforms=["FACEBOOK", "INSTAGRAM"],
            variants={"INSTAGRAM": {"content": "Caption #latte", "mediaUrls": [image]}},
        )
        self.assertEqual(data["variants"], {"INSTAGRAM": {"content": "Caption #latte", "mediaUrls": [image]}})
        stored = {"INSTAGRAM": {"content": "Caption #latte", "media_urls": [image]}}
        self.assertEqual(self.post_row(data).variants, stored)
        response = self.api.post(
            "/api/v1/posts",
            {"content": "x", "platforms": ["FACEBOOK"], "variants": {"FACEBOOK": {"text": "y"}}},
            format="json",
        )
        self.assertIn("Unknown key 'text'", response.json()["errors"]["variants.FACEBOOK.text"][0])
        response = self.api.post(
            "/api/v1/posts",
            {"content": "x", "platforms": ["FACEBOOK"], "variants": {"TWITTER": {"content": "y"}}},
            format="json",
        )
        self.assertEqual(
            response.json()["errors"]["variants.TWITTER"],
            ["X is not among this post's platforms: add TWITTER to them, or remove its variant."],
        )

    def test_it_refuses_an_unknown_field_naming_the_right_one(self):
        response = self.api.post(
            "/api/v1/posts", {"content": "x", "platforms": ["FACEBOOK"], "scheduled_at": self.later()}, format="json"
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("Did you mean 'scheduledAt'?", response.json()["errors"]["scheduled_at"][0])

    def test_it_lists_with_filters_and_cursor_pages(self):
        for i in range(5):
            self.create_post(content=f"Draft {i}")
        scheduled = self.create_post(content="Tomorrow", platforms=["TWITTER"], scheduledAt=self.later(24 * 60))
        only = self.api.get("/api/v1/posts", {"status": "SCHEDULED"}).json()["results"]
        self.assertEqual([p["id"] for p in only], [scheduled["id"]])
        self.assertEqual([p["id"] for p in self.api.get("/api/v1/posts", {"platform": "TWITTER"}).json()["results"]],
                         [scheduled["id"]])  # fmt: skip
        window = {"scheduledFrom": self.later(23 * 60), "scheduledTo": self.later(25 * 60)}
        self.assertEqual(len(self.api.get("/api/v1/posts", window).json()["results"]), 1)
        naive = self.api.get("/api/v1/posts", {"scheduledFrom": "2030-01-01T00:00:00"})
        self.assertIn("no time zone", naive.json()["errors"]["scheduledFrom"][0])
        seen, url = [], "/api/v1/posts?limit=2"
        while url:
            page = self.api.get(url).json()
            seen += [p["id"] for p in page["results"]]
            url = page["next"]
        self.assertEqual(len(seen), 6)
        self.assertEqual(seen, sorted(seen, reverse=True))

    def test_it_updates_a_draft_or_scheduled_post_only(self):
        data = self.create_post(scheduledAt=self.later())
        changed = self.api.patch(f"/api/v1/posts/{data['id']}", {"content": "Better words"}, format="json")
        self.assertEqual(changed.status_code, 200, changed.content)
        self.assertEqual((changed.json()["content"], changed.json()["status"]), ("Better words", "SCHEDULED"))
        replaced = self.api.put(f"/api/v1/posts/{data['id']}", {"content": "All new", "platforms": ["TWITTER"]},
                                format="json")  # fmt: skip
        self.assertEqual(replaced.json()["status"], "DRAFT", "PUT without scheduledAt makes a draft")
        self.assertEqual([p["platform"] for p in replaced.json()["publications"]], ["TWITTER"])
        bad = self.api.patch(f"/api/v1/posts/{data['id']}", {"content": "z" * 281}, format="json")
        self.assertIn("at most 280", bad.json()["errors"]["content"][0])
        Post.objects.filter(pk=data["id"]).update(status=Post.Status.PUBLISHING)
        late = self.api.patch(f"/api/v1/posts/{data['id']}", {"content": "Too late"}, format="json")
        self.assertEqual(late.status_code, 409)
        self.assertIn("only drafts and scheduled posts can be changed", late.json()["detail"])

    def test_it_cancels_a_scheduled_post_and_refuses_a_published_one(self):
        data = self.create_post(scheduledAt=self.later())
        response = self.api.post(f"/api/v1/posts/{data['id']}/cancel")
        self.assertEqual(response.json()["status"], "CANCELLED")
        Post.objects.filter(pk=data["id"]).update(status=Post.Status.PUBLISHED)
        self.assertEqual(self.api.post(f"/api/v1/posts/{data['id']}/cancel").status_code, 409)

    def test_it_publishes_now(self):
        data = self.create_post()
        with self.captureOnCommitCallbacks(execute=True):
            response = self.api.post(f"/api/v1/posts/{data['id']}/publish-now")
        self.assertEqual(response.status_code, 200, response.content)
        self.assertIn(response.json()["status"], ["SCHEDULED", "PUBLISHING"])

    def test_it_retries_failed_publications(self):
        data = self.create_post(platforms=["FACEBOOK", "TWITTER"])
        Post.objects.filter(pk=data["id"]).update(status=Post.Status.PARTIAL)
        Publication.objects.filter(post_id=data["id"], platform="TWITTER").update(status="FAILED", attempt_count=5)
        Publication.objects.filter(post_id=data["id"], platform="FACEBOOK").update(status="PUBLISHED")
        response = self.api.post(f"/api/v1/posts/{data['id']}/retry")
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(response.json()["status"], "PUBLISHING")
        by_platform = {p["platform"]: p for p in response.json()["publications"]}
        self.assertEqual((by_platform["TWITTER"]["status"], by_platform["TWITTER"]["attemptCount"]), ("PENDING", 0))
        self.assertEqual(by_platform["FACEBOOK"]["status"], "PUBLISHED")
        self.assertEqual(self.api.post(f"/api/v1/posts/{data['id']}/retry").status_code, 409)

    def test_it_refuses_a_retry_whose_account_is_not_connected_saying_which(self):
        # The admin's check, made by the one move the API shares: nothing moves, the 409 says why.
        data = self.create_post(platforms=["FACEBOOK", "TWITTER"])
        Post.objects.filter(pk=data["id"]).update(status=Post.Status.FAILED)
        Publication.objects.filter(post_id=data["id"]).update(status="FAILED", attempt_count=5)
        Connection.objects.filter(team=self.team, platform="TWITTER").update(status=Connection.Status.EXPIRED)
        response = self.api.post(f"/api/v1/posts/{data['id']}/retry")
        self.assertEqual(response.status_code, 409, response.content)
        self.assertIn("TWITTER:", response.json()["detail"])
        self.assertIn("is EXPIRED, reconnect it first", response.json()["detail"])
        self.assertEqual(Post.objects.get(pk=data["id"]).status, Post.Status.FAILED)
        self.assertEqual(
            set(Publication.objects.filter(post_id=data["id"]).values_list("status", flat=True)), {"FAILED"}
        )

    def test_it_creates_in_bulk_each_item_on_its_own(self):
        items = [{"content": f"Bulk {i}", "platforms": ["FACEBOOK"]} for i in range(3)]
        items.insert(1, {"content": "x" * 281, "platforms": ["TWITTER"]})
        items.append({"content": "no platforms"})
        with self.captureOnCommitCallbacks(execute=True):
            response = self.api.post("/api/v1/posts/bulk", {"posts": items}, format="json")
        self.assertEqual(response.status_code, 200, response.content)
        body = response.json()
        self.assertEqual((body["created"], body["failed"]), (3, 2))
        self.assertEqual([r["status"] for r in body["results"]], [201, 400, 201, 201, 400])
        self.assertIn("at most 280", body["results"][1]["errors"]["content"][0])
        self.assertIn("platforms", body["results"][4]["errors"])
        self.assertEqual(Post.objects.filter(team=self.team).count(), 3)
        too_many = self.api.post("/api/v1/posts/bulk", {"posts": [items[0]] * 501}, format="json")
        self.assertEqual(too_many.status_code, 400)
        self.assertIn("posts", too_many.json()["errors"])

    def test_it_reads_publications_and_connections_without_tokens(self):
        data = self.create_post(platforms=["FACEBOOK", "TWITTER"])
        publications = self.api.get("/api/v1/publications", {"post": data["id"]}).json()["results"]
        self.assertEqual(sorted(p["platform"] for p in publications), ["FACEBOOK", "TWITTER"])
        one = self.api.get(f"/api/v1/publications/{publications[0]['id']}").json()
        self.assertEqual(one["postId"], data["id"])
        connections = self.api.get("/api/v1/connections")
        self.assertEqual(sorted(c["platform"] for c in connections.json()["results"]), ["FACEBOOK", "TWITTER"])
        self.assertNotIn(b"mock_fb_token", connections.content)
        self.assertNotIn("accessToken", connections.json()["results"][0])
        self.assertIn("expiresAt", connections.json()["results"][0])


class PostInputTests(ApiTestCase):
    """What a client may send wrong, each answered with a 4xx that names the field: never a 500."""

    def later(self, minutes: int = 60) -> str:
        return (timezone.now() + timedelta(minutes=minutes)).isoformat()

    def post(self, **fields):
        return self.api.post("/api/v1/posts", {"content": "x", "platforms": ["FACEBOOK"], **fields}, format="json")

    def test_it_takes_a_time_with_any_offset_rfc_3339_allows(self):
        # PostgreSQL takes offsets up to 15:59 only: this was a 500.
        response = self.post(scheduledAt="2030-01-15T09:30:00+18:00")
        self.assertEqual(response.status_code, 201, response.content)
        self.assertEqual(response.json()["scheduledAt"], "2030-01-14T15:30:00Z")
        found = self.api.get(
            "/api/v1/posts?scheduledFrom=2030-01-01T00:00:00%2B18:37&scheduledTo=0001-01-01T00:00:00%2B18:00"
        )
        self.assertEqual(found.status_code, 200, found.content)
        self.assertEqual(found.json()["results"], [])
        found = self.api.get("/api/v1/posts?scheduledFrom=2030-01-01T00:00:00%2B18:37")
        self.assertEqual([p["id"] for p in found.json()["results"]], [response.json()["id"]])

    def test_it_refuses_a_nul_or_an_unknown_value_in_a_filter_naming_it(self):
        for path, field in [
            ("/api/v1/posts?platform=%00", "platform"),
            ("/api/v1/posts?platform=MYSPACE", "platform"),
            ("/api/v1/posts?status=%00", "status"),
            ("/api/v1/publications?status=%00", "status"),
            ("/api/v1/publications?platform=%00", "platform"),
            ("/api/v1/publications?post=%C2%B2", "post"),
            ("/api/v1/deliveries?status=%00", "status"),
            ("/api/v1/deliveries?status=DONE", "status"),
            ("/api/v1/deliveries?endpoint=99999999999999999999", "endpoint"),
        ]:
            with self.subTest(path):
                response = self.api.get(path)
                self.assertEqual(response.status_code, 400, response.content)
                self.assertEqual(response["Content-Type"], "application/problem+json")
                self.assertEqual(list(response.json()["errors"]), [field])
        message = self.api.get("/api/v1/deliveries?status=%00").json()["errors"]["status"][0]
        self.assertEqual(message, "Unknown status '\\x00': choose from PENDING, SUCCEEDED, FAILED.")
        self.assertEqual(self.api.get("/api/v1/publications?status=failed&platform=twitter").status_code, 200)

    def test_it_refuses_a_time_past_the_year_9999_at_the_door(self):
        response = self.post(scheduledAt="9999-12-31T23:30:00-01:00")
        self.assertEqual(response.status_code, 400, response.content)
        self.assertIn("outside the years 1 to 9999 in UTC", response.json()["errors"]["scheduledAt"][0])
        self.assertFalse(Post.objects.filter(team=self.team).exists())
        draft = self.create_post()
        patched = self.api.patch(
            f"/api/v1/posts/{draft['id']}", {"scheduledAt": "9999-12-31T23:59:00-00:01"}, format="json"
        )
        self.assertEqual(patched.status_code, 400, patched.content)
        self.assertIn("scheduledAt", patched.json()["errors"])
        self.assertEqual(self.api.get("/api/v1/posts").status_code, 200)

    def test_it_still_reads_the_team_posts_when_a_row_holds_a_time_past_the_year_9999(self):
        # Written past the door (SQL): every read of the team's posts used to be a 500, for ever.
        data = self.create_post(scheduledAt=self.later())
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE publishing_post SET scheduled_at = '10000-01-01 00:30:00+00' WHERE id = %s", [data["id"]]
            )
        listed = self.api.get("/api/v1/posts")
        self.assertEqual(listed.status_code, 200, listed.content)
        one = self.api.get(f"/api/v1/posts/{data['id']}")
        self.assertEqual(one.json()["scheduledAt"], "9999-12-31T23:59:59.999999Z")
        fixed = self.api.patch(f"/api/v1/posts/{data['id']}", {"scheduledAt": "2030-01-15T09:30:00Z"}, format="json")
        self.assertEqual(fixed.status_code, 200, fixed.content)
        self.assertEqual(self.post_row(data).scheduled_at, datetime(2030, 1, 15, 9, 30, tzinfo=UTC))

    def test_it_refuses_a_number_or_a_list_where_text_belongs(self):
        response = self.post(content=5, firstComment=["x"], platforms=[5])
        self.assertEqual(response.status_code, 400, response.content)
        errors = response.json()["errors"]
        self.assertEqual(errors["content"], ["Give text (a JSON string in quotes), not 5 (a number)."])
        self.assertEqual(errors["firstComment"], ["Give text (a JSON string in quotes), not a list."])
        self.assertIn("not 5 (a number)", errors["platforms.0"][0])
        self.assertFalse(Post.objects.filter(team=self.team).exists())
        hook = self.api.post("/api/v1/webhook-endpoints", {"url": True}, format="json")
        self.assertEqual(hook.json()["errors"]["url"], ["Give text (a JSON string in quotes), not true (a boolean)."])

    def test_it_names_the_note_the_client_sent_when_a_rejection_gives_none(self):
        self.team.requires_approval = True
        self.team.save()
        data = self.create_post()
        self.assertEqual(self.api.post(f"/api/v1/posts/{data['id']}/submit").status_code, 200)
        _, approve_key = api_services.api_key_create(team=self.team, name="Reviewer", role="approve")
        reviewer = self.client_for(approve_key)
        for note in ("", "  \u200b"):
            with self.subTest(note=note):
                response = reviewer.post(f"/api/v1/posts/{data['id']}/reject", {"note": note}, format="json")
                self.assertEqual(response.status_code, 400, response.content)
                self.assertEqual(
                    response.json()["errors"], {"note": ["Say why the post is rejected: the author reads this note."]}
                )

    def test_it_refuses_a_page_size_or_a_cursor_it_did_not_give(self):
        for query, field in [("limit=-3", "limit"), ("limit=0", "limit"), ("limit=ten", "limit"),
                             ("cursor=zzz", "cursor"), ("cursor=cD1hYmM%3D", "cursor")]:  # fmt: skip
            with self.subTest(query):
                response = self.api.get(f"/api/v1/posts?{query}")
                self.assertEqual(response.status_code, 400, response.content)
                self.assertEqual(list(response.json()["errors"]), [field])
        for _ in range(3):
            self.create_post()
        self.assertEqual(len(self.api.get("/api/v1/posts?limit=1000").json()["results"]), 3, "more than 200: 200")

    def test_it_answers_an_unknown_path_with_a_problem(self):
        for method, path in [
            ("get", "/api/v1/posts/abc"),
            ("post", "/api/v1/posts/-1/cancel"),
            ("get", "/api/v1/nope"),
        ]:
            with self.subTest(path):
                response = getattr(self.api, method)(path)
                self.assertEqual(response.status_code, 404)
                self.assertEqual(response["Content-Type"], "application/problem+json")
                self.assertIn("No such API path", response.json()["detail"])
