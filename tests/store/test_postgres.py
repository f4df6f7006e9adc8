"""What only the PostgreSQL store does (SPEC §13): many machines syncing
the same channel entries (one pulls an entry, the others skip it quietly),
many machines opening a new database at once, and the schema's search."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from supportctl.channels import build
from supportctl.channels.memory import SERVERS, server
from supportctl.models import Address, Inbound
from supportctl.services import ingest, sync
from supportctl.store import pg_schema
from supportctl.store.db import open_store


def _settings() -> ingest.IngestSettings:
    return ingest.IngestSettings(account="mem", actor="sync", own_addresses=set())


def test_an_entry_another_machine_is_pulling_is_skipped_quietly(pg_url: str) -> None:
    SERVERS.pop("mem", None)
    server("mem").inbox = [Inbound(medium="sms", raw=b"{}", external_id=f"SM{k}",
                                   sender=Address("+15550001"), text=f"m{k}") for k in range(3)]
    here, there = open_store(pg_url), open_store(pg_url)
    try:
        channel = build({"name": "mem", "type": "memory"})
        with there.entry_lock("mem") as mine:
            assert mine
            skipped = sync.sync_entry(here, channel, _settings())
        assert skipped.ok and skipped.skipped and skipped.stored == 0
        assert sync.describe(skipped) == "mem: skipped: another machine is syncing it"
        done = sync.sync_entry(here, channel, _settings())  # the lock is free again
        assert done.ok and done.stored == 3
        assert sync.sync_entry(there, channel, _settings()).stored == 0  # each message once
    finally:
        here.close()
        there.close()


def test_many_machines_opening_a_new_database_make_the_schema_once(pg_empty_url: str) -> None:
    errors: list[str] = []

    def one() -> None:
        try:
            open_store(pg_empty_url).close()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = open_store(pg_empty_url)
    try:
        rows = store.scalar("SELECT count(*) FROM schema_version")
        assert rows == len(pg_schema.STEPS)  # each step made once
    finally:
        store.close()


def test_a_message_is_indexed_in_its_language(pg_url: str) -> None:
    from supportctl.store.search import search

    store: Any = open_store(pg_url)
    try:
        store.execute("INSERT INTO tickets (id, channel, created_at, updated_at) "
                      "VALUES (1, 'sms', 'x', 'x'), (2, 'sms', 'x', 'x')")
        store.execute("INSERT INTO messages (ticket_id, direction, channel, text, sent_at, "
                      "created_at, language) VALUES (1, 'in', 'sms', 'Deux livraisons perdues', 'x',"
                      " 'x', 'fr'), (2, 'in', 'sms', 'Die Pakete sind verloren', 'x', 'x', 'de')")
        assert [t for t, _ in search(store, "deux", "2026-12-01T00:00:00Z")] == [1]
        assert [t for t, _ in search(store, "Paket", "2026-12-01T00:00:00Z")] == [2]
        assert [t for t, _ in search(store, "livraison", "2026-12-01T00:00:00Z")] == [1]
    finally:
        store.close()


def admin_kill(url: str, pid: int) -> None:
    """End a server process as an admin (or a restart) would, and wait
    until it is gone."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 10000)", [pid])


def test_a_connection_the_server_dropped_is_opened_again_for_the_next_change(pg_url: str) -> None:
    """``serve`` and ``sync --watch`` hold one connection for days: after
    the server drops it (a restart, an idle timeout) the change that found
    it gone fails in one line, and the next opens a new one."""
    from supportctl.store.db import StoreError

    store = open_store(pg_url)
    try:
        pid = store.scalar("SELECT pg_backend_pid()")
        admin_kill(pg_url, pid)
        try:
            store.scalar("SELECT 1")
        except StoreError as exc:
            assert "\n" not in str(exc)
        # Inside a transaction that finds it gone: one line, nothing done.
        with pytest.raises(StoreError), store.tx():
            store.insert("spam_senders", {"kind": "email", "address": "lost@y", "at": "now"})
            admin_kill(pg_url, store.scalar("SELECT pg_backend_pid()"))
            store.insert("spam_senders", {"kind": "email", "address": "lost2@y", "at": "now"})
        assert store.scalar("SELECT count(*) FROM spam_senders") == 0  # a statement alone: again
        with store.tx():
            store.insert("spam_senders", {"kind": "email", "address": "x@y", "at": "now"})
        assert store.scalar("SELECT count(*) FROM spam_senders") == 1
        assert store.scalar("SELECT pg_backend_pid()") != pid
    finally:
        store.close()


