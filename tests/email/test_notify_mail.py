"""Notifications by email through the imap entry's SMTP, with the real
Dovecot and aiosmtpd and the clock pinned: the daily digest goes once a
day at its local time and lists what is breached and due; a channel that
fails to sync tells the owner once per failure streak."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path
from typing import Any

from tests.email.servers import PASSWORD, Dovecot, Smtp

OWNER = "owner@shop.example"


def write(cfg: Path, dovecot: Dovecot, user: str, smtp: Smtp, *, broken: bool) -> None:
    cfg.write_text(f"""\
timezone: Europe/Rome
business_hours: {{mon-sat: ["09:00-13:00"]}}
sla: {{first_response: 1h, resolution: 8h}}
channels:
  - name: support-mail
    type: imap
    host: 127.0.0.1
    port: {dovecot.port}
    security: none
    username: {user}
    password_env: SUPPORT_MAIL_PASSWORD
    addresses: [support@example.org]
    smtp: {{host: 127.0.0.1, port: {smtp.port}, security: none, from: "Shop <support@example.org>"}}
  - name: old-mail
    type: imap
    host: 127.0.0.1
    port: {dovecot.port}
    security: none
    username: {user}
    password: {"wrong" if broken else PASSWORD}
notify:
  - name: morning
    via: support-mail
    to: {OWNER}
    on: [digest, sync-failed]
    at: "08:30"
""")
    cfg.chmod(0o600)


def mails_to_owner(smtp: Smtp) -> list[Any]:
    return [email.message_from_bytes(m["data"], policy=policy.default)
            for m in smtp.handler.messages if m["rcpt_tos"] == [OWNER]]


def test_digest_once_a_day_and_sync_failure_once(tmp_path: Path, cli: Any, dovecot: Dovecot,
                                                  user: str, smtp: Smtp) -> None:
    cfg = tmp_path / "config.yaml"
    write(cfg, dovecot, user, smtp, broken=True)
    env = {"SUPPORTCTL_CONFIG": str(cfg), "SUPPORT_MAIL_PASSWORD": PASSWORD}

    def sync(now: str, code: int) -> None:
        res = cli("sync", env={**env, "SUPPORTCTL_NOW": now})
        assert res.code == code, res

    # The shop has synced before: a first sync's mail is history, with no
    # clock (issue 11), and this test is about live mail.
    sync("2026-11-30T06:50:00Z", 5)
    dovecot.append(user, [
        b"From: Ada Lovelace <ada@example.com>\r\nTo: support@example.org\r\n"
        b"Subject: Scarpe rotte\r\nDate: Mon, 30 Nov 2026 06:55:00 +0000\r\n"
        b"Message-ID: <a1@example.com>\r\n\r\nLa suola si stacca.\r\n"])
    sync("2026-11-30T07:00:00Z", 5)  # 08:00 in Rome: before the digest; old-mail fails
    [failed] = mails_to_owner(smtp)
    assert failed["Subject"] == "[supportctl] sync of old-mail failed"
    assert "wrong" not in failed.get_content()  # the error, never the password
    sync("2026-11-30T07:10:00Z", 5)  # still failing: said once
    assert len(mails_to_owner(smtp)) == 1

    sync("2026-11-30T07:35:00Z", 5)  # 08:35: the digest
    digest = mails_to_owner(smtp)[1]
    assert digest["Subject"] == "[supportctl] digest: 0 breached, 1 due"
    assert "#1 Ada Lovelace · email · Scarpe rotte · due Mon 30 Nov 10:00" in digest.get_content()
    sync("2026-11-30T10:00:00Z", 5)
    assert len(mails_to_owner(smtp)) == 2  # once a day

    write(cfg, dovecot, user, smtp, broken=False)
    sync("2026-11-30T11:00:00Z", 0)  # the streak ends
    write(cfg, dovecot, user, smtp, broken=True)
    sync("2026-12-01T07:31:00Z", 5)  # Tuesday 08:31: a new failure and the next digest
    subjects = [m["Subject"] for m in mails_to_owner(smtp)]
    assert subjects[2:] == ["[supportctl] digest: 1 breached, 0 due",
                            "[supportctl] sync of old-mail failed"]
    assert all(m["Auto-Submitted"] for m in mails_to_owner(smtp))
