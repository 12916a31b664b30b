"""Alert configs (SPEC §4): create, read, replace, patch and delete, always scoped by tenant.

Input arrives validated by ``schemas.ConfigSchema``. Secrets are write-only: the schema lets a
masked value (as responses show it) through, and :func:`restore_secrets` swaps it for the stored
one, so a client can send back what it read and keep its secrets. Writes go through the ORM so
the ``before_flush`` hook bumps the tenant's ``config_version`` for the pipeline's cache.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from alertworker.core.models import AlertConfig, EscalationPolicy
from alertworker.schemas import MAX_ID, check_config, is_masked

log = logging.getLogger(__name__)

FIELDS = (
    "name", "description", "alert_type", "severity", "is_active", "channels", "channel_config",
    "cooldown_minutes", "max_alerts_per_hour", "group_similar", "group_by", "conditions",
    "auto_resolve_minutes", "notify_on_resolve", "escalation_policy_id",
)  # fmt: skip
_NOTHING_STORED = "a masked value was sent but nothing is stored; send the full value"


class NotFoundError(LookupError):
    """No such row for this tenant (another tenant's rows do not exist, as far as it knows)."""


class ConflictError(Exception):
    """The change conflicts with the current state (e.g. deleting what is in use): 409."""


def list_configs(
    session: Session,
    tenant_id: int,
    *,
    alert_type: str | None = None,
    is_active: bool | None = None,
) -> list[AlertConfig]:
    query = (
        select(AlertConfig)
        .where(AlertConfig.tenant_id == tenant_id)
        .options(undefer(AlertConfig.last_fired_at))
    )
    if alert_type is not None:
        query = query.where(AlertConfig.alert_type == alert_type)
    if is_active is not None:
        query = query.where(AlertConfig.is_active == is_active)
    return list(session.scalars(query.order_by(AlertConfig.id)))


def get_owned(session: Session, model: Any, tenant_id: int, row_id: int, what: str) -> Any:
    """The tenant's row of ``model`` with ``row_id``; NotFoundError (404) otherwise."""
    row = None
    if 0 < row_id <= MAX_ID:
        row = session.scalar(select(model).where(model.id == row_id, model.tenant_id == tenant_id))
    if row is None:
        raise NotFoundError(f"no {what} {row_id}")
    return row


def get_config(session: Session, tenant_id: int, config_id: int) -> AlertConfig:
    return get_owned(session, AlertConfig, tenant_id, config_id, "alert config")


def create_config(session: Session, tenant_id: int, data: dict[str, Any]) -> AlertConfig:
    data = dict(data, channel_config=restore_secrets(data.get("channel_config") or {}, {}))
    _check_policy_id(session, tenant_id, data.get("escalation_policy_id"))
    config = AlertConfig(tenant_id=tenant_id, **{k: data[k] for k in FIELDS if k in data})
    session.add(config)
    session.commit()
    log.info("tenant %d created alert config %d (%s)", tenant_id, config.id, config.alert_type)
    return config


def replace_config(
    session: Session, tenant_id: int, config_id: int, data: dict[str, Any]
) -> AlertConfig:
    """PUT: every field from ``data`` (a full, validated config; ``is_active`` absent: kept)."""
    config = get_config(session, tenant_id, config_id)
    return _apply(session, config, data)


def patch_config(
    session: Session, tenant_id: int, config_id: int, changes: dict[str, Any]
) -> AlertConfig:
    """PATCH: the given top-level fields replace the stored ones; the result is re-validated."""
    config = get_config(session, tenant_id, config_id)
    merged = {k: copy.deepcopy(getattr(config, k)) for k in FIELDS} | changes
    if "alert_type" in changes and "conditions" not in changes:
        merged["conditions"] = {}  # the old type's conditions may not apply to the new one
    check_config(merged)
    return _apply(session, config, merged)


def delete_config(session: Session, tenant_id: int, config_id: int) -> None:
    config = get_config(session, tenant_id, config_id)
    session.delete(config)
    session.commit()
    log.info("tenant %d deleted alert config %d", tenant_id, config_id)


def _apply(session: Session, config: AlertConfig, data: dict[str, Any]) -> AlertConfig:
    stored = config.channel_config or {}
    _check_policy_id(session, config.tenant_id, data.get("escalation_policy_id"))
    data = dict(data, channel_config=restore_secrets(data.get("channel_config") or {}, stored))
    for key in FIELDS:
        if key in data:
            setattr(config, key, data[key])
    session.commit()
    log.info("tenant %d updated alert config %d", config.tenant_id, config.id)
    return config


def _check_policy_id(session: Session, tenant_id: int, policy_id: int | None) -> None:
    """``escalation_policy_id`` must be the tenant's own policy (SPEC §14; 422 otherwise)."""
    if policy_id is None:
        return
    found = session.scalar(
        select(EscalationPolicy.id).where(
            EscalationPolicy.id == policy_id, EscalationPolicy.tenant_id == tenant_id
        )
    )
    if found is None:
        raise ValidationError({"escalation_policy_id": [f"no escalation policy {policy_id}"]})


def restore_secrets(new: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """``new`` with each masked secret replaced by the stored one; 422 if nothing is stored."""
    new = copy.deepcopy(new)
    errors: dict[str, Any] = {}
    if (slack := new.get("slack")) and is_masked(slack.get("webhook_url")):
        kept = (stored.get("slack") or {}).get("webhook_url")
        if kept:
            slack["webhook_url"] = kept
        else:
            errors["slack"] = {"webhook_url": [_NOTHING_STORED]}
    if hook := new.get("webhook"):
        old = stored.get("webhook") or {}
        old_headers = old.get("headers") or {}
        for name, value in (hook.get("headers") or {}).items():
            if is_masked(value):
                if name in old_headers:
                    hook["headers"][name] = old_headers[name]
                else:
                    errors.setdefault("webhook", {}).setdefault("headers", {})[name] = [
                        _NOTHING_STORED
                    ]
        if is_masked(hook.get("secret")):
            if old.get("secret"):
                hook["secret"] = old["secret"]
            else:
                errors.setdefault("webhook", {})["secret"] = [_NOTHING_STORED]
    if (pagerduty := new.get("pagerduty")) and is_masked(pagerduty.get("routing_key")):
        kept = (stored.get("pagerduty") or {}).get("routing_key")
        if kept:
            pagerduty["routing_key"] = kept
        else:
            errors["pagerduty"] = {"routing_key": [_NOTHING_STORED]}
    if errors:
        raise ValidationError({"channel_config": errors})
    return new
