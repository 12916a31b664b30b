"""The SQL of the hot paths (ingest, delivery), built once and reused for every batch.

Building a SQLAlchemy statement costs more Python than running it (~0.5 ms against a ~0.1 ms
round trip here), so the pipeline takes its statements from :func:`for_dialect` (ingest needs
each backend's ``ON CONFLICT``) and the deliveries use the module's ``CLAIM`` and ``MESSAGES``
(on Postgres the one ``CLAIM_MESSAGES``) and ``DELIVERED``, all run on the session's
connection. Lists go in as expanding binds.

On Postgres the many-row statements of ingest take their rows as one JSON document
(``jsonb_to_recordset``, see :meth:`Statements.many`): one statement and one parameter for a
whole batch, where ``executemany`` would send one statement per row and SQLAlchemy's
multi-row ``VALUES`` would process every value of every row in Python. A batch's
notifications and their delivery rows are one statement (``notify``). SQLite gets the same
rows through ``executemany``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    Executable,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from alertworker.core.models import (
    AlertConfig,
    AlertNotification,
    AlertThrottle,
    EventTrail,
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
    # rows -> (id, config_id, event_id) of those inserted (SQLite; Postgres: ``notify``)
    insert_notifications: Any
    insert_deliveries: Any  # rows -> (id, channel, notification_id) (SQLite)
    # Postgres: {rows, destinations, now} -> (id, config_id, event_id, delivery_id, channel)
    # of the notifications inserted, one line per delivery row (None without one); their
    # sends are counted in alert_throttles (``resummarise`` of the SQLite path)
    notify: Any
    fold: Any  # {b_cfg, b_fp, b_n, b_t}: into the latest notification of the fingerprint
    summarise: Any  # alert_throttles rows, added to the counts (locks) -> (cfg, fp, last_sent_at)
    resummarise: Any  # {b_cfg, b_fp, b_sent, b_supp, b_last, b_now}: a locked row's counts
    latest: Any  # {pairs} -> (config_id, fingerprint, event_id, state) of the latest, locked
    lock_configs: Any  # {cfgs}: FOR NO KEY UPDATE, so hourly counts from Postgres take turns
    sent_since: Any  # {cfgs, since} -> (config_id, notifications since), tests excluded
    reject: Any  # rejected_events rows
    trail: Any  # event_trail rows, with {received_at}
    bulk: bool = False  # Postgres: ``many`` sends the rows as one JSON document

    def many(self, conn: Any, statement: Executable, rows: list[dict[str, Any]],
             **params: Any) -> Any:  # fmt: skip
        """Run a many-row statement: on Postgres once, with the rows as one JSON array (its
        ``:rows``; datetimes as ISO strings), elsewhere once per row."""
        if self.bulk:
            return conn.execute(statement, {"rows": as_json(rows), **params})
        return conn.execute(statement, [{**row, **params} for row in rows] if params else rows)


def as_json(rows: list[dict[str, Any]]) -> str:
    """Rows as the JSON document a bulk statement takes (datetimes as ISO strings): orjson
    (a tenth of the stdlib's time), the stdlib where orjson refuses (an integer beyond 64
    bits, a lone surrogate)."""
    try:
        return orjson.dumps(rows).decode()
    except TypeError:
        return json.dumps(rows, separators=(",", ":"), default=_iso)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _recordset(columns: str) -> str:
    return f"jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({columns})"


_N_COLUMNS = (
    "tenant_id, config_id, event_id, alert_type, severity, source_severity, title, message, "
    "context, fingerprint, occurrence_count, suppressed_since_last, is_test, occurred_at, "
    "last_occurred_at, triggered_at, escalation_policy_id, escalation_step, escalation_next_at, "
    "escalation_state"
)
_D_COLUMNS = "status, attempts, delivered_at, lease_expires_at"  # chosen per destination in Python
# Postgres: a batch's notifications, each one's delivery rows (one per destination of its
# config) and the send counted in its alert's summary row (tests are not throttled), in one
# statement (``ON CONFLICT DO NOTHING``: a duplicate gets no delivery rows and no count).
PG_NOTIFY = text(
    f"""WITH n AS (
    INSERT INTO alert_notifications ({_N_COLUMNS})
    SELECT {_N_COLUMNS} FROM {
        _recordset(
            "tenant_id integer, config_id integer, event_id varchar, alert_type varchar, "
            "severity varchar, source_severity varchar, title varchar, message text, "
            "context jsonb, fingerprint varchar, occurrence_count integer, "
            "suppressed_since_last integer, is_test boolean, occurred_at timestamptz, "
            "last_occurred_at timestamptz, triggered_at timestamptz, escalation_policy_id integer, "
            "escalation_step integer, escalation_next_at timestamptz, escalation_state varchar"
        )
    }
    ON CONFLICT (config_id, event_id) DO NOTHING
    RETURNING id, tenant_id, config_id, event_id, fingerprint, occurrence_count, is_test
), sent AS (  -- the (locked) summary rows of the alerts notified: one send each, the rest folded
    UPDATE alert_throttles AS t
    SET sent_count = t.sent_count + c.sent, suppressed_count = t.suppressed_count + c.folded,
        last_sent_at = :now, updated_at = :now
    FROM (
        SELECT config_id, fingerprint, count(*) AS sent, sum(occurrence_count - 1) AS folded
        FROM n WHERE NOT is_test GROUP BY config_id, fingerprint
    ) AS c
    WHERE t.config_id = c.config_id AND t.fingerprint = c.fingerprint
), d AS (
    INSERT INTO notification_deliveries (notification_id, tenant_id, channel, recipient,
                                         {_D_COLUMNS}, created_at, updated_at)
    SELECT n.id, n.tenant_id, dest.channel, dest.recipient, {_D_COLUMNS}, :now, :now
    FROM n JOIN jsonb_to_recordset(CAST(:destinations AS jsonb)) AS dest(
        config_id integer, position integer, channel varchar, recipient varchar,
        status varchar, attempts integer, delivered_at timestamptz,
        lease_expires_at timestamptz
    ) ON dest.config_id = n.config_id
    ORDER BY n.id, dest.position
    RETURNING id, channel, notification_id
)
SELECT n.id, n.config_id, n.event_id, d.id AS delivery_id, d.channel
FROM n LEFT JOIN d ON d.notification_id = n.id
ORDER BY n.id, d.id
"""
)
# Postgres: fold each (config, fingerprint)'s suppressed events into its latest notification
# while it is open (SPEC §13), the rows locked in id order first.
PG_FOLD = text(
    f"""WITH b AS (
    SELECT b_cfg, b_fp, sum(b_n) AS n, max(b_t) AS t
    FROM {_recordset("b_cfg integer, b_fp varchar, b_n integer, b_t timestamptz")}
    GROUP BY b_cfg, b_fp
), target AS (
    SELECT n.id, b.n, b.t
    FROM b JOIN alert_notifications AS n ON n.id = (
        SELECT max(m.id) FROM alert_notifications AS m
        WHERE m.config_id = b.b_cfg AND m.fingerprint = b.b_fp
    )
    WHERE n.state != 'resolved'
    ORDER BY n.id
    FOR UPDATE OF n
)
UPDATE alert_notifications AS n
SET occurrence_count = n.occurrence_count + target.n,
    last_occurred_at = greatest(n.last_occurred_at, target.t)
