"""The event log is written on every change (a sync writes several rows a
message), so it carries only the indexes something reads through (m026):
each way the store reads events is a search of one of them, never a scan
of the whole log."""

from __future__ import annotations

from pathlib import Path

from supportctl.store.db import Store

READS = {
    # workflows.auto_replies_since / sends: the auto-reply limit per contact
    "SELECT count(*) FROM events WHERE contact_id = 7 AND action = 'auto_reply' AND at >= 'x'":
        "events_contact_action",
    # read.events_json, sla: a ticket's timeline
    "SELECT * FROM events WHERE ticket_id = 7 ORDER BY id": "events_ticket",
    "SELECT at, detail FROM events WHERE ticket_id = 7 AND action = 'status' ORDER BY id": "events_ticket",
}


def test_every_read_of_the_event_log_uses_an_index(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    indexes = {r[0] for r in store.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'")}
    assert "events_action_at" not in indexes  # read by nothing since m025
    for sql, index in READS.items():
        plan = " ".join(str(r[-1]) for r in store.execute("EXPLAIN QUERY PLAN " + sql))
        assert f"USING INDEX {index}" in plan, (sql, plan)


def test_events_without_a_contact_are_not_in_the_contact_index(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    sql = store.scalar("SELECT sql FROM sqlite_master WHERE name = 'events_contact_action'")
    assert "WHERE contact_id IS NOT NULL" in sql
