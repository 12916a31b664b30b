"""The pipeline's §16 step: silenced and inhibited events leave before the throttle.

:meth:`Silencing.apply` takes the batch's groups (after conditions, before the throttle) and
returns them without the events that an active silence or an inhibiting notification keeps
quiet; those take no cooldown and no place in the hourly window. Each quiet event is counted
(outcome ``silenced`` / ``inhibited`` in the evaluations metric; ``alert_throttles.
silenced_count``, which ``recording`` adds in its key-ordered summary upsert), logged with the
silence or notification id, and kept on the batch result (:class:`Quiet`) for the trail.
Test alerts are never silenced, nor resolve events (§13: the pipeline resolves with them
before matching, so they never get here).

Cost per event is a tuple and a dict look-up: each tenant's silences and rules are cached per
``config_version`` (every silence or rule write bumps it, and the pipeline reads it each
batch, so a change applies to the next batch), regexes compiled once per load, and matching
is memoised per batch on (config, fingerprint, the context values any matcher reads). Only
the silences that can match are tried: each is indexed under one of its ``=`` matchers
(``alert_type = x`` is tried only on events of type x); rules' targets are memoised on what
they read. The
candidate sources of inhibition are read in one query per batch, only when an event of the
batch matches some rule's target; a tenant without rules and active silences costs nothing.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from alertworker.core.catalog import ALERT_TYPES
from alertworker.core.models import AlertNotification, InhibitRule, Silence
from alertworker.ingest.matchers import (
    CONTEXT,
    Compiled,
    compile_matchers,
    matches,
    names,
    render,
    value_of,
)
from alertworker.ingest.recording import Group

log = logging.getLogger(__name__)
N = AlertNotification.__table__


@dataclass(frozen=True)
class Quiet:
    """An (event, config) not notified on purpose: ``by`` is the silence's id (``silenced``)
    or the inhibiting notification's id (``inhibited``)."""

    event_id: str
    config_id: int
    outcome: str
    by: int


@dataclass(frozen=True)
class _Silence:
    id: int
    starts_at: datetime
    ends_at: datetime
    matchers: list[Compiled]


@dataclass(frozen=True)
class _Rule:
    id: int
    source: list[Compiled]
    target: list[Compiled]
    equal: tuple[str, ...]
    source_types: frozenset[str]  # the alert types the source can match at all


@dataclass(frozen=True)
class TenantRules:
    silences: tuple[_Silence, ...]
    rules: tuple[_Rule, ...]
    keys: tuple[str, ...]  # every context key a matcher or ``equal`` reads
    # Silences by one of their ``=`` matchers: an event whose value differs cannot match, so
    # only the silences under its values (and those without one) are tried.
    by_value: dict[tuple[str, str], tuple[int, ...]] = field(default_factory=dict)
    unindexed: tuple[int, ...] = ()  # positions in ``silences``
    indexed_names: tuple[str, ...] = ()
    target_names: tuple[str, ...] = ()  # what the rules' targets read: their memo key


def open_notifications_matching(conn: Any, tenant_ids: list[int], alert_types: list[str]) -> Any:
    """Open notifications of these tenants and types, the candidate sources of inhibition:
    ``(id, tenant_id, config_id, fingerprint, alert_type, severity, context)``, oldest first.
    Open means firing or acknowledged (§13); test alerts never inhibit."""
    return conn.execute(_OPEN, {"tenants": tenant_ids, "types": alert_types})


_OPEN = (
    select(
        N.c.id,
        N.c.tenant_id,
        N.c.config_id,
        N.c.fingerprint,
        N.c.alert_type,
        N.c.severity,
        N.c.context,
    )  # fmt: skip
    .where(
        N.c.tenant_id.in_(bindparam("tenants", expanding=True)),
        N.c.alert_type.in_(bindparam("types", expanding=True)),
        N.c.is_test.is_(False),
        N.c.state != "resolved",
    )
    .order_by(N.c.id)
)


def _always(value: str) -> Callable[[str], str]:
    return lambda _: value


