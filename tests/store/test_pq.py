"""The reading commands' PostgreSQL connections, on libpq (``store/pq.py``)
and on the wire protocol (``store/wire.py``), give what psycopg's
``PgConnection`` gives: the same values of the same types for every column
type the store returns, the same parameters, the same errors and
connection messages."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from supportctl.store import pq, wire
from supportctl.store.db import IntegrityError, StoreError

if pq.libpq() is None:  # pragma: no cover - Debian's libpq5 comes with postgresql
    pytest.skip("libpq cannot be loaded", allow_module_level=True)

#: Every kind of value a store query returns, and the edges of each.
LITERALS = (
    "SELECT 1::int2 AS small, '-2147483648'::int4 AS int4, 9223372036854775807::int8 AS big,"
    " 26::oid AS oid, 1.5::float4 AS f4, 0.1::float8 AS f8, 1e300::float8 AS huge,"
    " 'NaN'::float8 AS nan, '-Infinity'::float8 AS neg_inf, 12.50::numeric AS num,"
    " (SELECT avg(x) FROM (VALUES (1), (2)) v(x)) AS average,"
    " true AS yes, false AS no, NULL AS nothing, NULL::int8 AS no_int, NULL::bytea AS no_bytes,"
    " '' AS empty, 'Ünïcödé ☃ 𝄞 עברית' AS uni, 'a''b\"c\\d %s ? :name $1' AS marks,"
    " '\\x00ff10'::bytea AS bytes, ''::bytea AS no_bytes_at_all,"
    " '{\"a\": [1, 2.5, null]}'::json AS js, '{\"b\": true}'::jsonb AS jsb,"
    " 'x'::varchar AS vc, 'y'::name AS nm, 'z'::char(3) AS ch"
)
#: What each parameter type round-trips as (psycopg's types: str untyped).
PARAMS = [None, True, False, 0, -(2**15), 2**15, 2**31, -(2**63), 2**63, 1.25, -0.0, 1e-300,
          "ü ☃ '?' :x $1 %", "", b"\x00\xff", bytearray(b"ab"), memoryview(b"cd")]


def _on_wire(url: str) -> wire.WireConnection:
    """The wire protocol's connection, never libpq's in its place."""
    target = wire.plain(url)
    assert target is not None, url
    return wire.WireConnection(url, target)


@pytest.fixture(params=["libpq", "wire"])
def reader(request: pytest.FixtureRequest) -> Any:
    """How a reading command connects: each way in turn."""
    return pq.PqConnection if request.param == "libpq" else _on_wire


@pytest.fixture
def _both(reader: Any) -> Any:
    from supportctl.store.pg import PgConnection

    return lambda url: (PgConnection(url), reader(url))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


def test_every_column_type_reads_as_psycopg_reads_it(pg_url: str, _both: Any) -> None:
    psy, lib = _both(pg_url)
    want, got = psy.execute(LITERALS).fetchone(), lib.execute(LITERALS).fetchone()
    names = want.keys()  # a row iterates its values, as a tuple
    assert got.keys() == names
    for name in names:
        assert _same(got[name], want[name]), (name, got[name], want[name])
    assert got["bytes"] == b"\x00\xff\x10" and got["big"] == 2**63 - 1 and got["nothing"] is None
    assert got[0] == 1 and dict(got)["uni"] == "Ünïcödé ☃ 𝄞 עברית"


def test_parameters_go_as_psycopg_sends_them(pg_url: str, _both: Any) -> None:
    psy, lib = _both(pg_url)
    marks = ", ".join("?" for _ in PARAMS)
    sql = f"SELECT {marks}, ?::text IS NULL AS none_is_null, pg_typeof(?)::text AS big_type"
    args = [*PARAMS, None, 2**40]
    want = psy.execute(sql, list(args)).fetchone()
    got = lib.execute(sql, list(args)).fetchone()
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert _same(g, w), (i, g, w)
    assert got["big_type"] == "bigint" and got["none_is_null"] is True
    named = "SELECT :a AS a, :b AS b, :a || '!' AS again WHERE ':c' = ':c' AND '%' = '%'"
    assert lib.execute(named, {"a": "x", "b": 7}).fetchall() == \
        psy.execute(named, {"a": "x", "b": 7}).fetchall()


def test_rows_iterate_and_fetch_as_psycopgs(pg_url: str, _both: Any) -> None:
    psy, lib = _both(pg_url)
    sql = "SELECT g AS n, repeat('é', g) AS s FROM generate_series(1, 5) g ORDER BY g"
    for conn in (psy, lib):
        cur = conn.execute(sql)
        assert cur.fetchone() == (1, "é")
        assert cur.fetchmany(2) == [(2, "éé"), (3, "ééé")]
        assert [r["n"] for r in cur] == [4, 5]
        assert cur.fetchone() is None and cur.fetchall() == []
        assert conn.execute("SELECT 1 WHERE false").fetchone() is None
        assert conn.execute("CREATE TEMP TABLE IF NOT EXISTS t (a int)").fetchall() == []


def test_errors_are_the_stores(pg_url: str, _both: Any) -> None:
    psy, lib = _both(pg_url)
    psy.execute("CREATE TABLE once (id int PRIMARY KEY)")
    psy.execute("INSERT INTO once VALUES (1)")
    caught = []
    for conn in (psy, lib):
        with pytest.raises(IntegrityError) as exc:
            conn.execute("INSERT INTO once VALUES (?)", [1])
        caught.append(str(exc.value))
        with pytest.raises(StoreError, match="cancelled a statement: canceling statement"):
            conn.execute("SET statement_timeout = 1")
            conn.execute("SELECT pg_sleep(1)")
        conn.execute("SET statement_timeout = 0")
    assert caught[0] == caught[1] == 'duplicate key value violates unique constraint "once_pkey"'
    with pytest.raises(pq.PqError, match="syntax error"):
        lib.execute("SELEC 1")
    assert lib.total_changes == 0
    lib.execute("INSERT INTO once VALUES (2), (3)")
    assert lib.total_changes == 2 and not lib.in_transaction
    lib.command("BEGIN")
    assert lib.in_transaction
    lib.commit()
    assert not lib.in_transaction


def test_a_refused_connection_says_what_psycopg_says(pg_url: str, tmp_path: Path) -> None:
    """libpq's line, word for word: the wire protocol leaves every
    connection that fails before its session is ready to libpq."""
    from supportctl.store.pg import PgConnection

    for url in (f"postgresql://ann:s3cret@/nowhere?host={tmp_path}",
                pg_url.replace("supportctl@", "nobody:s3cret@"),
                pg_url.replace("@/t", "@/nodb_t"), "postgresql://ann:s3cret@127.0.0.1:1/x"):
        said = []
        for connect in (PgConnection, pq.PqConnection, wire.connection):
            with pytest.raises(StoreError) as exc:
                connect(url)
            said.append(str(exc.value))
        assert said[0] == said[1] == said[2], url
        assert "s3cret" not in said[1] and said[1].startswith("cannot connect to ")


def test_a_dropped_connection_is_opened_again(pg_url: str, reader: Any) -> None:
    from supportctl.store.pg import PgConnection

    lib = reader(pg_url)
    pid = lib.execute("SELECT pg_backend_pid()").fetchone()[0]
    PgConnection(pg_url).execute("SELECT pg_terminate_backend(?)", [pid])
    with pytest.raises(StoreError, match="failed"):
        lib.execute("SELECT 1")
    assert lib.execute("SELECT 2").fetchone()[0] == 2


def test_a_reading_session_starts_without_jit_or_parallel_workers(
        pg_url: str, monkeypatch: pytest.MonkeyPatch, reader: Any) -> None:
    """Set as the connection starts (``pq.SESSION``); PGOPTIONS comes after
    them and the URL's own options replace them, as a user who sets either
    asks."""
    settings = ("SELECT current_setting('jit') AS jit,"
                " current_setting('max_parallel_workers_per_gather') AS workers,"
                " current_setting('work_mem') AS mem")
    monkeypatch.delenv("PGOPTIONS", raising=False)
    row = reader(pg_url).execute(settings).fetchone()
    assert (row["jit"], row["workers"]) == ("off", "0")
    own = pg_url + "&options=-c%20work_mem%3D6MB"
    row = reader(own).execute(settings).fetchone()
    assert (row["workers"], row["mem"]) == ("2", "6MB")
    monkeypatch.setenv("PGOPTIONS", "-c work_mem=5MB -c jit=on")
    # A PG* variable: libpq reads them, so the connection is libpq's.
    conn = wire.connection(pg_url)
    assert type(conn) is pq.PqConnection
    row = conn.execute(settings).fetchone()
    assert (row["jit"], row["workers"], row["mem"]) == ("on", "0", "5MB")
    row = wire.connection(own).execute(settings).fetchone()
    assert (row["workers"], row["mem"]) == ("2", "6MB")


def test_a_value_that_cannot_go_fails_its_statement_not_the_connection(
        pg_url: str, reader: Any) -> None:
    conn = reader(pg_url)
    conn.command("BEGIN")
    with pytest.raises(ValueError, match="NUL"):
        conn.execute("SELECT ?::text", ["a\x00b"])
    assert conn.in_transaction
    assert conn.execute("SELECT ?::text AS t", ["ab"]).fetchone()["t"] == "ab"
    conn.commit()
    assert not conn.in_transaction


def test_a_statement_the_server_refuses_leaves_the_connection_and_its_transaction(
        pg_url: str, reader: Any) -> None:
    """As psycopg's: the transaction is failed, not lost; it rolls back
    on the same connection."""
    conn = reader(pg_url)
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    conn.command("CREATE TEMP TABLE once (id int PRIMARY KEY)")
    conn.command("BEGIN")
    conn.execute("INSERT INTO once VALUES (1)")
    with pytest.raises(IntegrityError):
        conn.execute("INSERT INTO once VALUES (?)", [1])
    assert conn.in_transaction
    conn.command("ROLLBACK")
    assert not conn.in_transaction
    assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] == pid
    assert conn.execute("SELECT count(*) FROM once").fetchone()[0] == 0
