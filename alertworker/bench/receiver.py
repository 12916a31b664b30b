"""The benchmark's webhook receiver: a threaded HTTP/1.1 server on loopback that records arrivals.

Every ``POST`` is answered ``200`` at once, keeping the connection open (keep-alive) when the
client wants it, and recorded as an :class:`Arrival`: ``time.monotonic()`` on arrival, the
``Idempotency-Key`` header and the body's ``delivery_id`` and ``event_id``. The bench process
publishes with the same clock, so publish -> received latency needs no clock sync.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Arrival:
    at: float  # time.monotonic() when the body was read
    key: str | None  # Idempotency-Key
    delivery_id: Any
    event_id: Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body, written apart, wait on delayed ACKs
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        at = time.monotonic()
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        doc = doc if isinstance(doc, dict) else {}
        key = self.headers.get("Idempotency-Key")
        self.server.arrivals.append(Arrival(at, key, doc.get("delivery_id"), doc.get("event_id")))
        self.server.keys.add(key)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    arrivals: list[Arrival]
    keys: set[str | None]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-request is not the receiver's business


class Receiver:
    """``with Receiver() as r: ... r.url ... r.arrivals``; stops its server on exit."""

    def __init__(self) -> None:
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.arrivals = []
        self.server.keys = set()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), name="bench-receiver", daemon=True
        )
        self.thread.start()

    @property
    def arrivals(self) -> list[Arrival]:
        return self.server.arrivals

    def distinct(self) -> int:
        """How many different Idempotency-Keys have arrived."""
        return len(self.server.keys)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
