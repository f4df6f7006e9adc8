"""``next_business_time`` (what the outside-hours acknowledgement and the
``outside_hours`` rule condition rely on) and its wording per language."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from supportctl.services.sla import Hours, next_business_time
from supportctl.services.templates import format_when

ROME = ZoneInfo("Europe/Rome")
HOURS = Hours(days={0, 1, 2, 3, 4}, start=time(9), end=time(18), tz=ROME,
              is_holiday=lambda d: d in {date(2026, 12, 8), date(2026, 12, 25)})


def inside(t: datetime) -> bool:
    local = t.astimezone(ROME)
    return (local.weekday() in HOURS.days and not HOURS.is_holiday(local.date())
            and time(9) <= local.time() < time(18))


@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 1, 1),
                    timezones=st.just(timezone.utc)))
def test_next_business_time_is_the_first_instant_inside(t: datetime) -> None:
    nxt = next_business_time(t, HOURS)
    assert nxt >= t and inside(nxt)
    assert nxt == t or not inside(t)
    # nothing inside hours between t and nxt (checked every 30 minutes)
    probe = t
    while probe + timedelta(minutes=30) < nxt:
        probe += timedelta(minutes=30)
        assert not inside(probe)


def test_weekend_holiday_and_both_dst_changes() -> None:
    sat = datetime(2026, 12, 5, 20, 0, tzinfo=timezone.utc)
    assert next_business_time(sat, HOURS) == datetime(2026, 12, 7, 8, 0, tzinfo=timezone.utc)
    mon_evening = datetime(2026, 12, 7, 18, 30, tzinfo=timezone.utc)  # then the 8th is a holiday
    assert next_business_time(mon_evening, HOURS) == datetime(2026, 12, 9, 8, 0, tzinfo=timezone.utc)
    # Saturday before the spring change (29 March 2026) and before the autumn one (25 October)
    assert next_business_time(datetime(2026, 3, 28, 12, 0, tzinfo=timezone.utc), HOURS) == \
        datetime(2026, 3, 30, 7, 0, tzinfo=timezone.utc)
    assert next_business_time(datetime(2026, 10, 24, 12, 0, tzinfo=timezone.utc), HOURS) == \
        datetime(2026, 10, 26, 8, 0, tzinfo=timezone.utc)
    assert next_business_time(sat, None) == sat


def test_written_in_each_language() -> None:
    monday = datetime(2026, 12, 7, 9, 0, tzinfo=ROME)
    assert format_when(monday, "it") == "lunedì 7 dicembre alle 9:00"
    assert format_when(monday, "fr") == "lundi 7 décembre à 9h00"
    assert format_when(monday, "de") == "Montag, 7. Dezember um 9:00"
    assert format_when(monday, "es") == "lunes 7 de diciembre a las 9:00"
    assert format_when(monday, "en") == "Monday 7 December at 9:00"
    assert format_when(monday, "pt") == "Monday 7 December at 9:00"
