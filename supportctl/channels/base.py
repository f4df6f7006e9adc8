"""The channel contract every channel implements (SPEC §2, §9).

A channel is built from its validated config entry (a plain ``dict`` with
secrets already resolved, see ``supportctl.config``) and knows nothing of
the store, services, typer or rich.

Invariants:
- ``fetch(cursors)`` yields ``Batch``es in order. ``cursors`` maps each
  source (IMAP folder, Twilio number, ``updates``…) to the opaque cursor the
  store holds for it, or is missing the source on a first sync. A batch's
  ``cursor`` describes the position *after* its items; the caller commits
  items and cursor in one transaction and only then asks for the next batch,
  so a crash anywhere re-fetches at worst the last uncommitted batch, and
  ingest's dedupe makes that harmless.
- A channel never moves its server-side position (Telegram offset
  confirmation, IMAP flags) before the generator is resumed past the batch.
- ``send`` either returns a ``SendResult`` or raises ``ChannelError`` with
  ``temporary`` (a retry may help: connection refused, 4xx SMTP, 429/5xx)
  and ``unknown_outcome`` (the request may have been acted on).
- Errors never carry secrets.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from supportctl.models import Batch, DeliveryUpdate, Outbound, SendResult


@runtime_checkable
class Channel(Protocol):
    #: The configured entry's ``name`` (the ``account`` of messages).
    name: str
    #: The ``type`` key (``imap``, ``twilio``, ...).
    type: str

    def fetch(
        self, cursors: Mapping[str, str], *, since: datetime | None = None
    ) -> Iterator[Batch]: ...

    def send(self, message: Outbound) -> SendResult: ...

    def refresh(self, external_ids: list[str]) -> list[DeliveryUpdate]:
        """Delivery states the provider reports for messages we sent."""
        ...

    def check(self) -> str:
        """Log in / authenticate; return a one-line description. Raises
        ``ChannelError`` on failure."""
        ...

    def close(self) -> None: ...


class BaseChannel:
    """Convenience base: no refresh, trivial close, config kept."""

    type = "base"

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.name: str = config["name"]

    def refresh(self, external_ids: list[str]) -> list[DeliveryUpdate]:
        return []

    def check(self) -> str:
        return "ok"

    def close(self) -> None:
        return None

    def wait(self, timeout: float) -> None:
        """Block until the server may have something new or ``timeout``
        passes (``sync --watch``). IMAP uses IDLE; others poll."""
        wait_poll(timeout)

    def __enter__(self) -> BaseChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_poll(seconds: float) -> None:
    """Default ``wait`` for ``sync --watch``: channels without push (HTTP
    polling) sleep; IMAP overrides ``wait`` with IDLE."""
    import time

    time.sleep(seconds)
