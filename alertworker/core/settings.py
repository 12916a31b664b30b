"""The one settings object (SPEC §12), parsed and validated once from environment variables.

Flask, Celery, the CLI and the tests all build from :func:`load` (or :meth:`Settings.from_env`
with an explicit mapping). A bad value raises :class:`SettingsError` naming the variable, so a
misconfigured process fails at start, not on its first event.

Empty ``REDIS_URL`` means the embedded in-process stand-in (fakeredis); empty ``BROKER_URL``
means the broker `alertworker run` serves on 127.0.0.1 and announces in the data folder
(``alertworker.local_broker``); the default ``DATABASE_URL`` is a SQLite file in that folder.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


class SettingsError(ValueError):
    """A variable of the environment has a value alertworker cannot use."""


def data_dir() -> Path:
    """The embedded default's folder: ``ALERTWORKER_DATA_DIR``, else ``var/`` of the cwd."""
    return Path(os.environ.get("ALERTWORKER_DATA_DIR") or Path.cwd() / "var")


def _default_sqlite_url() -> str:
    return f"sqlite:///{data_dir() / 'alertworker.db'}"


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    redis_url: str = ""
    broker_url: str = ""  # empty: the broker of `alertworker run` (alertworker.local_broker)
    redis_key_prefix: str = "alertworker:"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = dataclasses.field(default="", repr=False)
    smtp_security: str = "none"
    smtp_from: str = "alertworker@localhost"
    public_base_url: str = "http://localhost:8000"
    outbound_allowlist: tuple[str, ...] = ()
    delivery_max_attempts: int = 8
    delivery_backoff_base_seconds: float = 10.0
    delivery_backoff_max_seconds: float = 3600.0
    delivery_lease_seconds: int = 300
    sweeper_interval_seconds: float = 60.0
    http_timeout_seconds: float = 10.0
    log_format: str = "text"
    worker_metrics_port: int = 0  # a worker serves /metrics here when set (0: off)
    notification_retention_days: int = 90
    throttle_provisional_seconds: float = 30.0  # how long an uncommitted decision may hold
    db_retry_max_seconds: float = 30.0  # longest wait between two tries while Postgres is away
    # SPEC §15: PagerDuty Events API v2 and Twilio's Messages API (auth token: never logged)
    pagerduty_events_url: str = "https://events.pagerduty.com/v2/enqueue"
    sms_api_url: str = "https://api.twilio.com"
    twilio_account_sid: str = ""
    twilio_auth_token: str = dataclasses.field(default="", repr=False)
    sms_from: str = ""
    escalation_interval_seconds: float = 15.0
    endpoint_failure_alert_after: int = 5  # consecutive failed deliveries -> delivery_failing
    trail_retention_hours: int = 72  # SPEC §17
    trail_enabled: bool = True  # off only to measure what the trail costs (the benchmark)
    # the API admits a token verified this recently without the database: a revocation takes
    # effect in every API process within this many seconds (0: every request asks Postgres)
    token_cache_seconds: float = 2.0

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            name = field.name.upper()
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                continue
            values[field.name] = _parse(name, field.type, raw.strip())
        settings = cls(**values)  # type: ignore[arg-type]
        if not settings.database_url:
            settings = dataclasses.replace(settings, database_url=_default_sqlite_url())
        settings = dataclasses.replace(
            settings, database_url=_normalise_db_url(settings.database_url)
        )
        _validate(settings)
        return settings

    def replace(self, **changes: object) -> Settings:
        new = dataclasses.replace(self, **changes)  # type: ignore[arg-type]
        _validate(new)
        return new


def load() -> Settings:
    """Settings from this process's environment."""
    return Settings.from_env()


def _parse(name: str, annotation: object, raw: str) -> object:
    kind = str(annotation)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            return {"true": True, "1": True, "yes": True, "false": False, "0": False,
                    "no": False}[raw.lower()]  # fmt: skip
    except (ValueError, KeyError):
        what = "true or false" if kind == "bool" else "a number"
        raise SettingsError(f"{name} must be {what}, got {raw!r}") from None
    if kind.startswith("tuple"):
        return tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    return raw


