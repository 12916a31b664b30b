"""``alertworker bench --http``: the whole service as compose runs it, measured from outside.

In a :class:`~alertworker.bench.stage.Stage` (private database, Redis key prefix, RabbitMQ vhost,
the keep-alive webhook receiver), the compose file's own commands run as subprocesses: migrate,
then the API (gunicorn, ``gunicorn.conf.py``), two processes of each ``celery worker`` service
(``worker``: events and periodic work; ``delivery``: the channels' queues; compose's flags,
``--hostname`` apart as two containers would be) and beat; "start" is the time from nothing to
all of them ready. Each workload gets its tenant (a token from ``alertworker create-token``), a
config made over the API (in-app + webhook to the receiver, auto-resolve on) and the silences
and inhibition rules of ``--silences/--inhibit-rules`` (:mod:`alertworker.bench.silencing`):

* storm: events over a few fingerprints, ``POST /api/v1/events`` in arrays, several client
  threads; accepted events/s (first request sent to last answered), processed events/s (until
  the throttle summary counts them all) and CPU per event;
* distinct: one notification and one webhook per event, same posting; delivered
  notifications/s (first request to the last webhook's first arrival), CPU per notification;
* latency: single events at a steady rate over HTTP, then with the Python client
  (``AlertPublisher``, one message per event), publish -> webhook received;
* post: single-event ``POST /events`` one after another (answered p50/p99), then from several
  clients at once (requests/s).

CPU is per group of processes over each workload's window (:mod:`alertworker.bench.cpu`). Every
workload is checked as the in-process mode checks it (:mod:`alertworker.bench.checks`); a run
that lost anything raises :class:`BenchFailure` and is not reported.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select

from alertworker.bench import report
from alertworker.bench.checks import BenchFailure, delivered_rows, unknown_arrivals, verify
from alertworker.bench.cpu import Meter, find_process
from alertworker.bench.latency import WARMUP, percentile
from alertworker.bench.phases import alert_event, last_first_arrival, poll
from alertworker.bench.procs import BIN, ROOT, Worker, compose_command, worker_services
from alertworker.bench.report import Progress
from alertworker.bench.silencing import loader
from alertworker.bench.stage import Stage, _free_port
from alertworker.core.models import AlertThrottle as T

GROUPS = ("ours", "api", "workers", "beat", "postgres", "redis", "rabbitmq", "bench")
# The targets (#17), same machine kind, medians of several runs.
TARGETS: dict[str, tuple[str, float]] = {
    "storm_accepted_per_second": (">=", 25_000),
    "storm_cpu_us_per_event": ("<=", 40),
    "distinct_delivered_per_second": (">=", 2_000),
    "distinct_cpu_us_per_notification": ("<=", 400),
    "distinct_postgres_us_per_notification": ("<=", 100),
    "latency_p50_ms": ("<=", 5),
    "latency_p99_ms": ("<=", 15),
    "post_p50_ms": ("<=", 2),
    "post_requests_per_second": (">=", 1_500),
    "start_seconds": ("<=", 10),
}


@dataclass
class HttpOptions:
    storm_events: int = 20_000
    fingerprints: int = 10
    array: int = 100  # events per POST in the storm and distinct workloads
    clients: int = 4
    distinct_events: int = 5_000
    latency_events: int = 500
    latency_rate: float = 50.0
    single_posts: int = 1_000  # one client, one after another: answered p50
    concurrent_posts: int = 4_000  # over ``clients`` clients: requests/s
    silences: int = 50
    inhibit_rules: int = 20
    admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672/"  # compose's broker; or a redis URL
    compose_file: Path = field(default_factory=lambda: ROOT / "docker-compose.yml")
    output: Path | None = field(default_factory=lambda: Path("bench-results"))
    progress: bool = True
    keep_logs: bool = False
    profile: Path | None = None  # py-spy's raw stacks of each workload's window, per process

    @classmethod
    def smoke(cls, **changes: Any) -> HttpOptions:
        """A few hundred events: correctness in CI, not speed."""
        small = {
            "storm_events": 400,
            "array": 50,
            "distinct_events": 100,
            "latency_events": 10,
            "latency_rate": 20.0,
            "single_posts": 20,
            "concurrent_posts": 40,
            "silences": 10,
            "inhibit_rules": 4,
        }
        return cls(**(small | changes))


# -- the processes ------------------------------------------------------------------------------


class Stack:
    """The compose commands in ``stage``; stopped by the stage (they are in ``stage.workers``)."""

    def __init__(self, stage: Stage, compose_file: Path, show: bool) -> None:
        self.stage, self.compose, self.show = stage, compose_file, show
        self.procs: dict[str, Worker] = {}
        self.url = ""

    def start(self) -> float:
        """Migrate, start api, two of each worker service and beat; seconds until all are ready."""
        began = time.monotonic()
        env = {**os.environ, **self.stage.env}
        migrate = compose_command(self.compose, "migrate")
        done = subprocess.run(migrate, cwd=ROOT, env=env, timeout=300, capture_output=True)
        if done.returncode != 0:
            raise BenchFailure(f"{' '.join(migrate)} failed:\n{done.stderr.decode()[-2000:]}")
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._spawn("api", compose_command(self.compose, "api"), {"BIND": f"127.0.0.1:{port}"})
        for service in worker_services(self.compose):
            for i in (1, 2):  # two containers have two hostnames; one host names them apart
                name = f"{service}{i}"
                argv = [*compose_command(self.compose, service), "--hostname", f"{name}@%h"]
                self._spawn(name, argv, {"WORKER_METRICS_PORT": str(_free_port())})
        beat_dir = self.stage.tmp / "beat"
        (beat_dir / "var").mkdir(parents=True)
        self._spawn("beat", compose_command(self.compose, "beat"), {}, cwd=beat_dir)
        for name, proc in self.procs.items():
            if name not in ("api", "beat"):
                proc.wait_ready(120)
        self.procs["beat"].wait_ready(120, "beat: Starting")
        self._wait_api_ready(120)
        return time.monotonic() - began

    def _spawn(self, name: str, argv: list[str], env: dict[str, str], cwd: Path = ROOT) -> None:
        metrics = self.stage.tmp / f"prometheus-{name}"
        metrics.mkdir()
        full = {**self.stage.env, "PROMETHEUS_MULTIPROC_DIR": str(metrics), **env}
        proc = Worker(argv, full, self.stage.tmp / f"{name}.log", cwd=cwd)
        self.procs[name] = proc
        self.stage.workers.append(proc)
        if self.show:
            print(f"{name}: pid {proc.pid}, log {proc.log}", file=sys.stderr)

    def _wait_api_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if request(self.url, "GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise BenchFailure(f"the API was not ready after {timeout:.0f} s")

    def roots(self) -> dict[str, list[int]]:
        workers = [p.pid for n, p in self.procs.items() if n not in ("api", "beat")]
        return {
            "api": [self.procs["api"].pid],
            "workers": workers,
            "beat": [self.procs["beat"].pid],
        }

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.popen.poll() is not None:
                raise BenchFailure(f"{name} exited:\n{proc.output()[-2000:]}")

    def wait(
        self, measure: Callable[[], int], target: int, what: str, every: float = 0.05
    ) -> float:
        """Poll until ``measure()`` reaches ``target``; ``time.monotonic()`` then. Fails when a
        process dies or nothing moves for ``STALL_SECONDS``: work went missing."""
        return poll(
            measure, target, what, self.check_alive, f"logs in {self.stage.tmp}", None, every
        )

    def create_token(self, slug: str) -> str:
        argv = [
            str(BIN / "alertworker"),
            "create-token",
            "--tenant",
            slug,
            "--email",
            f"bench@{slug}.test",
            "--scopes",
            "alerts:read,alerts:write,events:write",
        ]
        out = subprocess.run(
            argv,
            cwd=ROOT,
            env={**os.environ, **self.stage.env},
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return out.stdout.strip().splitlines()[-1]


# -- HTTP ---------------------------------------------------------------------------------------


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=60)


def request(
    url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    token: str | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, bytes]:
    """One request (on ``conn``, kept alive, when given); the status and the body."""
    own = conn is None
    conn = _connection(url) if conn is None else conn
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if own:
            conn.close()


def post_events(
    url: str, token: str, bodies: list[bytes], clients: int, bar: Progress | None = None
) -> list[tuple[float, float]]:
    """POST each body to ``/api/v1/events`` from ``clients`` threads, each on one keep-alive
    connection; every answer must be 202. (sent, answered) ``time.monotonic()`` per request."""
    times: list[tuple[float, float]] = [(0.0, 0.0)] * len(bodies)
    lock, todo = threading.Lock(), iter(range(len(bodies)))
    errors: list[str] = []

    def client() -> None:
        conn = _connection(url)
        try:
            while not errors:
                with lock:
                    i = next(todo, None)
                if i is None:
                    return
                sent = time.monotonic()
                status, body = request(url, "POST", "/api/v1/events", bodies[i], token, conn)
                times[i] = (sent, time.monotonic())
                if status != 202:
                    errors.append(f"POST /api/v1/events answered {status}: {body[:300]!r}")
                if bar is not None and i % 20 == 0:
                    bar.update(i)
        except Exception as exc:
            errors.append(f"POST /api/v1/events failed: {exc!r}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise BenchFailure(errors[0])
    if bar is not None:
        bar.update(len(bodies))
    return times


# -- the workloads ------------------------------------------------------------------------------


@dataclass
class Run:
    stage: Stage
    stack: Stack
    meter: Meter
    options: HttpOptions
    delivery_ids: list[int] = field(default_factory=list)

    def tenant(self, slug: str) -> tuple[str, int]:
        """A token for tenant ``slug``, its config (made over the API) and its silences/rules."""
        token = self.stack.create_token(slug)
        config = {
            "name": f"bench {slug}",
            "alert_type": "circuit_breaker_opened",
            "severity": "error",
            "channels": ["in_app", "webhook"],
            "channel_config": {"webhook": {"url": self.stage.receiver.url}},
            "cooldown_minutes": 60,
            "max_alerts_per_hour": 10_000,
            "group_by": ["provider_name"],
            "auto_resolve_minutes": 600,
        }
        status, body = request(
            self.stack.url,
            "POST",
            "/api/v1/admin/alerts/configs",
            json.dumps(config).encode(),
            token,
        )
        if status != 201:
            raise BenchFailure(f"creating the {slug} config answered {status}: {body[:300]!r}")
        loader(self.options.silences, self.options.inhibit_rules)(self.stage, slug)
        return token, int(json.loads(body)["id"])

    def accounted(self, config: int) -> Callable[[], int]:
        """Events counted by the throttle summary (sent or suppressed) of this config."""
        query = select(func.coalesce(func.sum(T.sent_count + T.suppressed_count), 0)).where(
            T.config_id == config
        )

        def count() -> int:
            with self.stage.session_factory() as s:
                return int(s.scalar(query) or 0)

        return count

    def checked(self, phase: str, config: int, **expected: Any) -> dict[str, Any]:
        checks = verify(self.stage, phase, [config], **expected)
        self.delivery_ids.extend(checks.pop("delivery_ids"))
        return checks


def _arrays(events: list[dict[str, Any]], size: int) -> list[bytes]:
    return [json.dumps(events[i : i + size]).encode() for i in range(0, len(events), size)]


def _per_unit(cpu: dict[str, Any], units: int) -> dict[str, float]:
    return {k: cpu[k] / units * 1e6 for k in GROUPS if cpu.get(k) is not None}


def _with_ours(cpu: dict[str, Any]) -> dict[str, Any]:
    cpu["ours"] = round(cpu["api"] + cpu["workers"] + cpu["beat"], 3)
    return cpu


def storm(run: Run) -> dict[str, Any]:
    o, slug = run.options, "bench-storm"
    token, config = run.tenant(slug)
    events = [alert_event(slug, i, f"provider-{i % o.fingerprints}") for i in range(o.storm_events)]
    bodies = _arrays(events, o.array)
    window = run.meter.start("storm")
    with Progress("storm: POST", len(bodies), o.progress) as bar:
        times = post_events(run.stack.url, token, bodies, o.clients, bar)
    began, answered = min(a for a, _ in times), max(b for _, b in times)
    processed = run.stack.wait(run.accounted(config), o.storm_events, "storm: events accounted")
    run.stack.wait(
        lambda: delivered_rows(run.stage, [config]),
        o.fingerprints,
        "storm: webhook deliveries recorded",
    )
    cpu = _with_ours(window.stop())
    checks = run.checked("storm", config, events=o.storm_events, notifications=o.fingerprints)
    return {
        "events": o.storm_events,
        "fingerprints": o.fingerprints,
        "array": o.array,
        "clients": o.clients,
        "accepted_per_second": o.storm_events / (answered - began),
        "processed_per_second": o.storm_events / (processed - began),
        "cpu_seconds": cpu,
        "cpu_us_per_event": _per_unit(cpu, o.storm_events),
        "checks": checks,
    }


def distinct(run: Run) -> dict[str, Any]:
    o, slug = run.options, "bench-distinct"
    n = o.distinct_events
    token, config = run.tenant(slug)
    events = [alert_event(slug, i, f"provider-{i}", event_id=str(uuid.uuid4())) for i in range(n)]
    bodies = _arrays(events, o.array)
    arrived = _arrived_since(run.stage)
    window = run.meter.start("distinct")
    with Progress("distinct: POST", len(bodies), o.progress) as bar:
        times = post_events(run.stack.url, token, bodies, o.clients, bar)
    began = min(a for a, _ in times)
    run.stack.wait(arrived, n, "distinct: webhooks at the receiver", every=0.02)
    run.stack.wait(
        lambda: delivered_rows(run.stage, [config]), n, "distinct: webhook deliveries recorded"
    )
    cpu = _with_ours(window.stop())
    checks = verify(
        run.stage,
        "distinct",
        [config],
        events=n,
        notifications=n,
        event_ids={e["event_id"] for e in events},
    )
    ids = checks.pop("delivery_ids")
    run.delivery_ids.extend(ids)
    delivered = last_first_arrival(run.stage, ids)
    return {
        "events": n,
        "array": o.array,
        "clients": o.clients,
        "accepted_per_second": n / (max(end for _, end in times) - began),
        "delivered_per_second": n / (delivered - began),
        "cpu_seconds": cpu,
        "cpu_us_per_notification": _per_unit(cpu, n),
        "checks": checks,
    }


def _paced(
    count: int, rate: float, label: str, show: bool, send: Callable[[int], None], threads: int
) -> None:
    """``send(i)`` at ``rate`` per second; with ``threads`` > 1 from a pool, so that a slow
    answer does not hold back the next send."""
    with Progress(label, count, show) as bar, ThreadPoolExecutor(threads) as pool:
        begin, pending = time.monotonic(), []
        for i in range(count):
            if (pause := begin + i / rate - time.monotonic()) > 0:
                time.sleep(pause)
            if threads > 1:
                pending.append(pool.submit(send, i))
            else:
                send(i)
            bar.update(i + 1)
        for future in pending:
            future.result()  # a failed send fails the run


def _arrived_since(stage: Stage) -> Callable[[], int]:
    """How many new Idempotency-Keys the receiver has seen since this call."""
    before = stage.receiver.distinct()
    return lambda: stage.receiver.distinct() - before


def _quantiles(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "max_ms": ms[-1],
    }


def latency(run: Run) -> dict[str, Any]:
    """Single events at ``latency_rate``/s: over HTTP, then with the Python client."""
    o, slug = run.options, "bench-latency"
    token, config = run.tenant(slug)
    sent: dict[str, float] = {}
    answered_ms: list[float] = []
    local, conns = threading.local(), []
    counter = iter(range(10**9))

    def post(_: int) -> None:
        event = alert_event(
            slug, next(counter), f"provider-{uuid.uuid4()}", event_id=str(uuid.uuid4())
        )
        if not hasattr(local, "conn"):
            local.conn = _connection(run.stack.url)
            conns.append(local.conn)
        started = time.monotonic()
        sent[event["event_id"]] = started
        status, body = request(
            run.stack.url, "POST", "/api/v1/events", json.dumps(event).encode(), token, local.conn
        )
        answered_ms.append((time.monotonic() - started) * 1000)
        if status != 202:
            raise BenchFailure(f"POST /api/v1/events answered {status}: {body[:300]!r}")

    with run.stage.publisher(1) as publisher:

        def publish(_: int) -> None:
            event = alert_event(
                slug, next(counter), f"provider-{uuid.uuid4()}", event_id=str(uuid.uuid4())
            )
            sent[event["event_id"]] = time.monotonic()
            publisher.publish(**event)

        passes: dict[str, dict[str, Any]] = {}
        for name, send, threads in (("http", post, 8), ("client", publish, 1)):
            arrived = _arrived_since(run.stage)
            for i in range(WARMUP):
                send(i)
            run.stack.wait(arrived, WARMUP, f"latency {name}: warm-up webhooks")
            measured_from, answered_ms[:] = len(sent), []
            _paced(o.latency_events, o.latency_rate, f"latency {name}", o.progress, send, threads)
            run.stack.wait(arrived, WARMUP + o.latency_events, f"latency {name}: webhooks")
            first: dict[Any, float] = {}
            for a in run.stage.receiver.arrivals:
                first.setdefault(a.event_id, a.at)
            measured = list(sent)[measured_from:]
            ms = [(first[e] - sent[e]) * 1000 for e in measured]
            stamps = sorted(sent[e] for e in measured)
            passes[name] = _quantiles(ms)
            passes[name]["rate_achieved"] = (len(stamps) - 1) / max(stamps[-1] - stamps[0], 1e-9)
            if answered_ms:
                passes[name]["post_answered"] = _quantiles(answered_ms)
    for conn in conns:
        conn.close()
    total = len(sent)
    run.stack.wait(
        lambda: delivered_rows(run.stage, [config]), total, "latency: webhook deliveries recorded"
    )
    checks = run.checked("latency", config, events=total, notifications=total, event_ids=set(sent))
    return {
        "events": o.latency_events,
        "rate": o.latency_rate,
        "warmup_events": WARMUP,
        **passes,
        "checks": checks,
    }


def post(run: Run) -> dict[str, Any]:
    """Single-event POSTs: one client one after another, then ``clients`` at once."""
    o, slug = run.options, "bench-post"
    token, config = run.tenant(slug)
    total = o.single_posts + o.concurrent_posts
    bodies = [
        json.dumps(alert_event(slug, i, f"provider-{i % o.fingerprints}")).encode()
        for i in range(total)
    ]
    with Progress("post: one client", o.single_posts, o.progress) as bar:
        single = post_events(run.stack.url, token, bodies[: o.single_posts], 1, bar)
    window = run.meter.start("post")
    with Progress(f"post: {o.clients} clients", o.concurrent_posts, o.progress) as bar:
        many = post_events(run.stack.url, token, bodies[o.single_posts :], o.clients, bar)
    cpu = _with_ours(window.stop())
    began, ended = min(a for a, _ in many), max(b for _, b in many)
    run.stack.wait(run.accounted(config), total, "post: events accounted")
    run.stack.wait(
        lambda: delivered_rows(run.stage, [config]),
        o.fingerprints,
        "post: webhook deliveries recorded",
    )
    checks = run.checked("post", config, events=total, notifications=o.fingerprints)
    return {
        "single_posts": o.single_posts,
        "concurrent_posts": o.concurrent_posts,
        "clients": o.clients,
        "one_client": _quantiles([(b - a) * 1000 for a, b in single]),
        "many_clients": _quantiles([(b - a) * 1000 for a, b in many]),
        "requests_per_second": o.concurrent_posts / (ended - began),
        "cpu_seconds_while_posting": cpu,
        "cpu_us_per_request_while_posting": _per_unit(cpu, o.concurrent_posts),
        "checks": checks,
    }


# -- the run ------------------------------------------------------------------------------------


@contextmanager
def _meter(stage: Stage, stack: Stack, profile: Path | None) -> Iterator[Meter]:
    servers = {"redis": int(stage.redis.info("server")["process_id"])}
    if stage.vhost is not None and (beam := find_process("beam.smp")) is not None:
        servers["rabbitmq"] = beam
    meter = Meter(stage.admin_url, stage.dbname, stack.roots, servers, profile)
    try:
        yield meter
    finally:
        meter.close()


def run_http(options: HttpOptions) -> dict[str, Any]:
    """Start the stack, run the four workloads; the results (JSON written if ``output``)."""
    from alertworker.bench import _terminate_as_interrupt

    started = datetime.now(UTC)
    with (
        _terminate_as_interrupt(),
        Stage(
            options.admin_url,
            options.redis_url,
            options.compose_file,
            2,
            options.keep_logs,
            announce=options.progress,
            broker_url=options.broker_url,
            migrate_db=False,
        ) as stage,
    ):
        stack = Stack(stage, options.compose_file, options.progress)
        start_seconds = stack.start()
        results: dict[str, Any] = {
            "mode": "http",
            "started_at": started.isoformat(timespec="seconds"),
            "database": stage.dbname,
            "key_prefix": stage.prefix,
            "vhost": stage.vhost,
            "commands": {n: p.argv for n, p in stack.procs.items()},
            "machine": report.machine(stage.server_versions()),
            "options": {
                k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()
            },
            "start_seconds": start_seconds,
        }
        with _meter(stage, stack, options.profile) as meter:
            r = Run(stage, stack, meter, options)
            for name, workload in (
                ("storm", storm),
                ("distinct", distinct),
                ("latency", latency),
                ("post", post),
            ):
                results[name] = workload(r)
        if strays := unknown_arrivals(stage.receiver.arrivals, r.delivery_ids):
            raise BenchFailure("; ".join(strays))
        results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["targets"] = targets(results)
    if options.output is not None:
        results["json"] = str(report.write_json(results, options.output, "bench-http"))
    return results


def headline(r: dict[str, Any]) -> dict[str, float]:
    """The figures the issue's targets are about."""
    return {
        "storm_accepted_per_second": r["storm"]["accepted_per_second"],
        "storm_cpu_us_per_event": r["storm"]["cpu_us_per_event"]["ours"],
        "distinct_delivered_per_second": r["distinct"]["delivered_per_second"],
        "distinct_cpu_us_per_notification": r["distinct"]["cpu_us_per_notification"]["ours"],
        "distinct_postgres_us_per_notification": r["distinct"]["cpu_us_per_notification"][
            "postgres"
        ],
        "latency_p50_ms": r["latency"]["http"]["p50_ms"],
        "latency_p99_ms": r["latency"]["http"]["p99_ms"],
        "post_p50_ms": r["post"]["one_client"]["p50_ms"],
        "post_requests_per_second": r["post"]["requests_per_second"],
        "start_seconds": r["start_seconds"],
    }


def targets(r: dict[str, Any]) -> dict[str, bool]:
    met = {}
    for name, value in headline(r).items():
        op, bound = TARGETS[name]
        met[name] = value >= bound if op == ">=" else value <= bound
    return met
