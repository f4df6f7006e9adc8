"""SLA clocks: when a first response and a resolution are due.

With business hours configured, a clock only runs inside them, in the
configured time zone, skipping weekends the hours exclude and holidays (a
country's calendar from the ``holidays`` package plus listed dates). A
ticket created at 17:30 on a Friday with a 4h first-response target and
09:00–18:00 Monday–Friday hours is due Monday 12:30.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any


@dataclass
class Hours:
    days: set[int] = field(default_factory=lambda: {0, 1, 2, 3, 4})  # Monday = 0
    start: time = time(9, 0)
    end: time = time(17, 0)
    tz: Any = timezone.utc
    is_holiday: Callable[[date], bool] = lambda d: False


def add_business_time(start: datetime, delta: timedelta, hours: Hours | None) -> datetime:
    """``start`` plus ``delta`` of working time (plain time without hours)."""
    if hours is None or delta <= timedelta(0):
        return start + delta
    if hours.end <= hours.start or not hours.days:
        return start + delta
    local = start.astimezone(hours.tz)
    remaining = delta
    for _ in range(3700):  # ten years of days bounds a misconfigured calendar
        day = local.date()
        if day.weekday() in hours.days and not hours.is_holiday(day):
            open_at = datetime.combine(day, hours.start, hours.tz)
            close_at = datetime.combine(day, hours.end, hours.tz)
            begin = max(local, open_at)
            if begin < close_at:
                available = close_at - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(timezone.utc)
                remaining -= available
        nxt = day + timedelta(days=1)
        local = datetime.combine(nxt, time(0, 0), hours.tz)
    return (start + delta).astimezone(timezone.utc)


def hours_from_config(config: Any) -> Hours | None:
    """Build ``Hours`` from ``config.business_hours``/``holidays``/``timezone``."""
    bh = getattr(config, "business_hours", None)
    if not bh:
        return None
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(config.timezone) if getattr(config, "timezone", None) else _local_tz()
    extra: set[date] = set(getattr(getattr(config, "holidays", None), "dates", None) or [])
    country = getattr(getattr(config, "holidays", None), "country", None)
    calendar: Any = None

    def is_holiday(d: date) -> bool:
        nonlocal calendar
        if d in extra:
            return True
        if not country:
            return False
        if calendar is None:
            import holidays

            calendar = holidays.country_holidays(country)
        return d in calendar

    return Hours(days=set(bh.days), start=bh.start, end=bh.end, tz=tz, is_holiday=is_holiday)


def _local_tz() -> Any:
    return datetime.now().astimezone().tzinfo


def due_times(
    created: datetime, priority: str, config: Any
) -> tuple[datetime | None, datetime | None]:
    sla = getattr(config, "sla", None)
    if sla is None:
        return None, None
    first, resolution = sla.first_response, sla.resolution
    override = (getattr(sla, "by_priority", None) or {}).get(priority)
    if override:
        first = override[0] or first
        resolution = override[1] or resolution
    hours = hours_from_config(config) if getattr(sla, "business_hours_only", True) else None
    return (
        add_business_time(created, first, hours) if first else None,
        add_business_time(created, resolution, hours) if resolution else None,
    )


# -- elapsed business time (report, SPEC §11) ---------------------------------


def working_intervals(day: date, hours: Hours) -> list[tuple[datetime, datetime]]:
    """The working interval of a local ``day`` as UTC instants (none on a
    day off or a holiday). Each bound is read on its own day, so a day
    with a daylight-saving change has its real length."""
    if day.weekday() not in hours.days or hours.is_holiday(day) or hours.end <= hours.start:
        return []
    open_at = datetime.combine(day, hours.start, hours.tz).astimezone(timezone.utc)
    close_at = datetime.combine(day, hours.end, hours.tz).astimezone(timezone.utc)
    return [(open_at, close_at)] if open_at < close_at else []


def business_time_between(start: datetime, end: datetime, hours: Hours | None) -> timedelta:
    """Working time from ``start`` to ``end`` (zero when end <= start;
    plain elapsed time without hours): the inverse of ``add_business_time``."""
    if end <= start:
        return timedelta(0)
    if hours is None or not hours.days or hours.end <= hours.start:
        return end - start
    total = timedelta(0)
    day = start.astimezone(hours.tz).date() - timedelta(days=1)
    last = end.astimezone(hours.tz).date()
    while day <= last:
        for a, b in working_intervals(day, hours):
            lo, hi = max(a, start), min(b, end)
            if lo < hi:
                total += hi - lo
        day += timedelta(days=1)
    return total


class BusinessClock:
    """``business_time_between`` for many instants at once, in Unix seconds.

    ``position(t)`` is the working seconds from the start of a local-day
    range to ``t``; a difference of two positions is the working time
    between them. The days of the range are laid out once (their midnights
    and working intervals as Unix seconds), so each instant costs a binary
    search instead of a walk over days: a report over a hundred thousand
    tickets needs this. Instants outside the range fall back to
    ``business_time_between``."""

    def __init__(self, hours: Hours, first: date, last: date) -> None:
        import bisect

        self._bisect = bisect.bisect_right
        self.hours = hours
        self.first = first
        self.midnights: list[float] = []
        self.intervals: list[list[tuple[float, float]]] = []
        self.before: list[float] = []  # working seconds of the days before each day
        total = 0.0
        day = first
        while day <= last + timedelta(days=1):
            self.midnights.append(datetime.combine(day, time(0, 0), hours.tz).timestamp())
            spans = [(a.timestamp(), b.timestamp()) for a, b in working_intervals(day, hours)]
            self.intervals.append(spans)
            self.before.append(total)
            total += sum(b - a for a, b in spans)
            day += timedelta(days=1)

    def position(self, t: float) -> float | None:
        i = self._bisect(self.midnights, t) - 1
        if i < 0 or i >= len(self.midnights) - 1:
            return None
        pos = self.before[i]
        for a, b in self.intervals[i]:
            if t > a:
                pos += min(t, b) - a
        return pos

    def between(self, start: float, end: float) -> float:
        """Working seconds from ``start`` to ``end`` (Unix seconds)."""
        if end <= start:
            return 0.0
        a, b = self.position(start), self.position(end)
        if a is None or b is None:
            return business_time_between(
                datetime.fromtimestamp(start, timezone.utc), datetime.fromtimestamp(end, timezone.utc),
                self.hours).total_seconds()
        return b - a
def next_business_time(t: datetime, hours: Hours | None) -> datetime:
    """The first instant at or after ``t`` inside business hours (``t``
    itself when it is inside them, or when there are no hours)."""
    if hours is None or hours.end <= hours.start or not hours.days:
        return t
    local = t.astimezone(hours.tz)
    for _ in range(3700):  # ten years of days bounds a misconfigured calendar
        day = local.date()
        if day.weekday() in hours.days and not hours.is_holiday(day):
            open_at = datetime.combine(day, hours.start, hours.tz)
            close_at = datetime.combine(day, hours.end, hours.tz)
            if local < close_at:
                return max(local, open_at).astimezone(timezone.utc)
        local = datetime.combine(day + timedelta(days=1), time(0, 0), hours.tz)
    return t