def test_one_machine_does_the_housekeeping_at_a_time(pg_url: str, tmp_path: Any) -> None:
    """Every machine's sync ends with housekeeping (close, wake, CSAT,
    notify): while one does it, another skips it, so nothing is closed,
    asked or notified twice; the next pass does what is left."""
    from supportctl.config import load_config
    from supportctl.services import housekeeping, triage
    from supportctl.services.tickets import log_ticket

    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text("close_after: 1d\n", encoding="utf-8")
    cfg = load_config(cfg_path)
    here, there = open_store(pg_url), open_store(pg_url)
    try:
        tid = log_ticket(here, medium="phone", who="Ann", name="", subject="Call", text="hi",
                         actor="ann", now="2026-11-30T09:00:00Z")
        triage.solve(here, tid, "ann", "2026-11-30T09:00:00Z")

        def run() -> housekeeping.Report:
            return housekeeping.run(here, cfg, "2026-12-02T09:00:00Z", actor="sync",
                                    channel_for=lambda name: None)

        with there.housekeeping_lock() as mine:
            assert mine
            busy = run()
        assert busy.skipped and busy.closed == 0
        assert here.scalar("SELECT status FROM tickets WHERE id = ?", [tid]) == "solved"
        done = run()
        assert not done.skipped and done.closed == 1
    finally:
        here.close()
        there.close()


def test_the_schemas_functions_run_in_a_parallel_plan(pg_url: str) -> None:
    """PostgreSQL may run a function marked PARALLEL SAFE in a worker;
    ``supportctl_people`` catches errors (a subtransaction), which a
    worker refuses, so it must not be marked safe. debug_parallel_query
    (force_parallel_mode before PostgreSQL 16) puts every query that can
    go parallel into a worker."""
    store = open_store(pg_url)
    try:
        raw = store.conn.raw
        version = int(raw.execute("SHOW server_version_num").fetchone()[0])
        setting = "debug_parallel_query" if version >= 160000 else "force_parallel_mode"
        raw.execute(f"SET {setting} = on")
        got = raw.execute("SELECT supportctl_people(j) FROM (VALUES "
                          "('[{\"name\": \"Ann\", \"address\": \"ann@example.com\"}]'),"
                          " ('not json')) v(j)").fetchall()
        assert [r[0] for r in got] == ["Ann ann@example.com", ""]
    finally:
        store.close()


def test_the_notify_cursor_never_passes_an_event_still_being_written(
        pg_url: str, monkeypatch: Any) -> None:
    """Another machine's assignment holds event id N uncommitted while a
    later event commits: the newest settled id is not known until N
    commits, so notify keeps its cursor (and tells the owner next pass)
    instead of moving past N for good."""
    from supportctl.store import notify as store_notify

    monkeypatch.setattr(store_notify, "SETTLE_WAIT_MS", 200)
    writing, other, reader = open_store(pg_url), open_store(pg_url), open_store(pg_url)
    try:
        with writing.tx():
            writing.event("luca", "assign", "2026-12-02T10:00:00Z", assignee="marta")
            other.event("sync", "log", "2026-12-02T10:00:01Z")  # commits first, a later id
            assert store_notify.last_event_id(reader) is None
        assert store_notify.last_event_id(reader) == 2
    finally:
        for s in (writing, other, reader):
            s.close()


def _sql(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]  # our own literal SQL


def test_a_store_at_step_5_finds_accents_and_cjk_once_migrated(pg_empty_url: str) -> None:
    """A store made before step 7: its messages are indexed again as the
    step runs (folded accents, names read as SQLite reads them, trigrams)."""
    from supportctl.store.search import search

    old = [s for number, _, steps in pg_schema.STEPS if number <= 5 for s in steps]
    _sql(pg_empty_url, "CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
         " name TEXT NOT NULL, at TEXT NOT NULL)", *old,
         "INSERT INTO schema_version SELECT n, 'old', 'x' FROM unnest(ARRAY[1, 3, 4, 5]) n",
         "INSERT INTO tickets (id, channel, created_at, updated_at) VALUES"
         " (1, 'email', 'x', 'x'), (2, 'email', 'x', 'x')",
         "INSERT INTO messages (ticket_id, direction, channel, from_name, from_address, text,"
         " sent_at, created_at, language) VALUES"
         " (1, 'in', 'email', 'Zoë', 'zoe@exämple.com', 'Le café était froid', 'x', 'x', 'fr'),"
         " (2, 'in', 'email', '山田', 'y@example.jp', '注文番号がまだ届きません', 'x', 'x', NULL)")
    store: Any = open_store(pg_empty_url)
    try:
        assert store.scalar("SELECT max(version) FROM schema_version") == pg_schema.LATEST
        now = "2026-12-01T00:00:00Z"
        for query, want in [("cafe", [1]), ("from:exämple.com", [1]), ("from:zoe", [1]),
                            ("注文番号", [2]), ("届", [2]), ("from:山田", [2])]:
            assert [t for t, _ in search(store, query, now)] == want, query
    finally:
        store.close()


