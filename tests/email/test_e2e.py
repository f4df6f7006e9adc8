"""Whole-process ``supportctl sync`` / ``reply`` against the real Dovecot and
aiosmtpd: tickets from mail, idempotent re-runs, threaded replies, the
customer's answer on the same ticket, a failed send kept in the outbox,
kill -9 at several points, and overlapping syncs (SPEC §2, §3, §5, §9)."""

from __future__ import annotations

import email
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from email import policy
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.conftest import all_tickets as tickets
from tests.email.servers import (
    PASSWORD,
    Dovecot,
    Recorder,
    Smtp,
    message,
    smtp_server,
    support_mail_config,
)

pytest.importorskip("supportctl.config")
pytest.importorskip("supportctl.mail.parse")


def write_config(path: Path, dovecot: Dovecot, user: str, smtp_port: int) -> None:
    path.write_text(support_mail_config(
        dovecot, user, smtp_port,
    ), encoding="utf-8")


@pytest.fixture
def env(tmp_path: Path, dovecot: Dovecot, user: str, smtp: Smtp) -> dict[str, str]:
    cfg = tmp_path / "config.yaml"
    write_config(cfg, dovecot, user, smtp.port)
    return {"SUPPORTCTL_CONFIG": str(cfg), "SUPPORT_MAIL_PASSWORD": PASSWORD}


def show(cli: Any, env: dict[str, str], tid: int) -> dict[str, Any]:
    res = cli("show", str(tid), "--format", "json", env=env)
    assert res.code == 0, res
    return dict(res.json())


def test_first_sync_creates_tickets_and_rerun_adds_nothing(
        cli: Any, env: dict[str, str], dovecot: Dovecot, user: str) -> None:
    dovecot.append(user, [
        message(1, sender="ada@example.com", msgid="a1@example.com", subject="Order 1"),
        message(2, sender="bob@example.com", msgid="b1@example.com", subject="Refund"),
        message(3, sender="ada@example.com", msgid="a2@example.com", subject="Re: Order 1",
                extra="In-Reply-To: <a1@example.com>\r\nReferences: <a1@example.com>\r\n"),
    ])
    res = cli("sync", env=env)
    assert res.code == 0, res
    got = tickets(cli, env)
    assert sorted(t["message_count"] for t in got) == [1, 2]
    assert {t["channel"] for t in got} == {"email"} and {t["account"] for t in got} == {"support-mail"}
    flags_before = dovecot.flags(user)

    res = cli("sync", env=env)
    assert res.code == 0, res
    assert sorted(t["message_count"] for t in tickets(cli, env)) == [1, 2]
    assert dovecot.flags(user) == flags_before  # never marks mail \Seen


def test_reply_is_threaded_and_the_answer_lands_on_the_same_ticket(
        cli: Any, env: dict[str, str], dovecot: Dovecot, user: str, smtp: Smtp) -> None:
    dovecot.append(user, [message(1, sender="ada@example.com", msgid="q1@example.com",
                                  subject="Where is my parcel?")])
    assert cli("sync", env=env).code == 0
    [t] = tickets(cli, env)

    res = cli("reply", str(t["id"]), "-m", "It left our warehouse today.", env=env)
    assert res.code == 0, res
    [sent] = smtp.handler.messages
    assert sent["rcpt_tos"] == ["ada@example.com"]
    out = email.message_from_bytes(sent["data"], policy=policy.default)
    assert out["In-Reply-To"] == "<q1@example.com>"
    assert "<q1@example.com>" in str(out["References"])
    assert f"[#{t['id']}]" in str(out["Subject"])
    ours = str(out["Message-ID"]).strip("<>")

    # The customer answers with a changed subject: In-Reply-To decides.
    dovecot.append(user, [message(2, sender="ada@example.com", msgid="q2@example.com",
                                  subject="thanks!",
                                  extra=f"In-Reply-To: <{ours}>\r\nReferences: <q1@example.com> <{ours}>\r\n")])
    assert cli("sync", env=env).code == 0
    [t2] = tickets(cli, env)
    assert t2["id"] == t["id"]
    directions = [m["direction"] for m in show(cli, env, t["id"])["messages"]]
    assert directions == ["in", "out", "in"]


def test_failed_send_stays_in_the_outbox(cli: Any, tmp_path: Path, env: dict[str, str],
                                         dovecot: Dovecot, user: str, smtp: Smtp) -> None:
    dovecot.append(user, [message(1, sender="ada@example.com", msgid="f1@example.com")])
    assert cli("sync", env=env).code == 0
    [t] = tickets(cli, env)
    failing = smtp_server(Recorder(reply="451 4.3.0 greylisted, try later"))
    try:
        write_config(Path(env["SUPPORTCTL_CONFIG"]), dovecot, user, failing.port)
        res = cli("reply", str(t["id"]), "-m", "We are on it.", env=env)
    finally:
        failing.stop()
    assert res.code == 1, res
    [entry] = cli("outbox", "list", "--format", "json", env=env).json()
    assert entry["state"] == "failed" and "451" in (entry["error"] or "")
    assert "We are on it." in entry["text"]

    write_config(Path(env["SUPPORTCTL_CONFIG"]), dovecot, user, smtp.port)
    res = cli("outbox", "retry", str(entry["id"]), env=env)
    assert res.code == 0, res
    assert len(smtp.handler.messages) == 1


def _sync_proc(db: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "supportctl", "--db", str(db), "sync", "-q"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_kill_9_at_several_points_then_every_message_exactly_once(
        cli: Any, env: dict[str, str], dovecot: Dovecot, user: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    n = 120
    dovecot.append(user, [message(k, msgid=f"k{k}@example.com", subject=f"Issue {k}",
                                  sender=f"c{k}@example.com") for k in range(n)])
    for delay in (0.15, 0.3, 0.5, 0.8, 1.2):
        proc = _sync_proc(cli.db, env)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    res = cli("sync", env=env)
    assert res.code == 0, res
    got = tickets(cli, env)
    assert len(got) == n
    assert all(t["message_count"] == 1 for t in got)
    assert sorted(t["subject"] for t in got) == sorted(f"Issue {k}" for k in range(n))


def test_overlapping_sync_exits_4_or_waits(cli: Any, env: dict[str, str],
                                           dovecot: Dovecot, user: str) -> None:
    dovecot.append(user, [message(1, msgid="o1@example.com")])
    assert cli("sync", env=env).code == 0  # creates the store
    lock = open(str(cli.db) + ".lock", "a+")  # noqa: SIM115
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # "another sync"
        res = cli("sync", env=env)
        assert res.code == 4, res
        assert "--wait" in res.err
        threading.Timer(0.5, lambda: fcntl.flock(lock, fcntl.LOCK_UN)).start()
        started = time.monotonic()
        res = cli("sync", "--wait", "20", env=env)
        assert res.code == 0, res
        assert time.monotonic() - started < 20
    finally:
        lock.close()


def test_two_real_syncs_at_once_store_each_message_once(
        cli: Any, env: dict[str, str], dovecot: Dovecot, user: str) -> None:
    n = 60
    dovecot.append(user, [message(k, msgid=f"p{k}@example.com", subject=f"P {k}",
                                  sender=f"p{k}@example.com") for k in range(n)])
    assert cli("list", env=env).code == 0
    procs = [_sync_proc(cli.db, env) for _ in range(2)]
    codes = sorted(p.wait(timeout=120) for p in procs)
    assert codes in ([0, 0], [0, 4]), codes
    res = cli("sync", env=env)
    assert res.code == 0, res
    got = tickets(cli, env)
    assert len(got) == n and all(t["message_count"] == 1 for t in got)
