"""A Message-ID names a message, but anyone can write any Message-ID: two
copies of one mail (CC'd to two of our addresses, filed in two folders,
fetched again) are stored once; a different mail that reuses an id is kept
beside the first, under the SHA-256 of its bytes, with a notice in `show`
and its JSON (SPEC §3, §9)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.email.servers import PASSWORD, Dovecot

pytest.importorskip("supportctl.mail.parse")

ANN = (b"From: Ann <ann@example.com>\r\nTo: support@example.org\r\nCc: sales@example.org\r\n"
       b"Subject: Order 1042\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
       b"Message-ID: <1@localhost>\r\n\r\nWhere is order 1042?\r\n")
BOB = (b"From: Bob <bob@example.net>\r\nTo: support@example.org\r\n"
       b"Subject: Broken grinder\r\nDate: Tue, 02 Jan 2024 11:00:00 +0000\r\n"
       b"Message-ID: <1@localhost>\r\n\r\nMy grinder arrived broken.\r\n")


def delivered(raw: bytes, to: str, hop: str) -> bytes:
    """The copy one delivery files: its own trace headers on top."""
    return (f"Return-Path: <x@example.com>\r\nDelivered-To: {to}\r\n"
            f"Received: from {hop} by mx.example.org; Mon, 01 Jan 2024 10:00:0{len(hop) % 9} +0000\r\n"
            ).encode() + raw


def _messages(cli: Any, env: dict[str, str]) -> list[dict[str, Any]]:
    res = cli("export", "--format", "jsonl", "--messages", env=env)
    assert res.code == 0, res
    return [m for t in res.jsonl() for m in t["messages"]]


def _check(cli: Any, env: dict[str, str]) -> None:
    msgs = {m["from"]["address"]: m for m in _messages(cli, env)}
    assert sorted(msgs) == ["ann@example.com", "bob@example.net"]
    ann, bob = msgs["ann@example.com"], msgs["bob@example.net"]
    assert ann["external_id"] == "1@localhost" and bob["external_id"].startswith("sha256:")
    assert bob["text"] == "My grinder arrived broken."
    shown = cli("show", str(bob["ticket_id"]), "--format", "json", env=env).json()
    [m] = shown["messages"]
    assert m["notices"] and "<1@localhost>" in m["notices"][0]
    assert any(e["action"] == "message.id_reused" for e in shown["events"])
    plain = cli("show", str(bob["ticket_id"]), env=env).out
    assert "already has Message-ID <1@localhost>" in plain
    assert cli("show", str(ann["ticket_id"]), "--format", "json",
               env=env).json()["messages"][0]["notices"] == []


def test_sync_keeps_a_different_mail_that_reuses_a_message_id(
        cli: Any, tmp_path: Path, dovecot: Dovecot, user: str) -> None:
    # Ann's mail CC'd to two of our addresses: one copy in each folder.
    dovecot.append(user, [delivered(ANN, "support@example.org", "a.example.com")])
    dovecot.append(user, [delivered(ANN, "sales@example.org", "b.example.com")], folder="Sales")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "channels:\n  - name: support-mail\n    type: imap\n    host: 127.0.0.1\n"
        f"    port: {dovecot.port}\n    security: none\n    username: {user}\n"
        "    password_env: PW\n    folders: [INBOX, Sales]\n")
    env = {"SUPPORTCTL_CONFIG": str(cfg), "PW": PASSWORD}
    res = cli("sync", env=env)
    assert res.code == 0 and "1 duplicates skipped" in res.err, res

    dovecot.append(user, [delivered(BOB, "support@example.org", "c.example.com")])
    res = cli("sync", env=env)
    assert res.code == 0, res
    _check(cli, env)
    # Bob's mail seen again in another folder, through another hop: the same
    # message as the one kept under its own key, not a third one.
    dovecot.append(user, [delivered(BOB, "sales@example.org", "d.example.com")], folder="Sales")
    res = cli("sync", env=env)
    assert res.code == 0 and "1 duplicates skipped" in res.err, res
    assert len(_messages(cli, env)) == 2
    # A reset folder is fetched whole again: nothing is stored twice.
    dovecot.set_uidvalidity(user, 777)
    assert cli("sync", env=env).code == 0
    _check(cli, env)


def test_import_keeps_a_different_mail_that_reuses_a_message_id(cli: Any, tmp_path: Path) -> None:
    box = tmp_path / "mail"
    box.mkdir()
    (box / "1.eml").write_bytes(ANN)
    (box / "2.eml").write_bytes(delivered(ANN, "sales@example.org", "b.example.com"))
    (box / "3.eml").write_bytes(BOB)
    (box / "4.eml").write_bytes(BOB.replace(b"\r\n", b"\n"))  # the same mail, from an mbox
    res = cli("import", str(box), "--format", "eml")
    assert res.code == 0 and "2 duplicates skipped" in res.err, res
    _check(cli, {})
    res = cli("import", str(box), "--format", "eml")
    assert res.code == 0 and "4 duplicates skipped" in res.err, res
    assert len(_messages(cli, {})) == 2
