"""The ``alertworker`` console script (SPEC §12)."""

from __future__ import annotations

import click

from alertworker.db import migrate as run_migrations
from alertworker.settings import SettingsError, load


def _settings():
    try:
        return load()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


@click.group()
def main() -> None:
    """alertworker: alert and notification service for an AI gateway."""


@main.command()
@click.option("--revision", default="head", show_default=True)
def migrate(revision: str) -> None:
    """Upgrade the database (DATABASE_URL) to REVISION."""
    settings = _settings()
    run_migrations(settings, revision)
    click.echo(f"database at {revision}")


def _session(settings):
    from alertworker.db import make_engine, make_session_factory

    engine = make_engine(settings)
    return engine, make_session_factory(engine)()


@main.command("create-token")
@click.option("--tenant", required=True, help="Tenant slug (created if new).")
@click.option("--email", required=True, help="The token's user (created if new).")
@click.option(
    "--scopes",
    default="alerts:read,alerts:write,events:write",
    show_default=True,
    help="Comma-separated subset of alerts:read, alerts:write, events:write.",
)
def create_token(tenant: str, email: str, scopes: str) -> None:
    """Create an API token; prints it alone on the last line (it is shown only once)."""
    from alertworker.auth import TokenError
    from alertworker.auth import create_token as create

    engine, session = _session(_settings())
    try:
        row, token = create(session, tenant, email, scopes)
    except TokenError as exc:
        raise click.UsageError(str(exc)) from None
    finally:
        session.close()
        engine.dispose()
    click.echo(f"token {row.prefix}… (id {row.id}) for {email} of tenant {tenant}, "
               f"scopes {','.join(row.scopes)}; store it now, it is not shown again:")
    click.echo(token)


@main.command("revoke-token")
@click.argument("ref")
def revoke_token(ref: str) -> None:
    """Revoke the token whose id or display prefix (e.g. aw_Ab12Cd34) is REF."""
    from alertworker.auth import TokenError
    from alertworker.auth import revoke_token as revoke

    engine, session = _session(_settings())
    try:
        row = revoke(session, ref)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        session.close()
        engine.dispose()
    click.echo(f"token {row.prefix}… (id {row.id}) revoked at {row.revoked_at:%Y-%m-%d %H:%M:%S}Z")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64))
def run(host: str, port: int, concurrency: int) -> None:
    """Run the API, a worker and beat in one process (the embedded default, or DATABASE_URL,
    REDIS_URL and BROKER_URL when set), and print the URL and a fresh admin token."""
    from alertworker.embedded import run as run_embedded

    run_embedded(_settings(), host, port, concurrency)
