"""Export and import of the store as JSON lines (SPEC §6).

Contract:
- ``export`` streams one ticket a line, in id order, in chunks: memory stays
  flat however big the store is. With ``messages`` each line carries the
  ticket's messages and events; with ``raw`` the original payloads too.
- ``import_jsonl`` restores contacts, identities, tickets, messages, notes,
  attachments (metadata), tags and events with their ids and timestamps
  verbatim. It writes no events of its own, runs no threading or rules,
  sends nothing, and skips an id that already exists. Export → import →
  export gives identical output.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from typing import Any

from supportctl.errors import UsageError
from supportctl.store.db import Store
from supportctl.store.read import (
    TicketFilter,
    events_json,
    iter_ticket_ids,
    messages_json,
    tickets_json,
)

CHUNK = 500


def export(store: Store, f: TicketFilter, now: str, *, messages: bool = False,
           raw: bool = False) -> Iterator[dict[str, Any]]:
    chunk: list[int] = []
    for tid in iter_ticket_ids(store, f, now):
        chunk.append(tid)
        if len(chunk) >= CHUNK:
            yield from _chunk(store, chunk, now, messages, raw)
            chunk = []
    if chunk:
        yield from _chunk(store, chunk, now, messages, raw)


def _chunk(store: Store, ids: list[int], now: str, messages: bool, raw: bool) -> Iterator[dict[str, Any]]:
    for t in tickets_json(store, ids, now, full=True):
        if messages:
            t["messages"] = messages_json(store, t["id"], raw=raw, full=True)
            t["events"] = events_json(store, t["id"])
        yield t


def import_jsonl(store: Store, lines: Iterable[str]) -> dict[str, int]:
    counts = {"tickets": 0, "skipped": 0, "messages": 0, "contacts": 0}
    batch: list[dict[str, Any]] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"line {n} is not JSON ({exc.msg}): nothing after line "
                             f"{n - len(batch) - 1} was imported") from None
        if not isinstance(obj, dict) or "id" not in obj or "status" not in obj:
            raise UsageError(f"line {n} is not a supportctl ticket (no id/status)")
        batch.append(obj)
        if len(batch) >= CHUNK:
            _import_batch(store, batch, counts)
            batch = []
    if batch:
        _import_batch(store, batch, counts)
    return counts


def _import_batch(store: Store, batch: list[dict[str, Any]], counts: dict[str, int]) -> None:
    with store.tx():
        for t in batch:
            if store.scalar("SELECT 1 FROM tickets WHERE id = ?", [t["id"]]):
                counts["skipped"] += 1
                continue
            _import_ticket(store, t, counts)
        # Links may point at tickets later in the file: restore them last.
        for t in batch:
            for key in ("merged_into", "linked_ticket"):
                if t.get(key):
                    store.execute(
                        f"UPDATE tickets SET {key} = ? WHERE id = ? AND {key} IS NULL "
                        "AND EXISTS (SELECT 1 FROM tickets WHERE id = ?)",
                        [t[key], t["id"], t[key]],
                    )


def _import_contact(store: Store, c: dict[str, Any], now: str, counts: dict[str, int]) -> None:
    if store.scalar("SELECT 1 FROM contacts WHERE id = ?", [c["id"]]):
        return
    store.insert("contacts", {"id": c["id"], "name": c.get("name") or "",
                              "created_at": now, "updated_at": now})
    counts["contacts"] += 1
    from supportctl.models import identity_kind

    for ident in c.get("identities", []):
        kind = identity_kind(ident["channel"])
        if store.scalar("SELECT 1 FROM identities WHERE kind = ? AND address = ?",
                        [kind, ident["address"]]):
            continue
        store.insert("identities", {"contact_id": c["id"], "kind": kind,
                                    "channel": ident["channel"], "address": ident["address"],
                                    "created_at": now})


def _import_ticket(store: Store, t: dict[str, Any], counts: dict[str, int]) -> None:
    now = t.get("created_at") or ""
    contact = t.get("contact")
    if contact:
        _import_contact(store, contact, now, counts)
    sla = t.get("sla") or {}
    store.insert("tickets", {
        "id": t["id"], "status": t["status"], "priority": t.get("priority") or "normal",
        "subject": t.get("subject") or "", "channel": t["channel"], "account": t.get("account"),
        "contact_id": contact["id"] if contact else None, "assignee": t.get("assignee"),
        "created_at": t["created_at"], "updated_at": t["updated_at"],
        "first_response_at": t.get("first_response_at"), "solved_at": t.get("solved_at"),
        "closed_at": t.get("closed_at"),
        "first_response_due": sla.get("first_response_due"),
        "resolution_due": sla.get("resolution_due"), "snoozed_until": t.get("snoozed_until"),
        "last_message_at": t.get("last_message_at"), "last_inbound_at": t.get("last_inbound_at"),
        "message_count": t.get("message_count") or 0, "conversation": t.get("conversation"),
    })
    counts["tickets"] += 1
    for tag in t.get("tags", []):
        store.execute("INSERT OR IGNORE INTO tags (ticket_id, tag) VALUES (?, ?)", [t["id"], tag])
    cs = t.get("csat")
    if cs and cs.get("asked_at"):
        from supportctl.store import workflows

        workflows.record_csat_asked(store, t["id"], contact["id"] if contact else None,
                                    cs["asked_at"], None)
        if cs.get("answered_at") and cs.get("rating"):
            workflows.record_csat_answer(store, t["id"], cs["rating"], cs.get("comment") or "",
                                         cs["answered_at"], None)
    for m in t.get("messages", []):
        if store.scalar("SELECT 1 FROM messages WHERE id = ?", [m["id"]]):
            continue
        if m.get("external_id") and store.scalar(
            "SELECT 1 FROM messages WHERE channel = ? AND external_id = ?",
            [m["channel"], m["external_id"]],
        ):
            continue
        delivery = m.get("delivery") or {}
        store.insert("messages", {
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
            store.insert("originals", {"message_id": m["id"], "raw": base64.b64decode(m["raw"])})
        for a in m.get("attachments", []):
            store.insert("attachments", {
                "message_id": m["id"], "filename": a["filename"], "content_type": a["content_type"],
                "size": a["size"], "sha256": a["sha256"], "content_id": a.get("content_id"),
                "inline": int(bool(a.get("inline"))),
            })
        counts["messages"] += 1
    for e in t.get("events", []):
        if store.scalar("SELECT 1 FROM events WHERE id = ?", [e["id"]]):
            continue
        store.insert("events", {
            "id": e["id"], "ticket_id": e.get("ticket_id"), "contact_id": e.get("contact_id"),
            "actor": e["actor"], "action": e["action"],
            "detail": json.dumps(e.get("detail") or {}, ensure_ascii=False, sort_keys=True),
            "at": e["at"],
        })

