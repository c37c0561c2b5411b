import datetime
import ipaddress
import socket
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.test import SimpleTestCase

from planrrr import urlsafety
from planrrr.urlsafety import UnsafeURL, check_public_url, public_session

_real_getaddrinfo = socket.getaddrinfo


def fake_dns(answers: dict[str, list[str]], calls: list[str] | None = None):
    """A getaddrinfo that answers ``answers`` for those names and asks the real one otherwise."""

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            if calls is not None:
                calls.append(host)
            return [
                (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
                for ip in answers[host]
            ]
        return _real_getaddrinfo(host, port, *args, **kwargs)

    return mock.patch("socket.getaddrinfo", side_effect=getaddrinfo)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.seen.append({"path": self.path, "host": self.headers["Host"]})
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class LocalServer:
    def __init__(self, tls: ssl.SSLContext | None = None):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.seen = []
        self.server.redirect_to = ""
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def seen(self) -> list[dict]:
        return self.server.seen

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def self_signed(directory: Path, hostname: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class CheckPublicUrlTests(SimpleTestCase):
    def test_it_accepts_a_public_address(self):
        [address] = check_public_url("https://93.184.216.34/hooks")
        self.assertEqual(address.ip, ipaddress.ip_address("93.184.216.34"))
        self.assertEqual(address.port, 443)

    def test_it_returns_every_resolved_address_with_the_port(self):
        with fake_dns({"hooks.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]}):
            addresses = check_public_url("http://hooks.example.com:8080/x")
        self.assertEqual([str(a.ip) for a in addresses], ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
        self.assertEqual(addresses[1].netloc, "[2606:2800:220:1:248:1893:25c8:1946]:8080")

    def test_it_refuses_non_public_addresses_saying_why(self):
        cases = {
            "http://127.0.0.1:8000/": "loopback",
            "http://localhost.:8000/": "loopback",
            "http://10.1.2.3/": "private address",
            "http://172.16.0.1/": "private address",
            "http://192.168.1.1/": "private address",
            "http://169.254.169.254/latest/meta-data/": "link-local",
            "http://100.64.0.1/": "carrier-grade NAT",
            "http://224.0.0.1/": "multicast",
            "http://0.0.0.0/": "unspecified",
            "http://240.0.0.1/": "private address",
            "http://[::1]/": "loopback",
            "http://[::ffff:127.0.0.1]/": "IPv4 address 127.0.0.1, a loopback",
            "http://[::ffff:10.0.0.1]/": "IPv4 address 10.0.0.1, a private",
            "http://[fc00::1]/": "unique local",
            "http://[fd12:3456::1]/": "unique local",
            "http://[fe80::1]/": "link-local",
            "http://[ff02::1]/": "multicast",
            "http://[2002:7f00:1::]/": "IPv4 address 127.0.0.1",  # 6to4
            "http://[64:ff9b::a9fe:a9fe]/": "IPv4 address 169.254.169.254",  # NAT64
        }
        for url, reason in cases.items():
            with self.subTest(url=url):
                with fake_dns({"localhost.": ["127.0.0.1"]}):
                    with self.assertRaises(UnsafeURL) as ctx:
                        check_public_url(url)
                self.assertIn(reason, str(ctx.exception))
                self.assertIn("Use a URL whose host is reachable from the public internet", str(ctx.exception))
                self.assertTrue(ctx.exception.permanent)

    def test_it_refuses_a_hostname_that_resolves_to_a_private_address(self):
        with fake_dns({"internal.example.com": ["93.184.216.34", "10.0.0.7"]}):
            with self.assertRaises(UnsafeURL) as ctx:
                check_public_url("https://internal.example.com/hook")
        self.assertEqual(
            str(ctx.exception),
            "The URL's host internal.example.com resolves to 10.0.0.7, which is a private address (such as "
            "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16). Use a URL whose host is reachable from the public "
            "internet (a public domain name or a public IP address).",
        )

    def test_it_refuses_other_schemes_and_malformed_urls(self):
        for url, message in {
            "ftp://example.com/": "must start with https:// or http://, not ftp://",
            "file:///etc/passwd": "not file://",
            "example.com/hook": "not nothing://",
            "http:///path": "has no host name",
            "http://example.com:99999/": "not a valid URL",
        }.items():
            with self.subTest(url=url), self.assertRaises(UnsafeURL) as ctx:
                check_public_url(url)
            self.assertIn(message, str(ctx.exception))

    def test_it_reports_an_unresolvable_host_as_worth_retrying(self):
        with mock.patch("socket.getaddrinfo", side_effect=socket.gaierror(-2, "Name or service not known")):
            with self.assertRaises(UnsafeURL) as ctx:
                check_public_url("https://nope.example.com/")
        self.assertFalse(ctx.exception.permanent)
        self.assertIn("could not be resolved", str(ctx.exception))

    def test_it_allows_private_addresses_when_asked(self):
        [address] = check_public_url("http://127.0.0.1:9000/", allow_private=True)
        self.assertEqual(address.netloc, "127.0.0.1:9000")
        with self.assertRaises(UnsafeURL):
            check_public_url("gopher://127.0.0.1/", allow_private=True)


class PublicSessionTests(SimpleTestCase):
    def setUp(self):
        self.server = LocalServer()
        self.addCleanup(self.server.close)

    def test_it_connects_to_the_checked_address_keeping_the_host_header(self):
        calls: list[str] = []
        with fake_dns({"hooks.example.test": ["127.0.0.1"]}, calls):
            response = public_session(allow_private=True).get(f"http://hooks.example.test:{self.server.port}/x")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.url, f"http://hooks.example.test:{self.server.port}/x")
        self.assertEqual(self.server.seen, [{"path": "/x", "host": f"hooks.example.test:{self.server.port}"}])
        self.assertEqual(calls, ["hooks.example.test"], "the name is resolved once, by the check")

    def test_it_refuses_before_connecting(self):
        with fake_dns({"rebind.example.test": ["127.0.0.1"]}):
            with self.assertRaises(UnsafeURL) as ctx:
                public_session().get(f"http://rebind.example.test:{self.server.port}/x")
        self.assertIn("resolves to 127.0.0.1, which is a loopback address", str(ctx.exception))
        self.assertEqual(self.server.seen, [])

    def test_it_checks_every_redirect(self):
        real_reason = urlsafety.refusal_reason
        # Let this test's own server count as public; everything else keeps the real rules.
        only_loopback_allowed = mock.patch.object(
            urlsafety, "refusal_reason", side_effect=lambda ip: None if str(ip) == "127.0.0.1" else real_reason(ip)
        )
        self.server.server.redirect_to = "http://169.254.169.254/latest/meta-data/"
        with only_loopback_allowed, self.assertRaises(UnsafeURL) as ctx:
            public_session().get(f"http://127.0.0.1:{self.server.port}/redirect")
        self.assertIn("169.254.169.254 is a link-local address", str(ctx.exception))
        self.assertEqual([s["path"] for s in self.server.seen], ["/redirect"])


class PublicSessionTlsTests(SimpleTestCase):
    def setUp(self):
        directory = Path(tempfile.mkdtemp())
        self.cert, key = self_signed(directory, "hooks.example.test")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.sni: list[str | None] = []
        context.sni_callback = lambda sock, name, ctx: self.sni.append(name)
        self.server = LocalServer(tls=context)
        self.addCleanup(self.server.close)

    def test_it_verifies_the_certificate_and_sends_sni_for_the_hostname(self):
        dns = {"hooks.example.test": ["127.0.0.1"], "other.example.test": ["127.0.0.1"]}
        with fake_dns(dns):
            session = public_session(allow_private=True)
            response = session.get(f"https://hooks.example.test:{self.server.port}/tls", verify=str(self.cert))
            self.assertEqual(response.text, "hello")
            self.assertEqual(self.sni, ["hooks.example.test"])
            self.assertEqual(self.server.seen[0]["host"], f"hooks.example.test:{self.server.port}")

            # Same IP, but the certificate is not valid for this name: refused.
            with self.assertRaises(requests.exceptions.SSLError), self.assertLogs("urllib3.connection", "WARNING"):
                session.get(f"https://other.example.test:{self.server.port}/tls", verify=str(self.cert))
