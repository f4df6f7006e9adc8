from __future__ import annotations

import itertools
from typing import Any

import pytest

from supportctl.channels import build
from supportctl.channels.memory import SERVERS, server
from supportctl.models import Address, Inbound, Outbound
from tests.contract import ChannelContract


class MemoryHarness:
    def __init__(self) -> None:
        SERVERS.pop("mem", None)
        self.k = itertools.count()

    def channel(self) -> Any:
        return build({"name": "mem", "type": "memory"})

    def deliver(self, n: int) -> None:
        for _ in range(n):
            k = next(self.k)
            server("mem").inbox.append(
                Inbound(medium="sms", raw=b"{}", external_id=f"SM{k}",
                        sender=Address("+15550000001"), text=f"contract message {k}"))

    def outbound(self) -> Outbound:
        return Outbound(medium="sms", to=[Address("+15550000001")], text="Hello there")

    def received(self) -> list[Any]:
        return [o.text for o in server("mem").sent]


class TestMemoryChannel(ChannelContract):
    @pytest.fixture
    def harness(self) -> MemoryHarness:
        return MemoryHarness()
