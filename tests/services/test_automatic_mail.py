"""Automatic mail and our own mail (SPEC §4), through ``import --format
eml`` (the same ingest as ``sync``) and the CLI's JSON: auto-replies,
lists, bounces, no-reply senders and mail that went through us (X-Loop)
stay out of the default queue, solved and tagged ``auto``, yet are still
listed, searched and exported; mail from our own addresses, plus-addresses
included, never becomes a customer ticket that ``reply`` would answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

CONFIG = """\
channels:
  - name: support-mail
    type: imap
    host: 127.0.0.1
    username: support@shop.example
    password: x
    addresses: [support@shop.example]
    smtp: {host: 127.0.0.1, port: 1, security: none}
"""


def eml(sender: str, subject: str, *, to: str = "support@shop.example", extra: str = "",
        msgid: str = "", body: str = "hello") -> bytes:
    msgid = msgid or f"{abs(hash((sender, subject)))}@mail.example"
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{msgid}>\r\n"
            f"Date: Tue, 01 Dec 2026 09:00:00 +0000\r\n{extra}\r\n{body}\r\n").encode()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    cfg.chmod(0o600)
    return {"SUPPORTCTL_CONFIG": str(cfg)}


def load(cli: Any, env: dict[str, str], tmp_path: Path, mails: dict[str, bytes]) -> None:
    d = tmp_path / f"mail{len(list(tmp_path.glob('mail*')))}"
    d.mkdir()
    for name, raw in mails.items():
        (d / f"{name}.eml").write_bytes(raw)
    res = cli("import", str(d), "--format", "eml", env=env)
    assert res.code == 0, res


def listed(cli: Any, env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    res = cli("list", "--format", "json", *args, env=env)
    assert res.code == 0, res
    return list(res.json())


AUTOMATIC = {
    "vacation": eml("Ann <ann@example.com>", "Out of office", extra="Auto-Submitted: auto-replied\r\n"),
    "list": eml("news@brand.example", "Weekly deals", extra="List-Id: <deals.brand.example>\r\n"),
    "daemon": eml("MAILER-DAEMON@mx.example", "Undelivered Mail Returned to Sender"),
    "noreply-tag": eml("Shop <noreply+orders@platform.example>", "Your order"),
    "no_reply": eml("no_reply@bank.example", "Statement ready"),
    "xloop": eml("Forwarder <fwd@customer.example>", "Fwd: We got your message",
                 extra="X-Loop: support@shop.example\r\n"),
    "xloop-plus": eml("robot@customer.example", "Re: ticket",
                      extra="X-Loop: <support+loop@shop.example>\r\n"),
}


def test_automatic_mail_stays_out_of_the_queue_and_is_never_lost(
        cli: Any, env: dict[str, str], tmp_path: Path) -> None:
    load(cli, env, tmp_path, {"human": eml("Bea <bea@example.com>", "Wrong size"), **AUTOMATIC})
    assert [t["subject"] for t in listed(cli, env)] == ["Wrong size"]
    auto = listed(cli, env, "--tag", "auto", "--status", "all")
    assert sorted(t["subject"] for t in auto) == sorted(
        ["Out of office", "Weekly deals", "Undelivered Mail Returned to Sender", "Your order",
         "Statement ready", "Fwd: We got your message", "Re: ticket"])
    assert {t["status"] for t in auto} == {"solved"}
    assert not any(t["sla"]["breached"] or t["sla"]["first_response_due"] for t in auto)
    res = cli("search", "subject:office", "--format", "json", env=env)
    assert [t["subject"] for t in res.json()] == ["Out of office"]
    res = cli("export", "--format", "jsonl", env=env)
    assert len(res.jsonl()) == 8
    [xloop] = [t for t in auto if t["subject"] == "Fwd: We got your message"]
    shown = cli("show", str(xloop["id"]), "--format", "json", env=env).json()
    assert shown["messages"][0]["auto_reason"] == "x-loop names our own address"


def test_an_auto_reply_on_a_snoozed_ticket_leaves_it_snoozed(
        cli: Any, env: dict[str, str], tmp_path: Path) -> None:
    load(cli, env, tmp_path, {"q": eml("ann@example.com", "Refund", msgid="q1@example.com")})
    [t] = listed(cli, env)
    assert cli("snooze", "3d", str(t["id"]), env=env).code == 0
    load(cli, env, tmp_path, {"ooo": eml("ann@example.com", "Automatic reply: Refund",
                                         msgid="ooo@example.com",
                                         extra="In-Reply-To: <q1@example.com>\r\n"
                                               "Auto-Submitted: auto-replied\r\n")})
    assert listed(cli, env) == []  # an out-of-office is not the customer coming back
    shown = cli("show", str(t["id"]), "--format", "json", env=env).json()
    assert len(shown["messages"]) == 2 and shown["snoozed_until"] is not None
    assert shown["status"] == "new"


def test_our_own_plus_address_is_us_and_never_a_customer(
        cli: Any, env: dict[str, str], tmp_path: Path) -> None:
    load(cli, env, tmp_path, {
        # Ours to ourselves: no customer to answer.
        "self": eml("Support <support+orders@shop.example>", "Stock note", to="support@shop.example"),
        # Ours (from a plus-address) to a customer: the customer is the contact.
        "out": eml("Support+Sales@Shop.Example", "Your quote", to="Zed <zed@example.com>"),
    })
    tickets = {t["subject"]: t for t in listed(cli, env, "--status", "all")}
    selfmail = cli("show", str(tickets["Stock note"]["id"]), "--format", "json", env=env).json()
    assert selfmail["contact"] is None and selfmail["messages"][0]["direction"] == "out"
    assert selfmail["status"] == "solved" and "auto" in selfmail["tags"]
    assert selfmail["answer_to"] == []
    res = cli("reply", str(selfmail["id"]), "-m", "hi", "--dry-run", env=env)
    assert res.code == 2 and "no email address" in res.err, res
    quote = cli("show", str(tickets["Your quote"]["id"]), "--format", "json", env=env).json()
    assert [i["address"] for i in quote["contact"]["identities"]] == ["zed@example.com"]
    assert quote["answer_to"] == [{"name": "", "address": "zed@example.com"}]
