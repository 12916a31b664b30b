"""The tenant's users (SPEC §6, §14): listed and added by email, to put in schedules and policies.

Emails are compared case-insensitively: adding ``Ops@x`` when ``ops@x`` exists answers 409, as
the unique (tenant, email) constraint does for an exact repeat (a concurrent add included).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alertworker.core.models import User
from alertworker.tenants.configs import ConflictError

log = logging.getLogger(__name__)


def list_users(session: Session, tenant_id: int) -> list[User]:
    return list(session.scalars(select(User).where(User.tenant_id == tenant_id).order_by(User.id)))


def add_user(session: Session, tenant_id: int, email: str) -> User:
    taken = session.scalar(
        select(User.id).where(User.tenant_id == tenant_id, func.lower(User.email) == email.lower())
    )
    if taken is not None:
        raise ConflictError(f"user {email} exists (id {taken})")
    user = User(tenant_id=tenant_id, email=email)
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ConflictError(f"user {email} exists") from None
    log.info("tenant %d added user %d", tenant_id, user.id)
    return user


def emails(session: Session, tenant_id: int, user_ids: Iterable[int]) -> dict[int, str]:
    """The addresses of those of ``user_ids`` that are the tenant's users."""
    ids = set(user_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(User.id, User.email).where(User.tenant_id == tenant_id, User.id.in_(ids))
    )
    return {user_id: email for user_id, email in rows}


def email_of(session: Session, tenant_id: int, user_id: int) -> str | None:
    """The address of the tenant's user ``user_id`` (None if it is gone)."""
    return session.scalar(select(User.email).where(User.id == user_id, User.tenant_id == tenant_id))
