"""``report`` reads its message counts from ``report_volume`` (m020, kept by
triggers): whatever happens to a store, the report gives exactly the
numbers counted straight from the messages (``rollup=False``), for any
period (whole hours or not, one hour or weeks), any ``--by`` and zones on
both sides of a daylight-saving change; and the rollup equals one filled
afresh from the messages, as m020 fills an existing store."""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supportctl.errors import SupportError
from supportctl.services import transfer, triage
from supportctl.services.report import GROUPS
from supportctl.services.report import report as run_report
from supportctl.store.db import Store
from supportctl.store.migrations import REPORT_HOURS, REPORT_VOLUME_FILL

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
    "messages": st.lists(messages, max_size=5),
})
ops = st.one_of(
    st.tuples(st.just("tag"), st.integers(0, 11), st.sampled_from(TAGS)),
    st.tuples(st.just("untag"), st.integers(0, 11), st.sampled_from(TAGS)),
    st.tuples(st.just("assign"), st.integers(0, 11), st.sampled_from(AGENTS)),
    st.tuples(st.just("status"), st.integers(0, 11), st.sampled_from(STATUSES)),
    st.tuples(st.just("merge"), st.integers(0, 11), st.integers(0, 11)),
    st.tuples(st.just("delete"), st.integers(0, 11)),
    st.tuples(st.just("import"), st.lists(tickets, min_size=1, max_size=3)),
    st.tuples(st.just("delivery"), st.integers(0, 60), st.sampled_from((None, "failed"))),
    st.tuples(st.just("delete message"), st.integers(0, 60)),
)
periods = st.tuples(instants, st.integers(min_value=1, max_value=SPAN), st.booleans()).map(
    lambda p: (p[0] // 3600 * 3600 if p[2] else p[0], p[1]))


class _Ids:
    def __init__(self) -> None:
        self.ticket = 0
        self.message = 0


def _lines(specs: list[dict[str, Any]], ids: _Ids) -> list[str]:
    out = []
    for spec in specs:
        ids.ticket += 1
        msgs = []
        for m in spec["messages"]:
            ids.message += 1
            msgs.append({
                "id": ids.message, "direction": m["direction"], "channel": m["channel"],
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
        elif kind == "delivery":  # as outbox and ingest set it
            store.execute("UPDATE messages SET delivery_state = ? WHERE id = ?", args)
        else:
            store.execute("DELETE FROM messages WHERE id = ?", args)
    except SupportError:
        pass  # no such ticket, a merge into itself: the store is unchanged


#: The rollup's rows that count something, in one order.
_ROWS = (f"SELECT kind, day, direction, key, {', '.join(REPORT_HOURS)} FROM {{table}}"
         f" WHERE {' OR '.join(f'{h} != 0' for h in REPORT_HOURS)} ORDER BY 1, 2, 3, 4")


def _volume(store: Store) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.conn.execute(_ROWS.format(table="report_volume"))]


def _refilled(store: Store) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(":memory:")
    conn.execute("ATTACH ? AS s", [str(store.path)])
    conn.execute("CREATE TEMP TABLE report_volume AS SELECT * FROM s.report_volume WHERE false")
    for sql in REPORT_VOLUME_FILL:
        conn.execute(sql.replace("FROM messages", "FROM s.messages")
                     .replace("JOIN tickets", "JOIN s.tickets").replace("JOIN tags", "JOIN s.tags")
                     .replace("FROM tags", "FROM s.tags"))
    rows = [tuple(r) for r in conn.execute(_ROWS.format(table="temp.report_volume"))]
    conn.close()
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


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(first=st.lists(tickets, min_size=1, max_size=8), edits=st.lists(ops, max_size=12),
       period=periods)
def test_rollup_report_equals_counting_the_messages(
        template: Path, tmp_path: Path, first: list[dict[str, Any]],
        edits: list[tuple[Any, ...]], period: tuple[int, int]) -> None:
    path = tmp_path / f"s{abs(hash((repr(first), repr(edits), period)))}.db"
    shutil.copy(template, path)
    store = Store(path)
    try:
        ids = _Ids()
        transfer.import_jsonl(store, _lines(first, ids))
        for op in edits:
            _apply(store, op, ids)
        assert _volume(store) == _refilled(store)
        start, length = period
        _same_reports(store, _iso(start), _iso(min(start + length, SPAN + 3600)))
    finally:
        store.close()
        path.unlink()


def test_migration_fills_the_rollup_of_an_existing_store(tmp_path: Path) -> None:
    """A store from before m020 (its messages written with no rollup)
    gets its counts when it is opened by this version."""
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
    # What a store of schema 19 looks like: no rollup, no triggers, m020 not run.
    conn = store.conn
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"
                                " AND name LIKE 'report_volume%'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("DROP TABLE report_volume")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm020_report_volume'")
    conn.execute("PRAGMA user_version = 19")
    store.close()
    store = Store(path)
    try:
        assert store.version >= 20
        assert _volume(store) == before
        _same_reports(store, _iso(0), _iso(SPAN))
        # and the triggers are back: an edit keeps it right
        triage.tag(store, 1, ["bounce"], "t", NOW)
        assert _volume(store) == _refilled(store)
    finally:
        store.close()
