"""GET /admin/alerts/notifications/stream: SSE relayed from Redis pub/sub, with unread counts."""

from __future__ import annotations

import json
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import requests

from alertworker.delivery import stream
from alertworker.ingest.pipeline import Pipeline
from tests import test_api_support as support
from tests.test_api_support import API, add_notification, assert_error, enqueued

app, client, caller = support.app, support.client, support.caller
URL = f"{API}/admin/alerts/notifications/stream"


def _events(chunks):
    """Parse SSE text chunks into (event, data) pairs and comments."""
    text = "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)
    out = []
    for block in text.split("\n\n"):
        lines = [ln for ln in block.split("\n") if ln]
        if not lines:
            continue
        if lines[0].startswith(":"):
            out.append(("comment", lines[0][1:].strip()))
            continue
        event = next((ln[7:] for ln in lines if ln.startswith("event: ")), None)
        data = "\n".join(ln[6:] for ln in lines if ln.startswith("data: "))
        if event:
            out.append((event, json.loads(data)))
    return out


def test_stream_relays_notifications_and_counts(
    client, caller, session_factory, settings, redis_client
):
    me, other = caller(), caller("globex", "b@globex.test")
    add_notification(session_factory, me.tenant_id)
    r = client.get(URL, headers=me.h, buffered=False)
    assert r.status_code == 200 and r.mimetype == "text/event-stream"
    assert r.headers["Cache-Control"] == "no-cache"
    chunks = iter(r.response)
    try:
        assert _events([next(chunks)]) == [("unread_count", {"count": 1})]
        nid = add_notification(session_factory, me.tenant_id)
        stream.publish_notifications(
            redis_client,
            settings,
            [
                {"id": 999, "tenant_id": other.tenant_id, "title": "not yours"},
                {"id": nid, "tenant_id": me.tenant_id, "title": "p95 over 5s"},
            ],
        )
        got = _events([next(chunks)])
        assert got == [
            (
                "notification",
                {
                    "type": "notification",
                    "notification": {"id": nid, "tenant_id": me.tenant_id, "title": "p95 over 5s"},
                },
            ),
            ("unread_count", {"count": 2}),
        ]
        assert _events([next(chunks)]) == [("comment", "heartbeat")]  # 0.5 s in tests
    finally:
        r.close()


