"""An in-memory channel shipped in the package: the reference
implementation of the contract, and the fake used by service tests.

State lives in a process-wide dict keyed by the entry's ``name`` so that a
test can put messages "on the server" and read what was "sent".
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from supportctl.channels.base import BaseChannel
from supportctl.errors import ChannelError
from supportctl.models import Batch, DeliveryUpdate, Inbound, Outbound, SendResult


@dataclass
class MemoryServer:
    inbox: list[Inbound] = field(default_factory=list)
    sent: list[Outbound] = field(default_factory=list)
    states: dict[str, str] = field(default_factory=dict)
    fail_send: ChannelError | None = None
    fail_fetch: ChannelError | None = None
    batch_size: int = 2
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))


SERVERS: dict[str, MemoryServer] = {}


def server(name: str) -> MemoryServer:
    return SERVERS.setdefault(name, MemoryServer())


class MemoryChannel(BaseChannel):
    type = "memory"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.server = server(self.name)

    def fetch(
        self, cursors: Mapping[str, str], *, since: datetime | None = None
    ) -> Iterator[Batch]:
        if self.server.fail_fetch is not None:
            raise self.server.fail_fetch
        pos = int(cursors.get("inbox", "0"))
        while pos < len(self.server.inbox):
            items = self.server.inbox[pos : pos + self.server.batch_size]
            pos += len(items)
            yield Batch(source="inbox", cursor=str(pos), items=list(items))

    def send(self, message: Outbound) -> SendResult:
        if self.server.fail_send is not None:
            raise self.server.fail_send
        self.server.sent.append(message)
        ext = message.message_id or f"mem-{next(self.server.ids)}"
        self.server.states[ext] = "sent"
        return SendResult(external_id=ext, state="sent", raw=message.text.encode())

    def refresh(self, external_ids: list[str]) -> list[DeliveryUpdate]:
        return [
            DeliveryUpdate(e, self.server.states[e])
            for e in external_ids
            if e in self.server.states
        ]
