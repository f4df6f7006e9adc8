"""Tickets an agent starts, notes, spam, attachments."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from supportctl.channels import identity_kind
from supportctl.channels import medium as channel_medium
from supportctl.errors import UsageError
from supportctl.models import Address, Inbound
from supportctl.services import contacts, ingest, outbox, triage
from supportctl.store import tickets as repo
from supportctl.store.db import Store


def _contact_for(store: Store, medium: str, who: str, name: str, now: str) -> int:
    guessed = contacts.guess_medium(who, medium)
    if guessed == "email":
        kind_medium = "email"
    elif guessed in ("sms", "whatsapp"):
        # A number someone called from is one identity with their texts.
        kind_medium = "phone" if medium == "phone" else guessed
    else:
        kind_medium = medium
    display = name or ("" if identity_kind(kind_medium) != "name" else who)
    return contacts.find_or_create(store, kind_medium, who, display, now)


def log_ticket(store: Store, *, medium: str, who: str, name: str, subject: str, text: str,
               actor: str, now: str, config: Any = None) -> int:
    """A call, visit or letter, logged by an agent: the customer's words
    are an inbound message; the ticket starts ``new`` (SPEC §2)."""
    if not who.strip():
        raise UsageError("--to is empty: give a number, an address or a name")
    with store.tx():
        cid = _contact_for(store, medium, who, name, now)
        tid = ingest.create_ticket(store, channel=medium, account=None, contact_id=cid,
                                   subject=subject or ingest._subject_from_text(text),
                                   created_at=now, actor=actor, now=now, config=config)
        item = Inbound(medium=medium, raw=b"", sender=Address(who, name), subject=subject, text=text)
        mid = ingest.insert_message(store, tid, item, direction="in", account=None,
                                    external_id=None, sent_at=now, now=now, author=actor)
        ingest.bump_ticket(store, tid, now, inbound=True, now=now)
        store.event(actor, "log", now, ticket_id=tid, message_id=mid, channel=medium)
    return tid


def start_ticket(store: Store, *, medium: str, who: str, name: str, subject: str, text: str,
                 account: dict[str, Any], actor: str, now: str,
                 attachments: list[Path] | None = None, config: Any = None) -> tuple[int, int]:
    """An agent writes first: the ticket is created and the message queued
    in the outbox; the caller sends it."""
    decl = channel_medium(medium)
    if decl.no_first:
        raise UsageError(decl.no_first)
    outbox.check_files(medium, attachments)
    address = contacts.valid_address(medium, who)
    with store.tx():
        cid = contacts.find_or_create(store, medium, address, name, now)
        tid = ingest.create_ticket(store, channel=medium, account=account.get("name"),
                                   contact_id=cid, subject=subject or ingest._subject_from_text(text),
                                   created_at=now, actor=actor, now=now, config=config)
        oid = outbox.queue_reply(
            store, tid, text=text, medium=medium, account=account, actor=actor,
            attachments=attachments, to=Address(address, name),
            subject=(f"{subject} [#{tid}]" if decl.subject else None),
        )
    return tid, oid


def add_note(store: Store, ticket_id: int, text: str, actor: str, now: str) -> int:
    if not text.strip():
        raise UsageError("the note is empty")
    with store.tx():
        t = triage.require(store, ticket_id)
        item = Inbound(medium=t["channel"], raw=b"", text=text)
        mid = ingest.insert_message(store, ticket_id, item, direction="note", account=None,
                                    external_id=None, sent_at=now, now=now, author=actor)
        repo.update(store, ticket_id, {"updated_at": now})
        store.event(actor, "note", now, ticket_id=ticket_id, message_id=mid)
    return mid


def _senders(store: Store, ticket_id: int) -> list[tuple[str, str]]:
    """The (identity kind, address) of everyone who wrote in on a ticket."""
    return [
        (identity_kind(r[0]), contacts.normalise(r[0], r[1]))
        for r in repo.senders(store, ticket_id)
    ]


def mark_spam(store: Store, ticket_id: int, actor: str, now: str) -> None:
    with store.tx():
        # The row held to the end: a sync adding a message to the ticket on
        # another machine waits, then finds it closed and its sender blocked.
        repo.lock(store, [ticket_id])
        triage.require(store, ticket_id)
        for kind, address in _senders(store, ticket_id):
            repo.block_sender(store, kind, address, now)
        triage.tag(store, ticket_id, ["spam"], actor, now)
        triage._set_status(store, triage.require(store, ticket_id), "closed", actor, now,
                           reason="spam")


def unmark_spam(store: Store, ticket_id: int, actor: str, now: str) -> None:
    """Undo ``spam``: the senders' later mail is filed normally again, the
    spam tag goes and the ticket reopens."""
    with store.tx():
        repo.lock(store, [ticket_id])
        triage.require(store, ticket_id)
        for kind, address in _senders(store, ticket_id):
            if repo.unblock_sender(store, kind, address):
                store.event(actor, "unblock", now, ticket_id=ticket_id, address=address)
        triage.tag(store, ticket_id, ["spam"], actor, now, remove=True)
        triage._set_status(store, triage.require(store, ticket_id), "open", actor, now,
                           reason="not spam")


def attachments(store: Store, ticket_id: int) -> list[dict[str, Any]]:
    triage.require(store, ticket_id)
    return [
        {"message_id": r["message_id"], "filename": r["filename"],
         "content_type": r["content_type"], "size": r["size"], "sha256": r["sha256"]}
        for r in repo.attachments(store, ticket_id)
    ]


def safe_filename(name: str, fallback: str) -> str:
    """A file name that cannot escape the target directory or hide: no
    path separators, no leading dots, no controls or invisible characters,
    at most ``files.NAME_BYTES`` bytes."""
    from supportctl.safe import invisible
    from supportctl.store.files import cap_name

    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = invisible().sub("", name)
    name = re.sub(r'[<>:"|?*]', "_", name).strip().lstrip(".").strip()
    if not name:
        name = fallback
    return cap_name(name)


def save_attachments(store: Store, items: list[dict[str, Any]], target: Path) -> list[Path]:
    """Write each attachment as a new private file in ``target``: a name
    already taken, or a symbolic link planted there, gets ``name-1``…"""
    from supportctl.store.files import private_dir, write_new

    try:
        private_dir(target)
    except OSError as exc:
        raise UsageError(f"cannot create {target}: {exc.strerror}") from None
    if not target.is_dir():
        raise UsageError(f"{target} is not a directory: give --save a directory")
    written = []
    for n, a in enumerate(items, 1):
        name = safe_filename(a["filename"], f"attachment-{n}")
        data = store.read_file(a["sha256"])
        try:
            written.append(write_new(target, name, data))
        except OSError as exc:
            raise UsageError(f"cannot write {target / name}: {exc.strerror}; "
                             f"{len(written)} of {len(items)} saved") from None
    return written
