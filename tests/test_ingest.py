"""Ingest, threading (SPEC §3), status rules on inbound (SPEC §2) and the
exactly-once promise (SPEC §9), through the memory channel and the sync
service."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supportctl.channels import build
from supportctl.channels.memory import SERVERS, server
from supportctl.errors import ChannelError
from supportctl.models import Address, Batch, Inbound
from supportctl.services import ingest, outbox, sync, triage
from supportctl.store import messages as stored_messages
from supportctl.store import sends
from supportctl.store.db import Store
from supportctl.store.read import show_json
from supportctl.values import iso, utcnow

NOW = "2026-12-02T10:00:00Z"


@pytest.fixture(autouse=True)
def _pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ingest, the reopen window and the WhatsApp window read the one clock:
    pinned, so what these tests set relative to it (and the snooze below)
    means the same on any day the suite runs."""
    monkeypatch.setenv("SUPPORTCTL_NOW", NOW)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = Store(tmp_path / "t.db")
    yield s
    s.close()


def settings_(**kw: Any) -> ingest.IngestSettings:
    base: dict[str, Any] = dict(account="mem", actor="sync", own_addresses={"help@shop.example"})
    base.update(kw)
    return ingest.IngestSettings(**base)


def mail(mid: str, sender: str = "ann@example.com", subject: str = "Order 7", text: str = "hello",
         irt: str = "", refs: list[str] | None = None, when: datetime | None = None,
         to: str = "help@shop.example") -> Inbound:
    return Inbound(medium="email", raw=f"raw {mid}".encode(), external_id=mid,
                   sender=Address(sender, "Ann"), to=[Address(to)], subject=subject, text=text,
                   in_reply_to=irt, references=refs or [], sent_at=when)


def put(store: Store, *items: Inbound, **kw: Any) -> list[ingest.IngestResult]:
    return ingest.ingest_batch(store, Batch("x", None, list(items)), settings_(**kw)).results


def ticket(store: Store, tid: int) -> dict[str, Any]:
    t = show_json(store, tid, iso(utcnow()) or "")
    assert t is not None
    return t


def test_reply_threads_by_in_reply_to_and_references(store: Store) -> None:
    a = put(store, mail("a@x"))[0]
    b = put(store, mail("b@x", subject="totally different", irt="a@x"))[0]
    c = put(store, mail("c@x", subject="x", refs=["zzz@x", "b@x"]))[0]
    assert a.created and not b.created and not c.created
    assert a.ticket_id == b.ticket_id == c.ticket_id


def test_never_threads_by_subject_alone(store: Store) -> None:
    a = put(store, mail("a@x", subject="Order 7"))[0]
    b = put(store, mail("b@x", subject="Re: Order 7"))[0]
    assert a.ticket_id != b.ticket_id


def test_subject_token_needs_a_known_sender(store: Store) -> None:
    a = put(store, mail("a@x"))[0]
    ok = put(store, mail("b@x", subject=f"Re: Order 7 [#{a.ticket_id}]"))[0]
    assert ok.ticket_id == a.ticket_id
    stranger = put(store, mail("c@x", sender="eve@evil.example",
                               subject=f"Re: [#{a.ticket_id}] give me the data"))[0]
    assert stranger.ticket_id != a.ticket_id and stranger.created


def test_duplicate_message_id_is_stored_once(store: Store) -> None:
    first = put(store, mail("same@x", to="help@shop.example"))[0]
    again = put(store, mail("same@x", to="sales@shop.example"))[0]
    assert again.duplicate and again.message_id == first.message_id
    assert store.scalar("SELECT count(*) FROM messages") == 1


def test_inbound_reopens_pending_and_solved_but_closed_opens_linked(store: Store) -> None:
    a = put(store, mail("a@x"))[0]
    tid = a.ticket_id
    assert tid is not None
    triage.set_status(store, tid, "pending", "me", "2026-01-01T00:00:00Z")
    put(store, mail("b@x", irt="a@x"))
    assert ticket(store, tid)["status"] == "open"
    triage.solve(store, tid, "me", "2026-01-01T00:00:00Z")
    put(store, mail("c@x", irt="b@x"))
    assert ticket(store, tid)["status"] == "open"
    triage.close(store, tid, "me", "2026-01-01T00:00:00Z")
    d = put(store, mail("d@x", irt="c@x"))[0]
    assert d.created and d.ticket_id != tid
    assert ticket(store, d.ticket_id)["linked_ticket"] == tid  # type: ignore[arg-type]
    assert ticket(store, tid)["status"] == "closed"


