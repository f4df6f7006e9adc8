"""PostgreSQL keeps each message's words in a narrow table beside it
(``pg_schema`` step 11, ``message_words``), which ``search`` walks newest
first for a common term: the table follows the messages however they
change (new, a reply, merged, forgotten, deleted, many rows updated at
once, a ``COPY``, a truncation, an older store's upgrade), and a walk
through it finds what SQLite finds."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from supportctl.store import search as search_mod
from tests.conftest import run_cli

NOW = {"SUPPORTCTL_NOW": "2026-12-02T10:00:00Z"}


def _mirrored(url: str) -> int:
    """The words table holds exactly each message's id, ticket, language
    configuration and words; how many rows."""
    with psycopg.connect(url) as conn:
        want = conn.execute("SELECT id, ticket_id, supportctl_ts_config(language)::text,"
                            " tsv::text FROM messages ORDER BY id").fetchall()
        have = conn.execute("SELECT id, ticket_id, cfg::text, tsv::text FROM message_words"
                            " ORDER BY id").fetchall()
    assert have == want
    return len(have)


def _shop(db: str) -> dict[str, int]:
    """Three customers' tickets and a reply, the same on any store."""
    ids = {}
    for who, text in (("ann", "My parcel never arrived, I cannot log in to track it"),
                      ("bob", "Refund please: the parcel came broken"),
                      ("eva", "Cannot log in since Monday, and my parcel is late")):
        r = run_cli("--db", db, "new", "--channel", "phone", "--to", who, "--subject",
                    f"{who} writes", "-m", text, "--format", "ids", env=NOW)
        assert r.code == 0, r
        ids[who] = int(r.out.strip())
    r = run_cli("--db", db, "note", str(ids["bob"]), "-m", "parcel refund approved", env=NOW)
    assert r.code == 0, r
    return ids


def _found(db: str, query: str) -> list[int]:
    r = run_cli("--db", db, "search", query, "--limit", "10", "--format", "json", env=NOW)
    assert r.code == 0, r
    return [t["id"] for t in r.json()]


QUERIES = ("parcel", '"cannot log in"', "subject:writes", "parcel -refund", "log*", "monday")


def test_the_words_follow_every_change_and_a_walk_finds_what_sqlite_finds(
        cli: Any, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_mod, "_PG_COMMON", 0)  # every search walks
    lite = str(cli.db)
    shops = {db: _shop(db) for db in (lite, pg_url)}
    assert shops[lite] == shops[pg_url]
    ids = shops[pg_url]
    assert _mirrored(pg_url) == 4

    def both(*args: str) -> None:
        for db in (lite, pg_url):
            r = run_cli("--db", db, *args, env=NOW)
            assert r.code == 0, (db, args, r)
        _mirrored(pg_url)
        for query in QUERIES:
            assert _found(pg_url, query) == _found(lite, query), (args, query)

    both("merge", str(ids["eva"]), str(ids["ann"]), "--yes")  # eva's message moves
    contact = run_cli("--db", pg_url, "show", str(ids["bob"]), "--format", "json",
                      env=NOW).json()["contact"]["id"]
    both("contact", "forget", str(contact), "--yes")  # bob's words go
    assert _found(pg_url, "refund") == [] and _found(pg_url, "broken") == []
    both("delete", str(ids["ann"]), "--yes")
    assert _found(pg_url, "parcel") == _found(lite, "parcel") == []
    assert _mirrored(pg_url) == 2  # bob's ticket, its text forgotten


def test_many_rows_at_once_a_copy_and_a_truncation(cli: Any, pg_empty_url: str) -> None:
    _shop(str(cli.db))
    r = run_cli("db", "copy", str(cli.db), pg_empty_url, env=NOW)
    assert r.code == 0, r
    assert _mirrored(pg_empty_url) == 4  # COPY: one statement, every row
    with psycopg.connect(pg_empty_url) as conn:
        conn.execute("UPDATE messages SET language = 'it'")  # one statement, many rows
    assert _mirrored(pg_empty_url) == 4
    with psycopg.connect(pg_empty_url) as conn:
        cfg = conn.execute("SELECT DISTINCT cfg::text FROM message_words").fetchall()
        assert cfg == [("supportctl_italian",)]
        conn.execute("TRUNCATE messages CASCADE")
    assert _mirrored(pg_empty_url) == 0
    _shop(pg_empty_url)
    with psycopg.connect(pg_empty_url) as conn:  # both at once, as an admin may
        conn.execute("TRUNCATE messages, message_words, tickets CASCADE")
    assert _mirrored(pg_empty_url) == 0


def test_an_older_store_gets_its_words_on_upgrade(pg_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_mod, "_PG_COMMON", 0)
    ids = _shop(pg_url)
    with psycopg.connect(pg_url) as conn:
        conn.execute("DROP TABLE message_words")
        for what in ("inserted", "updated", "deleted", "truncated"):
            conn.execute(f"DROP TRIGGER messages_words_{what} ON messages")
            conn.execute(f"DROP FUNCTION supportctl_words_{what}()")
        conn.execute("DELETE FROM schema_version WHERE version = 11")
    r = run_cli("--db", pg_url, "db", "migrate", env=NOW)
    assert r.code == 0 and "p011_message_words" in r.out + r.err, r
    assert _mirrored(pg_url) == 4
    assert _found(pg_url, '"cannot log in"') == [ids["eva"], ids["ann"]]
