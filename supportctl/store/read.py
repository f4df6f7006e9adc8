"""Read queries and the JSON shapes of SPEC §6.

This module is on the start-up path of ``list``, ``show`` and ``search``:
it uses the stdlib ``sqlite3`` only. Every JSON object is built here, so
``list``, ``show``, ``export`` and the tests agree on one shape; fields
are only ever added.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from supportctl.store.db import Store

OPEN_STATUSES = ("new", "open", "pending")
STATUSES = ("new", "open", "pending", "solved", "closed")


class TicketFilter:
    """Which tickets: every condition of `list` (SPEC §5) and its friends.
    A plain class, as every class on the read path: a dataclass's
    generated methods cost `list` about 6 ms at start-up."""

    def __init__(
        self,
        *,
        statuses: Sequence[str] | None = OPEN_STATUSES,
        tags: list[str] | None = None,
        assignee: str | None = None,  # NAME, or "none"
        channel: str | None = None,
        account: str | None = None,
        priority: list[str] | None = None,
        contact: int | None = None,
        sla: str | None = None,  # breached | due-soon
        since: str | None = None,
        until: str | None = None,
        ids: list[int] | None = None,
        where: list[str] | None = None,  # extra SQL on tickets t (a --query)
        params: list[Any] | None = None,
        include_snoozed: bool = False,
        only_snoozed: bool = False,  # `list --snoozed`: those still asleep
        include_merged: bool = False,
        sort: str = "updated",
        limit: int = 0,
        offset: int = 0,
    ) -> None:
        self.statuses = None if statuses is None else list(statuses)
        self.tags = list(tags or [])
        self.assignee = assignee
        self.channel = channel
        self.account = account
        self.priority = list(priority or [])
        self.contact = contact
        self.sla = sla
        self.since = since
        self.until = until
        self.ids = ids
        self.where = list(where or [])
        self.params = list(params or [])
        self.include_snoozed = include_snoozed
        self.only_snoozed = only_snoozed
        self.include_merged = include_merged
        self.sort = sort
        self.limit = limit
        self.offset = offset


def _where(f: TicketFilter, now: str) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if f.statuses is not None:
        clauses.append(f"t.status IN ({', '.join('?' for _ in f.statuses)})")
        params += f.statuses
    for tag in f.tags:
        clauses.append("EXISTS (SELECT 1 FROM tags g WHERE g.ticket_id = t.id AND g.tag = ?)")
        params.append(tag.lower())
    if f.assignee == "none":
        clauses.append("t.assignee IS NULL")
    if f.priority:
        clauses.append(f"t.priority IN ({', '.join('?' for _ in f.priority)})")
        params += f.priority
    simple = (
        ("t.assignee = ?", f.assignee if f.assignee != "none" else None),
        ("t.channel = ?", f.channel),
        ("t.account = ?", f.account),
        ("t.contact_id = ?", f.contact),
        ("t.updated_at >= ?", f.since),
        ("t.updated_at < ?", f.until),
    )
    for clause, value in simple:
        if value is not None and value != "":
            clauses.append(clause)
            params.append(value)
    if f.sla == "breached":
        clauses.append(BREACHED_SQL)
        params += [now, now]
    elif f.sla == "due-soon":
        clauses.append(DUE_SOON_SQL)
        params += due_soon_params(now)
    if f.only_snoozed:
        clauses.append("(t.snoozed_until IS NOT NULL AND t.snoozed_until > ?)")
        params.append(now)
    elif not f.include_snoozed:
        clauses.append("(t.snoozed_until IS NULL OR t.snoozed_until <= ?)")
        params.append(now)
    if not f.include_merged:
        clauses.append("t.merged_into IS NULL")
    if f.ids is not None:
        clauses.append(f"t.id IN ({', '.join(str(int(i)) for i in f.ids) or 'NULL'})")
    clauses += f.where
    params += f.params
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


#: A clock ran out: the first response came late or not yet, or the ticket
#: was solved late, or is not solved yet (pending stops the resolution
#: clock at ``sla_paused_at``). Parameters: now, now.
BREACHED_SQL = (
    "((t.first_response_due IS NOT NULL AND COALESCE(t.first_response_at, ?) > t.first_response_due)"
    " OR (t.resolution_due IS NOT NULL"
    " AND COALESCE(t.solved_at, t.sla_paused_at, ?) > t.resolution_due))"
)
#: How far ahead ``--sla due-soon`` (and the due-soon notification) looks.
DUE_SOON_HOURS = 4
#: Not breached, but a running clock runs out within DUE_SOON_HOURS.
DUE_SOON_SQL = (
    "((t.first_response_at IS NULL AND t.first_response_due > ? AND t.first_response_due <= ?)"
    " OR (t.solved_at IS NULL AND t.sla_paused_at IS NULL"
    " AND t.resolution_due > ? AND t.resolution_due <= ?))"
)


def due_soon_params(now: str) -> list[str]:
    from datetime import timedelta

    from supportctl.values import shift

    soon = shift(now, timedelta(hours=DUE_SOON_HOURS))
    return [now, soon, now, soon]


#: The next deadline that still matters: the first response until it is
#: given, then the resolution until solved. PostgreSQL's ``tickets_next_due``
#: (pg_schema step 10) indexes ``_SORTS["due"]``'s expression of it as
#: written, and ``tickets_open_clocks`` the columns ``BREACHED_SQL`` and
#: ``DUE_SOON_SQL`` read: a change to any of them needs a new step.
NEXT_DUE = (
    "CASE WHEN t.first_response_at IS NULL AND t.first_response_due IS NOT NULL"
    " THEN t.first_response_due WHEN t.solved_at IS NULL THEN t.resolution_due END"
)

_SORTS = {
    "updated": "t.updated_at DESC, t.id DESC",
    "created": "t.created_at DESC, t.id DESC",
    "priority": (
        "CASE t.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END,"
        " t.updated_at DESC, t.id DESC"
    ),
    "due": f"COALESCE({NEXT_DUE}, '9999') ASC, t.id ASC",
    "id": "t.id ASC",
}


def ticket_ids(store: Store, f: TicketFilter, now: str) -> list[int]:
    where, params = _where(f, now)
    sql = f"SELECT t.id FROM tickets t{where} ORDER BY {_SORTS[f.sort]}"
    if f.limit:
        sql += f" LIMIT {int(f.limit)} OFFSET {int(f.offset)}"
    elif f.offset:
        sql += f" LIMIT {store.sql.no_limit} OFFSET {int(f.offset)}"
    return [r[0] for r in store.conn.execute(sql, params)]


def tag_display_names(store: Store, keys: set[str]) -> dict[str, str]:
    """The first-typed form of each tag key that has one (``vip`` → ``VIP``)."""
    if not keys:
        return {}
    import sqlite3

    marks = ", ".join("?" for _ in keys)
    try:
        return {k: d for k, d in store.conn.execute(
            f"SELECT tag, display FROM tag_names WHERE tag IN ({marks})", sorted(keys))}
    except sqlite3.OperationalError:  # a store read before `db migrate`: keys as stored
        return {}


def count_tickets(store: Store, f: TicketFilter, now: str) -> int:
    """How many tickets match ``f``, whatever its limit and offset."""
    where, params = _where(f, now)
    return int(store.conn.execute(f"SELECT count(*) FROM tickets t{where}", params).fetchone()[0])


def iter_ticket_ids(store: Store, f: TicketFilter, now: str) -> Iterator[int]:
    """Ids in id order, streamed (export)."""
    where, params = _where(f, now)
    for row in store.conn.execute(f"SELECT t.id FROM tickets t{where} ORDER BY t.id", params):
        yield row[0]


def _identities(store: Store, contact_ids: set[int]) -> dict[int, list[dict[str, str]]]:
    out: dict[int, list[dict[str, str]]] = {c: [] for c in contact_ids}
    if not contact_ids:
        return out
    marks = ", ".join(str(int(c)) for c in contact_ids)
    cur = store.conn.cursor()
    cur.row_factory = None
    for cid, channel, address in cur.execute(
        f"SELECT contact_id, channel, address FROM identities WHERE contact_id IN ({marks}) ORDER BY id"
    ):
        out[cid].append({"channel": channel, "address": address})
    return out


def tickets_json(store: Store, ids: list[int], now: str, *, full: bool = False) -> list[dict[str, Any]]:
    """Ticket objects (SPEC §6) in the order of ``ids``. ``full`` adds the
    fields export needs to round-trip (closed_at, last_inbound_at, ...)."""
    if not ids:
        return []
    marks = ", ".join(str(int(i)) for i in ids)
    # Plain tuples unpacked by position: sqlite3.Row lookups by name cost
    # half a second over an export of 100 000 tickets.
    cur = store.conn.cursor()
    cur.row_factory = None
    rows = {
        r[0]: r
        for r in cur.execute(
            f"SELECT {_TICKET_COLS}, c.name FROM tickets t "
            f"LEFT JOIN contacts c ON c.id = t.contact_id WHERE t.id IN ({marks})"
        )
    }
    tags: dict[int, list[str]] = {i: [] for i in ids}
    for tid, tag in cur.execute(
        f"SELECT ticket_id, tag FROM tags WHERE ticket_id IN ({marks}) ORDER BY tag"
    ):
        tags[tid].append(tag)
    idents = _identities(store, {r[6] for r in rows.values() if r[6]})
    from supportctl.store.workflows import csat_of

    csats = csat_of(store, ids)
    out = []
    for i in ids:
        r = rows.get(i)
        if r is None:
            continue
        (tid, status, priority, subject, channel, account, contact_id, assignee, created_at,
         updated_at, first_response_at, solved_at, closed_at, first_due, resolution_due,
         snoozed_until, merged_into, linked_ticket, last_message_at, last_inbound_at,
         message_count, conversation, sla_policy, paused_at, claimed_by, claimed_until,
         contact_name) = r
        first_breached = bool(first_due and (first_response_at or now) > first_due)
        resolution_breached = bool(resolution_due and (solved_at or paused_at or now) > resolution_due)
        obj: dict[str, Any] = {
            "id": tid,
            "status": status,
            "priority": priority,
            "subject": subject,
            "channel": channel,
            "account": account,
            "contact": (
                {"id": contact_id, "name": contact_name or "",
                 "identities": idents.get(contact_id, [])}
                if contact_id
                else None
            ),
            "assignee": assignee,
            "tags": tags[i],
            "created_at": created_at,
            "updated_at": updated_at,
            "first_response_at": first_response_at,
            "solved_at": solved_at,
            "sla": {
                "first_response_due": first_due,
                "resolution_due": resolution_due,
                "breached": first_breached or resolution_breached,
                "policy": sla_policy,
                "first_response_breached": first_breached,
                "resolution_breached": resolution_breached,
                "paused": paused_at is not None,
            },
            "message_count": message_count,
            "last_message_at": last_message_at,
            "snoozed_until": snoozed_until,
            "merged_into": merged_into,
            "linked_ticket": linked_ticket,
            "csat": csats.get(tid),
            # SPEC §13: who is working on it, while the lease lasts.
            "claim": ({"agent": claimed_by, "until": claimed_until}
                      if claimed_until and claimed_until > now else None),
        }
        if full:
            del obj["claim"]  # live state of a lease, not history to carry over
            obj["closed_at"] = closed_at
            obj["last_inbound_at"] = last_inbound_at
            obj["conversation"] = conversation
        out.append(obj)
    return out


_TICKET_COLS = (
    "t.id, t.status, t.priority, t.subject, t.channel, t.account, t.contact_id, t.assignee, "
    "t.created_at, t.updated_at, t.first_response_at, t.solved_at, t.closed_at, "
    "t.first_response_due, t.resolution_due, t.snoozed_until, t.merged_into, t.linked_ticket, "
    "t.last_message_at, t.last_inbound_at, t.message_count, t.conversation, "
    "t.sla_policy, t.sla_paused_at, t.claimed_by, t.claimed_until"
)


def _addr(name: str, address: str) -> dict[str, str]:
    return {"name": name or "", "address": address or ""}


def messages_json(
    store: Store, ticket_id: int, *, raw: bool = False, full: bool = False
) -> list[dict[str, Any]]:
    # Arrival order: a customer's clock (the Date header) can be wrong, and
    # an answer must never show above the reply it answers.
    rows = store.conn.execute(
        "SELECT * FROM messages WHERE ticket_id = ? ORDER BY id", [ticket_id]
    ).fetchall()
    if not rows:
        return []
    marks = ", ".join(str(r["id"]) for r in rows)
    atts: dict[int, list[dict[str, Any]]] = {r["id"]: [] for r in rows}
    for a in store.conn.execute(
        f"SELECT * FROM attachments WHERE message_id IN ({marks}) ORDER BY id"
    ):
        item: dict[str, Any] = {
            "filename": a["filename"],
            "content_type": a["content_type"],
            "size": a["size"],
            "sha256": a["sha256"],
        }
        if full:
            item["content_id"] = a["content_id"]
            item["inline"] = bool(a["inline"])
        atts[a["message_id"]].append(item)
    raws: dict[int, bytes] = {}
    if raw:
        from base64 import b64encode

        for o in store.conn.execute(
            f"SELECT message_id, raw FROM originals WHERE message_id IN ({marks})"
        ):
            raws[o[0]] = o[1]
    out = []
    for r in rows:
        obj: dict[str, Any] = {
            "id": r["id"],
            "ticket_id": r["ticket_id"],
            "direction": r["direction"],
            "channel": r["channel"],
            "account": r["account"],
            "external_id": r["external_id"],
            "from": _addr(r["from_name"], r["from_address"]),
            "to": json.loads(r["to_json"]),
            "cc": json.loads(r["cc_json"]),
            "subject": r["subject"],
            "text": r["text"],
            "sent_at": r["sent_at"],
            "attachments": atts[r["id"]],
            "delivery": (
                {"state": r["delivery_state"], "error": r["delivery_error"]}
                if r["delivery_state"]
                else None
            ),
            "author": r["author"],
            "in_reply_to": r["in_reply_to"],
            "auto_reason": r["auto_reason"],
            "notices": _notices(r["meta"]),
            "language": r["language"],
        }
        if full:
            obj["created_at"] = r["created_at"]
            obj["references"] = r["refs"]
            obj["conversation"] = r["conversation"]
            obj["html"] = r["html"]
            obj["source_ref"] = r["source_ref"]
            obj["meta"] = json.loads(r["meta"]) if r["meta"] else None
        if raw and r["id"] in raws:
            obj["raw"] = b64encode(raws[r["id"]]).decode()
        out.append(obj)
    return out


def _notices(meta: str | None) -> list[str]:
    """What ingest had to say about how a message was stored (kept in its
    ``meta``): an agent reading the thread must know."""
    if not meta or ("reused_message_id" not in meta and "parts_not_extracted" not in meta):
        return []
    facts = json.loads(meta)
    out = []
    if facts.get("reused_message_id"):
        out.append(f"another message already has Message-ID <{facts['reused_message_id']}>: "
                   "this different one is kept beside it")
    if facts.get("parts_not_extracted"):
        out.append(f"MIME parts not extracted: {facts['parts_not_extracted']} (too many parts or "
                   "nested too deep); `export --messages --raw` has the whole original")
    return out


def events_json(store: Store, ticket_id: int) -> list[dict[str, Any]]:
    return [
        {
            "id": r["id"],
            "ticket_id": r["ticket_id"],
            "contact_id": r["contact_id"],
            "actor": r["actor"],
            "action": r["action"],
            "detail": json.loads(r["detail"]),
            "at": r["at"],
        }
        for r in store.conn.execute(
            "SELECT * FROM events WHERE ticket_id = ? ORDER BY id", [ticket_id]
        )
    ]


_CONTACT_TICKET = ("id", "status", "subject", "channel", "updated_at", "message_count")


def show_json(store: Store, ticket_id: int, now: str) -> dict[str, Any] | None:
    found = tickets_json(store, [ticket_id], now)
    if not found:
        return None
    ticket = found[0]
    ticket["messages"] = messages_json(store, ticket_id)
    ticket["events"] = events_json(store, ticket_id)
    # The contact's other tickets: the few fields shown, in one statement
    # (their whole objects cost a PostgreSQL show four more round trips).
    ticket["contact_tickets"] = [
        dict(zip(_CONTACT_TICKET, r, strict=True))
        for r in store.conn.execute(
            f"SELECT {', '.join(_CONTACT_TICKET)} FROM tickets WHERE contact_id = ? AND id != ?"
            " ORDER BY updated_at DESC, id DESC", [ticket["contact"]["id"], ticket_id],
        )
    ] if ticket["contact"] else []
    outbox = [
        dict(r)
        for r in store.conn.execute(
            "SELECT id, message_id, state, error, attempts FROM outbox WHERE ticket_id = ? ORDER BY id",
            [ticket_id],
        )
    ]
    ticket["outbox"] = outbox
    answerable = ticket["channel"] not in ("phone", "in-person", "post")
    ticket["answer_to"] = answer_to(store, ticket_id, ticket["channel"])[0] if answerable else []
    return ticket


def answer_to(store: Store, ticket_id: int, medium: str,
              kind: str = "") -> tuple[list[dict[str, str]], Any]:
    """Where a reply on ``medium`` goes, as a mail client would answer:
    the customer's last message's Reply-To (as ingest kept it, without our
    own addresses), else its sender, else the contact's address on that
    medium (``kind``: that medium's identity kind, which the caller knows
    from the medium's declaration); and that last message (for threading),
    if any. ``[]`` when there is nobody to answer."""
    last = store.one(
        "SELECT * FROM messages WHERE ticket_id = ? AND direction = 'in' AND channel = ? "
        "ORDER BY id DESC LIMIT 1",
        [ticket_id, medium],
    )
    if last is not None:
        meta = json.loads(last["meta"]) if last["meta"] else {}
        chosen = [a for a in meta.get("answer_to") or [] if a.get("address")]
        if chosen:
            return [{"name": a.get("name") or "", "address": a["address"]} for a in chosen], last
        if last["from_address"]:
            return [{"name": last["from_name"] or "", "address": last["from_address"]}], last
    row = store.one(
        "SELECT i.address FROM identities i JOIN tickets t ON t.contact_id = i.contact_id "
        "WHERE t.id = ? AND i.kind = ? ORDER BY i.id LIMIT 1",
        [ticket_id, kind or medium],
    )
    return ([{"name": "", "address": row["address"]}] if row else []), last


def contact_json(store: Store, contact_id: int) -> dict[str, Any] | None:
    r = store.one("SELECT * FROM contacts WHERE id = ?", [contact_id])
    if r is None:
        return None
    return {
        "id": r["id"],
        "name": r["name"],
        "identities": _identities(store, {contact_id})[contact_id],
        "created_at": r["created_at"],
        "updated_at": r["updated_at"],
        "merged_into": r["merged_into"],
        "forgotten_at": r["forgotten_at"],
        "language": r["language"],
        "opted_out_at": r["opted_out_at"],
        "ticket_count": store.scalar("SELECT count(*) FROM tickets WHERE contact_id = ?", [contact_id]),
        # Since when ``spam`` files this sender's messages as spam (None: not blocked).
        "blocked_since": store.scalar(
            "SELECT min(s.at) FROM spam_senders s JOIN identities i ON i.address = s.address"
            " AND s.kind = i.kind"
            " WHERE i.contact_id = ?", [contact_id]),
    }
