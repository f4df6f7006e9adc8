"""`reply` through $EDITOR: what the agent wrote above the cut line is sent
as written, every line of it; the cut line and the thread below it are not."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.terminal import run_on_pty

CONFIG = """channels:
  - name: support-mail
    type: imap
    host: 127.0.0.1
    username: support@shop.example
    password: not-used-in-a-dry-run
    smtp: {host: 127.0.0.1, from: support@shop.example}
"""


def _setup(cli: Any, tmp_path: Path) -> Path:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(CONFIG)
    cfg.chmod(0o600)
    mail = tmp_path / "q.eml"
    mail.write_bytes(b"From: Ann <ann@example.com>\r\nTo: support@shop.example\r\n"
                     b"Subject: where is my order\r\nMessage-ID: <q1@example.com>\r\n\r\n"
                     b"# not a comment either: my order #1042\r\n")
    assert cli("--config", str(cfg), "import", str(mail)).code == 0
    return cfg


def _editor(tmp_path: Path, above: str) -> Path:
    """An editor that writes ``above`` at the top of the draft, as a person
    would, and leaves the rest (cut line, quoted thread) alone."""
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys\n"
        "p = sys.argv[1]\n"
        "draft = open(p, encoding='utf-8').read()\n"
        f"open(p, 'w', encoding='utf-8').write({above!r} + draft)\n")
    return script


def _reply_on_tty(cli: Any, cfg: Path, editor: Path, *more: str) -> tuple[int, str]:
    """``reply 1 --dry-run`` with stdin and stdout on a terminal, so the
    editor path is taken; returns (exit code, what it printed)."""
    env = {"EDITOR": f"{sys.executable} {editor}", "VISUAL": ""}  # VISUAL would win
    d = run_on_pty(["--db", str(cli.db), "--config", str(cfg), "reply", "1", "--dry-run", *more],
                   env, stderr_tty=False)
    return d.code, d.text() + d.err.decode()


def test_lines_starting_with_hash_above_the_cut_line_are_sent(cli: Any, tmp_path: Path) -> None:
    cfg = _setup(cli, tmp_path)
    wrote = "Hello Ann,\n#1042 left the warehouse today\n# 2 boxes, tracking 123\n\nMarta\n"
    code, out = _reply_on_tty(cli, cfg, _editor(tmp_path, wrote))
    assert code == 0, out
    sent = json.loads(out[out.index("{"):])
    assert sent["text"] == wrote.strip()
    assert ">8" not in sent["text"] and "not a comment either" not in sent["text"]


def _reply_with_script(cli: Any, tmp_path: Path, source: str) -> tuple[int, str]:
    """``_reply_on_tty`` with an editor that runs ``source`` (the draft's
    path in ``sys.argv[1]``)."""
    cfg = _setup(cli, tmp_path)
    script = tmp_path / "editor.py"
    script.write_text("import sys\n" + source)
    return _reply_on_tty(cli, cfg, script)


def test_a_draft_without_its_cut_line_is_not_sent_and_is_kept(cli: Any, tmp_path: Path) -> None:
    code, out = _reply_with_script(
        cli, tmp_path, "open(sys.argv[1], 'w').write('#1042 shipped\\n# quoted\\n')\n")
    assert code == 2, out
    assert "cut line" in out and "nothing sent" in out
    kept = out.split("kept in ")[1].split()[0]
    assert Path(kept).read_text() == "#1042 shipped\n# quoted\n"
    Path(kept).unlink()


def test_an_emptied_draft_aborts_and_leaves_no_file(cli: Any, tmp_path: Path) -> None:
    code, out = _reply_with_script(
        cli, tmp_path, "print(sys.argv[1])\nopen(sys.argv[1], 'w').write('  \\n')\n")
    assert code == 2, out
    assert "empty draft" in out and "nothing sent" in out and "kept" not in out
    draft = next(w for w in out.split() if "reply-1-" in w)
    assert not Path(draft).exists()


SIGNED = """agents:
  - name: marta
    signature: |
      Marta
      Bottega Rossi, Via Roma 1
templates:
  shipped:
    subject: "Your order {{ ticket.id }} has left"
    body: "Hello {{ first_name }}, your order left the warehouse today."
"""


def test_template_draft_in_the_editor_with_its_subject_and_the_signature(
        cli: Any, tmp_path: Path) -> None:
    cfg = _setup(cli, tmp_path)
    cfg.write_text(CONFIG + SIGNED)
    seen = tmp_path / "seen.txt"
    script = tmp_path / "editor.py"
    script.write_text(  # keeps a copy of the draft, then adds a line above the cut
        "import shutil, sys\n"
        f"shutil.copy(sys.argv[1], {str(seen)!r})\n"
        "d = open(sys.argv[1], encoding='utf-8').read()\n"
        "open(sys.argv[1], 'w', encoding='utf-8').write(d.replace('today.', 'today.\\nTracking 123.', 1))\n")
    code, out = _reply_on_tty(cli, cfg, script, "--template", "shipped", "--as", "marta")
    assert code == 0, out
    assert seen.read_text().startswith("Hello Ann, your order left the warehouse today.\n")
    sent = json.loads(out[out.index("{"):])
    assert sent["subject"] == "Your order 1 has left [#1]"
    assert sent["text"] == ("Hello Ann, your order left the warehouse today.\nTracking 123.\n\n"
                            "-- \nMarta\nBottega Rossi, Via Roma 1")
    # Off a terminal, and with -y: the template as rendered, signed the same way.
    r = cli("--config", str(cfg), "--as", "marta", "reply", "1", "--template", "shipped", "-y",
            "--dry-run")
    assert r.code == 0, r
    assert r.json()["text"] == ("Hello Ann, your order left the warehouse today.\n\n"
                                "-- \nMarta\nBottega Rossi, Via Roma 1")
    r = cli("--config", str(cfg), "--as", "marta", "reply", "1", "-m", "On its way.", "--dry-run")
    assert r.json()["text"] == "On its way.\n\n-- \nMarta\nBottega Rossi, Via Roma 1"
    assert r.json()["subject"] == "Re: where is my order [#1]"
