"""The SQL of the hot paths (ingest, delivery), built once and reused for every batch.

Building a SQLAlchemy statement costs more Python than running it (~0.5 ms against a ~0.1 ms
round trip here), so the pipeline takes its statements from :func:`for_dialect` (ingest needs
each backend's ``ON CONFLICT``) and the deliveries use the module's ``CLAIM`` and ``MESSAGES``
(on Postgres the one ``CLAIM_MESSAGES``) and ``DELIVERED``, all run on the session's
connection. Lists go in as expanding binds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, case, func, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from alertworker.core.models import (
    AlertConfig,
    AlertNotification,
    AlertThrottle,
    NotificationDelivery,
    NotificationPreference,
    RejectedEvent,
    Tenant,
    User,
)

N = AlertNotification.__table__
D = NotificationDelivery.__table__
T = AlertThrottle.__table__


@dataclass(frozen=True)
class Statements:
    tenants: Any  # {slugs} -> (id, slug, config_version)
    notified: Any  # {pairs: [(config_id, event_id)]} -> the pairs that have a notification
    insert_notifications: Any  # rows -> (id, config_id, event_id) of those inserted
    insert_deliveries: Any  # rows -> (id, channel, notification_id)
    fold: Any  # {b_cfg, b_fp, b_n, b_t}: into the latest notification of the fingerprint
    summarise: Any  # alert_throttles rows, added to the counts (locks) -> (cfg, fp, last_sent_at)
    resummarise: Any  # {b_cfg, b_fp, b_sent, b_supp, b_last, b_now}: a locked row's counts
    lock_configs: Any  # {cfgs}: FOR NO KEY UPDATE, so hourly counts from Postgres take turns
    sent_since: Any  # {cfgs, since} -> (config_id, notifications since), tests excluded
    reject: Any  # rejected_events rows


@functools.cache
def for_dialect(dialect: str) -> Statements:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    latest = (
        select(func.max(N.c.id))
        .where(N.c.config_id == bindparam("b_cfg"), N.c.fingerprint == bindparam("b_fp"))
        .scalar_subquery()
    )
    t = bindparam("b_t", type_=N.c.last_occurred_at.type)
    upsert = insert(T)
    return Statements(
        tenants=select(Tenant.id, Tenant.slug, Tenant.config_version).where(
            Tenant.slug.in_(bindparam("slugs", expanding=True))
        ),
        notified=select(N.c.config_id, N.c.event_id).where(
            tuple_(N.c.config_id, N.c.event_id).in_(bindparam("pairs", expanding=True))
        ),
        insert_notifications=insert(N)
        .on_conflict_do_nothing(index_elements=["config_id", "event_id"])
        .returning(N.c.id, N.c.config_id, N.c.event_id),
        insert_deliveries=D.insert().returning(D.c.id, D.c.channel, D.c.notification_id),
        fold=update(N)
        .where(N.c.id == latest, N.c.state != "resolved")  # only into an open alert (§13)
        .values(
            occurrence_count=N.c.occurrence_count + bindparam("b_n"),
            last_occurred_at=case((N.c.last_occurred_at < t, t), else_=N.c.last_occurred_at),
        ),
        summarise=upsert.on_conflict_do_update(
            index_elements=["config_id", "fingerprint"],
            set_={
                "sent_count": T.c.sent_count + upsert.excluded.sent_count,
                "suppressed_count": T.c.suppressed_count + upsert.excluded.suppressed_count,
                "silenced_count": T.c.silenced_count + upsert.excluded.silenced_count,
                "last_sent_at": func.coalesce(upsert.excluded.last_sent_at, T.c.last_sent_at),
                "updated_at": upsert.excluded.updated_at,
            },
        ).returning(T.c.config_id, T.c.fingerprint, T.c.last_sent_at),
        resummarise=update(T)
        .where(T.c.config_id == bindparam("b_cfg"), T.c.fingerprint == bindparam("b_fp"))
        .values(
            sent_count=T.c.sent_count + bindparam("b_sent"),
            suppressed_count=T.c.suppressed_count + bindparam("b_supp"),
            last_sent_at=func.coalesce(
                bindparam("b_last", type_=T.c.last_sent_at.type), T.c.last_sent_at
            ),
            updated_at=bindparam("b_now", type_=T.c.updated_at.type),
        ),  # fmt: skip
        lock_configs=select(AlertConfig.id)
        .where(AlertConfig.id.in_(bindparam("cfgs", expanding=True)))
        .order_by(AlertConfig.id)
        .with_for_update(key_share=True),
        sent_since=select(N.c.config_id, func.count())
        .where(
            N.c.config_id.in_(bindparam("cfgs", expanding=True)),
            N.c.triggered_at >= bindparam("since", type_=N.c.triggered_at.type),
            N.c.is_test.is_(False),
        )
        .group_by(N.c.config_id),
        reject=RejectedEvent.__table__.insert(),
    )


# --- deliveries (dialect-neutral) ------------------------------------------------------

_T = NotificationDelivery.__table__
_C = AlertConfig.__table__
# Built once (building a statement costs more than running it); lists and times are bound.
_CLAIMABLE = (
    update(_T)
    .where(
        _T.c.id.in_(bindparam("ids", expanding=True)),
        or_(
            and_(
                _T.c.status == "pending",
                or_(_T.c.next_attempt_at.is_(None), _T.c.next_attempt_at <= bindparam("due")),
            ),
            and_(_T.c.status == "sending", _T.c.lease_expires_at < bindparam("now")),
        ),
    )
    .values(status="sending", attempts=_T.c.attempts + 1, lease_expires_at=bindparam("lease"))
)
CLAIM = _CLAIMABLE.returning(_T.c.id, _T.c.attempts)
_MESSAGE_COLUMNS = (
    N.c.resolved_at,
    N.c.fingerprint,
    N.c.event_id,
    N.c.alert_type,
    N.c.severity,
    N.c.title,
    N.c.message,
    N.c.context,
    N.c.occurred_at,
    N.c.triggered_at,
    N.c.occurrence_count,
    N.c.suppressed_since_last,
    N.c.is_test,
    _C.c.id.label("config_id"),
    _C.c.name.label("config_name"),
    _C.c.channel_config,
    Tenant.__table__.c.slug,
)


def _muted(tenant_id: Any, channel: Any) -> Any:
    """SPEC §8: a Slack or webhook destination is the tenant's, shared by its users, so it is
    muted only when the tenant has users with saved preferences and every one of them turned
    that channel off (read with the claim: no statement of its own)."""
    P, U = NotificationPreference.__table__, User.__table__
    saved = select(P.c.user_id).join(U, U.c.id == P.c.user_id).where(U.c.tenant_id == tenant_id)
    enabled = case((channel == "slack", P.c.slack_enabled), else_=P.c.webhook_enabled)
    shared = or_(channel == "slack", channel == "webhook")
    return and_(shared, saved.exists(), ~saved.where(enabled).exists()).label("muted")


MESSAGES = (
    select(
        _T.c.id,
        _T.c.channel,
        _T.c.recipient,
        _T.c.kind,
        _T.c.escalation_target,
        N.c.id.label("notification_id"),
        *_MESSAGE_COLUMNS,
        _muted(_T.c.tenant_id, _T.c.channel),
    )  # fmt: skip
    .join(N, _T.c.notification_id == N.c.id)
    .join(Tenant.__table__, Tenant.__table__.c.id == _T.c.tenant_id)
    .outerjoin(_C, _C.c.id == N.c.config_id)
    .where(_T.c.id.in_(bindparam("ids", expanding=True)))
)
# Postgres: CLAIM and MESSAGES in one statement (the UPDATE as a data-modifying CTE), so a
# claim run in autocommit is one round trip: the rows it took, each with its attempt number.
_claimed = _CLAIMABLE.returning(
    _T.c.id, _T.c.attempts, _T.c.channel, _T.c.recipient, _T.c.kind, _T.c.escalation_target,
    _T.c.notification_id, _T.c.tenant_id,
).cte("claimed")  # fmt: skip
CLAIM_MESSAGES = (
    select(
        _claimed.c.id,
        _claimed.c.attempts,
        _claimed.c.channel,
        _claimed.c.recipient,
        _claimed.c.kind,
        _claimed.c.escalation_target,
        _claimed.c.notification_id,
        *_MESSAGE_COLUMNS,
        _muted(_claimed.c.tenant_id, _claimed.c.channel),
    )  # fmt: skip
    .select_from(_claimed)
    .join(N, _claimed.c.notification_id == N.c.id)
    .join(Tenant.__table__, Tenant.__table__.c.id == _claimed.c.tenant_id)
    .outerjoin(_C, _C.c.id == N.c.config_id)
)
DELIVERED = (
    update(_T)
    .where(tuple_(_T.c.id, _T.c.attempts).in_(bindparam("ok", expanding=True)))
    .where(_T.c.status == "sending")
    .values(
        status="delivered",
        delivered_at=bindparam("now"),
        last_error=None,
        last_status_code=bindparam("code"),
        lease_expires_at=None,
        next_attempt_at=None,
    )  # fmt: skip
    .returning(_T.c.id)
)
# Postgres: a batch whose every send succeeded (the usual one) is written back in one
# statement: the rows still ours (id, attempt) delivered, every attempt logged, and the
# health of the destinations of those delivered reset. Run in autocommit: one round trip,
# atomic as the one transaction of ``deliveries._record`` + ``attempts.record`` it replaces.
RECORD_DELIVERED = text(
    """
