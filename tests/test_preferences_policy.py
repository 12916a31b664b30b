"""SPEC §8 as pure functions with a fixed clock: quiet hours (midnight, boundaries, DST, critical),
opt-out, min_severity and digest periods."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alertworker.delivery.delivery_policy import Preferences, decide, digest_period, quiet_until

BERLIN = "Europe/Berlin"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def quiet(start: str, end: str, tz: str = BERLIN) -> dict[str, str]:
    return {"start": start, "end": end, "timezone": tz}


NIGHT = quiet("22:00", "07:00")  # crosses midnight; Berlin is UTC+1 in January


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (utc(2026, 1, 15, 20, 59), None),  # 21:59 local: before
        (utc(2026, 1, 15, 21, 0), utc(2026, 1, 16, 6, 0)),  # 22:00 exactly: start is inclusive
        (utc(2026, 1, 15, 23, 30), utc(2026, 1, 16, 6, 0)),  # 00:30 local, past midnight
        (utc(2026, 1, 16, 5, 59), utc(2026, 1, 16, 6, 0)),  # 06:59 local
        (utc(2026, 1, 16, 6, 0), None),  # 07:00 exactly: end is exclusive
        (utc(2026, 1, 16, 12, 0), None),  # midday
    ],
)
def test_quiet_hours_across_midnight(now, until):
    assert quiet_until(NIGHT, now) == until


def test_quiet_hours_within_one_day():
    lunch = quiet("12:00", "13:30", "UTC")
    assert quiet_until(lunch, utc(2026, 1, 15, 11, 59, 59)) is None
    assert quiet_until(lunch, utc(2026, 1, 15, 12, 0)) == utc(2026, 1, 15, 13, 30)
    assert quiet_until(lunch, utc(2026, 1, 15, 13, 30)) is None
    assert quiet_until(None, utc(2026, 1, 15, 12, 0)) is None


def test_spring_forward_2026_03_29_in_berlin():
    # 02:00 CET jumps to 03:00 CEST at 01:00 UTC: the night is an hour shorter
    assert quiet_until(NIGHT, utc(2026, 3, 28, 21, 0)) == utc(2026, 3, 29, 5, 0)  # 07:00 CEST
    assert quiet_until(NIGHT, utc(2026, 3, 29, 4, 59)) == utc(2026, 3, 29, 5, 0)
    assert quiet_until(NIGHT, utc(2026, 3, 29, 5, 0)) is None
    # an end inside the skipped hour ends the quiet hours at the jump itself
    skipped = quiet("22:00", "02:30")
    assert quiet_until(skipped, utc(2026, 3, 29, 0, 30)) == utc(2026, 3, 29, 1, 0)
    assert quiet_until(skipped, utc(2026, 3, 29, 1, 0)) is None  # 03:00 CEST


def test_fall_back_2026_10_25_in_berlin():
    # 03:00 CEST goes back to 02:00 CET at 01:00 UTC: the night is an hour longer
    assert quiet_until(NIGHT, utc(2026, 10, 24, 20, 0)) == utc(2026, 10, 25, 6, 0)  # 22:00 CEST
    assert quiet_until(NIGHT, utc(2026, 10, 25, 5, 59)) == utc(2026, 10, 25, 6, 0)  # 07:00 CET
    assert quiet_until(NIGHT, utc(2026, 10, 25, 6, 0)) is None
    # an end in the repeated hour is its first occurrence; the repeat is quiet again by the clock
    repeated = quiet("01:00", "02:30")
    assert quiet_until(repeated, utc(2026, 10, 24, 23, 30)) == utc(2026, 10, 25, 0, 30)
    assert quiet_until(repeated, utc(2026, 10, 25, 0, 30)) is None  # 02:30 CEST
    assert quiet_until(repeated, utc(2026, 10, 25, 1, 0)) == utc(2026, 10, 25, 1, 30)  # 02:00 CET


def test_new_york_uses_its_own_dst_date():
    evening = quiet("18:00", "08:00", "America/New_York")  # US DST began 2026-03-08
    assert quiet_until(evening, utc(2026, 3, 8, 3, 0)) == utc(2026, 3, 8, 12, 0)  # 08:00 EDT


@pytest.mark.parametrize(
    ("prefs", "severity", "expected"),
    [
        (Preferences(), "info", ("send", "allowed")),
        (Preferences(email_enabled=False), "critical", ("skip", "email_off")),
        (Preferences(min_severity="error"), "warning", ("skip", "below_min_severity")),
        (Preferences(min_severity="error"), "error", ("send", "allowed")),
        (Preferences(quiet_hours=NIGHT), "error", ("defer", "quiet_hours")),
        (Preferences(quiet_hours=NIGHT), "critical", ("send", "critical")),
        (Preferences(quiet_hours=NIGHT, min_severity="critical"), "error",
         ("skip", "below_min_severity")),
        (Preferences(digest="hourly", quiet_hours=NIGHT), "warning", ("digest", "hourly")),
        (Preferences(digest="daily", email_enabled=False), "warning", ("skip", "email_off")),
    ],
)  # fmt: skip
def test_decisions_in_order(prefs, severity, expected):
    decision = decide(prefs, severity, utc(2026, 1, 15, 23, 0))  # 00:00 in Berlin: quiet
    assert (decision.action, decision.reason) == expected
    if decision.action == "defer":
        assert decision.until == utc(2026, 1, 16, 6, 0)


def test_hourly_digest_periods_are_utc_hours():
    period = digest_period(Preferences(digest="hourly"), utc(2026, 1, 15, 9, 59, 59))
    assert (period.start, period.end, period.send_after) == (
        utc(2026, 1, 15, 9),
        utc(2026, 1, 15, 10),
        utc(2026, 1, 15, 10),
    )


def test_daily_digest_periods_run_from_eight_local():
    daily = Preferences(digest="daily", quiet_hours=NIGHT)
    period = digest_period(daily, utc(2026, 1, 15, 6, 59))  # 07:59 local: yesterday's period
    assert (period.start, period.end) == (utc(2026, 1, 14, 7), utc(2026, 1, 15, 7))
    period = digest_period(daily, utc(2026, 1, 15, 7, 0))  # 08:00 local: today's
    assert (period.start, period.end) == (utc(2026, 1, 15, 7), utc(2026, 1, 16, 7))
    spring = digest_period(daily, utc(2026, 3, 28, 12, 0))  # a 23-hour day
    assert (spring.start, spring.end) == (utc(2026, 3, 28, 7), utc(2026, 3, 29, 6))
    no_zone = digest_period(Preferences(digest="daily"), utc(2026, 1, 15, 12, 0))
    assert (no_zone.start, no_zone.end) == (utc(2026, 1, 15, 8), utc(2026, 1, 16, 8))


def test_digests_wait_for_the_end_of_quiet_hours():
    prefs = Preferences(digest="hourly", quiet_hours=NIGHT)
    held = decide(prefs, "warning", utc(2026, 1, 15, 23, 10))  # 00:10 local: quiet
    assert held.period.start == utc(2026, 1, 16, 6)  # gathered into the hour quiet hours end in
    urgent = decide(prefs, "critical", utc(2026, 1, 15, 23, 10))
    assert urgent.period.start == utc(2026, 1, 15, 23)  # critical: the current hour's digest,
    assert urgent.period.send_after == utc(2026, 1, 16, 6)  # still not sent during quiet hours
    evening = decide(prefs, "warning", utc(2026, 1, 15, 19, 30))  # 20:30 local: not quiet
    assert evening.period.end == utc(2026, 1, 15, 20) == evening.period.send_after
    late = decide(prefs, "warning", utc(2026, 1, 15, 20, 30))  # its hour ends at 22:00 local,
    assert late.period.send_after == utc(2026, 1, 16, 6)  # when quiet hours begin
