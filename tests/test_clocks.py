"""SLA clocks and the times people type."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportctl.errors import UsageError
from supportctl.services.sla import Hours, add_business_time
from supportctl.timeparse import parse_since, parse_when

ROME = ZoneInfo("Europe/Rome")
HOURS = Hours(days={0, 1, 2, 3, 4}, start=time(9), end=time(18), tz=ROME)


def test_friday_evening_is_due_monday() -> None:
    fri = datetime(2026, 11, 20, 17, 30, tzinfo=ROME)
    due = add_business_time(fri, timedelta(hours=4), HOURS)
    assert due.astimezone(ROME) == datetime(2026, 11, 23, 12, 30, tzinfo=ROME)


def test_holiday_is_skipped() -> None:
    hours = Hours(days=HOURS.days, start=HOURS.start, end=HOURS.end, tz=ROME,
                  is_holiday=lambda d: d == date(2026, 12, 8))
    mon = datetime(2026, 12, 7, 17, 0, tzinfo=ROME)
    due = add_business_time(mon, timedelta(hours=2), hours)
    assert due.astimezone(ROME) == datetime(2026, 12, 9, 10, 0, tzinfo=ROME)


def test_dst_change_counts_working_time_only() -> None:
    sat = datetime(2026, 3, 28, 12, 0, tzinfo=ROME)  # DST starts Sunday 29 March
    due = add_business_time(sat, timedelta(hours=1), HOURS)
    assert due.astimezone(ROME) == datetime(2026, 3, 30, 10, 0, tzinfo=ROME)


def _working_seconds(a: datetime, b: datetime) -> float:
    total = 0.0
    day = a.astimezone(ROME).date()
    while day <= b.astimezone(ROME).date():
        if day.weekday() in HOURS.days:
            lo = max(a, datetime.combine(day, HOURS.start, ROME))
            hi = min(b, datetime.combine(day, HOURS.end, ROME))
            total += max((hi - lo).total_seconds(), 0)
        day += timedelta(days=1)
    return total


@given(
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31),
                       timezones=st.just(timezone.utc)),
    minutes=st.integers(1, 60 * 24 * 10),
)
def test_business_clock_adds_exactly_the_working_time(start: datetime, minutes: int) -> None:
    due = add_business_time(start, timedelta(minutes=minutes), HOURS)
    assert due > start
    assert abs(_working_seconds(start, due) - minutes * 60) < 1
    local = due.astimezone(ROME)
    assert local.weekday() in HOURS.days and HOURS.start <= local.time() <= HOURS.end


@given(st.integers(0, 10_000), st.sampled_from("mhdw"))
def test_relative_times(n: int, unit: str) -> None:
    now = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
    if n * {"m": 60, "h": 3600, "d": 86400, "w": 604800}[unit] > 100 * 366 * 86400:
        with pytest.raises(UsageError, match="too long"):  # tests/test_timeparse.py
            parse_when(f"{n}{unit}", now)
        return
    later = parse_when(f"{n}{unit}", now)
    earlier = parse_since(f"{n}{unit}", now)
    assert later - now == now - earlier >= timedelta(0)


def test_named_times_use_the_zone() -> None:
    now = datetime(2026, 11, 23, 23, 30, tzinfo=timezone.utc)  # already Tuesday in Rome
    t = parse_when("tomorrow 9:00", now, ROME)
    assert t.astimezone(ROME) == datetime(2026, 11, 25, 9, 0, tzinfo=ROME)
    assert parse_when("2026-12-01T10:00", now, ROME).hour == 9
    assert parse_when("2026-12-01T10:00Z", now, ROME).hour == 10
    assert parse_when("friday", now, ROME).astimezone(ROME).weekday() == 4
    with pytest.raises(UsageError):
        parse_when("next blue moon", now)


def test_supportctl_now_pins_the_one_clock(cli: Any) -> None:
    from tests.conftest import run_cli

    env = {"SUPPORTCTL_NOW": "2026-03-01T10:00:00Z"}
    made = run_cli("--db", str(cli.db), "new", "--channel", "phone", "--to", "Ann",
                   "--subject", "Pinned", "-m", "hello", env=env)
    assert made.code == 0, made
    shown = run_cli("--db", str(cli.db), "list", "--format", "json", env=env).json()
    assert shown[0]["created_at"] == "2026-03-01T10:00:00Z"
