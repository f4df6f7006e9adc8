"""``sync --watch`` against the real Dovecot: new mail shows up while it
runs (IDLE), and Ctrl-C ends it cleanly with exit 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.conftest import ROOT
from tests.email.servers import PASSWORD, Dovecot, Smtp, message
from tests.email.test_e2e import write_config


def test_watch_picks_up_new_mail_and_stops_on_ctrl_c(
        tmp_path: Path, cli: Any, dovecot: Dovecot, user: str, smtp: Smtp) -> None:
    cfg = tmp_path / "config.yaml"
    write_config(cfg, dovecot, user, smtp.port)
    env = {**os.environ, "SUPPORTCTL_CONFIG": str(cfg), "SUPPORT_MAIL_PASSWORD": PASSWORD}
    dovecot.append(user, [message(1, msgid="w1@example.com")])
    proc = subprocess.Popen(
        [sys.executable, "-m", "supportctl", "--db", str(cli.db), "sync", "--watch",
         "--interval", "600"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        def count() -> int:
            r = cli("list", "--status", "all", "--format", "ids", env=env)
            return len(r.out.split())

        # Generous bounds (a loaded machine starts Python slowly); the
        # interval is far longer still, so news seen in time came by IDLE.
        deadline = time.monotonic() + 120
        while count() < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert count() == 1
        deadline = time.monotonic() + 120
        dovecot.append(user, [message(2, msgid="w2@example.com")])
        while count() < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert count() == 2  # IDLE, not the 600 s interval
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_watch_prints_only_what_changed(
        tmp_path: Path, cli: Any, dovecot: Dovecot, user: str, smtp: Smtp) -> None:
    """A line when mail is stored or an entry starts failing; nothing for a
    quiet interval, and a failure that persists is said once."""
    cfg = tmp_path / "config.yaml"
    write_config(cfg, dovecot, user, smtp.port)
    with cfg.open("a", encoding="utf-8") as f:
        f.write("  - name: dead-mail\n    type: imap\n    host: 127.0.0.1\n"
                f"    port: {_closed_port()}\n    security: none\n    username: x\n"
                "    password: x\n    timeout: 5s\n")
    env = {**os.environ, "SUPPORTCTL_CONFIG": str(cfg), "SUPPORT_MAIL_PASSWORD": PASSWORD}
    dovecot.append(user, [message(1, msgid="q1@example.com")])
    proc = subprocess.Popen(
        [sys.executable, "-m", "supportctl", "--db", str(cli.db), "sync", "--watch",
         "--interval", "0.3"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)

    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(iter(proc.stderr.readline, "")),  # type: ignore[union-attr]
                              daemon=True)
    reader.start()

    def count() -> int:
        return len(cli("list", "--status", "all", "--format", "ids", env=env).out.split())

    def mail_lines() -> int:
        return sum(1 for line in list(said) if line.startswith("support-mail:"))

    try:
        deadline = time.monotonic() + 60
        while count() < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # quiet intervals: about ten passes with nothing new
        dovecot.append(user, [message(2, msgid="q2@example.com")])
        deadline = time.monotonic() + 60
        while count() < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        # A pass says what it stored once every entry is done, the dead
        # one's connection retries (about a second) included: wait for the
        # line itself, not a guess of how long the rest of the pass takes.
        while mail_lines() < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        reader.join(timeout=10)
    err = "".join(said)
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    mail = [line for line in lines if line.startswith("support-mail:")]
    dead = [line for line in lines if line.startswith("dead-mail:")]
    # The first pass reports every entry; later passes only the new mail.
    assert len(mail) == 2 and all("1 new" in line for line in mail), err
    assert len(dead) == 1 and "FAILED" in dead[0], err
    assert not any("0 new" in line for line in lines), err
