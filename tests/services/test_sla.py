"""Business hours: several periods a day, holidays of a country and
region, both daylight-saving changes; business-time addition is monotonic,
exact and never lands outside hours (hypothesis)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from supportctl.config import BusinessHours, Config, Holidays
from supportctl.services.sla import (
    Hours,
    add_business_time,
    business_time_between,
    hours_from_config,
    is_business_time,
    next_business_time,
)

ROME = ZoneInfo("Europe/Rome")
PARIS = ZoneInfo("Europe/Paris")
UTC = timezone.utc


def shop(country: str = "IT", tz: str = "Europe/Rome", subdivision: str | None = None,
         dates: list[date] | None = None) -> Hours:
    """Mon-Fri 09-13 and 14-18, Saturday 09-12, with a country's holidays."""
    lunch = [(time(9), time(13)), (time(14), time(18))]
    bh = BusinessHours(periods={**{d: lunch for d in range(5)}, 5: [(time(9), time(12))]})
    cfg = Config(timezone=tz, business_hours=bh,
                 holidays=Holidays(country=country, subdivision=subdivision, dates=dates or []))
    hours = hours_from_config(cfg)
    assert hours is not None
    return hours


ITALY = shop()
FRANCE = shop("FR", "Europe/Paris")


def local(hours: Hours, dt: datetime) -> datetime:
    return dt.astimezone(hours.tz)


def test_lunch_break_is_not_working_time() -> None:
    start = datetime(2026, 11, 24, 12, 30, tzinfo=ROME)  # Tuesday
    due = add_business_time(start, timedelta(hours=1), ITALY)
    assert local(ITALY, due) == datetime(2026, 11, 24, 14, 30, tzinfo=ROME)
    assert not is_business_time(datetime(2026, 11, 24, 13, 30, tzinfo=ROME), ITALY)
    assert next_business_time(datetime(2026, 11, 24, 13, 30, tzinfo=ROME), ITALY) == \
        datetime(2026, 11, 24, 14, 0, tzinfo=ROME)


def test_saturday_morning_then_the_weekend() -> None:
    sat = datetime(2026, 11, 28, 11, 0, tzinfo=ROME)
    due = add_business_time(sat, timedelta(hours=2), ITALY)  # 1h Saturday, 1h Monday
    assert local(ITALY, due) == datetime(2026, 11, 30, 10, 0, tzinfo=ROME)
    assert is_business_time(sat, ITALY)
    assert not is_business_time(datetime(2026, 11, 28, 12, 0, tzinfo=ROME), ITALY)
    assert not is_business_time(datetime(2026, 11, 29, 10, 0, tzinfo=ROME), ITALY)  # Sunday


def test_italian_holidays_and_listed_dates() -> None:
    # Monday 7 Dec 17:00, 2h: Tuesday 8 Dec is the Immaculate Conception.
    due = add_business_time(datetime(2026, 12, 7, 17, 0, tzinfo=ROME), timedelta(hours=2), ITALY)
    assert local(ITALY, due) == datetime(2026, 12, 9, 10, 0, tzinfo=ROME)
    # Christmas Eve listed, then Christmas, Santo Stefano (a Saturday), Sunday.
    hours = shop(dates=[date(2026, 12, 24)])
    due = add_business_time(datetime(2026, 12, 23, 17, 30, tzinfo=ROME), timedelta(hours=1), hours)
    assert local(hours, due) == datetime(2026, 12, 28, 9, 30, tzinfo=ROME)


def test_region_holiday_rome_patron_saints() -> None:
    rome = shop(subdivision="RM")
    monday = datetime(2026, 6, 29, 10, 0, tzinfo=ROME)  # Saints Peter and Paul, Rome only
    assert is_business_time(monday, ITALY)
    assert not is_business_time(monday, rome)
    assert next_business_time(monday, rome) == datetime(2026, 6, 30, 9, 0, tzinfo=ROME)


def test_french_holidays() -> None:
    # Monday 13 July 2026 17:00 Paris, 3h: 14 July is the fête nationale.
    due = add_business_time(datetime(2026, 7, 13, 17, 0, tzinfo=PARIS), timedelta(hours=3), FRANCE)
    assert local(FRANCE, due) == datetime(2026, 7, 15, 11, 0, tzinfo=PARIS)
    # 11 November (Armistice) is a working day in Italy, not in France.
    armistice = datetime(2026, 11, 11, 10, 0, tzinfo=PARIS)
    assert not is_business_time(armistice, FRANCE) and is_business_time(armistice, ITALY)


