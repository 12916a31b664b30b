"""SPEC §13 through the real pipeline on Postgres and Redis: resolve events and recovery pairs
close exactly the alert they name, once, clear its cooldown, and make one resolve delivery per
channel that carried the firing notification; a trigger racing a resolve is never lost."""

import json
import threading
import uuid

import pytest
from sqlalchemy import select, text

from alertworker.core.models import AlertNotification, NotificationDelivery
from alertworker.ingest.pipeline import Pipeline
from alertworker.paging import lifecycle
from tests import test_pipeline
from tests.processes import WORKER_ARGS, celery, wait_for

clock, pipeline, tenant = test_pipeline.clock, test_pipeline.pipeline, test_pipeline.tenant


def trigger(provider="openai", alert_type="provider_unhealthy", **kw):
    return {
        "event_id": str(uuid.uuid4()), "tenant_id": "acme", "alert_type": alert_type,
        "title": f"{provider} is unhealthy", "context": {"provider_name": provider},
    } | kw  # fmt: skip


def resolve(provider="openai", alert_type="provider_unhealthy", **kw):
    return {
        "event_id": str(uuid.uuid4()), "tenant_id": "acme", "alert_type": alert_type,
        "action": "resolve", "context": {"provider_name": provider},
    } | kw  # fmt: skip


def rows(session_factory):
    with session_factory() as s:
        return s.scalars(select(AlertNotification).order_by(AlertNotification.id)).all()


def deliveries(session_factory, kind=None):
    with session_factory() as s:
        query = select(NotificationDelivery).order_by(NotificationDelivery.id)
        if kind:
            query = query.where(NotificationDelivery.kind == kind)
        return s.scalars(query).all()


def cooldown_key(pipeline, config, fp):
    return pipeline.throttle.keys(config.id, fp)[0]


def test_a_resolve_event_closes_only_its_alert_once_and_clears_its_cooldown(
    pipeline, tenant, make_config, session_factory, redis_client
):
    config = make_config(tenant, alert_type="provider_unhealthy")
    pipeline.process([trigger("a")])
    pipeline.process([trigger("b")])
    a, b = rows(session_factory)
    assert redis_client.exists(cooldown_key(pipeline, config, b.fingerprint))

    closing = resolve("b")  # no title: optional for resolve events
    result = pipeline.process([closing])
    a, b = rows(session_factory)
    assert (a.state, b.state) == ("firing", "resolved")
    assert (b.resolve_reason, b.resolved_by_event_id) == ("event", closing["event_id"])
    assert b.resolved_at is not None and result.outcomes["resolved"] == 1
    assert not redis_client.exists(cooldown_key(pipeline, config, b.fingerprint))
    assert redis_client.exists(cooldown_key(pipeline, config, a.fingerprint))
    [sent] = deliveries(session_factory, "resolve")
    assert (sent.notification_id, sent.channel, sent.status) == (b.id, "webhook", "pending")
    assert [p.delivery_id for p in result.deliveries] == [sent.id]

    again = pipeline.process([closing], replay=True)  # redelivered: resolved once
    assert again.outcomes["resolved"] == 0 and again.deliveries == []
    assert len(deliveries(session_factory, "resolve")) == 1
    assert rows(session_factory)[1].resolved_at == b.resolved_at

    nothing = pipeline.process([resolve("never-fired")])
    assert nothing.outcomes["nothing_to_resolve"] == 1 and nothing.deliveries == []

    after = pipeline.process([trigger("b")])  # the cooldown is gone: notifies at once
    assert after.outcomes["notified"] == 1
    assert [n.state for n in rows(session_factory)] == ["firing", "resolved", "firing"]


def test_resolve_events_skip_conditions_and_reach_inactive_configs(
    pipeline, tenant, make_config, session_factory
):
    config = make_config(tenant, alert_type="high_error_rate", conditions={"error_rate": 0.5})
    pipeline.process(
        [
            trigger(
                alert_type="high_error_rate", context={"provider_name": "openai", "error_rate": 0.9}
            )
        ]
    )
    with session_factory() as s:
        s.get(type(config), config.id).is_active = False
        s.commit()
    pipeline.process([resolve(alert_type="high_error_rate")])  # no error_rate in the context
    assert [n.state for n in rows(session_factory)] == ["resolved"]


def test_notify_on_resolve_false_resolves_without_deliveries(
    pipeline, tenant, make_config, session_factory
):
    make_config(tenant, alert_type="provider_unhealthy", notify_on_resolve=False)
    pipeline.process([trigger()])
    result = pipeline.process([resolve()])
    assert [n.state for n in rows(session_factory)] == ["resolved"]
    assert result.deliveries == [] and deliveries(session_factory, "resolve") == []


