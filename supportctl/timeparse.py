"""Times people type: ``2h``, ``3d``, ``90m``, ``tomorrow 9:00``,
``monday``, ``2026-12-01``, ``2026-12-01T09:00``, ISO 8601 with a zone.
Times without a zone are in ``tz`` (the config's ``timezone``, else the
system's)."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone, tzinfo

from supportctl.errors import UsageError

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: The longest duration anyone means (a snooze, a search window, an SLA, a
#: config window). Past it a duration is a typo, and the datetime
#: arithmetic it feeds would overflow (years end at 9999).
MAX_DURATION = timedelta(days=100 * 366)
#: Times outside these years are typos too (and ``iso()`` would write a
#: year that is not four digits).
_FIRST_YEAR, _LAST_YEAR = 1000, 9998
_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class DurationTooLong(UsageError, ValueError):
    """A duration past ``MAX_DURATION``: a usage error on the command line,
    a ``ValueError`` to the config's validation."""


def duration(amount: str | int, unit: str, text: str | None = None) -> timedelta:
    """``amount`` of ``unit`` (s, m, h, d, w) as a timedelta, at most
    ``MAX_DURATION``: the one place durations are built from digits."""
    n = int(amount)
    if n * _SECONDS[unit] > MAX_DURATION.total_seconds():
        shown = text if text is not None else f"{amount}{unit}"
        raise DurationTooLong(
            f"duration {shown.strip()!r} is too long: at most 100 years "
            f"({MAX_DURATION.days}d)"
        )
    return timedelta(**{_UNITS[unit]: n})


def _in_range(dt: datetime, text: str) -> datetime:
    if not _FIRST_YEAR <= dt.year <= _LAST_YEAR:
        raise UsageError(f"time {text.strip()!r} is out of range: use a year from "
                         f"{_FIRST_YEAR} to {_LAST_YEAR}")
    return dt


def _moved(now: datetime, delta: timedelta, text: str) -> datetime:
    try:
        return _in_range(now + delta, text)
    except OverflowError:
        raise UsageError(f"time {text.strip()!r} is out of range") from None


def parse_when(text: str, now: datetime, tz: tzinfo | None = None) -> datetime:
    """An aware UTC datetime in the future (or as given)."""
    tz = tz or now.astimezone().tzinfo or timezone.utc
    s = " ".join(text.strip().lower().split())
    m = re.fullmatch(r"(?:in )?(\d+)\s*([smhdw])", s)
    if m:
        return _moved(now, duration(m.group(1), m.group(2), text), text)
    local_now = now.astimezone(tz)
    m = re.fullmatch(r"(today|tomorrow|" + "|".join(_DAYS) + r")(?:\s+(?:at\s+)?(\d{1,2})(?::(\d{2}))?)?", s)
    if m:
        word = m.group(1)
        if word == "today":
            day = local_now.date()
        elif word == "tomorrow":
            day = local_now.date() + timedelta(days=1)
        else:
            ahead = (_DAYS.index(word) - local_now.weekday()) % 7 or 7
            day = local_now.date() + timedelta(days=ahead)
        hour = int(m.group(2)) if m.group(2) else 9
        minute = int(m.group(3)) if m.group(3) else 0
        if hour > 23 or minute > 59:
            raise UsageError(f"bad time {text!r}")
        return _in_range(datetime.combine(day, time(hour, minute), tz).astimezone(timezone.utc),
                         text)
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"cannot read time {text!r}: use 2h, 3d, 'tomorrow 9:00', a weekday or ISO 8601"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    try:
        return _in_range(dt.astimezone(timezone.utc), text)
    except OverflowError:  # 9999-12-31T23:00-05:00 is past the last UTC year
        raise UsageError(f"time {text.strip()!r} is out of range") from None


def parse_since(text: str, now: datetime, tz: tzinfo | None = None) -> datetime:
    """A point in the past: ``30d`` means thirty days ago."""
    m = re.fullmatch(r"(\d+)\s*([smhdw])", text.strip().lower())
    if m:
        return _moved(now, -duration(m.group(1), m.group(2), text), text)
    return parse_when(text, now, tz)
