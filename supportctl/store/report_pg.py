"""The queries behind ``report`` on PostgreSQL (SPEC §11, §13): the
functions of ``store/report.py``, under the same names and returning the
same rows, so ``services/report.py`` computes the same JSON from either.

The same rollup as SQLite's m020: ``report_volume`` (PG step 3) holds
the messages counted per UTC day, hour, direction and key, brought up to
date by ``catch_up_volume`` when a report starts (the high-water mark and
the dirty days the step's triggers mark), so a year or the whole store is
a few thousand rows, not a million messages. Counting a million messages
per hour straight from ``messages_sent_report`` (the covering index the
step adds) cost 4-11 s per query at load 12 on the 2-core bench machine
against the 1.5 s budget (bench/bench_pg_insight.py); it remains the way
when the rollup cannot be brought up to date (another report is catching
up, writers hold the tables), as on SQLite.

Times come back as Unix seconds (SQLite's ``unixepoch``: whole seconds,
rounded down), booleans as 1/0, sums as integers: what SQLite hands."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from supportctl.store.db import Store, StoreError
from supportctl.store.pg_schema import REPORT_HOURS, REPORT_LOCK
from supportctl.store.report import (
    _VOLUME_KEY,
    NOISE_TAGS,
    PHRASES_KEPT_MAX,
    RESOLUTION_FACTOR,
    hour_of_week_cells,
    local_day_rows,
    phrases_query,
)

_NOT_NOISE_TICKET = (f"NOT IN (SELECT ticket_id FROM tags WHERE tag IN"
                     f" ({', '.join(repr(t) for t in NOISE_TAGS)}))")
#: Which messages are volume (customer) or answers (ours): as store/report.py
#: counts them, the automatic inbound ones left out row by row.
_COUNTED = (
    "m.direction IN ('in', 'out')"
    " AND (m.author IS NULL OR (m.author != 'auto-reply' AND m.author NOT LIKE 'rule:%'))"
    f" AND m.ticket_id {_NOT_NOISE_TICKET}"
    # store.report.AUTOMATIC_INBOUND, as a condition on the row (not a
    # NOT IN over every message)
    " AND NOT (m.direction = 'in' AND (m.auto_reason IS NOT NULL OR m.delivery_state IS NOT NULL))"
    # store.migrations.UNDELIVERED: replies that never reached the customer
    " AND NOT (m.direction = 'out' AND m.delivery_state IS NOT DISTINCT FROM 'failed')")
_HOUR = "substr(m.sent_at, 1, 13)"
#: ``report_volume``'s key for none (no assignee, no tag): a key column
#: is NOT NULL, and no tag or agent name holds a control character.
_NO_KEY = "chr(1)"


def epoch(column: str) -> str:
    """SQLite's ``unixepoch(column)`` of a stored time (ISO 8601 in UTC,
    ``…Z``): whole seconds, or NULL. As a ``timestamp`` (no zone to look
    up: the stored ones are all UTC) and ``date_part`` (a double; the
    numeric ``extract`` costs twice as much over a hundred thousand rows)."""
    return f"floor(date_part('epoch', ({column})::timestamp))::bigint"


#: Settings for the report's few large reads, on its own connection's
#: session: JIT compiling costs more than these queries (half a second
#: each, measured), and the per-hour groups of a year of messages sort in
#: memory rather than in temporary files.
_SESSION = ("SET jit = off", "SET work_mem = '64MB'")


def _prepare(store: Store) -> None:
    for statement in _SESSION:
        store.conn.execute(statement)


def ticket_columns(store: Store) -> set[str]:
    return {r[0] for r in store.conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'tickets'"
        " AND table_schema = current_schema()")}


def _hours_since(later: str, earlier: str) -> str:
    """``max(later - earlier, 0) / 3600`` as Python works it out on floats
    (NULL when either is NULL: PostgreSQL's ``greatest`` would skip it)."""
    d = f"({later} - {earlier})"
    return f"(CASE WHEN {d} < 0 THEN 0 ELSE {d} END)::float8 / 3600"


def report_tickets(store: Store, start: str, end: str, now: float, key: str | None = None,
                   *, hours: bool = False) -> Iterator[tuple[Any, ...]]:
    """See ``store.report.report_tickets``."""
    key_column = {"channel": "t.channel", "assignee": "t.assignee"}.get(key or "", "NULL")
    created = epoch("t.created_at")
    if hours:
        done = (f"{_hours_since(epoch('t.first_response_at'), created)},"
                f" {_hours_since(epoch('t.solved_at'), created)}")
    else:
        done = f"{epoch('t.first_response_at')}, {epoch('t.solved_at')}"
    _prepare(store)
    yield from (tuple(r) for r in store.conn.execute(
        "SELECT t.id, CASE WHEN t.first_response_due IS NULL AND t.resolution_due IS NULL THEN 0"
        " ELSE 1 + CASE WHEN t.first_response_due IS NULL THEN 0"
        "  WHEN t.first_response_at IS NOT NULL THEN"
        f"   CASE WHEN {epoch('t.first_response_at')} <= {epoch('t.first_response_due')}"
        "   THEN 2 ELSE 1 END"
        f"  WHEN :now > {epoch('t.first_response_due')} THEN 1 ELSE 0 END"
        f" + {RESOLUTION_FACTOR} * CASE WHEN t.resolution_due IS NULL THEN 0"
        "  WHEN t.solved_at IS NOT NULL THEN"
        f"   CASE WHEN {epoch('t.solved_at')} <= {epoch('t.resolution_due')} THEN 2 ELSE 1 END"
        f"  WHEN COALESCE({epoch('t.sla_paused_at')}, :now) > {epoch('t.resolution_due')}"
        "   THEN 1 ELSE 0 END END,"
        f" {key_column}, t.contact_id, t.subject, {created}, {done}, t.sla_policy,"
        " CASE WHEN t.status IN ('new', 'open', 'pending')"
        f"  THEN {_hours_since('CAST(:now AS float8)', created)} END"
        " FROM tickets t"
        " WHERE t.created_at >= :start AND t.created_at < :end AND t.merged_into IS NULL"
        f" AND t.id {_NOT_NOISE_TICKET} ORDER BY t.created_at, t.id",
        {"start": start, "end": end, "now": now}))


def records_csat(store: Store) -> bool:
    """See ``store.report.records_csat`` (PostgreSQL's schema has it from step 1)."""
    return True


def report_csat(store: Store, start: str, end: str) -> Iterator[tuple[int, int | None]]:
    """See ``store.report.report_csat``."""
    yield from ((r[0], r[1]) for r in store.conn.execute(
        "SELECT q.ticket_id, q.rating FROM csat q JOIN tickets t ON t.id = q.ticket_id"
        " WHERE t.created_at >= ? AND t.created_at < ?", [start, end]))


def report_earlier_tickets(store: Store, start: str, end: str, key: str | None = None
                           ) -> Iterator[tuple[Any, ...]]:
    """See ``store.report.report_earlier_tickets``."""
    key_column = {"channel": "t.channel", "assignee": "t.assignee"}.get(key or "", "NULL")
    _prepare(store)
    yield from (tuple(r) for r in store.conn.execute(
        f"SELECT t.id, {key_column}, t.subject, {epoch('t.created_at')} FROM tickets t"
        " WHERE t.created_at >= ? AND t.created_at < ? AND t.merged_into IS NULL"
        f" AND t.id {_NOT_NOISE_TICKET}", [start, end]))


def report_tags(store: Store, start: str, end: str) -> Iterator[tuple[int, str]]:
    """(ticket id, tag) for tickets created in [start, end)."""
    _prepare(store)
    yield from ((r[0], r[1]) for r in store.conn.execute(
        "SELECT g.ticket_id, g.tag FROM tags g JOIN tickets t ON t.id = g.ticket_id"
        " WHERE t.created_at >= ? AND t.created_at < ? AND t.merged_into IS NULL",
        [start, end]))


def reopened_tickets(store: Store, start: str, end: str) -> set[int]:
    """See ``store.report.reopened_tickets``."""
    old, new = store.sql.json_text("e.detail", "old"), store.sql.json_text("e.detail", "new")
    rows = store.conn.execute(
        "SELECT e.ticket_id FROM events e JOIN tickets t ON t.id = e.ticket_id"
        " WHERE e.action = 'status' AND e.at >= ? AND t.created_at >= ? AND t.created_at < ?"
        f" AND {old} IN ('solved', 'closed') AND {new} IN ('new', 'open', 'pending')"
        " UNION SELECT u.linked_ticket FROM tickets u JOIN tickets t ON t.id = u.linked_ticket"
        " WHERE u.linked_ticket IS NOT NULL AND t.created_at >= ? AND t.created_at < ?",
        [start, start, end, start, end])
    return {int(r[0]) for r in rows}


def stored_phrases(store: Store, subjects: list[str] | None, version: int) -> dict[str, str]:
    """See ``store.report.stored_phrases`` (PG step 8)."""
    query = phrases_query(store, subjects, version)
    return {} if query is None else {r[0]: r[1] for r in store.conn.execute(*query)}


def keep_phrases(store: Store, found: list[tuple[str, str]], version: int) -> None:
    """See ``store.report.keep_phrases``: best effort, never waiting for
    other writers."""
    import psycopg

    found = [(s, p) for s, p in found if len(s) <= PHRASES_KEPT_MAX]
    if not found or store.readonly:
        return
    try:
        with store.tx():
            store.conn.execute("SET LOCAL lock_timeout = '100ms'")
            store.conn.executemany(
                "INSERT INTO subject_phrases (subject, phrases, version) VALUES (?, ?, ?)"
                " ON CONFLICT (subject) DO UPDATE SET phrases = excluded.phrases,"
                " version = excluded.version", [(s, p, version) for s, p in found])
    except (StoreError, psycopg.Error):
        pass


def rollup_usable(offsets: list[tuple[int, int]]) -> bool:
    """As ``store.report.rollup_usable``: whole-hour offsets only."""
    return all(off % 3600 == 0 for _, off in offsets)


#: ``report_volume``'s kinds: the key each counts by, and the join that reads it.
_ROLLUP_COUNT = {
    "channel": ("m.channel", ""),
    "assignee": (f"coalesce(t.assignee, {_NO_KEY})", " JOIN tickets t ON t.id = m.ticket_id"),
    "tag": (f"coalesce(g.tag, {_NO_KEY})", " LEFT JOIN tags g ON g.ticket_id = m.ticket_id"),
}
#: A dirty day's messages, off the ``messages_sent_report`` index.
_DIRTY_DAYS = ("report_volume_dirty dd JOIN messages m ON m.sent_at >= dd.day"
               " AND m.sent_at < dd.day || '~'")


def _count_in(kind: str, source: str, where: str) -> str:
    """Add the counted messages of ``source`` that satisfy ``where`` to
    ``report_volume``'s rows of ``kind`` (``store.report._count_in``)."""
    key, join = _ROLLUP_COUNT[kind]
    hours = ", ".join(f"sum(CASE WHEN substr(hr, 12, 2) = '{i:02d}' THEN n ELSE 0 END)"
                      for i in range(24))
    return (
        f"INSERT INTO report_volume (kind, day, direction, key, {', '.join(REPORT_HOURS)})"
        f" SELECT '{kind}', substr(hr, 1, 10), d, k, {hours} FROM"
        f" (SELECT {_HOUR} AS hr, m.direction AS d, {key} AS k, count(*) AS n"
        f"  FROM {source}{join} WHERE {where} AND {_COUNTED} GROUP BY 1, 2, 3) c"
        " GROUP BY 2, 3, 4 ON CONFLICT (kind, day, direction, key) DO UPDATE SET "
        + ", ".join(f"{h} = report_volume.{h} + excluded.{h}" for h in REPORT_HOURS))


#: How long ``report`` waits for other writers before counting from the messages.
CATCH_UP_WAIT_MS = 1000


def catch_up_volume(store: Store) -> bool:
    """Count what is new or changed into ``report_volume`` (PG step 3, as
    SQLite's m020): the dirty days afresh, then the messages above the
    high-water mark. Returns whether ``report_volume`` is current: False
    when another report is catching up, writers hold the tables for more
    than a moment, or this role may not write (the report then counts
    from the messages)."""
    import psycopg

    conn = store.conn
    _prepare(store)
    high, stale = conn.execute(
        "SELECT high, (SELECT coalesce(max(id), 0) FROM messages) != high"
        " OR EXISTS (SELECT 1 FROM report_volume_dirty) FROM report_volume_state").fetchone()
    if not stale:
        return True
    if store.readonly:
        return False
    try:
        with store.tx():
            if not conn.execute("SELECT pg_try_advisory_xact_lock(?)", [REPORT_LOCK]).fetchone()[0]:
                raise StoreError("another report is counting")
            conn.execute(f"SET LOCAL lock_timeout = '{CATCH_UP_WAIT_MS}ms'")
            # No write half-way: every id handed out so far is committed (or
            # gone), so the high-water mark skips none; no tag or assignee
            # changes under the count.
            conn.execute("LOCK TABLE messages, tickets, tags IN SHARE MODE")
            high = conn.execute("SELECT high FROM report_volume_state").fetchone()[0]
            conn.execute("DELETE FROM report_volume WHERE day IN (SELECT day FROM report_volume_dirty)")
            for kind in _ROLLUP_COUNT:
                conn.execute(_count_in(kind, _DIRTY_DAYS, "true"))
                conn.execute(_count_in(kind, "messages m", "m.id > ? AND substr(m.sent_at, 1, 10)"
                                       " NOT IN (SELECT day FROM report_volume_dirty)"), [high])
            conn.execute("UPDATE report_volume_state SET high = (SELECT coalesce(max(id), 0)"
                         " FROM messages)")
            conn.execute("DELETE FROM report_volume_dirty")
    except (StoreError, psycopg.Error):
        return False
    return True


#: ``store.report._ROLLUP_KEY`` in PostgreSQL's words: ``report_volume``'s
#: kind and key, and for the messages of the partial hours at a period's
#: edges the key and its join.
_ROLLUP_KEY = {
    None: ("channel", "NULL", "NULL", " JOIN tickets t ON t.id = m.ticket_id"),
    "day": ("channel", "NULL", "NULL", " JOIN tickets t ON t.id = m.ticket_id"),
    "channel": ("channel", "key", "m.channel", " JOIN tickets t ON t.id = m.ticket_id"),
    "assignee": ("assignee", f"NULLIF(key, {_NO_KEY})", "t.assignee",
                 " JOIN tickets t ON t.id = m.ticket_id"),
    "tag": ("tag", f"NULLIF(key, {_NO_KEY})", "g.tag",
            " JOIN tickets t ON t.id = m.ticket_id LEFT JOIN tags g ON g.ticket_id = m.ticket_id"),
}


def _local(column: str, offsets: list[tuple[int, int]]) -> tuple[str, list[Any]]:
    case: list[str] = []
    params: list[Any] = []
    for until, offset in offsets[:-1]:
        case.append(f"WHEN {column} < ? THEN {column} + ?")
        params += [until, offset]
    params.append(offsets[-1][1] if offsets else 0)
    return (f"CASE {' '.join(case)} ELSE {column} + ? END" if case else f"{column} + ?"), params


def message_volume(store: Store, start: str, end: str, by: str | None,
                   offsets: list[tuple[int, int]], *, rollup: bool = True
                   ) -> Iterator[tuple[str, Any, str, int, int]]:
    """The rows of ``store.report.message_volume``, the same way: with
    ``rollup`` (whole-hour offsets) the whole hours from ``report_volume``
    and the partial hours at the period's edges from the messages;
    without, every message of the period counted per UTC hour (per
    quarter hour in a zone whose offset is not whole hours)."""
    whole_hours = rollup_usable(offsets)
    grouped = by not in (None, "day")
    local, params = _local("s", offsets)
    _prepare(store)
    if rollup and whole_hours:
        kind, rollup_key, key, join = _ROLLUP_KEY[by]
        edge_hour = epoch(f"{_HOUR} || ':00:00'")
        edge = (f" SELECT {key} AS k, m.direction AS d, {edge_hour} AS s,"
                f" count(*) AS n FROM messages m{join}"
                # the hour as a range of the index ('~' sorts after ':')
                " WHERE m.sent_at >= substr(?, 1, 13) AND m.sent_at < substr(?, 1, 13) || '~'"
                "{also} AND m.sent_at >= ? AND m.sent_at < ?"
                f" AND {_COUNTED} GROUP BY {_HOUR}, m.direction{', 1' if grouped else ''}")
        hourly = sorted({start[:10], end[:10], *(
            d for d in _change_days(offsets) if start[:10] < d < end[:10])})
        marks = ", ".join("?" for _ in hourly)
        hour = "day || 'T' || lpad(hrs.i::text, 2, '0')"
        column = f"CASE hrs.i {' '.join(f'WHEN {i} THEN {h}' for i, h in enumerate(REPORT_HOURS))} END"
        hour_start = epoch(f"{hour} || ':00:00'")
        counted = (
            f"SELECT {rollup_key} AS k, direction AS d, {hour_start} AS s,"
            f" {column} AS n FROM report_volume, hrs WHERE kind = ? AND day IN ({marks})"
            f" AND {hour} > substr(?, 1, 13) AND {hour} < substr(?, 1, 13)"
            + " UNION ALL" + edge.format(also="")
            + " UNION ALL" + edge.format(also=" AND substr(?, 1, 13) != substr(?, 1, 13)"))
        counted_params = [kind, *hourly, start, end,  # whole hours of those days
                          start, start, start, end,  # the first hour
                          end, end, end, start, start, end]  # the last, when another
        counted = ("hrs(i) AS (VALUES " + ", ".join(f"({i})" for i in range(24)) + "),"
                   " counted AS MATERIALIZED (" + counted + ")")
        yield from _whole_days(store, start[:10], end[:10], hourly, by, kind, rollup_key, offsets)
    else:
        key, join = _VOLUME_KEY[by]
        if whole_hours:
            bucket, extra = epoch(f"{_HOUR} || ':00:00'"), ""
        else:
            bucket, extra = f"{epoch('m.sent_at')} / 900 * 900", f", {epoch('m.sent_at')} / 900"
        counted = (f"counted AS MATERIALIZED (SELECT {key} AS k, m.direction AS d,"
                   f" {bucket} AS s, count(*) AS n FROM messages m{join}"
                   f" WHERE m.sent_at >= ? AND m.sent_at < ? AND {_COUNTED}"
                   f" GROUP BY {_HOUR}, m.direction{', 1' if grouped else ''}{extra})")
        counted_params = [start, end]
    days = ("UNION ALL SELECT 'day', NULL, d, l / 86400, sum(n)::bigint FROM local GROUP BY 3, 4"
            if by in (None, "channel") else "")
    cell_key = "l / 86400" if by == "day" else "k"
    rows = store.conn.execute(
        f"WITH {counted}, local AS (SELECT k, d, n, {local} AS l FROM counted)"
        f" SELECT 'cell', {cell_key}, d, (l / 3600 + 72) % 168, sum(n)::bigint FROM local"
        f" GROUP BY 2, 3, 4 {days}",
        [*counted_params, *params])
    for kind_, k, d, value, n in rows:
        yield kind_, k, d, int(value), int(n)


def _change_days(offsets: list[tuple[int, int]]) -> list[str]:
    """The UTC days on which the zone's offset changes."""
    return [datetime.fromtimestamp(until, timezone.utc).strftime("%Y-%m-%d")
            for until, _ in offsets[:-1]]


def _whole_days(store: Store, first: str, last: str, skip: list[str], by: str | None,
                kind: str, rollup_key: str, offsets: list[tuple[int, int]]
                ) -> Iterator[tuple[str, Any, str, int, int]]:
    """``store.report._whole_days``: the days strictly between ``first``
    and ``last`` but not in ``skip``, from ``report_volume``."""
    case = " ".join("WHEN day < ? THEN ?" for _ in offsets[:-1])
    offset = f"CASE {case} ELSE ? END" if case else "?"
    params: list[Any] = []
    for day, (_, off) in zip(_change_days(offsets), offsets, strict=False):
        params += [day, off // 3600]
    params.append((offsets[-1][1] if offsets else 0) // 3600)
    marks = ", ".join("?" for _ in skip)
    sums = ", ".join(f"sum({h})::bigint" for h in REPORT_HOURS)
    where = f"kind = ? AND day > ? AND day < ? AND day NOT IN ({marks})"
    if by != "day":
        yield from hour_of_week_cells(store.conn.execute(
            f"SELECT {rollup_key}, direction, ({epoch('day')} / 86400) % 7, ({offset})::bigint,"
            f" {sums} FROM report_volume WHERE {where} GROUP BY 1, 2, 3, 4",
            [*params, kind, first, last, *skip]))
    if by in (None, "channel", "day"):
        yield from local_day_rows(store.conn.execute(
            f"SELECT {epoch('day')} / 86400, direction, ({offset})::bigint, {sums}"
            f" FROM report_volume WHERE {where} GROUP BY day, direction",
            [*params, kind, first, last, *skip]), by)


def ticket_message_cells(store: Store, start: str, end: str, by: str,
                         offsets: list[tuple[int, int]]) -> Iterator[tuple[str | None, str]]:
    """See ``store.report.ticket_message_cells`` (what the report reads
    when ``message_volume`` cannot group by ``by``: never here; kept so
    that both engines answer every query of the report)."""
    local, params = _local(epoch("m.sent_at"), offsets)
    cell = (f"(({local}) / 3600 + 72) % 168"
            " + CASE WHEN m.direction = 'out' THEN 168 ELSE 0 END")
    messages = (" JOIN messages m ON m.ticket_id = {t} AND m.sent_at >= ? AND m.sent_at < ?"
                f" AND {_COUNTED}")
    if by == "tag":
        yield from ((r[0], r[1]) for r in store.conn.execute(
            f"SELECT g.tag, string_agg(({cell})::text, ',') FROM tags g"
            + messages.format(t="g.ticket_id") + " GROUP BY g.tag",
            [*params, start, end]))
        yield from ((r[0], r[1]) for r in store.conn.execute(
            f"SELECT NULL, string_agg(({cell})::text, ',') FROM tickets t"
            + messages.format(t="t.id")
            + " WHERE NOT EXISTS (SELECT 1 FROM tags g WHERE g.ticket_id = t.id)"
            " HAVING count(*) > 0",
            [*params, start, end]))
    elif by == "assignee":
        yield from ((r[0], r[1]) for r in store.conn.execute(
            f"SELECT t.assignee, string_agg(({cell})::text, ',') FROM tickets t"
            + messages.format(t="t.id") + " GROUP BY t.assignee",
            [*params, start, end]))
    else:
        raise ValueError(by)
