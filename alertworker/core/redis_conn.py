"""The Redis client for throttling and the live stream: a real server, or the embedded stand-in.

An empty ``REDIS_URL`` gives fakeredis with Lua support, one in-process server shared by every
client of this process (the embedded default, SPEC §10). RESP2 is used on purpose: redis-py 8's
RESP3 default costs about half as much Python again per command (FIELD-NOTES.md).
"""

from __future__ import annotations

import redis

from alertworker.core.settings import Settings

_embedded_server = None


def make_redis(settings: Settings) -> redis.Redis:
    if settings.embedded_redis:
        import fakeredis

        global _embedded_server
        if _embedded_server is None:
            _embedded_server = fakeredis.FakeServer()
        return fakeredis.FakeRedis(server=_embedded_server, protocol=2)
    timeout = settings.http_timeout_seconds
    return redis.Redis.from_url(
        settings.redis_url,
        protocol=2,
        socket_timeout=timeout,
        socket_connect_timeout=min(timeout, 5.0),
        health_check_interval=30,
    )
