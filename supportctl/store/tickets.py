"""SQL for tickets as triage changes them (SPEC §2): the row itself, its
tags, its counts, merging and deleting. The rules (which status follows
which, what each change logs) live in ``services.triage``; none of these
opens a transaction: the caller's ``Store.tx()`` holds one change together.

Rows come back as plain dicts, so callers do not depend on the engine's
row type."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from supportctl.store.db import Store


def get(store: Store, ticket_id: int) -> dict[str, Any] | None:
    """Every column of the ticket, or None."""
    row = store.one("SELECT * FROM tickets WHERE id = ?", [ticket_id])
    return None if row is None else dict(row)


def lock(store: Store, ticket_ids: Iterable[int]) -> None:
    """Hold these tickets' rows until the transaction ends, so a change
    that reads them first (``merge``, ``spam``) and a sync adding a
    message to them (``locked_merge``) happen one after the other. On
    PostgreSQL a ``FOR UPDATE``, taken in id order (two changes locking
    the same tickets never wait on each other); SQLite's ``BEGIN
    IMMEDIATE`` already holds the whole store."""
    ids = sorted(set(ticket_ids))
    if ids and store.sql.for_update:
        marks = ", ".join("?" for _ in ids)
        store.execute(f"SELECT id FROM tickets WHERE id IN ({marks}) ORDER BY id"
                      f"{store.sql.for_update}", ids).fetchall()


def locked_merge(store: Store, ticket_id: int) -> tuple[bool, int | None]:
    """Lock the ticket a message is about to join (see ``lock``) and read,
    as committed once the lock is held, whether it still exists and the
    ticket it was merged into (None if not merged)."""
    row = store.one(f"SELECT merged_into FROM tickets WHERE id = ?{store.sql.for_update}",
                    [ticket_id])
    return (False, None) if row is None else (True, None if row[0] is None else int(row[0]))


def stamp_first_response(store: Store, ticket_id: int, at: str) -> None:
    """The first response time, set once: later calls change nothing."""
    store.execute("UPDATE tickets SET first_response_at = ? WHERE id = ? AND first_response_at IS NULL",
                  [at, ticket_id])


def add_tag(store: Store, ticket_id: int, tag: str) -> bool:
    """Tag the ticket (``tag`` already lower-case); False when it had it."""
    cur = store.execute(
        "INSERT INTO tags (ticket_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING", [ticket_id, tag]
    )
    return bool(cur.rowcount)


def remove_tag(store: Store, ticket_id: int, tag: str) -> bool:
    """Untag the ticket; False when it did not have the tag."""
    cur = store.execute("DELETE FROM tags WHERE ticket_id = ? AND tag = ?", [ticket_id, tag])
    return bool(cur.rowcount)


def move_contents(store: Store, from_id: int, into_id: int) -> None:
    """Merging: the messages, outbox items and tags of ``from_id`` become
    ``into_id``'s (tags it already has are kept once)."""
    store.execute("UPDATE messages SET ticket_id = ? WHERE ticket_id = ?", [into_id, from_id])
    store.execute("UPDATE outbox SET ticket_id = ? WHERE ticket_id = ?", [into_id, from_id])
    store.execute(
        "INSERT INTO tags (ticket_id, tag) SELECT ?, tag FROM tags WHERE ticket_id = ? "
        "ON CONFLICT DO NOTHING",
        [into_id, from_id],
    )


def refresh_counts(store: Store, ticket_id: int) -> None:
    """Recount the ticket's messages (notes aside) and its last message
    and last inbound times from the messages themselves."""
    row = store.one(
        "SELECT count(*) AS n, max(sent_at) AS last, "
        "max(CASE WHEN direction = 'in' THEN sent_at END) AS last_in "
        "FROM messages WHERE ticket_id = ? AND direction != 'note'",
        [ticket_id],
    )
    assert row is not None
    store.update(
        "tickets",
        ticket_id,
        {"message_count": row["n"], "last_message_at": row["last"], "last_inbound_at": row["last_in"]},
    )


