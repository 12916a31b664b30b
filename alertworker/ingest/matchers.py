"""Matchers of silences and inhibition rules (SPEC §16): pure functions, no I/O.

A matcher is ``{"name", "op", "value"}``; ``name`` is ``alert_type``, ``severity``,
``config_id`` or ``context.<key>``; ``op`` is ``=``, ``!=``, ``=~`` or ``!~`` (a regular
expression matched against the whole string). Expressions are RE2's (``google-re2``, the syntax
Alertmanager's matchers use): matching takes time linear in the input, so a tenant's silence
cannot stall the workers every tenant shares with a pattern that backtracks (``(a+)+$``), and
backreferences and lookaround, which need backtracking, answer 422. What a name reads is always a
string:
:func:`render` turns a context value into one (a string as is, any other JSON value as its
compact JSON text: ``5`` -> ``"5"``, ``true`` -> ``"true"``, ``null`` -> ``"null"``) and a
missing key is ``""``. :func:`compile_matchers` builds, once, a list of
``(name, op, value_or_pattern)`` that :func:`matches` runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import re2

OPS = ("=", "!=", "=~", "!~")
FIELDS = ("alert_type", "severity", "config_id")
CONTEXT = "context."
MAX_REGEX = 256
_RE2 = re2.Options()
_RE2.log_errors = False  # a rejected pattern is the caller's 422, not a line on stderr

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


def compile_regex(pattern: str) -> Any:
    """The pattern, compiled by RE2; raises ``ValueError`` with the reason when it does not."""
    if len(pattern) > MAX_REGEX:
        raise ValueError(f"at most {MAX_REGEX} characters")
    try:
        return re2.compile(pattern, _RE2)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        raise ValueError(f"not a valid RE2 regular expression: {reason}") from None


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
