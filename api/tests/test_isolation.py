"""A key sees its own team only: every id of another team is a 404, never a 403."""

from api.tests.base import ApiTestCase

ACTIONS = {
    "posts": [("post", "cancel"), ("post", "retry"), ("post", "publish-now"), ("patch", ""), ("put", "")],
    "webhook-endpoints": [("post", "rotate"), ("post", "test"), ("patch", ""), ("put", ""), ("delete", "")],
    "deliveries": [("post", "redeliver")],
}


class IsolationTests(ApiTestCase):
    def test_it_answers_404_for_every_resource_of_another_team(self):
        theirs = self.outsiders_rows()
        for resource, pk in theirs.items():
            response = self.api.get(f"/api/v1/{resource}/{pk}")
            self.assertEqual(response.status_code, 404, resource)
            self.assertEqual(response["Content-Type"], "application/problem+json")
            for method, name in ACTIONS.get(resource, []):
                path = f"/api/v1/{resource}/{pk}" + (f"/{name}" if name else "")
                body = {"content": "Mine now", "platforms": ["FACEBOOK"], "url": "http://127.0.0.1:9/x"}
                self.assertEqual(getattr(self.api, method)(path, body, format="json").status_code, 404, path)
            listing = self.api.get(f"/api/v1/{resource}").json()
            self.assertNotIn(pk, [row["id"] for row in listing["results"]], resource)

    def test_it_leaves_the_other_team_rows_untouched(self):
        theirs = self.outsiders_rows()
        self.api.post(f"/api/v1/posts/{theirs['posts']}/cancel")
        self.api.delete(f"/api/v1/webhook-endpoints/{theirs['webhook-endpoints']}")
        their_client = self.client_for(self.their_key)
        self.assertEqual(their_client.get(f"/api/v1/posts/{theirs['posts']}").json()["status"], "DRAFT")
        self.assertEqual(their_client.get(f"/api/v1/webhook-endpoints/{theirs['webhook-endpoints']}").status_code, 200)
