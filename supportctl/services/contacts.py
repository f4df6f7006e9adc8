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
from supportctl.store import contacts as repo
from supportctl.store.db import Store


def normalise(medium: str, address: str) -> str:
    """``address`` as its medium's declaration normalises it."""
    return channel_medium(medium).normal(address)


def valid_address(medium: str, address: str, what: str = "--to") -> str:
    """``address`` normalised for ``medium``, or a usage error saying what
    the medium takes: checked before a ticket or message is created (or an
    identity is added: ``what`` names the argument)."""
    decl = channel_medium(medium)
    norm = decl.normal(address)
    if decl.address is not None and not decl.valid(norm):
        from supportctl.safe import one_line

        raise UsageError(
            f"{what} {one_line(address, 60)!r} is not valid for {medium}: give {decl.address[1]}")
    return norm


def guess_medium(address: str, fallback: str) -> str:
    """The medium an address given on the command line belongs to (a
    Mastodon handle, ``@ada@mastodon.social``, is Mastodon's whatever the
    fallback)."""
    if re.fullmatch(r"@[^@\s]+@[^@\s]+", address):
        return "mastodon"
    if "@" in address and not address.startswith("@") and "." in address.split("@")[-1]:
        if fallback in ("mastodon",):
            return fallback
        return "email"
    if re.fullmatch(r"(whatsapp:)?\+?[\d\s().-]{6,}", address):
        return "whatsapp" if address.startswith("whatsapp:") else "sms"
    return fallback


def resolve(store: Store, contact_id: int) -> int:
    return repo.final(store, contact_id)


def settle(store: Store, contact_id: int) -> int:
    """``resolve`` for a change about to point at the contact: each row is
    share-locked as it is read (``repo.locked_merge``), so a ``contact
    merge`` on another machine either committed first (and is followed)
    or waits for this change and moves what it adds."""
    seen = set()
    while True:
        into = repo.locked_merge(store, contact_id)
        if into is None or contact_id in seen:
            return contact_id
        seen.add(contact_id)
        contact_id = into


def find(store: Store, medium: str, address: str) -> int | None:
    kind = identity_kind(medium)
    owner = repo.identity_owner(store, kind, normalise(medium, address))
    return None if owner is None else resolve(store, owner)


def find_or_create(store: Store, medium: str, address: str, name: str, now: str) -> int:
    """The contact owning this identity, created if new. Call inside a tx."""
    address = normalise(medium, address)
    if not address:
        address = name or "unknown"
    owner = repo.identity_owner(store, identity_kind(medium), normalise(medium, address))
    found = None if owner is None else settle(store, owner)
    if found is not None:
        if name and not repo.name(store, found):
            repo.set_name(store, found, name, now)
        return found
    cid = repo.create(store, name or "", now)
    add_identity(store, cid, medium, address, now)
    return cid


def add_identity(store: Store, contact_id: int, medium: str, address: str, now: str) -> None:
    kind = identity_kind(medium)
    address = normalise(medium, address)
    other = repo.identity_owner(store, kind, address)
    if other is not None:
        if resolve(store, other) != contact_id:
            raise UsageError(
                f"{address} already belongs to contact {other}: use `supportctl contact merge`"
            )
        return
    repo.add_identity(store, contact_id, kind, medium, address, now)


def require(store: Store, contact_id: int) -> int:
    if not repo.exists(store, contact_id):
        raise NotFound(f"no contact {contact_id}: see `supportctl contact list`")
    return contact_id


def link(store: Store, contact_id: int, medium: str, address: str, actor: str,
         now: str) -> int | None:
    """Give a contact another identity; when that identity already has a
    contact of its own, the two are merged (the person is one). Returns
    the contact merged in, if any."""
    require(store, contact_id)
    with store.tx():
        other = find(store, medium, address)
        if other is not None and other != contact_id:
            merge(store, other, contact_id, actor, now)
        else:
            other = None
            add_identity(store, contact_id, medium, address, now)
        store.event(actor, "contact.link", now, contact_id=contact_id, medium=medium,
                    address=normalise(medium, address))
    return other


def unlink(store: Store, contact_id: int, address: str, channel: str | None, actor: str,
           now: str) -> tuple[str, str]:
    """Take an identity off a contact (one linked by mistake, or under a
    medium that does not exist): its tickets stay the contact's, and mail
    from that address later makes a contact of its own. Returns the
    identity's ``(channel, address)`` as it was stored."""
    from supportctl.safe import one_line

    contact_id = resolve(store, require(store, contact_id))  # a merged one's are its target's
    with store.tx():
        found = repo.identities_matching(store, contact_id, address, channel)
        if not found and channel is None:
            # as link would have stored it: normalised for its guessed medium
            guessed = guess_medium(address, "telegram")
            found = repo.identities_matching(store, contact_id, normalise(guessed, address))
        if not found:
            raise NotFound(f"contact {contact_id} has no identity {one_line(address, 60)!r}"
                           + (f" on {one_line(channel, 20)}" if channel else "")
                           + ": `supportctl contact show` lists them")
        if len(found) > 1:
            raise UsageError(f"{one_line(address, 60)!r} is contact {contact_id}'s on "
                             + ", ".join(one_line(c, 20) for _, c, _ in found)
                             + ": name one with --channel")
        identity_id, medium, stored = found[0]
        repo.remove_identity(store, identity_id)
        store.event(actor, "contact.unlink", now, contact_id=contact_id, medium=medium,
                    address=stored)
    return medium, stored


def merge(store: Store, from_id: int, into_id: int, actor: str, now: str) -> None:
    require(store, from_id)
    require(store, into_id)
    if resolve(store, from_id) == resolve(store, into_id):
        raise UsageError(f"contacts {from_id} and {into_id} are already one")
    with store.tx():
        # Both rows held (PostgreSQL): a sync opening a ticket for FROM on
        # another machine is waited for, or waits and follows the merge.
        repo.lock(store, from_id, into_id)
        repo.move_to(store, from_id, into_id, now)
        store.event(actor, "contact.merge", now, contact_id=into_id, merged=from_id)


def forget(store: Store, contact_id: int, actor: str, now: str) -> dict[str, int]:
    """Erase a person's data (GDPR): their identities, name, messages'
    text, originals and attachments. Ticket rows stay, anonymous, so counts
    and reports keep their numbers."""
    require(store, contact_id)
    with store.tx():
        tickets, n_msgs, digests = repo.erase(store, contact_id, now)
        store.event(actor, "contact.forget", now, contact_id=contact_id,
                    tickets=len(tickets), messages=n_msgs)
    store.drop_unused_files(digests)
    return {"tickets": len(tickets), "messages": n_msgs}
