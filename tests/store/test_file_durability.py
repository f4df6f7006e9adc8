"""Attachment files are durable before the rows that point at them commit,
one batch at a time (``Store._flush_files``): every temporary file is
fsync'd before it takes its name, every directory that gained a name is
fsync'd after, and all of it happens before ``COMMIT``. A process killed at
any point leaves no committed row without its file, no half-written file
under a digest's name, and nothing readable by others."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from supportctl.store.db import Store

ROOT = Path(__file__).resolve().parents[2]
BLOBS = [f"attachment {k} ".encode() * (100 + k) for k in range(12)]


def _rows(store: Store) -> list[str]:
    return [r[0] for r in store.execute("SELECT sha256 FROM kept ORDER BY rowid")]


def _store(path: Path) -> Store:
    store = Store(path)
    store.execute("CREATE TABLE IF NOT EXISTS kept (sha256 TEXT)")
    return store


def test_files_are_fsynced_and_in_place_before_commit(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(tmp_path / "s.db")
    log: list[tuple[str, str]] = []
    lock = threading.Lock()
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        real_fsync(fd)
        with lock:
            log.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))

    def replace(src: object, dst: object) -> None:
        real_replace(src, dst)  # type: ignore[arg-type]
        with lock:
            log.append(("replace", f"{src}\0{dst}"))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    store.conn.set_trace_callback(lambda sql: log.append(("sql", sql)) if sql == "COMMIT" else None)
    with store.tx():
        digests = [store.put_file(b) for b in BLOBS + BLOBS[:3]]  # the same bytes twice: one file
        store.executemany("INSERT INTO kept (sha256) VALUES (?)", [[d] for d in digests])
        # Readable before it is in place (a reply queued in the same transaction).
        assert store.read_file(digests[0]) == BLOBS[0]
    commit = log.index(("sql", "COMMIT"))
    renames = [(i, *e[1].split("\0")) for i, e in enumerate(log) if e[0] == "replace"]
    assert len(renames) == len(BLOBS)
    for i, src, dst in renames:
        assert i < commit
        assert log.index(("fsync", src)) < i  # bytes durable before the name exists
        parent = str(Path(dst).parent)
        assert any(e == ("fsync", parent) and i < j < commit for j, e in enumerate(log))
    for d, blob in zip(digests, BLOBS + BLOBS[:3], strict=True):
        path = store.file_path(d)
        assert path.read_bytes() == blob
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(store.files_dir.rglob("*.tmp"))


def test_a_rolled_back_transaction_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = _store(tmp_path / "s.db")
    with pytest.raises(RuntimeError), store.tx():
        digest = store.put_file(b"never kept")
        raise RuntimeError("boom")
    assert not store.file_path(digest).exists()
    assert not list(store.files_dir.rglob("*.tmp"))


def test_outside_a_transaction_a_file_is_in_place_on_return(tmp_path: Path) -> None:
    store = _store(tmp_path / "s.db")
    digest = store.put_file(b"alone")
    assert store.file_path(digest).read_bytes() == b"alone"
    big, size = store.put_stream(iter([b"x" * 1000, b"y" * 1000]))
    assert size == 2000 and store.file_path(big).stat().st_size == 2000


# The child writes BLOBS in one transaction with a row each and is killed
# at the point named; "none" commits.
CHILD = """
import os, signal, sys
from supportctl.store.db import Store
import supportctl.store.db as db
where = sys.argv[2]
die = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
store = Store(sys.argv[1])
store.execute("CREATE TABLE IF NOT EXISTS kept (sha256 TEXT)")
blobs = [f"attachment {k} ".encode() * (100 + k) for k in range(12)]
if where == "before-flush":
    store._flush_files = die
elif where == "mid-rename":
    real, calls = os.replace, []
    def replace(src, dst):
        calls.append(1)
        if len(calls) == 4:
            die()
        real(src, dst)
    os.replace = replace
elif where == "before-commit":
    flush = store._flush_files
    store._flush_files = lambda: (flush(), die())
with store.tx():
    for b in blobs:
        store.execute("INSERT INTO kept (sha256) VALUES (?)", [store.put_file(b)])
"""


@pytest.mark.parametrize("where", ["before-flush", "mid-rename", "before-commit", "none"])
def test_kill_9_never_leaves_a_row_without_its_file(tmp_path: Path, where: str) -> None:
    db = tmp_path / "s.db"
    _store(db).close()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(db), where], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True)
    assert proc.returncode == (0 if where == "none" else -signal.SIGKILL), proc.stderr
    store = _store(db)
    rows = _rows(store)
    assert len(rows) == (len(BLOBS) if where == "none" else 0)
    for digest in rows:
        assert store.file_path(digest).read_bytes() in BLOBS
    # Whatever is under a digest's name is whole, and private.
    for path in store.files_dir.rglob("*"):
        if path.is_file() and not path.name.endswith(".tmp"):
            digest = path.parent.name + path.name
            assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
    store.remove_stale_temp_files()
    assert not list(store.files_dir.rglob("*.tmp"))
    # The next run stores everything once, the files it finds included.
    with store.tx():
        for b in BLOBS:
            store.execute("INSERT INTO kept (sha256) VALUES (?)", [store.put_file(b)])
    for digest in _rows(store):
        assert store.file_path(digest).exists()
