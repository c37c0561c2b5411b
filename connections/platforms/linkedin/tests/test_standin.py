from urllib.parse import quote, urlsplit

from mockapis.media import PNG_BYTES
from mockapis.tests.base import LINKEDIN_HEADERS, ORG, StandInTestCase, linkedin_post_body


class LinkedInTests(StandInTestCase):
    def upload_image(self) -> str:
        init = self.linkedin("POST", "images?action=initializeUpload", {"initializeUploadRequest": {"owner": ORG}})
        value = init.json()["value"]
        self.assertTrue(value["uploadUrl"].startswith("http://testserver/linkedin/upload/"))
        put = self.client.put(
            urlsplit(value["uploadUrl"]).path,
            PNG_BYTES,
            content_type="image/png",
            HTTP_AUTHORIZATION=LINKEDIN_HEADERS["HTTP_AUTHORIZATION"],
        )
        self.assertEqual(put.status_code, 201)
        return value["image"]

    def test_it_creates_a_post_with_201_an_empty_body_and_the_share_urn_in_a_header(self):
        response = self.linkedin("POST", "posts", linkedin_post_body("Hello LinkedIn"))

        self.assertEqual((response.status_code, response.content), (201, b""))
        self.assertRegex(response["x-restli-id"], r"^urn:li:share:\d{19}$")
        [post] = self.posts("LINKEDIN")
        self.assertEqual((post["id"], post["account"]), (response["x-restli-id"], ORG))

    def test_it_requires_the_version_header(self):
        response = self.linkedin("POST", "posts", linkedin_post_body("x"), HTTP_LINKEDIN_VERSION="")

        self.assertEqual((response.status_code, response.json()["code"]), (400, "VERSION_MISSING"))

    def test_it_refuses_a_missing_field_as_restli_does(self):
        body = linkedin_post_body("x")
        del body["visibility"]

        response = self.linkedin("POST", "posts", body)

        self.assertEqual(response.status_code, 422)
        self.assertIn("/visibility", response.json()["message"])

    def test_it_refuses_duplicate_commentary_with_422_naming_the_earlier_share(self):
        first = self.linkedin("POST", "posts", linkedin_post_body("Same"))["x-restli-id"]

        response = self.linkedin("POST", "posts", linkedin_post_body("Same"))

        self.assertEqual(response.status_code, 422)
        body = response.json()
        self.assertEqual(body["errorDetails"]["inputErrors"][0]["code"], "DUPLICATE_POST")
        self.assertIn(f"Content is a duplicate of {first}", body["message"])

    def test_it_takes_uploaded_images_in_media_and_multi_image_content(self):
        one, two = self.upload_image(), self.upload_image()
        self.assertRegex(one, r"^urn:li:image:\w+$")

        single = self.linkedin("POST", "posts", linkedin_post_body("One", content={"media": {"id": one}}))
        multi = self.linkedin(
            "POST", "posts", linkedin_post_body("Two", content={"multiImage": {"images": [{"id": one}, {"id": two}]}})
        )

        self.assertEqual((single.status_code, multi.status_code), (201, 201))
        self.assertEqual([p["media_ids"] for p in self.posts("LINKEDIN")], [[one], [one, two]])
        status = self.linkedin("GET", f"images/{one}").json()
        self.assertEqual(status["status"], "AVAILABLE")

    def test_it_refuses_an_image_whose_bytes_never_arrived(self):
        init = self.linkedin("POST", "images?action=initializeUpload", {"initializeUploadRequest": {"owner": ORG}})
        urn = init.json()["value"]["image"]

        response = self.linkedin("POST", "posts", linkedin_post_body("x", content={"media": {"id": urn}}))

        self.assertEqual(response.status_code, 422)
        self.assertIn("WAITING_UPLOAD", response.json()["message"])

    def test_it_lists_an_authors_posts_newest_first(self):
        self.linkedin("POST", "posts", linkedin_post_body("old"))
        self.linkedin("POST", "posts", linkedin_post_body("new"))

        body = self.linkedin("GET", "posts", {"q": "author", "author": ORG, "count": 10}).json()

        self.assertEqual([e["commentary"] for e in body["elements"]], ["new", "old"])
        self.assertIsInstance(body["elements"][0]["createdAt"], int)
        self.assertEqual(
            self.linkedin("GET", "posts", {"q": "author", "author": "urn:li:person:x"}).json()["elements"], []
        )

    def test_it_gets_a_post_by_its_encoded_urn_and_answers_404_for_one_it_does_not_hold(self):
        urn = self.linkedin("POST", "posts", linkedin_post_body("By URN"))["x-restli-id"]

        response = self.linkedin("GET", f"posts/{quote(urn, safe='')}")
        missing = self.linkedin("GET", f"posts/{quote('urn:li:share:1', safe='')}")

        self.assertEqual(response.status_code, 200)
        post = response.json()
        self.assertEqual(
            (post["id"], post["author"], post["commentary"], post["lifecycleState"]), (urn, ORG, "By URN", "PUBLISHED")
        )
        self.assertIsInstance(post["createdAt"], int)
        self.assertEqual((missing.status_code, missing.json()["status"]), (404, 404))
        self.assertEqual(
            self.linkedin("GET", f"posts/{quote(urn, safe='')}", HTTP_LINKEDIN_VERSION="").status_code, 400
        )

    def test_it_answers_65600_and_65601_for_bad_tokens(self):
        expired = self.linkedin("POST", "posts", linkedin_post_body("x"), HTTP_AUTHORIZATION="Bearer t-expired")
        revoked = self.linkedin("POST", "posts", linkedin_post_body("x"), HTTP_AUTHORIZATION="Bearer t-revoked")

        self.assertEqual((expired.status_code, expired.json()["serviceErrorCode"]), (401, 65600))
        self.assertEqual((revoked.status_code, revoked.json()["serviceErrorCode"]), (401, 65601))
        self.assertEqual(revoked.json()["code"], "REVOKED_ACCESS_TOKEN")

    def test_it_answers_429_with_retry_after_when_over_the_window(self):
        self.configure(rate_limit_enabled=True, rate_limit={"limit": 1, "window_seconds": 10})
        self.linkedin("POST", "posts", linkedin_post_body("one"))

        response = self.linkedin("POST", "posts", linkedin_post_body("two"))

        self.assertEqual((response.status_code, response.json()["serviceErrorCode"]), (429, 101))
        self.assertIn(int(response["Retry-After"]), range(1, 11))

    def test_it_cuts_commentary_over_3000_characters_silently(self):
        response = self.linkedin("POST", "posts", linkedin_post_body("x" * 3500))

        self.assertEqual(response.status_code, 201)
        self.assertEqual(len(self.posts("LINKEDIN")[0]["text"]), 3000)

    def test_it_fails_with_api_error_when_told(self):
        self.fail("LINKEDIN", "error")

        response = self.linkedin("POST", "posts", linkedin_post_body("x"))

        self.assertEqual(response.status_code, 400)
        self.assertIn("API error", response.json()["message"])

    def test_the_author_finder_takes_a_sort_and_pages_by_start(self):
        made = [self.linkedin("POST", "posts", linkedin_post_body(f"Post {i}"))["x-restli-id"] for i in range(3)]

        first = self.linkedin("GET", "posts", {"q": "author", "author": ORG, "sortBy": "CREATED", "count": 2})
        second = self.linkedin(
            "GET", "posts", {"q": "author", "author": ORG, "sortBy": "CREATED", "count": 2, "start": 2}
        )
        wrong = self.linkedin("GET", "posts", {"q": "author", "author": ORG, "sortBy": "NEWEST"})

        ids = [e["id"] for e in first.json()["elements"] + second.json()["elements"]]
        self.assertEqual(ids, made[::-1])
        self.assertEqual(first.json()["elements"][0]["lifecycleState"], "PUBLISHED")
        self.assertEqual(wrong.status_code, 400)
