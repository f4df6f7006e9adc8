"""SQL for contacts and their identities (SPEC §2). Identities are keyed by
``(kind, address)``, already normalised by ``services.contacts``; a merged
contact keeps a ``merged_into`` pointer that the service follows. None of
these opens a transaction: the caller's ``Store.tx()`` holds one change
together."""

from __future__ import annotations

from supportctl.store.db import Store


def merged_into(store: Store, contact_id: int) -> int | None:
    """The contact this one was merged into, or None (also when there is
    no such contact)."""
    row = store.one("SELECT merged_into FROM contacts WHERE id = ?", [contact_id])
    return None if row is None or row[0] is None else int(row[0])


def final(store: Store, contact_id: int) -> int:
    """The contact ``contact_id`` is now: itself, or the one it was merged
    into (following merges of merges)."""
    seen = set()
    while True:
        into = merged_into(store, contact_id)
        if into is None or contact_id in seen:
            return contact_id
        seen.add(contact_id)
        contact_id = into


def lock(store: Store, *contact_ids: int) -> None:
    """Hold the contacts' rows to the end of the transaction (PostgreSQL:
    ``FOR UPDATE`` in id order, which also waits for a transaction that is
    opening a ticket or adding an identity for one; SQLite's writer
    already holds the whole store)."""
    ids = sorted(set(contact_ids))
    if ids and store.sql.for_update:
        marks = ", ".join("?" for _ in ids)
        store.execute(f"SELECT id FROM contacts WHERE id IN ({marks}) ORDER BY id"
                      f"{store.sql.for_update}", ids).fetchall()


def locked_merge(store: Store, contact_id: int) -> int | None:
    """``merged_into`` read under a share lock (PostgreSQL ``FOR KEY
    SHARE``): a ``lock`` holder (``contact merge``) commits first and its
    pointer is what this reads; other writers of the contact never wait."""
    row = store.one(f"SELECT merged_into FROM contacts WHERE id = ?{store.sql.key_share}",
                    [contact_id])
    return None if row is None or row[0] is None else int(row[0])


def identity_owner(store: Store, kind: str, address: str) -> int | None:
    """The contact an identity was recorded for (not following merges)."""
    row = store.one(
        "SELECT contact_id FROM identities WHERE kind = ? AND address = ?", [kind, address]
    )
    return None if row is None else int(row[0])


def exists(store: Store, contact_id: int) -> bool:
    return bool(store.scalar("SELECT 1 FROM contacts WHERE id = ?", [contact_id]))


def name(store: Store, contact_id: int) -> str | None:
    value = store.scalar("SELECT name FROM contacts WHERE id = ?", [contact_id])
    return None if value is None else str(value)


def create(store: Store, name: str, now: str) -> int:
    return store.insert("contacts", {"name": name, "created_at": now, "updated_at": now})


def set_name(store: Store, contact_id: int, name: str, now: str) -> None:
    store.update("contacts", contact_id, {"name": name, "updated_at": now})


def add_identity(store: Store, contact_id: int, kind: str, medium: str, address: str,
                 now: str) -> None:
    store.insert(
        "identities",
        {"contact_id": contact_id, "kind": kind, "channel": medium, "address": address,
         "created_at": now},
    )


def move_to(store: Store, from_id: int, into_id: int, now: str) -> None:
    """Merge: the identities and tickets of ``from_id`` become
    ``into_id``'s, which takes ``from_id``'s name if it has none;
    ``from_id`` points at ``into_id`` from now on."""
    store.execute("UPDATE identities SET contact_id = ? WHERE contact_id = ?", [into_id, from_id])
    store.execute("UPDATE tickets SET contact_id = ? WHERE contact_id = ?", [into_id, from_id])
    if not name(store, into_id):
        set_name(store, into_id, name(store, from_id) or "", now)
    store.update("contacts", from_id, {"merged_into": into_id, "updated_at": now})


