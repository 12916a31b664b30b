"""Throttling in Redis (SPEC §5): one atomic Lua script per config, one round trip per batch.

Per (config, fingerprint) the script checks the cooldown key, then the config's sliding one-hour
window (trim, count, add), and does the bookkeeping, atomically, so any number of workers let
exactly one of N simultaneous identical events through. A batch's decisions of one config go
in one script call (in order: each sees the window as the previous one left it), so a batch
of distinct alerts costs Redis one command per config, not one per alert.

Keys (all of one config share the hash tag ``{cfg:ID}``, so a script never spans two slots)::

    <prefix>throttle:{cfg:ID}:cd:<fp>      cooldown: "<holder>|<sent ms>[|p]", PX = cooldown
    <prefix>throttle:{cfg:ID}:win          sorted set of confirmed sends: event id -> ms
    <prefix>throttle:{cfg:ID}:pwin         sorted set of provisional sends: event id -> ms
    <prefix>throttle:{cfg:ID}:sup:<fp>     events suppressed since the last send

A decision and the database commit of its notification are a dual write, so an allowed decision
is **provisional** (the ``|p`` mark, a ``pwin`` slot): it holds the alert and a place in the
window for ``provisional_ms`` only (THROTTLE_PROVISIONAL_SECONDS, 30 s by default). Right after
the commit, :meth:`Throttle.settle` tells Redis what became of it, in one pipelined round trip:
a committed notification turns it into the full cooldown and a confirmed window slot; anything
else releases it (and may seed the cooldown Postgres knows, see ``throttle_pg``). A batch that
dies in between stops suppressing its alert once the provisional span has passed.

The cooldown value carries its send time, so shortening a config's cooldown takes effect for
the next event. A decision asked again with the same event id (a redelivered batch, a retry
after a failed commit) is answered ``replay``: allowed again, counted once; the database's
unique (config, event_id) keeps it to one notification. If Redis is unreachable every decision
is ``fail_open``: allowed here, and left to Postgres's memory (``throttle_pg``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

from alertworker.core import metrics

log = logging.getLogger(__name__)

WINDOW_MS = 3_600_000
SUPPRESSED_TTL_MS = (10080 + 60) * 60_000  # longest cooldown plus an hour
_REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)

_DECIDE = """
local now, cap, sup_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local window, provisional = tonumber(ARGV[4]), tonumber(ARGV[5])
local win, pwin = KEYS[1], KEYS[2]
redis.call('ZREMRANGEBYSCORE', win, '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', pwin, '-inf', now - provisional)
local function decide(cd, sup, cooldown, token, count)
  local function suppress(code)
    redis.call('INCRBY', sup, count)
    redis.call('PEXPIRE', sup, sup_ttl)
    return {0, code, 0}
  end
  if cooldown > 0 then
    local held = redis.call('GET', cd)
    if held then
      local holder, sent, mark = string.match(held, '^([^|]*)|(%d+)(|?p?)$')
      if holder == token then return {1, 2, 0} end
      local span = cooldown
      if mark == '|p' then span = math.min(cooldown, provisional) end
      if sent == nil or now - tonumber(sent) < span then return suppress(3) end
    end
  end
  if redis.call('ZSCORE', win, token) or redis.call('ZSCORE', pwin, token) then
    return {1, 2, 0}
  end
  if redis.call('ZCARD', win) + redis.call('ZCARD', pwin) >= cap then return suppress(4) end
  redis.call('ZADD', pwin, now, token)
  redis.call('PEXPIRE', pwin, window)
  if cooldown > 0 then
    redis.call('SET', cd, token .. '|' .. now .. '|p', 'PX', cooldown)
  end
  return {1, 1, tonumber(redis.call('GET', sup) or '0')}
