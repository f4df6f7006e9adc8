"""``list``, ``show`` and ``search`` on PostgreSQL read on the wire protocol
(``store/wire.py``) or through libpq (``store/pq.py``): the same bytes as
on SQLite for values that are easy to get wrong (NULLs, unicode, bytes, big
ids, booleans), without loading psycopg, and through psycopg when libpq is
needed and cannot be loaded (SPEC §8)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, Result, run_cli

NOW = {"SUPPORTCTL_NOW": "2026-12-01T09:00:00Z"}
BIG = 2**53 + 1  # past a double's exact integers
ODD = "Ünïcödé ☃ 𝄞 \"quoted\" 'single' %s ? :name $1 \\ back"
LINES = [
    {"id": 1, "status": "open", "priority": "high", "subject": ODD, "channel": "email",
     "account": "shop", "assignee": "zoë", "created_at": "2026-11-30T08:00:00Z",
     "updated_at": "2026-11-30T09:00:00Z", "tags": ["ünï", "vip"],
     "sla": {"first_response_due": "2026-11-30T08:30:00Z", "resolution_due": None},
     "csat": {"asked_at": "2026-11-30T09:00:00Z", "rating": 5, "comment": "très bien ☃",
              "answered_at": "2026-11-30T10:00:00Z"},
     "contact": {"id": BIG, "name": "Zoë 'Z' O\"Brien",
                 "identities": [{"channel": "email", "address": "zoe@exämple.com"}]},
     "messages": [{"id": 2**40, "ticket_id": 1, "direction": "in", "channel": "email",
                   "external_id": "a1@example.com",
                   "from": {"name": "Zoë", "address": "zoe@exämple.com"},
                   "to": [{"name": "", "address": "help@shop.example"}], "subject": ODD,
                   "text": "line one\nline two\ttab — 😀 I cannot log in since Monday;"
                           " 注文番号がまだ届きません",
                   "sent_at": "2026-11-30T08:00:00Z",
                   "raw": base64.b64encode(b"\x00\xff raw \r\n bytes \x80").decode(),
                   "attachments": [
                       {"filename": "plan ☃.pdf", "content_type": "application/pdf",
                        "size": 2**40, "sha256": "a" * 64, "inline": True},
                       {"filename": "", "content_type": "image/png", "size": 0,
                        "sha256": "b" * 64, "inline": False}]}]},
    {"id": BIG, "status": "new", "priority": "normal", "subject": "", "channel": "sms",
     "created_at": "2026-11-30T10:00:00Z", "updated_at": "2026-11-30T10:00:00Z", "tags": [],
     "contact": None,
     "messages": [{"id": 2**40 + 1, "ticket_id": BIG, "direction": "in", "channel": "sms",
                   "external_id": "SM1", "from": {"name": "", "address": "+393331112222"},
                   "to": [], "subject": "", "text": "", "sent_at": "2026-11-30T10:00:00Z",
                   "attachments": []}]},
    {"id": 3, "status": "solved", "priority": "low", "subject": None, "channel": "email",
     "created_at": "2026-11-29T08:00:00Z", "updated_at": "2026-11-29T09:00:00Z", "tags": [],
     "contact": {"id": BIG, "name": "Zoë 'Z' O\"Brien",
                 "identities": [{"channel": "email", "address": "zoe@exämple.com"}]}},
]
#: A subprocess running one command line, then naming on stderr which of
#: psycopg, the reading connections' module and libpq itself it loaded.
PROBE = """
import sys
from supportctl.cli.app import run
code = run(sys.argv[1:])
loaded = {m.split(".")[0] for m in sys.modules if m.startswith("psycopg")}
loaded |= {"pq"} if "supportctl.store.pq" in sys.modules else set()
pq = sys.modules.get("supportctl.store.pq")
loaded |= {"libpq"} if pq is not None and pq._LIB and pq._LIB[0] is not None else set()
print("LOADED", *sorted(loaded), file=sys.stderr)
sys.exit(code)
"""
#: Makes libpq impossible to load, as on a machine without it.
NO_LIBPQ = """
import ctypes


class _NoLibpq(ctypes.CDLL):
    def __init__(self, name, *args, **kwargs):
        if name and "libpq" in str(name):
            raise OSError(f"{name}: cannot open shared object file: No such file or directory")
        super().__init__(name, *args, **kwargs)


