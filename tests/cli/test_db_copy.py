"""`db copy SOURCE TARGET` (SPEC §13): a store built by real flows (every
channel's samples through ingest, an SMS sync with a reply and a CSAT
answer, mail with an attachment, a quarantined item, triage of every kind)
goes SQLite → PostgreSQL → SQLite with `export` byte for byte the same and
every ticket's `show` the same, every table row for row; a copy killed
half-way leaves the target as it was; a target that holds data is refused
in one line; progress shows on a terminal only; no password is printed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from supportctl.store.copy import COPIED
from tests.conftest import ROOT, Result, run_cli
from tests.social.twilio_server import SHOP, SHOP_WA, SID, TwilioServer
from tests.social.twilio_server import TOKEN as TW_TOKEN
from tests.terminal import run_on_pty

WEDNESDAY = datetime(2026, 12, 9, 10, 0, tzinfo=timezone.utc)
NOW = {"SUPPORTCTL_NOW": "2026-12-10T09:00:00Z"}
SAMPLES = ROOT / "supportctl" / "samples" / "email"

SHOP_CONFIG = """\
timezone: Europe/Rome
agents: [{name: marta}, {name: luca}]
channels:
  - name: shop-sms
    type: twilio
    account_sid: %(sid)s
    auth_token_env: SHOP_TWILIO_TOKEN
    numbers: ['%(shop)s', '%(shop_wa)s']
    api_base_url: %(url)s
templates:
  csat: "Thanks for contacting us! How did we do, from 1 to 5?"
