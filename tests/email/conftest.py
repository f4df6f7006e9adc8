"""Fixtures for the email channel: a real Dovecot (plain, STARTTLS and
IMAPS on loopback, self-signed certificate for ``localhost``) and aiosmtpd
servers, started by the tests themselves (see tests/email/servers.py).

When Dovecot cannot start, the tests that need it are skipped, except
under CI (``CI=true``), where they fail with Dovecot's log so the cause is
visible.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.email.servers import (
    PASSWORD,
    Dovecot,
    Proxy,
    ServerUnavailable,
    Smtp,
    make_cert,
    smtp_server,
)

pytestmark = pytest.mark.servers


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"test server unavailable under CI:\n{reason}", pytrace=False)
    pytest.skip(f"test server unavailable: {reason.splitlines()[0]}")


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("cert")
    try:
        return make_cert(d)
    except (OSError, Exception) as exc:  # openssl missing or failing
        _unavailable(f"cannot make a test certificate with openssl: {exc}")
        raise


@pytest.fixture(scope="session")
def dovecot(cert: tuple[Path, Path]) -> Iterator[Dovecot]:
    server = Dovecot(cert)
    try:
        server.start()
    except ServerUnavailable as exc:
        server.stop()
        _unavailable(str(exc))
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fast_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short timeouts and backoff so failure tests take seconds, not minutes."""
    from supportctl.channels import imap, retry

    monkeypatch.setattr(imap, "TIMEOUT", 5.0)
    monkeypatch.setattr(retry, "BASE_DELAY", 0.01)


@pytest.fixture
def user() -> str:
    """A fresh mailbox: the static passdb lets any user name log in."""
    return f"u{uuid.uuid4().hex[:12]}"


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    server = smtp_server()
    yield server
    server.stop()


@pytest.fixture
def account(dovecot: Dovecot, user: str, smtp: Smtp) -> Callable[..., dict[str, Any]]:
    """``account(**overrides)``: a channel config for this test's mailbox
    on the plain port, with an smtp block pointing at ``smtp``."""

    def make(**overrides: Any) -> dict[str, Any]:
        smtp_overrides = overrides.pop("smtp", {})
        cfg: dict[str, Any] = {
            "name": "support-mail", "type": "imap", "host": "127.0.0.1",
            "port": dovecot.port, "security": "none", "username": user,
            "password": PASSWORD, "folders": ["INBOX"],
            "addresses": ["support@example.org"],
            "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none",
                     "from": "Support Team <support@example.org>", **smtp_overrides},
        }
        cfg.update(overrides)
        return cfg

    return make


@pytest.fixture
def proxy(dovecot: Dovecot) -> Iterator[Callable[..., Proxy]]:
    made: list[Proxy] = []

    def make(**kw: Any) -> Proxy:
        p = Proxy(target=dovecot.port, **kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()
