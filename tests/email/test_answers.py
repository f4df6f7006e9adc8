"""Where a reply goes and when it counts, whole-process against the real
Dovecot and aiosmtpd: ``reply`` answers to Reply-To as a mail client does
(never to one of our own addresses) and ``show`` says where; only a reply
that was sent is a first response (SLA), never one stuck in the outbox."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path
from typing import Any

import pytest

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


def write_config(path: Path, dovecot: Dovecot, user: str, smtp_port: int) -> None:
    path.write_text(support_mail_config(
        dovecot, user, smtp_port,
        before=(
            "sla: {first_response: 1h, resolution: 2d}\n"
        ),
    ), encoding="utf-8")


@pytest.fixture
def env(tmp_path: Path, dovecot: Dovecot, user: str, smtp: Smtp) -> dict[str, str]:
    cfg = tmp_path / "config.yaml"
    write_config(cfg, dovecot, user, smtp.port)
    return {"SUPPORTCTL_CONFIG": str(cfg), "SUPPORT_MAIL_PASSWORD": PASSWORD}


def at(env: dict[str, str], when: str) -> dict[str, str]:
    """The test messages are dated 2024-01-01 10:00 UTC: pin the clock near it."""
    return {**env, "SUPPORTCTL_NOW": f"2024-01-01T{when}:00Z"}


def only_ticket(cli: Any, env: dict[str, str]) -> dict[str, Any]:
    res = cli("list", "--status", "all", "--format", "json", env=env)
    assert res.code == 0, res
    [t] = res.json()
    return dict(t)


def test_reply_goes_to_reply_to_and_show_says_so(
        cli: Any, env: dict[str, str], dovecot: Dovecot, user: str, smtp: Smtp) -> None:
    dovecot.append(user, [message(1, sender="ada@example.com", msgid="rt1@example.com",
                                  extra="Reply-To: Ada's Orders <orders@ada.example>\r\n")])
    assert cli("sync", env=env).code == 0
    t = only_ticket(cli, env)
    shown = cli("show", str(t["id"]), "--format", "json", env=env).json()
    assert shown["answer_to"] == [{"name": "Ada's Orders", "address": "orders@ada.example"}]
    plain = cli("show", str(t["id"]), env=env)
    assert "a reply goes to: Ada's Orders <orders@ada.example>" in plain.out
    res = cli("reply", str(t["id"]), "-m", "Sent today.", "--dry-run", env=env)
    assert res.json()["to"] == "orders@ada.example"

    res = cli("reply", str(t["id"]), "-m", "Sent today.", env=env)
    assert res.code == 0, res
    [sent] = smtp.handler.messages
    assert sent["rcpt_tos"] == ["orders@ada.example"]
    out = email.message_from_bytes(sent["data"], policy=policy.default)
    assert out["To"].addresses[0].addr_spec == "orders@ada.example"


def test_reply_to_naming_us_is_ignored(
        cli: Any, env: dict[str, str], dovecot: Dovecot, user: str, smtp: Smtp) -> None:
    # A form or a forward that sets Reply-To to our own (plus-)address: a
    # reply must not go to ourselves.
    dovecot.append(user, [message(1, sender="bob@example.com", msgid="rt2@example.com",
                                  extra="Reply-To: support+web@example.org\r\n")])
    assert cli("sync", env=env).code == 0
    t = only_ticket(cli, env)
    shown = cli("show", str(t["id"]), "--format", "json", env=env).json()
    assert shown["answer_to"] == [{"name": "Customer 1", "address": "bob@example.com"}]
    assert cli("reply", str(t["id"]), "-m", "On it.", env=env).code == 0
    assert [m["rcpt_tos"] for m in smtp.handler.messages] == [["bob@example.com"]]


def test_only_a_sent_reply_is_the_first_response(
        cli: Any, env: dict[str, str], dovecot: Dovecot, user: str, smtp: Smtp) -> None:
    assert cli("sync", env=at(env, "09:00")).code == 0  # the shop was running: not history
    dovecot.append(user, [message(1, sender="ada@example.com", msgid="sla1@example.com")])
    assert cli("sync", env=at(env, "10:05")).code == 0
    t = only_ticket(cli, env)
    failing = smtp_server(Recorder(reply="451 4.3.0 greylisted, try later"))
    try:
        write_config(Path(env["SUPPORTCTL_CONFIG"]), dovecot, user, failing.port)
        res = cli("reply", str(t["id"]), "-m", "We are on it.", env=at(env, "10:10"))
    finally:
        failing.stop()
    assert res.code == 1, res
    # The customer got nothing: no first response, and at noon the 1h SLA is breached.
    t = only_ticket(cli, at(env, "12:00"))
    assert t["first_response_at"] is None and t["sla"]["breached"] is True
    assert t["status"] == "open"  # the agent did act on it
    res = cli("list", "--sla", "breached", "--format", "ids", env=at(env, "12:00"))
    assert res.out.split() == [str(t["id"])]

    write_config(Path(env["SUPPORTCTL_CONFIG"]), dovecot, user, smtp.port)
    [entry] = cli("outbox", "list", "--format", "json", env=env).json()
    res = cli("outbox", "retry", str(entry["id"]), env=at(env, "12:00"))
    assert res.code == 0, res
    assert only_ticket(cli, at(env, "12:30"))["first_response_at"] == "2024-01-01T12:00:00Z"
