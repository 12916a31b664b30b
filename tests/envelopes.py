"""Task messages built by hand, as a broken publisher would put them on a queue.

``task_envelope`` is exactly what Celery's producer LPUSHes on the Redis transport (headers,
properties and a base64 body); ``POISON`` is SPEC §3's list of envelopes no worker may die or
stall on, each with the words its rejection reason must contain.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
import zlib
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

INGEST = "alertworker.ingest"
NO_CANVAS = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def task_body(args: list[Any], kwargs: dict[str, Any] | None = None) -> bytes:
    return json.dumps([args, kwargs or {}, NO_CANVAS]).encode()


def task_headers(task: str = INGEST, **headers: Any) -> dict[str, Any]:
    task_id = str(uuid.uuid4())
    return {
        "lang": "py", "task": task, "id": task_id, "shadow": None, "eta": None,
        "expires": None, "group": None, "group_index": None, "retries": 0,
        "timelimit": [None, None], "root_id": task_id, "parent_id": None,
        "argsrepr": "", "kwargsrepr": "", "origin": "tests", "ignore_result": None,
    } | headers  # fmt: skip


def task_envelope(
    body: bytes, queue: str = "alerts.events", task: str = INGEST, **headers: Any
) -> dict[str, Any]:
    """A protocol 2 task message as kombu's Redis transport stores it."""
    return {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": task_headers(task, **headers),
        "properties": {
            "correlation_id": str(uuid.uuid4()),
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }


def event(tenant: str, n: int) -> dict[str, Any]:
    """A valid event; a distinct ``n`` is a distinct alert (fingerprint)."""
    return {
        "tenant_id": tenant,
        "alert_type": "high_latency",
        "title": f"slow {n}",
        "context": {"provider_name": f"p{n}", "latency_ms": 9000},
    }


def nested(depth: int, kind: str = "array") -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def bomb(inflated: int) -> bytes:
    """A zlib body of ``inflated`` bytes (of spaces) that is a few hundred KiB on the wire."""
    out, chunk = zlib.compressobj(9), b" " * (1 << 20)
    return b"".join(out.compress(chunk) for _ in range(inflated >> 20)) + out.flush()


Mutation = Callable[[dict[str, Any]], Any]


def _set(path: str, value: Any) -> Mutation:
    """Set (or, with ``value`` DROP, delete) a dotted field of the envelope."""

    def mutate(envelope: dict[str, Any]) -> Any:
        *parents, last = path.split(".")
        target = envelope
        for key in parents:
            target = target[key]
        if value is DROP:
            del target[last]
        else:
            target[last] = value
        return envelope

    return mutate


def _body(raw: bytes) -> Mutation:
    return _set("body", base64.b64encode(raw).decode())


def _raw(item: bytes) -> Mutation:
    return lambda _envelope: item


DROP = object()

# (name, mutation of a valid ingest envelope -> JSON value or raw bytes, words of the reason)
POISON: list[tuple[str, Mutation, str]] = [
    ("envelope not JSON", _raw(b"\x00\xff not json"), "not a JSON"),
    ("envelope a list", _raw(b"[1, 2]"), "not an object"),
    ("envelope nested 100,000 deep (array)", _raw(nested(100_000)), "not a JSON"),
    ("envelope nested 100,000 deep (object)", _raw(nested(100_000, "object")), "not a JSON"),
    ("envelope with a kombu type that does not parse",
     _set("headers.eta", {"__type__": "datetime", "__value__": "soon"}), "not a JSON"),
    ("properties missing", _set("properties", DROP), "properties"),
    ("properties a list", _set("properties", [1]), "properties"),
    ("body_encoding unknown", _set("properties.body_encoding", "rot13"), "body_encoding"),
    ("body_encoding a number", _set("properties.body_encoding", 7), "body_encoding"),
    ("body not base64", _set("body", "!!! not base64 at all"), "base64"),
    ("body not a string", _set("body", {"a": 1}), "body"),
    ("headers a list", _set("headers", ["task"]), "headers"),
    ("headers a string", _set("headers", "task"), "headers"),
    ("headers missing", _set("headers", DROP), "headers"),
    ("delivery_info a string", _set("properties.delivery_info", "x"), "delivery_info"),
    ("delivery_info missing", _set("properties.delivery_info", DROP), "delivery_info"),
    ("routing_key a list", _set("properties.delivery_info.routing_key", [1]), "delivery_info"),
    ("delivery_tag a list", _set("properties.delivery_tag", [1, 2]), "delivery_tag"),
    ("delivery_tag missing", _set("properties.delivery_tag", DROP), "delivery_tag"),
    ("content-type a list", _set("content-type", ["application/json"]), "content-type"),
    ("content-type refused", _set("content-type", "application/x-python-serialize"), "decode"),
    ("timelimit a string", _set("headers.timelimit", "ab"), "timelimit"),
    ("timelimit a long string", _set("headers.timelimit", "abc"), "timelimit"),
    ("timelimit a number", _set("headers.timelimit", 5), "timelimit"),
    ("timelimit of strings", _set("headers.timelimit", ["1", None]), "timelimit"),
    ("timelimit of three", _set("headers.timelimit", [1, 2, 3]), "timelimit"),
    ("eta not a date", _set("headers.eta", "tomorrow"), "eta"),
    ("eta a number", _set("headers.eta", 5), "eta"),
    ("expires not a date", _set("headers.expires", "never"), "expires"),
    ("expires an object", _set("headers.expires", {"a": 1}), "expires"),
    ("retries a string", _set("headers.retries", "3"), "retries"),
    ("retries negative", _set("headers.retries", -1), "retries"),
    ("task id a list", _set("headers.id", [1]), "id"),
    ("task id missing", _set("headers.id", DROP), "id"),
    ("shadow a list", _set("headers.shadow", ["x"]), "shadow"),
    ("task name a list", _set("headers.task", ["x"]), "task"),
    ("protocol 1 message", _set("headers", {}), "not a task message"),
    ("body not JSON", _body(b"\xff not json"), "decode"),
    ("body nested 100,000 deep", _body(nested(100_000)), "decode"),
    ("body not [args, kwargs, embed]", _body(b'"abc"'), "args, kwargs, embed"),
    ("kwargs a list", _body(b'[[], [1], {}]'), "args, kwargs, embed"),
    ("a callback to run", _body(json.dumps([[], {}, {"callbacks": [{"task": "x"}]}]).encode()),
     "canvas"),
    ("compressed with an unknown codec", _set("headers.compression", "rot13"), "decode"),
    ("compression bomb", lambda e: _set("headers.compression", "application/x-gzip")(
        _body(bomb(128 << 20))(e)), "inflates past"),
]  # fmt: skip

# For property tests: valid envelopes (of an event for an unknown tenant) changed field by field
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids),
    max_leaves=8,
)
FIELDS = [
    "body", "content-type", "content-encoding", "headers", "properties", "properties.body_encoding",
    "properties.delivery_tag", "properties.delivery_info", "properties.priority",
    "properties.delivery_info.exchange", "properties.delivery_info.routing_key", "headers.task",
    "headers.id", "headers.timelimit", "headers.eta", "headers.expires", "headers.retries",
    "headers.shadow", "headers.compression", "headers.root_id",
]  # fmt: skip
values = (
    json_values
    | st.just(DROP)
    | st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())
    | st.sampled_from(["base64", "utf-8", "UTF-8", "zlib", "application/x-gzip", "2030-01-01",
                       "0001-01-01T00:00:00+05:00", [1, 2], [None, 3.5], ["1", None], "!!",
                       {"__type__": "datetime", "__value__": "x"}, {"__type__": "bytes"}])
)  # fmt: skip


def _mutate(item: dict, changes: list[tuple[str, object]]) -> dict:
    for path, value in changes:
        *parents, last = path.split(".")
        target = item
        for key in parents:
            target = target.get(key) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            continue
        if value is DROP:
            target.pop(last, None)
        else:
            target[last] = copy.deepcopy(value)
    return item


mutated = st.builds(
    lambda changes: json.dumps(_mutate(task_envelope(task_body([[event("ghost", 1)]])), changes)),
    st.lists(st.tuples(st.sampled_from(FIELDS), values), min_size=1, max_size=3),
)
raw_items = (
    mutated
    | mutated.map(str.encode)
    | st.binary(max_size=80)
    | json_values.map(json.dumps)
    | st.sampled_from([nested(100_000), nested(100_000, "object"), b"\xff", b"", b"null"])
)