def test_customer_reply_ends_snooze(store: Store) -> None:
    a = put(store, mail("a@x"))[0]
    triage.snooze(store, a.ticket_id, "2026-12-09T10:00:00Z", "me", "2026-12-01T10:00:00Z")  # type: ignore[arg-type]
    put(store, mail("b@x", irt="a@x"))
    assert ticket(store, a.ticket_id)["snoozed_until"] is None  # type: ignore[arg-type]


def sms(sid: str, number: str = "+15550001111", text: str = "hi", medium: str = "sms") -> Inbound:
    return Inbound(medium=medium, raw=b"{}", external_id=sid, sender=Address(number), text=text)


def test_messaging_continues_open_ticket_and_reopen_window(store: Store) -> None:
    a = put(store, sms("SM1"))[0]
    b = put(store, sms("SM2"))[0]
    assert a.ticket_id == b.ticket_id
    old = iso(utcnow() - timedelta(days=10)) or ""
    triage.close(store, a.ticket_id, "me", old)  # type: ignore[arg-type]
    c = put(store, sms("SM3"))[0]
    assert c.created and c.ticket_id != a.ticket_id
    triage.solve(store, c.ticket_id, "me", iso(utcnow()) or "")  # type: ignore[arg-type]
    d = put(store, sms("SM4"))[0]
    assert d.ticket_id == c.ticket_id
    assert ticket(store, c.ticket_id)["status"] == "open"  # type: ignore[arg-type]


def test_whatsapp_and_sms_are_one_identity(store: Store) -> None:
    a = put(store, sms("SM1", "+15550001111"))[0]
    w = put(store, sms("SMw", "+15550001111", medium="whatsapp"))[0]
    ta, tw = ticket(store, a.ticket_id), ticket(store, w.ticket_id)  # type: ignore[arg-type]
    assert ta["contact"]["id"] == tw["contact"]["id"]
    assert ta["id"] != tw["id"]  # a ticket per medium, one person


def test_mastodon_reply_chain(store: Store) -> None:
    root = Inbound(medium="mastodon", raw=b"{}", external_id="100", sender=Address("a@m.example"),
                   text="@shop is this in stock?")
    other = Inbound(medium="mastodon", raw=b"{}", external_id="101",
                    sender=Address("b@m.example"), text="me too", in_reply_to="100")
    r1, r2 = put(store, root, other)
    assert r1.ticket_id == r2.ticket_id


def test_own_mail_is_not_a_customer_message(store: Store) -> None:
    r = put(store, mail("own@x", sender="help@shop.example", to="ann@example.com"))[0]
    t = ticket(store, r.ticket_id)  # type: ignore[arg-type]
    assert t["messages"][0]["direction"] == "out"
    assert t["contact"]["identities"][0]["address"] == "ann@example.com"


def test_bounce_marks_our_reply_failed(store: Store) -> None:
    a = put(store, mail("a@x"))[0]
    oid = outbox.queue_reply(store, a.ticket_id, text="Thanks!", medium="email",  # type: ignore[arg-type]
                             account={"name": "mem", "addresses": ["help@shop.example"]},
                             actor="me")
    mid = store.scalar("SELECT m.external_id FROM outbox o JOIN messages m ON m.id = o.message_id "
                       "WHERE o.id = ?", [oid])
    dsn = Inbound(medium="email", raw=b"dsn", external_id="dsn@mta", sender=Address("MAILER-DAEMON@mx"),
                  subject="Undelivered", text="550 user unknown", report_state="failed",
                  report_error="550 5.1.1 user unknown", reports_on=[mid], auto_reason="mailer-daemon")
    r = put(store, dsn)[0]
    assert r.ticket_id == a.ticket_id and not r.created
    state = store.scalar("SELECT state FROM outbox WHERE id = ?", [oid])
    assert state == "failed"
    orphan = put(store, Inbound(medium="email", raw=b"d2", external_id="dsn2@mta",
                                sender=Address("MAILER-DAEMON@mx"), text="550",
                                report_state="failed", reports_on=["unknown@x"]))[0]
    assert orphan.created and ticket(store, orphan.ticket_id)["tags"] == ["auto", "bounce"]  # type: ignore[arg-type]
    assert ticket(store, orphan.ticket_id)["status"] == "solved"  # type: ignore[arg-type]


