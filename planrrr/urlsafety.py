"""Outgoing requests to URLs a user gave us (webhooks, media): public addresses only.

A URL a team types in must not make our servers talk to themselves, to the private
network or to the cloud metadata service (SSRF). ``check_public_url`` says whether a URL
may be fetched and returns the addresses it resolves to; ``public_session`` returns a
``requests.Session`` that runs the check on every request it sends (redirects included)
and connects to exactly the address that was checked, so a DNS answer that changes
between the check and the connection (DNS rebinding) cannot slip a private address in.
The request keeps its hostname: the Host header, TLS SNI and certificate verification
all use the name from the URL, only the TCP connection goes to the checked IP.

    session = public_session(allow_private=settings.WEBHOOK_ALLOW_PRIVATE_URLS)
    response = session.post(url, data=body, timeout=(5, 15), allow_redirects=False)

``allow_private=True`` (development and tests, where the other side runs on loopback)
skips the address rules but still resolves once and pins the connection.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from requests import PreparedRequest, Response, Session
from requests.adapters import HTTPAdapter

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = {"http": 80, "https": 443}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_ULA = ipaddress.ip_network("fc00::/7")
# NAT64's well-known prefix carries an IPv4 address in its last 32 bits (RFC 6052).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeURL(ValueError):
    """The URL may not be fetched. The message says why and what to change.

    ``permanent`` is False when trying again later may help (the host name did not
    resolve right now), True when the URL itself must change.
    """

    def __init__(self, message: str, *, permanent: bool = True):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class ResolvedAddress:
    """One address a URL's host resolved to, with the port the URL connects to."""

    ip: IPAddress
    port: int

    @property
    def netloc(self) -> str:
        host = f"[{self.ip}]" if self.ip.version == 6 else str(self.ip)
        return f"{host}:{self.port}"


def check_public_url(url: str, *, allow_private: bool = False) -> list[ResolvedAddress]:
    """Return the addresses ``url`` connects to; raise UnsafeURL if it may not be fetched.

    The URL must be http(s) with a host, and every address the host resolves to must be
    a public unicast address (one private answer is enough to refuse: which one a client
    connects to is not ours to choose). ``allow_private`` lifts the address rules only.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as err:
        raise UnsafeURL(f"{url!r} is not a valid URL ({err}).") from err
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UnsafeURL(f"The URL must start with https:// or http://, not {parts.scheme or 'nothing'}:// .")
    host = parts.hostname
    if not host:
        raise UnsafeURL(f"The URL {url!r} has no host name.")
    port = port or SCHEMES[scheme]

    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        ips = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as err:
            raise UnsafeURL(
                f"The host {host!r} could not be resolved ({err}). Check the spelling of the URL.", permanent=False
            ) from err
        ips = []
        for info in infos:
            # An IPv6 link-local answer may carry a zone ("fe80::1%eth0").
            ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
            if ip not in ips:
                ips.append(ip)
        if not ips:
            raise UnsafeURL(f"The host {host!r} has no address. Check the spelling of the URL.", permanent=False)

    if not allow_private:
        for ip in ips:
            reason = refusal_reason(ip)
            if reason:
                where = "is" if literal is not None else f"resolves to {ip}, which is"
                raise UnsafeURL(
                    f"The URL's host {host} {where} {reason}. Use a URL whose host is reachable from the "
                    "public internet (a public domain name or a public IP address)."
                )
    return [ResolvedAddress(ip=ip, port=port) for ip in ips]


def refusal_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address, in words; None if it is one."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        reason = refusal_reason(embedded)
        return f"an IPv6 address carrying the IPv4 address {embedded}, {reason}" if reason else None
    if ip.is_loopback:
        return "a loopback address (this machine)"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_link_local:
        return "a link-local address (169.254.0.0/16 and fe80::/10; cloud metadata services live there)"
    if ip in _CGNAT:
        return "a carrier-grade NAT address (100.64.0.0/10)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.version == 6 and ip in _ULA:
        return "a unique local IPv6 address (fc00::/7, a private network)"
    if ip.is_private:
        return "a private address (such as 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "not a globally routable address"
    return None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped, 6to4, NAT64), if any."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


class PinnedAdapter(HTTPAdapter):
    """An HTTPAdapter that checks each request's URL and connects to the checked address.

    The URL handed to urllib3 carries the IP instead of the host name, so no second DNS
    lookup happens; the Host header keeps the name, and for https the connection pool
    is keyed and verified on the name (``server_hostname`` for SNI, ``assert_hostname``
    for the certificate).

    Pooled connections are therefore reused only for the address just checked: a pool is
    keyed by the IP (and, for https, the name), so when a name's answer changes, the next
    request goes to the pool of its new address, checked, never to a socket opened to the
    old one.

    ``allow_private`` may be a function, called at every request: for a setting that tests
    change while the adapter lives on (``INSTANCE_ALLOW_PRIVATE_URLS``).
    """

    def __init__(self, *, allow_private: bool | Callable[[], bool] = False, **kwargs: Any):
        self.allow_private = allow_private
        super().__init__(**kwargs)

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        allow_private = self.allow_private() if callable(self.allow_private) else self.allow_private
        addresses = check_public_url(request.url, allow_private=allow_private)
        parts = urlsplit(request.url)
        pinned = request.copy()
        pinned.url = urlunsplit(parts._replace(netloc=addresses[0].netloc))
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        if parts.port not in (None, SCHEMES[parts.scheme.lower()]):
            host = f"{host}:{parts.port}"
        pinned.headers["Host"] = request.headers.get("Host", host)
        pinned._planrrr_hostname = parts.hostname  # read by build_connection_pool_key_attributes
        response = super().send(pinned, *args, **kwargs)
        # Callers (and requests' redirect handling) see the URL they asked for, not the IP.
        response.url = request.url
        response.request = request
        return response

    def build_connection_pool_key_attributes(self, request: PreparedRequest, verify: Any, cert: Any = None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        hostname = getattr(request, "_planrrr_hostname", None)
        if hostname and host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = hostname
            pool_kwargs["assert_hostname"] = hostname
        return host_params, pool_kwargs


class ReleasingSession(Session):
    """A requests Session that gives the thread's database connection back to the process's pool
    (if it has one, ``planrrr.db.connection_release``) before each request: a worker thread
    waiting on another server's answer holds no PostgreSQL connection."""

    def request(self, *args: Any, **kwargs: Any) -> Response:
        from planrrr.db import connection_release

        connection_release()
        return super().request(*args, **kwargs)


def public_session(*, allow_private: bool = False) -> Session:
    """A requests Session that only reaches public addresses, each checked before use.

    Proxies from the environment are ignored: a proxy would resolve the name itself.
    """
    session = ReleasingSession()
    session.trust_env = False
    adapter = PinnedAdapter(allow_private=allow_private)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
