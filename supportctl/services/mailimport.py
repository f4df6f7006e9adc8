"""Bring an old mailbox in: mbox, Maildir or .eml files, through the same
parser, threading and dedupe as ``sync`` (SPEC §6). Never sends anything."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path

from supportctl.errors import UsageError
from supportctl.models import Batch, Inbound
from supportctl.services.ingest import BatchSummary, IngestSettings, ingest_batch
from supportctl.services.progress import NO_PROGRESS, Progress
from supportctl.store.db import Store

BATCH = 200
#: A batch also ends past this many bytes of mail (as IMAP's), so memory is
#: bounded by the largest message, not by 200 of them.
BATCH_BYTES = 8 * 1024 * 1024


def open_messages(path: Path, fmt: str) -> tuple[int, Iterator[tuple[str, bytes]]]:
    """How many messages ``path`` holds, and (source ref, raw bytes) of each."""
    if fmt == "mbox":
        if not path.is_file():
            raise UsageError(f"{path} is not an mbox file")
        box = mailbox.mbox(str(path), create=False)
        keys = list(box.iterkeys())  # one scan builds the table of contents
        return len(keys), ((f"{path.name}:{key}", box.get_bytes(key)) for key in keys)
    if fmt == "maildir":
        if not (path / "cur").is_dir() and not (path / "new").is_dir():
            raise UsageError(f"{path} is not a Maildir (no cur/ or new/)")
        md = mailbox.Maildir(str(path), factory=None, create=False)
        names = sorted(md.iterkeys())
        return len(names), ((f"{path.name}:{key}", md.get_bytes(key)) for key in names)
    if fmt == "eml":
        files = sorted(path.rglob("*.eml")) if path.is_dir() else [path]
        return len(files), (_read_eml(f) for f in files)
    raise UsageError(f"unknown import format {fmt!r}")


def _read_eml(f: Path) -> tuple[str, bytes]:
    try:
        return f.name, f.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {f}: {exc.strerror}") from None


def _batches(messages: Iterator[tuple[str, bytes]], count: int) -> Iterator[Batch]:
    items: list[Inbound] = []
    size = 0
    for ref, raw in messages:
        items.append(Inbound(medium="email", raw=raw, needs_parse=True, source_ref=ref))
        size += len(raw)
        del raw
        if len(items) >= BATCH or size >= BATCH_BYTES:
            yield Batch(source="import", cursor=None, items=items, total=count)
            items, size = [], 0
    if items:
        yield Batch(source="import", cursor=None, items=items, total=count)


def import_mail(store: Store, path: Path, fmt: str, settings: IngestSettings, *,
                progress: Progress = NO_PROGRESS) -> BatchSummary:
    """Ingest every message of ``path``; a large import parses ahead in
    worker processes (``parsing.Ahead``), reading the file at most a few
    batches ahead of what is stored."""
    from supportctl.services.language import languages_of
    from supportctl.services.parsing import Ahead

    total = BatchSummary()
    count, messages = open_messages(path, fmt)
    progress.start("import", f"import {path.name}", count)
    with Ahead(languages_of(settings.config)) as ahead:
        for batch in ahead.batches(_batches(messages, count)):
            s = ingest_batch(store, batch, settings)
            progress.advance("import", len(batch.items))
            total.stored += s.stored
            total.duplicates += s.duplicates
            total.quarantined += s.quarantined
            total.tickets_created += s.tickets_created
    progress.finish("import")
    return total