csat: {enabled: true, template: csat, after: 1h}
"""


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def ok(r: Result) -> Result:
    assert r.code == 0, r
    return r


def build_store(cli: Any, tmp_path: Path) -> None:
    """A store as a shop fills it: no row written by hand."""
    ok(cli("demo", env=NOW))  # the bundled samples of every channel, through ingest
    with TwilioServer() as tw:
        cfg = tmp_path / "config.yaml"
        cfg.write_text(SHOP_CONFIG % {"sid": SID, "shop": SHOP, "shop_wa": SHOP_WA, "url": tw.url},
                       encoding="utf-8")
        env = {"SUPPORTCTL_CONFIG": str(cfg), "SHOP_TWILIO_TOKEN": TW_TOKEN}

        def at(dt: datetime, agent: str = "marta") -> dict[str, str]:
            return {**env, "SUPPORTCTL_NOW": iso(dt), "SUPPORTCTL_AGENT": agent}

        tw.inbound("+15550123456", "Where can I track my delivery?", sent=WEDNESDAY)
        tw.inbound("+393331234567", "Buongiorno, il pacco non è arrivato", sent=WEDNESDAY)
        ok(cli("sync", env=at(WEDNESDAY)))
        tid = cli("search", "track", "--format", "ids", env=at(WEDNESDAY)).out.split()[0]
        later = WEDNESDAY + timedelta(minutes=10)
        ok(cli("reply", tid, "-m", "Here is your tracking link", env=at(later)))
        ok(cli("solve", tid, env=at(later)))
        asked = WEDNESDAY + timedelta(hours=1, minutes=15)
        ok(cli("sync", env=at(asked)))  # the CSAT question goes out through the outbox
        tw.inbound("+15550123456", "5 great", sent=asked + timedelta(minutes=20))
        ok(cli("sync", env=at(asked + timedelta(minutes=25))))
    ok(cli("import", str(SAMPLES / "05-photo.eml"), env=NOW))  # an attachment
    junk = tmp_path / "junk.eml"
    junk.write_bytes(b"\x00\x01 this is not mail at all")
    assert "1 quarantined" in ok(cli("import", str(junk), "--format", "eml", env=NOW)).err
    for args in (("tag", "VIP", "1", "2"), ("tag", "dhl", "2"), ("note", "1", "-m", "asked DHL"),
                 ("assign", "luca", "3"), ("priority", "urgent", "3"), ("snooze", "2d", "4"),
                 ("claim", "5"), ("show", "6"), ("merge", "7", "8", "--yes"), ("spam", "9"),
                 ("delete", "10", "--yes")):
        ok(cli(*args, env=NOW))


def copy(*args: str, **kw: Any) -> Result:
    return run_cli("db", "copy", *args, **kw)


def export(db: str) -> str:
    return ok(run_cli("--db", db, "export", "--format", "jsonl", "--messages", "--raw",
                      "--attachments", env=NOW)).out


def shows(db: str, ids: list[str]) -> list[str]:
    return [ok(run_cli("--db", db, "show", tid, "--format", "json", env=NOW)).out for tid in ids]


def sqlite_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in COPIED}
    finally:
        conn.close()


def pg_rows(url: str, columns: dict[str, list[str]]) -> dict[str, list[tuple[Any, ...]]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return {t: sorted((tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                           for row in conn.execute(f"SELECT {', '.join(cols)} FROM {t}")), key=repr)
                for t, cols in columns.items()}


def test_sqlite_to_postgresql_and_back_is_lossless(cli: Any, tmp_path: Path, pg_empty_url: str
                                                   ) -> None:
    build_store(cli, tmp_path)
    a, c = str(cli.db), str(tmp_path / "back" / "store.db")
    before = sqlite_rows(cli.db)
    for table in ("messages", "originals", "attachments", "tags", "tag_names", "events", "outbox",
                  "quarantine", "csat", "ticket_views", "cursors", "channel_entries",
                  "spam_senders", "contacts", "identities"):
        assert before[table], f"the flows left {table} empty: the copy of it goes untested"

    r = copy(a, pg_empty_url)  # a database without the schema: made in the copy's transaction
    assert r.code == 0 and r.out == "" and r.err.count("\n") == 1, r
    assert "copied" in r.err and "attachment files" in r.err, r
    ok(copy(pg_empty_url, c))

    exported = export(a)
    assert exported.count("\n") >= 15
    assert export(pg_empty_url) == exported
    assert export(c) == exported
    assert sqlite_rows(Path(c)) == before  # every table, row for row, ids included
    columns = {t: [d[1] for d in sqlite3.connect(a).execute(f"PRAGMA table_info({t})")]
               for t in COPIED}
    assert pg_rows(pg_empty_url, columns) == before
    stored = sorted(p.name for p in Path(f"{a[:-3]}.files").rglob("*") if p.is_file())
    assert stored and sorted(p.name for p in Path(c[:-3] + ".files").rglob("*")
                             if p.is_file()) == stored

    # A page of search results on PostgreSQL (newest matching messages read
    # a page at a time) is the same slice of the whole answer.
    for query in ("parcel", "order", "delivery", "the", "-order"):
        every = ok(run_cli("--db", pg_empty_url, "search", query, "--format", "ids",
                           env=NOW)).out.split()
        assert every or query == "-order", query
        for limit, offset in ((1, 0), (2, 1), (3, 2), (50, 0)):
            page = ok(run_cli("--db", pg_empty_url, "search", query, "--format", "ids", "--limit",
                              str(limit), "--offset", str(offset), env=NOW)).out.split()
            assert page == every[offset:offset + limit], (query, limit, offset)

    ids = [line.split('"id": ', 1)[1].split(",", 1)[0] for line in exported.splitlines()]
    assert shows(pg_empty_url, ids) == shows(a, ids) == shows(c, ids)
    # Ids go on after the copied ones, on both engines.
    for db in (pg_empty_url, c):
        new = ok(run_cli("--db", db, "new", "--channel", "phone", "--to", "Dora", "-m", "hi",
                         "--format", "ids", env=NOW))
        assert int(new.out) == max(int(i) for i in ids) + 1, db


def test_a_target_with_data_is_refused_and_left_alone(cli: Any, tmp_path: Path, pg_url: str,
                                                      pg_empty_url: str) -> None:
    ok(cli("new", "--channel", "phone", "--to", "Ann", "-m", "one", env=NOW))
    other = tmp_path / "other.db"
    ok(run_cli("--db", str(other), "init", env=NOW))
    ok(run_cli("--db", str(other), "new", "--channel", "phone", "--to", "Bob", "-m", "two",
               env=NOW))
    ok(run_cli("--db", pg_url, "new", "--channel", "phone", "--to", "Bob", "-m", "two", env=NOW))
    for target in (str(other), pg_url):
        before = export(target)
        r = copy(str(cli.db), target)
        assert r.code == 2 and r.err.count("\n") == 1, r
        assert "already holds 1 ticket:" in r.err and "new or empty" in r.err, r
        assert export(target) == before
    same = copy(str(cli.db), str(cli.db))
    assert same.code == 2 and "the same store" in same.err, same
    for nothing in (str(tmp_path / "nope.db"), pg_empty_url):
        missing = copy(nothing, str(tmp_path / "new.db"))
        assert missing.code == 2 and "no store at" in missing.err, missing
        assert not (tmp_path / "new.db").exists()


def test_no_password_in_any_output(cli: Any, pg_url: str, tmp_path: Path) -> None:
    ok(cli("new", "--channel", "phone", "--to", "Ann", "-m", "one", env=NOW))
    with_password = pg_url.replace("supportctl@", "supportctl:s3cret@")  # trust: unused
    r = copy(str(cli.db), with_password)
    assert r.code == 0 and "s3cret" not in r.err + r.out and "***" in r.err, r
    refused = copy(str(cli.db), with_password)
    assert refused.code == 2 and "s3cret" not in refused.err, refused
    unreachable = f"postgresql://ann:s3cret@/nowhere?host={tmp_path}"
    for args in ((str(cli.db), unreachable), (unreachable, str(tmp_path / "x.db"))):
        r = copy(*args)
        assert r.code == 1 and r.err.count("\n") == 1 and "s3cret" not in r.err, r
    assert not (tmp_path / "x.db").exists()


def test_progress_on_a_terminal_only(cli: Any, tmp_path: Path) -> None:
    ok(cli("demo", env=NOW))
    drawn = run_on_pty(["db", "copy", str(cli.db), str(tmp_path / "t1.db")], env=NOW,
                       columns=400)
    assert drawn.code == 0, drawn.text()
    screen = drawn.text()
    total = sum(sqlite_rows(cli.db)[t].__len__() for t in COPIED)
    assert f"copy {cli.db} to {tmp_path / 't1.db'}" in screen, screen
    assert f"{total}/{total}" in screen and "attachment files" in screen, screen
    plain = copy(str(cli.db), str(tmp_path / "t2.db"))
    assert plain.code == 0 and plain.err.count("\n") == 1 and plain.err.startswith("copied"), plain
    quiet = run_on_pty(["db", "copy", str(cli.db), str(tmp_path / "t3.db"), "-q"], env=NOW)
    assert quiet.code == 0 and quiet.text().strip() == "", quiet.text()
    assert export(str(tmp_path / "t3.db")) == export(str(cli.db))


# -- interrupted ----------------------------------------------------------------

def _stall_on_attachment(cli: Any) -> tuple[Path, bytes]:
    """The source's attachment file made a FIFO: the copy blocks on it once
    every row is written into the target's open transaction."""
    ok(cli("import", str(SAMPLES / "05-photo.eml"), env=NOW))
    [blob] = [p for p in Path(str(cli.db)[:-3] + ".files").rglob("*") if p.is_file()]
    data = blob.read_bytes()
    blob.unlink()
    os.mkfifo(blob)
    return blob, data


