"""Reports (SPEC §5 ``report``, §11): what happened to the tickets created in
a period, overall or grouped by channel, tag, assignee, day or week.

Per group: volume; first-response and resolution times (median, p90), in
business time when the SLA policies count business time; SLA attainment,
overall and per policy; backlog and its age; CSAT; reopen rate; repeat
contacts; messages by hour of week; and the tags and subject phrases that
grew most against the previous period of the same length.

Definitions (each one is what a test pins):
- A group's tickets are those created in [since, until), merged ones left
  out. Day and week groups and the hour of week are in the configured
  ``timezone`` (else the system's), weeks and hour-of-week rows Monday first.
- SLA: a clock (first response, resolution) is met when its event came by
  its due time, missed when it came later or has not come and the due time
  has passed (for a paused resolution clock: passed when it paused); a
  clock still running is not counted yet. ``sla_attainment`` is the share of
  tickets with a decided clock that missed none.
- ``reopen_rate``: of the tickets that were solved or closed, the share that
  came back (a status change from solved/closed to an open status, or a
  later ticket linked to a closed one).
- ``repeat_contacts``: contacts with a ticket in the group who opened
  another ticket within 7 days of it: customers who had to ask twice.
- ``hour_of_week``: ``in`` counts customer messages, ``out`` our answers
  (automatic acknowledgements and rule replies left out), sent in the period;
  by channel, the medium each message went by; by tag or assignee, its
  ticket's; by day or week, the day it was sent.
- Trending: counts in the period against the previous period of the same
  length (for day and week groups, against the day or week before), the
  ones that grew, most growth first; a phrase needs two tickets.
- CSAT: read from the ticket's ``csat_*`` columns once a migration adds
  them; until then every count is 0 and every share null.
"""

from __future__ import annotations

import bisect
import gc
import heapq
import operator
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from itertools import chain, compress, groupby, islice, repeat
from operator import itemgetter
from typing import Any

from supportctl.errors import UsageError
from supportctl.services import phrases as _phrase_rules
from supportctl.services.phrases import subject_phrases
from supportctl.store import report as _sqlite_queries
from supportctl.store.db import Store
from supportctl.values import iso, parse_iso

GROUPS = ("channel", "tag", "assignee", "day", "week")
OPEN_STATUSES = ("new", "open", "pending")
REPEAT_WINDOW = 7 * 86400
TRENDING_LIMIT = 10


