"""When an acknowledgement goes out (SPEC §4), whole-process against the real
Dovecot and aiosmtpd: never to the backlog a first sync brings in, never to
mail older than ``auto_reply.max_age``, once to each new ticket, and still
exactly once after ``sync`` is killed at any point."""

from __future__ import annotations

import email
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from email import policy
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.conftest import all_tickets as tickets
from tests.email.servers import PASSWORD, Dovecot, Smtp, message, support_mail_config

pytest.importorskip("supportctl.config")


def write_config(path: Path, dovecot: Dovecot, user: str, smtp_port: int, extra: str = "") -> None:
    path.write_text(support_mail_config(
        dovecot, user, smtp_port,
        before=(
            "templates:\n"
            "  ack: \"Thank you {{ first_name }}, we answer within a day.\"\n"
            "auto_reply:\n"
            "  enabled: true\n"
            "  template: ack\n"
            "  max_per_contact: 3\n"
            f"{extra}"
        ),
    ), encoding="utf-8")


@pytest.fixture
def env(tmp_path: Path, dovecot: Dovecot, user: str, smtp: Smtp) -> dict[str, str]:
    cfg = tmp_path / "config.yaml"
    write_config(cfg, dovecot, user, smtp.port)
    return {"SUPPORTCTL_CONFIG": str(cfg), "SUPPORT_MAIL_PASSWORD": PASSWORD}


def acks_received(smtp: Smtp) -> list[str]:
    """The customers each acknowledgement the SMTP server received went to."""
    out = []
    for m in smtp.handler.messages:
        msg = email.message_from_bytes(m["data"], policy=policy.default)
        assert msg["Auto-Submitted"] == "auto-replied"
        out += m["rcpt_tos"]
    return out


def outbox(cli: Any, env: dict[str, str]) -> list[dict[str, Any]]:
    res = cli("outbox", "list", "--all", "--format", "json", env=env)
    assert res.code == 0, res
    return list(res.json())


def test_first_sync_acknowledges_no_backlog_and_later_mail_once(
        cli: Any, env: dict[str, str], dovecot: Dovecot, user: str, smtp: Smtp) -> None:
    # The mailbox already holds 45-day-old and 10-minute-old mail: the
    # first sync takes it all in and answers none of it.
    dovecot.append(user, [message(k, sender=f"old{k}@example.com", msgid=f"old{k}@example.com")
                          for k in range(3)], date=time.time() - 45 * 86400)
    dovecot.append(user, [message(9, sender="recent@example.com", msgid="recent@example.com")],
                   date=time.time() - 600)
    res = cli("sync", env=env)
    assert res.code == 0, res
    assert len(tickets(cli, env)) == 4
    assert acks_received(smtp) == [] and outbox(cli, env) == []
    shown = cli("show", str(tickets(cli, env)[0]["id"]), "--format", "json", env=env).json()
    assert [e["detail"]["reason"] for e in shown["events"] if e["action"] == "auto_reply_skipped"] \
        == ["arrived before this channel entry first synced"]

    # New mail after the first sync gets exactly one acknowledgement.
    time.sleep(1.1)  # stored times have whole seconds
    dovecot.append(user, [message(10, sender="new@example.com", msgid="new@example.com",
                                  subject="Where is my order?")])
    res = cli("sync", env=env)
    assert res.code == 0, res
    assert acks_received(smtp) == ["new@example.com"]
    [entry] = outbox(cli, env)
    assert entry["state"] == "sent" and "Thank you Customer" in entry["text"]
    [t] = [t for t in tickets(cli, env) if t["subject"] == "Where is my order?"]
    assert t["status"] == "new" and t["first_response_at"] is None  # not a first response
    assert cli("sync", env=env).code == 0
    assert acks_received(smtp) == ["new@example.com"]  # a re-run sends nothing again


def test_mail_older_than_max_age_is_not_acknowledged(
        cli: Any, env: dict[str, str], dovecot: Dovecot, user: str, smtp: Smtp,
        tmp_path: Path) -> None:
    write_config(Path(env["SUPPORTCTL_CONFIG"]), dovecot, user, smtp.port, "  max_age: 2h\n")
    # The first sync (on an empty mailbox) is long past: pin the clock.
    first = time.time()
    assert cli("sync", env={**env, "SUPPORTCTL_NOW": _iso(first - 86400)}).code == 0
    dovecot.append(user, [message(1, sender="late@example.com", msgid="late@example.com")],
                   date=first - 3 * 3600)
    dovecot.append(user, [message(2, sender="fresh@example.com", msgid="fresh@example.com")],
                   date=first - 3600)
    res = cli("sync", env={**env, "SUPPORTCTL_NOW": _iso(first)})
    assert res.code == 0, res
    assert acks_received(smtp) == ["fresh@example.com"]


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def test_kill_9_at_several_points_then_each_new_ticket_has_exactly_one_acknowledgement(
        cli: Any, env: dict[str, str], dovecot: Dovecot, user: str, smtp: Smtp) -> None:
    assert cli("sync", env=env).code == 0  # the first sync: nothing in the mailbox yet
    time.sleep(1.1)
    n = 120
    dovecot.append(user, [message(k, msgid=f"k{k}@example.com", subject=f"Issue {k}",
                                  sender=f"c{k}@example.com") for k in range(n)])
    full_env = {**os.environ, **env}

    def sync_killed(ready: Any) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", "supportctl", "--db", str(cli.db), "sync", "-q"],
            cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not ready() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    # Before anything is stored (as the kill tests of tests/email/test_e2e.py) ...
    for delay in (0.15, 0.5):
        started = time.monotonic()
        sync_killed(lambda d=delay, s=started: time.monotonic() - s >= d)
    # ... and with tickets stored and their acknowledgements going out.
    for count in (3, 25, 50, 80):
        sync_killed(lambda c=count: len(smtp.handler.messages) >= c)
    res = cli("sync", env=env)
    assert res.code == 0, res
    got = tickets(cli, env)
    assert len(got) == n
    entries = outbox(cli, env)
    per_ticket = Counter(e["ticket_id"] for e in entries)
    # Decided with the ticket: every new ticket has exactly one, none two.
    assert sorted(per_ticket) == sorted(t["id"] for t in got)
    assert set(per_ticket.values()) == {1}
    # Sent once each; a kill in the middle of one SMTP send leaves that one
    # "unknown" (never resent blindly, SPEC §2) rather than doubled.
    received = Counter(acks_received(smtp))
    assert max(received.values()) == 1
    states = Counter(e["state"] for e in entries)
    assert set(states) <= {"sent", "unknown"} and states["unknown"] <= 6
    assert len(received) >= states["sent"]