def _start_copy(source: str, target: str, fifo: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`db copy` as a process, once it is reading the FIFO: returns the
    process and our (silent) write end, which keeps it waiting."""
    proc = subprocess.Popen([sys.executable, "-m", "supportctl", "db", "copy", source, target],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        try:
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # a reader has it open
            break
        except OSError:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the copy never reached the attachment"
            time.sleep(0.05)
    _wait_in_read(proc, deadline)
    return proc, writer


def _wait_in_read(proc: subprocess.Popen[bytes], deadline: float) -> None:
    """Until the copy sleeps in the FIFO's read. A signal sent between its
    open and its read is handled before the read starts, and the read then
    waits for our writer for ever: a hang of the test, not of the copy."""
    wchan = Path(f"/proc/{proc.pid}/wchan")
    while True:
        try:
            where = wchan.read_text()
        except OSError:
            where = "0"
        if where == "0":  # this kernel does not say: give it a moment
            time.sleep(0.5)
            return
        if "pipe_read" in where:
            return
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"the copy never waited on the attachment ({where})"
        time.sleep(0.01)


@pytest.mark.process
@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
def test_a_copy_killed_half_way_leaves_the_target_as_it_was(
        cli: Any, tmp_path: Path, request: pytest.FixtureRequest, engine: str) -> None:
    ok(cli("demo", env=NOW))
    fifo, data = _stall_on_attachment(cli)
    target = str(request.getfixturevalue("pg_empty_url")) if engine == "postgresql" \
        else str(tmp_path / "target.db")
    proc, writer = _start_copy(str(cli.db), target, fifo)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    os.close(writer)
    if engine == "postgresql":
        import psycopg

        with psycopg.connect(target) as conn:
            # Even the schema was made in the copy's transaction.
            assert conn.execute("SELECT to_regclass('tickets')").fetchone()[0] is None
    else:
        # kill -9 leaves no chance to clean up: an empty store, which a copy accepts.
        assert ok(run_cli("--db", target, "list", "--status", "all", "--format", "ids")).out == ""

    # Ctrl-C / SIGTERM: rolled back, and a SQLite file it made is removed.
    again = target if engine == "postgresql" else str(tmp_path / "target2.db")
    proc, writer = _start_copy(str(cli.db), again, fifo)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    os.close(writer)
    assert proc.returncode == 130, err
    if engine == "sqlite":
        assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("target2")]

    fifo.unlink()
    fifo.write_bytes(data)
    ok(copy(str(cli.db), target))
    assert export(target) == export(str(cli.db))
