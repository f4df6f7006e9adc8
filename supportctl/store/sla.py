"""SQL for SLA clocks and housekeeping (SPEC §10): the service's small
facts kept between runs, stale marks, due times, pending spells and
snoozes. ``services.sla`` and ``services.housekeeping`` call these by what
they do; none opens a transaction (the caller's ``Store.tx()`` holds the
steps of one change together)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from supportctl.store.db import Store

# -- service state (key/value facts kept between runs) ------------------------


def state(store: Store, key: str) -> str | None:
    value = store.scalar("SELECT value FROM service_state WHERE key = ?", [key])
    return None if value is None else str(value)


def set_state(store: Store, key: str, value: str, now: str) -> None:
    store.execute(
        "INSERT INTO service_state (key, value, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        [key, value, now])


# -- stale marks and due times ------------------------------------------------


def mark_unclosed_stale(store: Store) -> None:
    """Every ticket that is not closed needs its due times recomputed."""
    store.execute("UPDATE tickets SET sla_stale = 1 WHERE status != 'closed' AND sla_stale = 0")


def mark_fresh(store: Store, ticket_ids: list[int]) -> None:
    """Due times stored as they are (an import restores them verbatim)."""
    for i in range(0, len(ticket_ids), 500):
        chunk = ticket_ids[i:i + 500]
        store.execute(f"UPDATE tickets SET sla_stale = 0 WHERE id IN ({','.join('?' * len(chunk))})",
                      chunk)


def any_stale(store: Store) -> bool:
    """Is any ticket's due time waiting to be recomputed?"""
    return store.scalar("SELECT 1 FROM tickets WHERE sla_stale = 1 LIMIT 1") is not None


def clear_stale_clocks(store: Store, *, ticket_id: int | None = None) -> int:
    """No SLA configured: stale tickets (or the one given) get no clocks;
    returns how many."""
    sql = ("UPDATE tickets SET first_response_due = NULL, resolution_due = NULL, "
           "sla_policy = NULL, sla_stale = 0 WHERE sla_stale = 1")
    if ticket_id is None:
        return store.execute(sql).rowcount
    return store.execute(sql + " AND id = ?", [ticket_id]).rowcount


def stale_ids(store: Store, *, limit: int | None = None, ticket_id: int | None = None) -> list[int]:
    """Tickets marked stale, by id (at most ``limit``; only ``ticket_id``
    when given)."""
    sql = "SELECT id FROM tickets WHERE sla_stale = 1"
    params: list[Any] = []
    if ticket_id is not None:
        sql += " AND id = ?"
        params.append(ticket_id)
    sql += " ORDER BY id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [r[0] for r in store.execute(sql, params).fetchall()]


def clock_facts(store: Store, ticket_id: int) -> Any:
    """The ticket row's facts its policy and due times depend on, or None."""
    return store.one(
        "SELECT id, channel, account, priority, created_at, contact_id FROM tickets WHERE id = ?",
        [ticket_id])


def ticket_tags(store: Store, ticket_id: int) -> set[str]:
    return {r[0] for r in store.execute("SELECT tag FROM tags WHERE ticket_id = ?", [ticket_id])}


def contact_tags(store: Store, contact_id: int) -> set[str]:
    """Tags on any ticket of the contact."""
    return {r[0] for r in store.execute(
        "SELECT DISTINCT g.tag FROM tags g JOIN tickets o ON o.id = g.ticket_id "
        "WHERE o.contact_id = ?", [contact_id])}


def set_due_times(store: Store, ticket_id: int, first: str | None, resolution: str | None,
                  policy: str | None) -> None:
    """Store computed due times and policy name; the ticket is fresh."""
    store.execute(
        "UPDATE tickets SET first_response_due = ?, resolution_due = ?, sla_policy = ?, "
        "sla_stale = 0 WHERE id = ?", [first, resolution, policy, ticket_id])


def status_changes(store: Store, ticket_id: int) -> Iterator[tuple[str, str]]:
    """(at, detail JSON) of the ticket's status events, oldest first."""
    yield from store.execute(
        "SELECT at, detail FROM events WHERE ticket_id = ? AND action = 'status' ORDER BY id",
        [ticket_id])


# -- snoozes ----------------------------------------------------------------


def snoozes_due(store: Store, now: str) -> list[int]:
    """Snoozed tickets whose time has come."""
    return [r[0] for r in store.execute(
        "SELECT id FROM tickets WHERE snoozed_until IS NOT NULL AND snoozed_until <= ?", [now])]


def end_snooze(store: Store, ticket_id: int) -> None:
    store.execute("UPDATE tickets SET snoozed_until = NULL WHERE id = ?", [ticket_id])
