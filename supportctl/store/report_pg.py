"""The queries behind ``report`` on PostgreSQL (SPEC §11, §13): the
functions of ``store/report.py``, under the same names and returning the
same rows, so ``services/report.py`` computes the same JSON from either.

No rollup here: SQLite keeps ``report_volume`` (m020) because counting a
million messages per hour costs it seconds; PostgreSQL counts them per
UTC hour straight from the ``messages_sent_report`` index (PG step 3,
covering every column the count reads), in parallel, within the report's
budget (bench/bench_pg_insight.py), and so has nothing to keep current
on every write. ``rollup_usable`` and ``catch_up_volume`` therefore say
yes at once, and ``message_volume`` counts by any key, in any zone
(a zone whose offset is not whole hours counts quarter hours).

Times come back as Unix seconds (SQLite's ``unixepoch``: whole seconds,
rounded down), booleans as 1/0, sums as integers: what SQLite hands."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from supportctl.store.db import Store
from supportctl.store.report import NOISE_TAGS

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
    " AND NOT (m.direction = 'in' AND (m.auto_reason IS NOT NULL OR m.delivery_state IS NOT NULL))")
_HOUR = "substr(m.sent_at, 1, 13)"


def epoch(column: str) -> str:
    """SQLite's ``unixepoch(column)`` of an ISO time: whole seconds, or NULL."""
    return f"floor(extract(epoch FROM ({column})::timestamptz))::bigint"


def ticket_columns(store: Store) -> set[str]:
    return {r[0] for r in store.conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'tickets'"
        " AND table_schema = current_schema()")}


def report_tickets(store: Store, start: str, end: str, now: float, key: str | None = None
                   ) -> Iterator[tuple[Any, ...]]:
    """See ``store.report.report_tickets``."""
    key_column = {"channel": "t.channel", "assignee": "t.assignee"}.get(key or "", "NULL")
    yield from (tuple(r) for r in store.conn.execute(
        "SELECT t.id, CASE WHEN t.status IN ('new', 'open', 'pending') THEN 1 ELSE 0 END,"
        f" {key_column}, t.contact_id, t.subject, {epoch('t.created_at')},"
        f" {epoch('t.first_response_at')}, {epoch('t.solved_at')},"
        " CASE WHEN t.first_response_due IS NOT NULL OR t.resolution_due IS NOT NULL"
        "  THEN 1 ELSE 0 END,"
        " CASE WHEN t.first_response_due IS NULL THEN NULL"
        "  WHEN t.first_response_at IS NOT NULL THEN"
        f"   CASE WHEN {epoch('t.first_response_at')} <= {epoch('t.first_response_due')}"
        "   THEN 1 ELSE 0 END"
        f"  WHEN :now > {epoch('t.first_response_due')} THEN 0 END,"
        " CASE WHEN t.resolution_due IS NULL THEN NULL"
        "  WHEN t.solved_at IS NOT NULL THEN"
        f"   CASE WHEN {epoch('t.solved_at')} <= {epoch('t.resolution_due')} THEN 1 ELSE 0 END"
        f"  WHEN COALESCE({epoch('t.sla_paused_at')}, :now) > {epoch('t.resolution_due')}"
        "   THEN 0 END,"
        " t.sla_policy, q.asked_at, q.rating"
        " FROM tickets t LEFT JOIN csat q ON q.ticket_id = t.id"
        " WHERE t.created_at >= :start AND t.created_at < :end AND t.merged_into IS NULL"
        f" AND t.id {_NOT_NOISE_TICKET}",
        {"start": start, "end": end, "now": now}))


def report_tags(store: Store, start: str, end: str) -> Iterator[tuple[int, str]]:
    """(ticket id, tag) for tickets created in [start, end)."""
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


def rollup_usable(offsets: list[tuple[int, int]]) -> bool:
    """Counting from the messages works in every zone."""
    return True


def catch_up_volume(store: Store) -> bool:
    """Nothing to catch up: ``message_volume`` counts from the messages."""
    return True


#: How messages are grouped: the key each group reads, and the join that reads it.
_VOLUME_KEY = {
    None: ("NULL", ""),
    "day": ("NULL", ""),
    "channel": ("m.channel", ""),
    "assignee": ("t.assignee", " JOIN tickets t ON t.id = m.ticket_id"),
    "tag": ("g.tag", " LEFT JOIN tags g ON g.ticket_id = m.ticket_id"),
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
    """The rows of ``store.report.message_volume``, counted per UTC hour
    (per quarter hour in a zone whose offset is not whole hours) from the
    messages of the period (``rollup`` is SQLite's and changes nothing)."""
    whole_hours = all(off % 3600 == 0 for _, off in offsets)
    grouped = by not in (None, "day")
    key, join = _VOLUME_KEY[by]
    if whole_hours:
        bucket, extra = epoch(f"{_HOUR} || ':00:00Z'"), ""
    else:
        bucket, extra = f"{epoch('m.sent_at')} / 900 * 900", f", {epoch('m.sent_at')} / 900"
    local, params = _local("s", offsets)
    days = ("UNION ALL SELECT 'day', NULL, d, l / 86400, sum(n)::bigint FROM local GROUP BY 3, 4"
            if by in (None, "channel") else "")
    cell_key = "l / 86400" if by == "day" else "k"
    rows = store.conn.execute(
        f"WITH counted AS MATERIALIZED (SELECT {key} AS k, m.direction AS d, {bucket} AS s,"
        f" count(*) AS n FROM messages m{join}"
        f" WHERE m.sent_at >= ? AND m.sent_at < ? AND {_COUNTED}"
        f" GROUP BY {_HOUR}, m.direction{', 1' if grouped else ''}{extra}),"
        f" local AS (SELECT k, d, n, {local} AS l FROM counted)"
        f" SELECT 'cell', {cell_key}, d, (l / 3600 + 72) % 168, sum(n)::bigint FROM local"
        f" GROUP BY 2, 3, 4 {days}",
        [start, end, *params])
    for kind, k, d, value, n in rows:
        yield kind, k, d, int(value), int(n)


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
