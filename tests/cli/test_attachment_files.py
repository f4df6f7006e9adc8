"""Attachment files under attack: a digest from an import or a damaged row
never reads or deletes outside the store's files; ``attachments --save``
never follows a planted link and saves every file whatever its name; every
customer file we write is private under umask 022; ``db backup`` and
``export --attachments`` restore the files too."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.mailfixtures import eml

EMOJI = "😀" * 150 + ".pdf"


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p, follow_symlinks=False).st_mode)


def ticket_line(tid: int, sha: str, *, line_status: str = "open") -> str:
    return json.dumps({
        "id": tid, "status": line_status, "priority": "normal", "subject": "s", "channel": "email",
        "created_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-01T10:00:00Z", "tags": [],
        "contact": {"id": tid, "name": "Eve", "identities": [
            {"channel": "email", "address": f"eve{tid}@example.com"}]},
        "messages": [{"id": tid, "direction": "in", "channel": "email", "sent_at": "2026-12-01T10:00:00Z",
                      "from": {"name": "Eve", "address": f"eve{tid}@example.com"}, "text": "hi",
                      "attachments": [{"filename": "passwd.txt", "content_type": "text/plain",
                                       "size": 10, "sha256": sha}]}],
    })


def test_import_refuses_a_digest_that_is_a_path(cli: Any, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("secret")
    good = "a" * 64
    f = tmp_path / "crafted.jsonl"
    f.write_text(ticket_line(1, good) + "\n" + ticket_line(2, "../../etc/passwd") + "\n"
                 + ticket_line(3, ".." + str(victim)) + "\n")
    r = cli("import", str(f), "--format", "jsonl")
    assert r.code == 2, r
    assert "line 2" in r.err and "sha256" in r.err and "nothing was imported" in r.err
    assert cli("list", "--status", "all", "--format", "ids").out == ""


def test_a_damaged_row_never_reads_or_deletes_outside_the_files(cli: Any, tmp_path: Path) -> None:
    """A store written by an old import: the digest column names a file of
    the user's. ``attachments --save``, ``delete`` and ``contact forget``
    leave it alone."""
    victim = tmp_path / "victim.txt"
    victim.write_text("secret")
    for who in ("a@example.com", "b@example.com"):
        assert cli("new", "--channel", "phone", "--to", who, "-m", "hi").code == 0
    db = sqlite3.connect(cli.db)
    # ``files/..`` + an absolute path: the old ``files/sha[:2]/sha[2:]`` was the victim itself.
    for mid in (1, 2):
        db.execute("INSERT INTO attachments (message_id, filename, content_type, size, sha256) "
                   "VALUES (?, 'x', 'text/plain', 6, ?)", [mid, ".." + str(victim)])
    db.commit()
    db.close()
    r = cli("attachments", "1", "--save", str(tmp_path / "out"))
    assert r.code != 0 and "not a SHA-256" in r.err, r
    assert not any((tmp_path / "out").iterdir())
    assert cli("delete", "1", "--yes").code == 0
    contact = cli("show", "2", "--format", "json").json()["contact"]["id"]
    assert cli("contact", "forget", str(contact), "--yes").code == 0
    assert victim.read_text() == "secret"


def test_save_never_follows_planted_links_and_saves_every_name(cli: Any, tmp_path: Path,
                                                               umask_022: None) -> None:
    mail = eml(tmp_path / "m.eml", [("report.pdf", "application/pdf", b"%PDF report"),
                                    (EMOJI, "application/pdf", b"%PDF emoji"),
                                    ("last.txt", "text/plain", b"last one")])
    assert cli("import", str(mail), "--format", "eml").code == 0
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.pdf").symlink_to(tmp_path / "planted")          # dangling
    (out / "last.txt").symlink_to(tmp_path / "m.eml")               # to a file of the user's
    r = cli("attachments", "1", "--save", str(out))
    assert r.code == 0, r
    saved = [Path(p) for p in r.out.splitlines()]
    assert [p.read_bytes() for p in saved] == [b"%PDF report", b"%PDF emoji", b"last one"]
    assert saved[0].name == "report-1.pdf" and saved[2].name == "last-1.txt"
    assert saved[1].name.startswith("😀") and saved[1].name.endswith(".pdf")
    assert not (tmp_path / "planted").exists()
    assert mail.read_bytes().startswith(b"From: Eve")
    assert all(mode(p) == 0o600 for p in saved)
    fresh = tmp_path / "fresh" / "dir"
    assert cli("attachments", "1", "--save", str(fresh)).code == 0
    assert mode(fresh) == 0o700 and mode(fresh.parent) == 0o700


def test_customer_files_are_private_under_umask_022(cli: Any, tmp_path: Path, umask_022: None) -> None:
    mail = eml(tmp_path / "m.eml", [("a.pdf", "application/pdf", b"%PDF a")])
    assert cli("import", str(mail), "--format", "eml").code == 0
    files = cli.db.with_name("store.files")
    private = [cli.db]  # -wal and -shm: tests/store/test_files.py (they go when the last user closes)
    private += [p for p in files.rglob("*") if p.is_file()]
    backup = tmp_path / "bk" / "backup.db"
    assert cli("db", "backup", str(backup)).code == 0
    private += [backup, *[p for p in backup.with_name("backup.files").rglob("*") if p.is_file()]]
    assert cli("export", "--messages", "-o", str(tmp_path / "export.jsonl")).code == 0
    private.append(tmp_path / "export.jsonl")
    assert len(private) == 5
    for p in private:
        assert mode(p) == 0o600, p
    for d in (files, *[p for p in files.iterdir()], backup.parent, backup.with_name("backup.files")):
        assert mode(d) == 0o700, d


def test_db_backup_restores_attachment_files(cli: Any, tmp_path: Path) -> None:
    from tests.conftest import run_cli

    mail = eml(tmp_path / "m.eml", [("a.pdf", "application/pdf", b"%PDF restored")])
    assert cli("import", str(mail), "--format", "eml").code == 0
    backup = tmp_path / "backup.db"
    r = cli("db", "backup", str(backup))
    assert r.code == 0 and "1 attachment files" in r.err, r
    assert cli("db", "backup", str(backup)).code == 2  # never over an existing backup
    # the original store is lost; the backup alone opens the files
    for p in tmp_path.glob("store.*"):
        if p.is_dir():
            import shutil

            shutil.rmtree(p)
        else:
            p.unlink()
    r = run_cli("--db", str(backup), "attachments", "1", "--save", str(tmp_path / "out"))
    assert r.code == 0, r
    assert Path(r.out.strip()).read_bytes() == b"%PDF restored"


def test_export_with_attachments_restores_the_files(cli: Any, tmp_path: Path) -> None:
    from tests.conftest import run_cli

    mail = eml(tmp_path / "m.eml", [("a.pdf", "application/pdf", b"%PDF exported")])
    assert cli("import", str(mail), "--format", "eml").code == 0
    dump = tmp_path / "all.jsonl"
    assert cli("export", "--messages", "--attachments", "-o", str(dump)).code == 0
    other = str(tmp_path / "other" / "o.db")
    r = run_cli("--db", other, "import", str(dump), "--format", "jsonl")
    assert r.code == 0, r
    r = run_cli("--db", other, "attachments", "1", "--save", str(tmp_path / "out"))
    assert r.code == 0, r
    assert Path(r.out.strip()).read_bytes() == b"%PDF exported"
    # the same export, edited so the bytes do not match the digest, is refused whole
    line = json.loads(dump.read_text())
    line["id"] = 7
    line["messages"][0]["id"] = 70
    line["messages"][0]["external_id"] = "other"
    line["messages"][0]["attachments"][0]["data"] = "bm90IGl0"
    (tmp_path / "bad.jsonl").write_text(json.dumps(line) + "\n")
    r = run_cli("--db", other, "import", str(tmp_path / "bad.jsonl"), "--format", "jsonl")
    assert r.code == 2 and "line 1" in r.err and "does not match" in r.err, r


def test_backup_of_a_store_missing_a_file_says_so(cli: Any, tmp_path: Path) -> None:
    mail = eml(tmp_path / "m.eml", [("a.pdf", "application/pdf", b"%PDF a"), ("b.pdf", "application/pdf", b"b")])
    assert cli("import", str(mail), "--format", "eml").code == 0
    next(p for p in cli.db.with_name("store.files").rglob("*") if p.is_file()).unlink()
    r = cli("db", "backup", str(tmp_path / "b.db"))
    assert r.code == 5 and "1 attachment files were already missing" in r.err, r
    assert len([p for p in (tmp_path / "b.files").rglob("*") if p.is_file()]) == 1
