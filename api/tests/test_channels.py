"""GET /api/v1/channels: the team's accounts as the places its posts go to."""

from datetime import time

from api.tests.base import ApiTestCase
from connections.models import Connection
from publishing.models import PostingSlot


class ChannelsApiTests(ApiTestCase):
    def test_it_lists_the_teams_accounts_with_their_names_and_pictures_and_no_token(self):
        second = self.connect("FACEBOOK", "page-2", "second_page_token")
        Connection.objects.filter(pk=second.pk).update(
            name="Acme Coffee", avatar_url="https://scontent.test/coffee.jpg"
        )
        Connection.objects.filter(pk=self.twitter.pk).update(status=Connection.Status.EXPIRED, status_detail="Gone")
        PostingSlot.objects.create(channel=second, weekday=4, time=time(17, 0))
        PostingSlot.objects.create(channel=second, weekday=0, time=time(9, 30))
        self.connect("FACEBOOK", "555", "their_token", team=self.outsiders)

        listing = self.api.get("/api/v1/channels")
        self.assertEqual(listing.status_code, 200)
        rows = {row["id"]: row for row in listing.json()["results"]}
        self.assertEqual(set(rows), {self.facebook.pk, self.twitter.pk, second.pk})
        self.assertEqual(
            rows[second.pk],
            {
                "id": second.pk,
                "platform": "FACEBOOK",
                "name": "Acme Coffee",
                "avatarUrl": "https://scontent.test/coffee.jpg",
                "status": "ACTIVE",
                "statusDetail": "",
                "queuePaused": False,
                "slots": [{"weekday": 0, "time": "09:30"}, {"weekday": 4, "time": "17:00"}],
            },
        )
        self.assertEqual((rows[self.twitter.pk]["status"], rows[self.twitter.pk]["statusDetail"]), ("EXPIRED", "Gone"))
        self.assertNotIn(b"second_page_token", listing.content)

        facebook = self.api.get("/api/v1/channels", {"platform": "facebook"}).json()["results"]
        self.assertEqual({row["id"] for row in facebook}, {self.facebook.pk, second.pk})
        self.assertEqual(self.api.get(f"/api/v1/channels/{second.pk}").json()["name"], "Acme Coffee")
        unknown = self.api.get("/api/v1/channels", {"platform": "MYSPACE"})
        self.assertEqual(unknown.status_code, 400)
