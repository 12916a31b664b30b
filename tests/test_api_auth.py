"""Bearer tokens: 401 without or with a bad/revoked token, 403 without the scope, hashes only."""

from __future__ import annotations

import hashlib
import time

import pytest
from sqlalchemy import select

from alertworker.core.models import ApiToken, Tenant, User
from alertworker.tenants.auth import (
    Principal,
    TokenCache,
    TokenError,
    create_token,
    parse_scopes,
    revoke_token,
    verify_token,
)
from api import create_app
from tests import test_api_support as support
from tests.test_api_support import API, assert_error

app, client, caller = support.app, support.client, support.caller
CONFIGS = f"{API}/admin/alerts/configs"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer aw_not-a-real-token",
        "Bearer " + "x" * 5000,
        "Token aw_abc",
    ],
)
def test_missing_or_bad_token_is_401(client, caller, header):
    caller()
    headers = {} if header is None else {"Authorization": header}
    r = client.get(CONFIGS, headers=headers)
    assert_error(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_scopes_are_enforced(client, caller):
    reader = caller(scopes=["alerts:read"])
    assert client.get(CONFIGS, headers=reader.h).status_code == 200
    error = assert_error(client.post(CONFIGS, json={}, headers=reader.h), 403, "forbidden")
    assert "alerts:write" in error["message"]
    writer = caller(scopes=["alerts:write"])
    assert_error(client.get(CONFIGS, headers=writer.h), 403)


def test_scheme_is_case_insensitive(client, caller):
    me = caller()
    assert client.get(CONFIGS, headers={"Authorization": f"bearer {me.token}"}).status_code == 200


def test_only_the_hash_is_stored(db, caller):
    me = caller()
    row = db.scalar(select(ApiToken))
    assert row.token_hash == hashlib.sha256(me.token.encode()).hexdigest()
    assert me.token not in (row.prefix, row.token_hash) and me.token.startswith(row.prefix)
    assert len(row.prefix) == 11


def test_create_token_makes_tenant_and_user_once(db):
    first, _ = create_token(db, "globex", "ops@globex.test", "alerts:read")
    second, _ = create_token(db, "globex", "ops@globex.test", ["alerts:read", "alerts:write"])
    assert first.user_id == second.user_id and first.tenant_id == second.tenant_id
    assert db.scalars(select(Tenant.slug)).all() == ["globex"]
    assert len(db.scalars(select(User)).all()) == 1


@pytest.mark.parametrize(
    ("tenant", "email", "scopes"),
    [
        ("acme", "ops@acme.test", "alerts:admin"),
        ("acme", "ops@acme.test", ""),
        ("bad slug!", "ops@acme.test", "alerts:read"),
        ("acme", "not-an-email", "alerts:read"),
    ],
)
def test_create_token_validates(db, tenant, email, scopes):
    with pytest.raises(TokenError):
        create_token(db, tenant, email, scopes)


def test_parse_scopes_dedupes():
    scopes = parse_scopes(" alerts:read,alerts:read , events:write")
    assert scopes == ["alerts:read", "events:write"]


@pytest.fixture
def client_with(settings):
    """A test client of an app whose token cache keeps entries ``ttl`` seconds."""
    apps = []

    def make(ttl: float):
        apps.append(create_app(settings.replace(token_cache_seconds=ttl)))
        return apps[-1].test_client()

    yield make
    for made in apps:
        made.extensions["alertworker"].close()


def test_revoked_token_is_401(client_with, caller, db):
    client = client_with(0)
    me = caller()
    assert client.get(CONFIGS, headers=me.h).status_code == 200
    revoke_token(db, me.token[:11])
    assert_error(client.get(CONFIGS, headers=me.h), 401)
    assert verify_token(db, me.token) is None


def test_a_revocation_takes_effect_within_the_token_cache_seconds(client_with, caller, db):
    client = client_with(0.3)
    me = caller()
    assert client.get(CONFIGS, headers=me.h).status_code == 200
    revoked = time.monotonic()
    revoke_token(db, me.token[:11])
    assert client.get(CONFIGS, headers=me.h).status_code == 200  # verified a moment ago
    while client.get(CONFIGS, headers=me.h).status_code == 200:
        assert time.monotonic() - revoked < 0.3
        time.sleep(0.02)
    assert_error(client.get(CONFIGS, headers=me.h), 401)


def test_token_cache_keeps_only_valid_tokens_for_ttl():
    now = [0.0]
    cache = TokenCache(2.0, max_entries=2, clock=lambda: now[0])
    who = Principal(1, 1, "acme", 1, frozenset({"events:write"}))
    assert cache.get("aw_x") is None
    cache.put("aw_x", who)
    assert cache.get("aw_x") is who and cache.get("aw_y") is None
    now[0] = 1.99
    assert cache.get("aw_x") is who
    now[0] = 2.0
    assert cache.get("aw_x") is None
    for token in ("aw_a", "aw_b", "aw_c"):  # bounded: the oldest go when it is full
        cache.put(token, who)
    assert len(cache._entries) <= 2 and cache.get("aw_c") is who
    off = TokenCache(0)
    off.put("aw_x", who)
    assert off.get("aw_x") is None


def test_revoke_by_id_and_errors(db, caller):
    caller()
    row = db.scalar(select(ApiToken))
    assert revoke_token(db, str(row.id)).revoked_at is not None
    with pytest.raises(TokenError):
        revoke_token(db, "aw_nope")
    with pytest.raises(TokenError):
        revoke_token(db, "99999999999999")


def test_verify_records_last_use(db, caller):
    me = caller()
    principal = verify_token(db, me.token)
    assert principal.tenant_slug == "acme" and principal.user_id == me.user_id
    assert db.scalar(select(ApiToken.last_used_at)) is not None
