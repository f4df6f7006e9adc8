"""SQL for the workflows of SPEC §10: detected languages, CSAT questions
and answers, opt-outs, and the round-robin state of rules. Services call
these functions by what they do; none of them opens a transaction (the
caller's ``Store.tx()`` holds every step of one change together)."""

from __future__ import annotations

from typing import Any

from supportctl.store.db import Store, event_detail

# -- languages ------------------------------------------------------------


def set_message_language(store: Store, message_id: int, language: str | None) -> None:
    store.execute("UPDATE messages SET language = ? WHERE id = ?", [language, message_id])


def set_contact_language(store: Store, contact_id: int, language: str, now: str) -> None:
    store.execute("UPDATE contacts SET language = ?, updated_at = ? WHERE id = ? "
                  "AND language IS DISTINCT FROM ?", [language, now, contact_id, language])


def contact_language(store: Store, contact_id: int | None) -> str | None:
    if contact_id is None:
        return None
    lang: str | None = store.scalar("SELECT language FROM contacts WHERE id = ?", [contact_id])
    return lang


def any_spam_senders(store: Store) -> bool:
    """Whether any sender is on record as spam (``tickets.mark_spam``)."""
    return bool(store.scalar("SELECT 1 FROM spam_senders LIMIT 1"))


def is_spam_sender(store: Store, kind: str, address: str) -> bool:
    """Whether this (normalised) identity is on record as spam."""
    return bool(store.scalar("SELECT 1 FROM spam_senders WHERE kind = ? AND address = ?",
                             [kind, address]))


def ticket_contact(store: Store, ticket_id: int) -> int | None:
    cid: int | None = store.scalar("SELECT contact_id FROM tickets WHERE id = ?", [ticket_id])
    return cid


# -- opt-out --------------------------------------------------------------


def set_opted_out(store: Store, contact_id: int, at: str) -> bool:
    """Mark a contact opted out; True if they were not already."""
    cur = store.execute(
        "UPDATE contacts SET opted_out_at = ?, updated_at = ? WHERE id = ? AND opted_out_at IS NULL",
        [at, at, contact_id],
    )
    return bool(cur.rowcount)


def opted_out_at(store: Store, contact_id: int | None) -> str | None:
    if contact_id is None:
        return None
    at: str | None = store.scalar("SELECT opted_out_at FROM contacts WHERE id = ?", [contact_id])
    return at


# -- CSAT -----------------------------------------------------------------


def csat_due(store: Store, solved_before: str) -> list[int]:
    """Solved tickets, solved before ``solved_before``, never asked, whose
    contact has not opted out and which are not spam, bounces or merged;
    oldest first."""
    return [
        r[0]
        for r in store.execute(
            "SELECT t.id FROM tickets t JOIN contacts c ON c.id = t.contact_id "
            "WHERE t.status = 'solved' AND t.solved_at <= ? AND t.merged_into IS NULL "
            "AND c.opted_out_at IS NULL AND c.forgotten_at IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM csat q WHERE q.ticket_id = t.id) "
            "AND NOT EXISTS (SELECT 1 FROM tags g WHERE g.ticket_id = t.id "
            "                AND g.tag IN ('spam', 'bounce')) "
            "ORDER BY t.solved_at, t.id",
            [solved_before],
        )
    ]


def ticket_route(store: Store, ticket_id: int) -> Any:
    """Channel, account and contact of a ticket (where a question goes), or None."""
    return store.one("SELECT channel, account, contact_id FROM tickets WHERE id = ?", [ticket_id])


def ticket_has_automated_inbound(store: Store, ticket_id: int) -> bool:
    """Whether a message on the ticket came from an automated sender
    (SPEC §4 flags kept in ``auto_reason``)."""
    return bool(store.scalar(
        "SELECT 1 FROM messages WHERE ticket_id = ? AND direction = 'in' "
        "AND auto_reason IS NOT NULL AND auto_reason != '' LIMIT 1", [ticket_id]))


def record_csat_asked(store: Store, ticket_id: int, contact_id: int | None, asked_at: str,
                      outbox_id: int | None) -> None:
    store.execute(
        "INSERT INTO csat (ticket_id, contact_id, asked_at, outbox_id) VALUES (?, ?, ?, ?)",
        [ticket_id, contact_id, asked_at, outbox_id],
    )


def open_csat_for_contact(store: Store, contact_id: int, asked_since: str) -> int | None:
    """The ticket of this contact's latest unanswered CSAT question asked
    since ``asked_since``."""
    tid: int | None = store.scalar(
        "SELECT ticket_id FROM csat WHERE contact_id = ? AND answered_at IS NULL "
        "AND asked_at >= ? ORDER BY asked_at DESC, ticket_id DESC LIMIT 1",
        [contact_id, asked_since],
    )
    return tid


