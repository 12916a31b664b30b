"""Matchers of silences and inhibition rules (SPEC §16): pure functions, no I/O.

A matcher is ``{"name", "op", "value"}``; ``name`` is ``alert_type``, ``severity``,
``config_id`` or ``context.<key>``; ``op`` is ``=``, ``!=``, ``=~`` or ``!~`` (a regular
expression matched against the whole string). What a name reads is always a string:
:func:`render` turns a context value into one (a string as is, any other JSON value as its
compact JSON text: ``5`` -> ``"5"``, ``true`` -> ``"true"``, ``null`` -> ``"null"``) and a
missing key is ``""``. :func:`compile_matchers` builds, once, a list of
``(name, op, value_or_pattern)`` that :func:`matches` runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

OPS = ("=", "!=", "=~", "!~")
FIELDS = ("alert_type", "severity", "config_id")
CONTEXT = "context."
MAX_REGEX = 256

Compiled = tuple[str, bool, Callable[[str], object]]  # (name, negated, test: truthy on a match)


def render(value: Any) -> str:
    """A present context value as the string matchers compare (a missing key reads ``""``)."""
    if type(value) is str:
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def value_of(name: str, alert_type: str, severity: str, config_id: int | None,
             context: dict[str, Any]) -> str:  # fmt: skip
    """What ``name`` reads on an (event, config) or a notification."""
    if name == "alert_type":
        return alert_type
    if name == "severity":
        return severity
    if name == "config_id":
        return "" if config_id is None else str(config_id)
    key = name[len(CONTEXT) :]
    return render(context[key]) if key in context else ""


def compile_regex(pattern: str) -> re.Pattern[str]:
    """The pattern, compiled; raises ``ValueError`` with the reason when it does not."""
    if len(pattern) > MAX_REGEX:
        raise ValueError(f"at most {MAX_REGEX} characters")
    try:
        return re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None


def compile_matchers(matchers: Iterable[dict[str, str]]) -> list[Compiled]:
    compiled: list[Compiled] = []
    for m in matchers:
        value, op = m["value"], m["op"]
        test: Callable[[str], object]
        if op in ("=~", "!~"):
            test = compile_regex(value).fullmatch
        else:
            test = value.__eq__
        compiled.append((m["name"], op.startswith("!"), test))
    return compiled


def matches(compiled: list[Compiled], read: Callable[[str], str]) -> bool:
    """True when every matcher holds for the values ``read(name)`` gives."""
    for name, negated, test in compiled:
        if bool(test(read(name))) == negated:
            return False
    return True


def names(matchers: Iterable[dict[str, str]]) -> set[str]:
    return {m["name"] for m in matchers}
