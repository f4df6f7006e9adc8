"""What a message's rules write goes in a few statements with what ingest
has not written yet (a new ticket's ``history`` tag, the ``message.in``
event): the rows, their order in the event log and the SLA marks are
those one statement per row wrote. On both engines."""

from __future__ import annotations

import json
from typing import Any

from supportctl.config import Config, Rule
from supportctl.models import Address, Batch, Inbound
from supportctl.services import ingest


def _put(store: Any, config: Config, mid: str, subject: str, text: str, **kw: Any) -> int:
    item = Inbound(medium="email", raw=f"raw {mid}".encode(), external_id=mid,
                   sender=Address(f"{mid}@example.com", "Ann"), to=[Address("help@shop.example")],
                   subject=subject, text=text)
    settings = ingest.IngestSettings(account="mem", actor="sync", config=config,
                                     own_addresses={"help@shop.example"}, **kw)
    res = ingest.ingest_batch(store, Batch("x", None, [item]), settings).results[0]
    assert res.ticket_id is not None
    return res.ticket_id


def _log(store: Any, tid: int) -> list[tuple[str, str, dict[str, Any]]]:
    return [(r[0], r[1], json.loads(r[2])) for r in store.execute(
        "SELECT actor, action, detail FROM events WHERE ticket_id = ? ORDER BY id", [tid])]


CONFIG = Config(rules=[
    Rule(name="refunds", match={"subject": "refund"}, tag=["Refund", "money"], priority="high"),
    Rule(name="orders", match={"text": r"order\s*#?\d{4}"}, assign="marta"),
])


def test_history_and_the_message_event_go_in_with_the_rules_rows(any_store: Any) -> None:
    tid = _put(any_store, CONFIG, "a", "Refund please", "my order #1234", history=True)
    log = _log(any_store, tid)
    assert [(a, act) for a, act, _ in log] == [
        ("sync", "create"), ("sync", "message.in"), ("rule:refunds", "tag"),
        ("rule:refunds", "tag"), ("rule:refunds", "priority"), ("rule:orders", "assign")]
    assert log[1][2]["history"] is True and log[1][2]["account"] == "mem"
    assert log[4][2] == {"old": "normal", "new": "high"}
    tags = {r[0] for r in any_store.execute("SELECT tag FROM tags WHERE ticket_id = ?", [tid])}
    assert tags == {"history", "refund", "money"}
    assert any_store.scalar("SELECT display FROM tag_names WHERE tag = 'refund'") == "Refund"
    # ingest's own tag has no display name of its own, as before
    assert any_store.scalar("SELECT display FROM tag_names WHERE tag = 'history'") is None
    row = any_store.one("SELECT priority, assignee, first_response_due FROM tickets WHERE id = ?",
                        [tid])
    assert (row[0], row[1], row[2]) == ("high", "marta", None)


def test_a_message_no_rule_matches_keeps_its_tag_and_event(any_store: Any) -> None:
    tid = _put(any_store, CONFIG, "b", "Hello", "nothing to see", history=True)
    assert [act for _, act, _ in _log(any_store, tid)] == ["create", "message.in"]
    assert [r[0] for r in any_store.execute("SELECT tag FROM tags WHERE ticket_id = ?", [tid])] \
        == ["history"]
    # A message that opts its contact out: that event comes between the
    # message's and the rules', as it did.
    before = any_store.scalar("SELECT max(id) FROM events")
    _put(any_store, CONFIG, "c", "Refund", "STOP")
    assert [r[0] for r in any_store.execute(
        "SELECT action FROM events WHERE id > ? ORDER BY id", [before])] == [
        "create", "message.in", "contact.opt_out", "tag", "tag", "priority"]