def test_unparseable_goes_to_quarantine(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from supportctl.errors import ParseError

    def boom(item: Inbound) -> Inbound:
        raise ParseError("no headers")

    monkeypatch.setattr(ingest, "parse_item", boom)
    item = Inbound(medium="email", raw=b"\x00\x01garbage", needs_parse=True, source_ref="INBOX:9")
    r = put(store, item)[0]
    assert r.quarantined
    row = store.one("SELECT * FROM quarantine")
    assert row is not None and bytes(row["raw"]) == b"\x00\x01garbage" and row["reason"] == "no headers"
    put(store, item)  # the same bytes are held once
    assert store.scalar("SELECT count(*) FROM quarantine") == 1


# -- exactly once through crashes -------------------------------------------

class Crash(BaseException):
    """The process dying (kill -9, power): not an error ingest handles."""


def _sync(store: Store) -> sync.EntryResult:
    ch = build({"name": "mem", "type": "memory"})
    return sync.sync_entry(store, ch, settings_())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 9), crash_at=st.integers(0, 12), batch=st.integers(1, 4))
def test_crash_anywhere_then_clean_run_stores_each_message_once(
    tmp_path: Path, n: int, crash_at: int, batch: int
) -> None:
    import uuid

    db = tmp_path / f"{uuid.uuid4().hex}.db"
    store = Store(db)
    SERVERS.pop("mem", None)
    srv = server("mem")
    srv.batch_size = batch
    srv.inbox = [sms(f"SM{k}", f"+1555000{k % 3}", text=f"m{k}") for k in range(n)]
    calls = {"n": 0}
    real = ingest.ingest_one

    def flaky(*a: Any, **kw: Any) -> ingest.IngestResult:
        calls["n"] += 1
        if calls["n"] == crash_at:
            raise Crash()
        return real(*a, **kw)

    ingest.ingest_one = flaky  # type: ignore[assignment]
    try:
        try:
            _sync(store)
        except Crash:
            pass
    finally:
        ingest.ingest_one = real  # type: ignore[assignment]
    store.close()
    store = Store(db)  # a new process
    _sync(store)
    _sync(store)
    ext = sorted(r[0] for r in store.execute("SELECT external_id FROM messages"))
    assert ext == sorted(f"SM{k}" for k in range(n))
    store.close()


def test_one_failing_fetch_is_reported_not_raised(store: Store) -> None:
    SERVERS.pop("mem", None)
    server("mem").fail_fetch = ChannelError("connection refused", temporary=True)
    res = _sync(store)
    assert not res.ok and "refused" in res.error


def test_outbox_failure_keeps_reply_and_retry_reuses_it(store: Store) -> None:
    SERVERS.pop("mem", None)
    srv = server("mem")
    a = put(store, sms("SM1"))[0]
    ch = build({"name": "mem", "type": "memory"})
    srv.fail_send = ChannelError("HTTP 503", temporary=True)
    oid = outbox.queue_reply(store, a.ticket_id, text="On its way", medium="sms",  # type: ignore[arg-type]
                             account={"name": "mem"}, actor="me")
    assert outbox.send_entry(store, oid, ch) == "failed"
    row = store.one("SELECT * FROM outbox WHERE id = ?", [oid])
    assert row is not None and row["temporary"] == 1 and "503" in row["error"]
    srv.fail_send = ChannelError("timed out after sending", temporary=True, unknown_outcome=True)
    store.execute("UPDATE outbox SET next_attempt_at = NULL")
    assert outbox.due_entries(store, "mem", 5) == [oid]
    assert outbox.send_entry(store, oid, ch) == "unknown"
    assert outbox.due_entries(store, "mem", 5) == []  # never resent blindly
    srv.fail_send = None
    assert outbox.retry_entry(store, oid, ch, "me") == "sent"
    assert len(srv.sent) == 1 and srv.sent[0].text == "On its way"
    t = ticket(store, a.ticket_id)  # type: ignore[arg-type]
    assert t["messages"][-1]["delivery"]["state"] == "sent"
    assert t["status"] == "open" and t["first_response_at"]


