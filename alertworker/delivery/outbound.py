"""The one outbound HTTP client (SPEC §7 "Outbound safety"), used by the Slack and webhook channels.

:func:`check_url` refuses, at config time, a URL that is not https (http only for allow-listed
hosts), carries credentials, has a bad port, or names/resolves to an address that is not
globally routable: loopback, RFC 1918, link-local (metadata 169.254.169.254), CGNAT, multicast,
reserved, unspecified, IPv6 unique-local, and IPv4 addresses hidden in IPv6 forms or spelled in
decimal/octal/hex. Hosts on ``OUTBOUND_ALLOWLIST`` are exempt from the address checks.

:func:`post_json` does the same checks again at send time, then connects to the very address it
vetted (no DNS-rebinding window) while keeping the hostname for the Host header, SNI and
certificate check. Timeouts are bounded, redirects are never followed, the body read is capped.
Error messages name the host and status, and an excerpt of the answer scrubbed of every part of
a secret (``alertworker.core.scrub``): never the URL path, a header value or a body sent.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import certifi
import urllib3
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.exceptions import HTTPError as Urllib3Error

from alertworker.core.scrub import redact
from alertworker.core.settings import Settings
from alertworker.delivery.channels.base import PermanentError, RetryableError

log = logging.getLogger(__name__)
# urllib3 logs every request's path at DEBUG, and a Slack webhook's path is a secret.
logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)

MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "alertworker/0.1"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOSTNAME = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?")
_NUMERIC = re.compile(r"[0-9a-fx.]+")
_FRAMING = {"host", "content-length", "transfer-encoding", "connection", "te", "upgrade"}
RESERVED_HEADERS = frozenset(_FRAMING | {"user-agent", "content-type", "idempotency-key"})
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURLError(ValueError):
    """The URL may not be used for outbound requests; the message is safe to show an admin."""


class Target(NamedTuple):
    scheme: str
    host: str  # lower-case hostname or IP literal, without brackets
    port: int
    path: str  # path and query, never logged
    allowlisted: bool


@dataclass(frozen=True)
class Response:
    status: int
    headers: urllib3.HTTPHeaderDict  # case-insensitive
    text: str  # at most MAX_RESPONSE_BYTES of the body, decoded


def has_control(text: str) -> bool:
    """True when ``text`` holds a control character (C0, DEL, C1, line/paragraph separator)."""
    return _CONTROL.search(text) is not None


def header_problem(name: str, value: str) -> str | None:
    """Why a config's custom header may not be sent, or None: not a header name, a name that is
    (or differs only by case or ``_``/``-`` from) one alertworker sets, a control character."""
    if not _TOKEN.fullmatch(name):
        return "must be an HTTP header name"
    key = name.lower().replace("_", "-")
    if key in RESERVED_HEADERS or key.startswith("x-alertworker-"):
        return f"header {name!r} is set by alertworker and cannot be overridden"
    if has_control(value):
        return f"header {name!r} must not contain control characters"
    return None


def check_url(url: str, settings: Settings, *, resolve: bool = True) -> None:
    """Raise :class:`UnsafeURLError` unless ``url`` is an acceptable outbound target."""
    target = parse_target(url, settings)
    if resolve and not target.allowlisted:
        try:
            addresses = _resolve(target)
        except OSError:
            raise UnsafeURLError(f"cannot resolve host {target.host}") from None
        for address in addresses:
            _check_address(target.host, address)


def parse_target(url: str, settings: Settings) -> Target:
    """The static checks of :func:`check_url` (no DNS): scheme, credentials, port, literal IPs."""
    if has_control(url):  # urlsplit would quietly drop a tab or a newline
        raise UnsafeURLError("URL must not contain control characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise UnsafeURLError("malformed URL or port") from None
    host = (parts.hostname or "").lower().rstrip(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise UnsafeURLError("malformed host name") from None
    if not host:
        raise UnsafeURLError("URL has no host")
    allowlisted = host in settings.outbound_allowlist
    if parts.scheme != "https" and not (parts.scheme == "http" and allowlisted):
        raise UnsafeURLError(f"URL must be https (http only for allow-listed hosts), host {host}")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeURLError("URL must not contain credentials")
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    if not 0 < port < 65536:
        raise UnsafeURLError("bad port")
    literal = _literal_ip(host)
    if literal is None and not _HOSTNAME.fullmatch(host):
        raise UnsafeURLError("malformed host name")
    if literal is not None and not allowlisted:
        _check_address(host, literal)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, path, allowlisted)


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC.fullmatch(host):
        try:
            socket.inet_aton(host)  # 2130706433, 0177.0.0.1, 0x7f000001, 127.1 ...
        except OSError:
            return None
        raise UnsafeURLError(f"non-canonical numeric address {host} is not allowed")
    return None


def _resolve(target: Target) -> list[IPAddress]:
    infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    return list(dict.fromkeys(addresses))


def is_forbidden(address: IPAddress) -> bool:
    """True for any address that is not globally routable unicast, however it is spelled."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and (address.packed[:12] == bytes(12) or address in _NAT64):
            embedded = ipaddress.IPv4Address(address.packed[-4:])  # IPv4-compatible, NAT64
        if address.teredo:
            return any(is_forbidden(a) for a in address.teredo)
        if embedded is not None:
            return is_forbidden(embedded)
    return not address.is_global or any(
        (address.is_multicast, address.is_reserved, address.is_loopback,
         address.is_link_local, address.is_unspecified, address.is_private)
    )  # fmt: skip


