"""A user's preferences (SPEC §8) applied to one email: pure functions of (preferences, time).

:func:`decide` answers, in this order:

1. ``email_enabled`` off                  -> skip ("email off")
2. severity below ``min_severity``        -> skip ("below min_severity")
3. ``digest`` hourly or daily             -> digest, into the period that holds the send time
4. inside quiet hours, not ``critical``   -> defer until the quiet hours end
5. otherwise                              -> send

Quiet hours are read on the user's local wall clock (``zoneinfo``): ``start`` is inclusive,
``end`` exclusive, and ``start > end`` crosses midnight (22:00-07:00). On a DST change day the
window follows the clock: when ``end`` falls in the skipped hour the window ends at the first
minute that exists (the jump), and an hour repeated in autumn is quiet twice if the window
covers it. Digests: ``hourly`` periods are UTC hours; ``daily`` periods run from
:data:`DAILY_DIGEST_HOUR` (08:00) to 08:00 in the timezone of the user's quiet hours, or UTC.
Emails held by quiet hours join the period in which the quiet hours end, and a digest whose
period ends during quiet hours is sent when they end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alertworker.core.catalog import SEVERITY_RANK

DAILY_DIGEST_HOUR = time(8, 0)


@dataclass(frozen=True)
class Preferences:
    """What delivery needs of a user's preferences; plain data (``from_row`` takes an ORM row)."""

    email_enabled: bool = True
    min_severity: str = "info"
    quiet_hours: dict[str, Any] | None = None  # {"start": "22:00", "end": "07:00", "timezone": ...}
    digest: str = "off"

    @classmethod
    def from_row(cls, row: Any) -> Preferences:
        if row is None:
            return cls()
        return cls(row.email_enabled, row.min_severity, row.quiet_hours, row.digest)


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    send_after: datetime  # ``end``, or the end of quiet hours that ``end`` falls in


@dataclass(frozen=True)
class Decision:
    action: str  # send | skip | defer | digest
    reason: str  # metric label: allowed, critical, email_off, below_min_severity, quiet_hours, ...
    until: datetime | None = None  # defer: when to try again (UTC)
    period: Period | None = None  # digest: the period to join


def decide(prefs: Preferences, severity: str, now: datetime) -> Decision:
    """What to do with an email of ``severity`` to a user with ``prefs`` at ``now`` (aware)."""
    if not prefs.email_enabled:
        return Decision("skip", "email_off")
    if SEVERITY_RANK[severity] < SEVERITY_RANK.get(prefs.min_severity, 0):
        return Decision("skip", "below_min_severity")
    quiet_end = quiet_until(prefs.quiet_hours, now)
    if prefs.digest in ("hourly", "daily"):
        when = now if severity == "critical" or quiet_end is None else quiet_end
        return Decision("digest", prefs.digest, period=digest_period(prefs, when))
    if quiet_end is None:
        return Decision("send", "allowed")
    if severity == "critical":
        return Decision("send", "critical")
    return Decision("defer", "quiet_hours", until=quiet_end)


def quiet_until(quiet_hours: dict[str, Any] | None, now: datetime) -> datetime | None:
    """When the quiet hours that ``now`` is in end (UTC), or None outside quiet hours."""
    if not quiet_hours:
        return None
    tz = ZoneInfo(quiet_hours["timezone"])
    start, end = _hhmm(quiet_hours["start"]), _hhmm(quiet_hours["end"])
    local = now.astimezone(tz)
    clock, today = local.time().replace(tzinfo=None), local.date()
    if start < end:
        inside, end_day = start <= clock < end, today
    else:  # crosses midnight
        inside = clock >= start or clock < end
        end_day = today + timedelta(days=1) if clock >= start else today
    if not inside:
        return None
    until = at_local(end_day, end, tz)
    return until if until > now else at_local(end_day, end, tz, fold=1)  # in a repeated hour


def digest_period(prefs: Preferences, when: datetime) -> Period:
    """The digest period holding ``when``: a UTC hour, or a day starting at 08:00 local."""
    if prefs.digest == "hourly":
        start = when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        end = start + timedelta(hours=1)
    else:
        tz = ZoneInfo((prefs.quiet_hours or {}).get("timezone") or "UTC")
        day = when.astimezone(tz).date()
        start = at_local(day, DAILY_DIGEST_HOUR, tz)
        if start > when:
            day -= timedelta(days=1)
            start = at_local(day, DAILY_DIGEST_HOUR, tz)
        end = at_local(day + timedelta(days=1), DAILY_DIGEST_HOUR, tz)
    return Period(start, end, quiet_until(prefs.quiet_hours, end) or end)


def at_local(day: date, clock: time, tz: ZoneInfo, fold: int = 0) -> datetime:
    """The UTC instant the wall clock in ``tz`` shows ``clock`` on ``day``.

    A time skipped by a DST jump becomes the first minute after it that exists (the jump
    itself); a repeated time is its first occurrence, or its second with ``fold=1``.
    """
    naive = datetime.combine(day, clock)
    for _ in range(24 * 60):
        aware = naive.replace(tzinfo=tz, fold=fold)
        if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive:
            return aware.astimezone(UTC)
        naive += timedelta(minutes=1)
    raise ValueError(f"no local time at or after {clock} on {day} in {tz}")  # pragma: no cover


def _hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))
