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
