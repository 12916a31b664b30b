"""Real receivers on loopback for channel tests: a scriptable HTTP(S) server and an SMTP server.

Fixtures: ``http_receiver``, ``https_receiver`` (certificate for ``localhost`` only),
``smtp_receiver``, ``smtp_tls_receiver`` (STARTTLS and AUTH required), ``smtps_receiver``,
``tls_cert``, ``trust_test_cert`` (points ``SSL_CERT_FILE`` at the test certificate, so the
code under test verifies it through its normal path), ``closed_port``. :func:`make_message`
builds a channel :class:`Message`.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from alertworker.delivery.channels.base import Message

SMTP_USER, SMTP_PASSWORD = "alerts", "s3cret-smtp-pass"


def make_message(**changes: Any) -> Message:
    fields: dict[str, Any] = {
        "delivery_id": 7001,
        "notification_id": 42,
        "event_id": "3f0c4a52-5c43-4b8e-9d7e-0f1b2a3c4d5e",
        "tenant_id": "acme",
        "config_id": 3,
        "config_name": "OpenAI circuit",
        "alert_type": "circuit_breaker_opened",
        "severity": "error",
        "title": "Circuit breaker opened for openai",
        "message": "5 consecutive failures",
        "context": {"provider_name": "openai", "consecutive_failures": 5},
        "occurred_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        "triggered_at": datetime(2025, 1, 2, 3, 4, 6, tzinfo=UTC),
        "occurrence_count": 1,
        "suppressed_since_last": 0,
        "is_test": False,
        "channel_config": {},
    }
    fields.update(changes)
    return Message(**fields)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- HTTP -----------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: str | bytes = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    redirect: str | None = None  # Location header
    keep_alive: bool = False  # leave the connection open for the next request
    echo: Callable[[Request], str] | None = None  # the body made from the request, if set


@dataclass
class Request:
    method: str
    path: str
    headers: Any  # http.client.HTTPMessage: case-insensitive
    body: bytes
    at: float  # time.monotonic() on arrival
    client: tuple[str, int] = ("", 0)  # the client's address: one per connection


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = Request(
            self.command, self.path, self.headers, body, time.monotonic(), self.client_address
        )
        receiver.requests.append(request)
        if receiver.respond is not None:
            reply = receiver.respond(request)
        else:
            reply = receiver.replies.pop(0) if receiver.replies else receiver.default
        if reply.delay and receiver.stopping.wait(reply.delay):
            return
        body = reply.echo(request) if reply.echo else reply.body
        data = body.encode() if isinstance(body, str) else body
        self.send_response(reply.status)
        if reply.redirect:
            self.send_header("Location", reply.redirect)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        if not reply.keep_alive:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: HttpReceiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out and hang up are part of the tests


class HttpReceiver:
    """Answers every request with ``default`` (or the next queued ``replies``); records them."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Request] = []
        self.replies: list[Reply] = []
        self.default = Reply()
        self.respond: Any = None  # a function Request -> Reply, instead of replies/default
        self.stopping = threading.Event()
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.receiver = self
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def reply(self, status: int = 200, body: str | bytes = "ok", **kwargs: Any) -> None:
        self.default = Reply(status, body, **kwargs)

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate valid for the name ``localhost`` only (not for 127.0.0.1)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext",
         "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def server_tls(tls_cert: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_cert)
    return context


@pytest.fixture
def trust_test_cert(tls_cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_cert[0]))
    return tls_cert[0]


@pytest.fixture
def https_receiver(server_tls: ssl.SSLContext) -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(tls=server_tls)
    yield receiver
    receiver.stop()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused."""
    return free_port()


# --- SMTP -----------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    authenticated: bool

    @property
    def email(self) -> EmailMessage:
        return message_from_bytes(self.content, policy=policy.default)  # type: ignore[return-value]


class SmtpReceiver:
    """aiosmtpd handler: records messages; ``refuse[addr]`` / ``data_reply`` script failures."""

    def __init__(self, tls: ssl.SSLContext | None = None, implicit_tls: bool = False) -> None:
        self.messages: list[Received] = []
        self.refuse: dict[str, str] = {}  # address -> reply, e.g. "550 5.1.1 no such user"
        self.data_reply: str | None = None  # e.g. "451 4.3.0 try again later"
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if tls is not None and implicit_tls:
            kwargs = {"ssl_context": tls}
        elif tls is not None:
            kwargs = {"tls_context": tls, "require_starttls": True, "auth_required": True,
                      "authenticator": self._authenticate}  # fmt: skip
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()

    @staticmethod
    def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:  # noqa: ANN001
        ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
        return AuthResult(success=ok, handled=False)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:  # noqa: ANN001
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
        if self.data_reply:
            return self.data_reply
        self.messages.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                     _is_tls(server, session), bool(session.authenticated))
        )  # fmt: skip
        return "250 Message accepted"

    def stop(self) -> None:
        self.controller.stop()


def _is_tls(server: Any, session: Any) -> bool:
    """STARTTLS sets ``session.ssl``; implicit TLS shows on the transport only."""
    return session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None


@pytest.fixture
def smtp_settings(settings: Any, smtp_receiver: SmtpReceiver) -> Any:
    """The run's settings, sending email to ``smtp_receiver`` in plain SMTP."""
    return settings.replace(
        smtp_host="127.0.0.1", smtp_port=smtp_receiver.port, smtp_security="none",
        smtp_from="Alertworker <alerts@example.test>",
    )  # fmt: skip


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtps_receiver(server_tls: ssl.SSLContext) -> Iterator[SmtpReceiver]:
    """Implicit TLS (SMTP_SECURITY=ssl), no AUTH."""
    receiver = SmtpReceiver(tls=server_tls, implicit_tls=True)
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp_tls_receiver(server_tls: ssl.SSLContext) -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver(tls=server_tls)
    yield receiver
    receiver.stop()
