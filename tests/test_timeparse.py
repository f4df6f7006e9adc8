"""The parsers of times and durations people type (timeparse, config
durations, search dates): whatever the text, a result in range or a usage
error; never an OverflowError or another internal error (issue 7)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supportctl.config import parse_duration
from supportctl.errors import UsageError
from supportctl.store import search
from supportctl.timeparse import MAX_DURATION, DurationTooLong, parse_since, parse_when

NOW = datetime(2026, 12, 1, 10, 30, tzinfo=timezone.utc)
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

amounts = st.one_of(st.integers(0, 10**6), st.integers(0, 10**30))
units = st.sampled_from(sorted(UNIT_SECONDS))
nows = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9998, 12, 31),
                    timezones=st.just(timezone.utc))
zones = st.sampled_from([timezone.utc, ZoneInfo("Europe/Rome"), ZoneInfo("Pacific/Kiritimati"),
                         ZoneInfo("America/Adak")])
typed = st.one_of(
    st.text(max_size=40),
    st.builds(lambda n, u: f"{n}{u}", amounts, units),
    st.builds(lambda n, u: f"in {n} {u}", amounts, units),
    st.builds(lambda w, h, m: f"{w} {h}:{m:02d}", st.sampled_from(["today", "tomorrow", "monday"]),
              st.integers(0, 99), st.integers(0, 99)),
    st.builds(lambda d, z: d.isoformat() + z,
              st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
              st.sampled_from(["", "Z", "+14:00", "-12:00", "-05:00"])),
)


@settings(max_examples=400, deadline=None)
@given(typed, nows, zones)
def test_parse_when_and_since_give_a_time_in_range_or_a_usage_error(
    text: str, now: datetime, tz: object
) -> None:
    for parse in (parse_when, parse_since):
        try:
            got = parse(text, now, tz)  # type: ignore[operator]
        except UsageError as exc:
            assert str(exc)
            continue
        assert got.tzinfo is not None and got.utcoffset() == timedelta(0)
        assert 1000 <= got.year <= 9998


@settings(max_examples=300, deadline=None)
@given(amounts, units)
def test_a_duration_is_exact_up_to_the_bound_and_refused_past_it(n: int, unit: str) -> None:
    text = f"{n}{unit}"
    seconds = n * UNIT_SECONDS[unit]
    if seconds > MAX_DURATION.total_seconds():
        for call in (lambda: parse_when(text, NOW), lambda: parse_since(text, NOW)):
            with pytest.raises(DurationTooLong, match="too long"):
                call()
        with pytest.raises(ValueError, match="too long"):
            parse_duration(text)
    else:
        assert parse_duration(text) == timedelta(seconds=seconds)
        assert parse_when(text, NOW) == NOW + timedelta(seconds=seconds)
        assert parse_since(text, NOW) == NOW - timedelta(seconds=seconds)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=30), st.builds(lambda n, u: f"{n}{u}", amounts, units)))
def test_config_durations_raise_only_value_errors(text: str) -> None:
    try:
        parse_duration(text)
    except ValueError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["after", "before", "-after"]), typed)
def test_search_dates_parse_or_are_usage_errors(field: str, value: str) -> None:
    try:
        search.parse(f"{field}:{value.replace(' ', '')}", "2026-12-01T10:30:00Z")
    except UsageError:
        pass