def delete(store: Store, ticket_id: int) -> set[str]:
    """Delete the ticket (its messages, tags and attachment rows go with it
    by cascade; tickets merged into or linked to it forget it). Returns
    the digests its attachments had: ``Store.drop_unused_files`` removes
    those no other row uses once this commits."""
    digests = {
        str(r[0])
        for r in store.execute(
            "SELECT a.sha256 FROM attachments a JOIN messages m ON m.id = a.message_id "
            "WHERE m.ticket_id = ?",
            [ticket_id],
        )
    }
    store.execute("UPDATE tickets SET merged_into = NULL WHERE merged_into = ?", [ticket_id])
    store.execute("UPDATE tickets SET linked_ticket = NULL WHERE linked_ticket = ?", [ticket_id])
    store.execute("DELETE FROM outbox WHERE ticket_id = ?", [ticket_id])
    store.execute("DELETE FROM tickets WHERE id = ?", [ticket_id])
    return digests


def solved_before(store: Store, cutoff: str) -> list[int]:
    """Solved tickets whose solve is at or before ``cutoff``."""
    return [
        int(r[0])
        for r in store.execute(
            "SELECT id FROM tickets WHERE status = 'solved' AND solved_at <= ?", [cutoff]
        )
    ]


def senders(store: Store, ticket_id: int) -> list[tuple[str, str]]:
    """The (medium, address) of everyone who wrote in on the ticket, as
    stored (not normalised)."""
    return [
        (str(r[0]), str(r[1]))
        for r in store.execute(
            "SELECT DISTINCT channel, from_address FROM messages WHERE ticket_id = ? "
            "AND direction = 'in' AND from_address != ''",
            [ticket_id],
        ).fetchall()
    ]


def block_sender(store: Store, kind: str, address: str, now: str) -> None:
    """File this identity's later mail as spam (once: a second block keeps
    the first time)."""
    store.execute(
        "INSERT INTO spam_senders (kind, address, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        [kind, address, now],
    )


def unblock_sender(store: Store, kind: str, address: str) -> bool:
    """Undo ``block_sender``; False when the identity was not blocked."""
    return bool(store.execute("DELETE FROM spam_senders WHERE kind = ? AND address = ?",
                              [kind, address]).rowcount)


def attachments(store: Store, ticket_id: int) -> list[dict[str, Any]]:
    """The attachment rows of the ticket's messages, in the order stored."""
    return [dict(r) for r in store.execute(
        "SELECT a.* FROM attachments a JOIN messages m ON m.id = a.message_id "
        "WHERE m.ticket_id = ? ORDER BY a.id",
        [ticket_id],
    )]


def update(store: Store, ticket_id: int, fields: dict[str, Any]) -> None:
    """Set these columns of the ticket."""
    store.update("tickets", ticket_id, fields)


# -- what ingest writes and asks (services.ingest) ------------------------------


def create(store: Store, row: dict[str, Any]) -> int:
    """A new ticket (``row``: its columns); returns its id."""
    return store.insert("tickets", row)


def count_message(store: Store, ticket_id: int, sent_at: str, *, inbound: bool) -> None:
    """One more message on the ticket: its count, and the last message
    (and last inbound) times, which never go back."""
    big = store.sql.greatest
    store.execute(
        "UPDATE tickets SET message_count = message_count + 1, "
        f"last_message_at = {big('COALESCE(last_message_at, CAST(? AS TEXT))', '?')}, "
        f"updated_at = {big('updated_at', '?')} "
        + (f", last_inbound_at = {big('COALESCE(last_inbound_at, CAST(? AS TEXT))', '?')}"
           if inbound else "")
        + " WHERE id = ?",
        [sent_at, sent_at, sent_at, *([sent_at, sent_at] if inbound else []), ticket_id],
    )


def status(store: Store, ticket_id: int) -> str | None:
    found = store.scalar("SELECT status FROM tickets WHERE id = ?", [ticket_id])
    return None if found is None else str(found)


def continuing(store: Store, contact_id: int, channel: str, ended_after: str) -> int | None:
    """The contact's ticket on ``channel`` a new message continues: one not
    solved or closed, else the latest solved or closed after
    ``ended_after``; the most recently updated first. None: a new ticket."""
    row = store.one(
        "SELECT id FROM tickets "
        "WHERE contact_id = ? AND channel = ? AND merged_into IS NULL "
        "AND (status NOT IN ('solved', 'closed') OR COALESCE(closed_at, solved_at) >= ?) "
        "ORDER BY (status IN ('solved', 'closed')), updated_at DESC, id DESC LIMIT 1",
        [contact_id, channel, ended_after],
    )
    return None if row is None else int(row["id"])
