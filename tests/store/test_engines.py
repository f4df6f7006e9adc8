"""The store's promises, once per engine (``any_store``: SQLite and a real
PostgreSQL server; issue 13, SPEC §13): the same calls give the same
JSON, the same errors and the same guarantees on both."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from supportctl.channels import build
from supportctl.channels.memory import SERVERS, server
from supportctl.errors import ClaimedByOther
from supportctl.models import Address, AttachmentData, Batch, Inbound
from supportctl.services import ingest, sync, team, transfer, triage
from supportctl.store import db
from supportctl.store.read import TicketFilter, show_json, ticket_ids, tickets_json
from supportctl.store.search import condition, search

NOW = "2026-12-02T10:00:00Z"
LATER = "2026-12-02T10:30:00Z"


@pytest.fixture(autouse=True)
def _pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ingest reads the one clock: pinned to NOW, as the changes made here
    are, so "newest activity first" does not depend on the hour the suite
    runs (it did: these tests broke once the real clock passed NOW)."""
    monkeypatch.setenv("SUPPORTCTL_NOW", NOW)


def settings_(**kw: Any) -> ingest.IngestSettings:
    base: dict[str, Any] = dict(account="mem", actor="sync", own_addresses={"help@shop.example"})
    base.update(kw)
    return ingest.IngestSettings(**base)


def mail(mid: str, sender: str = "ann@example.com", subject: str = "Order 7",
         text: str = "hello", irt: str = "", name: str = "Ann",
         attachments: list[AttachmentData] | None = None) -> Inbound:
    return Inbound(medium="email", raw=f"raw {mid}".encode(), external_id=mid,
                   sender=Address(sender, name), to=[Address("help@shop.example", "Help")],
                   subject=subject, text=text, in_reply_to=irt,
                   attachments=attachments or [])


def sms(ext: str, number: str, text: str) -> Inbound:
    return Inbound(medium="sms", raw=b"{}", external_id=ext, sender=Address(number), text=text)


def put(store: Any, *items: Inbound) -> list[ingest.IngestResult]:
    return ingest.ingest_batch(store, Batch("x", None, list(items)), settings_()).results


def all_ids(store: Any) -> list[int]:
    return ticket_ids(store, TicketFilter(statuses=None, include_snoozed=True,
                                          include_merged=True, sort="id"), NOW)


# -- the connection ---------------------------------------------------------------

def test_rows_read_by_name_and_position_and_inserts_return_ids(any_store: Any) -> None:
    first = any_store.insert("contacts", {"name": "Ann", "created_at": NOW, "updated_at": NOW})
    second = any_store.insert("contacts", {"name": "Bob", "created_at": NOW, "updated_at": NOW})
    assert second == first + 1
    row = any_store.one("SELECT id, name FROM contacts WHERE id = ?", [second])
    assert row[0] == second and row["name"] == "Bob" and dict(row) == {"id": second, "name": "Bob"}
    assert any_store.scalar("SELECT count(*) FROM contacts WHERE name = :n", {"n": "Ann"}) == 1


def test_a_clash_is_the_stores_integrity_error_and_the_transaction_goes_on(any_store: Any) -> None:
    """A unique-key clash is ``db.IntegrityError`` on both engines; code
    that goes on after one does so through a nested ``tx()`` (a savepoint),
    as ingest isolates each item, and the outer transaction commits."""
    with any_store.tx():
        any_store.insert("spam_senders", {"kind": "email", "address": "x@y", "at": NOW})
        with pytest.raises(db.IntegrityError), any_store.tx():
            any_store.insert("spam_senders", {"kind": "email", "address": "x@y", "at": NOW})
        any_store.insert("spam_senders", {"kind": "email", "address": "z@y", "at": NOW})
    assert any_store.scalar("SELECT count(*) FROM spam_senders") == 2


