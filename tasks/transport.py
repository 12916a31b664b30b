"""kombu's Redis transport, made total: a list item that is not a kombu envelope is wrapped.

kombu decodes each item popped from a queue list as a JSON envelope *before* Celery sees it,
and a raw ``LPUSH`` of anything else (bytes, a bare JSON string) raises inside the event loop
and stops the worker ("Unrecoverable error"). Here such an item is wrapped in an envelope whose
body is the raw bytes with a content type the worker refuses, so it reaches
``GuardedConsumer.on_decode_error`` and is recorded as rejected like any other bad message.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from kombu.transport import redis as kombu_redis

INVALID_CONTENT_TYPE = "application/x-alertworker-invalid"


def envelope(item: bytes | str) -> bytes | str:
    """``item`` if it is a kombu envelope, else an envelope carrying ``item`` as its body."""
    try:
        decoded = json.loads(item)
        if isinstance(decoded, dict) and isinstance(decoded.get("properties"), dict):
            return item
    except (ValueError, TypeError):
        pass
    raw = item if isinstance(item, bytes) else item.encode("utf-8", "surrogateescape")
    return json.dumps(
        {
            "body": base64.b64encode(raw).decode(),
            "content-encoding": "binary",
            "content-type": INVALID_CONTENT_TYPE,
            "headers": {},
            "properties": {
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
                "delivery_info": {"exchange": "", "routing_key": ""},
                "priority": 0,
            },
        }
    )


class GuardedChannel(kombu_redis.Channel):
    def _create_client(self, asynchronous: bool = False) -> Any:
        client = super()._create_client(asynchronous)
        parse = client.parse_response

        def parse_response(connection: Any, command_name: Any, **options: Any) -> Any:
            reply = parse(connection, command_name, **options)
            if command_name == "BRPOP" and reply:
                reply = [reply[0], envelope(reply[1])]
            return reply

        client.parse_response = parse_response
        return client


class GuardedRedisTransport(kombu_redis.Transport):
    Channel = GuardedChannel