def _normalise_db_url(url: str) -> str:
    # SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3; we ship psycopg2 (FIELD-NOTES.md).
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg2://" + url[len(plain) :]
    return url


def _validate(s: Settings) -> None:
    def need(ok: bool, name: str, message: str) -> None:
        if not ok:
            raise SettingsError(f"{name} {message}")

    need(
        s.database_url.startswith(("sqlite", "postgresql+psycopg2://")),
        "DATABASE_URL",
        "must be a postgresql:// or sqlite:/// URL",
    )
    need(
        not s.redis_url or urlsplit(s.redis_url).scheme in ("redis", "rediss", "unix"),
        "REDIS_URL",
        "must be a redis:// URL (or empty for the embedded stand-in)",
    )
    need(
        not s.broker_url
        or urlsplit(s.broker_url).scheme in ("redis", "rediss", "amqp", "pyamqp", "memory"),
        "BROKER_URL",
        "must be a redis://, amqp:// or memory:// URL (or empty for `alertworker run`'s)",
    )
    need(bool(s.redis_key_prefix), "REDIS_KEY_PREFIX", "must not be empty")
    need(
        s.smtp_security in ("none", "starttls", "ssl"),
        "SMTP_SECURITY",
        "must be none, starttls or ssl",
    )
    need(0 < s.smtp_port < 65536, "SMTP_PORT", "must be a TCP port")
    need(
        urlsplit(s.public_base_url).scheme in ("http", "https"),
        "PUBLIC_BASE_URL",
        "must be an http(s) URL",
    )
    need(1 <= s.delivery_max_attempts <= 100, "DELIVERY_MAX_ATTEMPTS", "must be 1..100")
    need(s.delivery_backoff_base_seconds > 0, "DELIVERY_BACKOFF_BASE_SECONDS", "must be > 0")
    need(
        s.delivery_backoff_max_seconds >= s.delivery_backoff_base_seconds,
        "DELIVERY_BACKOFF_MAX_SECONDS",
        "must be >= DELIVERY_BACKOFF_BASE_SECONDS",
    )
    need(s.delivery_lease_seconds >= 5, "DELIVERY_LEASE_SECONDS", "must be >= 5")
    need(0 <= s.token_cache_seconds <= 60, "TOKEN_CACHE_SECONDS", "must be 0..60")
    need(s.sweeper_interval_seconds > 0, "SWEEPER_INTERVAL_SECONDS", "must be > 0")
    need(0 < s.http_timeout_seconds <= 300, "HTTP_TIMEOUT_SECONDS", "must be in (0, 300]")
    need(s.log_format in ("text", "json"), "LOG_FORMAT", "must be text or json")
    need(0 <= s.worker_metrics_port < 65536, "WORKER_METRICS_PORT", "must be a TCP port or 0")
    for name, url in (("PAGERDUTY_EVENTS_URL", s.pagerduty_events_url),
                      ("SMS_API_URL", s.sms_api_url)):  # fmt: skip
        need(urlsplit(url).scheme in ("http", "https"), name, "must be an http(s) URL")
    need(s.twilio_account_sid.isalnum() or not s.twilio_account_sid, "TWILIO_ACCOUNT_SID",
         "must be letters and digits (AC…)")  # fmt: skip
    need(s.notification_retention_days >= 1, "NOTIFICATION_RETENTION_DAYS", "must be >= 1")
    need(s.trail_retention_hours >= 1, "TRAIL_RETENTION_HOURS", "must be >= 1")
    need(
        0 < s.throttle_provisional_seconds <= 300,
        "THROTTLE_PROVISIONAL_SECONDS",
        "must be in (0, 300]",
    )
    need(0 < s.db_retry_max_seconds <= 60, "DB_RETRY_MAX_SECONDS", "must be in (0, 60]")
    need(s.escalation_interval_seconds > 0, "ESCALATION_INTERVAL_SECONDS", "must be > 0")
    need(
        1 <= s.endpoint_failure_alert_after <= 1000,
        "ENDPOINT_FAILURE_ALERT_AFTER",
        "must be 1..1000",
    )
