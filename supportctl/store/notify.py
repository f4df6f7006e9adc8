"""SQL for notifications (SPEC §10): what a notification says about a
ticket, the conditions an entry tests, the event log and clocks it reads,
and the once-only record. ``services.notify`` calls these by what they do;
none opens a transaction."""

from __future__ import annotations

from typing import Any

from supportctl.store.db import Store, StoreError
from supportctl.store.read import BREACHED_SQL, DUE_SOON_SQL, OPEN_STATUSES, due_soon_params

_OPEN = ", ".join(f"'{s}'" for s in OPEN_STATUSES)


def ticket_summary(store: Store, ticket_id: int) -> Any:
    """Id, channel, subject, clocks, assignee, the contact's name and first
    address of a ticket, or None."""
    return store.one(
        "SELECT t.id, t.channel, t.subject, t.first_response_at, t.first_response_due, "
        "t.solved_at, t.resolution_due, t.assignee, c.name AS contact_name, "
        "(SELECT address FROM identities i WHERE i.contact_id = t.contact_id ORDER BY id LIMIT 1) "
        "AS address FROM tickets t LEFT JOIN contacts c ON c.id = t.contact_id WHERE t.id = ?",
        [ticket_id])


def last_inbound_id(store: Store, ticket_id: int) -> int | None:
    mid: int | None = store.scalar(
        "SELECT max(id) FROM messages WHERE ticket_id = ? AND direction = 'in'", [ticket_id])
    return mid


def first_message_id(store: Store, ticket_id: int) -> int | None:
    mid: int | None = store.scalar("SELECT min(id) FROM messages WHERE ticket_id = ?", [ticket_id])
    return mid


def message_text(store: Store, message_id: int | None) -> str | None:
    text: str | None = store.scalar("SELECT text FROM messages WHERE id = ?", [message_id])
    return text


def message_is_automated(store: Store, message_id: Any) -> bool:
    """The message came from an automated sender (``auto_reason`` set)."""
    return bool(store.scalar("SELECT auto_reason FROM messages WHERE id = ?", [message_id]))


def ticket_routing(store: Store, ticket_id: int) -> Any:
    """Priority, channel and account of a ticket, or None."""
    return store.one("SELECT priority, channel, account FROM tickets WHERE id = ?", [ticket_id])


def ticket_status(store: Store, ticket_id: int) -> str | None:
    status: str | None = store.scalar("SELECT status FROM tickets WHERE id = ?", [ticket_id])
    return status


def has_any_tag(store: Store, ticket_id: int, tags: list[str]) -> bool:
    if not tags:
        return False
    marks = ", ".join("?" for _ in tags)
    return bool(store.scalar(f"SELECT 1 FROM tags WHERE ticket_id = ? AND tag IN ({marks}) LIMIT 1",
                             [ticket_id, *tags]))


def ticket_events_after(store: Store, cursor: int) -> list[Any]:
    """(id, ticket_id, action, detail, at) of new messages and assignments
    logged after event ``cursor``, in order."""
    return store.execute(
        "SELECT id, ticket_id, action, detail, at FROM events WHERE id > ? "
        "AND action IN ('message.in', 'assign') ORDER BY id", [cursor]).fetchall()


#: How long ``last_event_id`` waits for the transactions writing events.
SETTLE_WAIT_MS = 5000


def last_event_id(store: Store) -> int | None:
    """The newest event id at or below which every event has committed, so
    a cursor moved there skips nothing; None when that could not be made
    sure in time (keep the cursor where it is).

    PostgreSQL hands out an id when the row is written, not when it
    commits: another machine's assignment could hold id 41 uncommitted
    while this sync's own event 42 committed, and a cursor moved to 42
    never saw 41 (the owner was never told). A SHARE lock on ``events``
    waits for every transaction still writing there and keeps new ones
    out while ``max(id)`` is read, then lets go. SQLite has one writer at
    a time, whose ids commit in order."""
    if store.sql.one_writer:
        return int(store.scalar("SELECT COALESCE(max(id), 0) FROM events") or 0)
    try:
        with store.tx():
            store.execute(f"SET LOCAL lock_timeout = '{SETTLE_WAIT_MS}ms'")
            store.execute("LOCK TABLE events IN SHARE MODE")
            return int(store.scalar("SELECT COALESCE(max(id), 0) FROM events") or 0)
    except StoreError:
        return None


def last_event_before(store: Store, at: str) -> int:
    """The last event logged before ``at`` (0: none)."""
    return int(store.scalar("SELECT COALESCE(max(id), 0) FROM events WHERE at < ?", [at]) or 0)


def running_clocks(store: Store, which: str, now: str) -> list[Any]:
    """Open, unmerged tickets whose clocks are ``which`` (``due-soon`` or
    ``breached``) at ``now``: (id, first_response_at, first_response_due,
    solved_at, sla_paused_at, resolution_due)."""
    sql, params = (DUE_SOON_SQL, due_soon_params(now)) if which == "due-soon" else (
        BREACHED_SQL, [now, now])
    return store.execute(
        "SELECT t.id, t.first_response_at, t.first_response_due, t.solved_at, "
        "t.sla_paused_at, t.resolution_due FROM tickets t "
        f"WHERE t.status IN ({_OPEN}) AND t.merged_into IS NULL AND {sql}", params).fetchall()


def due_by(store: Store, day: str) -> list[Any]:
    """Open, unmerged tickets with a clock running out by ``day``, for the
    digest: (id, channel, subject, contact name, first_response_at,
    first_response_due, solved_at, sla_paused_at, resolution_due)."""
    return store.execute(
        "SELECT t.id, t.channel, t.subject, c.name, t.first_response_at, t.first_response_due, "
        "t.solved_at, t.sla_paused_at, t.resolution_due FROM tickets t "
        "LEFT JOIN contacts c ON c.id = t.contact_id "
        f"WHERE t.status IN ({_OPEN}) AND t.merged_into IS NULL AND ("
        "(t.first_response_at IS NULL AND t.first_response_due <= ?) OR "
        "(t.solved_at IS NULL AND t.resolution_due <= ?)) ORDER BY t.id", [day, day]).fetchall()


def forget_notification(store: Store, ticket_id: int, key: str) -> None:
    """It may notify again (a sync failure streak ended)."""
    store.execute("DELETE FROM notifications WHERE ticket_id = ? AND event = ?", [ticket_id, key])


def notified(store: Store, ticket_id: int, key: str, entry: str) -> bool:
    return bool(store.scalar(
        "SELECT 1 FROM notifications WHERE ticket_id = ? AND event = ? AND entry = ?",
        [ticket_id, key, entry]))


def record_notification(store: Store, ticket_id: int, key: str, entry: str, at: str) -> None:
    store.execute("INSERT INTO notifications (ticket_id, event, entry, at) "
                  "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", [ticket_id, key, entry, at])
