"""What a task message must be before Celery's worker reads it (SPEC §3), on any transport.

Celery's worker trusts the publisher. In the main process it reads the headers (``timelimit``
is unpacked when the task goes to the pool, ``eta``/``expires`` become timers, ``id`` and
``shadow`` become keys of its bookkeeping) and decodes the body into ``(args, kwargs, embed)``;
a wrong type there raises where nothing catches it, and the message stays unacked for good
(the worker looks alive and takes nothing more). :func:`problem` checks all of that first,
with the same parsers Celery uses, and says what is wrong; the consumer then records the
message as rejected instead. Compressed bodies are inflated to at most ``MAX_INFLATED_BYTES``
(kombu would inflate a 170 KiB zlib bomb to 128 MiB in the worker's main process).
"""

from __future__ import annotations

import bz2
import lzma
import math
import zlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from celery.utils.time import maybe_iso8601, maybe_make_aware, timezone
from kombu import compression
from kombu.asynchronous.timer import to_timestamp

from tasks.transport import INVALID_CONTENT_TYPE, REASON_HEADER

# The API takes bodies up to 10 MiB (500 events); nothing we accept inflates to more than this.
MAX_INFLATED_BYTES = 16 * 1024 * 1024
OUR_TASKS = "alertworker."
TEXT_HEADERS = ("shadow", "root_id", "parent_id", "group", "argsrepr", "kwargsrepr", "origin")
CANVAS = ("callbacks", "errbacks", "chain", "chord")


def problem(message: Any, tasks: dict[str, Any]) -> str | None:
    """Why this received message must not reach Celery's task handler, or None."""
    if message.content_type == INVALID_CONTENT_TYPE:
        return str(message.headers.get(REASON_HEADER, "unreadable envelope"))
    headers = message.headers
    if not isinstance(headers, dict) or "task" not in headers:
        return "not a task message (no protocol 2 task header)"
    return _header_problem(headers) or _body_problem(message, tasks.get(headers["task"]))


def _header_problem(headers: dict[str, Any]) -> str | None:
    for key in ("task", "id"):
        if not isinstance(headers.get(key), str) or not headers[key]:
            return f"header {key} is missing or not a string"
    if not headers["task"].startswith(OUR_TASKS):
        return f"unknown task {headers['task'][:80]!r}"
    for key in TEXT_HEADERS:
        if not isinstance(headers.get(key), str | None):
            return f"header {key} is not a string"
    limits = headers.get("timelimit")
    if limits is not None and not (
        isinstance(limits, list | tuple) and len(limits) == 2 and all(map(_seconds, limits))
    ):
        return f"header timelimit {_short(limits)} is not [hard, soft] seconds or nulls"
    retries = headers.get("retries")
    if retries is not None and not (_integer(retries) and retries >= 0):
        return f"header retries {_short(retries)} is not a count"
    for key in ("eta", "expires"):
        if (reason := _date_problem(headers.get(key))) is not None:
            return f"header {key} {_short(headers[key])} is not a date: {reason}"
    return None


def _body_problem(message: Any, task: Any) -> str | None:
    try:
        body = message.payload  # decoded once: Celery reuses it
    except Exception as exc:
        return f"cannot decode body: {type(exc).__name__}: {str(exc)[:200]}"
    if not (
        isinstance(body, list | tuple)
        and len(body) == 3
        and isinstance(body[0], list | tuple)
        and isinstance(body[1], dict)
        and isinstance(body[2], dict | None)
    ):
        return "body is not [args, kwargs, embed]"
    args, kwargs, embed = body
    if any((embed or {}).get(key) for key in CANVAS):
        return "canvas (callbacks, errbacks, chain, chord) is not run here"
    check = getattr(task, "__header__", None)
    if check is not None:
        try:
            check(*args, **kwargs)
        except TypeError as exc:
            return f"arguments do not fit {task.name}: {exc}"
    return None


def _seconds(value: Any) -> bool:
    return value is None or (
        isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < math.inf
    )


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _date_problem(value: Any) -> str | None:
    """None if Celery can turn ``value`` into a timer (its own parsers and conversion)."""
    if value is None:
        return None
    if not isinstance(value, str | datetime):
        return "not an ISO 8601 string"
    if not value:
        return "empty"
    try:
        to_timestamp(timezone.to_system(maybe_make_aware(maybe_iso8601(value))))
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc)[:100]}"
    return None


def _short(value: Any) -> str:
    return repr(value)[:60]


def _bounded(make: Callable[[], Any]) -> Callable[[bytes], bytes]:
    def decompress(body: bytes) -> bytes:
        inflater = make()
        out = inflater.decompress(body, MAX_INFLATED_BYTES + 1)
        if len(out) > MAX_INFLATED_BYTES:
            raise ValueError(f"compressed body inflates past {MAX_INFLATED_BYTES} bytes")
        if not inflater.eof:
            raise ValueError("compressed body is truncated")
        return out

    return decompress


def _refuse(content_type: str) -> Callable[[bytes], bytes]:
    def decompress(body: bytes) -> bytes:
        raise ValueError(f"compression {content_type} is not accepted")

    return decompress


BOUNDED: dict[str, Callable[[], Any]] = {
    "application/x-gzip": zlib.decompressobj,
    "application/x-bz2": bz2.BZ2Decompressor,
    "application/x-lzma": lzma.LZMADecompressor,
}


def bound_decompression() -> None:
    """Make kombu's decompressors stop at MAX_INFLATED_BYTES (its registry is process-wide);
    a codec that cannot stop early (brotli, zstd, when installed) is refused."""
    for content_type in compression.encoders():
        encoder, _ = compression.get_encoder(content_type)
        make = BOUNDED.get(content_type)
        decoder = _bounded(make) if make else _refuse(content_type)
        compression.register(encoder, decoder, content_type)
