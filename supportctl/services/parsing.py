"""Parsing ahead: a large first sync or import uses both cores.

Parsing mail (``mail.parse.parse_email``, the stdlib parser) and detecting
its language are most of what a first sync costs; storing needs the one
SQLite writer. ``Ahead`` parses the next batches in worker processes while
the caller stores the current one.

Contract:
- Same batches, same order: every batch and every item comes out in the
  order it went in, with the same cursor; the caller commits each as before.
- Same result: a worker runs the very parser and language detection ingest
  runs. Anything a worker cannot do (the parser raised, the result cannot be
  sent back, a message of ``LARGE`` bytes or more, whose big attachments
  are decoded from the raw bytes as they are stored) is left unparsed for
  ingest to do in-process, exactly as without the pool: quarantine reasons
  and dedupe are unchanged.
- Read-ahead is bounded: at most ``AHEAD`` batches past the one being
  stored, so memory is bounded by a few batches (each capped in bytes by
  its channel), never by the mailbox. Only sources whose fetch changes
  nothing on the server go through it (IMAP reads with EXAMINE/PEEK; a
  Telegram fetch confirms the previous batch, so it is never read ahead).
- A pool costs its start-up (a fresh interpreter per worker): it starts
  only once a pass has brought ``THRESHOLD`` messages to parse, or says it
  will (``Batch.total``); smaller syncs run as before. The batch that
  starts it is parsed in-process, as without a pool, while the workers
  start and load the parser and the language model (``warm``): the
  caller does not wait for them. A caller that knows a large pass is
  coming (a channel entry's first sync) starts the pool first
  (``prestart``): the workers start on the core the caller's own start-up
  leaves idle (opening or creating the store, logging in), and every
  batch is parsed ahead.
- Ctrl-C and SIGTERM reach only this process: workers ignore SIGINT and
  exit when the pool is shut down or their parent dies.
"""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from supportctl.models import Batch, Inbound

#: Messages in a pass from which a pool pays for its start-up (measured in
#: bench/first_sync_bench.py: below a few hundred mails it costs more than
#: it saves).
THRESHOLD = 400
#: Messages this large or larger are parsed in-process (their big parts
#: stream from the raw bytes, which stay in this process).
LARGE = 1 << 20
#: Batches parsed ahead of the one being stored.
AHEAD = 3
#: The workers' niceness. The storing process is the longest chain of
#: work (each batch waits for the one before), and with two workers on
#: two cores it got about 70 % of one; at nice 19 it gets a core when it
#: wants one, and the workers use what is left. 5 000 mails from Dovecot,
#: rounds alternating: 9.9 s at nice 0, 8.3-8.5 s at 10, 8.0-8.3 s at 19.
NICE = 19


def workers() -> int:
    """Worker processes: one per core, at most three, each holding its own
    parser and language model. As many workers as cores, not one fewer for
    the writer: the writer waits (on the disk, on the IMAP server, on the
    workers themselves) for much of a first sync, and parsing is most of
    the work. On two cores, against one worker parsing ahead two batches: a
    5 000-mail first sync from Dovecot took 5.72 s instead of 6.41 (median
    of four rounds alternating, load 1.6; bench/RESULTS.md)."""
    return max(1, min(os.cpu_count() or 1, 3))


def _worker_started() -> None:
    """Ctrl-C is the parent's to handle; and a worker never outlives it: a
    parent killed outright (kill -9) leaves no pool behind, since the
    workers notice they were handed to another parent and exit."""
    import threading
    import time

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(NICE)
    except OSError:
        pass
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def prepare(raw: bytes, received_at: datetime | None, source_ref: str,
            languages: tuple[str, ...]) -> Inbound | None:
    """In a worker: the parsed item with its language, without ``raw`` (the
    caller holds it), or None when anything goes wrong (ingest then parses
    in-process and decides as it always has)."""
    try:
        from supportctl.mail.parse import parse_email
        from supportctl.services.language import detect

        item = parse_email(raw, received_at=received_at, source_ref=source_ref)
        if any(a.chunks is not None for a in item.attachments):
            return None
        item.language = detect(item.text or item.subject or "", languages)
        item.language_ready = True
        item.raw = b""
        return item
    except Exception:
        return None


def warm(languages: tuple[str, ...]) -> None:
    """In a worker, as it starts: the parser and the language model
    loaded before the first batch comes."""
    from supportctl.mail import parse  # noqa: F401
    from supportctl.services.language import detect

    detect("warm", languages)


