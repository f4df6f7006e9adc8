"""Sending replies over SMTP (aiosmtpd on loopback): headers, threading,
attachments, failure classes, header injection, saving to Sent."""

from __future__ import annotations

import email
import socket
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest

from supportctl.channels.imap import ImapChannel
from supportctl.errors import AuthError, ChannelError
from supportctl.models import Address, AttachmentData, Outbound
from tests.email.servers import Dovecot, Recorder, Smtp, smtp_server

Account = Callable[..., dict[str, Any]]


def reply(**kw: Any) -> Outbound:
    base: dict[str, Any] = dict(
        medium="email", to=[Address("customer@example.com", "Casey Customer")],
        text="Hello Casey,\n\nthe parcel left today. Grüße!\n", subject="Re: Where is my order? [#12]",
        message_id="abc123.t12@example.org", in_reply_to="cust-1@example.com",
        references=["root@example.com", "cust-1@example.com"],
    )
    base.update(kw)
    return Outbound(**base)


def send(cfg: dict[str, Any], out: Outbound) -> Any:
    ch = ImapChannel(cfg)
    try:
        return ch.send(out)
    finally:
        ch.close()


def parsed(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_reply_is_threaded_and_carries_attachments(account: Account, smtp: Smtp) -> None:
    out = reply(cc=[Address("boss@example.com")],
                attachments=[AttachmentData("invoice 12.pdf", "application/pdf", b"%PDF-1.4 fake")])
    result = send(account(), out)
    assert result.external_id == "abc123.t12@example.org" and result.state == "sent"
    (got,) = smtp.handler.messages
    assert got["data"] == result.raw  # what was sent is what the store keeps
    assert got["mail_from"] == "support@example.org"
    assert sorted(got["rcpt_tos"]) == ["boss@example.com", "customer@example.com"]
    msg = parsed(got["data"])
    assert msg["Message-ID"] == "<abc123.t12@example.org>"
    assert msg["In-Reply-To"] == "<cust-1@example.com>"
    assert msg["References"] == "<root@example.com> <cust-1@example.com>"
    assert msg["Subject"] == "Re: Where is my order? [#12]"
    assert msg["From"] == "Support Team <support@example.org>"
    assert msg["To"] == "Casey Customer <customer@example.com>"
    assert msg["Cc"] == "boss@example.com"
    assert msg["Date"] and "Auto-Submitted" not in msg
    body = msg.get_body(("plain",))
    assert body is not None and "Grüße" in body.get_content()
    (att,) = list(msg.iter_attachments())
    assert att.get_filename() == "invoice 12.pdf" and att.get_content() == b"%PDF-1.4 fake"
    assert max(len(line) for line in got["data"].split(b"\r\n")) <= 78
    got["data"].decode("ascii")  # 7-bit clean: no 8BITMIME needed


def test_missing_message_id_is_generated_from_the_sender_domain(account: Account,
                                                                smtp: Smtp) -> None:
    result = send(account(), reply(message_id="", in_reply_to="", references=[]))
    assert result.external_id.endswith("@example.org") and "<" not in result.external_id
    msg = parsed(smtp.handler.messages[0]["data"])
    assert msg["Message-ID"] == f"<{result.external_id}>"
    assert "In-Reply-To" not in msg and "References" not in msg


def test_automatic_reply_is_marked(account: Account, smtp: Smtp) -> None:
    send(account(), reply(auto=True))
    assert parsed(smtp.handler.messages[0]["data"])["Auto-Submitted"] == "auto-replied"


def test_reply_to_from_config(account: Account, smtp: Smtp) -> None:
    send(account(smtp={"reply_to": "help@example.org"}), reply())
    assert parsed(smtp.handler.messages[0]["data"])["Reply-To"] == "help@example.org"


def test_crlf_in_customer_text_is_not_injected(account: Account, smtp: Smtp) -> None:
    evil = "Hi\r\nBcc: victim@example.net\r\nX-Evil: 1"
    send(account(), reply(subject=f"Re: {evil} [#12]",
                          to=[Address("customer@example.com", evil)],
                          references=["ok@example.com", "x@y>\r\nBcc: v@example.net"]))
    (got,) = smtp.handler.messages
    msg = parsed(got["data"])
    assert "Bcc" not in msg and "X-Evil" not in msg
    assert got["rcpt_tos"] == ["customer@example.com"]
    assert "\n" not in msg["Subject"] and "[#12]" in msg["Subject"]
    assert len(msg.get_all("To") or []) == 1


def test_an_address_that_is_not_one_address_is_refused(account: Account, smtp: Smtp) -> None:
    with pytest.raises(ChannelError) as err:
        send(account(), reply(to=[Address("a@example.com, b@example.com")]))
    assert not err.value.temporary
    assert smtp.handler.messages == []


def test_451_is_temporary(account: Account) -> None:
    server = smtp_server(Recorder(reply="451 4.3.0 try again later"))
    try:
        with pytest.raises(ChannelError) as err:
            send(account(smtp={"port": server.port}), reply())
    finally:
        server.stop()
    assert err.value.temporary and not err.value.unknown_outcome
    assert "451" in str(err.value)


def test_554_is_permanent(account: Account) -> None:
    server = smtp_server(Recorder(reply="554 5.7.1 rejected as spam"))
    try:
        with pytest.raises(ChannelError) as err:
            send(account(smtp={"port": server.port}), reply())
    finally:
        server.stop()
    assert not err.value.temporary and not err.value.unknown_outcome


def test_refused_recipient(account: Account) -> None:
    server = smtp_server(Recorder(refuse=("customer@example.com",)))
    try:
        with pytest.raises(ChannelError) as err:
            send(account(smtp={"port": server.port}), reply())
        assert not err.value.temporary
        # One of two refused: sent to the other, the refusal noted.
        result = send(account(smtp={"port": server.port}), reply(cc=[Address("b@example.com")]))
        assert result.state == "sent" and "customer@example.com" in result.error
        assert server.handler.messages[0]["rcpt_tos"] == ["b@example.com"]
    finally:
        server.stop()


def test_refused_port_is_temporary(account: Account) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ChannelError) as err:
        send(account(smtp={"port": port}), reply())
    assert err.value.temporary and not err.value.unknown_outcome


