"""The console script's token commands, via click's CliRunner on this run's database."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from alertworker.cli import main
from alertworker.core.models import ApiToken, Tenant, User
from alertworker.tenants.auth import verify_token


@pytest.fixture
def run(test_env, settings):
    runner = CliRunner()

    def _run(*args: str):
        return runner.invoke(main, list(args), env=test_env, catch_exceptions=False)

    return _run


def test_create_token_prints_the_token_alone_on_its_last_line(run, db):
    result = run(
        "create-token",
        "--tenant",
        "acme",
        "--email",
        "ops@acme.test",
        "--scopes",
        "alerts:read,events:write",
    )
    assert result.exit_code == 0, result.output
    token = result.output.rstrip("\n").splitlines()[-1]
    assert token.startswith("aw_") and " " not in token and len(token) > 40
    principal = verify_token(db, token)
    assert principal.scopes == {"alerts:read", "events:write"}
    assert db.scalar(select(Tenant.slug)) == "acme"
    assert db.scalar(select(User.email)) == "ops@acme.test"
    row = db.scalar(select(ApiToken))
    assert token not in row.token_hash and row.prefix in result.output


def test_create_token_defaults_to_every_scope_and_reuses_the_user(run, db):
    for _ in range(2):
        assert run("create-token", "--tenant", "acme", "--email", "ops@acme.test").exit_code == 0
    rows = db.scalars(select(ApiToken)).all()
    assert len(rows) == 2 and rows[0].user_id == rows[1].user_id
    assert set(rows[0].scopes) == {"alerts:read", "alerts:write", "events:write"}


@pytest.mark.parametrize(
    "args",
    [["--scopes", "alerts:admin"], ["--scopes", ""], ["--tenant", "bad slug"], ["--email", "nope"]],
)
def test_create_token_validates(run, db, args):
    base = {"--tenant": "acme", "--email": "ops@acme.test", "--scopes": "alerts:read"}
    base.update(zip(args[::2], args[1::2], strict=True))
    result = run("create-token", *[x for kv in base.items() for x in kv])
    assert result.exit_code == 2, result.output
    assert db.scalars(select(ApiToken)).all() == []


def test_revoke_token_by_prefix_and_by_id(run, db):
    first = run("create-token", "--tenant", "acme", "--email", "a@acme.test").output
    token = first.splitlines()[-1]
    result = run("revoke-token", token[:11])
    assert result.exit_code == 0 and "revoked" in result.output
    assert verify_token(db, token) is None
    second = run("create-token", "--tenant", "acme", "--email", "a@acme.test").output
    row = db.scalars(select(ApiToken).order_by(ApiToken.id.desc())).first()
    assert run("revoke-token", str(row.id)).exit_code == 0
    assert verify_token(db, second.splitlines()[-1]) is None


def test_revoke_unknown_token_fails(run):
    result = run("revoke-token", "aw_nothere")
    assert result.exit_code == 1 and "no token" in result.output


def test_version(run):
    result = run("--version")
    assert result.exit_code == 0 and result.output.startswith("alertworker, version ")