def test_only_channels_that_carried_the_trigger_get_a_resolve(
    pipeline, tenant, make_config, session_factory
):
    make_config(tenant, alert_type="provider_unhealthy", channels=["in_app", "webhook", "email"],
                channel_config={"webhook": {"url": "http://127.0.0.1:9/h"},
                                "email": {"recipients": ["a@x.test", "b@x.test"]}})  # fmt: skip
    pipeline.process([trigger()])
    with session_factory() as s:  # b's copy was skipped by b's preferences
        s.execute(text("UPDATE notification_deliveries SET status = 'skipped' "
                       "WHERE recipient = 'b@x.test'"))  # fmt: skip
        s.commit()
    pipeline.process([resolve()])
    sent = {(d.channel, d.recipient) for d in deliveries(session_factory, "resolve")}
    assert sent == {("webhook", ""), ("email", "a@x.test")}


def test_recovery_pairs_resolve_by_the_opened_configs_group_by(
    pipeline, tenant, make_config, session_factory
):
    make_config(tenant, name="opened", alert_type="circuit_breaker_opened",
                group_by=["provider_name", "region"])  # fmt: skip
    closed_config = make_config(tenant, name="closed", alert_type="circuit_breaker_closed")
    ctx = {"provider_name": "openai", "region": "eu"}
    pipeline.process([trigger(alert_type="circuit_breaker_opened", context=ctx)])
    us_ctx = {**ctx, "region": "us"}
    pipeline.process([trigger(alert_type="circuit_breaker_opened", context=us_ctx)])
    closed = trigger(alert_type="circuit_breaker_closed", context=ctx)
    result = pipeline.process([closed])
    eu, us, own = rows(session_factory)
    assert (eu.state, eu.resolve_reason, eu.resolved_by_event_id) == (
        "resolved", "recovery_pair", closed["event_id"])  # fmt: skip
    assert us.state == "firing"  # another region: another alert
    assert (own.config_id, own.state) == (closed_config.id, "firing")  # it still triggers
    assert result.outcomes["notified"] == 1 and result.outcomes["resolved"] == 1


def test_provider_recovered_resolves_provider_unhealthy(
    pipeline, tenant, make_config, session_factory
):
    make_config(tenant, alert_type="provider_unhealthy")
    pipeline.process([trigger("a")])
    pipeline.process([trigger("b")])
    pipeline.process([trigger("b", alert_type="provider_recovered")])  # no config of its own
    assert [n.state for n in rows(session_factory)] == ["firing", "resolved"]


def test_a_trigger_suppressed_by_a_resolved_alerts_cooldown_notifies(
    pipeline, tenant, make_config, session_factory, redis_client
):
    """The cooldown outlived its alert (the resolve's clear was lost): the next trigger must
    not fold into the resolved notification, it notifies."""
    config = make_config(tenant, alert_type="provider_unhealthy")
    pipeline.process([trigger()])
    [n] = rows(session_factory)
    held = redis_client.get(cooldown_key(pipeline, config, n.fingerprint))
    pipeline.process([resolve()])
    redis_client.set(cooldown_key(pipeline, config, n.fingerprint), held, px=600_000)
    result = pipeline.process([trigger()])
    first, second = rows(session_factory)
    assert (first.state, first.occurrence_count) == ("resolved", 1)
    assert (second.state, second.suppressed_since_last) == ("firing", 0)
    assert result.outcomes["notified"] == 1


def test_the_hourly_cap_still_applies_after_a_resolve(
    pipeline, tenant, make_config, session_factory
):
    make_config(tenant, alert_type="provider_unhealthy", max_alerts_per_hour=1)
    pipeline.process([trigger()])
    pipeline.process([resolve()])
    result = pipeline.process([trigger()])
    assert result.outcomes["throttled_hourly_cap"] == 1
    assert [n.state for n in rows(session_factory)] == ["resolved"]


