"""Lookups of stored messages by the keys ingest dedupes on (SPEC §3, §9)."""

from __future__ import annotations

import sqlite3

from supportctl.store.db import Store


def message_by_external_id(store: Store, channel: str, external_id: str) -> sqlite3.Row | None:
    """The stored message (``id``, ``ticket_id``, ``direction``) with this
    channel id."""
    return store.one("SELECT id, ticket_id, direction FROM messages "
                     "WHERE channel = ? AND external_id = ?",
                     [channel, external_id])


def original_raw(store: Store, message_id: int) -> bytes | None:
    """The payload a message was stored from, or None when none was kept
    (an import without ``--raw``, a note)."""
    raw = store.scalar("SELECT raw FROM originals WHERE message_id = ?", [message_id])
    return None if raw is None else bytes(raw)


def mails_reusing_id(store: Store, message_id: str) -> list[sqlite3.Row]:
    """Mails stored under the SHA-256 of their bytes because another mail
    already had their Message-ID ``message_id`` (see ``ingest``). Only those
    keys are scanned (a range of the unique index), and they are few."""
    return store.execute(
        "SELECT id, ticket_id FROM messages WHERE channel = 'email' "
        "AND external_id >= 'sha256:' AND external_id < 'sha256;' "
        "AND json_extract(meta, '$.reused_message_id') = ?", [message_id]).fetchall()
