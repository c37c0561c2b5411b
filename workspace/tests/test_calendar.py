"""The calendar (workspace/calendar.py): month, week and day views in the person's zone, a card
per post and channel, the posting slots, filters in the query, and a post moved through
post_update with the person's role (refusals said on the page, the post unchanged)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from unittest import mock

from django.contrib.auth import get_user_model
from django.test import TestCase

from connections.models import Connection
from devtools.testing import flush_redis
from planrrr.models import Membership, Team
from publishing import services
from publishing.models import Post, PostingSlot, Publication
from workspace.models import Preference

MEMBER, ADMIN, OWNER = Membership.Role.MEMBER, Membership.Role.ADMIN, Membership.Role.OWNER
# A fixed "now" for the views: Monday 7 December 2026, 10:00 in Paris (09:00 UTC).
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class WorkspaceActors:
    """A Paris team (owner Olga, member Mia), its Facebook page and X account, and an outsider team."""

    def make_workspace_actors(self) -> None:
        users = get_user_model().objects
        self.team = Team.objects.create(name="Paris bakery", timezone="Europe/Paris")
        self.olga = users.create_user("olga", password="owns the bakery", first_name="Olga")
        self.mia = users.create_user("mia", password="writes every day", first_name="Mia")
        Membership.objects.create(user=self.olga, team=self.team, role=OWNER)
        Membership.objects.create(user=self.mia, team=self.team, role=MEMBER)
        self.facebook = Connection.objects.create(
            team=self.team, platform="FACEBOOK", account_id="1001", name="Bakery page", access_token="fb-secret-token"
        )
        self.x = Connection.objects.create(
            team=self.team, platform="TWITTER", account_id="2002", name="@bakery", access_token="x-secret-token"
        )
        self.others = Team.objects.create(name="Tokyo tea", timezone="Asia/Tokyo")
        self.other_page = Connection.objects.create(
            team=self.others, platform="FACEBOOK", account_id="3003", name="Tea page", access_token="tea-token"
        )

    def post(self, *, at: datetime | None, author=None, channels=None, content="Fresh bread at nine", role=OWNER):
        return services.post_create(
            team=self.team,
            author=author or self.olga,
            content=content,
            channels=channels or [self.facebook.pk, self.x.pk],
            scheduled_at=at,
            role=role,
        )


def cards(response, post: Post) -> int:
    """How many cards of ``post`` the page shows."""
    return len(re.findall(rf'<article class="card [A-Z_]+" id="card-{post.pk}-[A-Z0-9_]+"', response.content.decode()))


class CalendarTestCase(WorkspaceActors, TestCase):
    def setUp(self) -> None:
        flush_redis()
        self.addCleanup(flush_redis)
        clock = mock.patch("django.utils.timezone.now", return_value=NOW)
        clock.start()
        self.addCleanup(clock.stop)
        self.make_workspace_actors()
        self.client.force_login(self.olga)
        self.url = f"/app/{self.team.pk}/calendar/"


class CalendarViewTests(CalendarTestCase):
    def test_the_teams_home_is_its_calendar(self):
        self.assertRedirects(self.client.get(f"/app/{self.team.pk}/"), self.url, fetch_redirect_response=False)

    def test_a_week_shows_a_card_per_post_and_channel_in_the_persons_zone(self):
        post = self.post(at=datetime(2026, 12, 9, 14, 30, tzinfo=UTC))  # Wed 15:30 Paris
        later = self.post(at=datetime(2026, 12, 16, 8, 0, tzinfo=UTC), content="Next week's cake")
        page = self.client.get(self.url)
        self.assertContains(page, "Week of 7 Dec – 13 Dec 2026")
        self.assertEqual(cards(page, post), 2)
        self.assertContains(page, "Fresh bread at nine", count=2)
        self.assertContains(page, "15:30 Europe/Paris", count=2)
        self.assertContains(page, 'datetime="2026-12-09T14:30:00+00:00"', count=2)
        self.assertContains(page, "Bakery page")
        self.assertContains(page, "@bakery")
        self.assertContains(page, "Scheduled")
        self.assertNotContains(page, f"card-{later.pk}-")
        # The card sits in Wednesday's 15:00 hour, where a drop means that day and hour.
        body = page.content.decode()
        cell = body.rfind('data-drop-date="2026-12-09" data-drop-time="15:00"', 0, body.index(f"card-{post.pk}-"))
        self.assertGreater(cell, body.rfind('data-drop-time="14:00"', 0, body.index(f"card-{post.pk}-")))
        # Next week: the later post; the links keep the view.
        self.assertContains(page, "?view=week&amp;date=2026-12-14")
        self.assertContains(self.client.get(self.url + "?view=week&date=2026-12-14"), f"card-{later.pk}-")

    def test_a_person_with_a_zone_of_their_own_sees_times_in_it(self):
        Preference.objects.create(user=self.olga, timezone="America/New_York")
        self.post(at=datetime(2026, 12, 9, 14, 30, tzinfo=UTC))
        page = self.client.get(self.url)
        self.assertContains(page, "09:30 America/New_York", count=2)
        self.assertContains(page, "Times in America/New_York")

    def test_month_and_day_views(self):
        first = self.post(at=datetime(2026, 12, 24, 17, 0, tzinfo=UTC), content="Christmas eve")
        month = self.client.get(self.url + "?view=month&date=2026-12-01")
        self.assertContains(month, "December 2026")
        self.assertEqual(cards(month, first), 2)
        # Six weeks from Monday 30 November to Sunday 3 January.
        self.assertContains(month, 'data-drop-date="2026-11-30"')
        self.assertContains(month, 'data-drop-date="2027-01-03"')
        self.assertContains(month, "?view=month&amp;date=2027-01-01")
        day = self.client.get(self.url + "?view=day&date=2026-12-24")
        self.assertContains(day, "Thursday 24 December 2026")
        self.assertContains(day, "18:00 Europe/Paris", count=2)
        self.assertNotContains(self.client.get(self.url + "?view=day&date=2026-12-23"), f"card-{first.pk}-")

    def test_a_bad_date_says_what_to_write(self):
        page = self.client.get(self.url + "?date=07/12/2026")
        self.assertContains(page, "is not a date: use YYYY-MM-DD")
        self.assertContains(page, "Week of 7 Dec")
        # The ends of the calendar (a month's grid beyond them would not exist).
        for day in ("0001-01-01", "9999-12-31"):
            page = self.client.get(self.url + f"?view=month&date={day}")
            self.assertContains(page, f"{day} is out of the calendar: pick a day between 1970-01-01 and 2999-12-31")

    def test_filters_by_channel_status_and_author(self):
        mine = self.post(at=datetime(2026, 12, 8, 9, 0, tzinfo=UTC), author=self.mia, content="Croissants by Mia")
        draft = self.post(at=None, content="No time")
        x_only = self.post(at=datetime(2026, 12, 10, 9, 0, tzinfo=UTC), channels=[self.x.pk], content="X only")
        cancelled = self.post(at=datetime(2026, 12, 11, 9, 0, tzinfo=UTC), content="Called off")
        services.post_cancel(post=cancelled)

        page = self.client.get(self.url + f"?channel={self.facebook.pk}")
        self.assertEqual(cards(page, mine), 1)
        self.assertNotContains(page, f"card-{x_only.pk}-")
        self.assertNotContains(page, f"card-{draft.pk}-")  # no time, not on a calendar
        self.assertNotContains(page, "Called off")  # cancelled: only when asked for
        self.assertContains(self.client.get(self.url + "?status=CANCELLED"), "Called off")
        by_mia = self.client.get(self.url + f"?author={self.mia.pk}")
        self.assertContains(by_mia, "Croissants by Mia")
        self.assertNotContains(by_mia, "X only")
        self.assertContains(by_mia, "Filters (on)")
        # The navigation keeps the filters.
        self.assertContains(by_mia, f"date=2026-12-14&amp;author={self.mia.pk}")

        refused = self.client.get(self.url + f"?channel={self.other_page.pk}&status=LOST&author=abc")
        self.assertContains(refused, f"There is no channel &#x27;{self.other_page.pk}&#x27; in this team")
        self.assertContains(refused, "&#x27;LOST&#x27; is not a status")
        self.assertContains(refused, "There is no author &#x27;abc&#x27; in this team")
        self.assertNotContains(refused, "Tea page")

    def test_posting_slots_show_free_and_taken(self):
        PostingSlot.objects.create(channel=self.facebook, weekday=1, time=time(9, 0))  # Tuesdays 09:00 Paris
        PostingSlot.objects.create(channel=self.facebook, weekday=3, time=time(9, 0))  # Thursdays
        queued = self.post(at=None, channels=[self.facebook.pk], content="Queued loaf")
        services.post_queue(post=queued, role=OWNER)
        queued.refresh_from_db()
        self.assertEqual(queued.scheduled_at, datetime(2026, 12, 8, 8, 0, tzinfo=UTC))
        page = self.client.get(self.url)
        self.assertContains(page, "Facebook Bakery page: slot taken", count=1)
        self.assertContains(page, "Facebook Bakery page: free slot", count=1)
        self.assertContains(page, "Queued")
        month = self.client.get(self.url + "?view=month")
        self.assertContains(month, "1 free slot of 1")  # Thursday 10 December
        self.assertContains(month, "0 free slots of 1")  # Tuesday 8 December
        # Moved to a time of its own, it leaves the queue and its slot is free again.
        moved = self.client.post(self.url + "move/", {"post": queued.pk, "date": "2026-12-09", "time": "12:00"})
        self.assertContains(self.client.get(moved["Location"]), "It left its channels&#x27; queues for this time.")
        self.assertFalse(queued.publications.filter(queue_position__isnull=False).exists())
        self.assertContains(self.client.get(self.url), "Facebook Bakery page: free slot", count=2)

    def test_an_outsider_gets_a_404(self):
        stranger = get_user_model().objects.create_user("sam", password="not in the team")
        self.client.force_login(stranger)
        self.assertEqual(self.client.get(self.url).status_code, 404)

    def test_a_post_written_without_publications_is_shown_per_platform(self):
        # A row written straight into the database with platforms only (DESIGN.md) is on the calendar too.
        post = Post.objects.create(
            team=self.team,
            content="By SQL",
            platforms=["FACEBOOK"],
            status=Post.Status.SCHEDULED,
            scheduled_at=datetime(2026, 12, 9, 9, 0, tzinfo=UTC),
        )
        self.assertContains(self.client.get(self.url), f'id="card-{post.pk}-FACEBOOK"')


class CalendarMoveTests(CalendarTestCase):
    def move(self, post: Post, day: str, at: str, **extra):
        return self.client.post(
            self.url + "move/", {"post": post.pk, "date": day, "time": at, "back": "view=week&date=2026-12-07"}, **extra
        )

    def test_a_move_reschedules_at_the_persons_wall_clock_time(self):
        post = self.post(at=datetime(2026, 12, 9, 14, 30, tzinfo=UTC))
        response = self.move(post, "2026-12-10", "11:00", HTTP_HX_REQUEST="true")
        self.assertEqual(response.status_code, 200)
        post.refresh_from_db()
        self.assertEqual(post.scheduled_at, datetime(2026, 12, 10, 10, 0, tzinfo=UTC))
        self.assertEqual(post.status, Post.Status.SCHEDULED)
        # The calendar comes back (a fragment) with the card where it now is, and says so.
        self.assertNotContains(response, "<html")
        self.assertContains(response, 'id="calendar"')
        self.assertContains(response, f"Post #{post.pk} moved to Thu 10 Dec 2026, 11:00 Europe/Paris.")
        self.assertContains(response, "11:00 Europe/Paris", count=3)  # 2 cards and the message
        self.assertContains(response, "data-focus", count=2)

    def test_a_move_across_a_dst_change_keeps_the_wall_clock_time(self):
        post = self.post(at=datetime(2026, 12, 9, 14, 30, tzinfo=UTC))
        self.move(post, "2027-04-01", "09:00")  # summer time in Paris: UTC+2
        post.refresh_from_db()
        self.assertEqual(post.scheduled_at, datetime(2027, 4, 1, 7, 0, tzinfo=UTC))

    def test_without_htmx_a_move_returns_to_the_same_view(self):
        post = self.post(at=datetime(2026, 12, 9, 14, 30, tzinfo=UTC))
        response = self.move(post, "2026-12-10", "11:00")
        self.assertRedirects(response, self.url + "?view=week&date=2026-12-07", fetch_redirect_response=False)
        self.assertContains(self.client.get(response["Location"]), f"Post #{post.pk} moved to")

    def test_a_refused_move_says_why_and_changes_nothing(self):
        post = self.post(at=datetime(2026, 12, 9, 14, 30, tzinfo=UTC))
        response = self.move(post, "2026-12-01", "09:00", HTTP_HX_REQUEST="true")  # in the past
        post.refresh_from_db()
        self.assertEqual(post.scheduled_at, datetime(2026, 12, 9, 14, 30, tzinfo=UTC))
        self.assertContains(response, f"Post #{post.pk} not moved:")
        # Beside the time field of the post's Move form, which stays open.
        self.assertContains(response, '<details class="move" open>', count=2)
        self.assertContains(response, 'aria-invalid="true"', count=2)

    def test_a_move_of_a_post_that_has_started_publishing_is_refused_with_the_reason(self):
        post = self.post(at=datetime(2026, 12, 9, 14, 30, tzinfo=UTC))
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PUBLISHING)
        response = self.move(post, "2026-12-10", "11:00")
        self.assertEqual(response.status_code, 400)
        self.assertContains(response, "is publishing: only drafts and scheduled posts can be changed", status_code=400)
        post.refresh_from_db()
        self.assertEqual(post.scheduled_at, datetime(2026, 12, 9, 14, 30, tzinfo=UTC))

    def test_the_move_form_is_fetched_by_the_card_or_opened_on_its_own_page(self):
        post = self.post(at=datetime(2026, 12, 9, 14, 30, tzinfo=UTC))
        card = post.publications.get(platform="FACEBOOK")
        page = self.client.get(self.url)
        # The cards carry no form until one is opened: a button, and a link without JavaScript.
        self.assertNotContains(page, 'class="move-form"')
        self.assertContains(page, "Open the Move form", count=2)
        query = f"post={post.pk}&card=card-{post.pk}-{card.pk}&date=2026-12-09&time=15:30&back=view%3Dweek"
        fragment = self.client.get(self.url + "move/?" + query, HTTP_HX_REQUEST="true")
        self.assertNotContains(fragment, "<html")
        self.assertContains(fragment, f'id="card-{post.pk}-{card.pk}-date" name="date" value="2026-12-09"')
        self.assertContains(fragment, 'name="time" value="15:30"')
        self.assertContains(fragment, "Time (Europe/Paris)")
        alone = self.client.get(self.url + f"move/?post={post.pk}")
        self.assertContains(alone, f"<h1>Move post #{post.pk}</h1>")
        self.assertContains(alone, 'name="time" value="15:30"')  # its time, in the person's zone
        self.assertEqual(self.client.get(self.url + "move/?post=999999").status_code, 404)
        # Refused without JavaScript: the form again, with the reason beside the time.
        refused = self.client.post(self.url + "move/", {"post": post.pk, "date": "2026-12-01", "time": "09:00"})
        self.assertContains(refused, 'aria-invalid="true"', count=1, status_code=400)
        self.assertContains(refused, 'name="date" value="2026-12-01"', status_code=400)

    def test_a_bad_day_or_time_says_what_to_write(self):
        post = self.post(at=datetime(2026, 12, 9, 14, 30, tzinfo=UTC))
        response = self.move(post, "10/12/2026", "11h", HTTP_HX_REQUEST="true")
        self.assertContains(response, "Give the day as YYYY-MM-DD")
        self.assertContains(response, "Give the time as HH:MM (e.g. 09:30), in Europe/Paris.")
        response = self.move(post, "9999-12-31", "11:00", HTTP_HX_REQUEST="true")
        self.assertContains(response, "Pick a day between 1970-01-01 and 2999-12-31.")
        post.refresh_from_db()
        self.assertEqual(post.scheduled_at, datetime(2026, 12, 9, 14, 30, tzinfo=UTC))

    def test_another_teams_post_is_not_moved(self):
        theirs = services.post_create(
            team=self.others, content="Tea", channels=[self.other_page.pk], scheduled_at=NOW + timedelta(days=2)
        )
        response = self.move(theirs, "2026-12-10", "11:00", HTTP_HX_REQUEST="true")
        self.assertContains(response, "That post is not in this team&#x27;s calendar any more")
        theirs.refresh_from_db()
        self.assertEqual(theirs.scheduled_at, NOW + timedelta(days=2))

    def test_a_member_moving_an_approved_post_sends_it_back_to_review(self):
        Team.objects.filter(pk=self.team.pk).update(requires_approval=True)
        post = self.post(at=datetime(2026, 12, 9, 14, 30, tzinfo=UTC))  # the owner's: scheduled
        self.client.force_login(self.mia)
        form = self.client.get(self.url + f"move/?post={post.pk}", HTTP_HX_REQUEST="true")
        self.assertContains(form, "Moving it sends it back for review.")
        response = self.move(post, "2026-12-10", "11:00", HTTP_HX_REQUEST="true")
        post.refresh_from_db()
        self.assertEqual(
            (post.status, post.scheduled_at), (Post.Status.IN_REVIEW, datetime(2026, 12, 10, 10, 0, tzinfo=UTC))
        )
        self.assertContains(response, "It is back in review: an admin or owner approves it again.")

    def test_only_scheduled_posts_can_be_dragged(self):
        scheduled = self.post(at=datetime(2026, 12, 9, 14, 30, tzinfo=UTC))
        published = self.post(at=datetime(2026, 12, 9, 15, 30, tzinfo=UTC), content="Gone out")
        Post.objects.filter(pk=published.pk).update(status=Post.Status.PUBLISHED)
        Publication.objects.filter(post=published).update(
            status=Publication.Status.PUBLISHED, published_at=datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
        )
        page = self.client.get(self.url).content.decode()
        self.assertEqual(page.count(f'data-post="{scheduled.pk}"'), 2)
        self.assertNotIn(f'data-post="{published.pk}"', page)
        # A published card is at its publishing time, with its status.
        self.assertIn("Published", page)
        self.assertEqual(page.count("09:00 Europe/Paris"), 2)