end
local out = {}
for i = 0, (#KEYS - 2) / 2 - 1 do
  local a = 6 + 3 * i
  local d = decide(KEYS[3 + 2 * i], KEYS[4 + 2 * i], tonumber(ARGV[a]), ARGV[a + 1],
                   tonumber(ARGV[a + 2]))
  out[#out + 1], out[#out + 2], out[#out + 3] = d[1], d[2], d[3]
end
return out
"""
_SETTLE = """
local win, pwin, window, sup_ttl = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
for i = 0, (#KEYS - 2) / 2 - 1 do
  local cd, sup, a = KEYS[3 + 2 * i], KEYS[4 + 2 * i], 3 + 5 * i
  local token, sent, hold, ttl, delta = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3],
                                        tonumber(ARGV[a + 4])
  redis.call('ZREM', pwin, token)
  if tonumber(sent) > 0 then
    redis.call('ZADD', win, sent, token)
    redis.call('PEXPIRE', win, window)
  end
  if hold ~= '' then redis.call('SET', cd, hold, 'PX', ttl) end
  if delta ~= 0 then
    if redis.call('INCRBY', sup, delta) > 0 then
      redis.call('PEXPIRE', sup, sup_ttl)
    else
      redis.call('DEL', sup)
    end
  end
end
return 1
"""
_SCRIPTS = {name: (src, hashlib.sha1(src.encode()).hexdigest())
            for name, src in (("decide", _DECIDE), ("settle", _SETTLE))}  # fmt: skip
# Delete a cooldown only while the given event still holds it (SPEC §13: a resolve clears it).
_CLEAR = """
local held = redis.call('GET', KEYS[1])
if held and string.match(held, '^([^|]*)|') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_REASONS = {1: "sent", 2: "replay", 3: "cooldown", 4: "hourly_cap"}


def fingerprint(alert_type: str, group_by: Sequence[str], context: dict[str, Any]) -> str:
    """Identity of "the same alert": the type plus the values of the config's group_by keys
    (remembered for strings and missing keys, the usual values: a storm repeats them)."""
    values = tuple([context.get(key) for key in group_by])
    if all(v is None or type(v) is str for v in values):
        return _remembered(alert_type, values)
    return _digest(alert_type, values)


@functools.lru_cache(maxsize=8192)
def _remembered(alert_type: str, values: tuple[str | None, ...]) -> str:
    return _digest(alert_type, values)


def _digest(alert_type: str, values: tuple[Any, ...]) -> str:
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
    reason: str  # sent | replay | cooldown | hourly_cap | fail_open (| test, in the pipeline)
    suppressed_since_last: int = 0


@dataclass(frozen=True)
class Settlement:
    """What became of an allowed decision once its transaction committed."""

    request: Request
    sent_ms: int = 0  # its notification committed, sent at this time (0: no notification)
    folded: int = 0  # suppressed events the notification carries (leave the rest counted)
    suppressed: int = 0  # events Postgres suppressed after all
    held_since_ms: int = 0  # Postgres's last send within the cooldown: hold the alert from it


class Throttle:
    def __init__(self, client: redis.Redis, prefix: str, provisional_ms: int = 30_000) -> None:
        self.client = client
        self.prefix = prefix
        self.provisional_ms = provisional_ms

    def keys(self, config_id: int, fp: str) -> list[str]:
        """The cooldown, window, suppressed and provisional-window keys of an alert."""
        base = self._base(config_id)
        return [f"{base}:cd:{fp}", f"{base}:win", f"{base}:sup:{fp}", f"{base}:pwin"]

    def decide(self, requests: Sequence[Request], now_ms: int) -> list[Decision]:
        """All decisions in one pipelined round trip, one script call per config (its
        requests in order); ``fail_open`` if Redis is unreachable."""
        if not requests:
            return []
        calls = []
        by_config = _by_config(requests, lambda r: (r.config_id, r.max_per_hour))
        for (config_id, cap), batch in by_config.items():
            base = self._base(config_id)
            keys = [f"{base}:win", f"{base}:pwin"]
            args: list[Any] = [now_ms, cap, SUPPRESSED_TTL_MS, WINDOW_MS, self.provisional_ms]
            for _, r in batch:
                keys += (f"{base}:cd:{r.fingerprint}", f"{base}:sup:{r.fingerprint}")
                args += (r.cooldown_ms, r.token, r.count)
            calls.append((keys, args))
        try:
            replies = self._run("decide", calls)
        except _REDIS_DOWN as exc:
            log.warning(
                "redis unreachable, throttling falls back on postgres for %d decisions: %s",
                len(requests),
                exc,
            )
            return [Decision(True, "fail_open")] * len(requests)
        out: list[Decision | None] = [None] * len(requests)
        for batch, reply in zip(by_config.values(), replies, strict=True):
            for j, (i, _) in enumerate(batch):
                allowed, code, since = reply[3 * j : 3 * j + 3]
                out[i] = Decision(bool(allowed), _REASONS[int(code)], int(since))
        return out  # type: ignore[return-value]  # every index is in one batch

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

    def settle(self, settlements: Sequence[Settlement], now_ms: int, pipe: Any = None) -> None:
        """Confirm or release provisional decisions, one round trip (one script call per
        config). A failure is logged and counted, and costs nothing committed: the
        provisional holds lapse by themselves. ``pipe``: a pipeline already holding
        best-effort commands (the live stream's) that travel in the same round trip, before
        the scripts, and are sent once."""
        calls = []
        for config_id, batch in _by_config(settlements, lambda s: s.request.config_id).items():
            base = self._base(config_id)
            keys = [f"{base}:win", f"{base}:pwin"]
            args: list[Any] = [WINDOW_MS, SUPPRESSED_TTL_MS]
            for _, s in batch:
                r = s.request
                hold, ttl = "", 0
                if r.cooldown_ms > 0 and s.sent_ms:
                    hold, ttl = f"{r.token}|{s.sent_ms}", r.cooldown_ms
                elif r.cooldown_ms > 0 and s.held_since_ms:
                    hold, ttl = f"pg|{s.held_since_ms}", r.cooldown_ms - (now_ms - s.held_since_ms)
                keys += (f"{base}:cd:{r.fingerprint}", f"{base}:sup:{r.fingerprint}")
                args += (r.token, s.sent_ms, hold, max(ttl, 1), s.suppressed - s.folded)
            calls.append((keys, args))
        if not calls:
            if pipe is not None and len(pipe):
                _best_effort(pipe)
            return
        try:
            self._run("settle", calls, pipe)
        except (*_REDIS_DOWN, redis.exceptions.RedisError) as exc:
            metrics.THROTTLE_SETTLE_FAILED.inc(len(settlements))
            log.warning(
                "could not settle %d throttle decisions in redis (their provisional holds "
                "lapse within %d ms): %s", len(settlements), self.provisional_ms, exc,
            )  # fmt: skip

    def _base(self, config_id: int) -> str:
        """What every key of the config starts with (its hash tag: one slot per script call)."""
        return f"{self.prefix}throttle:{{cfg:{config_id}}}"

    def _run(
        self, script: str, calls: list[tuple[list[str], list[Any]]], pipe: Any = None
    ) -> list[Any]:
        source, sha = _SCRIPTS[script]
        try:
            return self._pipeline(sha, calls, pipe)
        except redis.exceptions.NoScriptError:
            self.client.script_load(source)
            return self._pipeline(sha, calls)

    def _pipeline(
        self, sha: str, calls: list[tuple[list[str], list[Any]]], pipe: Any = None
    ) -> list[Any]:
        """The scripts' replies; commands already on ``pipe`` run first, their errors ignored."""
        pipe = pipe if pipe is not None else self.client.pipeline(transaction=False)
        skip = len(pipe)
        for keys, args in calls:
            pipe.evalsha(sha, len(keys), *keys, *args)
        replies = pipe.execute(raise_on_error=False)[skip:]
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies


T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def _by_config(items: Sequence[T], key: Callable[[T], K]) -> dict[K, list[tuple[int, T]]]:
    """``items`` with their index, grouped by ``key`` (one script call each), in order."""
    groups: dict[K, list[tuple[int, T]]] = {}
    for i, item in enumerate(items):
        groups.setdefault(key(item), []).append((i, item))
    return groups


def _best_effort(pipe: Any) -> None:
    try:
        pipe.execute(raise_on_error=False)
    except (*_REDIS_DOWN, redis.exceptions.RedisError) as exc:
        log.warning("could not publish to the live stream: %s", exc)
