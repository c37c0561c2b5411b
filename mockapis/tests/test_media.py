import struct
import time
import zlib

from mockapis.media import HUGE_BYTES, JPEG_BYTES, PNG_BYTES, jpeg, sniff

from .base import StandInTestCase


class MediaTests(StandInTestCase):
    def test_it_serves_a_valid_png(self):
        response = self.client.get("/media/photo.png")

        self.assertEqual(response["Content-Type"], "image/png")
        self.assertEqual(int(response["Content-Length"]), len(response.content))
        data = response.content
        self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
        # Every chunk's CRC holds and the pixels inflate to 16 rows of filter byte + 16 RGB pixels.
        position, pixels = 8, b""
        while position < len(data):
            (length,) = struct.unpack(">I", data[position : position + 4])
            kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
            (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
            self.assertEqual(crc, zlib.crc32(kind + body), kind)
            pixels += zlib.decompress(body) if kind == b"IDAT" else b""
            position += 12 + length
        self.assertEqual(len(pixels), 16 * (1 + 16 * 3))

    def test_it_serves_a_jpeg_for_jpg_names(self):
        response = self.client.get("/media/photo.jpg")

        self.assertEqual(response["Content-Type"], "image/jpeg")
        self.assertEqual(response.content, JPEG_BYTES)
        self.assertEqual(sniff(response.content), sniff(JPEG_BYTES))
        self.assertEqual((sniff(JPEG_BYTES).width, sniff(JPEG_BYTES).height), (16, 16))
        self.assertTrue(JPEG_BYTES.endswith(b"\xff\xd9"))
        # A flat mid-grey needs no DC difference at all: still a well-formed scan.
        self.assertTrue(jpeg(gray=128).startswith(b"\xff\xd8"))

    def test_it_answers_404_for_missing_names(self):
        self.assertEqual(self.client.get("/media/gone-missing.jpg").status_code, 404)

    def test_it_answers_html_for_text_names(self):
        response = self.client.get("/media/page-text.jpg")

        self.assertEqual((response.status_code, response["Content-Type"]), (200, "text/html"))

    def test_it_announces_more_than_50_mb_for_huge_names_but_sends_a_few_bytes(self):
        response = self.client.get("/media/big-huge.jpg")

        self.assertGreater(int(response["Content-Length"]), 50 * 1024 * 1024)
        self.assertEqual(int(response["Content-Length"]), HUGE_BYTES)
        self.assertLess(len(b"".join(response.streaming_content)), 1024)

    def test_it_sleeps_the_configured_seconds_for_slow_names(self):
        self.configure(media_slow_seconds=0.2)
        started = time.monotonic()

        response = self.client.get("/media/late-slow.png")

        self.assertGreaterEqual(time.monotonic() - started, 0.2)
        self.assertEqual(response.content, PNG_BYTES)

    def test_it_logs_media_requests(self):
        self.client.get("/media/a.png")

        [entry] = self.client.get("/_control/requests", {"platform": "MEDIA"}).json()["requests"]
        self.assertEqual((entry["path"], entry["status"]), ("/media/a.png", 200))

    def test_it_tells_images_from_other_bytes(self):
        self.assertEqual(sniff(PNG_BYTES).content_type, "image/png")
        self.assertEqual(sniff(b"GIF89a\x10\x00\x08\x00rest").width, 16)
        self.assertIsNone(sniff(b"<!doctype html>"))
