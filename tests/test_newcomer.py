"""The newcomer's path (SPEC §3, §10): `alertworker run` on the embedded default, with no
Postgres, Redis or broker, reached from other processes as the README says.

- a separate Python process publishes into it with the printed BROKER_URL, or with none from
  the run's directory, and the notification appears over the API;
- the README's set-up walk-through and Python examples run as printed (only the ports are this
  test's) and get their 2xx, every `POST /events` example of the README answers 202;
- what the broker holds at a SIGTERM is queued again at the next start, and a killed run's
  `var/broker.json` is refused as stale;
- from a fresh clone, `make run` does all this with the clone's own `.venv`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.processes import BIN, ROOT, Proc, wait_for
from tests.receivers import HttpReceiver, free_port

pytestmark = pytest.mark.slow

# Unset for the run and its clients ("" counts as unset), whatever the test process has.
CLEAN = {name: "" for name in (
    "DATABASE_URL", "REDIS_URL", "BROKER_URL", "REDIS_KEY_PREFIX", "OUTBOUND_ALLOWLIST",
    "ALERTWORKER_DATA_DIR", "VIRTUAL_ENV")}  # fmt: skip
PRINTED = re.compile(
    r"running at (?P<url>http://\S+) .*\n.*API token.*:\n(?P<token>\S+)\n"
    r"clients publish with BROKER_URL=(?P<broker>\S+)"
)
PUBLISH = (
    "from alertworker.client import trigger_alert; print(trigger_alert(tenant_id='acme', "
    "alert_type='provider_unhealthy', title='down', context={'provider_name': %r}))"
)


class Run:
    """`alertworker run` (or ``argv``) in ``folder``, with what it printed."""

    def __init__(self, folder: Path, argv: list[str] | None = None) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        argv = argv or [str(BIN / "alertworker"), "run", "--port", str(free_port())]
        self.proc = Proc(argv, CLEAN, folder / f"run-{free_port()}.log", None, cwd=folder)
        try:
            found = wait_for(lambda: self._ready() or not self.proc.alive(), 600, self.output)
            assert self.proc.alive(), self.output()
        except BaseException:
            self.proc.stop()
            raise
        self.url, self.token, self.broker_url = found["url"], found["token"], found["broker"]

    def _ready(self):
        return "ready." in self.output() and PRINTED.search(self.output())

    def output(self) -> str:
        return self.proc.output()

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.request(method, f"{self.url}/api/v1{path}", headers=headers, timeout=10,
                                **kwargs)  # fmt: skip

    def notifications(self) -> list[dict]:
        return self.api("GET", "/admin/alerts/notifications", params={"limit": 200}).json()["items"]

    def wait_notified(self, provider: str, count: int = 1) -> dict:
        def found():
            for n in self.notifications():
                if n["context"].get("provider_name") == provider and (
                    n["occurrence_count"] >= count
                ):
                    return n
            return None

        return wait_for(found, 60, self.output)


def python(code: str, cwd: Path, python: str = sys.executable, **env: str):
    """``code`` in a separate Python process, in ``cwd``, without the run's variables."""
    return subprocess.run([python, "-c", code], cwd=cwd, env={**os.environ, **CLEAN, **env},
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def readme_blocks(lang: str, section: str | None = None) -> list[str]:
    """The README's ```lang blocks, of the ``## section`` only when given."""
    text = (ROOT / "README.md").read_text()
    if section is not None:
        start = text.index(f"\n## {section}\n")
        text = text[start : text.find("\n## ", start + 1)]
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    run = Run(tmp_path_factory.mktemp("newcomer") / "here")
    created = run.api("POST", "/admin/alerts/configs", json={
        "name": "down", "alert_type": "provider_unhealthy", "channels": ["in_app"]})  # fmt: skip
    assert created.status_code == 201, created.text
    yield run
    run.proc.stop()


def test_a_process_with_the_printed_broker_url_publishes_into_it(service, tmp_path):
    done = python(PUBLISH % "with-url", tmp_path, BROKER_URL=service.broker_url)
    assert done.returncode == 0, done.stderr
    assert service.wait_notified("with-url")["event_id"] == done.stdout.strip()


def test_a_process_without_a_url_finds_it_from_the_same_directory(service, tmp_path):
    done = python(PUBLISH % "no-url", service.folder)
    assert done.returncode == 0, done.stderr
    assert service.wait_notified("no-url")["event_id"] == done.stdout.strip()
    elsewhere = python(PUBLISH % "elsewhere", tmp_path)  # no run serves there: nothing sent
    assert elsewhere.returncode == 1 and "PublishError: no broker" in elsewhere.stderr


def test_the_readme_examples_work_as_printed(service):
    receiver = HttpReceiver()
    venv = service.folder / ".venv"  # the walk-through calls .venv/bin/python, as in a clone
    if not venv.exists():
        venv.symlink_to(Path(sys.executable).parent.parent)
    try:
        [walk] = [b for b in readme_blocks("sh", "Set up") if "TOKEN=aw_..." in b]
        script = (
            walk.replace("TOKEN=aw_...", f"TOKEN={service.token}")
            .replace("http://localhost:8000", service.url)
            .replace("http://127.0.0.1:9000", f"http://127.0.0.1:{receiver.port}")
        )
        curl = 'curl() { command curl -sS --fail-with-body "$@"; echo; }'  # non-2xx fails
        done = subprocess.run(["bash", "-c", f"set -euo pipefail\n{curl}\n{script}"],
                              cwd=service.folder, env={**os.environ, **CLEAN},
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        service.wait_notified("anthropic")  # POST /events
        service.wait_notified("mistral")  # the client, with no BROKER_URL
        wait_for(lambda: len(receiver.requests) >= 2, 60, service.output)  # loopback allowed
    finally:
        receiver.stop()

    for block in readme_blocks("python", "Publishing events"):
        done = python(block, service.folder)
        assert done.returncode == 0, done.stderr
    service.wait_notified("openai")  # its circuit_breaker_opened, through the walk's config
    [health_check] = [b for b in readme_blocks("python") if "def on_health_check" in b]
    calls = "\non_health_check('groq', False, 'timeout')\non_health_check('groq', True)\n"
    done = python(health_check + calls, service.folder)
    assert done.returncode == 0, done.stderr
    assert service.wait_notified("groq")["alert_type"] == "provider_unhealthy"

    bodies = [b for block in readme_blocks("sh")
              for b in re.findall(r"-X POST \"\$A/events\" -d '(.*?)'", block, re.S)]  # fmt: skip
    assert len(bodies) >= 3
    for body in bodies:
        sent = service.api("POST", "/events", json=json.loads(body))
        assert sent.status_code == 202, (body, sent.text)


def test_nothing_published_is_lost_across_a_clean_restart(tmp_path):
    folder = tmp_path / "here"
    run = Run(folder)
    try:
        created = run.api("POST", "/admin/alerts/configs", json={
            "name": "quota", "alert_type": "quota_exhausted", "channels": ["in_app"]})  # fmt: skip
        assert created.status_code == 201, created.text
        storm = (
            "from alertworker.client import AlertPublisher\n"
            "with AlertPublisher(max_batch=500) as p:\n"
            "    p.publish_many([{'tenant_id': 'acme', 'alert_type': 'quota_exhausted',"
            " 'title': 'q', 'context': {'provider_name': 'storm'}}] * 10000)\n"
        )
        done = python(storm, folder)
        assert done.returncode == 0, done.stderr
        run.proc.popen.send_signal(signal.SIGTERM)  # at once: most of it is still queued
        run.proc.popen.wait(60)
        assert re.search(r"\d+ message\(s\) not processed yet kept", run.output()), run.output()
        assert not (folder / "var" / "broker.json").exists()
    finally:
        run.proc.stop()

    again = Run(folder)
    try:
        assert "queued again" in again.output()
        assert again.wait_notified("storm", count=10000)["occurrence_count"] == 10000
        again.proc.kill()  # kill -9: its var/broker.json stays behind, stale
        again.proc.popen.wait(10)
        stale = python(PUBLISH % "late", folder)
        assert stale.returncode == 1 and "is stale" in stale.stderr, stale.stderr
    finally:
        again.proc.stop()


def test_make_run_from_a_fresh_clone(tmp_path):
    clone = tmp_path / "alertworker"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    port = free_port()
    run = Run(clone, [shutil.which("make") or "make", "run", f"RUN_ARGS=--port {port}"])
    try:
        created = run.api("POST", "/admin/alerts/configs", json={
            "name": "provider down", "alert_type": "provider_unhealthy",
            "channels": ["in_app"]})  # fmt: skip
        assert created.status_code == 201, created.text
        sent = run.api("POST", "/admin/alerts/test", params={"config_id": created.json()["id"]})
        assert sent.status_code == 202, sent.text
        notification = wait_for(lambda: run.notifications(), 30, run.output)[0]
        assert notification["is_test"] and notification["alert_type"] == "provider_unhealthy"
        # a gateway process of the clone's own .venv, in its directory, with no BROKER_URL
        done = python(PUBLISH % "clone", clone, str(clone / ".venv" / "bin" / "python"))
        assert done.returncode == 0, done.stderr
        assert run.wait_notified("clone")["event_id"] == done.stdout.strip()
        assert (clone / "var" / "alertworker.db").exists()  # SQLite, not the local Postgres
        assert run.proc.alive()
    finally:
        run.proc.stop()
