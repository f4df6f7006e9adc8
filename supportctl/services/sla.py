"""SLA clocks: business hours, holidays, policies and due times (SPEC §10).

Business hours are periods per weekday in the configured time zone
(``mon-fri: ["09:00-13:00", "14:00-18:00"]``: a lunch break is not working
time), minus holidays (a country's, optionally a subdivision's, calendar
from the ``holidays`` package, plus listed dates). All arithmetic is done
on UTC instants: each period's wall-clock bounds are turned into instants
on their own day, so an hour of business time is an hour of real time
across both daylight-saving changes. Periods are half-open ``[open, close)``.

Policies: ``sla`` is one policy or a list; the first whose ``match`` holds
for a ticket (channel, account, priority, tag, contact tag) sets its
first-response and resolution targets, in business time unless
``business_hours_only: false``. Pending pauses the resolution clock: the
business time a ticket spent pending (from its status events) is added to
its resolution target.

When due times are computed: a ticket is marked ``sla_stale`` by triggers
(m008) whenever what its due times depend on changes (priority, channel,
account, tags, its contact's tags, entering or leaving pending), and
``refresh`` recomputes every stale ticket. ``refresh`` also compares the
config's SLA fingerprint with the stored one and, when they differ (a new
or edited ``sla``, hours, holidays or zone), recomputes every ticket that
is not closed, including tickets that existed before ``sla`` was set.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from supportctl.store import sla as db
from supportctl.store.db import Store
from supportctl.values import iso, parse_iso

#: Minutes since local midnight, [open, close); close may be 1440 (24:00).
Period = tuple[int, int]
#: How many days a search for the next working minute may look ahead:
#: ten years bounds a calendar with no working day at all.
_MAX_DAYS = 3700


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


@dataclass
class Hours:
    """Working periods per weekday (Monday = 0), a zone and a holiday test.

    ``Hours(days=…, start=…, end=…)`` (one period on each listed day) stays
    valid; ``periods`` maps a weekday to its ``(open, close)`` minutes."""

    days: set[int] = field(default_factory=lambda: {0, 1, 2, 3, 4})
    start: time = time(9, 0)
    end: time = time(17, 0)
    tz: Any = timezone.utc
    is_holiday: Callable[[date], bool] = lambda d: False
    periods: dict[int, list[Period]] | None = None

    def __post_init__(self) -> None:
        # Working intervals per local day: due times of many tickets walk
        # the same days (recomputing 100 000 tickets after a config change).
        self._days: dict[date, list[tuple[datetime, datetime]]] = {}
        if self.periods is None:
            span = (_minutes(self.start), _minutes(self.end))
            self.periods = {d: [span] for d in self.days} if span[0] < span[1] else {}
        self.periods = {d: _normalise(p) for d, p in self.periods.items() if _normalise(p)}
        self.days = set(self.periods)

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working intervals of a local ``day``, as UTC instants."""
        found = self._days.get(day)
        if found is not None:
            return found
        assert self.periods is not None
        spans = self.periods.get(day.weekday())
        if not spans or self.is_holiday(day):
            found = []
        else:
            found = [(self._instant(day, a), self._instant(day, b)) for a, b in spans]
        if len(self._days) > 20_000:
            self._days.clear()
        self._days[day] = found
        return found

    def _instant(self, day: date, minute: int) -> datetime:
        if minute >= 1440:
            day, minute = day + timedelta(days=1), minute - 1440
        # A wall time in the spring-forward gap reads with the offset before
        # the change (fold=0), i.e. the first instant after the gap.
        local = datetime.combine(day, time(minute // 60, minute % 60), self.tz)
        return local.astimezone(timezone.utc)

    def walk(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals that end after ``start``, in order (clipped to
        begin no earlier than it)."""
        start = start.astimezone(timezone.utc)
        day = start.astimezone(self.tz).date() - timedelta(days=1)
        for _ in range(_MAX_DAYS):
            for a, b in self.intervals(day):
                if b > start:
                    yield max(a, start), b
            day += timedelta(days=1)


def _normalise(spans: list[Period]) -> list[Period]:
    out: list[Period] = []
    for a, b in sorted(s for s in spans if s[0] < s[1]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def add_business_time(start: datetime, delta: timedelta, hours: Hours | None) -> datetime:
    """``start`` plus ``delta`` of working time (plain time without hours).
    The result is inside a working period or at its closing instant."""
    start = _aware(start)
    if hours is None or delta <= timedelta(0) or not hours.periods:
        return (start + delta).astimezone(timezone.utc)
    remaining = delta
    for a, b in hours.walk(start):
        if remaining <= b - a:
            return a + remaining
        remaining -= b - a
    return (start + delta).astimezone(timezone.utc)


def is_business_time(t: datetime, hours: Hours | None) -> bool:
    """Whether ``t`` is inside working hours (always, without hours)."""
    if hours is None or not hours.periods:
        return hours is None
    t = _aware(t).astimezone(timezone.utc)
    local_day = t.astimezone(hours.tz).date()
    for day in (local_day - timedelta(days=1), local_day):
        if any(a <= t < b for a, b in hours.intervals(day)):
            return True
    return False


def next_business_time(t: datetime, hours: Hours | None) -> datetime:
    """``t`` itself inside working hours, else the next opening instant."""
    t = _aware(t).astimezone(timezone.utc)
    if hours is None or not hours.periods:
        return t
    for a, _ in hours.walk(t):
        return a
    return t


def business_time_between(start: datetime, end: datetime, hours: Hours | None) -> timedelta:
    """Working time from ``start`` to ``end`` (zero when end <= start)."""
    start, end = _aware(start), _aware(end)
    if end <= start:
        return timedelta(0)
    if hours is None or not hours.periods:
        return end - start
    total = timedelta(0)
    for a, b in hours.walk(start):
        if a >= end:
            break
        total += min(b, end) - a
    return total


# -- from the config ----------------------------------------------------------

_HOURS_CACHE: dict[str, Hours | None] = {}
#: The last config asked about and its hours: the same object is asked once
#: per ticket while recomputing.
_LAST: list[Any] = [None, None]


def _local_tz() -> Any:
    return datetime.now().astimezone().tzinfo


def _tz(config: Any) -> Any:
    name = getattr(config, "timezone", None)
    if name:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    return _local_tz()


def hours_from_config(config: Any) -> Hours | None:
    """``Hours`` from ``business_hours``/``holidays``/``timezone``; None
    without business hours."""
    bh = getattr(config, "business_hours", None)
    if not bh:
        return None
    if _LAST[0] is config:
        return _LAST[1]
    key = _hours_key(config)
    if key in _HOURS_CACHE:
        _LAST[:] = [config, _HOURS_CACHE[key]]
        return _HOURS_CACHE[key]
    hol = getattr(config, "holidays", None)
    extra: set[date] = set(getattr(hol, "dates", None) or [])
    country = getattr(hol, "country", None)
    subdivision = getattr(hol, "subdivision", None)
    calendar: Any = None

    def is_holiday(d: date) -> bool:
        nonlocal calendar
        if d in extra:
            return True
        if not country:
            return False
        if calendar is None:
            import holidays

            calendar = holidays.country_holidays(country, subdiv=subdivision)
        return d in calendar

    periods = getattr(bh, "periods", None)
    hours = Hours(days=set(bh.days), start=bh.start, end=bh.end, tz=_tz(config),
                  is_holiday=is_holiday,
                  periods={d: [(_minutes(a), _minutes(b) or 1440) for a, b in p]
                           for d, p in periods.items()} if periods else None)
    _HOURS_CACHE[key] = hours
    _LAST[:] = [config, hours]
    return hours


def _hours_key(config: Any) -> str:
    bh = getattr(config, "business_hours", None)
    hol = getattr(config, "holidays", None)
    return json.dumps({
        "tz": getattr(config, "timezone", None) or str(_local_tz()),
        "periods": sorted((d, [(str(a), str(b)) for a, b in p])
                          for d, p in (getattr(bh, "periods", None) or {}).items()),
        "days": sorted(getattr(bh, "days", []) or []),
        "start": str(getattr(bh, "start", "")), "end": str(getattr(bh, "end", "")),
        "country": getattr(hol, "country", None), "subdivision": getattr(hol, "subdivision", None),
        "dates": sorted(str(d) for d in getattr(hol, "dates", None) or []),
    }, sort_keys=True)


def policies(config: Any) -> list[Any]:
    """The configured policies in order (the old single mapping is one)."""
    found = getattr(config, "sla_policies", None)
    if found:
        return list(found)
    one = getattr(config, "sla", None)
    return [one] if one is not None else []


def fingerprint(config: Any) -> str:
    """Everything due times depend on in the config, hashed."""
    pols = [
        {"name": getattr(p, "name", ""), "match": _jsonable(getattr(p, "match", {}) or {}),
         "first": str(p.first_response), "resolution": str(p.resolution),
         "by_priority": sorted((k, str(v)) for k, v in (getattr(p, "by_priority", {}) or {}).items()),
         "business": bool(getattr(p, "business_hours_only", True))}
        for p in policies(config)
    ]
    text = json.dumps({"policies": pols, "hours": _hours_key(config) if pols else None},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _jsonable(match: dict[str, Any]) -> dict[str, list[str]]:
    return {k: sorted(v) if isinstance(v, (list, set, tuple)) else [str(v)] for k, v in match.items()}


@dataclass
class Facts:
    """What policy matching looks at."""

    channel: str = ""
    account: str | None = None
    priority: str = "normal"
    tags: set[str] = field(default_factory=set)
    contact_tags: set[str] = field(default_factory=set)


def _wanted(value: Any) -> set[str]:
    if isinstance(value, (list, set, tuple)):
        return {str(v) for v in value}
    return {str(value)}


def matches(policy: Any, facts: Facts) -> bool:
    for key, want in (getattr(policy, "match", None) or {}).items():
        wanted = _wanted(want)
        if key == "channel" and facts.channel not in wanted:
            return False
        if key == "account" and (facts.account or "") not in wanted:
            return False
        if key == "priority" and facts.priority not in wanted:
            return False
        if key == "tag" and not wanted & facts.tags:
            return False
        if key == "contact_tag" and not wanted & facts.contact_tags:
            return False
    return True


def choose(config: Any, facts: Facts) -> Any:
    """The first policy that matches, or None."""
    return next((p for p in policies(config) if matches(p, facts)), None)


def targets(policy: Any, priority: str) -> tuple[timedelta | None, timedelta | None]:
    first, resolution = policy.first_response, policy.resolution
    override = (getattr(policy, "by_priority", None) or {}).get(priority)
    if override:
        first = override[0] or first
        resolution = override[1] or resolution
    return first, resolution


def due_times(
    created: datetime, priority: str, config: Any, *, channel: str = "",
    account: str | None = None, paused: timedelta = timedelta(0),
) -> tuple[datetime | None, datetime | None]:
    """(first response due, resolution due) for a ticket without tags."""
    policy = choose(config, Facts(channel=channel, account=account, priority=priority))
    return _due(policy, created, priority, config, paused)


def _due(policy: Any, created: datetime, priority: str, config: Any,
         paused: timedelta) -> tuple[datetime | None, datetime | None]:
    if policy is None:
        return None, None
    first, resolution = targets(policy, priority)
    hours = hours_from_config(config) if getattr(policy, "business_hours_only", True) else None
    return (
        add_business_time(created, first, hours) if first else None,
        add_business_time(created, resolution + paused, hours) if resolution else None,
    )


# -- elapsed business time (report, SPEC §11) ---------------------------------


class BusinessClock:
    """``business_time_between`` for many instants at once, in Unix seconds.

    ``position(t)`` is the working seconds from the start of a local-day
    range to ``t``; a difference of two positions is the working time
    between them. The working intervals of the whole range are laid out
    once, flat, with the working seconds before each, so an instant costs
    one binary search and no walk over days or intervals: a report over a
    hundred thousand tickets needs this. Instants outside the range fall
    back to ``business_time_between``."""

    def __init__(self, hours: Hours, first: date, last: date) -> None:
        import bisect

        self._bisect = bisect.bisect_right
        self.hours = hours
        self.first = first
        self.starts: list[float] = []  # every working interval of the range, in order
        self.ends: list[float] = []
        self.before: list[float] = []  # working seconds before each interval
        total = 0.0
        day = first
        self.lo = datetime.combine(day, time(0, 0), hours.tz).timestamp()
        while day <= last:
            for a, b in hours.intervals(day):
                self.starts.append(a.timestamp())
                self.ends.append(b.timestamp())
                self.before.append(total)
                total += b.timestamp() - a.timestamp()
            day += timedelta(days=1)
        self.hi = datetime.combine(day, time(0, 0), hours.tz).timestamp()

    def position(self, t: float) -> float | None:
        if t < self.lo or t >= self.hi:
            return None
        i = self._bisect(self.starts, t) - 1
        if i < 0:
            return 0.0
        return self.before[i] + min(t, self.ends[i]) - self.starts[i]

    def between(self, start: float, end: float) -> float:
        """Working seconds from ``start`` to ``end`` (Unix seconds)."""
        if end <= start:
            return 0.0
        if self.lo <= start and end < self.hi:
            starts, ends, before, bis = self.starts, self.ends, self.before, self._bisect
            i, j = bis(starts, start) - 1, bis(starts, end) - 1
            a = before[i] + min(start, ends[i]) - starts[i] if i >= 0 else 0.0
            b = before[j] + min(end, ends[j]) - starts[j] if j >= 0 else 0.0
            return b - a
        return business_time_between(
            datetime.fromtimestamp(start, timezone.utc), datetime.fromtimestamp(end, timezone.utc),
            self.hours).total_seconds()


# -- keeping the store's due times right ---------------------------------------

FINGERPRINT_KEY = "sla.fingerprint"
#: Automatic mail (``auto``) and history (mail from before the entry's
#: first sync, or imported: ``history``) never run a clock.
NO_CLOCK_TAGS = frozenset({"auto", "history"})


def refresh(store: Store, config: Any, now: str) -> int:
    """Recompute the due times of stale tickets (and of every ticket that
    is not closed when the config's SLA settings changed); returns how many
    tickets were recomputed."""
    fp = fingerprint(config)
    with store.tx():
        if db.state(store, FINGERPRINT_KEY) != fp:
            db.mark_unclosed_stale(store)
            db.set_state(store, FINGERPRINT_KEY, fp, now)
        if not policies(config):
            # No SLA: no clocks. One statement, not a walk over every ticket.
            return db.clear_stale_clocks(store)
    done = 0
    while True:
        ids = db.stale_ids(store, limit=2000)
        if not ids:
            return done
        with store.tx():
            for tid in ids:
                recompute(store, tid, config)
        done += len(ids)


def recompute(store: Store, ticket_id: int, config: Any) -> None:
    """Due times, policy name and pause of one ticket, from its facts."""
    t = db.clock_facts(store, ticket_id)
    if t is None:
        return
    tags = db.ticket_tags(store, ticket_id)
    contact_tags: set[str] = set()
    if t["contact_id"] is not None and any(
            "contact_tag" in (getattr(p, "match", None) or {}) for p in policies(config)):
        contact_tags = db.contact_tags(store, t["contact_id"])
    facts = Facts(channel=t["channel"], account=t["account"], priority=t["priority"], tags=tags,
                  contact_tags=contact_tags)
    # Automatic mail (ingest tags it ``auto`` and files it solved) and
    # history never run a clock, whatever the policies say.
    policy = None if tags & NO_CLOCK_TAGS else choose(config, facts)
    created = parse_iso(t["created_at"])
    assert created is not None
    paused = timedelta(0)
    if policy is not None and policy.resolution:
        hours = hours_from_config(config) if getattr(policy, "business_hours_only", True) else None
        for a, b in pending_intervals(store, ticket_id):
            if b is not None:
                paused += business_time_between(a, b, hours)
    first, resolution = _due(policy, created, t["priority"], config, paused)
    db.set_due_times(store, ticket_id, iso(first), iso(resolution),
                     (getattr(policy, "name", "") or "default") if policy is not None else None)


def pending_intervals(store: Store, ticket_id: int) -> list[tuple[datetime, datetime | None]]:
    """When the ticket was pending, from its status events (the last one
    open-ended while it still is)."""
    out: list[tuple[datetime, datetime | None]] = []
    began: datetime | None = None
    for at, detail in db.status_changes(store, ticket_id):
        try:
            d = json.loads(detail)
        except ValueError:
            continue
        when = parse_iso(at)
        if d.get("new") == "pending" and began is None:
            began = when
        elif d.get("new") != "pending" and began is not None:
            out.append((began, when))
            began = None
    if began is not None:
        out.append((began, None))
    return out


def refresh_stale(store: Store, config: Any, *, limit_to: int | None = None) -> None:
    """Recompute stale tickets now (inside the caller's transaction): one
    ticket (``limit_to``) after ingest's rules, else all of them."""
    if not policies(config):
        db.clear_stale_clocks(store, ticket_id=limit_to)
        return
    for tid in db.stale_ids(store, ticket_id=limit_to):
        recompute(store, tid, config)
