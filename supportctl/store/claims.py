"""SQL for team work (SPEC §13): claims with a lease, the next ticket to
hand out, and when each agent last looked at a ticket. None of these opens
a transaction except where the one statement must be atomic on its own
(``hand_out``): the caller's ``Store.tx()`` holds one change together.

On SQLite every write is serialised by ``BEGIN IMMEDIATE``, so reading and
claiming in one transaction never hands one ticket to two agents; on
PostgreSQL ``hand_out`` reads with ``FOR UPDATE SKIP LOCKED`` (a ticket
another agent is taking is passed over, not waited for) and ``holder``
locks the ticket's row (``store.sql``)."""

from __future__ import annotations

from typing import Any

from supportctl.store.db import Store
from supportctl.store.read import NEXT_DUE

#: Tickets ``next`` may hand out: waiting on us, awake, not merged.
_WAITING = (
    "t.status IN ('new', 'open') AND t.merged_into IS NULL"
    " AND (t.snoozed_until IS NULL OR t.snoozed_until <= :now)"
    " AND (t.claimed_until IS NULL OR t.claimed_until <= :now)"
    " AND (t.assignee IS NULL OR t.assignee = :me)"
)

#: Most urgent first: the nearest SLA deadline, then priority, then the
#: customer who has waited longest.
_URGENCY = (
    f"COALESCE({NEXT_DUE}, '9999') ASC,"
    " CASE t.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END,"
    " COALESCE(t.last_inbound_at, t.created_at) ASC, t.id ASC"
)


def holder(store: Store, ticket_id: int, now: str) -> tuple[str, str] | None:
    """Who holds a live claim on the ticket, and until when. On PostgreSQL
    the ticket's row stays locked until the caller's transaction ends, so
    two agents claiming one ticket at once take turns."""
    row = store.one(
        f"SELECT claimed_by, claimed_until FROM tickets WHERE id = ?{store.sql.for_update}",
        [ticket_id],
    )
    if row is None or row[1] is None or not str(row[1]) > now:
        return None
    return str(row[0]), str(row[1])


def set_claim(store: Store, ticket_id: int, agent: str | None, until: str | None) -> None:
    store.execute("UPDATE tickets SET claimed_by = ?, claimed_until = ? WHERE id = ?",
                  [agent, until, ticket_id])


def hand_out(store: Store, agent: str, now: str, until: str,
             channel: str | None = None) -> int | None:
    """Claim the most urgent waiting ticket for ``agent``; its id, or None."""
    extra, params = "", {"now": now, "me": agent, "until": until}
    if channel:
        extra, params["channel"] = " AND t.channel = :channel", channel
    with store.tx():
        tid = store.scalar(
            f"SELECT t.id FROM tickets t WHERE {_WAITING}{extra} ORDER BY {_URGENCY} LIMIT 1"
            f"{store.sql.skip_locked}",
            params,
        )
        if tid is None:
            return None
        store.execute("UPDATE tickets SET claimed_by = :me, claimed_until = :until WHERE id = :id",
                      {**params, "id": tid})
    return int(tid)


def note_seen(store: Store, ticket_id: int, agent: str, now: str) -> None:
    store.execute(
        "INSERT INTO ticket_views (ticket_id, agent, seen_at) VALUES (?, ?, ?) "
        "ON CONFLICT (ticket_id, agent) DO UPDATE SET seen_at = excluded.seen_at",
        [ticket_id, agent, now],
    )


def note_opened(store: Store, ticket_id: int, agent: str, now: str) -> None:
    """``note_seen`` unless the agent's last sight of the ticket is as new
    as its last change: then a newer time tells a reply nothing more (what
    another agent did since would have changed the ticket), and `show`
    writes nothing. A write costs a read command the WAL's checkpoint at
    exit, four fsyncs."""
    store.execute(
        "INSERT INTO ticket_views (ticket_id, agent, seen_at) SELECT ?, ?, ? WHERE NOT EXISTS ("
        " SELECT 1 FROM ticket_views v JOIN tickets t ON t.id = v.ticket_id"
        " WHERE v.ticket_id = ? AND v.agent = ? AND v.seen_at >= t.updated_at) "
        "ON CONFLICT (ticket_id, agent) DO UPDATE SET seen_at = excluded.seen_at",
        [ticket_id, agent, now, ticket_id, agent],
    )


def seen_at(store: Store, ticket_id: int, agent: str) -> str | None:
    at: str | None = store.scalar(
        "SELECT seen_at FROM ticket_views WHERE ticket_id = ? AND agent = ?", [ticket_id, agent]
    )
    return at


def answers_since(store: Store, ticket_id: int, agent: str, since: str) -> list[dict[str, Any]]:
    """Other agents' answers to the ticket from ``since`` on (the same
    second included: stored times are whole seconds)."""
    return [
        {"actor": r[0], "at": r[1]}
        for r in store.execute(
            "SELECT actor, at FROM events WHERE ticket_id = ? AND at >= ? AND actor != ?"
            " AND action = 'reply' ORDER BY at, id",
            [ticket_id, since, agent],
        )
    ]
