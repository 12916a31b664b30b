"""The API under its real server, started with docker-compose.yml's own command (SPEC §6, §10).

Hostile clients at the edge: 64 connections that stop or trickle (headers or body) do not
stall ``/healthz``, ``POST /events`` or the live stream; bodies over the limit are 413 whether
they declare a length or come chunked; made-up methods and paths add at most one metric
series; tokens never reach the access log, whichever way a client sends them; a header with a
trailing LF or named like a reserved one is a 422 naming the field.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
import uuid

import pytest
import requests
import yaml

from alertworker.delivery import stream
from alertworker.tenants.auth import create_token
from api import MAX_BODY_BYTES
from tests.processes import ROOT, Proc, command, wait_for
from tests.receivers import free_port

pytestmark = pytest.mark.slow

SERVICES = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
EVENT = {"alert_type": "high_latency", "title": "slow", "context": {"provider_name": "p"}}


@pytest.fixture(scope="module")
def server(test_env, tmp_path_factory):
    """The compose api command on a free port: (base URL, the process: its log is the output)."""
    folder = tmp_path_factory.mktemp("api")
    (folder / "prom").mkdir()
    port = free_port()
    env = {**test_env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1",
           "PROMETHEUS_MULTIPROC_DIR": str(folder / "prom")}  # fmt: skip
    proc = Proc(command(SERVICES["api"]["command"]), env, folder / "api.log", "Booting worker")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _healthy(base), 30, proc.output)
        yield base, proc
    finally:
        proc.stop()


def _healthy(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture
def token(settings, session_factory):
    with session_factory() as session:
        scopes = ["alerts:read", "alerts:write", "events:write"]
        row, token = create_token(session, "acme", "ops@acme.test", scopes)
        return token, row.tenant_id


def _open(base: str, head: bytes) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(head)
    return sock


def _slow_clients(base: str, token: str) -> tuple[list[socket.socket], threading.Event]:
    """64 connections: 16 each that declare a body and send none, trickle a body one byte a
    second, trickle their headers, or start a chunked body and stop."""
    auth = f"Authorization: Bearer {token}\r\nHost: api\r\n".encode()
    post = b"POST /api/v1/events HTTP/1.1\r\n" + auth + b"Content-Type: application/json\r\n"
    kinds = [
        post + b"Content-Length: 1000\r\n\r\n",
        post + b"Content-Length: 1000\r\n\r\n[",
        b"POST /api/v1/events HTTP/1.1\r\nHost: api\r\nX-Slow: a",
        post + b"Transfer-Encoding: chunked\r\n\r\n100\r\n[",
    ]
    socks = [_open(base, kinds[i % 4]) for i in range(64)]
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(1.0):
            for i, sock in enumerate(socks):
                if i % 4 in (1, 2):
                    try:
                        sock.sendall(b" " if i % 4 == 1 else b"a")
                    except OSError:
                        pass

    threading.Thread(target=trickle, daemon=True).start()
    return socks, stop


def _timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_slow_clients_do_not_stall_the_api(server, token, settings, redis_client):
    base, _ = server
    secret, tenant_id = token
    auth = {"Authorization": f"Bearer {secret}"}
    socks, stop = _slow_clients(base, secret)
    try:
        time.sleep(1.5)  # every slow connection has been accepted and is waiting
        with requests.get(f"{base}/api/v1/admin/alerts/notifications/stream", headers=auth,
                          stream=True, timeout=5) as live:  # fmt: skip
            assert live.status_code == 200
            lines = live.iter_lines(decode_unicode=True)
            assert next(lines) == "retry: 3000"
            for _ in range(5):
                health, took = _timed(lambda: requests.get(f"{base}/healthz", timeout=5))
                assert health.status_code == 200 and took < 1.0, took
                posted, took = _timed(
                    lambda: requests.post(
                        f"{base}/api/v1/events", json=EVENT, headers=auth, timeout=5
                    )  # fmt: skip
                )
                assert posted.status_code == 202 and took < 1.0, (posted.text, took)
            redis_client.publish(stream.channel(settings, tenant_id), json.dumps({"id": 99}))
            seen = []
            for line in lines:
                seen.append(line)
                if line == 'data: {"id": 99}':
                    break
            assert "event: notification" in seen
    finally:
        stop.set()
        for sock in socks:
            sock.close()


def _post(base: str, head: str, chunks) -> tuple[int, bytes]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest("POST", "/api/v1/events")
        for line in head.split("\n"):
            name, _, value = line.partition(": ")
            conn.putheader(name, value)
        conn.endheaders()
        for chunk in chunks:
            conn.send(chunk)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_bodies_over_the_limit_are_413_however_they_come(server, token):
    base, _ = server
    auth = f"Authorization: Bearer {token[0]}\nContent-Type: application/json"
    valid = json.dumps(EVENT).encode()  # valid JSON if the padding after it were cut off
    padding = MAX_BODY_BYTES + 4096 - len(valid)

    def chunked():
        body = valid + b" " * padding
        for i in range(0, len(body), 65536):
            part = body[i : i + 65536]
            yield f"{len(part):x}\r\n".encode() + part + b"\r\n"
        yield b"0\r\n\r\n"

    status, body = _post(base, auth + "\nTransfer-Encoding: chunked", chunked())
    assert status == 413, body[:300]
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    status, body = _post(base, auth + f"\nContent-Length: {MAX_BODY_BYTES + 1}", [valid])
    assert status == 413 and json.loads(body)["error"]["code"] == "payload_too_large"
    status, body = _post(base, auth + "\nTransfer-Encoding: chunked",
                         [f"{len(valid):x}\r\n".encode() + valid + b"\r\n0\r\n\r\n"])  # fmt: skip
    assert status == 202, body  # a small chunked body is fine


def _series(base: str) -> set[str]:
    text = requests.get(f"{base}/metrics", timeout=10).text
    return {line.rsplit(" ", 1)[0] for line in text.splitlines()
            if line.startswith("alertworker_api_requests_total{")}  # fmt: skip


def test_made_up_methods_and_paths_add_at_most_one_series(server):
    base, _ = server
    host, port = base.removeprefix("http://").split(":")
    requests.get(f"{base}/nothing-here", timeout=5)  # the 404 series exists before
    _series(base)  # and so does the scrape's own
    before = _series(base)
    for i in range(50):
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.request(f"X{uuid.uuid4().hex[:8].upper()}{i}", f"/{uuid.uuid4().hex}/{i}")
        conn.getresponse().read()
        conn.close()
    added = _series(base) - before
    assert len(added) <= 1, added


def test_tokens_never_reach_the_access_log(server, token):
    base, proc = server
    secret = token[0]
    marker = uuid.uuid4().hex
    requests.get(f"{base}/api/v1/admin/alerts/configs?access_token={secret}&m={marker}",
                 timeout=5)  # fmt: skip
    requests.get(f"{base}/api/v1/admin/alerts/configs", auth=(secret, "x"), timeout=5)
    requests.get(f"{base}/api/v1/admin/alerts/configs", auth=(secret, ""), timeout=5)
    requests.get(f"{base}/api/v1/admin/alerts/configs",
                 headers={"Authorization": f"Bearer {secret}",
                          "Referer": f"https://x.test/?token={secret}"}, timeout=5)  # fmt: skip
    requests.get(f"{base}/healthz?{secret}", timeout=5)
    wait_for(lambda: proc.output().count("/api/v1/admin/alerts/configs") >= 4, 10, proc.output)
    log = proc.output()
    assert "/healthz" in log  # the access log is on
    assert marker not in log
    windows = {secret[i : i + 8] for i in range(len(secret) - 7)}
    leaked = [w for w in windows if w in log]
    assert not leaked, [line for line in log.splitlines() if any(w in line for w in leaked)]
    assert not re.search(r"access_token", log)


@pytest.mark.parametrize("headers", [{"X-Team": "ops\n"}, {"Idempotency_Key": "forged"}])
def test_outbound_headers_are_checked_through_the_server(server, token, headers):
    base, _ = server
    config = {
        "name": "h",
        "alert_type": "high_latency",
        "channels": ["webhook"],
        "channel_config": {"webhook": {"url": "http://127.0.0.1:9/hook", "headers": headers}},
    }
    r = requests.post(f"{base}/api/v1/admin/alerts/configs", json=config, timeout=5,
                      headers={"Authorization": f"Bearer {token[0]}"})  # fmt: skip
    assert r.status_code == 422
    assert "headers" in r.json()["error"]["fields"]["channel_config"]["webhook"]