def test_disconnect_after_data_is_an_unknown_outcome(account: Account) -> None:
    server = smtp_server(Recorder(drop=True))
    try:
        with pytest.raises(ChannelError) as err:
            send(account(smtp={"port": server.port}), reply())
    finally:
        server.stop()
    assert err.value.unknown_outcome
    assert "may or may not" in str(err.value)


def test_smtp_auth(account: Account) -> None:
    server = smtp_server(auth=True)
    try:
        send(account(smtp={"port": server.port, "username": "support", "password": "secret"}),
             reply())
        assert len(server.handler.messages) == 1
        with pytest.raises(AuthError) as err:
            send(account(smtp={"port": server.port, "username": "support",
                               "password": "wrong-one"}), reply())
        assert "check smtp username and password" in str(err.value)
        assert "wrong-one" not in str(err.value)
    finally:
        server.stop()


def test_no_smtp_block(account: Account) -> None:
    cfg = account()
    del cfg["smtp"]
    with pytest.raises(ChannelError) as err:
        send(cfg, reply())
    assert "smtp" in str(err.value) and not err.value.temporary


def test_save_sent_appends_a_seen_copy(dovecot: Dovecot, user: str, account: Account,
                                       smtp: Smtp) -> None:
    result = send(account(smtp={"save_sent": "Sent"}), reply())
    assert result.error == ""
    (saved,) = dovecot.messages(user, "Sent")
    assert "\\Seen" in saved[1]
    assert saved[2] == result.raw


def test_save_sent_failure_does_not_fail_the_send(dovecot: Dovecot, user: str,
                                                  account: Account, smtp: Smtp) -> None:
    result = send(account(smtp={"save_sent": "No Such Folder"}), reply())
    assert result.state == "sent" and len(smtp.handler.messages) == 1
    assert "not saved to No Such Folder" in result.error


def test_send_during_a_fetch_saves_on_the_same_connection(
        dovecot: Dovecot, user: str, account: Account, smtp: Smtp) -> None:
    """sync sends acknowledgements between batches (the fetch generator is
    suspended then); the APPEND must not disturb the fetch."""
    from tests.email.servers import message

    dovecot.append(user, [message(k) for k in range(3)])
    ch = ImapChannel(account(smtp={"save_sent": "Sent"}))
    try:
        seen = []
        for batch in ch.fetch({}):
            seen += [i.source_ref for i in batch.items]
            if batch.items:
                assert ch.send(reply()).error == ""
    finally:
        ch.close()
    assert seen == ["INBOX:1", "INBOX:2", "INBOX:3"]
    assert len(dovecot.messages(user, "Sent")) == 1