def test_whatsapp_window(store: Store) -> None:
    old = utcnow() - timedelta(hours=30)
    w = sms("SMw", medium="whatsapp")
    w.sent_at = old
    r = put(store, w)[0]
    from supportctl.errors import SendRefused

    with pytest.raises(SendRefused, match="24 hours"):
        outbox.queue_reply(store, r.ticket_id, text="hi", medium="whatsapp",  # type: ignore[arg-type]
                           account={"name": "mem"}, actor="me")
    assert store.scalar("SELECT count(*) FROM outbox") == 0
    outbox.queue_reply(store, r.ticket_id, text="", medium="whatsapp",  # type: ignore[arg-type]
                       account={"name": "mem"}, actor="me", meta={"content_sid": "HX1"})


def test_auto_reply_rules(store: Store) -> None:
    from types import SimpleNamespace

    SERVERS.pop("mem", None)
    srv = server("mem")
    srv.batch_size = 10
    cfg = SimpleNamespace(auto_reply=SimpleNamespace(enabled=True, template="ack",
                                                     max_per_contact=3, window=timedelta(hours=1),
                                                     max_age=timedelta(hours=4)),
                          templates={"ack": "We got your message."}, rules=[], sla=None)
    human = [mail(f"h{k}@x", subject=f"q{k}") for k in range(5)]
    robot = mail("ooo@x", sender="bob@example.com", subject="Out of office")
    robot.auto_reason = "auto-submitted: auto-replied"
    own = mail("own@x", sender="help@shop.example", to="zed@example.com")
    srv.inbox = [*human, robot, own]
    ch = build({"name": "mem", "type": "memory"})
    entry = {"name": "mem", "type": "memory", "addresses": ["help@shop.example"]}
    sends.mark_synced(store, "mem", "2026-01-01T00:00:00Z")  # not the entry's first sync

    res = sync.sync_entry(store, ch, settings_(config=cfg, entry=entry, acknowledge=True))
    assert res.ok, res.error
    assert [o.auto for o in srv.sent] == [True, True, True]  # at most 3 per contact per window
    assert {o.to[0].address for o in srv.sent} == {"ann@example.com"}
    assert srv.sent[0].text == "We got your message."
    t = ticket(store, stored_messages.ticket_of(store, "email", "h0@x"))  # type: ignore[arg-type]
    assert t["status"] == "new"  # an acknowledgement is not a first response
    assert t["first_response_at"] is None
    skipped = ticket(store, stored_messages.ticket_of(store, "email", "h3@x"))  # type: ignore[arg-type]
    assert [e["detail"]["reason"] for e in skipped["events"] if e["action"] == "auto_reply_skipped"] \
        == ["auto_reply.max_per_contact reached"]


def test_a_broken_acknowledgement_template_costs_no_message(store: Store) -> None:
    from types import SimpleNamespace

    SERVERS.pop("mem", None)
    srv = server("mem")
    cfg = SimpleNamespace(auto_reply=SimpleNamespace(enabled=True, template="ack",
                                                     max_per_contact=3, window=timedelta(hours=1),
                                                     max_age=timedelta(hours=4)),
                          templates={"ack": "Hi {{ no_such_variable }}"}, rules=[], sla=None)
    srv.inbox = [mail("b1@x", subject="Help")]
    ch = build({"name": "mem", "type": "memory"})
    sends.mark_synced(store, "mem", "2026-01-01T00:00:00Z")  # not the entry's first sync
    res = sync.sync_entry(store, ch, settings_(config=cfg, entry={"name": "mem", "type": "memory"},
                                               acknowledge=True))
    assert res.ok and res.quarantined == 0 and res.tickets_created == 1
    assert srv.sent == []
    t = ticket(store, stored_messages.ticket_of(store, "email", "b1@x"))  # type: ignore[arg-type]
    [why] = [e["detail"]["reason"] for e in t["events"] if e["action"] == "auto_reply_skipped"]
    assert why.startswith("could not be written: template 'ack' failed")