def _percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile of ``values``, which are sorted."""
    if not values:
        return None
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _zone(config: Any) -> tzinfo:
    name = getattr(config, "timezone", None)
    if name:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    return datetime.now().astimezone().tzinfo or timezone.utc


def _local_days(times: Sequence[int], offsets: list[tuple[int, int]]) -> list[int]:
    """The local day (days since 1970-01-01) of each Unix time, with the
    zone's ``offsets`` (see ``store.report.message_volume``): an integer
    division per instant, no date object and no time-zone conversion."""
    if len(offsets) == 1:
        off = offsets[0][1]
        return [(t + off) // 86400 for t in times]
    untils = [u for u, _ in offsets[:-1]]
    offs = [o for _, o in offsets]
    find = bisect.bisect_right
    return [(t + offs[find(untils, t)]) // 86400 for t in times]


_EPOCH = date(1970, 1, 1)

# ``report_tickets``' ``sla`` (store/report.py): a clock's state 0 is none
# or still running (None here), 1 missed (0), 2 met (1).
_STATE: tuple[int | None, ...] = (None, 0, 1)
#: An untagged ticket's tags (one object for all of them).
_NO_TAGS: tuple[str, ...] = ()


def _week(d: date) -> str:
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


@dataclass
class _Facts:
    """One row per ticket of the period, as columns (index ``i`` is one
    ticket): what every group reads, computed once in one pass whatever
    the number of groups a ticket belongs to."""

    first_response: list[float | None]
    resolution: list[float | None]
    backlog_age: list[float | None]
    #: 0 without a clock, else ``report_tickets``' ``sla`` + the policy's
    #: index in ``sla_policies`` << 4: a byte per ticket while there are at
    #: most 15 policies, so a group counts them with bytes.count instead of
    #: a Counter of tuples
    sla: bytes | list[int]
    sla_policies: list[str]
    solved_ever: list[bool]
    came_back: list[bool]
    repeat: list[int | None]  # the contact, when they asked again within 7 days
    csat_asked: list[bool]
    rating: list[int | None]
    tags: list[Sequence[str]]
    subjects: list[str]


@dataclass
class _Acc:
    """One group: the indexes of its tickets in the period and of the
    tickets it is compared with (the previous period), and its messages by
    hour of week."""

    members: list[int] = field(default_factory=list)
    previous: list[int] = field(default_factory=list)
    hour_in: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in range(7)])
    hour_out: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in range(7)])
    #: day and week groups: the day (week) whose tickets are ``previous``
    source: str | None = None


@dataclass
class Report:
    since: str
    until: str
    previous_since: str
    by: str | None
    timezone: str
    business_time: bool
    csat_recorded: bool
    groups: list[dict[str, Any]]
    overall: dict[str, Any]
    days: list[dict[str, Any]]


def report(store: Store, since: str, until: str, now: str, by: str | None = None,
           config: Any = None, *, rollup: bool = True) -> Report:
    """The report of tickets created in [since, until). ``rollup=False``
    counts messages straight from the messages instead of from
    ``report_volume`` (the same numbers, slower: what the tests compare
    the rollup with)."""
    # A report makes a few hundred thousand tuples and lists and not one
    # cycle: the cyclic collector would walk them over and over (a sixth
    # of the CPU time on 100 000 tickets). Off while it runs.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _report(store, since, until, now, by, config, rollup=rollup)
    finally:
        if collecting:
            gc.enable()


def _report(store: Store, since: str, until: str, now: str, by: str | None, config: Any, *,
            rollup: bool) -> Report:
    if by is not None and by not in GROUPS:
        raise UsageError(f"unknown --by {by!r}: use one of {', '.join(GROUPS)}")
    q = queries(store)
    start, end, now_dt = parse_iso(since), parse_iso(until), parse_iso(now)
    assert start is not None and end is not None and now_dt is not None
    if end <= start:
        raise UsageError(f"--until ({until}) must be after --since ({since})")
    prev_start = start - (end - start)
    t_start, t_end, t_now = start.timestamp(), end.timestamp(), now_dt.timestamp()
    tz = _zone(config)
    first_day = prev_start.astimezone(tz).date() - timedelta(days=8)
    last_day = max(end, now_dt).astimezone(tz).date() + timedelta(days=9)

    from supportctl.services.sla import BusinessClock, hours_from_config, policies

    hours = hours_from_config(config) if config is not None else None
    business = hours is not None and any(
        getattr(p, "business_hours_only", True) for p in policies(config))
    clock = BusinessClock(hours, first_day, last_day) if business and hours else None

    window_start = iso(prev_start) or ""
    window_end = iso(end + timedelta(seconds=REPEAT_WINDOW)) or ""
    tags_of: dict[int, list[str]] = {}
    known = tags_of.get
    for tid, tag in q.report_tags(store, window_start, until):
        found = known(tid)
        if found is None:
            tags_of[tid] = [tag]
        else:
            found.append(tag)
    for found in tags_of.values():
        found.sort()
    reopened = q.reopened_tickets(store, since, until)
    csat_recorded = q.records_csat(store)

    # The period's tickets (and the week after, for repeat contacts), and
    # the ones before it: the previous period (for day and week groups
    # every ticket is also the day or week before the next), of which only
    # the group, tags and subject count, as ``(id, key, subject, created)``.
    read_from = since
    # Without business hours the query works out the hours to each clock.
    in_hours = clock is None
    rows = list(q.report_tickets(store, read_from, window_end, t_now, by, hours=in_hours))
    earlier: list[tuple[Any, ...]] = list(q.report_earlier_tickets(store, window_start, since, by))
    created_all = [r[5] for r in rows]
    if (_in_order(rows, created_all) and (not rows or created_all[0] >= t_start)
            and all(r[3] is not None and r[3] < t_start for r in earlier)):
        # the usual case (the store reads them in order of creation): each
        # contact's next ticket in one pass, and the period a slice
        cur = rows[:bisect.bisect_left(created_all, t_end)]
        repeats = _repeat_in_order(rows, len(cur))
    else:
        # times stored with an offset: the text's order is not the instants'
        read_from = window_start
        rows = list(q.report_tickets(store, read_from, window_end, t_now, by, hours=in_hours))
        next_of = _next_opened(rows)
        cur = [r for r in rows if r[5] is not None and t_start <= r[5] < t_end]
        repeats = [k if k is not None and (nx := next_of.get(t)) is not None
                   and nx - c <= REPEAT_WINDOW else None for t, _, _, k, _, c, *_ in cur]
        earlier = [(r[0], r[2], r[4], r[5]) for r in rows if r[5] is not None and r[5] < t_start]
    # CSAT of the tickets read, by the same bounds
    csat = dict(q.report_csat(store, read_from, window_end)) if csat_recorded else {}
    facts = _facts(cur, tags_of, repeats, reopened, csat, clock)

    groups: dict[str, _Acc] = {}
    created = [r[5] for r in cur]
    # The local day each ticket was created on (the daily line; day and
    # week groups), and each day's name as a group.
    ticket_offsets = _offsets(tz, prev_start, end)
    local_days = _local_days(created, ticket_offsets)
    named: dict[int, str] = {}
    fmt = date.isoformat if by == "day" else _week

    def names(day_numbers: Sequence[int]) -> list[str]:
        for n in set(day_numbers).difference(named):
            named[n] = fmt(_EPOCH + timedelta(days=n))
        return list(map(named.__getitem__, day_numbers))

    if by == "tag":
        for i, tags in enumerate(facts.tags):
            for one in tags or ["(untagged)"]:
                acc = groups.get(one)
                if acc is None:
                    acc = groups[one] = _Acc()
                acc.members.append(i)
    else:
        if by is None:
            keys = ["all"] * len(cur)
        elif by == "channel":
            keys = [r[2] for r in cur]
        elif by == "assignee":
            keys = [r[2] or "(unassigned)" for r in cur]
        else:
            keys = names(local_days)
        for i, k in enumerate(keys):
            acc = groups.get(k)
            if acc is None:
                acc = groups[k] = _Acc()
            acc.members.append(i)
    # tickets per local day: the days come in runs (tickets in order of creation)
    day_tickets: dict[int, int] = {}
    for day_no, run in groupby(local_days):
        day_tickets[day_no] = day_tickets.get(day_no, 0) + len(list(run))

    # The previous period: its tickets' tags and subjects, after the current ones.
    prev_tags: list[Sequence[str]] = [tags_of.get(r[0], _NO_TAGS) for r in earlier]
    prev_subjects = [r[2] or "" for r in earlier]
    phrases_of = _phrases_of(store, q, [*facts.subjects, *prev_subjects])
    overall = _Acc(members=list(range(len(cur))), previous=list(range(len(earlier))))
    phrases: dict[str, tuple[Counter[str], Counter[str]]] = {}
    if by in ("day", "week"):
        step = 1 if by == "day" else 7
        n_earlier = len(earlier)
        prev_tags += facts.tags
        prev_subjects += facts.subjects
        every_day = _local_days([r[3] for r in earlier], ticket_offsets) + local_days
        # The group each day is the day (week) before, if any; all of a
        # group's previous tickets are of one day (week): its source.
        before: dict[int, _Acc | None] = {}
        for n in set(every_day):
            acc = before[n] = groups.get(fmt(_EPOCH + timedelta(days=n + step)))
            if acc is not None:
                acc.source = fmt(_EPOCH + timedelta(days=n))
        for j, n in enumerate(every_day):
            acc = before[n]
            if acc is not None:
                acc.previous.append(j)
        overall.previous = list(range(n_earlier))
        phrases = _bucket_phrases(groups, facts.subjects, prev_subjects, n_earlier, phrases_of)
    elif by is None:
        groups.setdefault("all", _Acc()).previous = overall.previous
    else:
        for j, r in enumerate(earlier):
            if by == "tag":
                ks: Sequence[str] = prev_tags[j] or ["(untagged)"]
            else:
                ks = [r[1] or "(unassigned)"]
            for k in ks:
                acc = groups.get(k)
                if acc is not None:
                    acc.previous.append(j)
    if by is None:
        overall = groups["all"]

    # Messages by hour of week, and per day for the daily line.
    offsets = _offsets(tz, start, end)
    epoch = date(1970, 1, 1)
    day_in: Counter[date] = Counter()
    day_out: Counter[date] = Counter()

    def group_of(key: Any, d: date) -> _Acc | None:
        if by in ("day", "week"):
            k = d.isoformat() if by == "day" else _week(d)
        else:
            k = key if key is not None else ("(untagged)" if by == "tag" else "(unassigned)")
        return groups.get(k)

    def add(a: _Acc | None, direction: str, cell: int, n: int) -> None:
        if a is not None:
            (a.hour_in if direction == "in" else a.hour_out)[cell // 24][cell % 24] += n

    # By channel one pass gives both: each message has one channel.
    # The rollup first counts in what was written or changed since the
    # last report (m020); a store it cannot bring up to date counts from
    # the messages.
    rollup = rollup and q.rollup_usable(offsets) and q.catch_up_volume(store)
    for kind, key, direction, value, n in q.message_volume(
            store, since, until, "channel" if by == "channel" else None, offsets, rollup=rollup):
        if kind == "cell":
            add(overall, direction, value, n)
            if by == "channel":
                add(group_of(key, epoch), direction, value, n)
            continue
        d = epoch + timedelta(days=value)
        (day_in if direction == "in" else day_out)[d] += n
    if by in ("day", "week"):
        # a day group's messages are those sent on its days
        of_day: dict[int, _Acc | None] = {}
        for _kind, day_no, direction, cell, n in q.message_volume(
                store, since, until, "day", offsets, rollup=rollup):
            a = of_day.get(day_no, overall)
            if a is overall:
                a = of_day[day_no] = group_of(None, epoch + timedelta(days=day_no))
            if a is not None:
                (a.hour_in if direction == "in" else a.hour_out)[cell // 24][cell % 24] += n
    elif by in ("tag", "assignee") and rollup:
        for _kind, key, direction, cell, n in q.message_volume(
                store, since, until, by, offsets, rollup=True):
            add(group_of(key, epoch), direction, cell, n)
    elif by in ("tag", "assignee"):
        for key, cells in q.ticket_message_cells(store, since, until, by, offsets):
            a = group_of(key, epoch)
            if a is not None and cells:
                for text, n in Counter(cells.split(",")).items():
                    c = int(text)
                    add(a, "in" if c < 168 else "out", c % 168, n)

    ctx = (facts, prev_tags, prev_subjects, business, phrases_of)
    out = [_group(name, groups[name], by, ctx, phrases.get(name)) for name in sorted(groups)]
    overall_phrases = None
    if by in ("day", "week"):
        # The days (weeks) split the period's tickets: its phrases are the
        # sum of theirs (a few hundred small counts, not every subject again).
        counted: Counter[str] = Counter()
        for own, _ in phrases.values():
            counted.update(own)
        overall_phrases = (counted, _phrase_counts(prev_subjects[:n_earlier], phrases_of))
    overall_obj = (out[0] if by is None and out
                   else _group("all", overall, None, ctx, overall_phrases))
    series = []
    d = start.astimezone(tz).date()
    last = (end - timedelta(seconds=1)).astimezone(tz).date()
    while d <= last:
        series.append({"date": d.isoformat(), "tickets": day_tickets.get((d - _EPOCH).days, 0),
                       "in": day_in.get(d, 0), "out": day_out.get(d, 0)})
        d += timedelta(days=1)
    return Report(since=since, until=until, previous_since=window_start, by=by,
                  timezone=str(tz), business_time=business, csat_recorded=csat_recorded,
                  groups=out, overall=overall_obj, days=series)


def _in_order(rows: list[tuple[Any, ...]], created: list[Any]) -> bool:
    """Whether ``rows`` are in order of creation time, then id, every one
    with a time: each ``(created, id)`` below the next, compared in C."""
    if None in created:
        return False
    pairs = list(map(itemgetter(5, 0), rows))
    return all(map(operator.lt, pairs, islice(pairs, 1, None)))


def _repeat_in_order(rows: list[tuple[Any, ...]], n: int) -> list[int | None]:
    """``_Facts.repeat`` of the first ``n`` of ``rows`` (``report_tickets``,
    in order of creation time, then id): a ticket's contact when that
    contact's next ticket among ``rows`` came within ``REPEAT_WINDOW``.
    One pass from the newest, keeping each contact's next opening."""
    out: list[int | None] = [None] * n
    later: dict[int, int] = {}
    get = later.get
    for i in range(len(rows) - 1, -1, -1):
        r = rows[i]
        contact = r[3]
        if contact is not None:
            opened = r[5]
            nx = get(contact)
            if nx is not None and i < n and nx - opened <= REPEAT_WINDOW:
                out[i] = contact
            later[contact] = opened
    return out


