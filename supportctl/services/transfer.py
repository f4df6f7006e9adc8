"""Export and import of the store as JSON lines (SPEC §6).

Contract:
- ``export`` streams one ticket a line, in id order, in chunks: memory stays
  flat however big the store is. With ``messages`` each line carries the
  ticket's messages and events; with ``raw`` the original payloads too.
- ``import_jsonl`` restores contacts, identities, tickets, messages, notes,
  attachments (metadata, and their files when the export carries them),
  tags and events with their ids and timestamps
  verbatim. It writes no events of its own, runs no threading or rules,
  sends nothing, and skips an id that already exists. Export → import →
  export gives identical output.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from supportctl.channels import media_names
from supportctl.errors import UsageError
from supportctl.safe import is_label
from supportctl.store import transfer as repo
from supportctl.store.db import IntegrityError, Store
from supportctl.store.files import valid_digest
from supportctl.store.read import (
    TicketFilter,
    events_json,
    iter_ticket_ids,
    messages_json,
    tickets_json,
)
from supportctl.store.tickets import add_tag
from supportctl.values import DELIVERY_STATES, Priority, Status

CHUNK = 500


def export(store: Store, f: TicketFilter, now: str, *, messages: bool = False,
           raw: bool = False, files: bool = False) -> Iterator[dict[str, Any]]:
    """``files`` puts each attachment's bytes (base64, as ``data``) beside
    its metadata, so the export alone restores everything."""
    chunk: list[int] = []
    for tid in iter_ticket_ids(store, f, now):
        chunk.append(tid)
        if len(chunk) >= CHUNK:
            yield from _chunk(store, chunk, now, messages, raw, files)
            chunk = []
    if chunk:
        yield from _chunk(store, chunk, now, messages, raw, files)


def _chunk(store: Store, ids: list[int], now: str, messages: bool, raw: bool,
           files: bool) -> Iterator[dict[str, Any]]:
    for t in tickets_json(store, ids, now, full=True):
        if messages:
            t["messages"] = messages_json(store, t["id"], raw=raw, full=True)
            t["events"] = events_json(store, t["id"])
            if files:
                for m in t["messages"]:
                    for a in m["attachments"]:
                        a["data"] = base64.b64encode(store.read_file(a["sha256"])).decode("ascii")
        yield t


def import_jsonl(store: Store, lines: Iterable[str]) -> dict[str, int]:
    """All or nothing: the whole file is one transaction, and every line is
    checked (types, statuses, priorities, tags, ids, timestamps, digests)
    before it is written; on any error the store is exactly as before and
    the ``UsageError`` names the line."""
    counts = {"tickets": 0, "skipped": 0, "messages": 0, "contacts": 0, "files": 0}
    links: list[tuple[int, str, int]] = []
    imported: list[int] = []
    n = 0
    with store.tx():
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"line {n} is not JSON ({exc.msg}): nothing was imported; "
                                 "fix or remove that line and import again") from None
            except UnicodeDecodeError:
                raise UsageError(f"line {n} is not UTF-8: nothing was imported") from None
            try:
                check_ticket(obj)
            except ValueError as exc:
                raise UsageError(f"line {n}: {exc}; nothing was imported") from None
            if repo.ticket_exists(store, obj["id"]):
                counts["skipped"] += 1
                continue
            try:
                _import_ticket(store, obj, counts)
            except IntegrityError as exc:
                raise UsageError(f"line {n}: {exc} (an id clashes with one already stored); "
                                 "nothing was imported") from None
            except (ValueError, binascii.Error) as exc:
                raise UsageError(f"line {n}: {exc}; nothing was imported") from None
            imported.append(obj["id"])
            links += [(obj["id"], key, obj[key]) for key in ("merged_into", "linked_ticket")
                      if obj.get(key)]
        # Links may point at tickets later in the file: restore them last.
        for tid, key, target in links:
            repo.restore_link(store, tid, key, target)
        # An import restores due times verbatim (SPEC §6): the tag triggers
        # marked these tickets stale, and a recompute would replace them.
        from supportctl.store.sla import mark_fresh

        mark_fresh(store, imported)
    return counts


# -- what a line must look like ------------------------------------------

_MAX_ID = 2**63 - 1


def _id(value: Any, what: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if type(value) is not int or not 1 <= value <= _MAX_ID:
        raise ValueError(f"{what} must be a positive integer, not {_show(value)}")


def _text(value: Any, what: str, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, not {_show(value)}")


def _name(value: Any, what: str, *, optional: bool = True) -> None:
    """A label an agent gives (tag, assignee): what ``tag``/``assign`` take."""
    _text(value, what, optional=optional)
    if value is not None and not is_label(value):
        raise ValueError(f"{what} {_show(value)} is empty or holds control characters")


def _time(value: Any, what: str, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise ValueError(f"{what} must be an ISO 8601 time, not {_show(value)}")
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what} {_show(value)} is not an ISO 8601 time") from None


def _one_of(value: Any, allowed: Iterable[str], what: str) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{what} {_show(value)} is not one of {', '.join(allowed)}")


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list, not {_show(value)}")
    return value


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be an object, not {_show(value)}")
    return value


def _show(value: Any) -> str:
    from supportctl.safe import one_line

    return one_line(json.dumps(value, ensure_ascii=True), 40)


_STATUSES = tuple(s.value for s in Status)
_PRIORITIES = tuple(p.value for p in Priority)
_DIRECTIONS = ("in", "out", "note")
_TICKET_TIMES = ("first_response_at", "solved_at", "closed_at", "snoozed_until", "last_message_at",
                 "last_inbound_at")
_MESSAGE_TEXTS = ("account", "external_id", "subject", "text", "html", "in_reply_to", "references",
                  "conversation", "author", "auto_reason", "source_ref", "raw")


def check_ticket(t: Any) -> None:
    """Raise ``ValueError`` naming the first field of an exported ticket
    that import cannot take as it is. (Labels are constants: this runs for
    every line of a million-message import.)"""
    t = _dict(t, "a line")
    if "id" not in t or "status" not in t:
        raise ValueError("not a supportctl ticket (no id/status)")
    _id(t["id"], "id")
    _one_of(t["status"], _STATUSES, "status")
    if t.get("priority") is not None:
        _one_of(t["priority"], _PRIORITIES, "priority")
    _one_of(t.get("channel"), media_names(), "channel")
    _text(t.get("subject"), "subject")
    _text(t.get("account"), "account")
    _name(t.get("assignee"), "assignee")
    _time(t.get("created_at"), "created_at", optional=False)
    _time(t.get("updated_at"), "updated_at", optional=False)
    for key in _TICKET_TIMES:
        _time(t.get(key), key)
    sla = t.get("sla")
    if sla is not None:
        for key in ("first_response_due", "resolution_due"):
            _time(_dict(sla, "sla").get(key), key)
    for key in ("merged_into", "linked_ticket"):
        _id(t.get(key), key, optional=True)
    if t.get("message_count") is not None and (type(t["message_count"]) is not int
                                              or t["message_count"] < 0):
        raise ValueError(f"message_count {_show(t['message_count'])} is not a count")
    _text(t.get("conversation"), "conversation")
    for tag in _list(t.get("tags"), "tags"):
        _name(tag, "tag", optional=False)
    c = t.get("contact")
    if c is not None:
        c = _dict(c, "contact")
        _id(c.get("id"), "contact.id")
        _text(c.get("name"), "contact.name")
        for i in _list(c.get("identities"), "contact.identities"):
            i = _dict(i, "identity")
            _one_of(i.get("channel"), media_names(), "identity channel")
            _text(i.get("address"), "identity address", optional=False)
    for m in _list(t.get("messages"), "messages"):
        m = _dict(m, "message")
        try:
            _check_message(m)
        except ValueError as exc:
            raise ValueError(f"message {_show(m.get('id'))}: {exc}") from None
    for e in _list(t.get("events"), "events"):
        e = _dict(e, "event")
        try:
            _check_event(e)
        except ValueError as exc:
            raise ValueError(f"event {_show(e.get('id'))}: {exc}") from None


def _check_message(m: dict[str, Any]) -> None:
    _id(m.get("id"), "id")
    _one_of(m.get("direction"), _DIRECTIONS, "direction")
    _one_of(m.get("channel"), media_names(), "channel")
    _time(m.get("sent_at"), "sent_at", optional=False)
    _time(m.get("created_at"), "created_at")
    for key in _MESSAGE_TEXTS:
        _text(m.get(key), key)
    frm = m.get("from")
    if frm is not None:
        frm = _dict(frm, "from")
        _text(frm.get("name"), "from.name")
        _text(frm.get("address"), "from.address")
    _list(m.get("to"), "to")
    _list(m.get("cc"), "cc")
    if m.get("meta") is not None:
        _dict(m["meta"], "meta")
    d = m.get("delivery")
    if d is not None:
        d = _dict(d, "delivery")
        if d.get("state") is not None:  # {state: null}: nothing was sent, as an inbound message
            _one_of(d["state"], DELIVERY_STATES, "delivery state")
        _text(d.get("error"), "delivery error")
    for a in _list(m.get("attachments"), "attachments"):
        a = _dict(a, "attachment")
        _text(a.get("filename"), "attachment filename", optional=False)
        _text(a.get("content_type"), "attachment content_type", optional=False)
        if type(a.get("size")) is not int or a["size"] < 0:
            raise ValueError(f"attachment size {_show(a.get('size'))} is not a size")
        if not valid_digest(a.get("sha256")):
            raise ValueError(f"attachment sha256 {_show(a.get('sha256'))} is not 64 "
                             "lowercase hex digits")
        _text(a.get("content_id"), "attachment content_id")
        _text(a.get("data"), "attachment data")


def _check_event(e: dict[str, Any]) -> None:
    _id(e.get("id"), "id")
    _id(e.get("ticket_id"), "ticket_id", optional=True)
    _id(e.get("contact_id"), "contact_id", optional=True)
    _text(e.get("actor"), "actor", optional=False)
    _text(e.get("action"), "action", optional=False)
    _time(e.get("at"), "at", optional=False)
    if e.get("detail") is not None:
        _dict(e["detail"], "detail")


def _import_contact(store: Store, c: dict[str, Any], now: str, counts: dict[str, int]) -> None:
    if repo.contact_exists(store, c["id"]):
        return
    repo.restore(store, "contacts", {"id": c["id"], "name": c.get("name") or "",
                              "created_at": now, "updated_at": now})
    counts["contacts"] += 1
    from supportctl.channels import identity_kind

    for ident in c.get("identities") or []:
        kind = identity_kind(ident["channel"])
        if repo.identity_taken(store, kind, ident["address"]):
            continue
        repo.restore(store, "identities", {"contact_id": c["id"], "kind": kind,
                                    "channel": ident["channel"], "address": ident["address"],
                                    "created_at": now})


def _import_ticket(store: Store, t: dict[str, Any], counts: dict[str, int]) -> None:
    now = t.get("created_at") or ""
    contact = t.get("contact")
    if contact:
        _import_contact(store, contact, now, counts)
    sla = t.get("sla") or {}
    repo.restore(store, "tickets", {
        "id": t["id"], "status": t["status"], "priority": t.get("priority") or "normal",
        "subject": t.get("subject") or "", "channel": t["channel"], "account": t.get("account"),
        "contact_id": contact["id"] if contact else None, "assignee": t.get("assignee"),
        "created_at": t["created_at"], "updated_at": t["updated_at"],
        "first_response_at": t.get("first_response_at"), "solved_at": t.get("solved_at"),
        "closed_at": t.get("closed_at"),
        "first_response_due": sla.get("first_response_due"),
        "resolution_due": sla.get("resolution_due"), "sla_policy": sla.get("policy"),
        "snoozed_until": t.get("snoozed_until"),
        "last_message_at": t.get("last_message_at"), "last_inbound_at": t.get("last_inbound_at"),
        "message_count": t.get("message_count") or 0, "conversation": t.get("conversation"),
    })
    counts["tickets"] += 1
    for tag in t.get("tags") or []:
        add_tag(store, t["id"], tag)
    cs = t.get("csat")
    if isinstance(cs, dict) and cs.get("asked_at"):
        _time(cs["asked_at"], "csat.asked_at")
        if cs.get("rating") is not None and (not isinstance(cs["rating"], int)
                                             or not 1 <= cs["rating"] <= 5):
            raise ValueError(f"csat.rating {_show(cs['rating'])} is not a whole number from 1 to 5")
        from supportctl.store import workflows

        workflows.record_csat_asked(store, t["id"], contact["id"] if contact else None,
                                    cs["asked_at"], None)
        if cs.get("answered_at") and cs.get("rating"):
            workflows.record_csat_answer(store, t["id"], cs["rating"], cs.get("comment") or "",
                                         cs["answered_at"], None)
    for m in t.get("messages") or []:
        if repo.message_exists(store, m["id"]):
            continue
        if m.get("external_id") and repo.message_key_taken(store, m["channel"], m["external_id"]):
            continue
        delivery = m.get("delivery") or {}
        repo.restore(store, "messages", {
            "id": m["id"], "ticket_id": t["id"], "direction": m["direction"],
            "channel": m["channel"], "account": m.get("account"),
            "external_id": m.get("external_id"),
            "from_name": (m.get("from") or {}).get("name", ""),
            "from_address": (m.get("from") or {}).get("address", ""),
            "to_json": json.dumps(m.get("to") or [], ensure_ascii=False),
            "cc_json": json.dumps(m.get("cc") or [], ensure_ascii=False),
            "subject": m.get("subject") or "", "text": m.get("text") or "", "html": m.get("html"),
            "sent_at": m["sent_at"], "created_at": m.get("created_at") or m["sent_at"],
            "in_reply_to": m.get("in_reply_to"), "refs": m.get("references"),
            "conversation": m.get("conversation"), "author": m.get("author"),
            "delivery_state": delivery.get("state"), "delivery_error": delivery.get("error"),
            "auto_reason": m.get("auto_reason"), "source_ref": m.get("source_ref"),
            "meta": json.dumps(m["meta"], ensure_ascii=False, sort_keys=True) if m.get("meta") else None,
            "language": m.get("language"),
        })
        if m.get("raw"):
            repo.restore(store, "originals", {"message_id": m["id"],
                                       "raw": base64.b64decode(m["raw"], validate=True)})
        for a in m.get("attachments") or []:
            if a.get("data") is not None:
                data = base64.b64decode(a["data"], validate=True)
                if store.put_file(data) != a["sha256"]:
                    raise ValueError(f"attachment {a['filename']!r} does not match its sha256")
                counts["files"] += 1
            repo.restore(store, "attachments", {
                "message_id": m["id"], "filename": a["filename"], "content_type": a["content_type"],
                "size": a["size"], "sha256": a["sha256"], "content_id": a.get("content_id"),
                "inline": int(bool(a.get("inline"))),
            })
        counts["messages"] += 1
    for e in t.get("events") or []:
        if repo.event_exists(store, e["id"]):
            continue
        repo.restore(store, "events", {
            "id": e["id"], "ticket_id": e.get("ticket_id"), "contact_id": e.get("contact_id"),
            "actor": e["actor"], "action": e["action"],
            "detail": json.dumps(e.get("detail") or {}, ensure_ascii=False, sort_keys=True),
            "at": e["at"],
        })