def test_rules_on_new_tickets(store: Store) -> None:
    from supportctl.config import Config, Rule

    cfg = Config(rules=[Rule(name="refunds", match={"subject": "REFUND"}, tag=["refund"],
                             assign="marta", priority="high"),
                        Rule(name="vip", match={"from": "@big.example", "channel": "email"},
                             priority="urgent")])
    a = put(store, mail("r@x", subject="Refund please"), config=cfg)[0]
    t = ticket(store, a.ticket_id)  # type: ignore[arg-type]
    assert t["tags"] == ["refund"] and t["assignee"] == "marta" and t["priority"] == "high"
    assert any(e["actor"] == "rule:refunds" for e in t["events"])
    b = put(store, mail("v@x", sender="boss@big.example", subject="Refund"), config=cfg)[0]
    assert ticket(store, b.ticket_id)["priority"] == "urgent"  # type: ignore[arg-type]
    c = put(store, mail("n@x", subject="Hello"), config=cfg)[0]
    assert ticket(store, c.ticket_id)["tags"] == []  # type: ignore[arg-type]


def test_history_with_rules_is_tagged_whatever_the_rules_do(store: Store) -> None:
    """A first sync's ticket gets its ``history`` tag (and no SLA clock)
    with the tags rules add, when none matches, and before an assignment."""
    from supportctl.config import Config, Rule

    cfg = Config(rules=[Rule(name="refunds", match={"subject": "refund"}, tag=["refund"]),
                        Rule(name="orders", match={"text": r"order\s*#?\d{4}"}, assign="marta")])
    tagged, none, assigned = (put(store, m, config=cfg, history=True)[0] for m in (
        mail("h1@x", subject="Refund please"), mail("h2@x", subject="Hello"),
        mail("h3@x", subject="Hello", text="my order #1234")))
    shown = [ticket(store, r.ticket_id) for r in (tagged, none, assigned)]  # type: ignore[arg-type]
    assert [t["tags"] for t in shown] == [["history", "refund"], ["history"], ["history"]]
    assert shown[2]["assignee"] == "marta"
    assert all(t["sla"]["first_response_due"] is None for t in shown)
    # the history tag has no event of its own, as without rules
    assert [e["action"] for e in shown[0]["events"] if e["actor"].startswith("rule:")] == ["tag"]


def test_send_interrupted_mid_flight_is_never_resent_blindly(store: Store) -> None:
    SERVERS.pop("mem", None)
    a = put(store, sms("SM1"))[0]
    oid = outbox.queue_reply(store, a.ticket_id, text="Your refund is on its way",  # type: ignore[arg-type]
                             medium="sms", account={"name": "mem"}, actor="me")

    class Dies:
        name = "mem"

        def send(self, out: Any) -> Any:
            raise KeyboardInterrupt  # the process is stopped while the request is out

    with pytest.raises(KeyboardInterrupt):
        outbox.send_entry(store, oid, Dies())  # type: ignore[arg-type]
    row = store.one("SELECT state, error FROM outbox WHERE id = ?", [oid])
    assert row is not None and row["state"] == "unknown" and "interrupted" in row["error"]
    store.execute("UPDATE outbox SET updated_at = '2000-01-01T00:00:00Z'")
    assert outbox.due_entries(store, "mem", 5) == []  # sync will not resend it
    ch = build({"name": "mem", "type": "memory"})
    assert outbox.send_entry(store, oid, ch) == "unknown"  # nor will a second sender
    assert server("mem").sent == []
    assert outbox.retry_entry(store, oid, ch, "me") == "sent"  # a person decides
    assert len(server("mem").sent) == 1


