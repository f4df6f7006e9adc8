"""The queries behind ``report`` (SPEC §11), each named for what it reads.

Times come back as Unix seconds computed by SQLite (``unixepoch``), so the
service does arithmetic on integers instead of parsing a hundred thousand
ISO strings in Python. Columns that later migrations add (``sla_policy``,
``sla_paused_at``, the ``csat_*`` columns) are read when the store has them
and come back as None otherwise, so the report fills in as the schema grows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

from supportctl.store.db import FAILURES, Store, StoreError
from supportctl.store.migrations import REOPEN_EVENT, REPORT_HOURS, UNDELIVERED

#: Tickets that are not customer volume: spam, automatic mail (auto-replies,
#: lists, our own mail) and delivery reports no ticket of ours owned.
NOISE_TAGS = ("spam", "auto", "bounce")
_NOT_NOISE_TICKET = (f"NOT IN (SELECT ticket_id FROM tags WHERE tag IN"
                     f" ({', '.join(repr(t) for t in NOISE_TAGS)}))")
#: Inbound messages that no customer wrote: automatic answers and delivery
#: reports filed on a customer's ticket (the partial index messages_automatic
#: of m011 lists them).
AUTOMATIC_INBOUND = ("direction = 'in' AND (auto_reason IS NOT NULL"
                     " OR delivery_state IS NOT NULL)")


def ticket_columns(store: Store) -> set[str]:
    return {r[1] for r in store.conn.execute("PRAGMA table_info(tickets)")}


#: ``report_tickets``' ``sla``: 0 without an SLA clock, else 1 + the first
#: response clock's state + 4 * the resolution clock's (a state is 0 none
#: or still running, 1 missed, 2 met): small facts as one number, ready to
#: count as bytes, since each column of each row costs the driver more than
#: the query costs to work it out.
RESOLUTION_FACTOR = 4


def report_tickets(store: Store, start: str, end: str, now: float, key: str | None = None,
                   *, hours: bool = False) -> Iterator[tuple[Any, ...]]:
    """Tickets created in [start, end), merged ones and noise
    (``NOISE_TAGS``) left out:
    ``(id, sla, key, contact_id, subject, created, first_response, solved,
    sla_policy, backlog_hours)`` with times as Unix seconds; ``sla`` as
    ``RESOLUTION_FACTOR`` says; ``key`` is the ticket's ``channel`` or
    ``assignee`` when ``key`` names one, else None; ``backlog_hours`` how
    long a ticket still new, open or pending has waited at ``now`` (None
    for the others). With ``hours``, ``first_response`` and ``solved`` are
    instead the hours from creation to each (never below 0), the same
    floats as ``max(done - created, 0) / 3600`` in Python: what a report
    without business hours reads, worked out by the query. A clock is met
    when done by its due time, missed when done later, or not done and due
    before ``now`` (for a paused resolution clock, before it paused). Only
    what the report reads comes back: on a whole store every column is a
    hundred thousand objects. In order of ``created_at``, then id (the
    caller checks: times stored with an offset sort otherwise as text than
    as instants)."""
    have = ticket_columns(store)
    policy = "t.sla_policy" if "sla_policy" in have else "NULL"
    paused = "unixepoch(t.sla_paused_at)" if "sla_paused_at" in have else "NULL"
    key_column = {"channel": "t.channel", "assignee": "t.assignee"}.get(key or "", "NULL")
    if hours:
        done = ("max(unixepoch(t.first_response_at) - unixepoch(t.created_at), 0) / 3600.0,"
                " max(unixepoch(t.solved_at) - unixepoch(t.created_at), 0) / 3600.0")
    else:
        done = "unixepoch(t.first_response_at), unixepoch(t.solved_at)"
    cur = store.conn.cursor()
    cur.row_factory = None
    # the cursor itself, not a generator over it: a row each is a resume
    return cur.execute(
        "SELECT t.id, CASE WHEN t.first_response_due IS NULL AND t.resolution_due IS NULL THEN 0"
        " ELSE 1 + CASE WHEN t.first_response_due IS NULL THEN 0"
        "  WHEN t.first_response_at IS NOT NULL"
        "   THEN coalesce(1 + (unixepoch(t.first_response_at) <= unixepoch(t.first_response_due)), 0)"
        "  WHEN :now > unixepoch(t.first_response_due) THEN 1 ELSE 0 END"
        f" + {RESOLUTION_FACTOR} * CASE WHEN t.resolution_due IS NULL THEN 0"
        "  WHEN t.solved_at IS NOT NULL"
        "   THEN coalesce(1 + (unixepoch(t.solved_at) <= unixepoch(t.resolution_due)), 0)"
        f"  WHEN COALESCE({paused}, :now) > unixepoch(t.resolution_due) THEN 1 ELSE 0 END END,"
        f" {key_column}, t.contact_id, t.subject, unixepoch(t.created_at), {done}, {policy},"
        " CASE WHEN t.status IN ('new', 'open', 'pending')"
        "  THEN max(:now - unixepoch(t.created_at), 0) / 3600.0 END"
        " FROM tickets t"
        " WHERE t.created_at >= :start AND t.created_at < :end AND t.merged_into IS NULL"
        # off the tickets_created index, in its order: no sort
        f" AND t.id {_NOT_NOISE_TICKET} ORDER BY t.created_at, t.id",
        {"start": start, "end": end, "now": now},
    )


def records_csat(store: Store) -> bool:
    """Whether the store records CSAT (m009's ``csat`` table)."""
    return bool(store.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'csat'").fetchone())


def report_csat(store: Store, start: str, end: str) -> Iterator[tuple[int, int | None]]:
    """``(ticket id, rating or None)`` for the tickets created in [start,
    end) whose customer was asked how it went: a few rows, read apart from
    ``report_tickets`` (a join there cost every ticket a look-up). Only
    on a store that ``records_csat``."""
    cur = store.conn.cursor()
    cur.row_factory = None
    yield from cur.execute(
        "SELECT q.ticket_id, q.rating FROM csat q JOIN tickets t ON t.id = q.ticket_id"
        " WHERE t.created_at >= ? AND t.created_at < ?", [start, end])


def report_earlier_tickets(store: Store, start: str, end: str, key: str | None = None
                           ) -> Iterator[tuple[Any, ...]]:
    """The tickets of ``report_tickets`` that a report compares with (the
    previous period), with only what that reads: ``(id, key, subject,
    created)``."""
    key_column = {"channel": "t.channel", "assignee": "t.assignee"}.get(key or "", "NULL")
    cur = store.conn.cursor()
    cur.row_factory = None
    yield from cur.execute(
        f"SELECT t.id, {key_column}, t.subject, unixepoch(t.created_at) FROM tickets t"
        " WHERE t.created_at >= ? AND t.created_at < ? AND t.merged_into IS NULL"
        f" AND t.id {_NOT_NOISE_TICKET}", [start, end])


def report_tags(store: Store, start: str, end: str) -> Iterator[tuple[int, str]]:
    """(ticket id, tag) for tickets created in [start, end); when that is
    every ticket, every tag (a merged ticket's too: the caller looks tags
    up by the tickets it reads), straight off the table rather than
    through a lookup of each tag's ticket."""
    cur = store.conn.cursor()
    cur.row_factory = None
    first, last = cur.execute("SELECT (SELECT min(created_at) FROM tickets),"
                              " (SELECT max(created_at) FROM tickets)").fetchone()
    if first is not None and start <= first and last < end:
        # a row per tag off tags_tag, not one per ticket and tag: each row
        # the driver hands over costs more than the query spends on it
        for tag, ids in cur.execute("SELECT tag, group_concat(ticket_id) FROM tags GROUP BY tag"):
            for tid in ids.split(","):
                yield int(tid), tag
        return
    yield from cur.execute(
        "SELECT g.ticket_id, g.tag FROM tags g JOIN tickets t ON t.id = g.ticket_id"
        " WHERE t.created_at >= ? AND t.created_at < ? AND t.merged_into IS NULL",
        [start, end],
    )


def reopened_tickets(store: Store, start: str, end: str) -> set[int]:
    """Tickets created in [start, end) that came back after being solved or
    closed: a status event from solved/closed to an open status, or (email
    on a closed ticket, SPEC §2) a later ticket linked to it."""
    rows = store.conn.execute(
        # events_reopen (m025) lists exactly these events: its WHERE, word for word.
        "SELECT e.ticket_id FROM events e INDEXED BY events_reopen JOIN tickets t"
        f" ON t.id = e.ticket_id WHERE {REOPEN_EVENT}"
        " AND e.at >= ? AND t.created_at >= ? AND t.created_at < ?"
        # CROSS JOIN: from the few linked tickets (m016's partial index), not
        # from every ticket of the period.
        " UNION SELECT u.linked_ticket FROM tickets u CROSS JOIN tickets t ON t.id = u.linked_ticket"
        " WHERE u.linked_ticket IS NOT NULL AND t.created_at >= ? AND t.created_at < ?",
        [start, start, end, start, end],
    )
    return {r[0] for r in rows}


#: At most this many subjects are looked up one by one; more, and every
#: kept subject is read (a year of tickets names most of them).
PHRASES_LOOKUP = 2000
#: Subjects longer than this are not kept (worked out on every report).
PHRASES_KEPT_MAX = 500


def stored_phrases(store: Store, subjects: list[str] | None, version: int) -> dict[str, str]:
    """Phrases that earlier reports found (m027 ``subject_phrases``) for
    ``subjects``, or for every subject kept when ``subjects`` is None,
    under the phrase rules' ``version``: subject -> its phrases, one per
    line ("" for none). Empty on a store without the table."""
    query = phrases_query(store, subjects, version)
    if query is None:
        return {}
    cur = store.conn.cursor()
    cur.row_factory = None
    try:
        return dict(cur.execute(*query))
    except FAILURES:
        return {}


def phrases_query(store: Store, subjects: list[str] | None,
                  version: int) -> tuple[str, list[Any]] | None:
    """``stored_phrases``' statement on either engine (None: nothing to ask)."""
    if subjects is None:
        return "SELECT subject, phrases FROM subject_phrases WHERE version = ?", [version]
    if not subjects:
        return None
    member, params = store.sql.one_of("subject", subjects)
    return (f"SELECT subject, phrases FROM subject_phrases WHERE {member} AND version = ?",
            [*params, version])


def keep_phrases(store: Store, found: list[tuple[str, str]], version: int) -> None:
    """Keep ``(subject, phrases)`` that this report worked out for the next
    one (``stored_phrases``). Best effort: nothing is kept when this user
    may only read the store or another process holds its write lock."""
    found = [(s, p) for s, p in found if len(s) <= PHRASES_KEPT_MAX]
    if not found or store.readonly:
        return
    conn = store.conn
    wait = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        with store.tx():
            conn.executemany("INSERT OR REPLACE INTO subject_phrases (subject, phrases, version)"
                             " VALUES (?, ?, ?)", [(s, p, version) for s, p in found])
    except FAILURES:  # busy: another writer
        pass
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(wait)}")


#: How messages are grouped for ``hour_of_week``: the key each group reads.
_VOLUME_KEY = {
    None: ("NULL", ""),
    "day": ("NULL", ""),
    "channel": ("m.channel", ""),  # the medium the message came or went by
    "assignee": ("t.assignee", " JOIN tickets t ON t.id = m.ticket_id"),
    "tag": ("g.tag", " LEFT JOIN tags g ON g.ticket_id = m.ticket_id"),
}
#: The same from ``report_volume`` (m020): its kind, its key, and for the
#: messages of the partial hours at a period's edges the join that reads
#: the key (a message counts there only when its ticket exists, as in the
#: rollup: foreign keys make that every message).
_ROLLUP_KEY = {
    None: ("channel", "NULL", "NULL", " JOIN tickets t ON t.id = m.ticket_id"),
    "day": ("channel", "NULL", "NULL", " JOIN tickets t ON t.id = m.ticket_id"),
    "channel": ("channel", "key", "m.channel", " JOIN tickets t ON t.id = m.ticket_id"),
    "assignee": ("assignee", "CASE WHEN typeof(key) = 'integer' THEN NULL ELSE key END",
                 "t.assignee", " JOIN tickets t ON t.id = m.ticket_id"),
    "tag": ("tag", "CASE WHEN typeof(key) = 'integer' THEN NULL ELSE key END", "g.tag",
            " JOIN tickets t ON t.id = m.ticket_id LEFT JOIN tags g ON g.ticket_id = m.ticket_id"),
}
#: The UTC hour of a message: the first column of the ``messages_hour`` index.
_HOUR = "substr(m.sent_at, 1, 13)"
#: Which messages are volume (customer) or answers (ours), as ``report_volume`` counts them.
_COUNTED = (
    "m.direction IN ('in', 'out')"
    " AND (m.author IS NULL OR (m.author != 'auto-reply' AND m.author NOT LIKE 'rule:%'))"
    f" AND m.ticket_id {_NOT_NOISE_TICKET}"
    f" AND m.id NOT IN (SELECT id FROM messages WHERE {AUTOMATIC_INBOUND})"
    # replies that never reached the customer (m029's partial index)
    f" AND m.id NOT IN (SELECT id FROM messages WHERE {UNDELIVERED})")


#: ``report_volume``'s kinds: the key each counts by, and the join that reads it.
_ROLLUP_COUNT = {
    "channel": ("m.channel", ""),
    "assignee": ("coalesce(t.assignee, 0)", " JOIN tickets t ON t.id = m.ticket_id"),
    "tag": ("coalesce(g.tag, 0)", " LEFT JOIN tags g ON g.ticket_id = m.ticket_id"),
}
#: A dirty day's messages, from the ``messages_hour`` index.
_DIRTY_DAYS = (f"report_volume_dirty d JOIN messages m ON {_HOUR} >= d.day"
               f" AND {_HOUR} < d.day || '~' AND substr(m.sent_at, 1, 10) = d.day")


def _count_in(kind: str, source: str, where: str) -> str:
    """Add the counted messages of ``source`` that satisfy ``where`` to
    ``report_volume``'s rows of ``kind``: counted per UTC hour first (for
    a channel in the ``messages_hour`` index's own order), then spread over
    the hour columns of each day's row."""
    key, join = _ROLLUP_COUNT[kind]
    hours = ", ".join(f"sum(n * (substr(hr, 12, 2) = '{i:02d}'))" for i in range(24))
    return (
        f"INSERT INTO report_volume (kind, day, direction, key, {', '.join(REPORT_HOURS)})"
        f" SELECT '{kind}', substr(hr, 1, 10), d, k, {hours} FROM"
        f" (SELECT {_HOUR} AS hr, m.direction AS d, {key} AS k, count(*) AS n"
        f"  FROM {source}{join} WHERE {where} AND {_COUNTED} GROUP BY 1, 2, 3)"
        " WHERE true GROUP BY 2, 3, 4 ON CONFLICT DO UPDATE SET "
        + ", ".join(f"{h} = {h} + excluded.{h}" for h in REPORT_HOURS))


def catch_up_volume(store: Store) -> bool:
    """Count what is new or changed into ``report_volume`` (m020): the
    days marked dirty afresh, then the messages above ``high`` on the
    other days (on a store never counted, every message, off a covering
    index). Returns whether ``report_volume`` is current: False when there
    is something to count and this user may only read the store, or
    another process holds its write lock for more than a moment (a sync,
    an import); the report then counts from the messages."""
    conn = store.conn
    try:
        high, stale = conn.execute(
            "SELECT high, (SELECT coalesce(max(id), 0) FROM messages) != high"
            " OR EXISTS (SELECT 1 FROM report_volume_dirty) FROM report_volume_state").fetchone()
    except FAILURES:  # m020 has not run: a store we may only read
        return False
    if not stale:
        return True
    if store.readonly:
        return False
    wait = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute(f"PRAGMA busy_timeout = {CATCH_UP_WAIT_MS}")
    try:
        with store.tx():
            high = conn.execute("SELECT high FROM report_volume_state").fetchone()[0]
            conn.execute("DELETE FROM report_volume WHERE kind IN ('channel', 'assignee', 'tag')"
                         " AND day IN (SELECT day FROM report_volume_dirty)")
            for kind in _ROLLUP_COUNT:
                conn.execute(_count_in(kind, _DIRTY_DAYS, "true"))
                if high:
                    conn.execute(_count_in(kind, "messages m", "m.id > ? AND substr(m.sent_at, 1, 10)"
                                           " NOT IN (SELECT day FROM report_volume_dirty)"), [high])
                else:
                    conn.execute(_count_in(kind, "messages m", "true"))
            conn.execute("UPDATE report_volume_state SET high = (SELECT coalesce(max(id), 0)"
                         " FROM messages)")
            conn.execute("DELETE FROM report_volume_dirty")
    except StoreError:  # busy: another writer
        return False
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(wait)}")
    return True


