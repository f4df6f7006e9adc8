"""The reading commands' PostgreSQL connection on the wire protocol
(``store/wire.py``): which connections it makes itself and which it leaves
to libpq, the passwords it answers with, a reply larger than a read, a
Ctrl-C in the middle of one, and a reading command that never loads
libpq. What it returns is checked against psycopg in ``test_pq.py``."""

from __future__ import annotations

import io
import signal
from typing import Any

import psycopg
import pytest

from supportctl.cli.app import run
from supportctl.store import pq, wire
from supportctl.store.db import StoreError
from supportctl.store.pg import PgConnection

NOW = {"SUPPORTCTL_NOW": "2026-12-01T10:00:00Z"}


@pytest.mark.parametrize(("url", "want"), [
    ("postgresql:///shop?host=/run/pg&user=ann",
     {"host": "/run/pg", "dbname": "shop", "user": "ann"}),
    ("postgres://ann:p%40ss@%2Frun%2Fpg:5433/shop",
     {"host": "/run/pg", "port": "5433", "dbname": "shop", "user": "ann", "password": "p@ss"}),
    ("postgresql://ann@db.example:6432/shop?sslmode=disable&application_name=x",
     {"host": "db.example", "port": "6432", "dbname": "shop", "user": "ann",
      "sslmode": "disable", "application_name": "x"}),
    ("postgresql://ann@[::1]:5433/shop?sslmode=disable",
     {"host": "::1", "port": "5433", "dbname": "shop", "user": "ann", "sslmode": "disable"}),
    ("postgresql://ann@/?host=/run/pg", {"host": "/run/pg", "dbname": "ann", "user": "ann"}),
])
def test_a_plain_url_is_understood(url: str, want: dict[str, str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _no_pg_variables(monkeypatch)
    assert wire.plain(url) == want


@pytest.mark.parametrize("url", [
    "postgresql://ann@db.example/shop",  # TCP: libpq tries TLS first
    "postgresql://ann@db.example/shop?sslmode=require",
    "postgresql://ann@/shop?host=/run/pg&sslmode=verify-full",
    "postgresql://ann@/shop",  # libpq's compiled-in socket directory
    "postgresql://ann@a,b/shop?sslmode=disable",  # several hosts
    "postgresql://ann@/shop?host=/run/pg&service=shop",
    "postgresql://ann@/shop?host=/run/pg&sslrootcert=/x",
    "postgresql://ann@/shop?host=/run/pg&port=x",
    "mysql://ann@/shop?host=/run/pg",
])
def test_anything_more_is_left_to_libpq(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_pg_variables(monkeypatch)
    assert wire.plain(url) is None


def test_a_pg_variable_in_the_environment_is_left_to_libpq(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_pg_variables(monkeypatch)
    url = "postgresql:///shop?host=/run/pg&user=ann"
    assert wire.plain(url) is not None
    monkeypatch.setenv("PGPASSFILE", "/elsewhere")
    assert wire.plain(url) is None


@pytest.fixture
def passwords(pg_server: Any, pg_url: str) -> dict[str, str]:
    """Three roles, each asked for its password in one of the ways
    PostgreSQL asks (pg_hba.conf lines ahead of the server's trust), and
    their URLs with the password."""
    admin = pg_server.url()
    urls = {}
    with psycopg.connect(admin, autocommit=True) as conn:
        hba = str((conn.execute("SHOW hba_file").fetchone() or [""])[0])
        for role, method, stored in (("scram_ann", "scram-sha-256", "scram-sha-256"),
                                     ("md5_bob", "md5", "md5"), ("clear_cy", "password", "md5")):
            conn.execute(f"SET password_encryption = '{stored}'")
            conn.execute(f"DROP ROLE IF EXISTS {role}")
            conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pa''ss w0rd'")
            urls[method] = pg_url.replace("supportctl@", f"{role}:pa%27ss%20w0rd@")
        lines = "".join(f"local all {role} {method}\n" for role, method in (
            ("scram_ann", "scram-sha-256"), ("md5_bob", "md5"), ("clear_cy", "password")))
        with open(hba, encoding="utf-8") as fh:
            rest = fh.read()
        if "scram_ann" not in rest:
            with open(hba, "w", encoding="utf-8") as fh:
                fh.write(lines + rest)
            conn.execute("SELECT pg_reload_conf()")
    return urls


@pytest.mark.parametrize("method", ["scram-sha-256", "md5", "password"])
def test_each_kind_of_password_is_answered_on_the_wire(
        passwords: dict[str, str], method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_pg_variables(monkeypatch)
    url = passwords[method]
    conn = wire.connection(url)
    assert type(conn) is wire.WireConnection
    assert conn.execute("SELECT current_user").fetchone()[0] == PgConnection(url).execute(
        "SELECT current_user").fetchone()[0]

    # A wrong password, or none (libpq would look in ~/.pgpass): libpq
    # connects, and says what it says.
    for other in (url.replace("w0rd@", "wrong@"), url.replace(":pa%27ss%20w0rd@", "@")):
        said = []
        for connect in (PgConnection, wire.connection):
            with pytest.raises(StoreError) as exc:
                connect(other)
            said.append(str(exc.value))
        assert said[0] == said[1] and "w0rd" not in said[1] and "wrong" not in said[1]


def test_a_reply_larger_than_a_read_comes_whole(pg_url: str) -> None:
    conn = wire.WireConnection(pg_url, wire.plain(pg_url) or {})
    sql = ("SELECT g, repeat(chr(233), g % 97) || ? AS s, g % 3 = 0 AS three"
           " FROM generate_series(1, 20000) g ORDER BY g")
    want = PgConnection(pg_url).execute(sql, ["é" * 70000]).fetchall()
    got = conn.execute(sql, ["é" * 70000]).fetchall()
    assert got == want and len(got) == 20000


def test_ctrl_c_half_way_through_a_reply_leaves_a_connection_that_works(pg_url: str) -> None:
    conn = wire.WireConnection(pg_url, wire.plain(pg_url) or {})

    def interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(KeyboardInterrupt):
            conn.execute("SELECT 1 AS one, pg_sleep(2)")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)
    # The half-read reply is never taken for the next statement's.
    assert conn.execute("SELECT 2 AS two").fetchall() == [(2,)]
    assert not conn.in_transaction


def test_a_reading_command_on_a_local_server_never_loads_libpq(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_pg_variables(monkeypatch)
    out = io.StringIO()
    assert run(["--db", pg_url, "new", "--channel", "phone", "--to", "Dora", "-m", "hi"],
               env=NOW, stdout=out) == 0
    monkeypatch.setattr(pq, "_LIB", [])
    for argv in (["list", "--format", "json"], ["show", "1"], ["search", "hi"]):
        out = io.StringIO()
        assert run(["--db", pg_url, *argv], env=NOW, stdout=out) == 0, argv
        assert "Dora" in out.getvalue(), argv
    assert pq._LIB == []  # libpq() was never asked for


def _no_pg_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [k for k in os.environ if k.startswith("PG")]:
        monkeypatch.delenv(name)