def compile_tenant(silences: list[Silence], rules: list[InhibitRule]) -> TenantRules:
    keys: set[str] = set()
    loaded = []
    for s in silences:
        keys |= names(s.matchers)
        loaded.append(_Silence(s.id, s.starts_at, s.ends_at, compile_matchers(s.matchers)))
    compiled = []
    for r in rules:
        keys |= names(r.source) | names(r.target) | set(r.equal)
        by_type = compile_matchers(m for m in r.source if m["name"] == "alert_type")
        types = frozenset(t for t in ALERT_TYPES if matches(by_type, _always(t)))
        compiled.append(_Rule(r.id, compile_matchers(r.source), compile_matchers(r.target),
                              tuple(r.equal), types))  # fmt: skip
    context = tuple(sorted(k[len(CONTEXT) :] for k in keys if k.startswith(CONTEXT)))
    by_value: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
    unindexed = []
    for position, s in enumerate(silences):
        equal = [(m["name"], m["value"]) for m in s.matchers if m["op"] == "="]
        if equal:  # a context key tells alerts apart best, then the config, then type
            by_value[min(equal, key=_selectivity)].append(position)
        else:
            unindexed.append(position)
    targets = sorted({n for r in rules for n in names(r.target)})
    return TenantRules(
        tuple(loaded), tuple(compiled), context,
        {k: tuple(v) for k, v in by_value.items()}, tuple(unindexed),
        tuple(sorted({name for name, _ in by_value})), tuple(targets),
    )  # fmt: skip


def _selectivity(matcher: tuple[str, str]) -> tuple[int, str]:
    name = matcher[0]
    return (0 if name.startswith(CONTEXT) else 1 if name == "config_id" else 2, name)


class Silencing:
    def __init__(self, max_tenants: int = 10_000) -> None:
        self.max_tenants = max_tenants
        self._entries: dict[int, tuple[int, TenantRules]] = {}

    def rules(
        self, session: Session, versions: dict[int, int], now: datetime
    ) -> dict[int, TenantRules]:
        """Each tenant's silences (not expired at load) and rules, at these versions."""
        stale = [t for t, v in versions.items() if self._entries.get(t, (None,))[0] != v]
        if stale:
            if len(self._entries) + len(stale) > self.max_tenants:
                self._entries.clear()
            silences: defaultdict[int, list[Silence]] = defaultdict(list)
            rules: defaultdict[int, list[InhibitRule]] = defaultdict(list)
            query = select(Silence).where(Silence.tenant_id.in_(stale), Silence.ends_at > now)
            for s in session.scalars(query.order_by(Silence.id)):
                silences[s.tenant_id].append(s)
            inhibit = select(InhibitRule).where(InhibitRule.tenant_id.in_(stale))
            for r in session.scalars(inhibit.order_by(InhibitRule.id)):
                rules[r.tenant_id].append(r)
            for t in stale:
                self._entries[t] = (versions[t], compile_tenant(silences[t], rules[t]))
        return {t: self._entries[t][1] for t in versions}

    def apply(
        self, session: Session, groups: list[Group], versions: dict[int, int], now: datetime,
        result: Any,
    ) -> list[Group]:  # fmt: skip
        """``groups`` without their silenced and inhibited events (counted, logged, and kept
        on ``result.quiet``)."""
        if not groups:
            return groups
        tenants = {g.config.tenant_id for g in groups}
        by_tenant = self.rules(session, {t: versions[t] for t in tenants}, now)
        active = {
            t: [s for s in tr.silences if s.starts_at <= now < s.ends_at]
            for t, tr in by_tenant.items()
        }
        if not any(active.values()) and not any(tr.rules for tr in by_tenant.values()):
            return groups  # the common case: nothing to match
        verdicts: dict[tuple, _Verdict] = {}  # memo: (config, fingerprint, *context values)
        targets: dict[tuple, list[_Rule]] = {}  # memo: (tenant, *what the targets read)
        keyed: list[tuple[Group, list[tuple | None]]] = []
        for g in groups:
            tr, silences = by_tenant[g.config.tenant_id], active[g.config.tenant_id]
            if not silences and not tr.rules:
                keyed.append((g, []))
                continue
            keys: list[tuple | None] = []
            for e in g.events:
                if e["is_test"]:
                    keys.append(None)
                    continue
                ctx = e["context"]
                key = (g.config.id, g.fingerprint,
                       *[render(ctx[k]) if k in ctx else "" for k in tr.keys])  # fmt: skip
                if key not in verdicts:
                    verdicts[key] = _judge(g, e["alert_type"], tr, now, key[2:], targets)
                keys.append(key)
            keyed.append((g, keys))
        targeted = [v for v in verdicts.values() if v.targeted]
        if targeted:
            _inhibit(session.connection(), targeted, by_tenant)
        return _split(keyed, verdicts, result)


@dataclass
class _Verdict:
    """What happens to every event of one memo key; ``targeted``: rules whose target matched."""

    outcome: str | None
    by: int | None
    targeted: list[_Rule]
    reads: dict[str, str]
    own: tuple[int, str]  # (config, fingerprint): never inhibited by its own notification
    tenant_id: int


