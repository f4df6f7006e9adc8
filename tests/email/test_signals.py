"""SIGTERM (cron's timeout) and SIGHUP (a closed SSH session) end a real
`sync` as Ctrl-C does: exit 130, nothing half-written, the lock released,
and an attachment temp file left by a killed run removed by the next run
(issue 7)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.email.servers import PASSWORD, Dovecot, message
from tests.email.test_e2e import tickets, write_config


def _start_sync(db: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "supportctl", "--db", str(db), "sync"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_mid_sync_ends_it_cleanly_and_the_next_run_finishes(
        cli: Any, tmp_path: Path, dovecot: Dovecot, user: str, sig: signal.Signals) -> None:
    n = 120
    dovecot.append(user, [message(k, msgid=f"s{k}@example.com", subject=f"Issue {k}",
                                  sender=f"c{k}@example.com") for k in range(n)])
    cfg = tmp_path / "config.yaml"
    write_config(cfg, dovecot, user, 1)
    env = {"SUPPORTCTL_CONFIG": str(cfg), "SUPPORT_MAIL_PASSWORD": PASSWORD}
    assert cli("list", env=env).code == 0  # the store exists
    # A temp file of a run killed -9 mid-write (its pid is gone).
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    files = Path(str(cli.db).removesuffix(".db") + ".files") / "ab"
    files.mkdir(parents=True)
    stale = files / f".{'ab' * 32}.{dead.pid}.tmp"
    stale.write_bytes(b"half an attachment")

    codes = []
    lock = Path(str(cli.db) + ".lock")
    for delay in (0.0, 0.2, 0.5):
        lock.unlink(missing_ok=True)
        proc = _start_sync(cli.db, env)
        # Mid-run: the sync holds its lock (it writes its pid there) and
        # the signal comes while it fetches and stores.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if lock.exists() and lock.read_text().strip() == str(proc.pid):
                break
            time.sleep(0.01)
        time.sleep(delay)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        codes.append(proc.returncode)
        assert proc.returncode in (0, 130), err
        assert "internal error" not in err and "Traceback" not in err, err
        if proc.returncode == 130:
            assert "interrupted" in err, err
    res = cli("sync", env=env)  # not exit 4: no lock is left behind
    assert res.code == 0, res
    got = tickets(cli, env)
    assert len(got) == n and all(t["message_count"] == 1 for t in got)
    assert not stale.exists()
    assert list(files.parent.glob("??/.*.tmp")) == []
    assert 130 in codes or pytest.skip(f"every sync finished before the signal: {codes}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_while_a_server_hangs_ends_sync_at_once(
        cli: Any, tmp_path: Path, sig: signal.Signals) -> None:
    """Deterministically mid-run: the server accepted and says nothing."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(lsock.accept()[0]), daemon=True).start()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "channels:\n  - name: hung\n    type: imap\n    host: 127.0.0.1\n"
        f"    port: {lsock.getsockname()[1]}\n    security: none\n    username: u\n"
        "    password: p\n    timeout: 1h\n", encoding="utf-8")
    env = {"SUPPORTCTL_CONFIG": str(cfg)}
    try:
        proc = _start_sync(cli.db, env)
        deadline = time.monotonic() + 60
        while not held and time.monotonic() < deadline:
            time.sleep(0.05)
        assert held, "sync never connected"
        time.sleep(0.3)
        started = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert time.monotonic() - started < 15
        assert proc.returncode == 130, err
        assert err.strip().splitlines()[-1].startswith("interrupted"), err
        fd = os.open(str(cli.db) + ".lock", os.O_RDWR)
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: nothing holds it
        finally:
            os.close(fd)
    finally:
        for s in held:
            s.close()
        lsock.close()