def _next_opened(rows: list[tuple[Any, ...]]) -> dict[int, float]:
    """Ticket id -> when its contact opened their next ticket, of ``rows``
    (``report_tickets``) with a contact and a creation time."""
    by_contact: dict[int, list[tuple[float, int]]] = {}
    for r in rows:
        if r[3] is not None and r[5] is not None:
            by_contact.setdefault(r[3], []).append((r[5], r[0]))
    next_of: dict[int, float] = {}
    for opened in by_contact.values():
        if len(opened) > 1:
            opened.sort()
            for (_, tid), (later, _) in zip(opened, opened[1:], strict=False):
                next_of[tid] = later
    return next_of


def queries(store: Store) -> Any:
    """The report's queries for the store's engine: the same functions,
    the same rows (``store/report.py``; ``store/report_pg.py``)."""
    if store.sql.name == "postgresql":
        from supportctl.store import report_pg

        return report_pg
    return _sqlite_queries


def _offset(tz: tzinfo, t: float) -> int:
    off = datetime.fromtimestamp(t, timezone.utc).astimezone(tz).utcoffset()
    return int(off.total_seconds()) if off else 0


def _offsets(tz: tzinfo, start: datetime, end: datetime) -> list[tuple[int, int]]:
    """The zone's UTC offsets over [start, end] as ``(until, seconds)``:
    each offset holds until the Unix time ``until`` (the last one beyond
    ``end``). Found by probing every 12 hours and narrowing each change
    down to the second (zones change at most a few times a year)."""
    t, stop = int(start.timestamp()), int(end.timestamp())
    current = _offset(tz, t)
    out: list[tuple[int, int]] = []
    while t < stop:
        nxt = min(t + 43200, stop)
        if _offset(tz, nxt) != current:
            lo, hi = t, nxt  # offset(lo) == current, offset(hi) differs
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset(tz, mid) == current:
                    lo = mid
                else:
                    hi = mid
            out.append((hi, current))
            current = _offset(tz, hi)
        t = nxt
    out.append((stop, current))
    return out