def _judge(
    g: Group, alert_type: str, tr: TenantRules, now: datetime, values: tuple,
    targets: dict[tuple, list[_Rule]],
) -> _Verdict:  # fmt: skip
    """The first active silence (by id) that matches, else the rules whose target matches."""
    reads = dict(zip((CONTEXT + k for k in tr.keys), values, strict=True))
    reads.update(alert_type=alert_type, severity=g.config.severity, config_id=str(g.config.id))
    read = reads.__getitem__
    own = (g.config.id, g.fingerprint)
    candidates = [*tr.unindexed]
    for name in tr.indexed_names:
        candidates += tr.by_value.get((name, read(name)), ())
    for position in sorted(candidates):
        s = tr.silences[position]
        if s.starts_at <= now < s.ends_at and matches(s.matchers, read):
            return _Verdict("silenced", s.id, [], reads, own, g.config.tenant_id)
    key = (g.config.tenant_id, *map(read, tr.target_names))
    if key not in targets:
        targets[key] = [r for r in tr.rules if matches(r.target, read)]
    return _Verdict(None, None, targets[key], reads, own, g.config.tenant_id)


def _inhibit(conn: Any, targeted: list[_Verdict], by_tenant: dict[int, TenantRules]) -> None:
    """Fill in the ``inhibited`` verdicts from one query of the candidate sources."""
    tenants = sorted({v.tenant_id for v in targeted})
    types = sorted({t for v in targeted for r in v.targeted for t in r.source_types})
    if not types:
        return
    wanted = {r.id for v in targeted for r in v.targeted}
    sources: dict[tuple[int, tuple], list[tuple[int, int | None, str]]] = defaultdict(list)
    for nid, tenant_id, cfg, fp, alert_type, severity, context in open_notifications_matching(
        conn, tenants, types
    ):
        read = functools.partial(_read_notification, alert_type, severity, cfg, context or {})
        for r in by_tenant[tenant_id].rules:
            if r.id in wanted and alert_type in r.source_types and matches(r.source, read):
                sources[(r.id, tuple(read(k) for k in r.equal))].append((nid, cfg, fp))
    sourced = {rule_id for rule_id, _ in sources}
    for v in targeted:
        values: dict[tuple[str, ...], tuple[str, ...]] = {}  # by ``equal``: rules share them
        for r in v.targeted:
            if r.id not in sourced:
                continue
            if r.equal not in values:
                values[r.equal] = tuple([v.reads[k] for k in r.equal])
            found = sources.get((r.id, values[r.equal]), ())
            nid = next((nid for nid, cfg, fp in found if (cfg, fp) != v.own), None)
            if nid is not None:
                v.outcome, v.by = "inhibited", nid
                break


def _read_notification(alert_type: str, severity: str, config_id: int | None,
                          ctx: dict[str, Any], name: str) -> str:  # fmt: skip
    return value_of(name, alert_type, severity, config_id, ctx)


def _split(
    keyed: list[tuple[Group, list[tuple | None]]], verdicts: dict[tuple, _Verdict], result: Any
) -> list[Group]:
    """Keep the passing events of each group; count, log and record the quiet ones (their
    ``silenced_count`` is left on ``result.silenced`` for ``recording`` to write)."""
    kept, counts, quiet = [], Counter[tuple](), []
    for g, keys in keyed:
        if not keys:  # the tenant has nothing to match
            kept.append(g)
            continue
        passing = []
        for e, key in zip(g.events, keys, strict=True):
            v = verdicts[key] if key is not None else None
            if v is None or v.outcome is None:
                passing.append(e)
                continue
            assert v.by is not None  # an outcome always names its silence or notification
            quiet.append(Quiet(e["event_id"], g.config.id, v.outcome, v.by))
            counts[(g.config.id, g.fingerprint, v.outcome, v.by)] += 1
        if len(passing) == len(g.events):
            kept.append(g)
        elif passing:
            kept.append(Group(g.config, g.fingerprint, passing))
    if not quiet:
        return kept
    result.quiet.extend(quiet)
    first: dict[tuple, str] = {}
    for q in quiet:
        first.setdefault((q.config_id, q.outcome, q.by), q.event_id)
    for (cfg, fp, outcome, by), n in sorted(counts.items()):
        result.outcomes[outcome] += n
        result.silenced[(cfg, fp)] += n  # recording adds it to alert_throttles, in key order
        what = "silence" if outcome == "silenced" else "notification"
        log.info("event %s config %d: %s by %s %d (%d event(s) of the batch)",
                 first[(cfg, outcome, by)], cfg, outcome, what, by, n)  # fmt: skip
    return kept
