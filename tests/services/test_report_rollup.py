"""``report`` reads its message counts from ``report_volume`` (m020), which
it first brings up to date itself: triggers only mark the days an edit of
an already counted message touches, and ``catch_up_volume`` counts the
marked days afresh and the new messages in. Whatever happens to a store,
in whatever order with reports (catch-ups) in between, the report gives
exactly the numbers counted straight from the messages (``rollup=False``),
for any period (whole hours or not, one hour or weeks), any ``--by`` and
zones on both sides of a daylight-saving change; and the rollup equals one
counted afresh from every message, as the first report after m020 counts
an existing store's."""

from __future__ import annotations

import itertools
import json
import shutil
import sqlite3
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from supportctl.errors import SupportError
from supportctl.services import transfer, triage
from supportctl.services.report import GROUPS
from supportctl.services.report import report as run_report
from supportctl.store import report as q
from supportctl.store.db import Store
from supportctl.store.migrations import REPORT_HOURS

NOW = "2026-11-12T00:00:00Z"
# Two and a half weeks around both autumn changes: Europe 25 October, the US 1 November.
BEGIN = datetime(2026, 10, 20, tzinfo=timezone.utc)
SPAN = 18 * 86400
ZONES = ("Europe/Rome", "America/New_York", "UTC")
TAGS = ("refund", "shipping", "vip", "spam", "auto", "bounce")
AGENTS = (None, "ann", "bo", "0")
STATUSES = ("new", "open", "pending", "solved", "closed")


