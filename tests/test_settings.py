import pytest

from alertworker.core.settings import Settings, SettingsError


def test_defaults_are_the_embedded_service():
    s = Settings.from_env({})
    assert s.database_url.startswith("sqlite:///") and s.embedded_redis
    assert s.broker_url == "" and s.redis_key_prefix == "alertworker:"  # `alertworker run`'s
    assert (s.delivery_max_attempts, s.delivery_lease_seconds, s.http_timeout_seconds) == (
        8,
        300,
        10,
    )


def test_values_are_parsed_and_postgres_urls_use_psycopg2():
    s = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@h/db",
            "OUTBOUND_ALLOWLIST": " 127.0.0.1, LocalHost ,,",
            "DELIVERY_MAX_ATTEMPTS": "3",
            "HTTP_TIMEOUT_SECONDS": "2.5",
        }
    )
    assert s.database_url == "postgresql+psycopg2://u@h/db"
    assert s.outbound_allowlist == ("127.0.0.1", "localhost")
    assert (s.delivery_max_attempts, s.http_timeout_seconds) == (3, 2.5)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DELIVERY_MAX_ATTEMPTS", "many"),
        ("DELIVERY_MAX_ATTEMPTS", "0"),
        ("SMTP_SECURITY", "tls"),
        ("SMTP_PORT", "70000"),
        ("LOG_FORMAT", "xml"),
        ("BROKER_URL", "kafka://x"),
        ("DATABASE_URL", "mysql://x/y"),
        ("REDIS_URL", "http://x"),
        ("HTTP_TIMEOUT_SECONDS", "-1"),
        ("PUBLIC_BASE_URL", "ftp://x"),
        ("THROTTLE_PROVISIONAL_SECONDS", "0"),
        ("THROTTLE_PROVISIONAL_SECONDS", "301"),
        ("DB_RETRY_MAX_SECONDS", "120"),
    ],
)
def test_a_bad_value_fails_naming_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_smtp_password_is_not_in_repr():
    assert "hunter2" not in repr(Settings.from_env({"SMTP_PASSWORD": "hunter2"}))


def test_only_the_embedded_default_allows_loopback_receivers_by_default():
    from alertworker.embedded import LOOPBACK, _defaults

    assert _defaults(Settings.from_env({})) == {"OUTBOUND_ALLOWLIST": LOOPBACK}
    for env in (
        {"BROKER_URL": "redis://broker:6379/0"},
        {"REDIS_URL": "redis://redis:6379/0"},
        {"DATABASE_URL": "postgresql://db/alertworker"},
        {"OUTBOUND_ALLOWLIST": "hooks.internal"},
    ):
        assert _defaults(Settings.from_env(env)) == {}, env
