"""Queries behind automatic sends (SPEC §4): when a channel entry first
synced, how many acknowledgements a contact got lately, and which
acknowledgements wait in the outbox."""

from __future__ import annotations

from supportctl.store.db import Store


def mark_synced(store: Store, account: str, now: str) -> str:
    """Record the first sync of ``account`` (once); returns its time."""
    with store.tx():
        store.execute(
            "INSERT INTO channel_entries (account, first_synced_at) VALUES (?, ?) "
            "ON CONFLICT DO NOTHING",
            [account, now],
        )
    return str(first_synced_at(store, account) or now)


# A first sync that has begun and not yet run to its end (killed, Ctrl-C,
# connection lost): the next sync says it resumes. Kept in service_state so
# stores whose first sync finished before this existed never claim it.
_UNFINISHED = "first_sync.unfinished:"


def begin_first_sync(store: Store, account: str, now: str) -> None:
    with store.tx():
        store.execute(
            "INSERT INTO service_state (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [_UNFINISHED + account, now, now])


def first_sync_unfinished(store: Store, account: str) -> bool:
    return store.scalar("SELECT 1 FROM service_state WHERE key = ?",
                        [_UNFINISHED + account]) is not None


def end_first_sync(store: Store, account: str) -> None:
    with store.tx():
        store.execute("DELETE FROM service_state WHERE key = ?", [_UNFINISHED + account])


def messages_of_account(store: Store, account: str) -> int:
    """Messages stored through ``account`` (what a resumed sync keeps)."""
    return int(store.scalar("SELECT count(*) FROM messages WHERE account = ?", [account]))


def first_synced_at(store: Store, account: str) -> str | None:
    value = store.scalar("SELECT first_synced_at FROM channel_entries WHERE account = ?", [account])
    return None if value is None else str(value)


def acknowledgements_since(store: Store, contact_id: int, since: str) -> int:
    return int(store.scalar(
        "SELECT count(*) FROM events WHERE contact_id = ? AND action = 'auto_reply' AND at >= ?",
        [contact_id, since],
    ))


def queued_acknowledgements(store: Store, account: str) -> list[int]:
    """Acknowledgements decided at ingest and never handed to the channel
    (``queued`` with attempts is Twilio's "accepted"). Only ``sync``
    writes them, under the sync lock, so none is in another process's hands."""
    return [
        r[0]
        for r in store.execute(
            "SELECT id FROM outbox WHERE account = ? AND state = 'queued' AND attempts = 0 "
            f"AND {store.sql.json_true('payload', 'auto')} ORDER BY id",
            [account],
        )
    ]


def ticket_tagged(store: Store, ticket_id: int, tags: tuple[str, ...]) -> bool:
    return bool(store.scalar(
        f"SELECT 1 FROM tags WHERE ticket_id = ? AND tag IN ({', '.join('?' for _ in tags)})",
        [ticket_id, *tags],
    ))


def ticket_status_and_contact(store: Store, ticket_id: int) -> tuple[str, int | None] | None:
    """What an acknowledgement checks on its ticket; None when there is none."""
    row = store.one("SELECT status, contact_id FROM tickets WHERE id = ?", [ticket_id])
    return None if row is None else (str(row[0]), None if row[1] is None else int(row[1]))