def prepare_many(jobs: list[tuple[bytes, datetime | None, str]],
                 languages: tuple[str, ...]) -> list[Inbound | None]:
    """In a worker: ``prepare`` of each job (raw, received, source ref),
    sent and returned as one task (a task per message cost this process
    a future, a pickle and a wake-up of the pool's thread per mail)."""
    return [prepare(raw, at, ref, languages) for raw, at, ref in jobs]


class Ahead:
    """Parses batches ahead in a process pool; see the module contract."""

    def __init__(self, languages: tuple[str, ...], *, threshold: int | None = None) -> None:
        self.languages = languages
        self.threshold = THRESHOLD if threshold is None else threshold
        self._pool: Any = None
        self.seen = 0

    def _start(self) -> Any:
        """The pool, started (each worker warming up) if it was not."""
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn: a fresh interpreter per worker, never a fork of this
            # process with IMAP reader threads and open SQLite handles in it;
            # and the workers are our children, so they see us die.
            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=workers(), mp_context=ctx,
                                             initializer=_worker_started)
            with _entry_script_hidden():
                for _ in range(workers()):  # one each: a busy worker makes the pool start another
                    self._pool.submit(warm, self.languages)
        return self._pool

    def prestart(self) -> None:
        """Start the pool now, before the first batch: a large pass is
        coming (see the module contract)."""
        self._start()

    @property
    def started(self) -> bool:
        return self._pool is not None

    def _wanted(self, batch: Batch) -> bool:
        self.seen += len(batch.items)
        return self._pool is not None or (batch.total or 0) >= self.threshold \
            or self.seen >= self.threshold

    def _submit(self, batch: Batch) -> list[tuple[list[int], Future[list[Inbound | None]]]]:
        """The batch's mails to parse, in one task per worker: (their
        places in the batch, the task)."""
        pool = self._start()
        wanted = [k for k, item in enumerate(batch.items)
                  if item.needs_parse and item.medium == "email" and len(item.raw) < LARGE]
        if not wanted:
            return []
        size = -(-len(wanted) // workers())
        tasks = []
        for at in range(0, len(wanted), size):
            places = wanted[at:at + size]
            jobs = [(batch.items[k].raw, batch.items[k].received_at, batch.items[k].source_ref)
                    for k in places]
            tasks.append((places, pool.submit(prepare_many, jobs, self.languages)))
        return tasks

    @staticmethod
    def _collect(batch: Batch, tasks: list[tuple[list[int], Future[list[Inbound | None]]]]
                 ) -> Batch:
        items = list(batch.items)
        for places, fut in tasks:
            try:
                done = fut.result()
            except Exception:  # a worker died or the result did not pickle
                continue  # ingest parses these in-process
            for k, parsed in zip(places, done, strict=True):
                if parsed is not None:
                    parsed.raw = items[k].raw
                    items[k] = parsed
        batch.items = items
        return batch

    def batches(self, batches: Iterable[Batch], *, read_ahead: bool = True) -> Iterator[Batch]:
        """``batches``, parsed ahead once the pass is big enough."""
        pending: deque[tuple[Batch, list[tuple[list[int], Future[list[Inbound | None]]]]]] = deque()
        for batch in batches:
            if not read_ahead or not self._wanted(batch):
                yield from (self._collect(*p) for p in _drain(pending))
                yield batch
                continue
            if self._pool is None:
                self._start()
                yield batch  # parsed in-process while the workers start
                continue
            pending.append((batch, self._submit(batch)))
            while len(pending) > AHEAD:
                yield self._collect(*pending.popleft())
        for p in _drain(pending):
            yield self._collect(*p)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Ahead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def _entry_script_hidden() -> Iterator[None]:
    """Workers spawned meanwhile do not run the program's entry script.
    spawn runs ``__main__``'s file again in each child, so that functions
    defined there unpickle; a worker needs none, and the console script
    ``supportctl`` imports the whole CLI (about 50 ms of a worker's start,
    before it lowers its priority). ``python -m supportctl`` and
    ``python -c`` are left out by spawn already."""
    import sys

    main = sys.modules.get("__main__")
    path = main.__dict__.pop("__file__", None) if main is not None else None
    try:
        yield
    finally:
        if path is not None:
            main.__file__ = path  # type: ignore[union-attr]


def _drain(pending: deque[Any]) -> Iterator[Any]:
    while pending:
        yield pending.popleft()