def test_a_failed_transaction_leaves_nothing(any_store: Any) -> None:
    with pytest.raises(RuntimeError), any_store.tx():
        any_store.insert("spam_senders", {"kind": "email", "address": "x@y", "at": NOW})
        raise RuntimeError("boom")
    assert any_store.scalar("SELECT count(*) FROM spam_senders") == 0


def test_attachment_bytes_round_trip_and_go_when_unused(any_store: Any) -> None:
    res = put(any_store, mail("a@x", attachments=[AttachmentData("r.pdf", "application/pdf",
                                                                 b"%PDF-1.4 receipt")]))[0]
    [att] = show_json(any_store, res.ticket_id, NOW)["messages"][0]["attachments"]
    assert any_store.read_file(att["sha256"]) == b"%PDF-1.4 receipt"
    with any_store.tx():
        triage.delete(any_store, res.ticket_id, "ann", NOW)
    any_store.drop_unused_files({att["sha256"]})
    with pytest.raises(db.StoreError):
        any_store.read_file(att["sha256"])


# -- ingest -------------------------------------------------------------------------

def test_sync_stores_every_message_once(any_store: Any) -> None:
    SERVERS.pop("mem", None)
    server("mem").inbox = [sms(f"SM{k}", f"+1555000{k % 3}", f"hello {k}") for k in range(7)]
    channel = build({"name": "mem", "type": "memory"})
    first = sync.sync_entry(any_store, channel, settings_())
    again = sync.sync_entry(any_store, channel, settings_())
    assert first.ok and first.stored == 7 and first.tickets_created == 3
    assert again.ok and again.stored == 0
    tickets = tickets_json(any_store, all_ids(any_store), NOW)
    assert sorted(t["message_count"] for t in tickets) == [2, 2, 3]


def test_email_threads_and_a_duplicate_is_stored_once(any_store: Any) -> None:
    a = put(any_store, mail("a@x"))[0]
    b = put(any_store, mail("b@x", subject="something else", irt="a@x"))[0]
    again = put(any_store, mail("a@x"))[0]
    assert a.created and b.ticket_id == a.ticket_id and not again.created
    shown = show_json(any_store, a.ticket_id, NOW)
    assert [m["external_id"] for m in shown["messages"]] == ["a@x", "b@x"]
    assert shown["contact"]["identities"] == [{"channel": "email", "address": "ann@example.com"}]


# -- triage -------------------------------------------------------------------------

def test_triage_changes_show_in_the_json(any_store: Any) -> None:
    one, two, three = (put(any_store, sms(f"S{k}", f"+1666000{k}", "hi"))[0].ticket_id
                       for k in range(3))
    triage.tag(any_store, one, ["VIP", "refund"], "ann", NOW)
    triage.assign(any_store, one, "bob", "ann", NOW)
    triage.priority(any_store, two, "urgent", "ann", NOW)
    triage.solve(any_store, three, "ann", NOW)
    triage.close(any_store, two, "ann", NOW)
    got = {t["id"]: t for t in tickets_json(any_store, [one, two, three], NOW)}
    assert got[one]["tags"] == ["refund", "vip"] and got[one]["assignee"] == "bob"
    assert got[two]["status"] == "closed" and got[two]["priority"] == "urgent"
    assert got[three]["status"] == "solved" and got[three]["solved_at"] == NOW
    assert ticket_ids(any_store, TicketFilter(tags=["vip"]), NOW) == [one]
    assert ticket_ids(any_store, TicketFilter(statuses=["closed"]), NOW) == [two]
    assert ticket_ids(any_store, TicketFilter(sort="id", offset=1, statuses=None), NOW) == [two, three]


# -- search (SPEC §5) ----------------------------------------------------------------

