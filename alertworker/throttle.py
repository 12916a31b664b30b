"""Throttling in Redis (SPEC §5): one atomic Lua script per decision, one round trip per batch.

Per (config, fingerprint) the script checks the cooldown key, then the config's sliding one-hour
window (a sorted set of send times: trim, count, add), and does the bookkeeping, atomically, so
any number of workers let exactly one of N simultaneous identical events through.

Keys (all of one config share the hash tag ``{cfg:ID}``, so a script never spans two slots)::

    <prefix>throttle:{cfg:ID}:win          sorted set: member = deciding event id, score = ms
    <prefix>throttle:{cfg:ID}:cd:<fp>      cooldown: "<event id>|<sent ms>", PX = cooldown
    <prefix>throttle:{cfg:ID}:sup:<fp>     events suppressed since the last send

The cooldown value carries its send time, so shortening a config's cooldown takes effect for
the next event. A decision asked again with the same event id (a redelivered batch, a retry
after a failed commit) is answered ``replay``: allowed again, counted once; the database's
unique (config, event_id) keeps it to one notification. If Redis is unreachable every decision
fails open (allowed, reason ``fail_open``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

log = logging.getLogger(__name__)

WINDOW_MS = 3_600_000
SUPPRESSED_TTL_MS = (10080 + 60) * 60_000  # longest cooldown plus an hour

_SCRIPT = """
local now, cooldown, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local token, count = ARGV[4], tonumber(ARGV[5])
local function suppress(code)
  redis.call('INCRBY', KEYS[3], count)
  redis.call('PEXPIRE', KEYS[3], ARGV[6])
  return {0, code, 0}
end
if cooldown > 0 then
  local held = redis.call('GET', KEYS[1])
  if held then
    local holder, sent = string.match(held, '^(.*)|(%d+)$')
    if holder == token then return {1, 2, 0} end
    if sent == nil or now - tonumber(sent) < cooldown then return suppress(3) end
  end
end
if redis.call('ZSCORE', KEYS[2], token) then return {1, 2, 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ARGV[7])
if redis.call('ZCARD', KEYS[2]) >= cap then return suppress(4) end
redis.call('ZADD', KEYS[2], now, token)
redis.call('PEXPIRE', KEYS[2], ARGV[7])
if cooldown > 0 then
  redis.call('SET', KEYS[1], token .. '|' .. now, 'PX', cooldown)
end
local suppressed = tonumber(redis.call('GET', KEYS[3]) or '0')
redis.call('DEL', KEYS[3])
return {1, 1, suppressed}
"""
_SHA = hashlib.sha1(_SCRIPT.encode()).hexdigest()
# Delete a cooldown only while the given event still holds it (SPEC §13: a resolve clears it).
_CLEAR = """
local held = redis.call('GET', KEYS[1])
if held and string.match(held, '^([^|]*)|') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_REASONS = {1: "sent", 2: "replay", 3: "cooldown", 4: "hourly_cap"}


def fingerprint(alert_type: str, group_by: Sequence[str], context: dict[str, Any]) -> str:
    """Identity of "the same alert": the type plus the values of the config's group_by keys."""
    values = [context.get(key) for key in group_by]
    raw = json.dumps([alert_type, values], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(raw.encode()).hexdigest()


@dataclass(frozen=True)
class Request:
    config_id: int
    fingerprint: str
    token: str  # the deciding event's id
    count: int  # events folded into this decision (coalesced within a batch)
    cooldown_ms: int
    max_per_hour: int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # sent | replay | cooldown | hourly_cap | fail_open
    suppressed_since_last: int = 0


class Throttle:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def keys(self, config_id: int, fp: str) -> list[str]:
        base = f"{self.prefix}throttle:{{cfg:{config_id}}}"
        return [f"{base}:cd:{fp}", f"{base}:win", f"{base}:sup:{fp}"]

    def decide(self, requests: Sequence[Request], now_ms: int) -> list[Decision]:
        """All decisions in one pipelined round trip; fails open if Redis is unreachable."""
        if not requests:
            return []
        try:
            replies = self._run(requests, now_ms)
        except redis.exceptions.NoScriptError:
            self.client.script_load(_SCRIPT)
            replies = self._run(requests, now_ms)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
            log.warning(
                "redis unreachable, throttling fails open for %d decisions: %s", len(requests), exc
            )
            return [Decision(True, "fail_open")] * len(requests)
        return [Decision(bool(a), _REASONS[int(code)], int(s)) for a, code, s in replies]

    def clear_cooldown(self, held: Sequence[tuple[int, str, str]]) -> int:
        """Clear the cooldown of each (config id, fingerprint) still held by the given event id
        (the resolved notification's): a later notification's cooldown is left alone. Returns
        how many were cleared; Redis unreachable clears nothing (logged): the pipeline then
        finds the alert resolved when the stale cooldown suppresses its next trigger."""
        if not held:
            return 0
        try:
            pipe = self.client.pipeline(transaction=False)
            for config_id, fp, event_id in held:
                pipe.eval(_CLEAR, 1, self.keys(config_id, fp)[0], event_id)
            return sum(pipe.execute())
        except (redis.exceptions.RedisError, OSError) as exc:
            log.warning("redis unreachable, %d cooldown(s) not cleared: %s", len(held), exc)
            return 0

    def _run(self, requests: Sequence[Request], now_ms: int) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for r in requests:
            pipe.evalsha(
                _SHA,
                3,
                *self.keys(r.config_id, r.fingerprint),
                now_ms,
                r.cooldown_ms,
                r.max_per_hour,
                r.token,
                r.count,
                SUPPRESSED_TTL_MS,
                WINDOW_MS,
            )
        return pipe.execute()
