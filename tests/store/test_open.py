"""Opening the store: many processes at once on a fresh path, and a store
the user can only read."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest


def _open(db: str, barrier: Any, results: Any) -> None:
    from supportctl.store.db import open_store

    barrier.wait()
    try:
        store = open_store(db)
        store.execute("INSERT INTO tags (ticket_id, tag) SELECT 0, 'x' WHERE 0")  # usable
        store.close()
        results.put("ok")
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")
    os._exit(0)


@pytest.mark.parametrize("round_", range(5))
def test_twenty_processes_create_one_store_at_once(tmp_path: Path, round_: int) -> None:
    """Cron, a script and an agent may all open a store that does not exist
    yet: every one of them gets a working store (issue 7: 2 in 20 failed
    with "table contacts already exists" or "database is locked", reported
    as "not a supportctl store"). Forked after the imports and released by
    a barrier, the twenty open the store within milliseconds of each other
    (interpreter start-up would spread them over seconds and hide the race;
    before the fix most rounds of five had a failure)."""
    import sqlite_utils  # noqa: F401  (loaded before the fork, as the race needs)

    import supportctl.store.db  # noqa: F401
    import supportctl.store.migrations  # noqa: F401

    ctx = multiprocessing.get_context("fork")
    db = str(tmp_path / "new" / "store.db")
    barrier, results = ctx.Barrier(20), ctx.SimpleQueue()
    procs = [ctx.Process(target=_open, args=(db, barrier, results)) for _ in range(20)]
    for p in procs:
        p.start()
    got = [results.get() for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [r for r in got if r != "ok"] == []


# -- a store the user may only read -------------------------------------------

_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER = 1, 2, 3


def _without_root_powers() -> None:
    """In the child before exec: drop the capabilities that let root ignore
    file modes, so a 0400 file in a 0500 directory binds as it does for any
    user (the suite runs as root here). A user without them has nothing to
    drop; the modes bind already."""
    if os.geteuid() != 0:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _read_only_cli(db: Path) -> Any:
    import subprocess
    import sys

    from tests.conftest import ROOT, Result

    def call(*args: str) -> Result:
        proc = subprocess.run([sys.executable, "-m", "supportctl", "--db", str(db), *args],
                              capture_output=True, text=True, cwd=ROOT, timeout=120,
                              preexec_fn=_without_root_powers)
        return Result(proc)

    return call


def _lock_down(directory: Path) -> None:
    for root, dirs, files in os.walk(directory):
        for f in files:
            os.chmod(os.path.join(root, f), 0o400)
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o500)
    os.chmod(directory, 0o500)


def _unlock(directory: Path) -> None:
    for root, dirs, _files in os.walk(directory):
        os.chmod(root, 0o700)
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o700)


def _email_store(tmp_path: Path, cli: Any) -> Path:
    """A store with an email ticket (an attachment, a contact) and a note,
    written by its owner; the store's directory holds nothing else."""
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "Ann <ann@example.com>"
    msg["To"] = "support@shop.example"
    msg["Subject"] = "Broken zip"
    msg["Message-ID"] = "<ro-1@example.com>"
    msg["Date"] = "Tue, 01 Dec 2026 09:00:00 +0000"
    msg.set_content("The zip on my bag broke.")
    msg.add_attachment(b"\x89PNG fake", maintype="image", subtype="png", filename="zip.png")
    eml = tmp_path / "m.eml"
    eml.write_bytes(msg.as_bytes())
    assert cli("import", str(eml), "--format", "eml").code == 0
    assert cli("note", "1", "-m", "asked for a photo").code == 0
    assert cli("tag", "warranty", "1").code == 0
    return Path(cli.db)


def test_read_commands_work_on_a_store_the_user_can_only_read(tmp_path: Path) -> None:
    """Issue 7: every read command failed with "attempt to write a
    readonly database" (reported as "not a supportctl store") on a 0400
    store in a 0500 directory."""
    from tests.conftest import run_cli

    home = tmp_path / "store"
    db = home / "s.db"

    def owner(*args: str) -> Any:
        return run_cli("--db", str(db), *args)

    owner.db = db  # type: ignore[attr-defined]
    _email_store(tmp_path, owner)
    before = sorted(os.listdir(home))
    _lock_down(home)
    try:
        ro = _read_only_cli(db)
        # The modes really bind for the child (else this test proves nothing).
        probe = ro("tag", "x", "1")
        assert probe.code == 1 and "read-only for you" in probe.err, probe
        assert "internal error" not in probe.err

        listed = ro("list", "--format", "json")
        assert listed.code == 0, listed
        assert [t["subject"] for t in listed.json()] == ["Broken zip"]
        shown = ro("show", "1", "--format", "json")
        assert shown.code == 0, shown
        assert [m["direction"] for m in shown.json()["messages"]] == ["in", "note"]
        found = ro("search", "zip", "--format", "ids")
        assert (found.code, found.out.split()) == (0, ["1"]), found
        exported = ro("export", "--format", "jsonl", "--messages")
        assert exported.code == 0 and len(exported.jsonl()) == 1, exported
        att = ro("attachments", "1", "--format", "json")
        assert att.code == 0 and "zip.png" in att.out, att
        saved = tmp_path / "saved"
        saved.mkdir()
        got = ro("attachments", "1", "--save", str(saved))
        assert got.code == 0, got
        assert (saved / "zip.png").read_bytes() == b"\x89PNG fake"
        contacts = ro("contact", "list", "--format", "json")
        assert contacts.code == 0 and contacts.json()[0]["id"] == 1, contacts
        contact = ro("contact", "show", "1", "--format", "json")
        assert contact.code == 0, contact
        report = ro("report", "--format", "json")
        assert report.code == 0, report
        info = ro("db", "info", "--format", "json")
        assert info.code == 0 and info.json()["tickets"] == 1, info
        # Nothing was created beside the store (no -wal, -shm, lock file).
        assert sorted(os.listdir(home)) == before
    finally:
        _unlock(home)


def test_a_pending_migration_on_a_read_only_store_is_named(tmp_path: Path) -> None:
    import sqlite3

    from tests.conftest import run_cli

    home = tmp_path / "store"
    home.mkdir()
    db = home / "s.db"
    assert run_cli("--db", str(db), "init").code == 0
    assert run_cli("--db", str(db), "new", "--channel", "phone", "--to", "Ann", "-m", "hi").code == 0
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 1")  # as a store written before m002
    conn.close()
    _lock_down(home)
    try:
        r = _read_only_cli(db)("list")
    finally:
        _unlock(home)
    assert r.code == 1, r
    assert "needs a schema upgrade" in r.err and "supportctl db migrate" in r.err, r
    assert "internal error" not in r.err


def test_creating_a_store_leaves_numpy_out_yet_importable(tmp_path: Path) -> None:
    # sqlite-utils would load numpy (0.09 s) on every store created or
    # migrated; the store masks it during that import, and nothing else.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from supportctl.store.db import open_store\n"
        f"open_store({str(tmp_path / 'store.db')!r}).close()\n"
        "assert 'numpy' not in sys.modules, 'numpy loaded'\n"
        "import sqlite_utils.db, numpy\n"
        "assert sqlite_utils.db.np is None and numpy.zeros(2).sum() == 0\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
