"""``report_volume`` on PostgreSQL (PG step 3, ``store/report_pg.py``):
the promises ``test_report_rollup.py`` pins on SQLite, on a real server.
After any edits, with catch-ups between them or not, the rollup equals
one counted afresh; every report form from it equals the same report
counted from the messages; and a report while another connection writes
does not wait: it counts from the messages, and the next one catches up."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from supportctl.services import transfer
from supportctl.store import report_pg as q
from supportctl.store.db import Store
from supportctl.store.pg_schema import REPORT_HOURS
from tests.services import test_report_rollup as sqlite_side
from tests.services.test_report_rollup import (
    SPAN,
    _apply,
    _Ids,
    _iso,
    _lines,
    _one,
    _same_reports,
    ops,
    periods,
    tickets,
)

_ROWS = (f"SELECT kind, day, direction, key, {', '.join(REPORT_HOURS)} FROM report_volume"
         f" WHERE {' OR '.join(f'{h} != 0' for h in REPORT_HOURS)} ORDER BY 1, 2, 3, 4")


def _rows(store: Store) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.conn.execute(_ROWS)]


def _volume(store: Store) -> list[tuple[Any, ...]]:
    assert q.catch_up_volume(store)
    return _rows(store)


class _Undo(Exception):
    pass


def _refilled(store: Store) -> list[tuple[Any, ...]]:
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


@pytest.fixture
def pg_store(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """One database per test, emptied before each example (a database
    per example costs more than the example)."""
    from supportctl.store.db import open_store

    store = open_store(pg_url)
    # test_report_rollup's helpers catch up through ``q``: this engine's.
    monkeypatch.setattr(sqlite_side, "q", q)
    tables = [r[0] for r in store.conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        " AND tablename != 'schema_version'")]

    def empty() -> Store:
        store.conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        store.conn.execute("INSERT INTO report_volume_state (id, high) VALUES (1, 0)")
        return store

    yield empty
    store.close()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(first=st.lists(tickets, min_size=1, max_size=8), counted=st.booleans(),
       edits=st.lists(ops, max_size=12))
@example(first=[_one(0)], counted=True,
         edits=[("delete message", 1), ("import at", 1, [_one(5 * 86400)])])
@example(first=[_one(0, "ann"), _one(3 * 86400, "bo")], counted=True, edits=[("merge", 1, 2)])
@example(first=[_one(0)], counted=True, edits=[("delivery", 1, "failed")])
def test_rollup_equals_counting_every_message_afresh_on_postgresql(
        pg_store: Any, first: list[dict[str, Any]], counted: bool,
        edits: list[tuple[Any, ...]]) -> None:
    store = pg_store()
    ids = _Ids()
    transfer.import_jsonl(store, _lines(first, ids))
    if counted:
        assert q.catch_up_volume(store)
    for op in edits:
        _apply(store, op, ids)
    assert _volume(store) == _refilled(store)


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(first=st.lists(tickets, min_size=1, max_size=8), edits=st.lists(ops, max_size=12),
       period=periods)
def test_rollup_report_equals_counting_the_messages_on_postgresql(
        pg_store: Any, first: list[dict[str, Any]], edits: list[tuple[Any, ...]],
        period: tuple[int, int]) -> None:
    store = pg_store()
    ids = _Ids()
    transfer.import_jsonl(store, _lines(first, ids))
    assert q.catch_up_volume(store)
    for op in edits:
        _apply(store, op, ids)
    start, length = period
    _same_reports(store, _iso(start), _iso(min(start + length, SPAN + 3600)))


def test_a_report_while_another_connection_writes_counts_from_the_messages(
        pg_store: Any, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sync that has stored a message but not committed holds the
    messages table: the report does not wait for it to bring the rollup
    up to date, it counts from the messages (the same numbers), and the
    next report catches up, the late message included."""
    import psycopg

    monkeypatch.setattr(q, "CATCH_UP_WAIT_MS", 50)
    store = pg_store()
    ids = _Ids()
    spec = {"channel": "sms", "assignee": "ann", "tags": ["refund"], "status": "open",
            "created": 0, "messages": [
                {"direction": d, "channel": "sms", "author": None, "auto_reason": None,
                 "delivery": None, "at": 7200 * j} for j, d in enumerate(("in", "out") * 3)]}
    transfer.import_jsonl(store, _lines([spec], ids))
    with psycopg.connect(pg_url) as other:  # a transaction, left open
        other.execute("INSERT INTO messages (ticket_id, direction, channel, sent_at, created_at)"
                      " VALUES (1, 'in', 'sms', %s, %s)", [_iso(3600), _iso(3600)])
        assert not q.catch_up_volume(store)
        _same_reports(store, _iso(0), _iso(SPAN))
        assert _rows(store) == []
        other.commit()
    _same_reports(store, _iso(0), _iso(SPAN))
    assert _rows(store) and _rows(store) == _refilled(store)
    assert sum(sum(r[4:]) for r in _rows(store) if r[0] == "channel") == 7