def _iso(seconds: int) -> str:
    return (BEGIN + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


instants = st.integers(min_value=0, max_value=SPAN)
messages = st.fixed_dictionaries({
    "direction": st.sampled_from(("in", "in", "out", "out", "note")),
    "channel": st.sampled_from(("email", "sms", "whatsapp")),
    "author": st.sampled_from((None, None, "ann", "auto-reply", "rule:ack", "RULE:x")),
    "auto_reason": st.sampled_from((None, None, None, "Auto-Submitted: auto-replied")),
    "delivery": st.sampled_from((None, None, None, "failed")),
    "at": instants,
})
tickets = st.fixed_dictionaries({
    "channel": st.sampled_from(("email", "sms", "telegram")),
    "assignee": st.sampled_from(AGENTS),
    "tags": st.lists(st.sampled_from(TAGS), max_size=3, unique=True),
    "status": st.sampled_from(STATUSES),
    "created": instants,
    "messages": st.lists(messages, min_size=1, max_size=4),
})
ops = st.one_of(
    st.tuples(st.just("tag"), st.integers(1, 9), st.sampled_from(TAGS)),
    st.tuples(st.just("untag"), st.integers(1, 9), st.sampled_from(TAGS)),
    st.tuples(st.just("assign"), st.integers(1, 9), st.sampled_from(AGENTS)),
    st.tuples(st.just("status"), st.integers(1, 9), st.sampled_from(STATUSES)),
    st.tuples(st.just("merge"), st.integers(1, 9), st.integers(1, 9)),
    st.tuples(st.just("delete"), st.integers(1, 9)),
    st.tuples(st.just("import"), st.lists(tickets, min_size=1, max_size=3)),
    st.tuples(st.just("delivery"), st.integers(1, 30), st.sampled_from((None, "failed"))),
    st.tuples(st.just("delete message"), st.integers(1, 30)),
    # an import that restores old message ids (a deleted ticket's, from a backup)
    st.tuples(st.just("import at"), st.integers(1, 30), st.lists(tickets, min_size=1, max_size=2)),
    st.tuples(st.just("report")),  # what a report does first: count in what changed
)
periods = st.tuples(instants, st.integers(min_value=1, max_value=SPAN), st.booleans()).map(
    lambda p: (p[0] // 3600 * 3600 if p[2] else p[0], p[1]))


class _Ids:
    def __init__(self) -> None:
        self.ticket = 0
        self.message = 0


def _lines(specs: list[dict[str, Any]], ids: _Ids, message_id: int | None = None) -> list[str]:
    """JSONL lines of tickets with new ids; their messages' ids new, or
    counted from ``message_id`` (which may clash: then nothing is imported)."""
    out = []
    for spec in specs:
        ids.ticket += 1
        msgs = []
        for m in spec["messages"]:
            if message_id is None:
                ids.message += 1
                mid = ids.message
            else:
                mid, message_id = message_id, message_id + 1
            msgs.append({
                "id": mid, "direction": m["direction"], "channel": m["channel"],
                "account": None, "external_id": None, "from": {"name": "", "address": ""},
                "to": [], "subject": "", "text": "hello", "sent_at": _iso(m["at"]),
                "attachments": [], "author": m["author"], "auto_reason": m["auto_reason"],
                "delivery": {"state": m["delivery"], "error": None}})
        created = _iso(spec["created"])
        out.append(json.dumps({
            "id": ids.ticket, "status": spec["status"], "priority": "normal",
            "subject": "Parcel tracking number missing", "channel": spec["channel"],
            "account": None,
            "contact": {"id": ids.ticket % 3 + 1, "name": "C",
                        "identities": [{"channel": "email",
                                        "address": f"c{ids.ticket % 3}@example.com"}]},
            "assignee": spec["assignee"], "tags": spec["tags"], "created_at": created,
            "updated_at": created, "first_response_at": None, "solved_at": None,
            "sla": {"first_response_due": None, "resolution_due": None, "breached": False},
            "message_count": len(msgs), "last_message_at": created, "snoozed_until": None,
            "merged_into": None, "linked_ticket": None, "messages": msgs, "events": []}))
    return out


def _apply(store: Store, op: tuple[Any, ...], ids: _Ids) -> None:
    kind, *args = op
    at = "2026-11-11T00:00:00Z"
    try:
        if kind == "tag":
            triage.tag(store, args[0], [args[1]], "t", at)
        elif kind == "untag":
            triage.tag(store, args[0], [args[1]], "t", at, remove=True)
        elif kind == "assign":
            triage.assign(store, args[0], args[1], "t", at)
        elif kind == "status":
            triage.set_status(store, args[0], args[1], "t", at)
        elif kind == "merge":
            triage.merge(store, args[0], args[1], "t", at)
        elif kind == "delete":
            triage.delete(store, args[0], "t", at)
        elif kind == "import":
            transfer.import_jsonl(store, _lines(args[0], ids))
        elif kind == "import at":
            transfer.import_jsonl(store, _lines(args[1], ids, args[0]))
        elif kind == "report":
            assert q.catch_up_volume(store)
        elif kind == "delivery":  # as outbox and ingest set it
            store.execute("UPDATE messages SET delivery_state = ? WHERE id = ?", args[::-1])
        else:
            store.execute("DELETE FROM messages WHERE id = ?", args)
    except SupportError:
        pass  # no such ticket, a merge into itself: the store is unchanged


#: The rollup's rows that count something, in one order.
_ROWS = (f"SELECT kind, day, direction, key, {', '.join(REPORT_HOURS)} FROM {{table}}"
         f" WHERE {' OR '.join(f'{h} != 0' for h in REPORT_HOURS)} ORDER BY 1, 2, 3, 4")


def _rows(store: Store) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.conn.execute(_ROWS.format(table="report_volume"))]


def _volume(store: Store) -> list[tuple[Any, ...]]:
    """The rollup's counts once a report brought it up to date."""
    assert q.catch_up_volume(store)
    return _rows(store)


class _Undo(Exception):
    pass


def _refilled(store: Store) -> list[tuple[Any, ...]]:
    """The rollup counted afresh from every message (as on a store never
    counted), in a transaction then rolled back."""
    rows: list[tuple[Any, ...]] = []
    try:
        with store.tx() as conn:
            conn.execute("DELETE FROM report_volume")
            conn.execute("DELETE FROM report_volume_dirty")
            conn.execute("UPDATE report_volume_state SET high = 0")
            assert q.catch_up_volume(store)
            rows = _rows(store)
            raise _Undo
    except _Undo:
        pass
    return rows


def _same_reports(store: Store, since: str, until: str) -> None:
    for zone in ZONES:
        config = SimpleNamespace(timezone=zone)
        for by in (None, *GROUPS):
            fast = run_report(store, since, until, NOW, by, config)
            slow = run_report(store, since, until, NOW, by, config, rollup=False)
            assert asdict(fast) == asdict(slow), (zone, by, since, until)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rollup") / "template.db"
    Store(path).close()
    return path


_n = itertools.count()


def _store(template: Path, tmp_path: Path) -> Store:
    """A fresh store for one example (never a name an earlier one used:
    its -wal file would be read into this one)."""
    path = tmp_path / f"s{next(_n)}.db"
    shutil.copy(template, path)
    return Store(path)


def _drop(store: Store) -> None:
    store.close()
    for extra in ("", "-wal", "-shm"):
        Path(f"{store.path}{extra}").unlink(missing_ok=True)


def _one(at: int, assignee: str | None = None, tags: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"channel": "email", "assignee": assignee, "tags": list(tags), "status": "open",
            "created": at, "messages": [{"direction": "in", "channel": "email", "author": None,
                                         "auto_reason": None, "delivery": None, "at": at}]}


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(first=st.lists(tickets, min_size=1, max_size=8), counted=st.booleans(),
       edits=st.lists(ops, max_size=12))
# Edits that only one trigger marks (rare among random edits): an import
# restoring a deleted message's id on another day; a merge moving messages
# to another assignee's ticket; a delivery report on an inbound message.
@example(first=[_one(0)], counted=True,
         edits=[("delete message", 1), ("import at", 1, [_one(5 * 86400)])])
@example(first=[_one(0, "ann"), _one(3 * 86400, "bo")], counted=True, edits=[("merge", 1, 2)])
@example(first=[_one(0)], counted=True, edits=[("delivery", 1, "failed")])
# a reply already counted that then failed for good (m029: not an answer),
# and one that failed and then went out after all
@example(first=[{**_one(0), "messages": [{"direction": "out", "channel": "email", "author": None,
                                           "auto_reason": None, "delivery": None, "at": 0}]}],
         counted=True, edits=[("delivery", 1, "failed")])
@example(first=[{**_one(0), "messages": [{"direction": "out", "channel": "email", "author": None,
                                           "auto_reason": None, "delivery": "failed", "at": 0}]}],
         counted=True, edits=[("delivery", 1, None)])
def test_rollup_equals_counting_every_message_afresh(
        template: Path, tmp_path: Path, first: list[dict[str, Any]], counted: bool,
        edits: list[tuple[Any, ...]]) -> None:
    """The write path: after any edits, with reports (catch-ups) before and
    between them or not, the rollup a report brings up to date equals the
    rollup counted afresh from every message."""
    store = _store(template, tmp_path)
    try:
        ids = _Ids()
        transfer.import_jsonl(store, _lines(first, ids))
        if counted:  # a report ran: the edits below change counted messages
            assert q.catch_up_volume(store)
        for op in edits:
            _apply(store, op, ids)
        assert _volume(store) == _refilled(store)
    finally:
        _drop(store)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(first=st.lists(tickets, min_size=1, max_size=8), edits=st.lists(ops, max_size=12),
       period=periods)
def test_rollup_report_equals_counting_the_messages(
        template: Path, tmp_path: Path, first: list[dict[str, Any]],
        edits: list[tuple[Any, ...]], period: tuple[int, int]) -> None:
    """The read path: whatever the store went through, every report form
    from the rollup equals the same report counted from the messages."""
    store = _store(template, tmp_path)
    try:
        ids = _Ids()
        transfer.import_jsonl(store, _lines(first, ids))
        assert q.catch_up_volume(store)
        for op in edits:
            _apply(store, op, ids)
        start, length = period
        _same_reports(store, _iso(start), _iso(min(start + length, SPAN + 3600)))
    finally:
        _drop(store)


@pytest.mark.parametrize("version", [19, 23])
def test_migration_gives_an_existing_store_the_rollup(tmp_path: Path, version: int) -> None:
    """A store from before m020 (schema 19), or at 23 from before m020 was
    merged (m023 and m021 came first, so ``user_version`` cannot tell),
    gets the rollup when it is opened by this version, and its first
    report counts every message in."""
    path = tmp_path / "old.db"
    store = Store(path)
    ids = _Ids()
    specs = [{"channel": "email", "assignee": a, "tags": list(t), "status": "open",
              "created": 3600 * i,
              "messages": [{"direction": d, "channel": "email", "author": None,
                            "auto_reason": None, "delivery": None, "at": 3600 * i + 60 * j}
                           for j, d in enumerate(("in", "out", "in"))]}
             for i, (a, t) in enumerate([(None, ()), ("ann", ("refund",)),
                                         ("bo", ("spam",)), (None, ("vip", "refund"))])]
    transfer.import_jsonl(store, _lines(specs, ids))
    before = _volume(store)
    assert before and before == _refilled(store)
    # What such a store looks like: no rollup, no triggers, m020 not run.
    conn = store.conn
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"
                                " AND name LIKE 'report_volume%'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    for table in ("report_volume", "report_volume_state", "report_volume_dirty"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm020_report_volume'")
    conn.execute(f"PRAGMA user_version = {version}")
    store.close()
    store = Store(path)
    try:
        assert store.version >= 23
        assert _rows(store) == []  # nothing counted until a report asks
        _same_reports(store, _iso(0), _iso(SPAN))
        assert _rows(store) == before
        # and the triggers are back: an edit keeps it right
        triage.tag(store, 1, ["bounce"], "t", NOW)
        assert _volume(store) == _refilled(store) != before
    finally:
        store.close()


def test_a_report_while_another_process_writes_counts_from_the_messages(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When a sync or an import holds the store's write lock, the report
    does not wait for it to bring the rollup up to date: it counts from
    the messages, and the next report catches up."""
    monkeypatch.setattr(q, "CATCH_UP_WAIT_MS", 50)
    path = tmp_path / "busy.db"
    store = Store(path)
    ids = _Ids()
    spec = {"channel": "sms", "assignee": "ann", "tags": ["refund"], "status": "open",
            "created": 0, "messages": [
                {"direction": d, "channel": "sms", "author": None, "auto_reason": None,
                 "delivery": None, "at": 7200 * j} for j, d in enumerate(("in", "out") * 3)]}
    transfer.import_jsonl(store, _lines([spec], ids))
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        assert not q.catch_up_volume(store)
        _same_reports(store, _iso(0), _iso(SPAN))
        assert _rows(store) == []
        other.execute("COMMIT")
        _same_reports(store, _iso(0), _iso(SPAN))
        assert _rows(store) and _rows(store) == _refilled(store)
    finally:
        other.close()
        store.close()
