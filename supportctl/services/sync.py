"""Sync: pull every configured channel entry into the store.

Contract:
- One sync at a time per store: an exclusive ``flock`` on ``<db>.lock``.
  A second run waits up to ``wait`` seconds, else raises ``LockHeld``
  (exit 4). The lock is released by the kernel if the process dies.
- Each entry runs on its own: one failing channel does not stop the others
  (SPEC §5 exit 5). Per entry: fetch batches → ``ingest_batch`` (items and
  cursor in one transaction; acknowledgements of new tickets are queued
  in that same transaction, see ``autoreply``) → send queued
  acknowledgements → resend due outbox entries → refresh delivery states.
- The first sync of an entry is recorded (``channel_entries``): mail that
  arrived before it is history (``ingest.is_history``): never acknowledged,
  never answered or notified by rules, no SLA clock. A first sync cut off
  (kill -9, Ctrl-C, a lost connection) resumes after the last committed
  batch, and the progress display says it resumes.
- A large pass parses ahead in worker processes (``parsing.Ahead``) while
  this process stores, for channels that may be read ahead.
- Services never build channels: the caller passes a factory.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime

from supportctl.channels import reads_ahead
from supportctl.channels.base import Channel
from supportctl.errors import LockHeld, SupportError
from supportctl.services import ingest, outbox, parsing
from supportctl.services.language import languages_of
from supportctl.services.progress import NO_PROGRESS, Progress
from supportctl.store import sends, workflows
from supportctl.store.db import Store
from supportctl.values import iso, utcnow


@dataclass
class EntryResult:
    name: str
    ok: bool = True
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    tickets_created: int = 0
    sent: int = 0
    send_failed: int = 0
    error: str = ""
    seconds: float = 0.0
    #: Another machine held this entry's lock (PostgreSQL): not pulled.
    skipped: bool = False


@contextmanager
def sync_lock(store: Store, wait: float = 0.0) -> Iterator[None]:
    path = store.sync_lock_file()
    if path is None:
        # PostgreSQL: many machines sync at once, one per channel entry
        # (``Store.entry_lock`` in ``sync_entry``).
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + max(wait, 0.0)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockHeld(
                        f"another sync is running on {store.path}: wait for it, "
                        "or pass --wait SECONDS"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def sync_entry(
    store: Store,
    channel: Channel,
    settings: ingest.IngestSettings,
    *,
    since: datetime | None = None,
    max_attempts: int = 5,
    progress: Progress = NO_PROGRESS,
    ahead: parsing.Ahead | None = None,
) -> EntryResult:
    """Sync one entry. Acknowledgements that ingest queued (when
    ``settings.acknowledge``) are sent after each batch, and any left
    queued by a killed run are sent first. ``ahead``: the caller's
    parsing pool (``first_syncs_due``), else one of its own."""
    res = EntryResult(channel.name)
    with store.entry_lock(channel.name) as mine:
        if not mine:
            # Another machine pulls this entry now (SPEC §13): nothing to
            # say, nothing failed.
            res.skipped = True
            return res
        if ahead is not None:
            return _sync_entry(store, channel, settings, res, since=since,
                               max_attempts=max_attempts, progress=progress, ahead=ahead)
        with parsing.Ahead(languages_of(settings.config)) as own:
            return _sync_entry(store, channel, settings, res, since=since,
                               max_attempts=max_attempts, progress=progress, ahead=own)


def first_syncs_due(store: Store | None, entries: list[dict[str, object]]) -> bool:
    """Whether a channel entry that may be read ahead has not finished its
    first sync (``store`` None: there is no store yet, so none has): a
    large pass is likely, worth starting the parsing pool before the first
    batch (``parsing.Ahead.prestart``)."""
    return any(reads_ahead(str(e.get("type"))) and (
        store is None or sends.first_synced_at(store, str(e["name"])) is None
        or sends.first_sync_unfinished(store, str(e["name"]))) for e in entries)


def _sync_entry(store: Store, channel: Channel, settings: ingest.IngestSettings,
                res: EntryResult, *, since: datetime | None, max_attempts: int,
                progress: Progress, ahead: parsing.Ahead) -> EntryResult:
    started = time.monotonic()
    try:
        now = iso(utcnow()) or ""
        resuming = sends.first_sync_unfinished(store, channel.name)
        if sends.first_synced_at(store, channel.name) is None:
            settings = replace(settings, backlog=True)
            sends.begin_first_sync(store, channel.name, now)
        first = sends.mark_synced(store, channel.name, now)
        settings = replace(settings, history_until=first)
        _count_sends(res, _send_acknowledgements(store, channel, max_attempts))
        cursors = store.get_cursors(channel.name)
        note = (f"resuming the first sync: {sends.messages_of_account(store, channel.name)} "
                "already stored" if resuming else "")
        shown = ""
        for batch in ahead.batches(channel.fetch(cursors, since=since),
                                   read_ahead=reads_ahead(channel.type)):
            key = f"{channel.name}\0{batch.source}"
            if key != shown:
                if shown:
                    progress.finish(shown)
                shown = key
                progress.start(key, f"{channel.name} {batch.source}", batch.total, note=note)
            summary = ingest.ingest_batch(store, batch, settings)
            progress.advance(key, len(batch.items))
            res.stored += summary.stored
            res.duplicates += summary.duplicates
            res.quarantined += summary.quarantined
            res.tickets_created += summary.tickets_created
            if summary.tickets_created:
                _count_sends(res, _send_acknowledgements(store, channel, max_attempts))
        if shown:
            progress.finish(shown)
        if resuming or settings.backlog:
            sends.end_first_sync(store, channel.name)
        # Rule replies and CSAT questions queued under this sync's lock.
        for entry in workflows.queued_automatic(store, channel.name):
            _count_sends(res, [outbox.send_entry(store, entry, channel, max_attempts=max_attempts)])
        for entry in outbox.due_entries(store, channel.name, max_attempts):
            _count_sends(res, [outbox.send_entry(store, entry, channel, max_attempts=max_attempts)])
        outbox.refresh(store, channel.name, channel)
    except SupportError as exc:
        res.ok = False
        res.error = str(exc)
    except Exception as exc:
        # A bug in one channel must not stop the others (R70). Its text may
        # quote a URL with a token in it, so only the type is shown.
        res.ok = False
        res.error = f"unexpected {type(exc).__name__} in this channel; nothing was lost"
    finally:
        res.seconds = time.monotonic() - started
    return res


def _count_sends(res: EntryResult, states: list[str]) -> None:
    for state in states:
        if state in ("failed", "unknown"):
            res.send_failed += 1
        else:
            res.sent += 1


def _send_acknowledgements(store: Store, channel: Channel, max_attempts: int) -> list[str]:
    return [outbox.send_entry(store, entry, channel, max_attempts=max_attempts)
            for entry in sends.queued_acknowledgements(store, channel.name)]


def retry_quarantine(store: Store, settings_for: Callable[[str], ingest.IngestSettings], *,
                     progress: Progress = NO_PROGRESS) -> tuple[int, int]:
    """Re-ingest quarantined messages; returns (recovered, still quarantined).

    Each item is read again by the parser of the medium it came on (a
    Telegram update as a Telegram update, never as an email), from the
    payload kept in quarantine, without the network, and stored under the
    account it came through."""
    from supportctl.channels import parse_stored
    from supportctl.errors import ParseError
    from supportctl.models import Inbound
    from supportctl.store import quarantine
    from supportctl.values import parse_iso

    rows = quarantine.held(store)
    ok = 0
    progress.start("quarantine", "quarantine retry", len(rows))
    for r in rows:
        progress.advance("quarantine")
        now = iso(utcnow()) or ""
        raw, medium = bytes(r["raw"]), r["medium"] or "email"
        settings = settings_for(r["account"] or "import")
        received = parse_iso(r["received_at"])
        item = Inbound(medium=medium, raw=raw, needs_parse=True, source_ref=r["source_ref"] or "",
                       received_at=received)
        with store.tx():
            quarantine.mark_retried(store, r["id"], now)
            if medium != "email":
                try:
                    item = parse_stored(medium, raw, _entry_config(settings, r["account"]))
                except Exception as exc:  # a parser bug must not stop the other retries
                    why = str(exc) if isinstance(exc, ParseError) else \
                        f"parser crashed: {type(exc).__name__}: {exc}"
                    quarantine.set_reason(store, r["id"], f"{why} ({medium})"[:500])
                    continue
                item.raw = raw
                item.received_at = item.received_at or received
                item.source_ref = item.source_ref or r["source_ref"] or ""
            result = ingest._ingest_isolated(store, item, settings, now)
            if not result.quarantined:
                quarantine.resolve(store, r["id"], now)
                ok += 1
    progress.finish("quarantine")
    return ok, len(rows) - ok


def _entry_config(settings: ingest.IngestSettings, account: str | None) -> dict[str, object]:
    """The configured channel entry of ``account`` (its parser may need the
    instance's host), or nothing when it is no longer configured."""
    for entry in getattr(settings.config, "channels", None) or []:
        if isinstance(entry, dict) and entry.get("name") == account:
            return entry
    return {}


def describe(res: EntryResult) -> str:
    if not res.ok:
        return f"{res.name}: FAILED: {res.error}"
    if res.skipped:
        return f"{res.name}: skipped: another machine is syncing it"
    parts = [f"{res.stored} new"]
    if res.tickets_created:
        parts.append(f"{res.tickets_created} tickets")
    if res.duplicates:
        parts.append(f"{res.duplicates} duplicates skipped")
    if res.quarantined:
        parts.append(f"{res.quarantined} quarantined")
    if res.sent:
        parts.append(f"{res.sent} sent from outbox")
    if res.send_failed:
        parts.append(f"{res.send_failed} not sent (see `supportctl outbox`)")
    return f"{res.name}: " + ", ".join(parts) + f" ({res.seconds:.1f}s)"


def changed(res: EntryResult, last_error: str | None) -> bool:
    """Whether a ``--watch`` pass has anything to say about this entry:
    something stored, quarantined, sent or not sent, a new failure (not
    the one the previous pass reported), or a recovery."""
    if not res.ok:
        return res.error != last_error
    return bool(res.stored or res.quarantined or res.sent or res.send_failed
                or last_error is not None)