def record_csat_answer(store: Store, ticket_id: int, rating: int, comment: str,
                       answered_at: str, message_id: int | None) -> None:
    store.execute(
        "UPDATE csat SET rating = ?, comment = ?, answered_at = ?, message_id = ? "
        "WHERE ticket_id = ?",
        [rating, comment or None, answered_at, message_id, ticket_id],
    )


def csat_of(store: Store, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Ticket JSON ``csat`` objects for the tickets that were asked."""
    if not ids:
        return {}
    marks = ", ".join(str(int(i)) for i in ids)
    return {
        r[0]: {"asked_at": r[1], "rating": r[2], "comment": r[3], "answered_at": r[4]}
        for r in store.conn.execute(
            f"SELECT ticket_id, asked_at, rating, comment, answered_at FROM csat "
            f"WHERE ticket_id IN ({marks})"
        )
    }


# -- rules ----------------------------------------------------------------


def last_assignee(store: Store, rule: str) -> str | None:
    name: str | None = store.scalar("SELECT last_assignee FROM rule_state WHERE rule = ?", [rule])
    return name


def set_last_assignee(store: Store, rule: str, name: str) -> None:
    store.execute(
        "INSERT INTO rule_state (rule, last_assignee) VALUES (?, ?) "
        "ON CONFLICT (rule) DO UPDATE SET last_assignee = excluded.last_assignee",
        [rule, name],
    )


def open_counts(store: Store, names: list[str]) -> dict[str, int]:
    """Not-yet-solved tickets per agent (new, open, pending)."""
    counts = dict.fromkeys(names, 0)
    if not names:
        return counts
    marks = ", ".join("?" for _ in names)
    for name, n in store.execute(
        f"SELECT assignee, count(*) FROM tickets WHERE assignee IN ({marks}) "
        "AND status IN ('new', 'open', 'pending') GROUP BY assignee",
        names,
    ):
        counts[name] = n
    return counts


def ticket_tags(store: Store, ticket_id: int) -> set[str]:
    return {r[0] for r in store.execute("SELECT tag FROM tags WHERE ticket_id = ?", [ticket_id])}


def contact_ticket_count(store: Store, contact_id: int | None) -> int:
    if contact_id is None:
        return 0
    return int(store.scalar("SELECT count(*) FROM tickets WHERE contact_id = ?", [contact_id]) or 0)


def last_inbound(store: Store, ticket_id: int) -> Any:
    return store.one(
        "SELECT * FROM messages WHERE ticket_id = ? AND direction = 'in' ORDER BY id DESC LIMIT 1",
        [ticket_id],
    )


def contact_inbound_count(store: Store, contact_id: int | None, except_message: int | None) -> int:
    """Inbound messages of a contact other than ``except_message``."""
    if contact_id is None:
        return 0
    return int(store.scalar(
        "SELECT count(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id "
        "WHERE t.contact_id = ? AND m.direction = 'in' AND m.id IS DISTINCT FROM ?",
        [contact_id, except_message]) or 0)


def auto_replies_since(store: Store, contact_id: int, since: str) -> int:
    return int(store.scalar(
        "SELECT count(*) FROM events WHERE contact_id = ? AND action = 'auto_reply' AND at >= ?",
        [contact_id, since]) or 0)


def queued_automatic(store: Store, account: str) -> list[int]:
    """Automatic messages (rule replies, CSAT questions) queued for
    ``account`` and not yet tried: ``sync``, which queued them under its
    lock, sends them in the same run."""
    return [r[0] for r in store.execute(
        "SELECT id FROM outbox WHERE account = ? AND state = 'queued' AND attempts = 0 "
        f"AND {store.sql.json_true('payload', 'auto')} ORDER BY id", [account])]


def last_inbound_at(store: Store, ticket_id: int, channel: str) -> str | None:
    at: str | None = store.scalar(
        "SELECT max(sent_at) FROM messages WHERE ticket_id = ? AND direction = 'in' "
        "AND channel = ?", [ticket_id, channel])
    return at


def rule_facts(store: Store, ticket_id: int) -> tuple[str, int | None, set[str]] | None:
    """What rules look at on a ticket, in one query: its priority, contact
    and tags; None when there is no such ticket."""
    row = store.one(
        f"SELECT priority, contact_id, (SELECT {store.sql.group_concat('tag', store.sql.char(31))}"
        " FROM tags WHERE ticket_id = t.id) FROM tickets t WHERE id = ?", [ticket_id])
    if row is None:
        return None
    return row[0], row[1], set(row[2].split("\x1f")) if row[2] else set()


def write_rule_changes(store: Store, ticket_id: int, changes: list[tuple[str, str, Any]],
                       at: str, *, quiet_tags: list[str] | None = None,
                       first_events: list[tuple[str, str, dict[str, Any]]] | None = None) -> None:
    """The tags and priority changes rules made to a ticket, each with its
    event, in the rules' order: ``(actor, "tag", tag)`` for a tag the
    ticket does not have yet, ``(actor, "priority", (old, new))``. A few
    statements for the lot (a sync runs rules on every new message): one
    multi-row INSERT for the tags and one for the events, whose rows (and
    the triggers each row fires) come in the same order as one statement
    per row would write them. ``quiet_tags`` (lower case, not on the
    ticket yet) go in first, without events or display names, as
    ``tickets.add_tag`` writes ingest's own (``history``); so do
    ``first_events`` (actor, action, detail), as ``Store.event`` writes
    them (ingest's ``message.in``)."""
    tags = [value for _, action, value in changes if action == "tag"]
    if tags:
        # shown as first typed (`VIP`), filtered by the lower-case key
        remember_tag_names(store, tags)
    if tags or quiet_tags:
        rows: list[Any] = []
        for tag in quiet_tags or ():
            rows += (ticket_id, tag)
        for tag in tags:
            rows += (ticket_id, tag.lower())
        store.execute(_rows_sql("INSERT INTO tags (ticket_id, tag) VALUES {} ON CONFLICT DO NOTHING",
                                2, len(rows) // 2), rows)
    for _, action, value in changes:
        if action == "priority":
            # one UPDATE per change, as a person's would be (the SLA trigger
            # sees each)
            store.execute("UPDATE tickets SET priority = ?, updated_at = ? WHERE id = ?",
                          [value[1], at, ticket_id])
    rows = []
    for actor, action, detail in first_events or ():
        rows += (ticket_id, actor, action, event_detail(detail), at)
    for actor, action, value in changes:
        rows += (ticket_id, actor, action,
                 _tag_detail(value) if action == "tag" else _priority_detail(value), at)
    if rows:
        store.execute(_rows_sql("INSERT INTO events (ticket_id, actor, action, detail, at) "
                                "VALUES {}", 5, len(rows) // 5), rows)


_rows_sqls: dict[tuple[str, int, int], str] = {}


def _rows_sql(template: str, width: int, n: int) -> str:
    """``template`` with ``n`` rows of ``width`` placeholders for ``{}``
    (made once per shape: the connection's statement cache keys on the text)."""
    key = (template, width, n)
    sql = _rows_sqls.get(key)
    if sql is None:
        row = "(" + ", ".join("?" * width) + ")"
        sql = _rows_sqls[key] = template.format(", ".join([row] * n))
    return sql


_priority_details: dict[tuple[str, str], str] = {}


def _priority_detail(change: tuple[str, str]) -> str:
    """A ``priority`` event's detail, (old, new) (a few pairs)."""
    detail = _priority_details.get(change)
    if detail is None:
        if len(_priority_details) > 1000:
            _priority_details.clear()
        detail = _priority_details[change] = event_detail({"new": change[1], "old": change[0]})
    return detail


_tag_details: dict[str, str] = {}


def _tag_detail(tag: str) -> str:
    """A ``tag`` event's detail (the same few tags, message after message)."""
    detail = _tag_details.get(tag)
    if detail is None:
        if len(_tag_details) > 10_000:
            _tag_details.clear()
        detail = _tag_details[tag] = event_detail({"tag": tag.lower()})
    return detail


def remember_tag_name(store: Store, typed: str) -> None:
    """The first form typed for a tag is how people see it (``VIP``)."""
    remember_tag_names(store, [typed])


def remember_tag_names(store: Store, typed: list[str]) -> None:
    """``remember_tag_name`` for several tags, in one statement. A tag
    whose name this transaction already stored or found is not written
    again (``Store.tx_memo``: a sync tags thousands of tickets with the
    same few names)."""
    import sqlite3

    known: set[str] = store.tx_memo().setdefault("tag_names", set())
    new: dict[str, str] = {}
    for t in typed:
        k = t.lower()
        if k not in known and k not in new:
            new[k] = t  # the first typed form of each, as ON CONFLICT DO NOTHING keeps
    if not new:
        return
    try:
        store.executemany("INSERT INTO tag_names (tag, display) VALUES (?, ?) ON CONFLICT DO NOTHING",
                          list(new.items()))
    except sqlite3.OperationalError as exc:
        # A store whose version number already passed m015 before m015 was
        # merged: the tag still works, shown by its key until `db migrate`.
        if "no such table" not in str(exc):
            raise
        return
    known.update(new)


def forget_csat_comments(store: Store, ticket_ids: list[int]) -> None:
    """A forgotten person's words go; their ratings stay as anonymous counts."""
    marks = ", ".join(str(int(t)) for t in ticket_ids) or "NULL"
    store.execute(f"UPDATE csat SET comment = NULL WHERE ticket_id IN ({marks})")