def _attainment(met: int, missed: int) -> float | None:
    return _share(met, met + missed)


def _trending(cur: Counter[str], prev: Counter[str], *, min_count: int, skip: str = "",
              phrases: bool = False) -> list[dict[str, Any]]:
    grown = {name: (n, prev.get(name, 0)) for name, n in cur.items()
             if n >= min_count and n > prev.get(name, 0) and name != skip and name}
    if phrases:
        # "tracking number" inside "tracking number missing" with the same
        # counts says nothing more: keep the longer phrase.
        for name, counts in list(grown.items()):
            words = name.split()
            if len(words) == 3:
                for part in (" ".join(words[:2]), " ".join(words[1:])):
                    if grown.get(part) == counts:
                        del grown[part]
    # the first few of the order (names are distinct: no ties), not a sort of thousands
    ranked = heapq.nsmallest(TRENDING_LIMIT, grown.items(),
                             key=lambda kv: (kv[1][1] - kv[1][0], -kv[1][0], kv[0]))
    return [{"name": name, "count": n, "previous": p} for name, (n, p) in ranked]


def _phrase_counts(subjects: list[str], phrases_of: dict[str, list[str]]) -> Counter[str]:
    # Counter counts an iterable in C: a hundred thousand subjects cost a
    # few hundredths of a second once their phrases are known.
    return Counter(chain.from_iterable(map(phrases_of.__getitem__, subjects)))


