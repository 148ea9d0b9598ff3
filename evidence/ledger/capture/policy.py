"""What a capture may visit: http(s) only, and public addresses unless the operator says so.

The capture runs on the service's own machine, so a URL is a request made from inside
its network. A hostile submitter could point it at ``http://127.0.0.1:5432/`` or at a
cloud metadata address (server-side request forgery); refusing non-public addresses is
the default, and ``allow_private`` is for the operator (tests, an intranet deployment).
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from dataclasses import dataclass, field

SCHEMES = ("http", "https")
MAX_URL = 8192


class CaptureRefused(Exception):
    """The capture was refused or failed; nothing was preserved.

    ``code`` is stable for programs (``bad-url``, ``private-address``, ``dns-failure``,
    ``connection-refused``, ``too-many-redirects``, ``tls-error``, ``timeout``, ``download``,
    ``bad-session``, ``video-unavailable``,
    ``browser-error``, ``packaging-error``); the message is for people."""

    def __init__(self, code: str, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.url = url

    def to_json(self) -> dict[str, str | None]:
        return {"code": self.code, "error": str(self), "url": self.url}


def check_url(url: str) -> urllib.parse.SplitResult:
    """Parse ``url`` and refuse anything a capture must not visit by its form alone."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise CaptureRefused("bad-url", "the URL is empty or longer than 8192 characters",
                             url=url if isinstance(url, str) else None)
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise CaptureRefused("bad-url", "the URL contains spaces or control characters", url=url)
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise CaptureRefused("bad-url", f"the URL cannot be parsed: {e}", url=url) from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise CaptureRefused("bad-url", f"only http and https URLs can be captured, not "
                                        f"{scheme + ':' if scheme else 'a URL without scheme'}",
                             url=url)
    if not parts.hostname:
        raise CaptureRefused("bad-url", "the URL names no host", url=url)
    if parts.username is not None or parts.password is not None:
        raise CaptureRefused("bad-url", "URLs with a user name or password are refused "
                                        "(credentials would be recorded in the evidence)",
                             url=url)
    if port == 0:
        raise CaptureRefused("bad-url", "port 0 is not a port", url=url)
    return parts


def is_public(addr: str) -> bool:
    """True for a globally routable unicast address (not loopback, private, link-local,
    multicast, reserved, shared CGN space, or an IPv4-mapped form of those)."""
    ip = ipaddress.ip_address(addr.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@dataclass
class Resolver:
    """Resolves each host once per capture and keeps every answer for the manifest,
    so the record shows exactly what the capture node's resolver said."""

    allow_private: bool = False
    allowed_networks: tuple[str, ...] = ()  # non-public networks the operator allows
    answers: dict[str, dict[str, object]] = field(default_factory=dict)

    def allowed(self, addr: str) -> bool:
        if self.allow_private or is_public(addr):
            return True
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
        return any(ip in ipaddress.ip_network(n, strict=False) for n in self.allowed_networks)

    def resolve(self, host: str, port: int) -> list[str]:
        host = host.lower().strip("[]")
        if host in self.answers:
            return list(self.answers[host].get("addresses") or [])  # type: ignore[arg-type]
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError, OSError) as e:
            self.answers[host] = {"addresses": [], "error": str(e)}
            return []
        addrs: list[str] = []
        for info in infos:
            a = str(info[4][0])
            if a not in addrs:
                addrs.append(a)
        self.answers[host] = {"addresses": addrs, "error": None}
        return addrs

    def check(self, host: str, port: int) -> list[str]:
        """Resolve and refuse a host that does not resolve or resolves to a non-public
        address (any one of them: the browser may pick any)."""
        addrs = self.resolve(host, port)
        if not addrs:
            err = self.answers.get(host.lower().strip("[]"), {}).get("error")
            raise CaptureRefused("dns-failure", f"the host {host} does not resolve ({err})")
        self.check_addresses(host, addrs)
        return addrs

    def check_addresses(self, host: str, addrs: list[str]) -> None:
        bad = [a for a in addrs if not self.allowed(a)]
        if bad:
            raise CaptureRefused(
                "private-address",
                f"the host {host} resolves to a loopback, private or link-local address "
                f"({', '.join(bad)}); capturing it is refused unless the operator allows "
                "private addresses")
