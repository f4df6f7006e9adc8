"""Bring an old mailbox in: mbox, Maildir or .eml files, through the same
parser, threading and dedupe as ``sync`` (SPEC §6). Never sends anything."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path

from supportctl.errors import UsageError
from supportctl.models import Batch, Inbound
from supportctl.services.ingest import BatchSummary, IngestSettings, ingest_batch
from supportctl.store.db import Store

BATCH = 200
#: A batch also ends past this many bytes of mail (as IMAP's), so memory is
#: bounded by the largest message, not by 200 of them.
BATCH_BYTES = 8 * 1024 * 1024


def raw_messages(path: Path, fmt: str) -> Iterator[tuple[str, bytes]]:
    if fmt == "mbox":
        if not path.is_file():
            raise UsageError(f"{path} is not an mbox file")
        box = mailbox.mbox(str(path), create=False)
        for key in box.iterkeys():
            yield f"{path.name}:{key}", box.get_bytes(key)
    elif fmt == "maildir":
        if not (path / "cur").is_dir() and not (path / "new").is_dir():
            raise UsageError(f"{path} is not a Maildir (no cur/ or new/)")
        md = mailbox.Maildir(str(path), factory=None, create=False)
        for key in sorted(md.iterkeys()):
            yield f"{path.name}:{key}", md.get_bytes(key)
    elif fmt == "eml":
        files = sorted(path.rglob("*.eml")) if path.is_dir() else [path]
        for f in files:
            try:
                yield f.name, f.read_bytes()
            except OSError as exc:
                raise UsageError(f"cannot read {f}: {exc.strerror}") from None
    else:
        raise UsageError(f"unknown import format {fmt!r}")


def import_mail(store: Store, path: Path, fmt: str, settings: IngestSettings) -> BatchSummary:
    total = BatchSummary()
    items: list[Inbound] = []

    def flush() -> None:
        s = ingest_batch(store, Batch(source="import", cursor=None, items=items), settings)
        total.stored += s.stored
        total.duplicates += s.duplicates
        total.quarantined += s.quarantined
        total.tickets_created += s.tickets_created
        items.clear()

    size = 0
    for ref, raw in raw_messages(path, fmt):
        items.append(Inbound(medium="email", raw=raw, needs_parse=True, source_ref=ref))
        size += len(raw)
        del raw
        if len(items) >= BATCH or size >= BATCH_BYTES:
            flush()
            size = 0
    if items:
        flush()
    return total
