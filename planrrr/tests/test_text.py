"""Text from outside made storable and free of secrets; times from outside clamped."""

from datetime import UTC, datetime, timedelta

from django.test import SimpleTestCase

from planrrr.text import (
    MAX_TEXT,
    MAX_WAIT,
    REDACTED,
    clamp_wait,
    safe_text,
    scrub,
    storable,
    time_from_epoch,
    time_from_retry_after,
    wait_from_seconds,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
TOKEN = "tok-SECRET-xyz123456789"


class StorableTests(SimpleTestCase):
    def test_it_replaces_nul_bytes_and_lone_surrogates(self):
        text = storable("a\x00b\ud800c\udfffd")
        self.assertEqual(text, "a\ufffdb\ufffdc\ufffdd")
        text.encode("utf-8")  # what PostgreSQL needs: no UnicodeEncodeError

    def test_it_keeps_ordinary_text_and_emoji(self):
        self.assertEqual(storable("Ça va? 👍🏽 日本"), "Ça va? 👍🏽 日本")

    def test_it_caps_the_length_and_says_it_was_cut(self):
        text = storable("x" * (MAX_TEXT + 50))
        self.assertEqual(len(text), MAX_TEXT)
        self.assertTrue(text.endswith("…"))
        self.assertEqual(storable("abcdef", limit=4), "abc…")

    def test_it_turns_anything_into_text(self):
        self.assertEqual(storable(ValueError("bad\x00")), "bad\ufffd")


class ScrubTests(SimpleTestCase):
    def test_it_removes_a_known_secret_wherever_it_is(self):
        self.assertEqual(scrub(f"token {TOKEN} was refused", [TOKEN]), f"token {REDACTED} was refused")

    def test_it_removes_a_known_secret_url_encoded(self):
        secret = "1234567|app-secret/abc"
        text = scrub("GET /me?key=1234567%7Capp-secret%2Fabc and body key=1234567%7Capp-secret%2Fabc", [secret])
        self.assertNotIn("app-secret", text)

    def test_it_removes_access_token_parameters_it_was_not_told_about(self):
        text = scrub("Max retries exceeded with url: /v21.0/1/feed?fields=id&access_token=EAAB123xyz&limit=5")
        self.assertNotIn("EAAB123xyz", text)
        self.assertIn(f"access_token={REDACTED}&limit=5", text)

    def test_it_removes_bearer_credentials(self):
        self.assertEqual(scrub("Authorization: Bearer abcdefgh12345"), f"Authorization: Bearer {REDACTED}")

    def test_it_ignores_empty_and_tiny_secrets(self):
        self.assertEqual(scrub("a b c", [None, "", "b"]), "a b c")


class SafeTextTests(SimpleTestCase):
    def test_it_scrubs_before_cutting_so_no_part_of_a_secret_survives(self):
        text = safe_text("x" * 190 + TOKEN, secrets=[TOKEN], limit=200)
        self.assertNotIn("tok-SECRET", text)

    def test_it_is_storable(self):
        self.assertEqual(safe_text(f"a\x00{TOKEN}", secrets=[TOKEN]), f"a\ufffd{REDACTED}")


class WaitTests(SimpleTestCase):
    def test_it_waits_the_seconds_asked(self):
        self.assertEqual(wait_from_seconds("90", what="test", now=NOW), NOW + timedelta(seconds=90))

    def test_it_clamps_a_huge_wait_to_the_maximum_and_logs_it_once(self):
        for value in ("999999999999", 1e300, float("inf"), "1e400"):
            with self.subTest(value=value), self.assertLogs("planrrr.text", "WARNING") as logs:
                self.assertEqual(wait_from_seconds(value, what="Retry-After", now=NOW), NOW + MAX_WAIT)
            self.assertEqual(len(logs.records), 1)
            self.assertIn("Retry-After", logs.output[0])

    def test_it_reads_a_negative_wait_as_now(self):
        for value in (-5, "-1e300", float("-inf")):
            with self.subTest(value=value):
                self.assertEqual(wait_from_seconds(value, what="test", now=NOW), NOW)

    def test_it_gives_none_for_what_is_not_a_number(self):
        for value in (None, "", "soon", float("nan"), "nan", [1]):
            with self.subTest(value=value):
                self.assertIsNone(wait_from_seconds(value, what="test", now=NOW))

    def test_it_clamps_an_epoch_far_ahead(self):
        with self.assertLogs("planrrr.text", "WARNING"):
            self.assertEqual(time_from_epoch("99999999999999", what="x-rate-limit-reset", now=NOW), NOW + MAX_WAIT)
        reset = NOW + timedelta(minutes=15)
        self.assertEqual(time_from_epoch(str(int(reset.timestamp())), what="x", now=NOW), reset)
        self.assertEqual(time_from_epoch("0", what="x", now=NOW), NOW)
        self.assertIsNone(time_from_epoch("nan", what="x", now=NOW))
        self.assertIsNone(time_from_epoch("soon", what="x", now=NOW))

    def test_it_reads_retry_after_in_seconds_and_as_a_date(self):
        self.assertEqual(time_from_retry_after("120", what="x", now=NOW), NOW + timedelta(seconds=120))
        self.assertEqual(
            time_from_retry_after("Sat, 01 Mar 2025 12:05:00 GMT", what="x", now=NOW), NOW + timedelta(minutes=5)
        )
        self.assertEqual(time_from_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", what="x", now=NOW), NOW)

    def test_it_clamps_retry_after_far_ahead(self):
        for value in ("999999999999", "Fri, 31 Dec 9999 23:59:59 GMT"):
            with self.subTest(value=value), self.assertLogs("planrrr.text", "WARNING") as logs:
                self.assertEqual(time_from_retry_after(value, what="Retry-After", now=NOW), NOW + MAX_WAIT)
            self.assertEqual(len(logs.records), 1)

    def test_it_gives_none_for_a_retry_after_it_cannot_read(self):
        for value in ("", None, "soon", "Fri, 31 Dec 99999 23:59:59 GMT", "-5", "1e3"):
            with self.subTest(value=value):
                self.assertIsNone(time_from_retry_after(value, what="x", now=NOW))

    def test_it_clamps_a_time_far_ahead(self):
        with self.assertLogs("planrrr.text", "WARNING"):
            self.assertEqual(clamp_wait(datetime(9999, 12, 31, tzinfo=UTC), what="x", now=NOW), NOW + MAX_WAIT)
        self.assertEqual(clamp_wait(NOW + timedelta(hours=1), what="x", now=NOW), NOW + timedelta(hours=1))
