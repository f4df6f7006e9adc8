"""TLS is verified (chain and host name) for IMAP and SMTP unless the
config says ``tls_verify: false`` (SPEC §9; imaplib2 on its own verifies
neither, sync-rules R20)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from supportctl.channels.imap import ImapChannel
from supportctl.errors import ChannelError, TLSError
from supportctl.models import Address, Outbound
from tests.email.servers import Dovecot, Smtp, message, smtp_server

Account = Callable[..., dict[str, Any]]


@pytest.fixture
def mailbox(dovecot: Dovecot, user: str) -> str:
    dovecot.append(user, [message(0)])
    return user


def fetch(cfg: dict[str, Any]) -> int:
    ch = ImapChannel(cfg)
    try:
        return sum(len(b.items) for b in ch.fetch({}))
    finally:
        ch.close()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_self_signed_certificate_is_refused_by_default(
        dovecot: Dovecot, mailbox: str, account: Account, security: str) -> None:
    port = dovecot.ssl_port if security == "ssl" else dovecot.port
    with pytest.raises(TLSError) as err:
        fetch(account(host="localhost", port=port, security=security))
    text = str(err.value)
    assert text.startswith("IMAP server localhost")
    assert "certificate not trusted" in text and "set ca_file" in text
    assert "tls_verify: false" in text and "\n" not in text
    assert not err.value.temporary


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_ca_file_makes_it_trusted(dovecot: Dovecot, mailbox: str, account: Account,
                                  cert: tuple[Path, Path], security: str) -> None:
    port = dovecot.ssl_port if security == "ssl" else dovecot.port
    assert fetch(account(host="localhost", port=port, security=security,
                         ca_file=str(cert[0]))) == 1


def test_tls_verify_false_accepts_any_certificate(dovecot: Dovecot, mailbox: str,
                                                  account: Account) -> None:
    assert fetch(account(host="127.0.0.1", port=dovecot.ssl_port, security="ssl",
                         tls_verify=False)) == 1


def test_host_name_mismatch_is_refused(dovecot: Dovecot, mailbox: str, account: Account,
                                       cert: tuple[Path, Path]) -> None:
    """The certificate is for localhost; 127.0.0.1 is not in it, even with
    the certificate itself trusted."""
    with pytest.raises(TLSError) as err:
        fetch(account(host="127.0.0.1", port=dovecot.ssl_port, security="ssl",
                      ca_file=str(cert[0])))
    assert "127.0.0.1" in str(err.value)


def test_tls_to_a_plain_port_names_the_fix(dovecot: Dovecot, mailbox: str,
                                           account: Account) -> None:
    with pytest.raises(ChannelError) as err:
        fetch(account(host="localhost", port=dovecot.port, security="ssl"))
    assert "check port and security" in str(err.value)


# -- SMTP ------------------------------------------------------------------------


@pytest.fixture(params=["ssl", "starttls"])
def smtp_tls(request: pytest.FixtureRequest, cert: tuple[Path, Path]) -> Iterator[Smtp]:
    server = smtp_server(tls=request.param, cert=cert)
    server.security = request.param  # type: ignore[attr-defined]
    yield server
    server.stop()


def send(cfg: dict[str, Any]) -> Any:
    ch = ImapChannel(cfg)
    try:
        return ch.send(Outbound(medium="email", to=[Address("customer@example.com")],
                                text="hello", subject="Re: hi [#1]"))
    finally:
        ch.close()


def test_smtp_self_signed_refused_by_default(account: Account, smtp_tls: Smtp) -> None:
    security = smtp_tls.security  # type: ignore[attr-defined]
    with pytest.raises(TLSError) as err:
        send(account(smtp={"host": "localhost", "port": smtp_tls.port, "security": security}))
    assert "certificate not trusted" in str(err.value) and "smtp.ca_file" in str(err.value)
    assert smtp_tls.handler.messages == []


def test_smtp_ca_file_and_tls_verify_false(account: Account, smtp_tls: Smtp,
                                           cert: tuple[Path, Path]) -> None:
    security = smtp_tls.security  # type: ignore[attr-defined]
    send(account(smtp={"host": "localhost", "port": smtp_tls.port, "security": security,
                       "ca_file": str(cert[0])}))
    send(account(smtp={"host": "127.0.0.1", "port": smtp_tls.port, "security": security,
                       "tls_verify": False}))
    assert len(smtp_tls.handler.messages) == 2


def test_smtp_host_name_mismatch_refused(account: Account, smtp_tls: Smtp,
                                         cert: tuple[Path, Path]) -> None:
    security = smtp_tls.security  # type: ignore[attr-defined]
    with pytest.raises(TLSError):
        send(account(smtp={"host": "127.0.0.1", "port": smtp_tls.port, "security": security,
                           "ca_file": str(cert[0])}))