def test_stream_needs_auth(client, caller):
    assert_error(client.get(URL), 401)
    assert_error(client.get(URL, headers=caller(scopes=["events:write"]).h), 403)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class _ThreadingServer(WSGIServer):
    daemon_threads = True

    def process_request(self, request, client_address):
        threading.Thread(target=self._handle, args=(request, client_address), daemon=True).start()

    def _handle(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        finally:
            self.shutdown_request(request)


def test_stream_over_a_real_http_server(app, caller, session_factory, settings, redis_client):
    me = caller()
    server = make_server(
        "127.0.0.1", 0, app, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}{URL}"
        with requests.get(url, headers=me.h, stream=True, timeout=10) as r:
            assert r.status_code == 200
            lines = r.iter_lines(chunk_size=1, decode_unicode=True)
            assert next(lines) == "retry: 3000"
            deadline = time.monotonic() + 10
            published = False
            seen = []
            for line in lines:
                seen.append(line)
                if line == 'data: {"count": 0}' and not published:
                    stream.publish_notifications(
                        redis_client,
                        settings,
                        [{"id": 1, "tenant_id": me.tenant_id, "title": "live"}],
                    )
                    published = True
                if '"title": "live"' in line or time.monotonic() > deadline:
                    break
            assert any('"title": "live"' in line for line in seen), seen
        # the server notices the closed connection at its next write and unsubscribes
        channel = stream.channel(settings, me.tenant_id)
        deadline = time.monotonic() + 10
        while redis_client.pubsub_numsub(channel)[0][1] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert redis_client.pubsub_numsub(channel)[0][1] == 0
    finally:
        server.shutdown()
        server.server_close()


def test_test_alert_through_the_pipeline_reaches_the_stream(
    client, caller, session_factory, settings, redis_client
):
    """End to end: POST /admin/alerts/test -> broker -> pipeline -> notification + SSE."""

    me = caller()
    config = client.post(
        f"{API}/admin/alerts/configs",
        headers=me.h,
        json={
            "name": "latency",
            "alert_type": "high_latency",
            "channels": ["in_app"],
            "conditions": {"latency_ms": 20000},
            "is_active": False,
        },
    ).get_json()
    r = client.get(URL, headers=me.h, buffered=False)
    chunks = iter(r.response)
    try:
        assert _events([next(chunks)]) == [("unread_count", {"count": 0})]
        sent = client.post(
            f"{API}/admin/alerts/test", query_string={"config_id": config["id"]}, headers=me.h
        )
        assert sent.status_code == 202
        Pipeline(settings, session_factory, redis_client).process(enqueued(redis_client, settings))
        got = _events([next(chunks)])
        assert [name for name, _ in got] == ["notification", "unread_count"]
        assert got[1][1] == {"count": 1}
    finally:
        r.close()
    (note,) = client.get(f"{API}/admin/alerts/notifications", headers=me.h).get_json()["items"]
    assert note["is_test"] is True and note["config_id"] == config["id"]
    assert note["event_id"] == sent.get_json()["event_id"]
    assert note["context"]["latency_ms"] >= 20000


def _ids(chunk):
    """(id, event) of each SSE block of ``chunk`` that has an ``id:`` line."""
    text = chunk.decode() if isinstance(chunk, bytes) else chunk
    out = []
    for block in text.split("\n\n"):
        lines = block.split("\n")
        ids = [ln[4:] for ln in lines if ln.startswith("id: ")]
        events = [ln[7:] for ln in lines if ln.startswith("event: ")]
        if ids:
            out.append((int(ids[0]), events[0]))
    return out


def test_notifications_carry_ids_and_a_reconnect_resumes_after_the_last_one(
    client, caller, session_factory, settings, redis_client
):
    """Each notification event has ``id:``; with ``Last-Event-ID`` the stream first sends the
    tenant's notifications created since (from Postgres), then relays live ones, once each."""
    me, other = caller(), caller("globex", "b@globex.test")
    seen = add_notification(session_factory, me.tenant_id)
    r = client.get(URL, headers=me.h, buffered=False)
    chunks = iter(r.response)
    try:
        assert _ids(next(chunks)) == []  # the count has no id
        stream.publish_notifications(
            redis_client, settings, [{"id": seen, "tenant_id": me.tenant_id, "title": "a"}]
        )
        assert _ids(next(chunks)) == [(seen, "notification")]
    finally:
        r.close()

    missed = [add_notification(session_factory, me.tenant_id) for _ in range(2)]
    add_notification(session_factory, other.tenant_id)  # not theirs
    r = client.get(URL, headers=me.h | {"Last-Event-ID": str(seen)}, buffered=False)
    chunks = iter(r.response)
    try:
        first = next(chunks)
        assert _ids(first) == [(i, "notification") for i in missed]
        assert _events([first])[-1] == ("unread_count", {"count": 3})
        name, data = _events([first])[0]
        assert name == "notification" and data["notification"]["title"] == "p95 over 5s"
        live = add_notification(session_factory, me.tenant_id)
        stream.publish_notifications(redis_client, settings, [
            {"id": missed[1], "tenant_id": me.tenant_id, "title": "again"},  # already sent
            {"id": live, "tenant_id": me.tenant_id, "title": "live"},
        ])  # fmt: skip
        assert _ids(next(chunks)) == [(live, "notification")]
    finally:
        r.close()

    doc = client.get("/openapi.json").get_json()["paths"][URL]["get"]
    assert [p["name"] for p in doc["parameters"] if p["in"] == "header"] == ["Last-Event-ID"]
    for junk in ("abc", "-1", "1" * 40, ""):  # not a notification id: a fresh start
        r = client.get(URL, headers=me.h | {"Last-Event-ID": junk}, buffered=False)
        try:
            assert _ids(next(iter(r.response))) == []
        finally:
            r.close()
