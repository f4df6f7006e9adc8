"""History without noise (issue 11): mail that was in the mailbox before a
channel entry's first sync is the customers' history. It is stored and shown
like any other, but it never sends a rule's reply, never notifies anyone and
never runs an SLA clock (so never breaches); mail that arrives after the
first sync does all of that as before. Whole-process, real Dovecot and SMTP."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import all_tickets as tickets
from tests.email.servers import PASSWORD, Dovecot, Smtp, message, support_mail_config

pytest.importorskip("supportctl.config")


def write_config(path: Path, dovecot: Dovecot, user: str, smtp_port: int) -> None:
    path.write_text(support_mail_config(
        dovecot, user, smtp_port,
        before=(
            "templates:\n"
            "  got-it: \"We have your refund request.\"\n"
            "sla:\n"
            "  - name: standard\n"
            "    first_response: 1h\n"
            "    resolution: 1d\n"
            "    business_hours_only: false\n"
            "rules:\n"
            "  - name: refunds\n"
            "    match: {subject: refund}\n"
            "    tag: [refund]\n"
            "    assign: marta\n"
            "    reply: got-it\n"
            "    notify: owner\n"
            "notify:\n"
            "  - name: owner\n"
            "    via: support-mail\n"
            "    to: owner@example.net\n"
            "    on: [new, breached, customer-replied, assigned]\n"
        ),
    ), encoding="utf-8")


@pytest.fixture
def env(tmp_path: Path, dovecot: Dovecot, user: str, smtp: Smtp) -> dict[str, str]:
    cfg = tmp_path / "config.yaml"
    write_config(cfg, dovecot, user, smtp.port)
    return {"SUPPORTCTL_CONFIG": str(cfg), "SUPPORT_MAIL_PASSWORD": PASSWORD}


def test_mail_before_the_first_sync_is_history_and_makes_no_noise(
        cli: Any, env: dict[str, str], dovecot: Dovecot, user: str, smtp: Smtp) -> None:
    # Two years of mail: refund requests a rule would answer and notify on,
    # all long past any SLA.
    dovecot.append(user, [message(k, sender=f"old{k}@example.com", msgid=f"old{k}@example.com",
                                  subject=f"refund for order {k}") for k in range(3)],
                   date=time.time() - 700 * 86400)
    res = cli("sync", env=env)
    assert res.code == 0, res
    old = tickets(cli, env)
    assert len(old) == 3
    for t in old:
        # Visible and tagged, but no clock: never breached, never due.
        assert "history" in t["tags"] and "refund" in t["tags"] and t["assignee"] == "marta"
        assert t["sla"]["first_response_due"] is None and t["sla"]["resolution_due"] is None
        assert t["sla"]["breached"] is False
    assert smtp.handler.messages == []  # no rule reply, no notification
    assert cli("outbox", "list", "--all", "--format", "json", env=env).json() == []
    shown = cli("show", str(old[0]["id"]), "--format", "json", env=env).json()
    assert len(shown["messages"]) == 1 and shown["messages"][0]["text"].startswith("contract message")
    assert {e["action"] for e in shown["events"]} >= {"rule.reply_skipped", "rule.notify_skipped"}
    assert cli("list", "--sla", "breached", "--format", "ids", env=env).out.strip() == ""
    # The customer's history is there for the next conversation.
    contact = shown["contact"]["id"]
    res = cli("contact", "show", str(contact), "--format", "json", env=env)
    assert res.code == 0 and str(old[0]["id"]) in res.out
    # A second sync with nothing new sends nothing either (housekeeping).
    assert cli("sync", env=env).code == 0
    assert smtp.handler.messages == []

    # New mail after the first sync is answered, notified and clocked.
    time.sleep(1.1)  # stored times have whole seconds
    dovecot.append(user, [message(9, sender="new@example.com", msgid="new@example.com",
                                  subject="refund please")])
    res = cli("sync", env=env)
    assert res.code == 0, res
    [new] = [t for t in tickets(cli, env) if t["subject"] == "refund please"]
    assert "history" not in new["tags"] and new["sla"]["first_response_due"] is not None
    rcpts = sorted(r for m in smtp.handler.messages for r in m["rcpt_tos"])
    # The rule's reply, and the owner told of the new ticket and of its
    # assignment.
    assert rcpts == ["new@example.com", "owner@example.net", "owner@example.net"]
