"""SQL for the outbox (SPEC §2, §9): entries, the claim that marks one
``unknown`` before it goes on the wire, what is due for a resend, recent
sends whose delivery state may still change, and the listing. The rules
(when to claim, retry, back off) live in ``services.outbox``; none of these
opens a transaction."""

from __future__ import annotations

from typing import Any

from supportctl.store.db import Store


def get(store: Store, outbox_id: int) -> dict[str, Any] | None:
    row = store.one("SELECT * FROM outbox WHERE id = ?", [outbox_id])
    return None if row is None else dict(row)


def state(store: Store, outbox_id: int) -> str | None:
    value = store.scalar("SELECT state FROM outbox WHERE id = ?", [outbox_id])
    return None if value is None else str(value)


def claim_for_send(store: Store, outbox_id: int, error: str, now: str) -> bool:
    """Mark a queued or failed entry ``unknown`` with ``error`` (what a
    death mid-send leaves); False when another process had it first or it
    is in no sendable state."""
    return bool(store.execute(
        "UPDATE outbox SET state = 'unknown', error = ?, updated_at = ? "
        "WHERE id = ? AND state IN ('queued', 'failed')",
        [error, now, outbox_id],
    ).rowcount)


def due(store: Store, account: str, max_attempts: int, now: str, stale_before: str) -> list[int]:
    """Failed temporary entries of ``account`` whose backoff is over, and
    entries queued but never handed to the channel since ``stale_before``."""
    return [
        int(r[0])
        for r in store.execute(
            "SELECT id FROM outbox WHERE account = ? AND ((state = 'failed' AND temporary = 1 "
            "AND attempts < ? AND COALESCE(next_attempt_at, '') <= ?) OR (state = 'queued' "
            "AND attempts = 0 AND updated_at <= ?)) ORDER BY id",
            [account, max_attempts, now, stale_before],
        )
    ]


def recent_sends(store: Store, account: str, since: str) -> list[dict[str, Any]]:
    """Entries of ``account`` created from ``since`` on that the provider
    holds (queued or sent, with its id): ``id``, ``message_id``,
    ``ticket_id``, ``auto`` and the message's ``external_id``."""
    return [dict(r) for r in store.execute(
        f"SELECT o.id, o.message_id, o.ticket_id, {store.sql.json_bool('o.payload', 'auto')} AS auto, "
        "m.external_id FROM outbox o JOIN messages m ON m.id = o.message_id "
        "WHERE o.account = ? AND o.state IN ('queued', 'sent') AND m.external_id IS NOT NULL "
        "AND o.created_at >= ?",
        [account, since],
    )]


def entries(store: Store, states: list[str] | None = None) -> list[dict[str, Any]]:
    """Every entry (in ``states`` when given) with its message's text, by id."""
    sql = ("SELECT o.*, m.text FROM outbox o JOIN messages m ON m.id = o.message_id")
    params: list[Any] = []
    if states:
        sql += f" WHERE o.state IN ({', '.join('?' for _ in states)})"
        params = list(states)
    sql += " ORDER BY o.id"
    return [dict(r) for r in store.execute(sql, params)]


def contact_media(store: Store, ticket_id: int) -> set[str]:
    """The media the ticket's contact has identities on."""
    return {str(r[0]) for r in store.execute(
        "SELECT DISTINCT i.channel FROM identities i JOIN tickets t ON t.contact_id = i.contact_id"
        " WHERE t.id = ?", [ticket_id])}


def error(store: Store, outbox_id: int) -> str | None:
    """The entry's last error (None when it has none or does not exist)."""
    row = store.one("SELECT error FROM outbox WHERE id = ?", [outbox_id])
    return None if row is None else row["error"]


def route(store: Store, outbox_id: int) -> dict[str, Any] | None:
    """The channel entry (``account``) the entry goes out through; None
    when there is no such entry."""
    row = store.one("SELECT account FROM outbox WHERE id = ?", [outbox_id])
    return None if row is None else dict(row)


def add(store: Store, row: dict[str, Any]) -> int:
    """A new entry (``row``: its columns); returns its id."""
    return store.insert("outbox", row)


def update(store: Store, outbox_id: int, fields: dict[str, Any]) -> None:
    """Set these columns of the entry."""
    store.update("outbox", outbox_id, fields)


def set_state_of_message(store: Store, message_id: int, state: str, error: str | None,
                         now: str) -> None:
    """What a delivery report says of the entry that sent this message."""
    store.execute("UPDATE outbox SET state = ?, error = ?, updated_at = ? WHERE message_id = ?",
                  [state, error, now, message_id])
