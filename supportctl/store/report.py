"""The queries behind ``report`` (SPEC §11), each named for what it reads.

Times come back as Unix seconds computed by SQLite (``unixepoch``), so the
service does arithmetic on integers instead of parsing a hundred thousand
ISO strings in Python. Columns that later migrations add (``sla_policy``,
``sla_paused_at``, the ``csat_*`` columns) are read when the store has them
and come back as None otherwise, so the report fills in as the schema grows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from supportctl.store.db import Store

#: Optional ticket columns the report reads when a migration has added them.
OPTIONAL_TICKET_COLUMNS = ("sla_policy", "sla_paused_at", "csat_asked_at", "csat_rating",
                           "csat_answered_at")


def ticket_columns(store: Store) -> set[str]:
    return {r[1] for r in store.conn.execute("PRAGMA table_info(tickets)")}


def report_tickets(store: Store, start: str, end: str) -> Iterator[tuple[Any, ...]]:
    """Tickets created in [start, end), merged ones left out, oldest first:
    ``(id, status, priority, channel, account, assignee, contact_id, subject,
    created, first_response, solved, first_response_due, resolution_due,
    next_created, sla_policy, sla_paused, csat_asked, csat_rating,
    csat_answered)`` with times as Unix seconds. ``next_created`` is when the
    same contact opened their next ticket (within the range), for repeat
    contacts."""
    have = ticket_columns(store)
    optional = []
    for col in OPTIONAL_TICKET_COLUMNS:
        if col not in have:
            optional.append("NULL")
        elif col.endswith("_at"):
            optional.append(f"unixepoch({col})")
        else:
            optional.append(col)
    cur = store.conn.cursor()
    cur.row_factory = None
    yield from cur.execute(
        "SELECT id, status, priority, channel, account, assignee, contact_id, subject,"
        " unixepoch(created_at), unixepoch(first_response_at), unixepoch(solved_at),"
        " unixepoch(first_response_due), unixepoch(resolution_due),"
        " CASE WHEN contact_id IS NOT NULL THEN unixepoch(LEAD(created_at) OVER"
        "  (PARTITION BY contact_id ORDER BY created_at, id)) END, "
        + ", ".join(optional)
        + " FROM tickets WHERE created_at >= ? AND created_at < ? AND merged_into IS NULL"
        " ORDER BY created_at, id",
        [start, end],
    )


def report_tags(store: Store, start: str, end: str) -> Iterator[tuple[int, str]]:
    """(ticket id, tag) for tickets created in [start, end)."""
    cur = store.conn.cursor()
    cur.row_factory = None
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
        "SELECT e.ticket_id FROM events e JOIN tickets t ON t.id = e.ticket_id"
        " WHERE e.action = 'status' AND e.at >= ? AND t.created_at >= ? AND t.created_at < ?"
        " AND json_extract(e.detail, '$.old') IN ('solved', 'closed')"
        " AND json_extract(e.detail, '$.new') IN ('new', 'open', 'pending')"
        " UNION SELECT u.linked_ticket FROM tickets u JOIN tickets t ON t.id = u.linked_ticket"
        " WHERE u.linked_ticket IS NOT NULL AND t.created_at >= ? AND t.created_at < ?",
        [start, start, end, start, end],
    )
    return {r[0] for r in rows}


#: How messages are grouped for ``hour_of_week``: the key each group reads.
_VOLUME_KEY = {
    None: ("NULL", ""),
    "day": ("NULL", ""),
    "week": ("NULL", ""),
    "channel": ("t.channel", " JOIN tickets t ON t.id = m.ticket_id"),
    "assignee": ("t.assignee", " JOIN tickets t ON t.id = m.ticket_id"),
    "tag": ("g.tag", " LEFT JOIN tags g ON g.ticket_id = m.ticket_id"),
}


def message_volume(store: Store, start: str, end: str, by: str | None,
                   bucket_seconds: int) -> Iterator[tuple[Any, str, int, int]]:
    """(group key, direction, bucket, count) of customer messages (``in``)
    and our own answers (``out``, automatic acknowledgements left out) sent
    in [start, end); ``bucket`` is Unix seconds // ``bucket_seconds``. The
    ``messages_sent`` index (m006) covers it."""
    key, join = _VOLUME_KEY[by]
    cur = store.conn.cursor()
    cur.row_factory = None
    yield from cur.execute(
        f"SELECT {key}, m.direction, unixepoch(m.sent_at) / ?, count(*)"
        f" FROM messages m{join}"
        " WHERE m.sent_at >= ? AND m.sent_at < ? AND m.direction IN ('in', 'out')"
        " AND (m.author IS NULL OR (m.author != 'auto-reply' AND m.author NOT LIKE 'rule:%'))"
        " GROUP BY 1, 2, 3",
        [bucket_seconds, start, end],
    )
