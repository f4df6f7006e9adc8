"""The tag triggers mark tickets for an SLA recompute (a policy may match on
tags): the tagged ticket, and the same contact's other tickets that are not
closed; nobody else's. Whatever form the triggers take (m008 wrote one
UPDATE with an OR; m021 two statements), these are the rows marked."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from supportctl.store.db import Store

STATUSES = ("new", "open", "pending", "solved", "closed")
_STORE: list[Store] = []


def _empty_store() -> Store:
    """One store for every example (made once: migrations take seconds),
    emptied before each."""
    if not _STORE:
        _STORE.append(Store(Path(tempfile.mkdtemp(prefix="sla-marks-")) / "s.db"))
    store = _STORE[0]
    with store.tx():
        for table in ("tags", "tickets", "contacts"):
            store.execute(f"DELETE FROM {table}")
    return store


@settings(max_examples=40, deadline=None)
@given(tickets=st.lists(st.tuples(st.integers(1, 3), st.sampled_from(STATUSES)),
                        min_size=1, max_size=8),
       pick=st.integers(0, 7), remove=st.booleans())
def test_a_tag_marks_the_ticket_and_its_contacts_open_tickets(
        tickets: list[tuple[int, str]], pick: int, remove: bool) -> None:
    store = _empty_store()
    with store.tx():
        for c in (1, 2, 3):
            store.execute("INSERT INTO contacts (id, name, created_at, updated_at) "
                          "VALUES (?, '', 'x', 'x')", [c])
        for n, (contact, status) in enumerate(tickets, 1):
            store.execute(
                "INSERT INTO tickets (id, status, priority, subject, channel, contact_id, "
                "created_at, updated_at, sla_stale) VALUES (?, ?, 'normal', 's', 'sms', ?, "
                "'2026-12-01', '2026-12-01', 0)", [n, status, contact])
    target = pick % len(tickets) + 1
    with store.tx():
        if remove:
            store.execute("INSERT INTO tags (ticket_id, tag) VALUES (?, 'vip')", [target])
            store.execute("UPDATE tickets SET sla_stale = 0")
            store.execute("DELETE FROM tags WHERE ticket_id = ?", [target])
        else:
            store.execute("INSERT INTO tags (ticket_id, tag) VALUES (?, 'vip')", [target])
    marked = {r[0] for r in store.execute("SELECT id FROM tickets WHERE sla_stale = 1")}
    contact = tickets[target - 1][0]
    want = {target} | {n for n, (c, s) in enumerate(tickets, 1)
                       if c == contact and s != "closed"}
    assert marked == want
