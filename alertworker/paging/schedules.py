"""Who is on call (SPEC §14): pure functions of a schedule and an instant; no I/O.

A schedule has layers and overrides. At instant ``t``:

1. an override covering ``t`` wins (the last one in the list, i.e. the latest created);
2. otherwise the last layer in the list that covers ``t`` answers: a layer covers nothing
   before its ``start`` and, with restrictions, only inside one of their windows; its user is
   ``users[floor((t - start) / period) mod len(users)]``. The period is elapsed time (24 h,
   168 h or N h), so a hand-off keeps its UTC instant across a DST change;
3. otherwise nobody.

A restriction's window opens on each of its ``days`` at ``start`` in the schedule's time zone
and closes at ``end`` (the next day when ``end`` is not after ``start``), so "fri 22:00–06:00"
covers Saturday 03:00. Windows are computed in local time and compared as instants, so a
window across a DST change lasts one hour more or less.

:func:`timeline` cuts a range into segments where the answer is constant, by evaluating the
answer at every instant where it may change (hand-offs, window edges, layer starts, override
edges); :func:`on_call` and :func:`shifts` are built on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ROTATIONS: dict[str, timedelta] = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
HORIZON = timedelta(days=31)  # how far on_call looks for the end of the current answer


@dataclass(frozen=True)
class Restriction:
    days: frozenset[int]  # 0 = Monday, as date.weekday()
    start: time
    end: time


@dataclass(frozen=True)
class Layer:
    users: tuple[int, ...]
    period: timedelta
    start: datetime
    restrictions: tuple[Restriction, ...] = ()


@dataclass(frozen=True)
class Override:
    user_id: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Schedule:
    timezone: ZoneInfo
    layers: tuple[Layer, ...]
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True)
class Answer:
    """Who is on call: ``user_id`` None for nobody; ``layer`` 0-based, None for an override."""

    user_id: int | None
    layer: int | None = None
    override: bool = False


NOBODY = Answer(None)


@dataclass(frozen=True)
class Segment:
    start: datetime
    end: datetime
    answer: Answer


@dataclass(frozen=True)
class OnCall:
    answer: Answer
    until: datetime | None  # when the answer changes next; None: not within HORIZON


def from_data(data: Mapping[str, Any]) -> Schedule:
    """A schedule from its validated, stored form (``timezone``, ``layers``, ``overrides``)."""
    tz = ZoneInfo(data["timezone"])
    layers = tuple(
        Layer(
            users=tuple(layer["users"]),
            period=_period(layer["rotation"]),
            start=_instant(layer["start"]),
            restrictions=tuple(
                Restriction(
                    frozenset(DAYS.index(d) for d in r["days"]),
                    _clock(r["start"]),
                    _clock(r["end"]),
                )
                for r in layer.get("restrictions") or ()
            ),
        )
        for layer in data["layers"]
    )
    overrides = tuple(
        Override(o["user_id"], _instant(o["start"]), _instant(o["end"]))
        for o in data.get("overrides") or ()
    )
    return Schedule(tz, layers, overrides)


def answer_at(schedule: Schedule, t: datetime) -> Answer:
    for override in reversed(schedule.overrides):
        if override.start <= t < override.end:
            return Answer(override.user_id, None, True)
    for index in range(len(schedule.layers) - 1, -1, -1):
        layer = schedule.layers[index]
        if t < layer.start or not _allowed(layer, t, schedule.timezone):
            continue
        turn = (t - layer.start) // layer.period
        return Answer(layer.users[turn % len(layer.users)], index)
    return NOBODY


def timeline(schedule: Schedule, start: datetime, end: datetime) -> list[Segment]:
    """[start, end) cut into maximal segments of one answer, nobody's included."""
    edges = sorted({start, *(e for e in _edges(schedule, start, end) if start < e < end), end})
    segments: list[Segment] = []
    for a, b in pairwise(edges):
        answer = answer_at(schedule, a)
        if segments and segments[-1].answer == answer:
            segments[-1] = Segment(segments[-1].start, b, answer)
        else:
            segments.append(Segment(a, b, answer))
    return segments


def on_call(schedule: Schedule, t: datetime) -> OnCall:
    first = timeline(schedule, t, t + HORIZON)[0]
    return OnCall(first.answer, first.end if first.end < t + HORIZON else None)


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Segment]:
    """The segments of [start, end) during which somebody is on call."""
    return [s for s in timeline(schedule, start, end) if s.answer.user_id is not None]


# -- internals ---------------------------------------------------------------------------------


def _allowed(layer: Layer, t: datetime, tz: ZoneInfo) -> bool:
    if not layer.restrictions:
        return True
    today = t.astimezone(tz).date()
    return any(
        opens <= t < closes
        for r in layer.restrictions
        for day in (today - timedelta(days=1), today)
        if day.weekday() in r.days
        for opens, closes in [_window(r, day, tz)]
    )


def _window(r: Restriction, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    closing_day = day if r.end > r.start else day + timedelta(days=1)
    return datetime.combine(day, r.start, tz), datetime.combine(closing_day, r.end, tz)


def _edges(schedule: Schedule, start: datetime, end: datetime) -> Iterator[datetime]:
    """Every instant in or near [start, end) at which the answer may change."""
    for o in schedule.overrides:
        yield from (o.start, o.end)
    tz = schedule.timezone
    first_day = start.astimezone(tz).date() - timedelta(days=1)
    days = (end.astimezone(tz).date() - first_day).days + 1
    for layer in schedule.layers:
        yield layer.start
        turn = max(0, (start - layer.start) // layer.period)
        handoff = layer.start + turn * layer.period
        while handoff < end:
            yield handoff
            handoff += layer.period
        for r in layer.restrictions:
            for n in range(days):
                day = first_day + timedelta(days=n)
                if day.weekday() in r.days:
                    yield from _window(r, day, tz)


def _period(rotation: str | Mapping[str, int]) -> timedelta:
    if isinstance(rotation, str):
        return ROTATIONS[rotation]
    return timedelta(hours=rotation["hours"])


def _instant(value: str | datetime) -> datetime:
    t = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if t.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return t.astimezone(UTC)


def _clock(value: str | time) -> time:
    return value if isinstance(value, time) else time.fromisoformat(value)


def validate_range(start: datetime, end: datetime, limit: timedelta = HORIZON) -> None:
    """A shifts range must be forward and at most ``limit`` long (31 days)."""
    if end <= start:
        raise ValueError("to must be after from")
    if end - start > limit:
        raise ValueError(f"at most {limit.days} days")
