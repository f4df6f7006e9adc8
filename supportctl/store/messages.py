"""Lookups of stored messages by the keys ingest dedupes on (SPEC §3, §9)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from supportctl.store.db import Store, in_chunks
from supportctl.store.migrations import has_unspaced as has_unspaced  # importers tell it early


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
        f"AND {store.sql.json_text('meta', 'reused_message_id')} = ?", [message_id]).fetchall()]


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


# -- what ingest writes and asks (services.ingest) ------------------------------


def insert(store: Store, row: dict[str, Any]) -> int:
    """A new message (``row``: its columns); returns its id."""
    return store.insert("messages", row)


def add_attachment(store: Store, row: dict[str, Any]) -> None:
    """One attachment row of a message (its file is already stored)."""
    store.insert("attachments", row)


def ticket_of(store: Store, channel: str, external_id: str) -> int | None:
    """The ticket of the message with this channel id, if stored."""
    found = store.scalar("SELECT ticket_id FROM messages WHERE channel = ? AND external_id = ?",
                         [channel, external_id])
    return int(found) if found else None


def sent_email(store: Store, message_id_header: str) -> int | None:
    """Our own outgoing email with this Message-ID (a delivery report's
    subject), by row id."""
    found = store.scalar("SELECT id FROM messages WHERE channel = 'email' AND external_id = ? "
                         "AND direction = 'out'", [message_id_header])
    return int(found) if found is not None else None


def has_participant(store: Store, ticket_id: int, address: str) -> bool:
    """Whether ``address`` (lower-case) wrote, or was written to or copied,
    on the ticket."""
    like = f'%"address": "{address}"%'
    return bool(store.scalar(
        "SELECT 1 FROM messages WHERE ticket_id = ? AND (lower(from_address) = ? "
        "OR lower(to_json) LIKE ? OR lower(cc_json) LIKE ?) LIMIT 1",
        [ticket_id, address, like, like]))


# -- full text a batch at a time (SQLite: m028) -----------------------------------


def defer_full_text(store: Store) -> int | None:
    """Leave the messages written from now on in this transaction out of
    the full-text indexes, to be indexed at once by ``index_deferred``;
    returns the first such id (None: nothing deferred: PostgreSQL, whose
    search columns are the rows' own, or a deferral already open)."""
    if store.sql.name == "postgresql":
        return None
    if store.scalar("SELECT 1 FROM fts_deferred LIMIT 1") is not None:
        return None
    since = int(store.scalar("SELECT coalesce(max(id), 0) + 1 FROM messages"))
    store.execute("INSERT INTO fts_deferred (since) VALUES (?)", [since])
    return since


def index_deferred(store: Store, since: int, unspaced: Sequence[int] | None = None) -> None:
    """Index the messages from ``since`` on as they stand, and index every
    message as it is written again (``defer_full_text``). ``unspaced``:
    the ones among them that ``has_unspaced``, when the writer knows (the
    trigram index then takes those without testing every message)."""
    from supportctl.store.migrations import (
        FILL_DEFERRED,
        FILL_UNSPACED,
        FILL_UNSPACED_TOLD,
        UNSPACED_FUNCTION,
    )

    for statement in FILL_DEFERRED:
        store.execute(statement, [since])
    if unspaced is None:
        store.conn.create_function(UNSPACED_FUNCTION, 2, has_unspaced, deterministic=True)
        store.execute(FILL_UNSPACED, [since])
    else:
        in_chunks(store, FILL_UNSPACED_TOLD, unspaced, prefix=[since])
    store.execute("DELETE FROM fts_deferred")


#: The full-text indexes (SQLite) and FTS5's settings while a long import
#: fills them a chunk at a time: no merging of the chunks' segments as
#: they come (each term's entries were otherwise copied again and again)
#: and room for a whole chunk's terms before a segment is written (1 MB by
#: default: several segments a chunk). Measured on a million messages:
#: messages_fts filled in 9.7 s rather than 17.7; searches as fast after
#: (a segment a chunk stays, merged as later messages come by FTS5's own
#: automerge, and the next message written costs no more).
FULL_TEXT_TABLES = ("messages_fts", "addresses_fts", "messages_cjk")
_BULK_SETTINGS = {"automerge": 0, "hashsize": 64 << 20}
_DEFAULT_SETTINGS = {"automerge": 4, "hashsize": 1 << 20}


@contextmanager
def full_text_in_bulk(store: Store) -> Iterator[int | None]:
    """``defer_full_text`` for a long import, inside the caller's
    transaction (yields its result): the full-text indexes take large fills
    (``index_deferred``) without merging as they go; their settings are as
    before after (or roll back with the transaction). The insert triggers
    stay: a message imported with an id below the deferral's is theirs."""
    deferred = defer_full_text(store)
    if store.sql.name == "postgresql":
        yield deferred
        return
    saved = {table: dict(store.execute(
        f"SELECT k, v FROM {table}_config WHERE k IN ('automerge', 'hashsize')").fetchall())
        for table in FULL_TEXT_TABLES}
    _set_full_text(store, {table: _BULK_SETTINGS for table in FULL_TEXT_TABLES})
    try:
        yield deferred
    finally:
        _set_full_text(store, {table: {**_DEFAULT_SETTINGS, **saved[table]}
                               for table in FULL_TEXT_TABLES})


def _set_full_text(store: Store, settings: dict[str, dict[str, Any]]) -> None:
    for table, values in settings.items():
        for key, value in values.items():
            store.execute(f"INSERT INTO {table}({table}, rank) VALUES (?, ?)", [key, int(value)])