WITH sent AS (
    SELECT * FROM unnest(CAST(:ids AS integer[]), CAST(:attempts AS integer[]),
                         CAST(:started AS timestamptz[]), CAST(:durations AS integer[]),
                         CAST(:cfgs AS integer[]), CAST(:channels AS varchar[]),
                         CAST(:codes AS integer[]))
        AS s(id, attempt, started_at, duration_ms, config_id, channel, status_code)
), ok AS (
    UPDATE notification_deliveries AS d
    SET status = 'delivered', delivered_at = :now, last_error = NULL,
        last_status_code = sent.status_code,
        lease_expires_at = NULL, next_attempt_at = NULL, updated_at = :now
    FROM sent
    WHERE d.id = sent.id AND d.attempts = sent.attempt AND d.status = 'sending'
    RETURNING d.id
), logged AS (
    INSERT INTO delivery_attempts (delivery_id, attempt, started_at, duration_ms, status_code,
                                   outcome)
    SELECT id, attempt, started_at, duration_ms, status_code, 'delivered' FROM sent
), health AS (
    INSERT INTO endpoint_health (config_id, channel, consecutive_failures, last_success_at,
                                 updated_at)
    SELECT DISTINCT sent.config_id, sent.channel, 0, CAST(:now AS timestamptz),
           CAST(:now AS timestamptz)
    FROM sent JOIN ok ON ok.id = sent.id
    WHERE sent.config_id IS NOT NULL
    ORDER BY 1, 2
    ON CONFLICT (config_id, channel) DO UPDATE
    SET consecutive_failures = 0, last_success_at = excluded.last_success_at,
        updated_at = excluded.updated_at
)
SELECT id FROM ok
"""
)
