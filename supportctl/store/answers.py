"""Reads behind ``suggest``, ``kb from-ticket`` and the triage queue.

Suggestions come from the full-text index of messages (``messages_fts``,
unicode61 with diacritics removed, no stemming): the caller passes word
prefixes, this module counts how many messages hold each (through an
``fts5vocab`` table in the connection's temp schema, so the store's schema
is untouched and a read-only store works), and finds solved tickets whose
customer messages match the rarest of them, ranked by bm25. Every query
is bounded: the caller keeps the summed document frequency of the terms it
asks for under a budget, so a common word never makes FTS5 rank a million
rows.
"""

from __future__ import annotations

from typing import Any

from supportctl.store.db import Store

#: Outbound messages that are not an agent's answer (acknowledgements,
#: rule replies): never offered as "our final reply".
_HUMAN_OUT = ("m.direction = 'out' AND COALESCE(m.author, '') != 'auto-reply'"
              " AND COALESCE(m.author, '') NOT LIKE 'rule:%'")


def _vocab(store: Store) -> None:
    store.conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.supportctl_vocab"
        " USING fts5vocab(main, messages_fts, row)"
    )


def _after(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def prefix_doc_counts(store: Store, prefixes: list[str]) -> dict[str, int]:
    """Messages holding a word that starts with each prefix (summed over the
    words, so an upper bound when one message holds two of them)."""
    _vocab(store)
    out: dict[str, int] = {}
    for p in prefixes:
        if not p:
            continue
        n = store.conn.execute(
            "SELECT COALESCE(sum(doc), 0) FROM temp.supportctl_vocab WHERE term >= ? AND term < ?",
            [p, _after(p)],
        ).fetchone()[0]
        out[p] = int(n)
    return out


def message_count(store: Store) -> int:
    """About how many messages there are (the largest id: no count(*) scan)."""
    return int(store.scalar("SELECT COALESCE(max(id), 0) FROM messages") or 0)


def ticket_query_text(store: Store, ticket_id: int) -> dict[str, Any] | None:
    """What a ticket asks: its subject, its first and last customer messages,
    its contact's name (whose words are not topic words)."""
    t = store.one(
        "SELECT t.id, t.subject, COALESCE(c.name, '') AS name FROM tickets t"
        " LEFT JOIN contacts c ON c.id = t.contact_id WHERE t.id = ?",
        [ticket_id],
    )
    if t is None:
        return None
    rows = store.conn.execute(
        "SELECT text FROM messages WHERE ticket_id = ? AND direction = 'in' ORDER BY id",
        [ticket_id],
    ).fetchall()
    texts = [r[0] for r in rows]
    if len(texts) > 2:
        texts = [texts[0], texts[-1]]
    return {"subject": t["subject"], "texts": texts, "contact_name": t["name"]}


def similar_solved(
    store: Store, match: str, *, exclude_ticket: int | None, limit: int = 30,
) -> list[tuple[int, int, float]]:
    """(ticket id, matching customer message id, bm25) for solved or closed
    tickets whose customer messages match the FTS5 expression, best first,
    one row per ticket."""
    rows = store.conn.execute(
        "SELECT m.ticket_id, m.id, bm25(messages_fts, 2.0, 1.0) AS r FROM messages_fts"
        " JOIN messages m ON m.id = messages_fts.rowid"
        " JOIN tickets t ON t.id = m.ticket_id"
        " WHERE messages_fts MATCH ? AND m.direction = 'in'"
        " AND t.status IN ('solved', 'closed') AND t.merged_into IS NULL AND t.id != ?"
        " ORDER BY r LIMIT ?",
        [match, -1 if exclude_ticket is None else exclude_ticket, limit * 3],
    ).fetchall()
    seen: set[int] = set()
    out: list[tuple[int, int, float]] = []
    for tid, mid, rank in rows:
        if tid in seen:
            continue
        seen.add(tid)
        out.append((int(tid), int(mid), float(rank)))
        if len(out) >= limit:
            break
    return out


def question_and_answer(store: Store, ticket_id: int, message_id: int | None = None
                        ) -> dict[str, Any] | None:
    """A ticket's customer question (the given message, else the first
    inbound one) and our final reply (the last outbound message written by
    a person); None when nobody answered it."""
    t = store.one("SELECT id, subject, status FROM tickets WHERE id = ?", [ticket_id])
    if t is None:
        return None
    if message_id is not None:
        q = store.one("SELECT text FROM messages WHERE id = ? AND ticket_id = ?",
                      [message_id, ticket_id])
    else:
        q = store.one("SELECT text FROM messages WHERE ticket_id = ? AND direction = 'in'"
                      " ORDER BY id LIMIT 1", [ticket_id])
    a = store.one(f"SELECT m.text FROM messages m WHERE m.ticket_id = ? AND {_HUMAN_OUT}"
                  " ORDER BY m.id DESC LIMIT 1", [ticket_id])
    if q is None or a is None:
        return None
    tags = [r[0] for r in store.conn.execute(
        "SELECT tag FROM tags WHERE ticket_id = ? ORDER BY tag", [ticket_id])]
    return {"ticket_id": ticket_id, "subject": t["subject"], "status": t["status"],
            "question": q[0], "answer": a[0], "tags": tags}


def triage_queue(store: Store, statuses: list[str], assignee: str | None, now: str) -> list[int]:
    """Tickets to work through, most urgent first: the due time of the
    clock that is still running (first response until answered, then
    resolution), overdue first; tickets with no clock after, by priority and
    age. Snoozed and merged tickets are left out."""
    where = [f"t.status IN ({', '.join('?' for _ in statuses)})", "t.merged_into IS NULL",
             "(t.snoozed_until IS NULL OR t.snoozed_until <= ?)"]
    params: list[Any] = [*statuses, now]
    if assignee == "none":
        where.append("t.assignee IS NULL")
    elif assignee:
        where.append("t.assignee = ?")
        params.append(assignee)
    due = ("CASE WHEN t.first_response_at IS NULL AND t.first_response_due IS NOT NULL"
           " THEN t.first_response_due ELSE t.resolution_due END")
    prio = ("CASE t.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2"
            " ELSE 3 END")
    sql = (f"SELECT t.id FROM tickets t WHERE {' AND '.join(where)}"
           f" ORDER BY ({due}) IS NULL, ({due}), {prio}, t.created_at, t.id")
    return [int(r[0]) for r in store.conn.execute(sql, params)]