def _phrases_of(store: Store, q: Any, subjects: list[str]) -> dict[str, list[str]]:
    """Each distinct subject's phrases: as an earlier report kept them
    (m027), else worked out here and kept for the next report."""
    distinct = set(subjects)
    wanted = None if len(distinct) > _sqlite_queries.PHRASES_LOOKUP else sorted(distinct)
    version = _phrase_rules.VERSION
    stored = q.stored_phrases(store, wanted, version)
    missing = distinct.difference(stored)
    known = distinct.difference(missing) if missing else distinct
    # one phrase a line (a phrase is words and spaces: no line break of
    # any kind), split in C: "" is no phrase
    out: dict[str, list[str]] = dict(zip(known, map(str.splitlines,
                                                    map(stored.__getitem__, known)),
                                         strict=True))
    found: list[tuple[str, str]] = []
    for subject in missing:
        words = subject_phrases(subject)
        out[subject] = list(words)
        found.append((subject, "\n".join(words)))
    if found:
        q.keep_phrases(store, found, version)
    return out


def _present(values: Sequence[Any]) -> list[Any]:
    """``values`` without the Nones, filtered in C."""
    return list(compress(values, map(operator.is_not, values, repeat(None))))


def _hours(values: list[float]) -> dict[str, float | None]:
    values.sort()
    return {"median": _percentile(values, 0.5), "p90": _percentile(values, 0.9)}


