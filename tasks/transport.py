"""kombu's Redis transport, made total: a queue item kombu cannot handle is wrapped, not fatal.

On the Redis transport the whole envelope (body, headers, properties, delivery tag) is written
by the publisher, and kombu trusts it: it decodes each popped item as JSON, reads
``properties['delivery_tag']``, decodes the body by ``body_encoding``, calls
``headers.get(...)`` and files the message under ``delivery_info``'s exchange and routing key,
all in the worker's event loop, where any exception stops the worker ("Unrecoverable error")
or is taken for a lost connection. :func:`envelope` checks exactly what kombu relies on before
kombu sees the item, and replaces a bad item by an envelope carrying its raw bytes, with a
content type no worker accepts and the reason in a header; ``GuardedConsumer`` records it as
rejected with that reason and acks it. What Celery reads later (task headers, the decoded body)
is the consumer's business, the same on every transport. A channel whose connection was
closed under it (the broker went away) fails with a connection error, not an AttributeError.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads
from redis.exceptions import ConnectionError as RedisConnectionError

INVALID_CONTENT_TYPE = "application/x-alertworker-invalid"
REASON_HEADER = "x-alertworker-invalid"


def envelope(item: bytes | str, queue: str = "") -> bytes | str:
    """``item`` if kombu can take it as a message, else an envelope saying why it cannot."""
    try:
        reason = problem(loads(bytes_to_str(item)))
    except Exception as exc:  # not UTF-8, not JSON, nested too deep, a kombu type that fails
        reason = f"envelope is not a JSON object: {type(exc).__name__}: {exc}"[:300]
    if reason is None:
        return item
    raw = item if isinstance(item, bytes) else item.encode("utf-8", "surrogateescape")
    return json.dumps(
        {
            "body": base64.b64encode(raw).decode(),
            "content-encoding": "binary",
            "content-type": INVALID_CONTENT_TYPE,
            "headers": {REASON_HEADER: reason},
            "properties": {
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
                "delivery_info": {"exchange": "", "routing_key": queue},
                "priority": 0,
            },
        }
    )


def problem(message: Any) -> str | None:
    """Why kombu's virtual channel would fail on this decoded envelope, or None."""
    if not isinstance(message, dict):
        return "envelope is not an object"
    props = message.get("properties")
    if not isinstance(props, dict):
        return "properties is missing or not an object"
    if not isinstance(props.get("delivery_tag"), str) or not props["delivery_tag"]:
        return "properties.delivery_tag is missing or not a string"
    info = props.get("delivery_info")
    if not isinstance(info, dict):
        return "properties.delivery_info is missing or not an object"
    if not (isinstance(info.get("exchange"), str) and isinstance(info.get("routing_key"), str)):
        return "properties.delivery_info needs a string exchange and routing_key"
    if not isinstance(message.get("headers"), dict):
        return "headers is missing or not an object"
    priority = props.get("priority")
    if not (priority is None or isinstance(priority, int | float) and math.isfinite(priority)):
        return "properties.priority is not a number"
    for key in ("content-type", "content-encoding"):
        if not isinstance(message.get(key), str | None):
            return f"{key} is not a string"
    return _body_problem(message.get("body"), props.get("body_encoding"))


def _body_problem(body: Any, encoding: Any) -> str | None:
    utf8 = not encoding or (isinstance(encoding, str) and encoding.lower() == "utf-8")
    if not utf8 and encoding != "base64":  # the only codecs kombu's virtual channel has
        return f"properties.body_encoding {str(encoding)[:40]!r} is not one of utf-8, base64"
    if not body:  # kombu decodes no empty body
        return None if body in (None, "") else "body is not a string"
    if not isinstance(body, str):
        return "body is not a string"
    if encoding == "base64":
        try:
            base64.b64decode(body.encode())  # as kombu's codec decodes it
        except (binascii.Error, ValueError) as exc:
            return f"body is not base64: {exc}"
    return None


class GuardedChannel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        """A closed connection is a lost connection, which kombu and Celery handle.

        When the broker goes away, Celery closes the kombu connection (its transport forgets
        the connection info) while messages taken on this channel are still running; their
        late ack then builds a new Redis pool here, and kombu's own code fails with
        ``AttributeError: 'NoneType' object has no attribute 'hostname'``, which stops the
        worker. As a connection error, the ack is logged and the message comes back later.
        """
        if self.connection is None or self.connection.client is None:
            raise RedisConnectionError("the broker connection of this channel was closed")
        return super()._connparams(asynchronous)

    def _create_client(self, asynchronous: bool = False) -> Any:
        client = super()._create_client(asynchronous)
        parse = client.parse_response

        def parse_response(connection: Any, command_name: Any, **options: Any) -> Any:
            reply = parse(connection, command_name, **options)
            if command_name == "BRPOP" and reply:
                reply = [reply[0], envelope(reply[1], bytes_to_str(reply[0]))]
            return reply

        client.parse_response = parse_response
        return client


class GuardedRedisTransport(kombu_redis.Transport):
    Channel = GuardedChannel
