"""Every value that leaves through the table, plain or ``show`` renderers is
sanitised at render's boundary, not per field: live escapes in a mail or
Telegram content type, tags, assignee, status, priority, quarantine source
names, and zero-width/bidi characters in names and file names never reach
the terminal raw, in a table (pty) or plain."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.cli.mailfixtures import LIVE, eml
from tests.conftest import run_cli
from tests.test_safe import run_tty

INVISIBLE = ("\u200b", "\u202e", "\u2066", "\ufeff")


def assert_clean(drawn: bytes, *, tty: bool) -> str:
    if tty:  # our own colours (SGR) may appear, nothing else
        assert re.findall(rb"\x1b(?!\[[0-9;]*m)", drawn) == [], drawn
    else:
        assert b"\x1b" not in drawn, drawn
    text = drawn.decode("utf-8")
    assert not any(c in text for c in INVISIBLE), text
    assert "\x9b" not in text
    return text


def check_everywhere(db: Path, commands: list[list[str]], env: dict[str, str] | None = None) -> dict[str, str]:
    shown = {}
    for args in commands:
        plain = run_cli("--db", str(db), *args, env=env)
        assert plain.code == 0, plain
        shown[" ".join(args)] = assert_clean(plain.out.encode(), tty=False)
        assert_clean(run_tty(["--db", str(db), *args], env=env), tty=True)
    return shown


def test_mail_fields_tags_status_and_quarantine_reach_the_terminal_clean(cli: Any, tmp_path: Path) -> None:
    mail = eml(tmp_path / "m.eml", [("in\u200bvoice\u202efdp.exe", f"application/x-evil{LIVE}", b"x")],
               sender="Ev\u200be\u2066 <eve@example.com>")
    assert cli("import", str(mail), "--format", "eml").code == 0
    # A store written before import checked its values (or edited by hand):
    # what is in it is printed safely all the same.
    db = sqlite3.connect(cli.db)
    db.execute("INSERT INTO tags (ticket_id, tag) VALUES (1, ?)", [f"vip{LIVE}"])
    db.execute("UPDATE tickets SET assignee = ?, priority = ?, channel = ? WHERE id = 1",
               [f"bob{LIVE}", f"high{LIVE}", f"email{LIVE}"])
    db.execute("INSERT INTO quarantine (account, source_ref, reason, raw, sha256, received_at, created_at) "
               "VALUES (?, ?, ?, x'00', 'q', '2026-12-01T10:00:00Z', '2026-12-01T10:00:00Z')",
               [f"acct{LIVE}", f"mail\u202e{LIVE}.eml", f"bad{LIVE}"])
    db.commit()
    shown = check_everywhere(cli.db, [["show", "1"], ["attachments", "1"], ["list", "--status", "all"],
                                      ["quarantine", "list"], ["contact", "show", "1"],
                                      ["contact", "list"], ["report", "--by", "tag", "--since", "3650d"]])
    # invisible characters are shown, not hidden: tampering is visible
    assert "application/x-evil" in shown["attachments 1"]
    assert "in\\u200bvoice\\u202efdp.exe" in shown["attachments 1"]
    assert "vip" in shown["show 1"] and "bob" in shown["show 1"]
    db = sqlite3.connect(cli.db)
    db.execute("UPDATE tickets SET status = ? WHERE id = 1", [f"open{LIVE}"])
    db.commit()
    check_everywhere(cli.db, [["show", "1"]])


def test_telegram_document_mime_type_reaches_the_terminal_clean(cli: Any, tmp_path: Path) -> None:
    from tests.social.telegram_server import TOKEN, TelegramServer

    with TelegramServer() as tg:
        cfg = tmp_path / "config.yaml"
        cfg.write_text(f"channels:\n  - name: tg\n    type: telegram\n    token_env: TG\n"
                       f"    api_base_url: {tg.url}\n", encoding="utf-8")
        env = {"SUPPORTCTL_CONFIG": str(cfg), "TG": TOKEN}
        doc = tg.add_file(b"%PDF", "documents", "pdf", file_name="fat\u200btura.pdf",
                          mime_type=f"application/pdf{LIVE}")
        tg.message(tg.user(5123456789, "Mar\u202eco"), None, document=doc)
        r = cli("sync", env=env)
        assert r.code == 0, r
    shown = check_everywhere(cli.db, [["show", "1"], ["attachments", "1"], ["list"]], env=env)
    assert "application/pdf" in shown["attachments 1"]


@pytest.mark.parametrize("args", [["tag", f"vip{LIVE}", "1"], ["assign", f"bob{LIVE}", "1"],
                                  ["tag", "a\u202eb", "1"]])
def test_tag_and_assign_refuse_control_characters(cli: Any, args: list[str]) -> None:
    assert cli("new", "--channel", "phone", "--to", "x", "-m", "hi").code == 0
    r = cli(*args)
    assert r.code == 2 and "control characters" in r.err, r
