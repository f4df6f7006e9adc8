"""SQL behind ``import`` (SPEC §6): what already exists (an id present is
skipped, never overwritten) and the ticket links restored once every line
is in. Runs inside the import's one transaction."""

from __future__ import annotations

from itertools import chain
from typing import Any

from supportctl.store.db import Store, in_chunks


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


# -- a batch of lines at a time (import_jsonl's fast path) ----------------

#: Rows per multi-row statement (under SQLite's and PostgreSQL's limits on
#: bound values for every table restored).
ROWS_PER_STATEMENT = 400


def restore_many(store: Store, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]],
                 *, ignore_conflicts: bool = False) -> None:
    """``restore`` for many rows of one table in a few multi-row statements
    (rows in order). One statement per few hundred rows rather than per
    row: the full-text indexes' triggers then fire inside one statement,
    and FTS5 writes its pending terms once per statement instead of once
    per row. ``ignore_conflicts`` skips a row whose key is stored (tags)."""
    if table not in RESTORED and table not in ("tags", "csat"):
        raise ValueError(f"an import restores no {table}")
    if not rows:
        return
    one = "(" + ", ".join("?" * len(columns)) + ")"
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    tail = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    step = ROWS_PER_STATEMENT
    full = head + ", ".join([one] * step) + tail
    for i in range(0, len(rows), step):
        chunk = rows[i:i + step]
        sql = full if len(chunk) == step else head + ", ".join([one] * len(chunk)) + tail
        store.execute(sql, list(chain.from_iterable(chunk)))


def stored_ids(store: Store, table: str, ids: list[int]) -> set[int]:
    """Which of ``ids`` are stored in ``table`` (contacts, tickets,
    messages, events)."""
    if table not in ("contacts", "tickets", "messages", "events"):
        raise ValueError(f"no ids looked up in {table}")
    if not ids:
        return set()
    top = store.scalar(f"SELECT max(id) FROM {table}")
    if top is None or min(ids) > top:  # all new (an import into a new store)
        return set()
    return {r[0] for r in in_chunks(store, f"SELECT id FROM {table} WHERE id IN (?)", ids)}


def taken_identities(store: Store, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (kind, address) pairs belong to a stored identity."""
    if not pairs:
        return set()
    kinds = sorted({k for k, _ in pairs})
    rows = in_chunks(store, "SELECT kind, address FROM identities WHERE kind IN ("
                     + ", ".join("?" * len(kinds)) + ") AND address IN (?)",
                     sorted({a for _, a in pairs}), prefix=kinds)
    return {(r[0], r[1]) for r in rows} & pairs


def taken_message_keys(store: Store, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (channel, external_id) pairs a stored message has."""
    if not pairs:
        return set()
    channels = sorted({c for c, _ in pairs})
    rows = in_chunks(store, "SELECT channel, external_id FROM messages WHERE channel IN ("
                     + ", ".join("?" * len(channels)) + ") AND external_id IS NOT NULL "
                     "AND external_id IN (?)", sorted({e for _, e in pairs}), prefix=channels)
    return {(r[0], r[1]) for r in rows} & pairs
