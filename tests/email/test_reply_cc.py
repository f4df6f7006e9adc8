"""Replies to email keep the customer's other recipients, as reply-all
does, minus our own addresses; ``--no-cc`` drops them. A reply to a merged
ticket goes to the ticket it was merged into. Whole process against the
real Dovecot and aiosmtpd."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path
from typing import Any

import pytest

from tests.email.servers import PASSWORD, Dovecot, Smtp, message
from tests.email.test_answers import write_config

pytest.importorskip("supportctl.config")


@pytest.fixture
def env(tmp_path: Path, dovecot: Dovecot, user: str, smtp: Smtp) -> dict[str, str]:
    cfg = tmp_path / "config.yaml"
    write_config(cfg, dovecot, user, smtp.port)
    return {"SUPPORTCTL_CONFIG": str(cfg), "SUPPORT_MAIL_PASSWORD": PASSWORD,
            "SUPPORTCTL_NOW": "2024-01-01T11:00:00Z"}


def _tickets(cli: Any, env: dict[str, str]) -> dict[str, int]:
    res = cli("list", "--status", "all", "--format", "json", env=env)
    assert res.code == 0, res
    return {t["subject"]: t["id"] for t in res.json()}


def test_reply_all_keeps_cc_minus_our_addresses(
        cli: Any, env: dict[str, str], dovecot: Dovecot, user: str, smtp: Smtp) -> None:
    dovecot.append(user, [message(1, subject="Broken kettle", sender="ada@example.com",
                                  to="support@example.org, Bea <bea@example.com>",
                                  extra="Cc: Boss <boss@example.com>, SUPPORT@example.org,"
                                        " ada@example.com\r\n")])
    assert cli("sync", env=env).code == 0
    tid = _tickets(cli, env)["Broken kettle"]
    dry = cli("reply", str(tid), "-m", "On its way.", "--dry-run", env=env)
    assert dry.code == 0, dry
    assert dry.json()["to"] == "ada@example.com"
    assert dry.json()["cc"] == ["bea@example.com", "boss@example.com"]

    assert cli("reply", str(tid), "-m", "On its way.", env=env).code == 0
    [sent] = smtp.handler.messages
    assert sorted(sent["rcpt_tos"]) == ["ada@example.com", "bea@example.com", "boss@example.com"]
    out = email.message_from_bytes(sent["data"], policy=policy.default)
    assert [a.addr_spec for a in out["Cc"].addresses] == ["bea@example.com", "boss@example.com"]

    assert cli("reply", str(tid), "-m", "Only you.", "--no-cc", env=env).code == 0
    assert smtp.handler.messages[1]["rcpt_tos"] == ["ada@example.com"]
    assert cli("reply", str(tid), "-m", "Plus one.", "--no-cc", "--cc", "c@example.com",
               env=env).code == 0
    assert sorted(smtp.handler.messages[2]["rcpt_tos"]) == ["ada@example.com", "c@example.com"]


def test_reply_to_a_merged_ticket_goes_where_it_was_merged(
        cli: Any, env: dict[str, str], dovecot: Dovecot, user: str, smtp: Smtp) -> None:
    dovecot.append(user, [message(1, subject="First", sender="ada@example.com"),
                          message(2, subject="Second", sender="ada@example.com")])
    assert cli("sync", env=env).code == 0
    ids = _tickets(cli, env)
    a, b = ids["First"], ids["Second"]
    assert cli("merge", str(a), str(b), "--yes", env=env).code == 0
    shown = cli("show", str(a), env=env)
    assert f"merged into #{b}" in shown.out, shown
    r = cli("reply", str(a), "-m", "Answering here.", env=env)
    assert r.code == 0, r
    assert f"merged into #{b}: replying there" in r.err
    [sent] = smtp.handler.messages
    assert f"[#{b}]" in email.message_from_bytes(sent["data"], policy=policy.default)["Subject"]
    t = cli("show", str(b), "--format", "json", env=env).json()
    assert any(m["direction"] == "out" for m in t["messages"])
