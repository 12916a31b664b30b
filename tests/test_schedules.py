"""The on-call formula of SPEC §14 as tables: rotations, restrictions across midnight and DST in
a non-UTC zone, layers, overrides, ``until`` and shift lists. Berlin changes to summer time on
2026-03-29 (01:00 UTC) and back on 2026-10-25 (01:00 UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from alertworker.paging.schedules import (
    Answer,
    from_data,
    on_call,
    shifts,
    timeline,
    validate_range,
)


def z(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def schedule(*layers: dict, overrides: tuple = (), tz: str = "Europe/Berlin"):
    return from_data({"timezone": tz, "layers": list(layers), "overrides": list(overrides)})


WEEKLY = {"users": [1, 2, 3], "rotation": "weekly", "start": "2026-03-23T09:00:00+01:00"}


@pytest.mark.parametrize(
    "layer, at, user",
    [
        (WEEKLY, "2026-03-23T08:00:00Z", 1),  # the first hand-off (09:00 CET)
        (WEEKLY, "2026-03-30T07:59:59Z", 1),
        (WEEKLY, "2026-03-30T08:00:00Z", 2),  # 168 h later: 10:00 CEST, same UTC instant
        (WEEKLY, "2026-04-06T08:00:00Z", 3),
        (WEEKLY, "2026-04-13T08:00:00Z", 1),  # wraps around
        (WEEKLY, "2026-03-23T07:59:59Z", None),  # before the start: nobody
        ({"users": [1, 2], "rotation": "daily", "start": "2026-01-01T00:00:00Z"},
         "2026-01-02T12:00:00Z", 2),
        ({"users": [1, 2], "rotation": "daily", "start": "2026-01-01T00:00:00Z"},
         "2026-01-03T00:00:00Z", 1),
        ({"users": [1, 2, 3], "rotation": {"hours": 12}, "start": "2026-01-01T00:00:00Z"},
         "2026-01-01T13:00:00Z", 2),
        ({"users": [1, 2, 3], "rotation": {"hours": 12}, "start": "2026-01-01T00:00:00Z"},
         "2026-01-02T00:00:00Z", 3),
    ],
)  # fmt: skip
def test_rotations(layer, at, user):
    assert on_call(schedule(layer), z(at)).answer.user_id == user


def _restricted(days, start, end, users=(7,)):
    return {"users": list(users), "rotation": "weekly", "start": "2026-01-01T00:00:00Z",
            "restrictions": [{"days": days, "start": start, "end": end}]}  # fmt: skip


NIGHT = _restricted(["fri"], "22:00", "06:00")  # Friday night into Saturday
WEEKEND_NIGHT = _restricted(["sat"], "22:00", "06:00")


@pytest.mark.parametrize(
    "layer, at, user",
    [
        (NIGHT, "2026-03-06T20:59:00Z", None),  # Fri 21:59 CET
        (NIGHT, "2026-03-06T21:00:00Z", 7),  # Fri 22:00
        (NIGHT, "2026-03-07T02:00:00Z", 7),  # Sat 03:00: the window opened on Friday
        (NIGHT, "2026-03-07T04:59:00Z", 7),
        (NIGHT, "2026-03-07T05:00:00Z", None),  # Sat 06:00
        (NIGHT, "2026-03-07T21:00:00Z", None),  # Sat 22:00 is not a listed day
        # spring forward inside the window: 22:00 CET = 21:00Z to 06:00 CEST = 04:00Z (7 h)
        (WEEKEND_NIGHT, "2026-03-28T20:59:00Z", None),
        (WEEKEND_NIGHT, "2026-03-28T21:00:00Z", 7),
        (WEEKEND_NIGHT, "2026-03-29T03:59:00Z", 7),
        (WEEKEND_NIGHT, "2026-03-29T04:00:00Z", None),
        # fall back inside the window: 22:00 CEST = 20:00Z to 06:00 CET = 05:00Z (9 h)
        (WEEKEND_NIGHT, "2026-10-24T19:59:00Z", None),
        (WEEKEND_NIGHT, "2026-10-24T20:00:00Z", 7),
        (WEEKEND_NIGHT, "2026-10-25T04:59:00Z", 7),
        (WEEKEND_NIGHT, "2026-10-25T05:00:00Z", None),
        # a daytime window, same zone
        (_restricted(["mon", "tue"], "09:00", "17:00"), "2026-03-03T08:00:00Z", 7),
        (_restricted(["mon", "tue"], "09:00", "17:00"), "2026-03-03T16:00:00Z", None),
        (_restricted(["mon", "tue"], "09:00", "17:00"), "2026-03-04T08:00:00Z", None),  # Wed
    ],
)
def test_restrictions(layer, at, user):
    assert on_call(schedule(layer), z(at)).answer.user_id == user


ALWAYS = {"users": [1], "rotation": "weekly", "start": "2026-01-01T00:00:00Z"}
OFFICE = _restricted(["mon", "tue", "wed", "thu", "fri"], "09:00", "17:00", users=(2,))


@pytest.mark.parametrize(
    "at, answer, until",
    [
        ("2026-03-04T09:00:00Z", Answer(2, 1), "2026-03-04T16:00:00Z"),  # Wed 10:00: layer 1
        ("2026-03-04T17:00:00Z", Answer(1, 0), "2026-03-05T08:00:00Z"),  # Wed 18:00: layer 0
        ("2026-03-07T10:00:00Z", Answer(1, 0), "2026-03-09T08:00:00Z"),  # Saturday
    ],
)
def test_the_last_layer_that_covers_wins(at, answer, until):
    got = on_call(schedule(ALWAYS, OFFICE), z(at))
    assert (got.answer, got.until) == (answer, z(until))


def test_overrides_win_and_the_latest_created_wins_among_them():
    overrides = (
        {"user_id": 8, "start": "2026-03-04T00:00:00Z", "end": "2026-03-06T00:00:00Z"},
        {"user_id": 9, "start": "2026-03-05T00:00:00Z", "end": "2026-03-05T12:00:00Z"},
    )
    s = schedule(ALWAYS, OFFICE, overrides=overrides)
    assert on_call(s, z("2026-03-04T09:00:00Z")).answer == Answer(8, None, True)
    got = on_call(s, z("2026-03-05T06:00:00Z"))
    assert (got.answer, got.until) == (Answer(9, None, True), z("2026-03-05T12:00:00Z"))
    assert on_call(s, z("2026-03-05T12:00:00Z")).answer == Answer(8, None, True)
    assert on_call(s, z("2026-03-06T09:00:00Z")).answer == Answer(2, 1)  # Fri 10:00 CET


def test_until_is_the_next_hand_off_and_none_when_nothing_changes():
    got = on_call(schedule(WEEKLY), z("2026-03-24T12:00:00Z"))
    assert got.until == z("2026-03-30T08:00:00Z")
    assert on_call(schedule(WEEKLY), z("2026-03-01T00:00:00Z")).until == z("2026-03-23T08:00:00Z")
    lone = {"users": [5], "rotation": "daily", "start": "2026-01-01T00:00:00Z"}
    assert on_call(schedule(lone), z("2026-03-01T00:00:00Z")).until is None


def test_shifts_merge_equal_segments_and_leave_out_nobody():
    got = shifts(schedule(ALWAYS, OFFICE), z("2026-03-02T00:00:00Z"), z("2026-03-04T00:00:00Z"))
    assert [(s.start, s.end, s.answer) for s in got] == [
        (z("2026-03-02T00:00:00Z"), z("2026-03-02T08:00:00Z"), Answer(1, 0)),
        (z("2026-03-02T08:00:00Z"), z("2026-03-02T16:00:00Z"), Answer(2, 1)),
        (z("2026-03-02T16:00:00Z"), z("2026-03-03T08:00:00Z"), Answer(1, 0)),
        (z("2026-03-03T08:00:00Z"), z("2026-03-03T16:00:00Z"), Answer(2, 1)),
        (z("2026-03-03T16:00:00Z"), z("2026-03-04T00:00:00Z"), Answer(1, 0)),
    ]
    week = shifts(schedule(NIGHT), z("2026-03-02T00:00:00Z"), z("2026-03-09T00:00:00Z"))
    assert [(s.start, s.end) for s in week] == [
        (z("2026-03-06T21:00:00Z"), z("2026-03-07T05:00:00Z"))
    ]


def test_a_timeline_tiles_its_range_and_agrees_with_on_call_everywhere():
    s = schedule(WEEKLY, OFFICE, overrides=(
        {"user_id": 9, "start": "2026-03-27T10:00:00Z", "end": "2026-03-31T10:00:00Z"},
    ))  # fmt: skip
    start, end = z("2026-03-20T00:00:00Z"), z("2026-04-10T00:00:00Z")
    segments = timeline(s, start, end)
    assert segments[0].start == start and segments[-1].end == end
    assert all(a.end == b.start and a.answer != b.answer for a, b in pairwise(segments))
    t = start
    while t < end:  # every 37 minutes: no boundary falls on the grid by construction
        segment = next(seg for seg in segments if seg.start <= t < seg.end)
        assert on_call(s, t).answer == segment.answer
        t += timedelta(minutes=37)


def test_hand_offs_are_elapsed_time_across_dst():
    daily = {"users": [1, 2], "rotation": "daily", "start": "2026-03-28T09:00:00+01:00"}
    got = shifts(schedule(daily), z("2026-03-28T08:00:00Z"), z("2026-03-30T08:00:00Z"))
    # 24 h after 09:00 CET is 10:00 CEST: the hand-off keeps its UTC instant
    assert [s.start for s in got] == [z("2026-03-28T08:00:00Z"), z("2026-03-29T08:00:00Z")]


@pytest.mark.parametrize(
    "start, end, ok",
    [
        ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", True),  # 31 days
        ("2026-03-01T00:00:00Z", "2026-04-01T00:00:01Z", False),
        ("2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z", False),
    ],
)
def test_shift_ranges_are_forward_and_at_most_31_days(start, end, ok):
    if ok:
        validate_range(z(start), z(end))
    else:
        with pytest.raises(ValueError):
            validate_range(z(start), z(end))