#: How long ``report`` waits for another writer before counting from the messages.
CATCH_UP_WAIT_MS = 1000


def rollup_usable(offsets: list[tuple[int, int]]) -> bool:
    """Whether ``report_volume``'s UTC hours add up to the zone's local
    hours: every offset in force is whole hours (a zone such as
    Asia/Kolkata, UTC+5:30, splits a UTC hour between two local hours)."""
    return all(off % 3600 == 0 for _, off in offsets)


def message_volume(store: Store, start: str, end: str, by: str | None,
                   offsets: list[tuple[int, int]], *, rollup: bool = True
                   ) -> Iterator[tuple[str, Any, str, int, int]]:
    """Customer messages (``in``; automatic answers, delivery reports and
    the messages of noise tickets left out) and our own answers (``out``; automatic
    acknowledgements and rule replies left out) sent in [start, end), counted
    two ways: ``("cell", key, direction, hour of week, n)`` and, overall or
    by channel (every message has one: the channels' cells add up to the
    whole), ``("day", None, direction, local day, n)``. With ``by="day"`` the key of
    a cell is the local day; by tag the key is a tag (None: untagged
    tickets), by assignee an assignee (None: unassigned).

    ``offsets`` are the zone's UTC offsets as ``(until, seconds)`` pairs, in
    order, the last one open-ended: local time is the Unix time plus the
    offset in force. The hour of week counts from Monday 00:00 (1970-01-01
    was a Thursday: 72 hours into its week); the local day counts days since
    1970-01-01. Messages are first counted per UTC hour: with ``rollup``
    (and whole-hour offsets, ``rollup_usable``) the whole hours of the
    period come from ``report_volume`` (m020: thousands of rows, not a
    million messages) and only the partial hours at its two edges from
    the messages; without, every hour is counted straight off the
    ``messages_hour`` index (m006), in its order, so neither a sort of every
    message nor a row per message reaches Python; a zone whose offset is not
    whole hours counts quarter hours that way."""
    whole_hours = rollup_usable(offsets)
    grouped = by not in (None, "day")
    case: list[str] = []
    params: list[Any] = []
    for until, offset in offsets[:-1]:
        case.append("WHEN s < ? THEN s + ?")
        params += [until, offset]
    params.append(offsets[-1][1] if offsets else 0)
    local = f"CASE {' '.join(case)} ELSE s + ? END" if case else "s + ?"
    if rollup and whole_hours:
        kind, rollup_key, key, join = _ROLLUP_KEY[by]
        edge = (f" SELECT {key} AS k, m.direction AS d, unixepoch({_HOUR} || ':00:00') AS s,"
                f" count(*) AS n FROM messages m{join}"
                f" WHERE {_HOUR} = substr(?, 1, 13){{also}} AND m.sent_at >= ? AND m.sent_at < ?"
                f" AND {_COUNTED} GROUP BY {_HOUR}, m.direction{', k' if grouped else ''}")
        # Hour by hour from the rollup: the whole hours of the first and
        # last days, and of the days the zone's offset changes on.
        hourly = sorted({start[:10], end[:10], *(
            d for d in _change_days(offsets) if start[:10] < d < end[:10])})
        marks = ", ".join("?" for _ in hourly)
        hour = "day || 'T' || printf('%02d', hrs.i)"
        column = f"CASE hrs.i {' '.join(f'WHEN {i} THEN {h}' for i, h in enumerate(REPORT_HOURS))} END"
        counted = (
            f"SELECT {rollup_key} AS k, direction AS d, unixepoch({hour} || ':00:00') AS s,"
            f" {column} AS n FROM report_volume, hrs WHERE kind = ? AND day IN ({marks})"
            f" AND {hour} > substr(?, 1, 13) AND {hour} < substr(?, 1, 13)"
            # the edges: the first hour, and the last when it is another
            + " UNION ALL" + edge.format(also="")
            + " UNION ALL" + edge.format(also=" AND substr(?, 1, 13) != substr(?, 1, 13)"))
        counted_params = [kind, *hourly, start, end,  # whole hours of those days
                          start, start, end,  # the first hour
                          end, end, start, start, end]  # the last
        counted = ("hrs(i) AS (VALUES " + ", ".join(f"({i})" for i in range(24)) + "),"
                   " counted AS MATERIALIZED (" + counted + ")")
        # And the days between, a row a day whatever their messages.
        yield from _whole_days(store, start[:10], end[:10], hourly, by, kind, rollup_key, offsets)
    else:
        key, join = _VOLUME_KEY[by]
        bucket = (f"unixepoch({_HOUR} || ':00:00')" if whole_hours
                  else "unixepoch(m.sent_at) / 900 * 900")
        counted = (
            f" SELECT {key} AS k, m.direction AS d, {bucket} AS s, count(*) AS n"
            f" FROM messages m{join}"
            f" WHERE {_HOUR} >= substr(?, 1, 13) AND {_HOUR} <= substr(?, 1, 13)"
            f"  AND m.sent_at >= ? AND m.sent_at < ? AND {_COUNTED}"
            f" GROUP BY {_HOUR}, m.direction{', k' if grouped else ''}"
            f"{'' if whole_hours else ', s'}")
        counted_params = [start, end, start, end]
        counted = f"counted AS MATERIALIZED ({counted})"
    days = ("UNION ALL SELECT 'day', NULL, d, l / 86400, sum(n) FROM local GROUP BY 3, 4"
            if by in (None, "channel") else "")
    cell_key = "l / 86400" if by == "day" else "k"
    cur = store.conn.cursor()
    cur.row_factory = None
    yield from cur.execute(
        f"WITH {counted},"
        f" local AS (SELECT k, d, n, {local} AS l FROM counted)"
        f" SELECT 'cell', {cell_key}, d, (l / 3600 + 72) % 168, sum(n) FROM local GROUP BY 2, 3, 4 "
        + days,
        [*counted_params, *params],
    )


