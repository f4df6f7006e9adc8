"""Lookups of stored messages by the keys ingest dedupes on (SPEC §3, §9)."""

from __future__ import annotations

from typing import Any

from supportctl.store.db import Store


def message_by_external_id(store: Store, channel: str, external_id: str
                           ) -> dict[str, Any] | None:
    """The stored message (``id``, ``ticket_id``, ``direction``) with this
    channel id."""
    row = store.one("SELECT id, ticket_id, direction FROM messages "
                    "WHERE channel = ? AND external_id = ?",
                    [channel, external_id])
    return None if row is None else dict(row)


def original_raw(store: Store, message_id: int) -> bytes | None:
    """The payload a message was stored from, or None when none was kept
    (an import without ``--raw``, a note)."""
    raw = store.scalar("SELECT raw FROM originals WHERE message_id = ?", [message_id])
    return None if raw is None else bytes(raw)


def mails_reusing_id(store: Store, message_id: str) -> list[dict[str, Any]]:
    """Mails stored under the SHA-256 of their bytes because another mail
    already had their Message-ID ``message_id`` (see ``ingest``). Only those
    keys are scanned (a range of the unique index), and they are few."""
    return [dict(r) for r in store.execute(
        "SELECT id, ticket_id FROM messages WHERE channel = 'email' "
        "AND external_id >= 'sha256:' AND external_id < 'sha256;' "
        "AND json_extract(meta, '$.reused_message_id') = ?", [message_id]).fetchall()]


def last_threadable_email(store: Store, ticket_id: int) -> dict[str, Any] | None:
    """The ticket's latest email stored under its own Message-ID (not a
    ``sha256:`` key): what a reply's References continue."""
    row = store.one(
        "SELECT * FROM messages WHERE ticket_id = ? AND channel = 'email' AND external_id IS NOT NULL"
        " AND external_id NOT LIKE 'sha256:%' ORDER BY id DESC LIMIT 1",
        [ticket_id],
    )
    return None if row is None else dict(row)


def keep_original(store: Store, message_id: int, raw: bytes) -> None:
    """Keep (or replace) the payload a message was stored or sent as."""
    store.execute(
        "INSERT INTO originals (message_id, raw) VALUES (?, ?) "
        "ON CONFLICT (message_id) DO UPDATE SET raw = excluded.raw",
        [message_id, raw],
    )


def set_delivery(store: Store, message_id: int, fields: dict[str, Any]) -> None:
    """Record what became of an outgoing message: ``delivery_state``,
    ``delivery_error`` and, once the channel names it, ``external_id``."""
    store.update("messages", message_id, fields)
