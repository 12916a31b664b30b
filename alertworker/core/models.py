"""Typed SQLAlchemy 2 models of SPEC §9. Nullability lives in the ``Mapped[...]`` type only.

Every row belongs to a tenant (directly or through its parent). Enumerated columns are
portable VARCHARs with named CHECK constraints, so the same migration runs on SQLite.
Any change to a tenant's alert configs bumps ``tenants.config_version`` in the same flush;
the pipeline's config cache compares that number to know when to reload.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Enum,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import (
    Mapped,
    Session,
    backref,
    column_property,
    mapped_column,
    relationship,
)

from alertworker.core.catalog import (
    ALERT_TYPES,
    ATTEMPT_OUTCOMES,
    CHANNELS,
    DELIVERY_KINDS,
    DELIVERY_STATUSES,
    NOTIFICATION_STATES,
    RESOLVE_REASONS,
    SEVERITIES,
)
from alertworker.core.db import Base, utcnow

DIGEST_STATUSES = ("pending", "sending", "sent", "failed", "empty")


def _enum(values: tuple[str, ...] | list[str], name: str) -> Enum:
    return Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


SeverityType = _enum(SEVERITIES, "severity")
AlertTypeType = _enum(list(ALERT_TYPES), "alert_type")
ChannelType = _enum(CHANNELS, "channel")
DeliveryStatusType = _enum(DELIVERY_STATUSES, "delivery_status")
DigestType = _enum(("off", "hourly", "daily"), "digest")
DigestStatusType = _enum(DIGEST_STATUSES, "digest_status")
StateType = _enum(NOTIFICATION_STATES, "notification_state")
ResolveReasonType = _enum(RESOLVE_REASONS, "resolve_reason")
DeliveryKindType = _enum(DELIVERY_KINDS, "delivery_kind")
EscalationStateType = _enum(("running", "stopped", "finished"), "escalation_state")


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    config_version: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AlertConfig(Base):
    __tablename__ = "alert_configs"
    __table_args__ = (Index(None, "tenant_id", "alert_type", "is_active"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    alert_type: Mapped[str] = mapped_column(AlertTypeType)
    severity: Mapped[str] = mapped_column(SeverityType)
    is_active: Mapped[bool] = mapped_column(default=True)
    channels: Mapped[list[Any]]
    channel_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cooldown_minutes: Mapped[int] = mapped_column(default=15)
    max_alerts_per_hour: Mapped[int] = mapped_column(default=10)
    group_similar: Mapped[bool] = mapped_column(default=True)
    group_by: Mapped[list[Any]] = mapped_column(default=lambda: ["provider_name"])
    conditions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    auto_resolve_minutes: Mapped[int] = mapped_column(default=0, server_default="0")
    notify_on_resolve: Mapped[bool] = mapped_column(default=True, server_default=true())
    escalation_policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("escalation_policies.id", ondelete="RESTRICT"), index=True
    )  # SPEC §14: in use, the policy cannot be deleted
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    if TYPE_CHECKING:
        last_fired_at: Mapped[datetime | None]  # below AlertNotification: computed, deferred


class AlertNotification(Base):
    __tablename__ = "alert_notifications"
    __table_args__ = (
        UniqueConstraint("config_id", "event_id"),
        Index(None, "tenant_id", "id"),
        Index(None, "tenant_id", "read_at"),
        Index(None, "config_id", "fingerprint", "id"),
        Index(None, "triggered_at"),
        Index(None, "tenant_id", "state", "id"),
        Index(None, "config_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    config_id: Mapped[int | None] = mapped_column(
        ForeignKey("alert_configs.id", ondelete="SET NULL")
    )
    event_id: Mapped[str] = mapped_column(String(64))
    alert_type: Mapped[str] = mapped_column(AlertTypeType)
    severity: Mapped[str] = mapped_column(SeverityType)
    source_severity: Mapped[str | None] = mapped_column(_enum(SEVERITIES, "source_severity"))
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text, default="")
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fingerprint: Mapped[str] = mapped_column(String(64))
    occurrence_count: Mapped[int] = mapped_column(default=1)
    suppressed_since_last: Mapped[int] = mapped_column(default=0)
    is_test: Mapped[bool] = mapped_column(default=False)
    occurred_at: Mapped[datetime]
    last_occurred_at: Mapped[datetime]
    triggered_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(StateType, default="firing", server_default="firing")
    resolved_at: Mapped[datetime | None]
    resolve_reason: Mapped[str | None] = mapped_column(ResolveReasonType)
    resolved_by_event_id: Mapped[str | None] = mapped_column(String(64))
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # SPEC §14, see ``escalation``: steps run so far, when the next is due, and the state
    escalation_policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("escalation_policies.id", ondelete="SET NULL")
    )
    escalation_step: Mapped[int | None]
    escalation_next_at: Mapped[datetime | None] = mapped_column(index=True)
    escalation_state: Mapped[str | None] = mapped_column(EscalationStateType)

    deliveries: Mapped[list[NotificationDelivery]] = relationship(
        back_populates="notification", order_by="NotificationDelivery.id"
    )


# When a config last fired (its newest notification), for the admin page's cards. Deferred:
# loaded only when read (the API lists undefer it), never by the pipeline's config loads.
AlertConfig.last_fired_at = column_property(
    select(func.max(AlertNotification.triggered_at))
    .where(AlertNotification.config_id == AlertConfig.id)
    .correlate_except(AlertNotification)
    .scalar_subquery(),
    deferred=True,
)


class NotificationDelivery(Base):
    """One (notification, channel, recipient, kind): email has a row per configured recipient
    and sms one per number, so a user's preferences (§8) decide each one; other channels have
    ``recipient`` ``""``. ``kind`` is what it carries: the trigger, or the resolve (§13)."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        # one row per destination and kind; escalation rows (one per step's target) are exempt
        Index(
            "uq_notification_deliveries_destination_kind",
            "notification_id",
            "channel",
            "recipient",
            "kind",
            unique=True,
            postgresql_where=text("escalation_step IS NULL"),
            sqlite_where=text("escalation_step IS NULL"),
        ),
        Index(None, "status", "next_attempt_at"),
        Index(None, "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("alert_notifications.id", ondelete="CASCADE")
    )
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(ChannelType)
    recipient: Mapped[str] = mapped_column(String(320), default="", server_default="")
    kind: Mapped[str] = mapped_column(DeliveryKindType, default="trigger", server_default="trigger")
    status: Mapped[str] = mapped_column(DeliveryStatusType, default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None]
    next_attempt_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    digest_id: Mapped[int | None] = mapped_column(
        ForeignKey("notification_digests.id", ondelete="SET NULL"), index=True
    )
    escalation_step: Mapped[int | None]  # SPEC §14: the 1-based step that made this row
    escalation_target: Mapped[dict[str, Any] | None]  # that target's channel config (secrets)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    notification: Mapped[AlertNotification] = relationship(back_populates="deliveries")