ctypes.CDLL = _NoLibpq
"""
NO_PSYCOPG = "raise ImportError('no psycopg here')\n"


def _fill(db: str) -> None:
    body = "".join(json.dumps(line) + "\n" for line in LINES)
    r = run_cli("--db", db, "import", "--format", "jsonl", "-", input=body, env=NOW)
    assert r.code == 0, r
    for args in (("snooze", "2026-12-02T09:00:00Z", str(BIG)),
                 ("note", "1", "-m", "checked ☃ with \\ and %")):
        assert run_cli("--db", db, *args, env=NOW).code == 0, args


def _probe(db: str, *args: str, blocked: tuple[str, ...] = (), tmp_path: Path) -> tuple[Result, set[str]]:
    """``supportctl --db DB ARGS`` in a new process with psycopg and/or
    libpq made unloadable; its result and what it loaded."""
    env = {**os.environ, **NOW}
    if blocked:
        block = tmp_path / "-".join(blocked)
        block.mkdir(exist_ok=True)
        if "psycopg" in blocked:
            (block / "psycopg.py").write_text(NO_PSYCOPG)
        if "libpq" in blocked:
            (block / "sitecustomize.py").write_text(NO_LIBPQ)
        env["PYTHONPATH"] = str(block)
    else:
        env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, "-c", PROBE, "--db", db, *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)
    lines = proc.stderr.splitlines()
    loaded = set(lines[-1].split()[1:]) if lines and lines[-1].startswith("LOADED") else set()
    proc.stderr = "".join(line + "\n" for line in lines if not line.startswith("LOADED"))
    return Result(proc), loaded


READS = (("list", "--status", "all", "--format", "json"),
         ("list", "--status", "all", "--format", "csv"),
         ("list", "--status", "all"),
         ("list", "--status", "all", "--snoozed", "--format", "ids"),
         ("list", "--sort", "due", "--status", "all", "--format", "json"),
         ("show", "1", "--format", "json"),
         ("show", "1", "--raw", "--format", "json"),
         ("show", "1"),
         ("show", str(BIG), "--format", "json"),
         ("show", str(BIG)),
         ("search", "cannot log in", "--format", "ids"),
         ("search", "tag:ünï", "--format", "ids"),
         ("search", "from:zoe", "--format", "ids"),
         ("search", "is:snoozed", "--format", "ids"),
         # Beyond ASCII: accents folded, an address's words, CJK terms.
         ("search", "unicode", "--format", "ids"),
         ("search", "from:zoe@exämple.com", "--format", "ids"),
         ("search", "to:shop", "--format", "ids"),
         ("search", "注文番号", "--format", "ids"),
         ("search", "注文", "--format", "json"),
         ("search", "--format", "ids", "--", "注文番号", "-tuesday"))


def _libpqs(url: str) -> str:
    """The same database, at a URL with a keyword only libpq knows: the
    reading commands connect through libpq, not on the wire themselves."""
    return url + "&keepalives=1"


@pytest.mark.parametrize("way", ["wire", "libpq"])
def test_tricky_values_print_the_same_bytes_on_both_engines(cli: Any, pg_url: str, way: str) -> None:
    _fill(str(cli.db))
    _fill(pg_url)
    if way == "libpq":
        pg_url = _libpqs(pg_url)
    for args in READS:
        here = run_cli("--db", str(cli.db), *args, env=NOW)
        there = run_cli("--db", pg_url, *args, env=NOW)
        assert here.code == there.code == 0, (args, here, there)
        assert there.out == here.out, args
        assert there.out.strip(), args
    shown = json.loads(run_cli("--db", pg_url, "show", "1", "--raw", "--format", "json",
                               env=NOW).out)
    message = shown["messages"][0]
    assert base64.b64decode(message["raw"]) == b"\x00\xff raw \r\n bytes \x80"
    assert shown["contact"]["id"] == BIG and message["id"] == 2**40
    assert [a["size"] for a in message["attachments"]] == [2**40, 0]
    assert shown["assignee"] == "zoë" and shown["subject"] == ODD
    assert shown["csat"]["rating"] == 5 and shown["sla"]["first_response_breached"] is True
    assert [(t["id"], t["subject"], t["message_count"]) for t in shown["contact_tickets"]] == \
        [(3, "", 0)]
    found = run_cli("--db", pg_url, "search", "cannot log in", "--format", "json", env=NOW)
    assert [t["id"] for t in found.json()] == [1] and "cannot log in" in found.json()[0]["snippet"]


@pytest.mark.parametrize("way", ["wire", "libpq"])
def test_a_team_behind_pgbouncer_reads_and_writes_as_without_it(cli: Any, pg_pooled_url: str,
                                                                 way: str) -> None:
    """PgBouncer, as usually set up, refuses the start-up parameter the
    reading commands set their session with (``options``): every ``list``
    failed with "unsupported startup parameter". They now connect again
    without it and set the same by statement; the writes (the fill) go
    through the pooler too."""
    _fill(str(cli.db))
    _fill(pg_pooled_url)
    url = _libpqs(pg_pooled_url) if way == "libpq" else pg_pooled_url
    for args in READS:
        here = run_cli("--db", str(cli.db), *args, env=NOW)
        there = run_cli("--db", url, *args, env=NOW)
        assert here.code == there.code == 0, (args, here, there)
        assert there.out == here.out, args
    from supportctl.store import pq, wire

    conn = wire.connection(url) if way == "wire" else pq.PqConnection(url)
    try:
        assert type(conn).__name__ == ("WireConnection" if way == "wire" else "PqConnection")
        assert conn.execute("SHOW jit").fetchall()[0][0] == "off"
        assert conn.execute("SHOW max_parallel_workers_per_gather").fetchall()[0][0] == "0"
    finally:
        conn.close()


def test_options_of_ones_own_refused_by_a_pooler_are_said_not_dropped(pg_pooled_url: str) -> None:
    r = run_cli("--db", pg_pooled_url + "&options=-c%20work_mem%3D8MB", "list", env=NOW)
    assert r.code == 1 and r.out == ""
    assert r.err.count("\n") == 1 and "unsupported startup parameter: options" in r.err


def test_reading_commands_never_load_psycopg(pg_url: str, tmp_path: Path) -> None:
    _fill(pg_url)
    for args in (("list", "--format", "json"), ("show", "1", "--format", "json"),
                 ("search", "cannot log in", "--format", "ids")):
        r, loaded = _probe(pg_url, *args, tmp_path=tmp_path)
        assert r.code == 0 and r.out.strip(), r
        assert loaded == {"pq"}, (args, loaded)  # the wire protocol: not even libpq
        r, loaded = _probe(_libpqs(pg_url), *args, tmp_path=tmp_path)
        assert r.code == 0 and r.out.strip(), r
        assert loaded == {"pq", "libpq"}, (args, loaded)
    r, loaded = _probe(pg_url, "tag", "vip", str(BIG), tmp_path=tmp_path)
    assert r.code == 0 and "psycopg" in loaded and "pq" not in loaded, (r, loaded)  # writing


def test_reading_needs_only_libpq_and_falls_back_to_psycopg(pg_url: str, tmp_path: Path) -> None:
    _fill(pg_url)
    args = ("show", "1", "--format", "json")
    want = run_cli("--db", pg_url, *args, env=NOW)
    assert want.code == 0, want
    # A server's Unix socket: neither is needed.
    r, loaded = _probe(pg_url, *args, blocked=("libpq", "psycopg"), tmp_path=tmp_path)
    assert r.code == 0 and r.out == want.out and loaded == {"pq"}, (r, loaded)
    # A URL only libpq can follow: libpq, else psycopg, else what to install.
    url = _libpqs(pg_url)
    r, loaded = _probe(url, *args, blocked=("psycopg",), tmp_path=tmp_path)
    assert r.code == 0 and r.out == want.out and loaded == {"pq", "libpq"}, r
    r, loaded = _probe(url, *args, blocked=("libpq",), tmp_path=tmp_path)
    assert r.code == 0 and r.out == want.out and "psycopg" in loaded, (r, loaded)
    r, _ = _probe(url, *args, blocked=("libpq", "psycopg"), tmp_path=tmp_path)
    assert r.code == 2 and "supportctl[postgres]" in r.err and r.err.count("\n") == 1, r


@pytest.mark.parametrize("command", ["list", "show 1", "search parcel"])
def test_a_server_that_refuses_a_reader_is_the_same_one_line(command: str, tmp_path: Path) -> None:
    url = f"postgresql://ann:s3cret@/nowhere?host={tmp_path}"
    here = run_cli("--db", url, *command.split())
    there = run_cli("--db", url, "tag", "vip", "1")  # psycopg's line
    assert here.code == there.code == 1 and here.err == there.err, (here, there)
    assert here.err.count("\n") == 1 and "s3cret" not in here.err