def _check_address(host: str, address: IPAddress) -> None:
    if is_forbidden(address):
        raise UnsafeURLError(f"host {host} is (or resolves to) a non-public address {address}")


def post_json(url: str, body: bytes, headers: dict[str, str], settings: Settings) -> Response:
    """POST ``body`` to ``url`` through the guard; raises Retryable/PermanentError on failure.

    Any HTTP status is returned as a :class:`Response`; classify it with :func:`raise_for_status`.
    """
    try:
        target = parse_target(url, settings)
    except UnsafeURLError as exc:
        raise PermanentError(f"refused URL: {exc}") from None
    try:
        addresses = _resolve(target)
    except OSError:
        raise RetryableError(f"DNS lookup failed for {target.host}") from None
    if not target.allowlisted:
        for address in addresses:
            if is_forbidden(address):
                raise PermanentError(f"refused URL: host {target.host} resolves to {address}")
    default_port = 443 if target.scheme == "https" else 80
    host_header = f"[{target.host}]" if ":" in target.host else target.host
    if target.port != default_port:
        host_header += f":{target.port}"
    if any(has_control(k) or has_control(v) for k, v in headers.items()):
        raise PermanentError(f"request to {target.host} refused: control character in a header")
    own = {k: v for k, v in headers.items() if k.lower() not in _FRAMING | {"user-agent"}}
    all_headers = {"User-Agent": USER_AGENT, **own, "Host": host_header}
    what = "connection failed"
    for address in addresses:
        try:
            return _post_to(address, target, body, all_headers, settings)
        except ConnectTimeoutError as exc:  # nothing was sent: try the next vetted address
            refused = isinstance(exc, NewConnectionError)
            what = "connection failed" if refused else "connect timed out"
    raise RetryableError(f"{what}: {target.host} port {target.port}")


_pools: dict[tuple[object, ...], urllib3.HTTPConnectionPool] = {}
_pools_lock = threading.Lock()
MAX_POOLS = 256


def _pool(address: IPAddress, target: Target, settings: Settings) -> urllib3.HTTPConnectionPool:
    """A keep-alive pool to one vetted address (kept per process; connections are reused)."""
    ca_certs = os.environ.get("SSL_CERT_FILE") or certifi.where()
    key = (target.scheme, str(address), target.port, target.host, settings.http_timeout_seconds,
           ca_certs)  # fmt: skip
    with _pools_lock:
        pool = _pools.get(key)
        if pool is not None:
            return pool
        if len(_pools) >= MAX_POOLS:
            for old in _pools.values():
                old.close()
            _pools.clear()
        timeout = urllib3.Timeout(
            connect=settings.http_timeout_seconds, read=settings.http_timeout_seconds
        )
        common: dict[str, Any] = {
            "port": target.port,
            "timeout": timeout,
            "retries": False,
            "maxsize": 8,  # connections kept per destination: the delivery service has 8 threads
        }
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                str(address), **common, cert_reqs="CERT_REQUIRED", ca_certs=ca_certs,
                server_hostname=target.host, assert_hostname=target.host,
            )  # fmt: skip
        else:
            pool = urllib3.HTTPConnectionPool(str(address), **common)
        _pools[key] = pool
        return pool


def _post_to(
    address: IPAddress, target: Target, body: bytes, headers: dict[str, str], settings: Settings
) -> Response:
    pool = _pool(address, target, settings)
    try:
        resp = pool.urlopen(
            "POST", target.path, body=body, headers=headers, redirect=False,
            preload_content=False, assert_same_host=False,
        )  # fmt: skip
        data = b""
        try:
            data = resp.read(MAX_RESPONSE_BYTES + 1)
        finally:
            if len(data) <= MAX_RESPONSE_BYTES and resp.length_remaining in (0, None):
                resp.release_conn()  # read to the end: the connection can be reused
            else:
                resp.close()
        log.debug("POST %s:%s via %s: HTTP %s", target.host, target.port, address, resp.status)
        text = data[:MAX_RESPONSE_BYTES].decode("utf-8", "replace")
        return Response(resp.status, resp.headers, text)
    except ConnectTimeoutError:
        raise
    except (urllib3.exceptions.TimeoutError, TimeoutError):
        raise RetryableError(f"request to {target.host} timed out") from None
    except (Urllib3Error, OSError) as exc:
        raise RetryableError(f"request to {target.host} failed ({type(exc).__name__})") from None
    except ValueError:  # e.g. http.client refusing a header value with CR/LF
        raise PermanentError(f"request to {target.host} rejected: invalid header") from None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def excerpt(text: str, secrets: Iterable[str] = (), limit: int = 200) -> str:
    """The start of a receiver's answer, blanks collapsed, without any part of ``secrets``."""
    return " ".join(redact(text[: limit * 8], secrets).split())[:limit]


def raise_for_status(resp: Response, host: str, secrets: Iterable[str] = ()) -> None:
    """2xx: return. 408/429/5xx: Retryable (with Retry-After). 3xx and other 4xx: Permanent.
    The error carries the status and an excerpt of the answer scrubbed of ``secrets``."""
    status = resp.status
    if 200 <= status < 300:
        return
    detail = f"{host}: HTTP {status}"
    if resp.text.strip():
        detail += f": {excerpt(resp.text, secrets)}"
    if 300 <= status < 400:
        raise PermanentError(f"{detail} (redirect not followed)", status_code=status)
    if status in (408, 429) or status >= 500:
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        raise RetryableError(detail, status_code=status, retry_after=retry_after)
    raise PermanentError(detail, status_code=status)
