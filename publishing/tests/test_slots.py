"""The queue's arithmetic: weekly slots as instants across DST changes, and caps over rolling windows."""

from datetime import UTC, datetime, time, timedelta
from unittest import TestCase
from zoneinfo import ZoneInfo

from publishing.slots import Window, fits, free_instants, local_instant, next_room, slot_instants

PARIS = ZoneInfo("Europe/Paris")
SUNDAY = 6


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


class LocalInstantTests(TestCase):
    def test_it_keeps_the_wall_clock_time_across_the_spring_change(self):
        # 2027-03-28 is the last Sunday of March: Paris goes from +01:00 to +02:00 at 02:00.
        self.assertEqual(local_instant(datetime(2027, 3, 27).date(), time(9), PARIS), utc(2027, 3, 27, 8))
        self.assertEqual(local_instant(datetime(2027, 3, 28).date(), time(9), PARIS), utc(2027, 3, 28, 7))

    def test_it_keeps_the_wall_clock_time_across_the_autumn_change(self):
        # 2027-10-31 is the last Sunday of October: back from +02:00 to +01:00 at 03:00.
        self.assertEqual(local_instant(datetime(2027, 10, 30).date(), time(9), PARIS), utc(2027, 10, 30, 7))
        self.assertEqual(local_instant(datetime(2027, 10, 31).date(), time(9), PARIS), utc(2027, 10, 31, 8))

    def test_it_moves_a_time_in_the_spring_gap_to_the_end_of_the_gap(self):
        # 02:30 does not exist on 2027-03-28 in Paris: the first instant after the gap is 03:00 local.
        instant = local_instant(datetime(2027, 3, 28).date(), time(2, 30), PARIS)
        self.assertEqual(instant, utc(2027, 3, 28, 1))
        self.assertEqual(instant.astimezone(PARIS).strftime("%H:%M %z"), "03:00 +0200")

    def test_it_takes_the_first_of_a_time_that_occurs_twice(self):
        instant = local_instant(datetime(2027, 10, 31).date(), time(2, 30), PARIS)
        self.assertEqual(instant, utc(2027, 10, 31, 0, 30))  # 02:30 +02:00, not 02:30 +01:00


class SlotInstantsTests(TestCase):
    def test_a_sunday_slot_stays_at_nine_local_over_both_changes(self):
        after = utc(2027, 3, 20)
        instants = slot_instants([(SUNDAY, time(9))], after=after, zone=PARIS)
        first_three = [next(instants) for _ in range(3)]
        self.assertEqual(
            [i.astimezone(PARIS).strftime("%Y-%m-%d %H:%M") for i in first_three],
            [
                "2027-03-21 09:00",
                "2027-03-28 09:00",
                "2027-04-04 09:00",
            ],
        )
        self.assertEqual(first_three[0] - utc(2027, 3, 21), timedelta(hours=8))
        self.assertEqual(first_three[1] - utc(2027, 3, 28), timedelta(hours=7))

    def test_two_slots_in_one_gap_are_one_instant(self):
        instants = list(
            slot_instants([(SUNDAY, time(2, 15)), (SUNDAY, time(2, 45))], after=utc(2027, 3, 27), zone=PARIS)
        )[:2]
        self.assertEqual(instants, [utc(2027, 3, 28, 1), utc(2027, 4, 4, 0, 15)])

    def test_it_starts_strictly_after_now(self):
        instants = slot_instants([(SUNDAY, time(9))], after=utc(2027, 3, 21, 8), zone=PARIS)
        self.assertEqual(next(instants), utc(2027, 3, 28, 7))

    def test_no_slots_no_instants(self):
        self.assertEqual(list(slot_instants([], after=utc(2027, 1, 1), zone=PARIS)), [])


class CapTests(TestCase):
    DAY = Window(count=25, seconds=24 * 3600)

    def test_the_25th_fits_and_the_26th_does_not_in_24_hours(self):
        start = utc(2027, 5, 3, 0)
        taken = [start + timedelta(minutes=30 * i) for i in range(24)]
        self.assertTrue(fits(taken, start + timedelta(hours=12), self.DAY))
        taken.append(start + timedelta(hours=12))
        taken.sort()
        self.assertFalse(fits(taken, start + timedelta(hours=20), self.DAY))
        # Exactly 24 h after the first, the first has left every window holding the new one.
        self.assertTrue(fits(taken, start + timedelta(hours=24), self.DAY))
        self.assertFalse(fits(taken, start + timedelta(hours=23, minutes=59), self.DAY))

    def test_a_full_window_after_the_time_counts_too(self):
        later = utc(2027, 5, 4, 10)
        taken = [later + timedelta(minutes=i) for i in range(25)]
        self.assertFalse(fits(taken, later - timedelta(hours=1), self.DAY))
        self.assertTrue(fits(taken, later - timedelta(hours=24), self.DAY))

    def test_x_takes_200_in_15_minutes_not_201(self):
        window = Window(count=200, seconds=15 * 60)
        start = utc(2027, 5, 3, 12)
        taken = [start + timedelta(seconds=4 * i) for i in range(199)]
        self.assertTrue(fits(taken, start + timedelta(seconds=800), window))
        taken.append(start + timedelta(seconds=800))
        self.assertFalse(fits(taken, start + timedelta(seconds=801), window))
        self.assertEqual(next_room(taken, start + timedelta(seconds=801), [window]), start + timedelta(minutes=15))

    def test_next_room_is_when_the_oldest_leaves_the_window(self):
        start = utc(2027, 5, 3, 0)
        taken = [start + timedelta(minutes=30 * i) for i in range(25)]  # 00:00 to 12:00
        self.assertEqual(next_room(taken, start + timedelta(hours=36), [self.DAY]), start + timedelta(hours=36))
        self.assertEqual(next_room(taken, start + timedelta(hours=10), [self.DAY]), start + timedelta(hours=24))

    def test_a_zero_cap_never_fits(self):
        self.assertFalse(fits([], utc(2027, 1, 1), Window(count=0, seconds=60)))


class FreeInstantsTests(TestCase):
    def test_it_skips_taken_slots_and_full_windows(self):
        slots = [(day, time(9)) for day in range(7)] + [(day, time(17)) for day in range(7)]
        after = utc(2027, 5, 3, 0)  # Monday
        taken = [utc(2027, 5, 3, 7)]  # 09:00 Paris on Monday
        free = free_instants(
            slots, after=after, zone=PARIS, taken=taken, windows=[Window(count=1, seconds=24 * 3600)], count=3
        )
        # One a day: Monday 09:00 is taken, so Monday 17:00 is in its window; 09:00 the next day is
        # exactly 24 h later, in no window with it; each day's 17:00 is in the morning's window.
        self.assertEqual(free, [utc(2027, 5, 4, 7), utc(2027, 5, 5, 7), utc(2027, 5, 6, 7)])

    def test_it_skips_a_slot_taken_to_the_minute(self):
        free = free_instants(
            [(0, time(9))], after=utc(2027, 5, 2), zone=PARIS, taken=[utc(2027, 5, 3, 7, 0, 30)], count=1
        )
        self.assertEqual(free, [utc(2027, 5, 10, 7)])