def _facts(rows: list[tuple[Any, ...]], tags_of: dict[int, list[str]],
           repeats: list[int | None], reopened: set[int], csat: dict[int, int | None],
           clock: Any) -> _Facts:
    """Everything a group reads of each ticket, column by column."""
    # column by column (zip(*rows) would walk a hundred thousand iterators)
    tid, codes, _key, _contact, subject, created, fr, solved, policy, backlog = (
        list(map(itemgetter(i), rows)) for i in range(10))
    n = len(rows)

    if clock is not None:
        # Business time between two instants is the difference of their
        # positions on the clock (``BusinessClock.between`` computes the
        # same two): each ticket's creation is placed once, not per clock.
        position, between = clock.position, clock.between
        placed = [position(c) for c in created]

    def elapsed(done: list[Any]) -> list[float | None]:
        if clock is None:
            return done  # report_tickets(hours=True): hours already
        if clock is not None:
            out: list[float | None] = []
            for c, a, d in zip(created, placed, done, strict=True):
                if d is None:
                    out.append(None)
                elif d <= c:
                    out.append(0.0)
                elif a is not None and (b := position(d)) is not None:
                    out.append((b - a) / 3600)
                else:
                    out.append(between(c, d) / 3600)
            return out
        return [None if d is None else max(d - c, 0) / 3600
                for c, d in zip(created, done, strict=True)]

    came_back = [t in reopened for t in tid] if reopened else [False] * n
    policy_index: dict[str, int] = {}
    sla: bytes | list[int]
    if policy.count(None) == n:
        # one policy ("default"), index 0: the codes as they come, in C
        if any(codes):
            policy_index["default"] = 0
        sla = bytes(codes)
    else:
        index = policy_index.setdefault
        sla = [(index(p or "default", len(policy_index)) << 4) + c if c else 0
               for c, p in zip(codes, policy, strict=True)]
        if len(policy_index) <= 15:
            sla = bytes(sla)
    return _Facts(
        first_response=elapsed(fr),
        resolution=elapsed(solved),
        backlog_age=backlog,
        sla=sla,
        sla_policies=list(policy_index),
        solved_ever=([s is not None or b for s, b in zip(solved, came_back, strict=True)]
                     if reopened else [s is not None for s in solved]),
        came_back=came_back,
        repeat=repeats,
        csat_asked=list(map(csat.__contains__, tid)) if csat else [False] * n,
        rating=([None] * n if all(r is None for r in csat.values())
                else [None if r is None else int(r) for r in map(csat.get, tid)]),
        tags=list(map(tags_of.get, tid, repeat(_NO_TAGS))),
        subjects=subject if None not in subject else [s or "" for s in subject],
    )