def erase(store: Store, contact_id: int, now: str) -> tuple[list[int], int, set[str]]:
    """Erase a person's data (GDPR) from their tickets: message text,
    originals, attachment rows, outbox payloads, event details, identities
    and name; ticket rows stay, anonymous. Returns the tickets, the number
    of messages erased and the attachment digests whose rows went (their
    files go with ``Store.drop_unused_files`` once this commits)."""
    from supportctl.store.tickets import lock as lock_tickets

    # On PostgreSQL a sync on another machine may be adding to this
    # person's tickets or opening one: wait for it (their tickets' rows,
    # then the person's, which a new ticket or identity references), and
    # hold them, so nothing of theirs committed meanwhile escapes.
    def theirs() -> list[int]:
        return [int(r[0]) for r in store.execute(
            "SELECT id FROM tickets WHERE contact_id = ? ORDER BY id", [contact_id])]

    lock_tickets(store, theirs())
    lock(store, contact_id)
    tickets = theirs()
    lock_tickets(store, tickets)
    # Ticket ids are integers read just above: inlined, not bound, so one
    # statement covers them however many there are.
    marks = ", ".join(str(t) for t in tickets) or "NULL"
    digests = {str(r[0]) for r in store.execute(
        "SELECT a.sha256 FROM attachments a JOIN messages m ON m.id = a.message_id "
        f"WHERE m.ticket_id IN ({marks})")}
    n_msgs = int(store.scalar(f"SELECT count(*) FROM messages WHERE ticket_id IN ({marks})") or 0)
    store.execute(
        f"DELETE FROM attachments WHERE message_id IN (SELECT id FROM messages WHERE ticket_id IN ({marks}))")
    store.execute(
        f"DELETE FROM originals WHERE message_id IN (SELECT id FROM messages WHERE ticket_id IN ({marks}))")
    store.execute(
        f"UPDATE messages SET text = '[forgotten]', html = NULL, subject = '[forgotten]', "
        f"from_name = '', from_address = '', to_json = '[]', cc_json = '[]', meta = NULL "
        f"WHERE ticket_id IN ({marks})")
    store.execute(f"UPDATE tickets SET subject = '[forgotten]' WHERE id IN ({marks})")
    from supportctl.store.workflows import forget_csat_comments

    forget_csat_comments(store, tickets)
    store.execute(f"UPDATE outbox SET payload = '{{}}' WHERE ticket_id IN ({marks})")
    store.execute(f"UPDATE events SET detail = '{{}}' WHERE ticket_id IN ({marks})")
    store.execute("DELETE FROM identities WHERE contact_id = ?", [contact_id])
    store.update("contacts", contact_id, {"name": "", "forgotten_at": now, "updated_at": now,
                                          "language": None})
    return tickets, n_msgs, digests


def listed(store: Store, query: str | None = None) -> list[int]:
    """Contacts not merged into another, by id; with ``query``, those whose
    name or one of whose addresses contains it."""
    where, params = "", list[object]()
    if query:
        like = store.sql.like_ci
        where = (f"AND ({like('name')} OR id IN (SELECT contact_id FROM identities "
                 f"WHERE {like('address')}))")
        params = [f"%{query}%", f"%{query}%"]
    return [int(r[0]) for r in store.execute(
        f"SELECT id FROM contacts WHERE merged_into IS NULL {where} ORDER BY id", params)]


def identities_matching(store: Store, contact_id: int, address: str,
                        channel: str | None = None) -> list[tuple[int, str, str]]:
    """``(id, channel, address)`` of the contact's identities whose address
    is ``address`` (as stored, or case aside), on ``channel`` when given."""
    rows = store.execute(
        "SELECT id, channel, address FROM identities WHERE contact_id = ?"
        " AND (address = ? OR lower(address) = lower(?)) ORDER BY id",
        [contact_id, address, address]).fetchall()
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows
            if channel is None or r[1] == channel]


def remove_identity(store: Store, identity_id: int) -> None:
    store.execute("DELETE FROM identities WHERE id = ?", [identity_id])