class NotificationDigest(Base):
    """One summary email per (user, period) (§8): the unique constraint is the claim that makes
    it one, whatever the number of workers and beats. Created when its first item is digested."""

    __tablename__ = "notification_digests"
    __table_args__ = (
        UniqueConstraint("user_id", "period_start"),
        Index(None, "status", "send_after"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    frequency: Mapped[str] = mapped_column(DigestType)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    send_after: Mapped[datetime]  # period_end, pushed past the user's quiet hours
    status: Mapped[str] = mapped_column(DigestStatusType, default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    item_count: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_expires_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AlertThrottle(Base):
    """Durable summary of throttling per (config, fingerprint); Redis holds the live state."""

    __tablename__ = "alert_throttles"

    config_id: Mapped[int] = mapped_column(
        ForeignKey("alert_configs.id", ondelete="CASCADE"), primary_key=True
    )
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_sent_at: Mapped[datetime | None]
    sent_count: Mapped[int] = mapped_column(default=0)
    suppressed_count: Mapped[int] = mapped_column(default=0)
    silenced_count: Mapped[int] = mapped_column(default=0, server_default="0")  # §16: and inhibited
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class NotificationPreference(Base):
    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    email_enabled: Mapped[bool] = mapped_column(default=True)
    slack_enabled: Mapped[bool] = mapped_column(default=True)
    webhook_enabled: Mapped[bool] = mapped_column(default=True)
    sms_enabled: Mapped[bool] = mapped_column(default=True, server_default=true())
    phone: Mapped[str | None] = mapped_column(String(16))  # E.164: the user's SMS number
    min_severity: Mapped[str] = mapped_column(SeverityType, default="info")
    quiet_hours: Mapped[dict[str, Any] | None]
    digest: Mapped[str] = mapped_column(DigestType, default="off")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RejectedEvent(Base):
    """An event or broker message that could not be processed, and why (SPEC §3)."""

    __tablename__ = "rejected_events"
    __table_args__ = (Index(None, "received_at"), Index(None, "tenant_slug", "received_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    tenant_slug: Mapped[str | None] = mapped_column(String(64))
    event_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)


@event.listens_for(Session, "before_flush")
def _bump_config_version(session: Session, _ctx: Any, _instances: Any) -> None:
    tenant_ids = {
        obj.tenant_id
        for obj in (*session.new, *session.dirty, *session.deleted)
        if isinstance(obj, AlertConfig | EscalationPolicy) and obj.tenant_id is not None
    }
    if tenant_ids:
        session.execute(
            update(Tenant)
            .where(Tenant.id.in_(tenant_ids))
            .values(config_version=Tenant.config_version + 1)
        )


class EscalationPolicy(Base):
    """SPEC §14: steps of ``{delay_minutes, targets}`` and ``repeat`` (``schemas.escalation``).
    A change bumps the tenant's ``config_version``: the pipeline caches the first delay."""

    __tablename__ = "escalation_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    steps: Mapped[list[Any]]
    repeat: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- §16 silences and inhibition -------------------------------------------------------------


class Silence(Base):
    """Events matching every matcher between ``starts_at`` and ``ends_at`` are not notified
    (SPEC §16); the state (pending, active, expired) is derived from the two times."""

    __tablename__ = "silences"
    __table_args__ = (Index(None, "tenant_id", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    matchers: Mapped[list[Any]]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    comment: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OnCallSchedule(Base):
    """SPEC §14: layers and overrides in their validated JSON form (``schedules.from_data``)."""

    __tablename__ = "oncall_schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    layers: Mapped[list[Any]]
    overrides: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InhibitRule(Base):
    """While an open notification matches ``source``, events matching ``target`` with the same
    ``equal`` values are not notified (SPEC §16)."""

    __tablename__ = "inhibit_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    source: Mapped[list[Any]]
    target: Mapped[list[Any]]
    equal: Mapped[list[Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


@event.listens_for(Session, "before_flush")
def _bump_version_for_silencing(session: Session, _ctx: Any, _instances: Any) -> None:
    """Silences and rules are cached with the configs: a write bumps ``config_version`` too."""
    tenant_ids = {
        obj.tenant_id
        for obj in (*session.new, *session.dirty, *session.deleted)
        if isinstance(obj, Silence | InhibitRule) and obj.tenant_id is not None
    }
    if tenant_ids:
        session.execute(
            update(Tenant)
            .where(Tenant.id.in_(tenant_ids))
            .values(config_version=Tenant.config_version + 1)
        )


# --- delivery operations (SPEC §18) ---------------------------------------------------------


class DeliveryAttempt(Base):
    """One send attempt of a delivery; ``error`` is the row's scrubbed error, cut to 500."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (Index(None, "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("notification_deliveries.id", ondelete="CASCADE")
    )
    attempt: Mapped[int]
    started_at: Mapped[datetime]
    duration_ms: Mapped[int]
    status_code: Mapped[int | None]
    outcome: Mapped[str] = mapped_column(_enum(ATTEMPT_OUTCOMES, "attempt_outcome"))
    error: Mapped[str | None] = mapped_column(Text)


class EndpointHealth(Base):
    """Per destination (config, channel): consecutive failed deliveries (a success resets the
    count) and ``last_alerted_at``, the durable claim of at most one delivery_failing a day.
    ``channel`` is a plain string: the channel list grows (SPEC §15) without touching this."""

    __tablename__ = "endpoint_health"

    config_id: Mapped[int] = mapped_column(
        ForeignKey("alert_configs.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_alerted_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    config: Mapped[AlertConfig] = relationship(
        backref=backref("health", order_by="EndpointHealth.channel", passive_deletes=True)
    )


# --- the trail (SPEC §17) ---------------------------------------------------------------------

# Postgres: uuid[] (16 bytes an id) behind a GIN index; SQLite: a JSON list, searched as text.
EventIdsType = JSON().with_variant(ARRAY(UUID(as_uuid=False)), "postgresql")


class EventTrail(Base):
    """What became of events, per config considered: one row per batch and set of events
    whose outcomes are the same, so a storm coalesced in a batch is one row for all its event
    ids (``event_ids``; ``event_id`` is the first). ``kinds`` lists the outcomes between
    spaces (`` notified cooldown ``) for the list's filter; see ``alertworker.ingest.trail``."""

    __tablename__ = "event_trail"
    __table_args__ = (
        Index(None, "tenant_id", "id"),
        Index(None, "received_at"),
        Index("ix_event_trail_event_ids", "event_ids", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    received_at: Mapped[datetime]
    event_id: Mapped[str] = mapped_column(String(64))
    event_ids: Mapped[list[str]] = mapped_column(EventIdsType)
    event_count: Mapped[int]
    alert_type: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(200))
    kinds: Mapped[str] = mapped_column(String(400))
    outcomes: Mapped[list[Any]]