def test_a_role_that_may_not_create_unaccent_is_told_what_to_run(pg_empty_url: str) -> None:
    from supportctl.store.db import StoreError

    name = pg_empty_url.split("@/", 1)[1].split("?")[0]
    _sql(pg_empty_url, "CREATE ROLE clerk LOGIN", "GRANT CREATE ON SCHEMA public TO clerk")
    clerk = pg_empty_url.replace("supportctl@", "clerk@")
    with pytest.raises(StoreError) as refused:
        open_store(clerk)
    said = str(refused.value)
    assert "\n" not in said and "`CREATE EXTENSION unaccent;`" in said and name in said, said
    _sql(pg_empty_url, "CREATE EXTENSION unaccent")  # as the database's owner
    open_store(clerk).close()


def test_the_open_tickets_are_listed_from_their_indexes(pg_url: str) -> None:
    """``list`` (step 10): by deadline, the next one that still matters
    (tickets without one last); breached ones; the open ones by activity.
    And the indexes of step 10 answer the queries as ``ticket_ids`` writes
    them, so a change to either shows here."""
    from supportctl.store.read import TicketFilter, ticket_ids

    store: Any = open_store(pg_url)
    try:
        rows = [  # id, status, first_response_due, first_response_at, resolution_due, solved_at
            (1, "open", "2026-12-03", None, "2026-12-09", None),  # first response due
            (2, "open", "2026-12-04", "2026-12-02", "2026-12-05", None),  # answered: resolution
            (3, "pending", None, None, "2026-12-01", None),
            (4, "new", None, None, None, None),  # no clock: last
            (5, "open", "2026-12-01", None, None, None),
            (6, "closed", "2026-11-01", None, None, None),  # not open
            (7, "solved", "2026-11-02", None, "2026-11-03", "2026-11-02"),
            (8, "open", "2026-11-30", None, None, None),  # merged below
            (9, "new", None, None, None, None),
        ]
        for tid, status, first_due, first_at, res_due, solved in rows:
            store.execute("INSERT INTO tickets (id, status, channel, created_at, updated_at,"
                          " first_response_due, first_response_at, resolution_due, solved_at)"
                          " VALUES (?, ?, 'sms', 'x', ?, ?, ?, ?, ?)",
                          [tid, status, f"2026-11-{10 + tid}", first_due, first_at, res_due, solved])
        store.execute("UPDATE tickets SET merged_into = 1 WHERE id = 8")
        now = "2026-12-02T00:00:00Z"
        listed = [
            ("tickets_next_due", TicketFilter(sort="due", limit=50), [3, 5, 1, 2, 4, 9]),
            ("tickets_open_clocks", TicketFilter(sla="breached"), [5, 3]),
            ("tickets_open_clocks", TicketFilter(limit=3), [9, 5, 4]),
        ]
        assert ticket_ids(store, TicketFilter(sort="due", statuses=["open"]), now) == [5, 1, 2]

        asked: list[tuple[str, Any]] = []

        class Spy:
            sql = store.sql

            class conn:  # noqa: N801  (the store's attribute)
                @staticmethod
                def execute(sql: str, params: Any) -> Any:
                    asked.append((sql, params))
                    return store.conn.execute(sql, params)

        for index, how, want in listed:
            asked.clear()
            assert ticket_ids(Spy(), how, now) == want, index  # type: ignore[arg-type]
            [(sql, params)] = asked
            with store.tx():
                store.execute("SET LOCAL enable_seqscan = off")
                store.execute("SET LOCAL enable_sort = off")
                plan = "\n".join(r[0] for r in store.execute(f"EXPLAIN {sql}", params))
            assert index in plan, plan
    finally:
        store.close()
