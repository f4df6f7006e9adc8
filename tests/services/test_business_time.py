"""Elapsed business time (services/sla.py), used by ``report``: it undoes
``add_business_time``, and the report's fast ``BusinessClock`` agrees with
it, across weekends, holidays and both daylight-saving changes."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from supportctl.services.sla import (
    BusinessClock,
    Hours,
    add_business_time,
    business_time_between,
)

ROME = ZoneInfo("Europe/Rome")
HOLIDAYS = {date(2026, 12, 8), date(2026, 12, 25), date(2026, 4, 6)}
HOURS = Hours(days={0, 1, 2, 3, 4, 5}, start=time(9, 0), end=time(17, 30), tz=ROME,
              is_holiday=lambda d: d in HOLIDAYS)
# 2026: summer time starts 29 March, ends 25 October; both inside the range.
BEGIN = datetime(2026, 3, 1, tzinfo=timezone.utc)
instants = st.integers(min_value=0, max_value=300 * 86400).map(
    lambda s: BEGIN + timedelta(seconds=s))
durations = st.integers(min_value=0, max_value=40 * 3600).map(lambda s: timedelta(seconds=s))


def test_known_values() -> None:
    # Friday 17:30 UTC = 18:30 in Rome (closed) to Monday 09:30 in Rome: half an hour
    fri = datetime(2026, 11, 20, 17, 30, tzinfo=timezone.utc)
    mon = datetime(2026, 11, 23, 8, 30, tzinfo=timezone.utc)
    hours = Hours(days={0, 1, 2, 3, 4}, start=time(9, 0), end=time(17, 0), tz=ROME)
    assert business_time_between(fri, mon, hours) == timedelta(minutes=30)
    assert business_time_between(fri, mon, None) == mon - fri
    assert business_time_between(mon, fri, hours) == timedelta(0)
    # across the autumn change (Sunday 25 October): Saturday 16:00 to Monday 10:00 in Rome
    sat = datetime(2026, 10, 24, 16, 0, tzinfo=ROME)
    monday = datetime(2026, 10, 26, 10, 0, tzinfo=ROME)
    assert business_time_between(sat, monday, HOURS) == timedelta(hours=2, minutes=30)
    # a holiday (8 December, a Tuesday) counts nothing
    assert business_time_between(datetime(2026, 12, 7, 17, 0, tzinfo=ROME),
                                 datetime(2026, 12, 9, 10, 0, tzinfo=ROME), HOURS) \
        == timedelta(hours=1, minutes=30)


@settings(max_examples=300, deadline=None)
@given(start=instants, delta=durations)
def test_between_undoes_add(start: datetime, delta: timedelta) -> None:
    end = add_business_time(start, delta, HOURS)
    assert business_time_between(start, end, HOURS) == delta


@settings(max_examples=300, deadline=None)
@given(a=instants, b=instants)
def test_between_is_additive_and_bounded(a: datetime, b: datetime) -> None:
    a, b = min(a, b), max(a, b)
    mid = a + (b - a) / 2
    total = business_time_between(a, b, HOURS)
    assert total == business_time_between(a, mid, HOURS) + business_time_between(mid, b, HOURS)
    assert timedelta(0) <= total <= b - a


@settings(max_examples=300, deadline=None)
@given(a=instants, b=instants)
def test_clock_agrees_with_between(a: datetime, b: datetime) -> None:
    clock = BusinessClock(HOURS, date(2026, 2, 25), date(2026, 12, 31))
    expected = business_time_between(a, b, HOURS).total_seconds()
    assert abs(clock.between(a.timestamp(), b.timestamp()) - expected) < 1e-6
