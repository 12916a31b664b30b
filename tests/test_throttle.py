"""The throttle script of SPEC §5 against the real Redis: cooldown, sliding hourly window,
suppressed counts, replays, key layout, fail-open; provisional decisions and their settling."""

import redis

from alertworker.ingest.throttle import Request, Settlement, Throttle, fingerprint

T0 = 1_800_000_000_000  # ms
MIN = 60_000


def req(token, fp="fp", cooldown_ms=15 * MIN, cap=10, count=1, config_id=1):
    return Request(config_id, fp, token, count, cooldown_ms, cap)


class Committing(Throttle):
    """A throttle whose every allowed decision committed at once (what the pipeline settles)."""

    def decide(self, requests, now_ms):
        decisions = super().decide(requests, now_ms)
        self.settle(
            [Settlement(r, sent_ms=now_ms, folded=d.suppressed_since_last)
             for r, d in zip(requests, decisions, strict=True) if d.reason == "sent"],
            now_ms,
        )  # fmt: skip
        return decisions


def test_cooldown_suppresses_the_same_alert_then_lets_it_through(settings, redis_client):
    t = Committing(redis_client, settings.redis_key_prefix)
    assert t.decide([req("e1")], T0)[0].reason == "sent"
    second = t.decide([req("e2", count=3)], T0 + MIN)[0]
    assert (second.allowed, second.reason) == (False, "cooldown")
    assert t.decide([req("e3", fp="other")], T0 + MIN)[0].allowed  # another fingerprint
    after = t.decide([req("e4")], T0 + 15 * MIN)[0]
    assert (after.allowed, after.suppressed_since_last) == (True, 3)


def test_shortening_the_cooldown_takes_effect_for_the_next_event(settings, redis_client):
    t = Committing(redis_client, settings.redis_key_prefix)
    t.decide([req("e1", cooldown_ms=60 * MIN)], T0)
    assert not t.decide([req("e2", cooldown_ms=60 * MIN)], T0 + 2 * MIN)[0].allowed
    assert t.decide([req("e3", cooldown_ms=1 * MIN)], T0 + 2 * MIN)[0].allowed


def test_hourly_cap_is_a_sliding_window(settings, redis_client):
    t = Committing(redis_client, settings.redis_key_prefix)
    sent = [t.decide([req(f"a{i}", fp=f"f{i}", cap=3)], T0 + i * 1000)[0] for i in range(4)]
    assert [d.reason for d in sent] == ["sent", "sent", "sent", "hourly_cap"]
    # one ms before the first send leaves the window, still capped; at the edge, a place frees
    assert not t.decide([req("b", fp="g", cap=3)], T0 + 3_599_999)[0].allowed
    assert t.decide([req("c", fp="h", cap=3)], T0 + 3_600_000)[0].allowed
    assert not t.decide([req("d", fp="i", cap=3)], T0 + 3_600_500)[0].allowed
    # raising the cap takes effect at once
    assert t.decide([req("e", fp="j", cap=4)], T0 + 3_600_500)[0].allowed


def test_a_replayed_decision_is_allowed_and_counted_once(settings, redis_client):
    t = Committing(redis_client, settings.redis_key_prefix)
    assert t.decide([req("e1", cap=1)], T0)[0].reason == "sent"
    assert t.decide([req("e1", cap=1)], T0 + 10)[0].reason == "replay"
    t.decide([req("e2", fp="x", cooldown_ms=0, cap=5)], T0)
    assert t.decide([req("e2", fp="x", cooldown_ms=0, cap=5)], T0 + 5)[0].reason == "replay"
    window = t.keys(1, "x")[1]
    assert redis_client.zcard(window) == 2  # e1 and e2, each once


def test_many_decisions_in_one_round_trip_in_order(settings, redis_client):
    t = Committing(redis_client, settings.redis_key_prefix)
    decisions = t.decide([req(f"e{i}", fp=f"f{i % 3}", cap=100) for i in range(9)], T0)
    assert [d.allowed for d in decisions] == [True] * 3 + [False] * 6


def test_keys_share_one_cluster_slot_and_carry_the_prefix(settings, redis_client):
    t = Committing(redis_client, settings.redis_key_prefix)
    keys = t.keys(42, "abc")
    assert all(k.startswith(settings.redis_key_prefix) and "{cfg:42}" in k for k in keys)
    t.decide([req("e1", fp="abc", config_id=42)], T0)
    assert all(
        k.decode().startswith(settings.redis_key_prefix) for k in redis_client.keys("*cfg:42*")
    )


def test_fails_open_when_redis_is_unreachable(settings):
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    decisions = Throttle(dead, settings.redis_key_prefix).decide([req("e1"), req("e2")], T0)
    assert [(d.allowed, d.reason) for d in decisions] == [(True, "fail_open")] * 2


def test_fingerprint_is_type_plus_group_by_values():
    a = fingerprint("high_latency", ["provider_name"], {"provider_name": "x", "latency_ms": 1})
    b = fingerprint("high_latency", ["provider_name"], {"provider_name": "x", "latency_ms": 2})
    c = fingerprint("high_latency", ["provider_name"], {"provider_name": "y"})
    d = fingerprint("high_error_rate", ["provider_name"], {"provider_name": "x"})
    assert a == b and len({a, c, d}) == 3


