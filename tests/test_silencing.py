"""Silences and inhibition in the pipeline (SPEC §16), on real Postgres and Redis: a silenced or
inhibited event is counted and names its cause, takes no cooldown and no place in the hourly
window; test alerts are never silenced; a notification never inhibits its own alert."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from sqlalchemy import event as sa_event
from sqlalchemy import select

from alertworker.core.models import AlertNotification, AlertThrottle, InhibitRule, Silence, User
from alertworker.ingest.config_cache import ConfigView
from alertworker.ingest.matchers import matches, render
from alertworker.ingest.recording import Group
from alertworker.ingest.silencing import _judge, compile_tenant
from alertworker.tenants.notifications import acknowledge
from tests import test_pipeline
from tests.test_api_silences import QUOTA_RULE as QUOTA
from tests.test_pipeline import event, notifications

METRIC = "alertworker_evaluations_total"
OPENAI = [{"name": "context.provider_name", "op": "=", "value": "openai"}]


clock, pipeline, tenant = test_pipeline.clock, test_pipeline.pipeline, test_pipeline.tenant


@contextmanager
def statements_run(engine):
    """The SQL statements run on ``engine`` inside the block."""
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    sa_event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        sa_event.remove(engine, "before_cursor_execute", listener)


@pytest.fixture
def add(session_factory):
    def _add(row):
        with session_factory() as s:
            s.add(row)
            s.commit()
            return row

    return _add


def silence(tenant, clock, matchers=OPENAI, **times):
    return Silence(tenant_id=tenant.id, matchers=matchers, comment="maintenance",
                   starts_at=times.get("starts_at", clock.now),
                   ends_at=times.get("ends_at", clock.now + timedelta(minutes=30)))  # fmt: skip


def quota(**kw):
    return event(alert_type="quota_exhausted", title="quota gone", **kw)


def test_a_silenced_storm_takes_no_cooldown_and_no_place_in_the_window(
    pipeline, tenant, make_config, add, clock, db, redis_client, settings
):
    config = make_config(tenant, cooldown_minutes=600, max_alerts_per_hour=2)
    s = add(silence(tenant, clock))
    storm = [event() for _ in range(40)]
    counted = REGISTRY.get_sample_value(METRIC, {"outcome": "silenced"}) or 0
    result = pipeline.process(storm)
    assert REGISTRY.get_sample_value(METRIC, {"outcome": "silenced"}) == counted + 40
    assert notifications(db) == []
    assert result.outcomes["silenced"] == 40 and result.outcomes["matched"] == 40
    assert {(q.outcome, q.by, q.config_id) for q in result.quiet} == {("silenced", s.id, config.id)}
    assert {q.event_id for q in result.quiet} == {e["event_id"] for e in storm}
    [summary] = db.scalars(select(AlertThrottle)).all()
    assert (summary.silenced_count, summary.sent_count, summary.suppressed_count) == (40, 0, 0)
    assert not list(redis_client.scan_iter(match=f"{settings.redis_key_prefix}throttle:*"))

    other = pipeline.process([event(provider="azure")])  # not silenced: notifies
    assert other.outcomes["notified"] == 1

    clock.advance(minutes=30)  # the silence ends; the long cooldown was never taken
    after = pipeline.process([event()])
    assert after.outcomes["notified"] == 1 and after.quiet == []
    assert [n.context["provider_name"] for n in notifications(db)] == ["azure", "openai"]


def test_pending_active_expired_with_a_fixed_clock(pipeline, tenant, make_config, add, clock):
    make_config(tenant, cooldown_minutes=0)
    add(silence(tenant, clock, starts_at=clock.now + timedelta(minutes=10),
                ends_at=clock.now + timedelta(minutes=20)))  # fmt: skip
    seen = []
    for minutes in (0, 10, 10, 10):  # t = 0 pending, 10 active, 20 expired (end exclusive), 30
        clock.advance(minutes=minutes)
        seen.append(pipeline.process([event()]).outcomes["silenced"])
    assert seen == [0, 1, 0, 0]


def test_only_events_matching_every_matcher_are_silenced_and_tests_never(
    pipeline, tenant, make_config, add, clock, db
):
    config = make_config(tenant, cooldown_minutes=0, severity="error")
    add(silence(tenant, clock, matchers=OPENAI + [
        {"name": "severity", "op": "=", "value": "error"},
        {"name": "config_id", "op": "=", "value": str(config.id)},
        {"name": "context.region", "op": "!~", "value": "us-.*"},
    ]))  # fmt: skip
    result = pipeline.process([
        event(context={"provider_name": "openai", "latency_ms": 9000, "region": "eu-1"}),
        event(context={"provider_name": "openai", "latency_ms": 9000}),  # no region: ""
        event(context={"provider_name": "openai", "latency_ms": 9000, "region": "us-2"}),
        event(provider="azure"),
        event(is_test=True),
    ])  # fmt: skip
    assert result.outcomes["silenced"] == 2 and result.outcomes["notified"] == 3
    assert sorted((n.context.get("region", ""), n.is_test) for n in notifications(db)) == [
        ("", False),
        ("", True),
        ("us-2", False),
    ]


def test_a_new_silence_applies_to_the_next_batch(pipeline, tenant, make_config, add, clock):
    make_config(tenant, cooldown_minutes=0)
    assert pipeline.process([event()]).outcomes["notified"] == 1  # caches the tenant
    s = add(silence(tenant, clock))
    assert pipeline.process([event()]).outcomes["silenced"] == 1
    with pipeline.session_factory() as session:
        session.get(Silence, s.id).ends_at = clock.now
        session.commit()
    assert pipeline.process([event()]).outcomes["notified"] == 1


def test_silences_are_per_tenant(pipeline, make_tenant, make_config, add, clock, db):
    acme, globex = make_tenant("acme"), make_tenant("globex")
    make_config(acme, cooldown_minutes=0)
    make_config(globex, cooldown_minutes=0)
    add(silence(acme, clock))
    add(InhibitRule(tenant_id=acme.id, **QUOTA))
    make_config(globex, alert_type="quota_exhausted", cooldown_minutes=0)
    pipeline.process([quota(tenant_id="globex")])
    result = pipeline.process([event(), event(tenant_id="globex")])
    assert result.outcomes["silenced"] == 1 and result.outcomes["notified"] == 1
    # globex's own quota notification does not inhibit: globex has no rule
    assert {n.tenant_id for n in notifications(db)} == {globex.id}


def test_an_open_source_inhibits_the_target_with_equal_values(
    pipeline, tenant, make_config, add, db, settings
):
    make_config(tenant, alert_type="quota_exhausted", cooldown_minutes=0)
    latency = make_config(tenant, cooldown_minutes=0)
    add(InhibitRule(tenant_id=tenant.id, **QUOTA))
    assert pipeline.process([event()]).outcomes["notified"] == 1  # no source yet
    pipeline.process([quota()])
    [source] = [n for n in notifications(db) if n.alert_type == "quota_exhausted"]

    result = pipeline.process([event(), event(provider="azure")])
    assert result.outcomes["inhibited"] == 1 and result.outcomes["notified"] == 1
    assert [(q.outcome, q.by, q.config_id) for q in result.quiet] == [
        ("inhibited", source.id, latency.id)
    ]
    summary = db.scalars(select(AlertThrottle).where(AlertThrottle.config_id == latency.id))
    assert sorted(t.silenced_count for t in summary) == [0, 1]

    # Acknowledged is still open (§13): it still inhibits.
    user = add(User(tenant_id=tenant.id, email="oncall@example.com"))
    with pipeline.session_factory() as s:
        acknowledge(s, tenant.id, source.id, user.id, settings.delivery_lease_seconds)
    assert pipeline.process([event()]).outcomes["inhibited"] == 1

    # A resolve event resolves the source: the inhibition ends at once.
    assert pipeline.process([quota(action="resolve")]).outcomes["resolved"] == 1
    db.expire_all()
    assert db.get(AlertNotification, source.id).state == "resolved"
    assert pipeline.process([event()]).outcomes["notified"] == 1


def test_a_resolve_event_is_never_silenced(pipeline, tenant, make_config, add, db, clock):
    make_config(tenant, alert_type="quota_exhausted", cooldown_minutes=0)
    pipeline.process([quota()])
    add(silence(tenant, clock))  # matches every openai alert, the resolve's type too
    result = pipeline.process([quota(action="resolve")])
    assert result.outcomes["resolved"] == 1 and result.outcomes["silenced"] == 0
    assert result.quiet == []
    db.expire_all()
    assert [n.state for n in notifications(db)] == ["resolved"]
    assert pipeline.process([quota()]).outcomes["silenced"] == 1  # the silence does apply


def test_a_notification_never_inhibits_its_own_alert(pipeline, tenant, make_config, add, db):
    """A rule whose source and target both match high_latency: the open notification of one
    provider inhibits the same type for another config, never its own (config, fingerprint)."""
    first = make_config(tenant, cooldown_minutes=0)
    second = make_config(tenant, cooldown_minutes=0, name="second")
    add(InhibitRule(tenant_id=tenant.id, source=[{"name": "config_id", "op": "=",
                                                  "value": str(first.id)}],
                    target=[{"name": "alert_type", "op": "=", "value": "high_latency"}],
                    equal=["alert_type"]))  # fmt: skip
    pipeline.process([event()])  # both notify: nothing open yet
    result = pipeline.process([event()])
    assert result.outcomes["notified"] == 1 and result.outcomes["inhibited"] == 1
    [q] = result.quiet
    assert q.config_id == second.id
    assert [n.config_id for n in notifications(db)] == [first.id, second.id, first.id]


def test_no_rules_and_no_silences_means_no_query(pipeline, tenant, make_config, engine):
    make_config(tenant, cooldown_minutes=0)
    pipeline.process([event()])  # warm the caches
    with statements_run(engine) as statements:
        pipeline.process([event()])
    assert not [s for s in statements if "silences" in s or "inhibit_rules" in s]
    assert not [s for s in statements if "alert_notifications.context" in s]


def test_one_source_query_per_batch(pipeline, tenant, make_config, add, engine):
    make_config(tenant, cooldown_minutes=0, max_alerts_per_hour=1000)
    make_config(tenant, alert_type="quota_exhausted", cooldown_minutes=0)
    add(InhibitRule(tenant_id=tenant.id, **QUOTA))
    pipeline.process([quota()])
    with statements_run(engine) as statements:
        result = pipeline.process([event(provider=f"p{i % 7}") for i in range(100)] + [event()])
    assert result.outcomes["inhibited"] == 1 and result.outcomes["notified"] == 100
    assert len([s for s in statements if "alert_notifications.context" in s]) == 1


def test_silenced_counts_join_the_key_ordered_summary_upsert(
    pipeline, tenant, make_config, add, clock, engine, db
):
    """One upsert locks a batch's alert_throttles rows, in key order, silenced ones included:
    a second upsert after it (or before) could lock in another order than a racing batch."""
    config = make_config(tenant, cooldown_minutes=0)
    add(silence(tenant, clock))
    with statements_run(engine) as statements:
        result = pipeline.process([event(), event(provider="azure")])
    assert result.outcomes["silenced"] == 1 and result.outcomes["notified"] == 1
    assert len([s for s in statements if s.startswith("INSERT INTO alert_throttles")]) == 1
    rows = db.scalars(select(AlertThrottle).where(AlertThrottle.config_id == config.id))
    assert sorted((t.silenced_count, t.sent_count) for t in rows) == [(0, 1), (1, 0)]


_NAMES = ["alert_type", "severity", "config_id", "context.provider_name", "context.region"]
_VALUES = ["", "openai", "azure", "error", "critical", "7", "high_latency"]
_matcher = st.fixed_dictionaries({
    "name": st.sampled_from(_NAMES), "op": st.sampled_from(["=", "!=", "=~", "!~"]),
    "value": st.sampled_from(_VALUES + ["open.*", "a.*|e.*"]),
})  # fmt: skip


@given(
    st.lists(st.tuples(st.lists(_matcher, min_size=1, max_size=3), st.booleans()), max_size=8),
    st.lists(st.sampled_from(_VALUES), min_size=4, max_size=4),
)
@hsettings(max_examples=300, deadline=None)
def test_the_silence_index_finds_what_trying_every_silence_finds(silences, values):
    """The index on ``=`` matchers only skips silences that cannot match: the verdict is the
    first active silence by id that matches, as when every silence is tried."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        Silence(id=i + 1, matchers=m, starts_at=now - timedelta(minutes=1),
                ends_at=now + timedelta(minutes=1 if active else -0.5))
        for i, (m, active) in enumerate(silences)
    ]  # fmt: skip
    tr = compile_tenant(rows, [])
    config = ConfigView(
        id=7, tenant_id=1, alert_type=values[0], severity=values[1], is_active=True,
        channels=("in_app",), cooldown_minutes=0, max_alerts_per_hour=10, group_similar=True,
        group_by=(), conditions={},
    )  # fmt: skip
    context = {"provider_name": values[2], "region": values[3]}
    keyed = tuple(render(context[k]) if k in context else "" for k in tr.keys)
    verdict = _judge(Group(config, "fp", []), values[0], tr, now, keyed, {})
    reads = {"alert_type": values[0], "severity": values[1], "config_id": "7",
             "context.provider_name": values[2], "context.region": values[3]}  # fmt: skip
    expected = next(
        (s.id for s in tr.silences
         if s.starts_at <= now < s.ends_at and matches(s.matchers, reads.__getitem__)),
        None,
    )  # fmt: skip
    assert verdict.by == expected
    assert verdict.outcome == ("silenced" if expected else None)