@pytest.fixture
def corpus(any_store: Any) -> dict[str, int]:
    ids = {}
    for key, item in {
        "parcel": mail("p@x", "ann@example.com", "Where is my parcel", "The parcel never arrived",
                       name="Ann Becker"),
        "refund": mail("r@x", "bob@shop.test", "Refund please", "I want my money back",
                       name="Bob Stone"),
        "both": mail("b@x", "cid@example.com", "Parcel and refund", "Lost parcel, refund due",
                     name="Cid Moreau"),
    }.items():
        ids[key] = put(any_store, item)[0].ticket_id
    triage.tag(any_store, ids["refund"], ["money"], "ann", NOW)
    triage.assign(any_store, ids["both"], "bob", "ann", NOW)
    triage.solve(any_store, ids["both"], "ann", NOW)
    return ids


SEARCHES = [
    ("parcel", ["both", "parcel"]),
    ('"never arrived"', ["parcel"]),
    ("subject:refund", ["both", "refund"]),
    ("parcel -refund", ["parcel"]),
    ("from:ann@example.com", ["parcel"]),
    ("from:bob", ["refund"]),
    ("to:help@shop.example", ["both", "refund", "parcel"]),
    ("tag:money", ["refund"]),
    ("-tag:money", ["both", "parcel"]),
    # only negated words: tickets none of whose messages hold them
    ("-refund", ["parcel"]),
    ("-parcel", ["refund"]),
    ("-parcel -money", []),
    ("-refund is:unassigned", ["parcel"]),
    ("-parcel status:solved", []),
    ("status:solved", ["both"]),
    ("is:unassigned", ["refund", "parcel"]),
    ("assignee:bob refund", ["both"]),
    ("money back", ["refund"]),
    ("nothing-like-this", []),
]


@pytest.mark.parametrize("query,expected", SEARCHES)
def test_search_syntax(any_store: Any, corpus: dict[str, int], query: str,
                       expected: list[str]) -> None:
    """Newest matching activity first, as notmuch orders (ids, not
    snippets: each engine cuts its own)."""
    hits = [tid for tid, _ in search(any_store, query, NOW)]
    assert sorted(hits) == sorted(corpus[k] for k in expected)
    if hits:
        assert hits == sorted(hits, reverse=True)
    where, params = condition(query, NOW, any_store.sql)
    listed = ticket_ids(any_store, TicketFilter(statuses=None, where=where, params=params), NOW)
    assert sorted(listed) == sorted(corpus[k] for k in expected)


def test_search_pages(any_store: Any, corpus: dict[str, int]) -> None:
    assert [t for t, _ in search(any_store, "to:help", NOW, limit=1, offset=1)] == [corpus["refund"]]


def test_a_snippet_shows_the_match(any_store: Any, corpus: dict[str, int]) -> None:
    [(_, snippet)] = search(any_store, '"never arrived"', NOW)
    assert "never arrived" in snippet



# Text beyond ASCII (SPEC §5): accents fold both ways, words of Chinese,
# Japanese, Korean and Thai match any part of the text, names and
# addresses are read as SQLite's tokenizer reads them, on both engines.

def _intl(mid: str, sender: str, name: str, subject: str, text: str,
          to: Address = Address("help@shop.example", "Help")) -> Inbound:
    return Inbound(medium="email", raw=f"raw {mid}".encode(), external_id=mid,
                   sender=Address(sender, name), to=[to], subject=subject, text=text)


@pytest.fixture
def intl(any_store: Any) -> dict[str, int]:
    ids = {}
    for key, item in {
        "cafe": _intl("c@x", "marie@example.fr", "Marie", "Commande",
                      "Le café était froid et la crème aussi"),
        "creme": _intl("k@x", "jo@example.fr", "Jo", "Dessert", "creme brulee trop sucree"),
        "ja": _intl("j@x", "yamada@exämple.jp", "山田 太郎", "注文について",
                    "注文番号1234の商品がまだ届きません。"),
        "zh": _intl("z@x", "li@example.cn", "李", "物流", "我的订单还没有到。请帮我查一下。"),
        "ko": _intl("o@x", "kim@example.kr", "김", "배송", "주문번호 상품이 아직 도착하지 않았습니다"),
        "th": _intl("t@x", "som@example.th", "สมชาย", "พัสดุ", "สินค้ายังไม่มาถึงเลยครับ"),
        "mixed": _intl("m@x", "ann@example.com", "Ann", "Parcel 注文",
                       "My parcel 注文番号 5678 is missing",
                       to=Address("zoë@shöp.example", "Zoë Ørsted")),
    }.items():
        ids[key] = put(any_store, item)[0].ticket_id
    return ids


