"""Reads behind ``suggest``, ``kb from-ticket`` and the triage queue.

Suggestions come from the full-text index of messages (SQLite: ``messages_fts``,
unicode61 with diacritics removed, no stemming; PostgreSQL: the ``tsv``
column in each message's language, see ``_recent_postings_pg``): for each word prefix the
caller asks for the newest few thousand messages holding it (bounded,
whatever the word: no ranking of a million rows), then which of the best
of those are customer messages on solved tickets.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from supportctl.store.db import Store

_TOKENIZERS = threading.local()


def tokenize(text: str) -> list[str]:
    """The words of ``text`` exactly as the messages index sees them (its
    own tokenizer, unicode61 with diacritics removed, in a private
    in-memory table): what is looked up then always matches what was
    indexed, in every script."""
    conn = getattr(_TOKENIZERS, "conn", None)
    if conn is None:
        conn = sqlite3.connect(":memory:")
        conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2')")
        conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
        _TOKENIZERS.conn = conn
    conn.execute("DELETE FROM t")
    conn.execute("INSERT INTO t(rowid, x) VALUES (1, ?)", [text])
    return [r[0] for r in conn.execute("SELECT term FROM v ORDER BY offset")]

#: Outbound messages that are not an agent's answer (acknowledgements,
#: rule replies): never offered as "our final reply".
_HUMAN_OUT = ("m.direction = 'out' AND COALESCE(m.author, '') != 'auto-reply'"
              " AND COALESCE(m.author, '') NOT LIKE 'rule:%'")


def recent_postings(store: Store, words: list[str], limit: int, *, prefix: bool = False
                    ) -> list[int]:
    """Ids of the newest ``limit`` messages holding any of ``words`` (or,
    with ``prefix``, a word starting with one). FTS5 walks a doclist
    backwards by rowid without ranking: about a millisecond for a whole word
    even when it is in half the store; a prefix costs ten times that, as
    every word it expands to is merged."""
    if store.sql.name == "postgresql":
        return _recent_postings_pg(store, words, limit, prefix=prefix)
    star = "*" if prefix else ""
    expr = " OR ".join('"' + w.replace('"', '""') + '"' + star for w in words)
    return [int(r[0]) for r in store.conn.execute(
        "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid DESC LIMIT ?",
        [expr, limit])]


def _recent_postings_pg(store: Store, words: list[str], limit: int, *, prefix: bool
                        ) -> list[int]:
    """``recent_postings`` on PostgreSQL: the ``tsv`` GIN index, each word
    (folded as SQLite's index folds it) in every text search configuration
    (``supportctl_any_word``, PG step 3), so a message is found by its
    language's stems too ("rimborsi" finds "rimborso"): where the engines
    differ, PostgreSQL finds more inflections, never fewer words.

    The plan is chosen here, not by the planner, from how common the
    words are (``pg_stats``' most common lexemes of ``tsv``): it guesses
    "common" for a word it has no figure for and walks the newest
    messages one by one, which for a word no message holds reads them all
    (50 s on a million). A very common word walks the newest messages (a
    few thousand looked at); a word of known frequency reads its postings
    among about ``4 * limit / frequency`` newest messages; a rare or
    unknown word reads all its postings (few)."""
    if not words:
        return []
    query = store.scalar("SELECT supportctl_any_word(?::text[], ?)::text", [list(words), prefix])
    if not query:
        return []
    share = 0.0 if prefix else _lexeme_share(store, query)
    newest = message_count(store)
    where, params = "tsv @@ ?::tsquery", [query]
    walk = share >= 0.2
    if not walk and share * newest >= 4 * limit:
        where += " AND id > ?"
        params.append(newest - int(4 * limit / share))
    sql = f"SELECT id FROM messages WHERE {where} ORDER BY id DESC LIMIT ?"
    with store.tx():
        # one plan or the other, never the planner's guess
        store.conn.execute("SET LOCAL enable_bitmapscan = off" if walk
                           else "SET LOCAL enable_indexscan = off")
        store.conn.execute("SET LOCAL jit = off")
        found = [int(r[0]) for r in store.conn.execute(sql, [*params, limit])]
        if len(found) < limit and len(params) > 1:  # the window held fewer: all of them
            found = [int(r[0]) for r in store.conn.execute(
                "SELECT id FROM messages WHERE tsv @@ ?::tsquery ORDER BY id DESC LIMIT ?",
                [query, limit])]
    return found


def _lexeme_share(store: Store, query: str) -> float:
    """About which share of messages hold one of the query's lexemes (0:
    none is among the most common the server's statistics list)."""
    lexemes = sorted({part.strip("'") for part in query.split(" | ") if part})
    found = store.scalar(
        "SELECT coalesce(sum(e.f), 0) FROM pg_stats s, unnest(s.most_common_elems::text::text[],"
        " s.most_common_elem_freqs) AS e(lexeme, f) WHERE s.tablename = 'messages'"
        " AND s.attname = 'tsv' AND s.schemaname = current_schema() AND e.lexeme = ANY(?)",
        [lexemes])
    return min(float(found or 0.0), 1.0)


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


def solved_inbound(store: Store, message_ids: list[int], *, exclude_ticket: int | None
                   ) -> dict[int, int]:
    """Of the given messages, the customers' ones on solved or closed
    tickets (not merged, not ``exclude_ticket``): message id -> ticket id."""
    if not message_ids:
        return {}
    marks = ", ".join("?" for _ in message_ids)
    return {int(mid): int(tid) for mid, tid in store.conn.execute(
        # CROSS JOIN keeps this order: with a long IN list SQLite's planner
        # otherwise walks every solved ticket by status (40 s, not 2 ms).
        # (Its condition in WHERE: PostgreSQL takes no ON after CROSS JOIN.)
        f"SELECT m.id, m.ticket_id FROM messages m CROSS JOIN tickets t"
        f" WHERE t.id = m.ticket_id AND m.id IN ({marks}) AND m.direction = 'in'"
        " AND t.status IN ('solved', 'closed')"
        " AND t.merged_into IS NULL AND t.id != ?",
        [*message_ids, -1 if exclude_ticket is None else exclude_ticket])}


def question_and_answer(store: Store, ticket_id: int, message_id: int | None = None, *,
                        tags: bool = True) -> dict[str, Any] | None:
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
    return {"ticket_id": ticket_id, "subject": t["subject"], "status": t["status"],
            "question": q[0], "answer": a[0],
            "tags": [r[0] for r in store.conn.execute(
                "SELECT tag FROM tags WHERE ticket_id = ? ORDER BY tag", [ticket_id])] if tags else []}


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
