"""The contract every channel passes (as vdirsyncer's StorageTests).

A channel's test module subclasses ``ChannelContract`` and provides a
``harness`` fixture returning an object with:

- ``channel()``: a fresh channel instance pointed at the test server;
- ``deliver(n)``: puts ``n`` new customer messages on the server, with
  distinct texts containing ``"contract message {k}"``;
- ``outbound()``: an ``Outbound`` the channel can send to one of those
  customers;
- ``received()``: what the server got from ``send`` so far (a list; only
  its length and that it mentions the sent text are checked).
"""

from __future__ import annotations

from typing import Any

from supportctl.channels.base import Channel
from supportctl.models import Batch


def drain(channel: Channel, cursors: dict[str, str]) -> list[Batch]:
    """Fetch everything, committing each batch's cursor as ingest does."""
    batches = []
    for batch in channel.fetch(dict(cursors)):
        batches.append(batch)
        if batch.cursor is not None:
            cursors[batch.source] = batch.cursor
    return batches


def texts(batches: list[Batch]) -> list[str]:
    return [item.text or item.raw.decode("utf-8", "replace") for b in batches for item in b.items]


class ChannelContract:
    def test_is_a_channel(self, harness: Any) -> None:
        ch = harness.channel()
        assert isinstance(ch, Channel)
        assert ch.name and ch.type
        ch.close()

    def test_first_fetch_gets_everything_once(self, harness: Any) -> None:
        harness.deliver(3)
        ch = harness.channel()
        cursors: dict[str, str] = {}
        got = texts(drain(ch, cursors))
        ch.close()
        for k in range(3):
            assert sum(f"contract message {k}" in t for t in got) == 1, got

    def test_nothing_new_yields_no_items(self, harness: Any) -> None:
        harness.deliver(2)
        cursors: dict[str, str] = {}
        ch = harness.channel()
        drain(ch, cursors)
        again = drain(ch, cursors)
        ch.close()
        assert [i for b in again for i in b.items] == []

    def test_incremental_fetch_gets_only_new(self, harness: Any) -> None:
        harness.deliver(2)
        cursors: dict[str, str] = {}
        ch = harness.channel()
        drain(ch, cursors)
        ch.close()
        harness.deliver(1)
        ch = harness.channel()
        got = texts(drain(ch, cursors))
        ch.close()
        assert len(got) == 1 and "contract message 2" in got[0], got

    def test_uncommitted_batch_is_fetched_again(self, harness: Any) -> None:
        """A crash between fetch and commit loses nothing: a generator
        abandoned after handing out a batch (never resumed, so never told
        the batch was committed) leaves the server's position alone, and the
        same cursors fetch the same items again (ingest dedupes them)."""
        harness.deliver(2)
        ch = harness.channel()
        gen = ch.fetch({})
        first = [i.text or i.raw.decode("utf-8", "replace") for i in next(gen).items]
        gen.close()
        ch.close()
        ch = harness.channel()
        again = texts(drain(ch, {}))
        ch.close()
        assert first and all(t in again for t in first)

    def test_items_have_ids_and_raw(self, harness: Any) -> None:
        harness.deliver(1)
        ch = harness.channel()
        items = [i for b in drain(ch, {}) for i in b.items]
        ch.close()
        assert items and all(i.raw for i in items)
        assert all(i.external_id or i.needs_parse for i in items)

    def test_send_reaches_server(self, harness: Any) -> None:
        ch = harness.channel()
        out = harness.outbound()
        result = ch.send(out)
        ch.close()
        assert result.external_id
        assert result.state in ("queued", "sent", "delivered")
        received = harness.received()
        assert len(received) == 1
        assert out.text.split()[0] in str(received[0])