FROM target
WHERE n.id = target.id
"""
)
# Postgres: add to each alert's summary row, inserted if new, in key order (the rows come
# sorted): the row lock that serialises allowed decisions (``throttle_pg``).
PG_SUMMARISE = text(
    f"""INSERT INTO alert_throttles (config_id, fingerprint, sent_count, suppressed_count,
                             silenced_count, updated_at)
SELECT config_id, fingerprint, 0, suppressed_count, silenced_count, updated_at
FROM {
        _recordset(
            "config_id integer, fingerprint varchar, suppressed_count integer, "
            "silenced_count integer, updated_at timestamptz"
        )
    }
ON CONFLICT (config_id, fingerprint) DO UPDATE
SET suppressed_count = alert_throttles.suppressed_count + excluded.suppressed_count,
    silenced_count = alert_throttles.silenced_count + excluded.silenced_count,
    updated_at = excluded.updated_at
RETURNING config_id, fingerprint, last_sent_at
"""
)
PG_RESUMMARISE = text(
    f"""UPDATE alert_throttles AS t
SET sent_count = t.sent_count + s.sent, suppressed_count = t.suppressed_count + s.supp,
    last_sent_at = coalesce(s.last, t.last_sent_at), updated_at = s.now
FROM (
    SELECT b_cfg, b_fp, sum(b_sent) AS sent, sum(b_supp) AS supp, max(b_last) AS last,
           max(b_now) AS now
    FROM {
        _recordset(
            "b_cfg integer, b_fp varchar, b_sent integer, b_supp integer, b_last timestamptz, "
            "b_now timestamptz"
        )
    }
    GROUP BY b_cfg, b_fp
) AS s
WHERE t.config_id = s.b_cfg AND t.fingerprint = s.b_fp
"""
)

PG_TRAIL = text(
    f"""INSERT INTO event_trail (tenant_id, received_at, event_id, event_ids, event_count,
                         alert_type, title, kinds, outcomes)
