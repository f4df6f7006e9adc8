"""The email channel passes the channel contract against real servers."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from supportctl.channels import build
from supportctl.models import Address, Outbound
from tests.contract import ChannelContract
from tests.email.servers import Dovecot, Smtp, message


class EmailHarness:
    def __init__(self, dovecot: Dovecot, user: str, smtp: Smtp, config: dict[str, Any]) -> None:
        self.dovecot, self.user, self.smtp, self.config = dovecot, user, smtp, config
        self.k = itertools.count()

    def channel(self) -> Any:
        return build(dict(self.config))

    def deliver(self, n: int) -> None:
        self.dovecot.append(self.user, [message(next(self.k)) for _ in range(n)])

    def outbound(self) -> Outbound:
        return Outbound(medium="email", to=[Address("customer@example.com", "Customer")],
                        text="Thanks for writing, we are on it.", subject="Re: Question [#1]")

    def received(self) -> list[Any]:
        return [m["data"].decode("utf-8", "replace") for m in self.smtp.handler.messages]


class TestImapChannel(ChannelContract):
    @pytest.fixture
    def harness(self, dovecot: Dovecot, user: str, smtp: Smtp, account: Any) -> EmailHarness:
        return EmailHarness(dovecot, user, smtp, account())