def test_an_unsettled_decision_holds_its_alert_and_window_slot_only_provisionally(
    settings, redis_client
):
    t = Throttle(redis_client, settings.redis_key_prefix, provisional_ms=30_000)
    assert t.decide([req("e1", cap=1)], T0)[0].reason == "sent"  # its commit never comes
    held = t.decide([req("e2", cap=1)], T0 + 29_999)[0]
    assert (held.allowed, held.reason) == (False, "cooldown")
    assert t.decide([req("e1", cap=1)], T0 + 29_999)[0].reason == "replay"  # the batch's retry
    # past the provisional span: neither the cooldown nor the hourly slot (cap 1) holds
    assert t.decide([req("e3", cap=1)], T0 + 30_000)[0].reason == "sent"
    cooldown_off = req("e4", fp="other", cooldown_ms=0, cap=1)
    assert t.decide([cooldown_off], T0 + 30_000)[0].reason == "hourly_cap"  # e3 holds it now
    assert t.decide([req("e5", fp="other", cooldown_ms=0, cap=1)], T0 + 60_000)[0].allowed


def test_settling_confirms_a_send_or_seeds_what_postgres_knows(settings, redis_client):
    t = Throttle(redis_client, settings.redis_key_prefix, provisional_ms=30_000)
    r = req("e1", cap=2)
    t.decide([req("x", count=4)], T0 - 20 * MIN)  # unsettled, long lapsed; 0 suppressed yet
    t.decide([req("x2", count=2)], T0 - 20 * MIN + 1)  # suppressed: counted
    first = t.decide([r], T0)[0]
    assert first.suppressed_since_last == 2
    t.decide([req("e2", count=5)], T0 + 1)  # suppressed while e1 is provisional
    t.settle([Settlement(r, sent_ms=T0, folded=first.suppressed_since_last)], T0 + 2)
    assert not t.decide([req("e3")], T0 + 14 * MIN)[0].allowed  # the full cooldown holds
    later = t.decide([req("e4", cap=2)], T0 + 15 * MIN)[0]
    assert (later.reason, later.suppressed_since_last) == ("sent", 6)  # 5 + e3, not e1's 2
    assert redis_client.zcard(t.keys(1, "fp")[1]) == 1  # e1's confirmed slot

    # Postgres says fp2 was sent 10 minutes ago: the decision is released, the cooldown seeded
    r2 = req("f1", fp="fp2")
    assert t.decide([r2], T0)[0].reason == "sent"
    t.settle([Settlement(r2, suppressed=1, held_since_ms=T0 - 10 * MIN)], T0)
    assert not t.decide([req("f2", fp="fp2")], T0 + 4 * MIN)[0].allowed
    assert t.decide([req("f3", fp="fp2")], T0 + 5 * MIN)[0].allowed
    assert redis_client.zscore(t.keys(1, "fp2")[3], "f1") is None  # the slot released


def test_settling_with_the_streams_pipeline_sends_its_messages_once(settings, private_redis):
    """The pipeline's after-commit round trip: stream messages first, then the settlements;
    a script Redis lost (SCRIPT FLUSH) is loaded again without publishing twice."""
    redis_client = private_redis.client()  # a server of its own: SCRIPT FLUSH is global
    t = Throttle(redis_client, settings.redis_key_prefix, provisional_ms=30_000)
    r = req("e1")
    assert t.decide([r], T0)[0].reason == "sent"
    redis_client.script_flush()
    sub = redis_client.pubsub(ignore_subscribe_messages=True)
    sub.subscribe(f"{settings.redis_key_prefix}s")
    assert sub.get_message(timeout=1) is None  # the subscribe confirmation, ignored
    pipe = redis_client.pipeline(transaction=False)
    pipe.publish(f"{settings.redis_key_prefix}s", "hello")
    t.settle([Settlement(r, sent_ms=T0)], T0 + 1, pipe)
    got = [sub.get_message(timeout=0.5) for _ in range(2)]
    assert [m["data"] for m in got if m] == [b"hello"]
    sub.close()
    assert not t.decide([req("e2")], T0 + 14 * MIN)[0].allowed  # settled: the full cooldown


def test_a_failed_settle_is_counted_and_raises_nothing(settings):
    from alertworker.core import metrics

    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    before = metrics.THROTTLE_SETTLE_FAILED._value.get()
    Throttle(dead, settings.redis_key_prefix).settle([Settlement(req("e1"), sent_ms=T0)], T0)
    assert metrics.THROTTLE_SETTLE_FAILED._value.get() == before + 1


def test_clear_cooldown_clears_only_the_holders_cooldown(redis_client, settings):
    from alertworker.ingest.throttle import Throttle

    throttle = Throttle(redis_client, settings.redis_key_prefix)
    mine, theirs = throttle.keys(1, "fp-a")[0], throttle.keys(1, "fp-b")[0]
    redis_client.set(mine, "event-1|1700000000000", px=60_000)
    redis_client.set(theirs, "event-2|1700000000000|p", px=60_000)  # a later alert holds it
    assert throttle.clear_cooldown([(1, "fp-a", "event-1"), (1, "fp-b", "event-1")]) == 1
    assert not redis_client.exists(mine) and redis_client.exists(theirs)
    assert throttle.clear_cooldown([(1, "fp-b", "event-2")]) == 1  # provisional form too