def _bucket_phrases(groups: dict[str, _Acc], subjects: list[str], prev_subjects: list[str],
                    n_earlier: int, phrases_of: dict[str, list[str]]
                    ) -> dict[str, tuple[Counter[str], Counter[str]]]:
    """Day and week groups: each group's subject phrases and its previous
    day's (week's), each subject counted once. A group's previous tickets
    are its source's current ones (counted already, as that group's own)
    and any from before the period."""
    own = {name: _phrase_counts([subjects[i] for i in a.members], phrases_of)
           for name, a in groups.items()}
    out: dict[str, tuple[Counter[str], Counter[str]]] = {}
    for name, a in groups.items():
        prev = own.get(a.source or "")
        earlier = [prev_subjects[j] for j in a.previous if j < n_earlier]
        if earlier:
            counted = _phrase_counts(earlier, phrases_of)
            counted.update(prev or ())
            prev = counted
        out[name] = (own[name], prev if prev is not None else Counter())
    return out


def _group(name: str, a: _Acc, by: str | None,
           ctx: tuple[_Facts, list[Sequence[str]], list[str], bool, dict[str, list[str]]],
           phrases: tuple[Counter[str], Counter[str]] | None = None) -> dict[str, Any]:
    f, prev_tags, prev_subjects, business, phrases_of = ctx
    idx = a.members

    # One C call per column instead of a Python loop over the members; a
    # group of every ticket (overall) reads the columns themselves.
    every = len(idx) == len(f.subjects) and (not idx or idx[-1] == len(idx) - 1)
    pick = itemgetter(*idx) if len(idx) > 1 and not every else None

    def col(values: Sequence[Any]) -> Sequence[Any]:
        if every:
            return values
        if pick is not None:
            return pick(values)  # type: ignore[no-any-return]
        return [values[i] for i in idx]

    # Counted and filtered in C (no generator or comprehension per ticket).
    first_response = _present(col(f.first_response))
    resolution = _present(col(f.resolution))
    backlog = _present(col(f.backlog_age))
    backlog.sort()
    # policy -> [tickets, met, missed, first response met, missed, resolution met, missed]
    sla: dict[str, list[int]] = {}
    codes = col(f.sla)
    if isinstance(f.sla, bytes) and not isinstance(codes, bytes):
        codes = bytes(codes)
    if isinstance(codes, bytes):
        clocks_of: dict[int, int] = {v: codes.count(v) for v in set(codes) if v}
    else:
        clocks_of = Counter(codes)
        clocks_of.pop(0, None)
    for code, n in clocks_of.items():
        pname = f.sla_policies[code - 1 >> 4]
        fs, rs = _STATE[code - 1 & 3], _STATE[code - 1 >> 2 & 3]
        c = sla.get(pname)
        if c is None:
            c = sla[pname] = [0] * 7
        c[0] += n
        if fs is not None or rs is not None:
            c[2 if fs == 0 or rs == 0 else 1] += n
        for i, state in ((3, fs), (5, rs)):
            if state is not None:
                c[i if state else i + 1] += n
    totals = [sum(c[i] for c in sla.values()) for i in range(7)]
    ratings = _present(col(f.rating))
    solved_ever = sum(col(f.solved_ever))
    reopened = sum(map(operator.and_, col(f.came_back), col(f.solved_ever)))
    repeat = set(col(f.repeat))
    repeat.discard(None)
    tags = Counter(chain.from_iterable(col(f.tags)))
    before = a.previous
    pick_before = itemgetter(*before) if len(before) > 1 else None

    def col_before(values: list[Any]) -> Sequence[Any]:
        if pick_before is not None:
            return pick_before(values)  # type: ignore[no-any-return]
        return [values[j] for j in before]

    tags_prev = Counter(chain.from_iterable(col_before(prev_tags)))
    if phrases is None:
        phrases = (_phrase_counts(col(f.subjects), phrases_of),  # type: ignore[arg-type]
                   _phrase_counts(col_before(prev_subjects), phrases_of))  # type: ignore[arg-type]
    asked = sum(col(f.csat_asked))
    return {
        "group": name,
        "tickets": len(idx),
        "solved": len(resolution),
        "business_time": business,
        "first_response_hours": _hours(first_response),
        "resolution_hours": _hours(resolution),
        "sla_attainment": _attainment(totals[1], totals[2]),
        "sla": {
            "tickets": totals[0],
            "first_response": {"met": totals[3], "missed": totals[4],
                               "attainment": _attainment(totals[3], totals[4])},
            "resolution": {"met": totals[5], "missed": totals[6],
                           "attainment": _attainment(totals[5], totals[6])},
            "policies": [
                {"name": p, "tickets": c[0], "met": c[1], "missed": c[2],
                 "attainment": _attainment(c[1], c[2]),
                 "first_response_attainment": _attainment(c[3], c[4]),
                 "resolution_attainment": _attainment(c[5], c[6])}
                for p, c in sorted(sla.items())
            ],
        },
        "backlog": len(backlog),
        "backlog_age_hours": {"median": _percentile(backlog, 0.5),
                              "max": backlog[-1] if backlog else None},
        "csat": {
            "average": sum(ratings) / len(ratings) if ratings else None,
            "responses": len(ratings),
            "asked": asked,
            "response_rate": _share(len(ratings), asked),
            "satisfied_share": _share(sum(1 for r in ratings if r >= 4), len(ratings)),
        },
        "reopened": reopened,
        "reopen_rate": _share(reopened, solved_ever),
        "repeat_contacts": len(repeat),
        "messages": {"in": sum(map(sum, a.hour_in)), "out": sum(map(sum, a.hour_out))},
        "hour_of_week": {"in": a.hour_in, "out": a.hour_out},
        "trending_tags": _trending(tags, tags_prev, min_count=1,
                                   skip=name if by == "tag" else ""),
        "trending_phrases": _trending(*phrases, min_count=2, phrases=True),
    }