INTL_SEARCHES = [
    ("cafe", ["cafe"]),
    ("café", ["cafe"]),
    ("crème", ["cafe", "creme"]),
    ("brûlée", ["creme"]),
    ("subject:commande", ["cafe"]),
    ("注文番号", ["ja", "mixed"]),
    ("注文", ["ja", "mixed"]),
    ("subject:注文", ["ja", "mixed"]),
    ("届きません", ["ja"]),
    ("商品が", ["ja"]),
    ("订单", ["zh"]),
    ("查一下", ["zh"]),
    ("도착하지", ["ko"]),
    ("주문", ["ko"]),
    ("ยังไม่มา", ["th"]),
    ("注文番号 -parcel", ["ja"]),
    ("注文 -missing", ["ja"]),
    ("注文番号 parcel", ["mixed"]),
    ("parcel -注文", []),
    ("-注文 -订单 -cafe", ["creme", "ko", "th"]),
    ('"注文番号 5678"', ["mixed"]),
    ("注文番号 订单", []),
    ("from:yamada@exämple.jp", ["ja"]),
    ("from:yamada@example.jp", ["ja"]),
    ("from:山田", ["ja"]),
    ("from:สมชาย", ["th"]),
    ("from:exämple", ["cafe", "creme", "ja", "zh", "ko", "th", "mixed"]),
    ("to:zoë", ["mixed"]),
    ("to:zoe@shop.example", ["mixed"]),
    ("to:ørsted", ["mixed"]),
    ("-to:ørsted", ["cafe", "creme", "ja", "zh", "ko", "th"]),
]


@pytest.mark.parametrize("query,expected", INTL_SEARCHES)
def test_search_beyond_ascii(any_store: Any, intl: dict[str, int], query: str,
                             expected: list[str]) -> None:
    hits = [tid for tid, _ in search(any_store, query, NOW)]
    assert sorted(hits) == sorted(intl[k] for k in expected)
    assert hits == sorted(hits, reverse=True)
    where, params = condition(query, NOW, any_store.sql)
    listed = ticket_ids(any_store, TicketFilter(statuses=None, where=where, params=params), NOW)
    assert sorted(listed) == sorted(intl[k] for k in expected)


def test_a_cjk_snippet_shows_the_match(any_store: Any, intl: dict[str, int]) -> None:
    [(_, snippet)] = search(any_store, "届きません", NOW)
    assert "届きません" in snippet

# -- team work (SPEC §13) --------------------------------------------------------------

def test_next_hands_out_the_most_urgent_then_the_next(any_store: Any) -> None:
    a, b, c = (put(any_store, sms(f"S{k}", f"+1777000{k}", "hi"))[0].ticket_id for k in range(3))
    triage.priority(any_store, b, "urgent", "ann", NOW)
    assert team.hand_out(any_store, "ann", NOW, LATER) == b
    assert team.hand_out(any_store, "cid", NOW, LATER) == a
    assert team.hand_out(any_store, "dan", NOW, LATER) == c
    assert team.hand_out(any_store, "eve", NOW, LATER) is None
    with pytest.raises(ClaimedByOther):
        team.claim(any_store, b, "cid", NOW, LATER)
    assert tickets_json(any_store, [b], NOW)[0]["claim"] == {"agent": "ann", "until": LATER}