SELECT tenant_id, :received_at, event_id, event_ids, event_count, alert_type, title, kinds,
       outcomes
FROM {
        _recordset(
            "tenant_id integer, event_id varchar, event_ids uuid[], event_count integer, "
            "alert_type varchar, title varchar, kinds varchar, outcomes jsonb"
        )
    }"""
)


@functools.cache
def for_dialect(dialect: str) -> Statements:
    postgres = dialect == "postgresql"
    insert = pg_insert if postgres else sqlite_insert
    latest = (
        select(func.max(N.c.id))
        .where(N.c.config_id == bindparam("b_cfg"), N.c.fingerprint == bindparam("b_fp"))
        .scalar_subquery()
    )
    t = bindparam("b_t", type_=N.c.last_occurred_at.type)
    upsert = insert(T)
    pairs = tuple_(N.c.config_id, N.c.fingerprint).in_(bindparam("pairs", expanding=True))
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
        notify=PG_NOTIFY if postgres else None,
        fold=PG_FOLD
        if postgres
        else update(N)
        .where(N.c.id == latest, N.c.state != "resolved")  # only into an open alert (§13)
        .values(
            occurrence_count=N.c.occurrence_count + bindparam("b_n"),
            last_occurred_at=case((N.c.last_occurred_at < t, t), else_=N.c.last_occurred_at),
        ),
        summarise=PG_SUMMARISE
        if postgres
        else upsert.on_conflict_do_update(
            index_elements=["config_id", "fingerprint"],
            set_={
                "sent_count": T.c.sent_count + upsert.excluded.sent_count,
                "suppressed_count": T.c.suppressed_count + upsert.excluded.suppressed_count,
                "silenced_count": T.c.silenced_count + upsert.excluded.silenced_count,
                "last_sent_at": func.coalesce(upsert.excluded.last_sent_at, T.c.last_sent_at),
                "updated_at": upsert.excluded.updated_at,
            },
        ).returning(T.c.config_id, T.c.fingerprint, T.c.last_sent_at),
        resummarise=PG_RESUMMARISE
        if postgres
        else update(T)
        .where(T.c.config_id == bindparam("b_cfg"), T.c.fingerprint == bindparam("b_fp"))
        .values(
            sent_count=T.c.sent_count + bindparam("b_sent"),
            suppressed_count=T.c.suppressed_count + bindparam("b_supp"),
            last_sent_at=func.coalesce(
                bindparam("b_last", type_=T.c.last_sent_at.type), T.c.last_sent_at
            ),
            updated_at=bindparam("b_now", type_=T.c.updated_at.type),
        ),  # fmt: skip
        latest=select(N.c.config_id, N.c.fingerprint, N.c.event_id, N.c.state)
        .where(
            N.c.id.in_(
                select(func.max(N.c.id)).where(pairs).group_by(N.c.config_id, N.c.fingerprint)
            )
        )
        .order_by(N.c.id)
        .with_for_update(),
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
        trail=PG_TRAIL if postgres else EventTrail.__table__.insert(),
        bulk=postgres,
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
