"""Engine and session factory, the declarative base and the portable column types.

Every timestamp is a timezone-aware UTC ``datetime`` in Python, whatever the backend stores
(SQLite keeps naive text; :class:`UTCDateTime` puts the zone back). JSON is JSONB on Postgres
and JSON text elsewhere. Constraint names follow one convention so Alembic can drop them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import JSON, Connection, DateTime, MetaData, Table, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from alertworker.core.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSONType, list[Any]: JSONType}
    if TYPE_CHECKING:  # every model here maps a Table (SQLAlchemy types it as a FromClause)
        __table__: ClassVar[Table]


def make_engine(
    settings: Settings, *, pre_ping: bool = True, relaxed_commit: bool = False
) -> Engine:
    """The engine for the settings' database.

    Workers pass ``pre_ping=False`` to save a round trip per checkout: their tasks retry on
    database errors, and the first error after a restart invalidates the pool.
    ``relaxed_commit=True`` (Postgres) commits without waiting for the WAL flush: for writes
    whose loss in a crash costs a repeat, never a loss (delivery bookkeeping: a lost commit
    means a re-send under the same Idempotency-Key). Ingest commits always wait.
    """
    url = settings.database_url
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # hide_parameters: values (which may be secrets) never appear in error messages or logs
    options = {"options": "-c synchronous_commit=off"} if relaxed_commit else {}
    return create_engine(
        url,
        pool_pre_ping=pre_ping,
        pool_size=5,
        max_overflow=5,
        hide_parameters=True,
        connect_args=options,
    )


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(settings: Settings) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return cfg


def migrate(settings: Settings, revision: str = "head", *, down: bool = False) -> None:
    """Migrate the settings' database to ``revision`` (down to it with ``down=True``)."""
    cfg = alembic_config(settings)
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            sqlite_foreign_keys_off(conn)
            with conn.begin():
                cfg.attributes["connection"] = conn
                (command.downgrade if down else command.upgrade)(cfg, revision)
    finally:
        engine.dispose()


def sqlite_foreign_keys_off(conn: Any) -> None:
    """Batch migrations recreate SQLite tables: with foreign keys on, dropping a parent table
    would cascade into its children's rows. The pragma only works outside a transaction."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.commit()  # end the autobegun transaction: the migration begins its own


def dialect_insert(session: Session, table: Any) -> Any:
    """``INSERT`` with ``on_conflict_*`` for the session's backend (Postgres or SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(table)
    return sqlite_insert(table)


@contextmanager
def statements_commit(session: Session) -> Iterator[Connection]:
    """The session's connection where, on Postgres, each statement commits by itself: no
    BEGIN and no COMMIT round trip (for single statements that are atomic on their own).

    psycopg2's ``autocommit`` is set directly and put back before the connection leaves:
    SQLAlchemy's ``isolation_level="AUTOCOMMIT"`` option would put it back with a
    ``SET default_transaction_isolation``, one round trip more. Call it on a session that
    has not run a statement yet. Elsewhere (SQLite) the session's connection as it is.
    """
    conn = session.connection()
    raw = conn.connection.dbapi_connection
    if conn.dialect.name != "postgresql" or raw is None:
        yield conn
        return
    raw.autocommit = True
    try:
        yield conn
    finally:
        raw.autocommit = False