def test_german_region_from_country_code() -> None:
    from supportctl.config import load_config

    assert Holidays  # the dataclass carries the subdivision
    hours = Hours(periods={d: [(9 * 60, 17 * 60)] for d in range(5)}, tz=ZoneInfo("Europe/Berlin"))
    assert hours.periods and 3 in hours.periods
    cfg_text = "business_hours: {days: [mon-fri], start: '09:00', end: '17:00'}\nholidays: DE-BY\n"
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "c.yaml"
        p.write_text(cfg_text)
        cfg = load_config(p)
    assert (cfg.holidays.country, cfg.holidays.subdivision) == ("DE", "BY")
    bavaria = hours_from_config(cfg)
    corpus_christi = datetime(2026, 6, 4, 10, 0, tzinfo=UTC)  # Fronleichnam: Bavaria, not Berlin
    assert bavaria is not None and not is_business_time(corpus_christi, bavaria)


def test_both_dst_changes_count_real_time() -> None:
    # Open all day on Sundays only: 29 March 2026 has 23 hours in Rome,
    # 25 October 2026 has 25.
    sundays = Hours(periods={6: [(0, 1440)]}, tz=ROME)
    spring = datetime(2026, 3, 29, 0, 0, tzinfo=ROME)
    assert business_time_between(spring, spring + timedelta(days=2), sundays) == timedelta(hours=23)
    due = add_business_time(spring, timedelta(hours=24), sundays)
    assert local(sundays, due) == datetime(2026, 4, 5, 1, 0, tzinfo=ROME)
    autumn = datetime(2026, 10, 25, 0, 0, tzinfo=ROME)
    assert business_time_between(autumn, autumn + timedelta(days=2), sundays) == timedelta(hours=25)
    due = add_business_time(autumn, timedelta(hours=24), sundays)
    assert local(sundays, due) == datetime(2026, 10, 25, 23, 0, tzinfo=ROME)


def test_dst_weekend_with_office_hours() -> None:
    # Friday before each change, 17:00, 5h (1h Friday, 3h Saturday morning,
    # 1h Monday): due Monday 10:00 local, at the new UTC offset.
    for fri, offset in ((datetime(2026, 3, 27, 17, 0, tzinfo=ROME), 2),
                        (datetime(2026, 10, 23, 17, 0, tzinfo=ROME), 1)):
        due = add_business_time(fri, timedelta(hours=5), ITALY)
        assert local(ITALY, due).replace(tzinfo=None) == (fri + timedelta(days=3)).replace(
            hour=10, tzinfo=None)
        assert due.astimezone(UTC).hour == 10 - offset


def test_old_form_still_works() -> None:
    old = Hours(days={0, 1, 2, 3, 4}, start=time(9), end=time(18), tz=ROME)
    fri = datetime(2026, 11, 20, 17, 30, tzinfo=ROME)
    assert local(old, add_business_time(fri, timedelta(hours=4), old)) == \
        datetime(2026, 11, 23, 12, 30, tzinfo=ROME)


def test_without_hours_everything_is_business_time() -> None:
    t = datetime(2026, 12, 25, 3, 0, tzinfo=UTC)
    assert is_business_time(t, None) and next_business_time(t, None) == t
    assert add_business_time(t, timedelta(hours=5), None) == t + timedelta(hours=5)


instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31),
                        timezones=st.just(UTC))
amounts = st.integers(0, 60 * 24 * 20).map(lambda m: timedelta(minutes=m))
calendars = st.sampled_from([ITALY, FRANCE, Hours(periods={6: [(0, 1440)]}, tz=ROME)])


def _inside_closed(t: datetime, hours: Hours) -> bool:
    """Inside a working period, its closing instant included."""
    day = t.astimezone(hours.tz).date()
    return any(a <= t <= b for d in (day - timedelta(days=1), day) for a, b in hours.intervals(d))


@settings(max_examples=300, deadline=None)
@given(start=instants, delta=amounts, hours=calendars)
def test_addition_is_exact_and_lands_inside_hours(start: datetime, delta: timedelta,
                                                  hours: Hours) -> None:
    due = add_business_time(start, delta, hours)
    assert due >= start
    assert business_time_between(start, due, hours) == delta
    if delta:
        assert _inside_closed(due, hours)


@settings(max_examples=300, deadline=None)
@given(start=instants, a=amounts, b=amounts, hours=calendars)
def test_addition_is_monotonic(start: datetime, a: timedelta, b: timedelta, hours: Hours) -> None:
    lo, hi = sorted((a, b))
    assert add_business_time(start, lo, hours) <= add_business_time(start, hi, hours)
    later = start + lo
    assert add_business_time(start, a, hours) <= add_business_time(later, a, hours)


@settings(max_examples=300, deadline=None)
@given(t=instants, hours=calendars)
def test_next_business_time_is_the_first_working_instant(t: datetime, hours: Hours) -> None:
    nxt = next_business_time(t, hours)
    assert nxt >= t and is_business_time(nxt, hours)
    assert business_time_between(t, nxt, hours) == timedelta(0)
    if nxt > t:
        assert not is_business_time(t, hours)
