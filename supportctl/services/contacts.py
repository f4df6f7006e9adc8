"""Contacts and their identities (SPEC §2).

An identity is ``(kind, address)`` with ``kind`` from
each medium's declaration (``supportctl/channels/specs/``): one E.164 number is one identity whether it texts,
calls or writes on WhatsApp. Addresses are normalised here and only here, by the declaration's rule.
A merged contact points at the one it was merged into; lookups follow that
pointer.
"""

from __future__ import annotations

import re

from supportctl.channels import identity_kind
from supportctl.channels import medium as channel_medium
from supportctl.errors import NotFound, UsageError
from supportctl.store.db import Store


def normalise(medium: str, address: str) -> str:
    """``address`` as its medium's declaration normalises it."""
    return channel_medium(medium).normal(address)


def valid_address(medium: str, address: str) -> str:
    """``address`` normalised for ``medium``, or a usage error saying what
    the medium takes: checked before a ticket or message is created."""
    decl = channel_medium(medium)
    norm = decl.normal(address)
    if decl.address is not None and not decl.valid(norm):
        from supportctl.safe import one_line

        raise UsageError(
            f"--to {one_line(address, 60)!r} is not valid for {medium}: give {decl.address[1]}")
    return norm


def guess_medium(address: str, fallback: str) -> str:
    """The medium an address given on the command line belongs to."""
    if "@" in address and not address.startswith("@") and "." in address.split("@")[-1]:
        if fallback in ("mastodon",):
            return fallback
        return "email"
    if re.fullmatch(r"(whatsapp:)?\+?[\d\s().-]{6,}", address):
        return "whatsapp" if address.startswith("whatsapp:") else "sms"
    return fallback


def resolve(store: Store, contact_id: int) -> int:
    seen = set()
    while True:
        row = store.one("SELECT merged_into FROM contacts WHERE id = ?", [contact_id])
        if row is None or row[0] is None or contact_id in seen:
            return contact_id
        seen.add(contact_id)
        contact_id = row[0]


def find(store: Store, medium: str, address: str) -> int | None:
    kind = identity_kind(medium)
    row = store.one(
        "SELECT contact_id FROM identities WHERE kind = ? AND address = ?",
        [kind, normalise(medium, address)],
    )
    return resolve(store, row[0]) if row else None


def find_or_create(store: Store, medium: str, address: str, name: str, now: str) -> int:
    """The contact owning this identity, created if new. Call inside a tx."""
    address = normalise(medium, address)
    if not address:
        address = name or "unknown"
    found = find(store, medium, address)
    if found is not None:
        if name and not store.scalar("SELECT name FROM contacts WHERE id = ?", [found]):
            store.update("contacts", found, {"name": name, "updated_at": now})
        return found
    cid = store.insert("contacts", {"name": name or "", "created_at": now, "updated_at": now})
    add_identity(store, cid, medium, address, now)
    return cid


def add_identity(store: Store, contact_id: int, medium: str, address: str, now: str) -> None:
    kind = identity_kind(medium)
    address = normalise(medium, address)
    other = store.one(
        "SELECT contact_id FROM identities WHERE kind = ? AND address = ?", [kind, address]
    )
    if other is not None:
        if resolve(store, other[0]) != contact_id:
            raise UsageError(
                f"{address} already belongs to contact {other[0]}: use `supportctl contact merge`"
            )
        return
    store.insert(
        "identities",
        {"contact_id": contact_id, "kind": kind, "channel": medium, "address": address,
         "created_at": now},
    )


def require(store: Store, contact_id: int) -> int:
    if not store.scalar("SELECT 1 FROM contacts WHERE id = ?", [contact_id]):
        raise NotFound(f"no contact {contact_id}: see `supportctl contact list`")
    return contact_id


def link(store: Store, contact_id: int, medium: str, address: str, actor: str, now: str) -> None:
    """Give a contact another identity; when that identity already has a
    contact of its own, the two are merged (the person is one)."""
    require(store, contact_id)
    with store.tx():
        other = find(store, medium, address)
        if other is not None and other != contact_id:
            merge(store, other, contact_id, actor, now)
        else:
            add_identity(store, contact_id, medium, address, now)
        store.event(actor, "contact.link", now, contact_id=contact_id, medium=medium,
                    address=normalise(medium, address))


def merge(store: Store, from_id: int, into_id: int, actor: str, now: str) -> None:
    require(store, from_id)
    require(store, into_id)
    if resolve(store, from_id) == resolve(store, into_id):
        raise UsageError(f"contacts {from_id} and {into_id} are already one")
    with store.tx():
        store.execute("UPDATE identities SET contact_id = ? WHERE contact_id = ?", [into_id, from_id])
        store.execute("UPDATE tickets SET contact_id = ? WHERE contact_id = ?", [into_id, from_id])
        name = store.scalar("SELECT name FROM contacts WHERE id = ?", [into_id])
        if not name:
            other = store.scalar("SELECT name FROM contacts WHERE id = ?", [from_id])
            store.update("contacts", into_id, {"name": other or "", "updated_at": now})
        store.update("contacts", from_id, {"merged_into": into_id, "updated_at": now})
        store.event(actor, "contact.merge", now, contact_id=into_id, merged=from_id)


def forget(store: Store, contact_id: int, actor: str, now: str) -> dict[str, int]:
    """Erase a person's data (GDPR): their identities, name, messages'
    text, originals and attachments. Ticket rows stay, anonymous, so counts
    and reports keep their numbers."""
    require(store, contact_id)
    with store.tx():
        tickets = [r[0] for r in store.execute("SELECT id FROM tickets WHERE contact_id = ?", [contact_id])]
        marks = ", ".join(str(t) for t in tickets) or "NULL"
        digests = {r[0] for r in store.execute(
            f"SELECT a.sha256 FROM attachments a JOIN messages m ON m.id = a.message_id WHERE m.ticket_id IN ({marks})")}
        n_msgs = store.scalar(f"SELECT count(*) FROM messages WHERE ticket_id IN ({marks})")
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
        store.event(actor, "contact.forget", now, contact_id=contact_id,
                    tickets=len(tickets), messages=n_msgs)
    store.drop_unused_files(digests)
    return {"tickets": len(tickets), "messages": int(n_msgs or 0)}
