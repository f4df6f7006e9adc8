"""SQL behind ``import`` (SPEC §6): what already exists (an id present is
skipped, never overwritten) and the ticket links restored once every line
is in. Runs inside the import's one transaction."""

from __future__ import annotations

from typing import Any

from supportctl.store.db import Store


def ticket_exists(store: Store, ticket_id: int) -> bool:
    return bool(store.scalar("SELECT 1 FROM tickets WHERE id = ?", [ticket_id]))


def contact_exists(store: Store, contact_id: int) -> bool:
    return bool(store.scalar("SELECT 1 FROM contacts WHERE id = ?", [contact_id]))


def message_exists(store: Store, message_id: int) -> bool:
    return bool(store.scalar("SELECT 1 FROM messages WHERE id = ?", [message_id]))


def event_exists(store: Store, event_id: int) -> bool:
    return bool(store.scalar("SELECT 1 FROM events WHERE id = ?", [event_id]))


def identity_taken(store: Store, kind: str, address: str) -> bool:
    return bool(store.scalar("SELECT 1 FROM identities WHERE kind = ? AND address = ?",
                             [kind, address]))


def message_key_taken(store: Store, channel: str, external_id: str) -> bool:
    return bool(store.scalar("SELECT 1 FROM messages WHERE channel = ? AND external_id = ?",
                             [channel, external_id]))


#: The ticket columns that point at another ticket.
LINKS = ("merged_into", "linked_ticket")


def restore_link(store: Store, ticket_id: int, key: str, target: int) -> None:
    """Point ``ticket_id`` at ``target`` through ``key`` (one of ``LINKS``)
    unless it already points somewhere or ``target`` is not stored."""
    if key not in LINKS:
        raise ValueError(f"{key} is not a ticket link")
    store.execute(
        f"UPDATE tickets SET {key} = ? WHERE id = ? AND {key} IS NULL "
        "AND EXISTS (SELECT 1 FROM tickets WHERE id = ?)",
        [target, ticket_id, target],
    )


#: What an import restores, row by row with its own ids (``restore``).
RESTORED = ("contacts", "identities", "tickets", "messages", "originals", "attachments", "events")


def restore(store: Store, table: str, row: dict[str, Any]) -> None:
    """Write one exported row back verbatim (ids and times included) into
    ``table``, one of ``RESTORED``. A clash with a stored row raises
    ``db.IntegrityError``."""
    if table not in RESTORED:
        raise ValueError(f"an import restores no {table}")
    store.insert(table, row)
