"""Loopback stand-ins for PagerDuty's Events API v2 and Twilio's Messages API (SPEC §15).

Each checks what a real service would refuse and records every problem on ``problems``
(tests assert it stays empty), and answers by route like the real one: PagerDuty ``202``
on ``/v2/enqueue``, ``429`` (Retry-After 1) on ``/429/v2/enqueue``, ``400`` on
``/400/v2/enqueue`` or for a body it refuses; Twilio ``201`` (``401`` on bad Basic auth),
``429`` for ``To`` +15005550429, ``400`` for ``To`` +15005550400 (its magic test numbers).
Fixtures: ``pagerduty``, ``twilio`` (with ``TWILIO_SID``/``TWILIO_TOKEN``).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest

from tests.receivers import HttpReceiver, Reply, Request

TWILIO_SID, TWILIO_TOKEN = "AC0123456789abcdef0123456789abcdef", "twilio-auth-token-s3cret"
PD_ACTIONS = {"trigger", "acknowledge", "resolve"}
PD_SEVERITIES = {"critical", "error", "warning", "info"}


def pagerduty_problems(doc: object) -> list[str]:
    """What PagerDuty's v2 enqueue endpoint would refuse in ``doc``."""
    if not isinstance(doc, dict):
        return ["body is not a JSON object"]
    problems = []
    if not (isinstance(doc.get("routing_key"), str) and len(doc["routing_key"]) == 32):
        problems.append("routing_key must be 32 characters")
    if doc.get("event_action") not in PD_ACTIONS:
        problems.append(f"event_action {doc.get('event_action')!r}")
    if not re.fullmatch(r"alertworker-\d+-[0-9a-f]{40}", str(doc.get("dedup_key"))):
        problems.append(f"dedup_key {doc.get('dedup_key')!r}")
    if doc.get("client") != "alertworker" or not str(doc.get("client_url")).startswith("http"):
        problems.append("client / client_url")
    payload = doc.get("payload")
    if doc.get("event_action") == "trigger":
        if not isinstance(payload, dict):
            return [*problems, "a trigger needs a payload"]
        if not (isinstance(payload.get("summary"), str) and 0 < len(payload["summary"]) <= 1024):
            problems.append("payload.summary must be 1..1024 characters")
        if not payload.get("source") or payload.get("severity") not in PD_SEVERITIES:
            problems.append("payload.source / payload.severity")
        if not isinstance(payload.get("custom_details"), dict) or "timestamp" not in payload:
            problems.append("payload.custom_details / payload.timestamp")
    unknown = set(doc) - {"routing_key", "event_action", "dedup_key", "client", "client_url",
                          "payload"}  # fmt: skip
    if unknown:
        problems.append(f"unknown keys {sorted(unknown)}")
    return problems


class PagerDutyStandIn(HttpReceiver):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.respond = self._respond

    def url(self, path: str = "/v2/enqueue", host: str = "127.0.0.1") -> str:
        return super().url(path, host)

    def events(self) -> list[dict]:
        return [json.loads(r.body) for r in self.requests]

    def _respond(self, request: Request) -> Reply:
        try:
            doc = json.loads(request.body)
        except ValueError:
            doc = None
        problems = pagerduty_problems(doc)
        if request.headers.get("Content-Type") != "application/json":
            problems.append("Content-Type must be application/json")
        self.problems += problems
        if problems or request.path.startswith("/400/"):
            return Reply(400, json.dumps({"status": "invalid event", "errors": problems}))
        if request.path.startswith("/429/"):
            return Reply(429, "", headers={"Retry-After": "1"})
        return Reply(202, json.dumps({"status": "success", "dedup_key": doc["dedup_key"]}))


class TwilioStandIn(HttpReceiver):
    PATH = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.respond = self._respond

    def forms(self) -> list[dict[str, str]]:
        return [{k: v[0] for k, v in parse_qs(r.body.decode()).items()} for r in self.requests]

    def _respond(self, request: Request) -> Reply:
        basic = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {basic}":
            return Reply(401, json.dumps({"code": 20003, "message": "Authenticate"}))
        form = {k: v for k, v in parse_qs(request.body.decode(), strict_parsing=True).items()}
        problems = []
        if request.path != self.PATH:
            problems.append(f"path {request.path}")
        if request.headers.get("Content-Type") != "application/x-www-form-urlencoded":
            problems.append("Content-Type must be a form")
        if set(form) != {"To", "From", "Body"} or any(len(v) != 1 for v in form.values()):
            problems.append(f"fields {sorted(form)}")
        body = form.get("Body", [""])[0]
        if not 0 < len(body) <= 320:
            problems.append(f"Body is {len(body)} characters")
        self.problems += problems
        to = form.get("To", [""])[0]
        if problems or to == "+15005550400":
            return Reply(400, json.dumps({"code": 21211, "message": "Invalid 'To' number"}))
        if to == "+15005550429":
            return Reply(429, json.dumps({"code": 20429, "message": "Too Many Requests"}),
                         headers={"Retry-After": "1"})  # fmt: skip
        return Reply(201, json.dumps({"sid": "SM" + "0" * 32, "status": "queued"}))


@pytest.fixture
def pagerduty() -> Iterator[PagerDutyStandIn]:
    receiver = PagerDutyStandIn()
    yield receiver
    receiver.stop()


@pytest.fixture
def twilio() -> Iterator[TwilioStandIn]:
    receiver = TwilioStandIn()
    yield receiver
    receiver.stop()
