"""API tokens (SPEC §6): created by the CLI, stored only as SHA-256 hashes, owned by a user.

A token is ``aw_`` plus 43 URL-safe random characters. Its plaintext is returned once by
:func:`create_token` and never stored or logged; the row keeps the hash and a short,
non-secret ``prefix`` (the first 11 characters) so operators can tell tokens apart and revoke
one. :func:`verify_token` finds the row by hash and compares in constant time; a
:class:`TokenCache` in front of it spares the database the tokens checked a moment ago.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta

from marshmallow import ValidationError, validate
from sqlalchemy import bindparam, false, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alertworker.core.db import statements_commit, utcnow
from alertworker.core.models import ApiToken, Tenant, User
from alertworker.schemas import SLUG

log = logging.getLogger(__name__)

SCOPES: tuple[str, ...] = ("alerts:read", "alerts:write", "events:write")
TOKEN_PREFIX = "aw_"
DISPLAY_PREFIX_LEN = 11
_LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's tenant, user and scopes."""

    token_id: int
    tenant_id: int
    tenant_slug: str
    user_id: int
    scopes: frozenset[str]


class TokenError(ValueError):
    """A token cannot be created or revoked as asked."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def parse_scopes(text: str | list[str]) -> list[str]:
    """``"a,b"`` (or a list) to a list of known scopes; raises :class:`TokenError` otherwise."""
    items = text.split(",") if isinstance(text, str) else text
    scopes = list(dict.fromkeys(s.strip() for s in items if s.strip()))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise TokenError(f"scopes must be a non-empty subset of {', '.join(SCOPES)}; got {text!r}")
    return scopes


def ensure_user(session: Session, tenant_slug: str, email: str) -> User:
    """The user ``email`` of tenant ``tenant_slug``, creating both as needed (not committed)."""
    try:
        SLUG(tenant_slug)
    except ValidationError as exc:
        raise TokenError(f"tenant {exc.messages[0]}") from None
    try:
        validate.Email()(email)
    except ValidationError:
        raise TokenError(f"not an email address: {email!r}") from None
    tenant = session.scalar(select(Tenant).where(Tenant.slug == tenant_slug))
    if tenant is None:
        tenant = Tenant(slug=tenant_slug, name=tenant_slug)
        session.add(tenant)
        session.flush()
    user = session.scalar(select(User).where(User.tenant_id == tenant.id, User.email == email))
    if user is None:
        user = User(tenant_id=tenant.id, email=email)
        session.add(user)
        session.flush()
    return user


def create_token(
    session: Session, tenant_slug: str, email: str, scopes: str | list[str]
) -> tuple[ApiToken, str]:
    """Create a token (and its tenant and user if needed); returns the row and the plaintext."""
    scope_list = parse_scopes(scopes)
    try:
        user = ensure_user(session, tenant_slug, email)
    except IntegrityError:  # a concurrent create of the same tenant or user: take theirs
        session.rollback()
        user = ensure_user(session, tenant_slug, email)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        tenant_id=user.tenant_id,
        user_id=user.id,
        token_hash=hash_token(token),
        prefix=token[:DISPLAY_PREFIX_LEN],
        scopes=scope_list,
    )
    session.add(row)
    session.commit()
    log.info(
        "created token %s (id %d) for user %d of tenant %s",
        row.prefix,
        row.id,
        user.id,
        tenant_slug,
    )
    return row, token


def verify_token(session: Session, token: str) -> Principal | None:
    """The principal of a valid, unrevoked token, or None.

    One prebuilt statement; on a session that has not begun a transaction it runs in
    autocommit, so a request's check costs a single round trip (no BEGIN, no ROLLBACK)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = hash_token(token)
    fresh = not session.in_transaction()
    with statements_commit(session) if fresh else nullcontext(session.connection()) as conn:
        row = conn.execute(_LOOKUP, {"digest": digest}).first()
        if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at:
            return None
        now = utcnow()
        touch = row.last_used_at is None or now - row.last_used_at > _LAST_USED_RESOLUTION
        if touch:
            conn.execute(_TOUCH, {"token_id": row.id, "now": now})
    if touch:
        session.commit()  # (a fresh session's touch committed by itself already)
    return Principal(
        token_id=row.id,
        tenant_id=row.tenant_id,
        tenant_slug=row.slug,
        user_id=row.user_id,
        scopes=frozenset(row.scopes),
    )


_T = ApiToken.__table__
_LOOKUP = (
    select(
        _T.c.id,
        _T.c.tenant_id,
        _T.c.user_id,
        _T.c.token_hash,
        _T.c.scopes,
        _T.c.last_used_at,
        _T.c.revoked_at,
        Tenant.__table__.c.slug,
    )  # fmt: skip
    .join(Tenant.__table__, Tenant.__table__.c.id == _T.c.tenant_id)
    .where(_T.c.token_hash == bindparam("digest"))
)
_TOUCH = (
    update(_T)
    .where(_T.c.id == bindparam("token_id"))
    .values(last_used_at=bindparam("now", type_=_T.c.last_used_at.type))
)


class TokenCache:
    """The principals of the tokens verified in the last ``ttl`` seconds, by the token's hash.

    A request whose token was verified less than ``ttl`` seconds ago in this process is
    admitted without asking the database; so a token revoked meanwhile is still admitted until
    its entry is ``ttl`` old: that is how late a revocation can take effect (the API's
    ``TOKEN_CACHE_SECONDS``; 0 asks the database every time). Tokens found invalid are never
    cached: a new token works at once. At most ``max_entries`` are kept."""

    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, token: str) -> Principal | None:
        if self.ttl <= 0:
            return None
        entry = self._entries.get(hash_token(token))
        if entry is None or entry[0] <= self.clock():
            return None
        return entry[1]

    def put(self, token: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        now = self.clock()
        if len(self._entries) >= self.max_entries:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
        self._entries[hash_token(token)] = (now + self.ttl, principal)


def revoke_token(session: Session, ref: str) -> ApiToken:
    """Revoke the token whose id or display prefix is ``ref``; raises :class:`TokenError`."""
    query = select(ApiToken)
    shown = ref[:DISPLAY_PREFIX_LEN]  # never echo more of a token than its prefix
    if ref.isdigit():
        query = query.where(ApiToken.id == int(ref)) if int(ref) < 2**31 else query.where(false())
    else:
        query = query.where(ApiToken.prefix == ref[:DISPLAY_PREFIX_LEN])
    rows = session.scalars(query).all()
    if not rows:
        raise TokenError(f"no token {shown!r}")
    if len(rows) > 1:
        raise TokenError(f"{len(rows)} tokens share prefix {shown!r}; revoke by id")
    row = rows[0]
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.commit()
        log.info("revoked token %s (id %d)", row.prefix, row.id)
    return row