def test_import_restores_an_export_byte_for_byte_and_ids_go_on(
        any_store: Any, tmp_path: Any, request: pytest.FixtureRequest) -> None:
    from supportctl.store.db import open_store

    put(any_store, mail("a@x", attachments=[AttachmentData("a.txt", "text/plain", b"bytes")]))
    put(any_store, sms("S1", "+15550009", "ciao"))
    triage.tag(any_store, 1, ["vip"], "ann", NOW)
    everything = TicketFilter(statuses=None, include_snoozed=True, include_merged=True)
    lines = [json.dumps(r, sort_keys=True) for r in
             transfer.export(any_store, everything, NOW, messages=True, raw=True, files=True)]
    if any_store.sql.name == "sqlite":
        copy = open_store(tmp_path / "copy.db")
    else:  # a second database on the same server
        copy = open_store(request.getfixturevalue("pg_server").new_database())
    try:
        transfer.import_jsonl(copy, lines)
        again = [json.dumps(r, sort_keys=True) for r in
                 transfer.export(copy, everything, NOW, messages=True, raw=True, files=True)]
        assert again == lines
        new = put(copy, sms("S2", "+15550010", "another"))[0]
        assert new.ticket_id == 3
    finally:
        copy.close()


def test_one_customer_writing_to_two_machines_at_once_gets_one_ticket(
        store_location: str) -> None:
    """Two machines store the same customer's messages at the same moment
    (two entries, or two webhooks): one contact, one ticket, every message
    once. On PostgreSQL both transactions used to find no open ticket and
    open one each, or one of them lost its message."""
    import threading

    stores = [db.open_store(store_location) for _ in range(2)]
    rounds = 12
    gate = threading.Barrier(2)
    failures: list[BaseException] = []

    def machine(k: int) -> None:
        try:
            for n in range(rounds):
                gate.wait(timeout=60)
                put(stores[k], sms(f"SM{n}-{k}", f"+1555123{n:04d}", f"hello from {k}"),
                    mail(f"m{n}-{k}@x", sender=f"c{n}@example.com", subject=f"Order {n}",
                         text="where is it", irt=f"m{n}-{1 - k}@x"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
            gate.abort()

    threads = [threading.Thread(target=machine, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    try:
        assert not failures, failures
        tickets = tickets_json(stores[0], all_ids(stores[0]), NOW)
        sms_tickets = [t for t in tickets if t["channel"] == "sms"]
        assert len(sms_tickets) == rounds, [t["contact"] for t in sms_tickets]
        assert all(t["message_count"] == 2 for t in sms_tickets), sms_tickets
        numbers = [i["address"] for t in sms_tickets for i in t["contact"]["identities"]]
        assert sorted(numbers) == sorted(set(numbers))
        # Each email answers the other machine's: the later one threads in.
        mail_tickets = [t for t in tickets if t["channel"] == "email"]
        assert [t["message_count"] for t in mail_tickets] == [2] * rounds
    finally:
        for s in stores:
            s.close()


# -- a change and another machine's sync at the same moment (SPEC §13) ---------------

def _at_once(store: Any, store_location: str, held: Any, meanwhile: Any) -> None:
    """``held(store)`` runs in a transaction left open while another
    connection (another machine) runs ``meanwhile(other)``; once that one
    waits, the first commits. On PostgreSQL the second must wait for the
    first's row locks (seen in ``pg_stat_activity``); SQLite's second
    writer waits for the whole store."""
    import threading

    other = db.open_store(store_location)
    done: list[Any] = []

    def second() -> None:
        try:
            done.append(meanwhile(other))
        except BaseException as exc:  # reported below
            done.append(exc)

    worker = threading.Thread(target=second)
    try:
        with store.tx():
            held(store)
            worker.start()
            _until_waiting(store_location, worker)
        worker.join(60)
    finally:
        other.close()
    assert done and not isinstance(done[0], BaseException), done


def _until_waiting(store_location: str, worker: Any) -> None:
    """Return once ``worker`` waits for a lock (PostgreSQL), or has had
    time to reach SQLite's busy wait."""
    import time

    if not store_location.startswith("postgresql://"):
        time.sleep(0.3)
        return
    import psycopg

    with psycopg.connect(store_location, autocommit=True) as watcher:
        while worker.is_alive():
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'").fetchone()
            if waiting and waiting[0]:
                return
            time.sleep(0.01)
    raise AssertionError("the second did not wait for the first's locks")


REPLY = mail("c@x", subject="Re: Order 7", irt="a@x", text="any news?")


@pytest.mark.parametrize("merge_first", [True, False])
def test_a_merge_and_a_reply_to_the_merged_ticket_at_once(any_store: Any, store_location: str,
                                                          merge_first: bool) -> None:
    """Whichever starts first, the reply ends in the ticket merged into,
    never in the merged one."""
    src = put(any_store, mail("a@x"))[0].ticket_id
    dst = put(any_store, mail("b@x", "bob@example.com", "Another order"))[0].ticket_id

    def merge(store: Any) -> None:
        triage.merge(store, src, dst, "ann", NOW)

    def reply(store: Any) -> None:
        put(store, REPLY)

    if merge_first:
        _at_once(any_store, store_location, merge, reply)
    else:
        _at_once(any_store, store_location, reply, merge)
    got = {t["id"]: t for t in tickets_json(any_store, all_ids(any_store), NOW)}
    assert got[src]["message_count"] == 0 and got[src]["merged_into"] == dst
    assert got[dst]["message_count"] == 3
    assert [m["external_id"] for m in show_json(any_store, dst, NOW)["messages"]] == \
        ["a@x", "b@x", "c@x"]


@pytest.mark.parametrize("spam_first", [True, False])
def test_spam_and_the_senders_next_message_at_once(any_store: Any, store_location: str,
                                                   spam_first: bool) -> None:
    """Spam first: the next message finds the ticket closed and its sender
    blocked (a new ticket, linked, tagged spam and closed). The message
    first: spam closes the ticket with it. As if one came after the other."""
    from supportctl.services import tickets as ticket_service

    first = put(any_store, mail("s1@x", "promo@junk.example", "Buy now"))[0].ticket_id

    def spam(store: Any) -> None:
        ticket_service.mark_spam(store, first, "ann", NOW)

    def again(store: Any) -> None:
        put(store, mail("s2@x", "promo@junk.example", "Re: Buy now", irt="s1@x"))

    if spam_first:
        _at_once(any_store, store_location, spam, again)
        expected = [("closed", ["spam"], 1, None), ("closed", ["spam"], 1, first)]
    else:
        _at_once(any_store, store_location, again, spam)
        expected = [("closed", ["spam"], 2, None)]
    tickets = tickets_json(any_store, all_ids(any_store), NOW)
    assert [(t["status"], t["tags"], t["message_count"], t["linked_ticket"])
            for t in tickets] == expected


def test_forget_waits_for_a_message_being_stored_for_the_person(any_store: Any,
                                                                store_location: str) -> None:
    """A message another machine is storing on the person's ticket as
    ``contact forget`` runs is erased with the rest."""
    from supportctl.services import contacts

    first = put(any_store, mail("a@x"))[0].ticket_id
    contact = tickets_json(any_store, [first], NOW)[0]["contact"]["id"]

    def reply(store: Any) -> None:
        put(store, REPLY)

    def forget(store: Any) -> None:
        contacts.forget(store, contact, "ann", LATER)

    _at_once(any_store, store_location, reply, forget)
    texts = [m["text"] for m in show_json(any_store, first, NOW)["messages"]]
    assert texts == ["[forgotten]", "[forgotten]"]


def test_delete_and_a_message_for_the_ticket_at_once(any_store: Any, store_location: str) -> None:
    """The message being stored goes with the ticket, attachment bytes
    included; one that comes after opens a new ticket."""
    att = AttachmentData("r.pdf", "application/pdf", b"%PDF receipt")
    first = put(any_store, mail("a@x"))[0].ticket_id

    def reply(store: Any) -> None:
        put(store, mail("c@x", subject="Re: Order 7", irt="a@x", attachments=[att]))

    def delete(store: Any) -> None:
        triage.delete(store, first, "ann", NOW)

    _at_once(any_store, store_location, reply, delete)
    assert all_ids(any_store) == []
    with pytest.raises(db.StoreError):
        any_store.read_file(hashlib.sha256(att.data).hexdigest())
    later = put(any_store, mail("d@x", subject="Re: Order 7", irt="a@x"))[0]
    assert later.created and all_ids(any_store) == [later.ticket_id]


@pytest.mark.parametrize("merge_first", [True, False])
def test_a_contact_merge_and_a_new_ticket_of_theirs_at_once(any_store: Any, store_location: str,
                                                            merge_first: bool) -> None:
    """Whichever starts first, the new ticket ends with the contact
    merged into, never with the merged one."""
    from supportctl.services import contacts

    ann = put(any_store, mail("a@x"))[0].ticket_id
    bob = put(any_store, mail("b@x", "bob@example.com", "Hi"))[0].ticket_id
    src, dst = (tickets_json(any_store, [t], NOW)[0]["contact"]["id"] for t in (ann, bob))

    def merge(store: Any) -> None:
        contacts.merge(store, src, dst, "ann", NOW)

    def new_ticket(store: Any) -> None:
        put(store, mail("n@x", subject="Something new"))

    if merge_first:
        _at_once(any_store, store_location, merge, new_ticket)
    else:
        _at_once(any_store, store_location, new_ticket, merge)
    owners = [t["contact"]["id"] for t in tickets_json(any_store, all_ids(any_store), NOW)]
    assert owners == [dst, dst, dst]


# -- insight (SPEC §11) -----------------------------------------------------------------

def _twin(any_store: Any, tmp_path: Any, lines: list[dict[str, Any]]) -> Any:
    """``lines`` imported into ``any_store`` and into a SQLite store beside
    it (the reference); the SQLite one is returned."""
    reference = db.open_store(tmp_path / "reference.db")
    for store in (any_store, reference):
        transfer.import_jsonl(store, [json.dumps(t) for t in lines])
    return reference


def test_report_is_the_same_on_both_engines(any_store: Any, tmp_path: Any) -> None:
    """Every grouping, a whole-hour and a half-hour zone, a period across a
    change of daylight saving time, before and after edits under messages
    already counted: the same report as SQLite's from the same data."""
    from dataclasses import asdict
    from types import SimpleNamespace

    from supportctl.services.report import GROUPS, report
    from tests.cli.test_report import _store_lines

    reference = _twin(any_store, tmp_path, _store_lines())
    try:
        for round_ in range(2):
            for zone in ("Europe/Rome", "Asia/Kolkata"):
                config = SimpleNamespace(timezone=zone)
                for by in (None, *GROUPS):
                    got, want = (asdict(report(s, "2026-10-20T00:00:00Z", "2026-11-30T07:00:00Z",
                                               "2026-11-30T09:00:00Z", by, config))
                                 for s in (any_store, reference))
                    assert got == want, (round_, zone, by)
            for s in (any_store, reference):
                triage.tag(s, 3, ["vip"], "ann", NOW)
                triage.assign(s, 1, "bob", "ann", NOW)
                triage.tag(s, 7, ["spam"], "ann", NOW)
    finally:
        reference.close()


def test_suggestions_are_the_same_on_both_engines(any_store: Any, tmp_path: Any) -> None:
    """Solved tickets like the one at hand, the customer's language first,
    with the same scores and matched words as on SQLite (no inflection
    tells the engines apart here)."""
    from supportctl.services.answers import suggest
    from tests.cli.test_suggest import HISTORY

    reference = _twin(any_store, tmp_path, HISTORY)
    try:
        for tid in (5, 4, 3):
            got, want = ([s.to_json() for s in suggest(s, tid, [])] for s in (any_store, reference))
            assert got == want, tid
        assert [s.ticket_id for s in suggest(any_store, 5, [])][0] in (1, 6)
    finally:
        reference.close()
