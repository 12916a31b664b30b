"""Secrets out of every text that is stored, answered or logged (SPEC §7).

:func:`redact` replaces each secret, and every run of :data:`MIN_RUN` or more characters of
one, with ``****``, also where the text quotes it URL-encoded, JSON- or HTML-escaped, in
another case, or with its blanks collapsed, changed or dropped: text and secrets are compared
lower-cased with all whitespace removed, and each match is mapped back onto the text (the
blanks inside it go too). A secret shorter than :data:`MIN_RUN` is removed where it appears
whole; one shorter than :data:`MIN_SECRET` is left alone (it would blank out common words).

:func:`secrets_of` lists the secrets to pass: every value of :data:`SECRET_KEYS` and every
header value anywhere in a channel config (a whole ``channel_config``, one channel's section,
or a list of targets), the path and query of a URL-valued one (a Slack webhook's host is not
secret: it is shown masked as ``https://hooks.slack.com/…****``), and the settings of
:data:`SETTINGS_SECRETS`. A new secret field is one more name in one of these tuples.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

MASK = "****"
MIN_RUN = 8
MIN_SECRET = 4
SECRET_KEYS = ("webhook_url", "secret", "routing_key", "auth_token")
SETTINGS_SECRETS = ("smtp_password", "twilio_auth_token")


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` without any secret or any run of MIN_RUN+ characters of one, in any form."""
    if not text:
        return text
    normal, where = _normalise(text)
    runs: set[str] = set()
    wholes: set[str] = set()
    for secret in secrets:
        for form in _forms(secret):
            n = _normalise(form)[0]
            if len(n) >= MIN_RUN:
                runs.update(n[i : i + MIN_RUN] for i in range(len(n) - MIN_RUN + 1))
            elif len(n) >= MIN_SECRET:
                wholes.add(n)
    hit = bytearray(len(normal))
    for i in range(len(normal) - MIN_RUN + 1):
        if normal[i : i + MIN_RUN] in runs:
            hit[i : i + MIN_RUN] = b"\1" * MIN_RUN
    for whole in wholes:
        start = normal.find(whole)
        while start >= 0:
            hit[start : start + len(whole)] = b"\1" * len(whole)
            start = normal.find(whole, start + 1)
    return _blank(text, where, hit)


def _normalise(text: str) -> tuple[str, list[int]]:
    """``text`` lower-cased without whitespace, and each character's index in ``text``."""
    chars: list[str] = []
    where: list[int] = []
    for i, char in enumerate(text):
        if not char.isspace():
            for low in char.lower():  # may be two characters: keep them both on index i
                chars.append(low)
                where.append(i)
    return "".join(chars), where


def _forms(secret: str) -> Iterator[str]:
    """The ways a receiver may quote ``secret`` back."""
    yield secret
    yield quote(secret, safe="")
    yield quote_plus(secret, safe="")
    yield json.dumps(secret)[1:-1]
    yield json.dumps(secret)[1:-1].replace("/", "\\/")
    yield html.escape(secret)


def _blank(text: str, where: list[int], hit: bytearray) -> str:
    out: list[str] = []
    pos = i = 0
    while i < len(hit):
        if not hit[i]:
            i += 1
            continue
        start = i
        while i < len(hit) and hit[i]:
            i += 1
        out += [text[pos : where[start]], MASK]
        pos = where[i - 1] + 1
    out.append(text[pos:])
    return "".join(out)


def secrets_of(channel_config: Any, settings: Any = None) -> list[str]:
    """Every secret of a channel config (whole, a section or targets) and of ``settings``."""
    found = [getattr(settings, name, "") for name in SETTINGS_SECRETS] if settings else []
    stack = [channel_config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key in SECRET_KEYS and isinstance(value, str):
                    found.append(_secret_part(value))
                elif key == "headers" and isinstance(value, dict):
                    found += [v for v in value.values() if isinstance(v, str)]
                elif isinstance(value, dict | list):
                    stack.append(value)
    return [s for s in found if isinstance(s, str) and len(s) >= MIN_SECRET]


def _secret_part(value: str) -> str:
    """A URL's path and query (what makes a Slack webhook URL a secret), else the value."""
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return value
    if parts.scheme in ("http", "https") and parts.netloc:
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return value