def _change_days(offsets: list[tuple[int, int]]) -> list[str]:
    """The UTC days on which the zone's offset changes."""
    return [datetime.fromtimestamp(until, timezone.utc).strftime("%Y-%m-%d")
            for until, _ in offsets[:-1]]


def _whole_days(store: Store, first: str, last: str, skip: list[str], by: str | None,
                kind: str, rollup_key: str, offsets: list[tuple[int, int]]
                ) -> Iterator[tuple[str, Any, str, int, int]]:
    """``message_volume``'s rows for the UTC days strictly between
    ``first`` and ``last`` but not in ``skip`` (days with one offset all
    day), from ``report_volume``'s rows: a day's hour ``h`` is local hour
    ``day * 24 + h + offset``. Added up in SQL by weekday and offset (for
    the hour of week) or by day (the daily line, ``--by day``), spread
    over the hours here."""
    case = " ".join("WHEN day < ? THEN ?" for _ in offsets[:-1])
    offset = f"CASE {case} ELSE ? END" if case else "?"
    params: list[Any] = []
    for day, (_, off) in zip(_change_days(offsets), offsets, strict=False):
        params += [day, off // 3600]
    params.append((offsets[-1][1] if offsets else 0) // 3600)
    marks = ", ".join("?" for _ in skip)
    sums = ", ".join(f"sum({h})" for h in REPORT_HOURS)
    where = f"kind = ? AND day > ? AND day < ? AND day NOT IN ({marks})"
    cur = store.conn.cursor()
    cur.row_factory = None
    if by != "day":
        yield from hour_of_week_cells(cur.execute(
            f"SELECT {rollup_key}, direction, (unixepoch(day) / 86400) % 7, {offset}, {sums}"
            f" FROM report_volume WHERE {where} GROUP BY 1, 2, 3, 4",
            [*params, kind, first, last, *skip]))
    if by in (None, "channel", "day"):
        yield from local_day_rows(cur.execute(
            f"SELECT unixepoch(day) / 86400, direction, {offset}, {sums}"
            f" FROM report_volume WHERE {where} GROUP BY day, direction",
            [*params, kind, first, last, *skip]), by)


def hour_of_week_cells(rows: Iterable[Any]) -> Iterator[tuple[str, Any, str, int, int]]:
    """Rollup rows ``(key, direction, weekday, offset, hour 0..23 counts)``
    as hour-of-week cells (both engines' ``_whole_days``)."""
    cells: dict[tuple[Any, str, int], int] = {}
    for k, d, weekday, off, *hours in rows:
        base = weekday * 24 + off + 72
        for h, n in enumerate(hours):
            if n:
                cell = (k, d, (base + h) % 168)
                cells[cell] = cells.get(cell, 0) + n
    for (k, d, c), n in cells.items():
        yield "cell", k, d, c, n


def local_day_rows(rows: Iterable[Any], by: str | None
                   ) -> Iterator[tuple[str, Any, str, int, int]]:
    """Rollup rows ``(UTC day number, direction, offset, hour counts)`` as
    local days (the daily line), or, ``--by day``, as each day's cells."""
    days: dict[tuple[str, int], int] = {}
    for day_start, d, off, *hours in rows:
        base = day_start * 24 + off
        if by == "day":
            for h, n in enumerate(hours):
                if n:
                    local = base + h
                    yield "cell", local // 24, d, (local + 72) % 168, n
            continue
        # The UTC day's hours fall on two local days: split where the
        # local day changes (the offset is whole hours, under a day).
        split = 24 - off if off >= 0 else -off
        on = base // 24
        for day_no, n in ((on, sum(hours[:split])), (on + 1, sum(hours[split:]))):
            if n:
                days[(d, day_no)] = days.get((d, day_no), 0) + n
    for (d, day_no), n in days.items():
        yield "day", None, d, day_no, n


def _local_time(column: str, offsets: list[tuple[int, int]]) -> tuple[str, list[Any]]:
    """SQL for local Unix time of the Unix time ``column`` (see
    ``message_volume`` for ``offsets``), and its parameters."""
    case: list[str] = []
    params: list[Any] = []
    for until, offset in offsets[:-1]:
        case.append(f"WHEN {column} < ? THEN {column} + ?")
        params += [until, offset]
    params.append(offsets[-1][1] if offsets else 0)
    return (f"CASE {' '.join(case)} ELSE {column} + ? END" if case else f"{column} + ?"), params


def ticket_message_cells(store: Store, start: str, end: str, by: str,
                         offsets: list[tuple[int, int]]) -> Iterator[tuple[str | None, str]]:
    """Messages sent in [start, end) (as ``message_volume`` counts them)
    per tag (None: untagged tickets) or per assignee (None: unassigned),
    as ``(key, cells)``: ``cells`` lists, comma-separated, one number per
    message, its local hour of week, plus 168 for ``out``.

    A ticket's tags and assignee belong to the ticket, so these walk the
    tickets of each key in the key's index order (no sort) and read each
    ticket's messages of the period off ``messages_ticket_sent`` (m016,
    covering): a few hundred thousand index entries for a whole store,
    instead of a lookup of the ticket's tags for each of a million
    messages. The counting is left to the caller (one string per key)."""
    local, params = _local_time("unixepoch(m.sent_at)", offsets)
    cell = f"(({local}) / 3600 + 72) % 168 + 168 * (m.direction = 'out')"
    messages = (
        "JOIN messages m INDEXED BY messages_ticket_sent ON m.ticket_id = {t}"
        " AND m.sent_at >= ? AND m.sent_at < ? AND " + _COUNTED)
    cur = store.conn.cursor()
    cur.row_factory = None
    if by == "tag":
        yield from cur.execute(
            f"SELECT g.tag, group_concat({cell}) FROM tags g INDEXED BY tags_tag "
            + messages.format(t="g.ticket_id") + " GROUP BY g.tag",
            [*params, start, end])
        yield from cur.execute(
            f"SELECT NULL, group_concat({cell}) FROM tickets t "
            + messages.format(t="t.id")
            + " WHERE NOT EXISTS (SELECT 1 FROM tags g WHERE g.ticket_id = t.id)"
            " HAVING count(*) > 0",
            [*params, start, end])
    elif by == "assignee":
        yield from cur.execute(
            f"SELECT t.assignee, group_concat({cell}) FROM tickets t INDEXED BY tickets_assignee "
            + messages.format(t="t.id") + " GROUP BY t.assignee",
            [*params, start, end])
    else:
        raise ValueError(by)
