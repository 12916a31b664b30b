"""Alembic environment: the URL comes from alertworker's settings (DATABASE_URL), never the ini.

A caller may hand in a connection through ``config.attributes["connection"]`` (the CLI and the
tests do), otherwise one is opened from the settings. ALTERs run in batch mode so SQLite works.
"""

from alembic import context

from alertworker.core import models  # noqa: F401  (registers the tables on Base.metadata)
from alertworker.core.db import Base, make_engine, sqlite_foreign_keys_off
from alertworker.core.settings import load

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(load())
    with engine.connect() as conn:
        sqlite_foreign_keys_off(conn)
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=load().database_url, target_metadata=target_metadata, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
