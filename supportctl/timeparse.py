"""Times people type: ``2h``, ``3d``, ``90m``, ``tomorrow 9:00``,
``monday``, ``2026-12-01``, ``2026-12-01T09:00``, ISO 8601 with a zone.
Times without a zone are in ``tz`` (the config's ``timezone``, else the
system's)."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone, tzinfo

from supportctl.errors import UsageError

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def parse_when(text: str, now: datetime, tz: tzinfo | None = None) -> datetime:
    """An aware UTC datetime in the future (or as given)."""
    tz = tz or now.astimezone().tzinfo or timezone.utc
    s = " ".join(text.strip().lower().split())
    m = re.fullmatch(r"(?:in )?(\d+)\s*([smhdw])", s)
    if m:
        return now + timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
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
        return datetime.combine(day, time(hour, minute), tz).astimezone(timezone.utc)
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"cannot read time {text!r}: use 2h, 3d, 'tomorrow 9:00', a weekday or ISO 8601"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(timezone.utc)


def parse_since(text: str, now: datetime, tz: tzinfo | None = None) -> datetime:
    """A point in the past: ``30d`` means thirty days ago."""
    m = re.fullmatch(r"(\d+)\s*([smhdw])", text.strip().lower())
    if m:
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    return parse_when(text, now, tz)