def test_a_message_that_trips_a_bug_is_quarantined_not_blocking(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    real = ingest.insert_message

    def flaky(st: Store, tid: int, item: Inbound, **kw: Any) -> int:
        if item.external_id == "SM2":
            raise ValueError("a bug")
        return real(st, tid, item, **kw)

    monkeypatch.setattr(ingest, "insert_message", flaky)
    batch = Batch("inbox", "3", [sms("SM1"), sms("SM2", "+15550002222"), sms("SM3")])
    summary = ingest.ingest_batch(store, batch, settings_())
    assert (summary.stored, summary.quarantined) == (2, 1)
    assert store.get_cursors("mem") == {"inbox": "3"}  # the mail behind it still flows
    assert store.scalar("SELECT count(*) FROM tickets") == 1  # SM2's half-made ticket rolled back
    row = store.one("SELECT raw, reason FROM quarantine")
    assert row is not None and bytes(row["raw"]) == b"{}" and "a bug" in row["reason"]


def test_a_channel_bug_fails_only_that_channel(store: Store) -> None:
    class Broken:
        name = "broken"

        def fetch(self, cursors: Any, since: Any = None) -> Any:
            raise TypeError("https://api.example/bot123:SECRET/getUpdates")

    res = sync.sync_entry(store, Broken(), settings_(account="broken"))  # type: ignore[arg-type]
    assert not res.ok and "TypeError" in res.error and "SECRET" not in res.error


def test_a_batch_indexes_its_messages_once_at_its_end(store: Store,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """m028: a batch's messages go into the three full-text indexes as one
    statement at its end (not a segment each), as they stand then: every
    word, sender, recipient and CJK term is found; a message quarantined in
    the middle of the batch is in none; deleting an indexed message later
    takes exactly its words out (the indexes stay consistent)."""
    from supportctl.store import messages as stored_messages
    from supportctl.store.search import search

    real = ingest.insert_message

    def flaky(st: Store, tid: int, item: Inbound, **kw: Any) -> int:
        if item.external_id == "bad@x":
            real(st, tid, item, **kw)  # written, then the savepoint rolls it back
            raise ValueError("a bug")
        return real(st, tid, item, **kw)

    monkeypatch.setattr(ingest, "insert_message", flaky)
    items = [mail("a@x", subject="Parcel late", text="the courier lost it"),
             mail("bad@x", sender="zed@example.com", subject="Quarantined", text="zebra"),
             mail("b@x", sender="ugo@example.it", subject="Rimborso", text="快递丢失了 il pacco",
                  to="help@shop.example"),
             mail("c@x", subject="Re: Parcel late", text="found it", irt="a@x")]
    summary = ingest.ingest_batch(store, Batch("x", None, items), settings_())
    assert (summary.stored, summary.quarantined) == (3, 1)
    assert store.scalar("SELECT count(*) FROM fts_deferred") == 0
    for table in ("messages_fts", "messages_cjk", "addresses_fts"):
        store.execute(f"INSERT INTO {table}({table}) VALUES ('integrity-check')")
    now = iso(utcnow()) or ""

    def found(q: str) -> list[int]:
        return [tid for tid, _ in search(store, q, now)]

    lost, refund = summary.results[0].ticket_id, summary.results[2].ticket_id
    assert found("courier") == [lost] and found("found") == [lost]
    assert found("pacco") == [refund] and found("丢失") == [refund]
    assert found("from:ugo") == [refund] and lost in found("to:help")
    assert found("zebra") == [] and found("from:zed") == []
    # Changed and deleted afterwards: the triggers take out what was put in.
    with store.tx():
        store.execute("UPDATE messages SET text = 'ritrovato' WHERE external_id = 'b@x'")
        store.execute("DELETE FROM messages WHERE external_id = 'c@x'")
    for table in ("messages_fts", "messages_cjk", "addresses_fts"):
        store.execute(f"INSERT INTO {table}({table}) VALUES ('integrity-check')")
    assert found("丢失") == [] and found("ritrovato") == [refund] and found("found") == []
    # One deferral at a time: a batch inside another's transaction leaves it to the outer one.
    with store.tx():
        since = stored_messages.defer_full_text(store)
        assert since is not None and stored_messages.defer_full_text(store) is None
        stored_messages.index_deferred(store, since)
