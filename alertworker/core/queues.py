"""How many messages wait on each of alertworker's queues, asked of the broker (any transport)."""

from __future__ import annotations

import logging

from kombu import Connection

from alertworker.client import broker_transport_options, resolve_broker
from alertworker.core.catalog import all_queues
from alertworker.core.settings import Settings

log = logging.getLogger(__name__)


def queue_depths(settings: Settings, timeout: float = 2.0) -> dict[str, int]:
    """Messages ready per queue (a passive declare); a queue not declared yet counts 0."""
    url, prefix = resolve_broker(settings.broker_url, settings.redis_key_prefix)
    options = broker_transport_options(url, prefix, timeout)
    depths: dict[str, int] = {}
    with Connection(url, transport_options=options, connect_timeout=timeout) as conn:
        channel = conn.channel()
        virtual = conn.transport.driver_type in ("redis", "memory")
        for queue in all_queues():
            if virtual:
                # kombu's passive declare misses queues under global_keyprefix (its pipelined
                # EXISTS is not prefixed); _size, the LLEN behind it, is (kombu 5.7).
                depths[queue] = int(channel._size(queue))
                continue
            try:
                depths[queue] = int(channel.queue_declare(queue, passive=True).message_count)
            except conn.channel_errors:  # AMQP: NOT_FOUND closes the channel; open another
                depths[queue] = 0
                channel = conn.channel()
        channel.close()
    return depths
