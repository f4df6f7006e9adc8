"""A first sync of a big mailbox on a terminal (issue 11): live progress per
folder (fetched/total, rate, time left), nothing extra off a terminal or
with -q, and a first sync killed halfway (kill -9) resumes where it stopped
without fetching again what is stored, saying so. Real Dovecot, whole
processes, a pseudo-terminal for stderr."""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.email.servers import PASSWORD, Dovecot, message

pytest.importorskip("supportctl.config")

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def env(tmp_path: Path, dovecot: Dovecot, user: str) -> dict[str, str]:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "channels:\n"
        "  - name: support-mail\n"
        "    type: imap\n"
        "    host: 127.0.0.1\n"
        f"    port: {dovecot.port}\n"
        "    security: none\n"
        f"    username: {user}\n"
        "    password_env: SUPPORT_MAIL_PASSWORD\n"
        "    addresses: [support@example.org]\n", encoding="utf-8")
    return {**os.environ, "SUPPORTCTL_CONFIG": str(cfg), "SUPPORT_MAIL_PASSWORD": PASSWORD,
            "COLUMNS": "120"}


class OnTerminal:
    """``supportctl sync`` with stdout and stderr on a pseudo-terminal."""

    def __init__(self, db: Path, env: dict[str, str], *args: str) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([sys.executable, "-m", "supportctl", "--db", str(db), "sync",
                                      *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                                     env=env, cwd=ROOT)
        os.close(slave)
        self.seen = b""

    def read(self) -> bool:
        try:
            data = os.read(self.master, 65536)
        except OSError:
            return False
        self.seen += data
        return bool(data)

    def text(self) -> str:
        return ANSI.sub("", self.seen.decode("utf-8", "replace"))

    def finish(self) -> tuple[int, str]:
        while self.read():
            pass
        code = self.proc.wait(timeout=300)
        os.close(self.master)
        return code, self.text()


def counts(text: str) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in re.findall(r"(\d+)/(\d+)", text)]


def test_first_sync_on_a_terminal_shows_live_progress(cli: Any, env: dict[str, str],
                                                      dovecot: Dovecot, user: str) -> None:
    n = 450  # above parsing.THRESHOLD: the worker processes parse ahead
    dovecot.append(user, [message(k, sender=f"c{k % 40}@example.com") for k in range(n)],
                   date=time.time() - 30 * 86400)
    code, out = OnTerminal(cli.db, env).finish()
    assert code == 0, out
    assert "support-mail INBOX" in out
    seen = counts(out)
    assert seen[-1] == (n, n) and {total for _, total in seen} == {n}
    assert len({done for done, _ in seen}) > 1  # it moved while it ran
    assert re.search(r"\d/s", out)  # a rate
    assert "support-mail: 450 new" in out
    assert cli("list", "--status", "all", "--format", "ids", env=env).out.count("\n") >= n // 40

    # With -q, or off a terminal, nothing but what was asked for.
    dovecot.append(user, [message("later", sender="later@example.com")])
    code, out = OnTerminal(cli.db, env, "-q").finish()
    assert code == 0 and out.strip() == "", out
    dovecot.append(user, [message("later2", sender="later2@example.com")])
    res = cli("sync", env=env)
    assert res.code == 0 and res.out == "" and "/1" not in res.err and "━" not in res.err, res
    assert res.err.startswith("support-mail: 1 new")


def test_a_first_sync_killed_halfway_resumes_without_fetching_again(
        cli: Any, env: dict[str, str], dovecot: Dovecot, user: str) -> None:
    # Enough that the kill, sent once a batch shows as stored, lands well
    # before the end: a sync stores a few thousand of these a second.
    n = 3000
    dovecot.append(user, [message(k, sender=f"c{k}@example.com", msgid=f"k{k}@example.com")
                          for k in range(n)], date=time.time() - 90 * 86400)
    run = OnTerminal(cli.db, env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and run.read():
        done = [d for d, _ in counts(run.text())]
        if done and max(done) >= 200:  # shown only after its batch committed
            break
    run.proc.send_signal(signal.SIGKILL)
    run.proc.wait()
    os.close(run.master)
    stored = int(cli("db", "info", "--format", "json", env=env).json()["messages"])
    assert 200 <= stored < n, run.text()

    code, out = OnTerminal(cli.db, env).finish()
    assert code == 0, out
    assert f"resuming the first sync: {stored} already stored" in out
    # Only what was not stored is fetched: the folder's total is the rest.
    assert {total for _, total in counts(out)} == {n - stored}, out
    info = cli("db", "info", "--format", "json", env=env).json()
    assert info["messages"] == n and info["quarantine"] == 0
    # Finished: the next sync no longer says it resumes.
    dovecot.append(user, [message("after", sender="after@example.com")])
    code, out = OnTerminal(cli.db, env).finish()
    assert code == 0 and "resuming" not in out, out
    # History all the same: the mail from before the first sync has no clock.
    tickets = cli("list", "--status", "all", "--format", "json", "--tag", "history", env=env).json()
    assert len(tickets) == n
