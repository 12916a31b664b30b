"""The ``alertworker`` console script (SPEC §12)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from alertworker.core.db import migrate as run_migrations
from alertworker.core.settings import SettingsError, load


def _settings():
    try:
        return load()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


@click.group()
@click.version_option(package_name="alertworker", prog_name="alertworker")
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
    from alertworker.core.db import make_engine, make_session_factory

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
    from alertworker.tenants.auth import TokenError
    from alertworker.tenants.auth import create_token as create

    engine, session = _session(_settings())
    try:
        row, token = create(session, tenant, email, scopes)
    except TokenError as exc:
        raise click.UsageError(str(exc)) from None
    finally:
        session.close()
        engine.dispose()
    click.echo(
        f"token {row.prefix}… (id {row.id}) for {email} of tenant {tenant}, "
        f"scopes {','.join(row.scopes)}; store it now, it is not shown again:"
    )
    click.echo(token)


@main.command("revoke-token")
@click.argument("ref")
def revoke_token(ref: str) -> None:
    """Revoke the token whose id or display prefix (e.g. aw_Ab12Cd34) is REF."""
    from alertworker.tenants.auth import TokenError
    from alertworker.tenants.auth import revoke_token as revoke

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
@click.option(
    "--broker-port",
    default=0,
    type=click.IntRange(0, 65535),
    help="Port of the embedded broker on 127.0.0.1 without BROKER_URL [any free one].",
)
def run(host: str, port: int, concurrency: int, broker_port: int) -> None:
    """Run the API, a worker and beat in one process (the embedded default, or DATABASE_URL,
    REDIS_URL and BROKER_URL when set), and print the URL, a fresh admin token and the
    BROKER_URL for clients."""
    from alertworker.embedded import run as run_embedded

    try:
        run_embedded(_settings(), host, port, concurrency, broker_port)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option(
    "--http",
    is_flag=True,
    help="The compose stack (gunicorn, 2 workers, beat, RabbitMQ) measured over HTTP.",
)
@click.option(
    "--runs",
    type=click.IntRange(1, 9),
    default=1,
    show_default=True,
    help="With --http: run it this many times and report the medians.",
)
@click.option(
    "--events", type=click.IntRange(1), help="Storm size (throttled path) [100000; --http: 20000]."
)
@click.option(
    "--notify-events",
    type=click.IntRange(1),
    help="Notify path events [20000; --http: distinct events, 5000].",
)
@click.option("--latency-events", type=click.IntRange(1), help="Latency samples [500].")
@click.option("--rate", type=click.FloatRange(min=1), help="Latency publish rate, events/s [50].")
@click.option("--noop-tasks", type=click.IntRange(1), help="No-op tasks for the floor [5000].")
@click.option("--batch", type=click.IntRange(1, 500), help="Events per broker message [500].")
@click.option("--workers", type=click.IntRange(1, 64), help="Worker --concurrency [1].")
@click.option(
    "--silences",
    type=click.IntRange(0, 10_000),
    help="Run the storm again with this many silences loaded [0; --http: 50, on every tenant].",
)
@click.option(
    "--inhibit-rules",
    type=click.IntRange(0, 10_000),
    help="... and this many inhibition rules [0; --http: 20].",
)
@click.option("--smoke", is_flag=True, help="A few hundred events: checks counts, in seconds.")
@click.option("--admin-url", help="Postgres admin URL the bench database is created from.")
@click.option("--redis-url", help="Redis (throttle store and broker) [redis://127.0.0.1:6379/0].")
@click.option(
    "--broker-url",
    help="With --http: the broker [amqp://guest:guest@127.0.0.1:5672/, a private vhost].",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for bench-<timestamp>.json [bench-results].",
)
@click.option(
    "--profile",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --http: py-spy's raw stacks of each workload, per process, here.",
)
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@click.option("--keep-logs", is_flag=True, help="Keep the workers' logs (kept anyway on failure).")
def bench(
    http: bool, runs: int, smoke: bool, no_progress: bool, keep_logs: bool, **given: Any
) -> None:
    """Benchmark the throttled and notify paths and latency against a no-op Celery task, in a
    private database and key prefix; with --http, the compose stack from outside. Fails (exit 1)
    if anything published was lost."""
    from alertworker.bench import BenchFailure, Options, run
    from alertworker.bench.report import table

    common: dict[str, Any] = {"progress": not no_progress, "keep_logs": keep_logs}
    if http:
        _bench_http(smoke, runs, common, given)
        return
    if runs != 1 or given.pop("broker_url") is not None or given.pop("profile") is not None:
        raise click.UsageError("--runs, --broker-url and --profile need --http")
    names = {"rate": "latency_rate"}
    changes = {names.get(k, k): v for k, v in given.items() if v is not None}
    options = (Options.smoke if smoke else Options)(**common, **changes)
    try:
        results = run(options)
    except BenchFailure as exc:
        raise click.ClickException(f"benchmark refused, nothing reported: {exc}") from None
    click.echo(table(results))
    if "json" in results:
        click.echo(f"\nresults: {results['json']}")


def _bench_http(smoke: bool, runs: int, common: dict, given: dict) -> None:
    from alertworker.bench import BenchFailure
    from alertworker.bench.http import TARGETS, HttpOptions, headline, run_http, targets
    from alertworker.bench.report import http_table, medians, write_json

    unused = [f"--{k.replace('_', '-')}" for k in ("noop_tasks", "batch", "workers") if given[k]]
    if unused:
        raise click.UsageError(f"{', '.join(unused)}: not with --http (compose's set-up runs)")
    names = {"rate": "latency_rate", "events": "storm_events", "notify_events": "distinct_events"}
    changes = {names.get(k, k): v for k, v in given.items() if v is not None and k not in unused}
    options = (HttpOptions.smoke if smoke else HttpOptions)(**common, **changes)
    done = []
    try:
        for i in range(runs):
            if runs > 1:
                click.echo(f"run {i + 1} of {runs}", err=True)
            done.append(run_http(options))
    except BenchFailure as exc:
        raise click.ClickException(f"benchmark refused, nothing reported: {exc}") from None
    result = done[0]
    if runs > 1:
        result = medians(done)
        result["runs"] = [r.get("json") for r in done]
        figures = [headline(r) for r in done]
        result["ranges"] = {
            k: [min(f[k] for f in figures), max(f[k] for f in figures)] for k in figures[0]
        }
        result["targets"] = targets(result)
        if options.output is not None:
            result["json"] = str(write_json(result, options.output, "bench-http-medians"))
    click.echo(http_table(result, TARGETS))
    if "json" in result:
        click.echo(f"\nresults: {result['json']}")
