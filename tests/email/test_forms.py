"""Website form mails through the real Dovecot (SPEC §12): an ``imap``
entry's ``forms`` rules turn the mail a site builder sends for each
submission into a ``web`` ticket whose contact is the person who filled
the form in, never the website's mailer; the reply goes to that person by
email, and their answer by mail lands on the same ticket. Bodies as
WordPress Contact Form 7, Wix and Squarespace send them (plain text and
HTML)."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path
from typing import Any

import pytest

from tests.email.servers import PASSWORD, Dovecot, Smtp, message, support_mail_config
from tests.email.test_e2e import show, tickets

pytest.importorskip("supportctl.channels.web")

CF7 = (
    b"From: WordPress <wordpress@shop.example>\r\n"
    b"To: support@example.org\r\n"
    b"Subject: Shop \"Order 1042 never arrived\"\r\n"
    b"Date: Mon, 30 Nov 2026 10:00:00 +0000\r\n"
    b"Message-ID: <cf7-1@shop.example>\r\n"
    b"Reply-To: Ada Lovelace <ada@example.com>\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
    b"From: Ada Lovelace <ada@example.com>\r\n"
    b"Subject: Order 1042 never arrived\r\n\r\n"
    b"Message Body:\r\n"
    b"Hello, my order 1042 never arrived.\r\n"
    b"Could you check with the courier?\r\n\r\n"
    b"-- \r\n"
    b"This e-mail was sent from a contact form on Shop (https://shop.example)\r\n"
)

WIX_HTML = (
    "<html><body><h2>You have a new form submission</h2>"
    "<table><tr><td><b>First Name:</b></td><td>Chlo&eacute;</td></tr>"
    "<tr><td><b>Last Name:</b></td><td>Martin</td></tr>"
    "<tr><td><b>Email:</b></td><td><a href='mailto:chloe@example.fr'>chloe@example.fr</a></td></tr>"
    "<tr><td><b>Phone:</b></td><td>+33 6 12 34 56 78</td></tr>"
    "<tr><td><b>Order number:</b></td><td>2077</td></tr>"
    "<tr><td><b>Message:</b></td><td>Bonjour,<br>le colis est arriv&eacute; ab&icirc;m&eacute;.</td></tr>"
    "</table><p>Sent from your site shop.example</p></body></html>"
)
WIX = (
    "From: Wix Forms <no-reply@crm.wix.com>\r\n"
    "To: support@example.org\r\n"
    "Subject: New submission: Contact Us\r\n"
    "Date: Mon, 30 Nov 2026 10:05:00 +0000\r\n"
    "Message-ID: <wix-7@crm.wix.com>\r\n"
    "Auto-Submitted: auto-generated\r\n"
    "MIME-Version: 1.0\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n"
    + WIX_HTML
).encode()

SQUARESPACE = (
    "From: Squarespace <form-submission@squarespace.info>\r\n"
    "To: support@example.org\r\n"
    "Subject: Form Submission - Contact\r\n"
    "Date: Mon, 30 Nov 2026 10:10:00 +0000\r\n"
    "Message-ID: <sq-3@squarespace.info>\r\n"
    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
    "Sent via form submission from Shop\r\n\r\n"
    "Name: Bruno Verdi\r\n\r\n"
    "Email Address: bruno@example.it\r\n\r\n"
    "Subject: Reso\r\n\r\n"
    "Message: Il pacco \xe8 arrivato rotto.\r\nVorrei il reso.\r\n\r\n"
    "(Sent via Shop https://shop.example)\r\n"
).encode()


def write_config(path: Path, dovecot: Dovecot, user: str, smtp_port: int) -> None:
    path.write_text(support_mail_config(
        dovecot, user, smtp_port,
        entry=(
            "    forms:\n"
            "      - from: wordpress@shop.example      # Contact Form 7's default mail\n"
            "        name: From\n"
            "        email: From\n"
            "        message: Message Body\n"
            "      - from: no-reply@crm.wix.com\n"
            "        name: [First Name, Last Name]\n"
            "      - from: '@squarespace.info'\n"
        ),
    ), encoding="utf-8")


@pytest.fixture
def env(tmp_path: Path, dovecot: Dovecot, user: str, smtp: Smtp) -> dict[str, str]:
    cfg = tmp_path / "config.yaml"
    write_config(cfg, dovecot, user, smtp.port)
    return {"SUPPORTCTL_CONFIG": str(cfg), "SUPPORT_MAIL_PASSWORD": PASSWORD,
            "SUPPORTCTL_NOW": "2026-11-30T12:00:00Z"}


def _by_subject(got: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["subject"]: t for t in got}


def test_form_mails_become_web_tickets_of_the_person(
        cli: Any, env: dict[str, str], dovecot: Dovecot, user: str, smtp: Smtp) -> None:
    dovecot.append(user, [CF7, WIX, SQUARESPACE,
                          message(9, sender="wordpress@shop.example", msgid="wp-update@x",
                                  subject="WordPress update available",
                                  body="Your site has updated to WordPress 6.7.\r\n")])
    res = cli("sync", env=env)
    assert res.code == 0, res
    got = _by_subject(tickets(cli, env))
    ada = got["Order 1042 never arrived"]
    assert ada["channel"] == "web" and ada["account"] == "support-mail"
    assert ada["status"] == "new"
    assert ada["contact"]["name"] == "Ada Lovelace"
    assert ada["contact"]["identities"] == [{"channel": "email", "address": "ada@example.com"}]
    text = show(cli, env, ada["id"])["messages"][0]["text"]
    assert text == "Hello, my order 1042 never arrived.\nCould you check with the courier?"

    # Wix: an HTML table; its Auto-Submitted header is the mailer's, the words a person's.
    chloe = got["New submission: Contact Us"]
    assert chloe["channel"] == "web" and chloe["status"] == "new" and "auto" not in chloe["tags"]
    assert chloe["contact"]["name"] == "Chloé Martin"
    assert {(i["channel"], i["address"]) for i in chloe["contact"]["identities"]} == {
        ("email", "chloe@example.fr"), ("phone", "+33612345678")}
    msg = show(cli, env, chloe["id"])["messages"][0]
    assert msg["text"].startswith("Bonjour,\nle colis est arrivé abîmé.")
    assert "order number: 2077" in msg["text"]
    assert msg["from"] == {"name": "Chloé Martin", "address": "chloe@example.fr"}

    bruno = got["Reso"]
    assert bruno["channel"] == "web" and bruno["contact"]["name"] == "Bruno Verdi"
    assert show(cli, env, bruno["id"])["messages"][0]["text"] == \
        "Il pacco è arrivato rotto.\nVorrei il reso."

    # Mail from the mailer that is no form stays an ordinary mail.
    assert got["WordPress update available"]["channel"] == "email"
    # A re-sync stores nothing twice.
    assert cli("sync", env=env).code == 0
    assert len(tickets(cli, env)) == 4
    assert sorted(cli("list", "--channel", "web", "--format", "ids", env=env).out.split()) == \
        sorted(str(t["id"]) for t in (ada, chloe, bruno))

    # The reply goes to the person, by email, never to the website.
    res = cli("reply", str(ada["id"]), "-m", "We asked the courier.", env=env)
    assert res.code == 0, res
    sent = smtp.handler.messages[-1]
    assert sent["rcpt_tos"] == ["ada@example.com"]
    out = email.message_from_bytes(sent["data"], policy=policy.default)
    assert out["To"].addresses[0].addr_spec == "ada@example.com"
    assert f"[#{ada['id']}]" in out["Subject"]

    # Her answer by mail continues the web ticket.
    dovecot.append(user, [message(
        10, sender="ada@example.com", msgid="ada-answer@example.com",
        subject=f"Re: {out['Subject']}",
        extra=f"In-Reply-To: {out['Message-ID']}\r\nReferences: {out['Message-ID']}\r\n",
        body="Thanks, still nothing.\r\n")])
    assert cli("sync", env=env).code == 0
    after = show(cli, env, ada["id"])
    assert [m["direction"] for m in after["messages"]] == ["in", "out", "in"]
    assert [m["channel"] for m in after["messages"]] == ["web", "email", "email"]
    assert after["status"] == "open"
    assert len(tickets(cli, env)) == 4