def test_a_trigger_racing_a_resolve_waits_and_then_notifies(
    settings, tenant, make_config, session_factory, redis_client, engine
):
    """A resolve holds the alert's row (uncommitted) while another process's trigger, still
    under the old cooldown, is recorded: the trigger waits for the resolve, sees the alert
    resolved and notifies as a new alert; it never vanishes into the resolved one."""
    make_config(tenant, alert_type="provider_unhealthy")
    Pipeline(settings, session_factory, redis_client).process([trigger()])
    [n] = rows(session_factory)
    other = Pipeline(settings, session_factory, redis_client)
    outcome = {}

    with engine.connect() as conn:
        resolved = lifecycle.claim(conn, AlertNotification.__table__.c.id == n.id, "manual",
                                   n.triggered_at)  # fmt: skip
        worker = threading.Thread(target=lambda: outcome.update(other.process([trigger()])
                                                                .outcomes))  # fmt: skip
        worker.start()
        wait_for(lambda: _waiting_on_a_lock(engine), 10, lambda: "the trigger never waited")
        conn.commit()
    lifecycle.after_commit(redis_client, settings, resolved)
    worker.join(10)
    first, second = rows(session_factory)
    assert (first.state, first.occurrence_count) == ("resolved", 1)
    assert second.state == "firing" and outcome["notified"] == 1
    assert {d.notification_id for d in deliveries(session_factory, "trigger")} == {
        first.id, second.id}  # fmt: skip


def _waiting_on_a_lock(engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()")).scalar())  # fmt: skip


def test_triggers_and_resolves_in_two_processes_lose_no_occurrence(
    settings, tenant, make_config, session_factory, redis_client
):
    """Two pipelines (own connections) hammer one alert, one with triggers, one with resolves:
    every trigger is counted in some notification, and the last alert is open exactly when
    the last word was a trigger that came after every resolve."""
    make_config(tenant, alert_type="provider_unhealthy", max_alerts_per_hour=10000)
    n_triggers = 60
    errors = []

    def run(events):
        p = Pipeline(settings, session_factory, redis_client)
        try:
            for e in events:
                p.process([e])
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)

    workers = [
        threading.Thread(target=run, args=([trigger() for _ in range(n_triggers)],)),
        threading.Thread(target=run, args=([resolve() for _ in range(30)],)),
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert errors == []
    notes = rows(session_factory)
    assert sum(n.occurrence_count for n in notes) == n_triggers
    assert all(n.state == "resolved" for n in notes[:-1])
    resolves = deliveries(session_factory, "resolve")
    assert len(resolves) == sum(n.state == "resolved" for n in notes)
    assert len({d.notification_id for d in resolves}) == len(resolves)


def _age(session_factory, minutes):
    with session_factory() as s:
        s.execute(text("UPDATE alert_notifications SET last_occurred_at = "
                       "last_occurred_at - make_interval(mins => :m)"), {"m": minutes})  # fmt: skip
        s.commit()


def test_timeout_resolves_only_alerts_quiet_for_auto_resolve_minutes(
    settings, pipeline, tenant, make_config, session_factory, redis_client
):
    make_config(tenant, name="timed", alert_type="provider_unhealthy", auto_resolve_minutes=10)
    make_config(tenant, name="forever", alert_type="provider_unhealthy", auto_resolve_minutes=0)
    pipeline.process([trigger()])
    _age(session_factory, 9)
    assert lifecycle.resolve_timed_out(settings, session_factory, redis_client) == ([], [])
    _age(session_factory, 2)
    resolved, pending = lifecycle.resolve_timed_out(settings, session_factory, redis_client)
    assert [r.reason for r in resolved] == ["timeout"] and len(pending) == 1
    by_config = {n.config_id: n for n in rows(session_factory)}
    assert sorted(n.state for n in by_config.values()) == ["firing", "resolved"]
    assert lifecycle.resolve_timed_out(settings, session_factory, redis_client) == ([], [])


@pytest.mark.slow
def test_beat_resolves_a_timed_out_alert_and_the_worker_sends_the_resolve(
    test_env, settings, pipeline, tenant, make_config, session_factory, http_receiver, tmp_path
):
    make_config(tenant, alert_type="provider_unhealthy", auto_resolve_minutes=1,
                channel_config={"webhook": {"url": http_receiver.url()}})  # fmt: skip
    pipeline.process([trigger()])
    _age(session_factory, 2)
    env = {**test_env, "SWEEPER_INTERVAL_SECONDS": "1"}
    worker = celery(env, tmp_path / "worker.log", *WORKER_ARGS)
    beat = celery(env, tmp_path / "beat.log", "beat", "--schedule", str(tmp_path / "schedule"),
                  "--loglevel", "info", ready="beat: Starting")  # fmt: skip
    try:
        statuses = lambda: [json.loads(r.body)["status"] for r in http_receiver.requests]  # noqa: E731
        wait_for(lambda: "resolved" in statuses(), 60,
                 lambda: worker.output() + beat.output())  # fmt: skip
    finally:
        beat.stop()
        worker.stop()
    [n] = rows(session_factory)
    assert (n.state, n.resolve_reason) == ("resolved", "timeout")
    assert statuses().count("resolved") == 1
    assert [d.status for d in deliveries(session_factory, "resolve")] == ["delivered"]
