"""Digests (SPEC §8) against real Postgres, Redis and an SMTP receiver: a user's emails are
gathered, and exactly one summary per user per period goes out, however many run at once."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from alertworker.core.models import NotificationDelivery as D
from alertworker.core.models import NotificationDigest as G
from alertworker.core.models import User
from alertworker.delivery import deliveries, digests
from alertworker.delivery.delivery_policy import Preferences, digest_period
from alertworker.ingest.pipeline import Pipeline
from alertworker.tenants.preferences import put_preferences
from tests.processes import WORKER_ARGS, celery, wait_for

USER = "digest@acme.test"


@pytest.fixture
def user(session_factory, make_tenant, make_config):
    tenant = make_tenant("acme")
    with session_factory() as s:
        row = User(tenant_id=tenant.id, email=USER)
        s.add(row)
        s.commit()
        put_preferences(s, row.id, {"digest": "hourly"})
    make_config(tenant, channels=["in_app", "email"], cooldown_minutes=0, max_alerts_per_hour=100,
                channel_config={
        "email": {"recipients": [USER, "ops@elsewhere.test"]}})  # fmt: skip
    return row


def alerts(settings, session_factory, redis_client, n, title="p95 above 5 s #{i}"):
    """``n`` alerts through the pipeline and the delivery step; the outcomes by recipient."""
    result = Pipeline(settings, session_factory, redis_client).process([
        {"event_id": str(uuid.uuid4()), "tenant_id": "acme", "alert_type": "high_latency",
         "title": title.format(i=i), "context": {"provider_name": f"p{i}", "latency_ms": 9000}}
        for i in range(n)
    ])  # fmt: skip
    ids = [p.delivery_id for p in result.deliveries]
    outcomes = deliveries.deliver(settings, session_factory, redis_client, ids)
    with session_factory() as s:
        recipient = dict(s.execute(select(D.id, D.recipient).where(D.id.in_(ids))).all())
    return Counter((recipient[i], o.status) for i, o in outcomes.items())


def the_digest(session_factory):
    with session_factory() as s:
        [digest] = s.scalars(select(G)).all()
        return digest


def test_thirty_alerts_in_an_hour_make_one_email_with_thirty_entries(
    smtp_settings, session_factory, redis_client, user, smtp_receiver
):
    outcomes = alerts(smtp_settings, session_factory, redis_client, 30)
    assert outcomes == {(USER, "digested"): 30, ("ops@elsewhere.test", "delivered"): 30}
    digest = the_digest(session_factory)
    assert (digest.status, digest.item_count, digest.frequency) == ("pending", 30, "hourly")
    with session_factory() as s:
        reasons = set(s.scalars(select(D.last_error).where(D.recipient == USER)))
    assert reasons == {f"digested into digest {digest.id} (hourly)"}
    smtp_receiver.messages.clear()

    assert digests.send_due(smtp_settings, session_factory, redis_client) == {}  # hour not over
    after = digest.period_end + timedelta(seconds=1)
    assert digests.send_due(smtp_settings, session_factory, redis_client, after) == {"sent": 1}
    assert digests.send_due(smtp_settings, session_factory, redis_client, after) == {}

    [received] = smtp_receiver.messages
    assert received.rcpt_tos == [USER]
    mail = received.email
    since = f"{digest.period_start:%Y-%m-%d %H}:00 UTC"
    assert mail["Subject"] == f"[DIGEST] 30 alerts for acme since {since}"
    text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = mail.get_body(("html",)).get_content()
    for i in range(30):
        assert f"[WARNING] p95 above 5 s #{i}\n" in text
        assert f">p95 above 5 s #{i}</a>" in html
    assert text.count("[WARNING]") == 30 and html.count('<td align="right">1</td>') == 30
    assert "30 alerts: 30 WARNING" in text
    digest = the_digest(session_factory)
    assert (digest.status, digest.item_count, digest.attempts) == ("sent", 30, 1)
    with session_factory() as s:
        assert None not in set(s.scalars(select(D.delivered_at).where(D.recipient == USER)))


def test_two_concurrent_digest_runs_send_one_email(
    smtp_settings, session_factory, redis_client, user, smtp_receiver
):
    alerts(smtp_settings, session_factory, redis_client, 5)
    smtp_receiver.messages.clear()
    after = the_digest(session_factory).period_end + timedelta(seconds=1)
    start = threading.Barrier(4)
    results: list[Counter[str]] = []

    def run():
        start.wait()
        results.append(digests.send_due(smtp_settings, session_factory, redis_client, after))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(results, Counter()) == {"sent": 1}
    assert [m.rcpt_tos for m in smtp_receiver.messages] == [[USER]]


def test_an_empty_period_sends_nothing(
    smtp_settings, session_factory, redis_client, user, smtp_receiver
):
    with session_factory() as s:  # the user's only alert is below their min_severity
        put_preferences(s, user.id, {"digest": "hourly", "min_severity": "error"})
    assert alerts(smtp_settings, session_factory, redis_client, 1)[(USER, "skipped")] == 1
    later = datetime.now(UTC) + timedelta(days=2)
    assert digests.send_due(smtp_settings, session_factory, redis_client, later) == {}
    assert [m.rcpt_tos for m in smtp_receiver.messages] == [["ops@elsewhere.test"]]
    with session_factory() as s:
        assert s.scalars(select(G)).all() == []


def test_titles_are_escaped_in_the_html_digest(
    smtp_settings, session_factory, redis_client, user, smtp_receiver
):
    alerts(smtp_settings, session_factory, redis_client, 1, title="<script>x()</script> & co")
    smtp_receiver.messages.clear()
    after = the_digest(session_factory).period_end + timedelta(seconds=1)
    digests.send_due(smtp_settings, session_factory, redis_client, after)
    mail = smtp_receiver.messages[0].email
    assert "&lt;script&gt;x()&lt;/script&gt; &amp; co" in mail.get_body(("html",)).get_content()
    assert "<script>" not in mail.get_body(("html",)).get_content()
    assert "<script>x()</script> & co" in mail.get_body(("plain",)).get_content()
    assert mail["Subject"].startswith("[DIGEST] 1 alert for acme since ")


def test_an_smtp_failure_retries_the_digest_later(
    smtp_settings, session_factory, redis_client, user, smtp_receiver
):
    alerts(smtp_settings, session_factory, redis_client, 2)
    smtp_receiver.messages.clear()
    after = the_digest(session_factory).period_end + timedelta(seconds=1)
    smtp_receiver.data_reply = "451 4.3.0 try again later"
    assert digests.send_due(smtp_settings, session_factory, redis_client, after) == {"retry": 1}
    digest = the_digest(session_factory)
    assert digest.status == "pending" and "451" in digest.last_error
    assert digest.send_after > after
    smtp_receiver.data_reply = None
    later = digest.send_after + timedelta(seconds=1)
    assert digests.send_due(smtp_settings, session_factory, redis_client, later) == {"sent": 1}
    assert len(smtp_receiver.messages) == 1


def test_a_claimed_digest_is_not_joined_the_next_period_is(session_factory, user):
    prefs = Preferences(digest="hourly")
    period = digest_period(prefs, datetime(2026, 1, 15, 9, 30, tzinfo=UTC))
    now = datetime.now(UTC)
    with session_factory() as s:
        first = digests.join(s, user, prefs, period, now)
        assert digests.join(s, user, prefs, period, now) == first
        s.execute(update(G).where(G.id == first).values(status="sending"))
        second = digests.join(s, user, prefs, period, now)
        s.commit()
        assert second != first
        assert s.get(G, second).period_start == period.end
        assert s.get(G, first).item_count == 2


@pytest.mark.slow
def test_the_beat_task_sends_due_digests_through_a_real_worker(
    test_env, smtp_settings, session_factory, redis_client, user, smtp_receiver, tmp_path
):
    alerts(smtp_settings, session_factory, redis_client, 3)
    smtp_receiver.messages.clear()
    with session_factory() as s:
        s.execute(update(G).values(send_after=datetime.now(UTC) - timedelta(seconds=1)))
        s.commit()
    env = {**test_env, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_receiver.port)}
    worker = celery(env, tmp_path / "worker.log", *WORKER_ARGS)
    try:
        call = celery(env, tmp_path / "call.log", "call", "alertworker.send_digests", ready=None)
        wait_for(lambda: not call.alive(), 30, call.output)
        call.stop()
        wait_for(lambda: smtp_receiver.messages, 30, worker.output)
    finally:
        worker.stop()
    assert [m.rcpt_tos for m in smtp_receiver.messages] == [[USER]]
    assert the_digest(session_factory).status == "sent"


def test_a_digest_that_never_finishes_is_parked_as_failed(
    smtp_settings, session_factory, redis_client, user, smtp_receiver
):
    alerts(smtp_settings, session_factory, redis_client, 1)
    smtp_receiver.messages.clear()
    after = the_digest(session_factory).period_end + timedelta(seconds=1)
    with session_factory() as s:  # its senders kept dying with the lease held
        s.execute(
            update(G).values(
                status="sending",
                lease_expires_at=after - timedelta(hours=1),
                attempts=smtp_settings.delivery_max_attempts,
            )
        )
        s.commit()
    assert digests.send_due(smtp_settings, session_factory, redis_client, after) == {"failed": 1}
    assert "gave up" in the_digest(session_factory).last_error and smtp_receiver.messages == []
