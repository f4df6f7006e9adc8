"""Export and import of the store as JSON lines (SPEC §6).

Contract:
- ``export`` streams one ticket a line, in id order, in chunks: memory stays
  flat however big the store is. With ``messages`` each line carries the
  ticket's messages and events; with ``raw`` the original payloads too.
- ``import_jsonl`` restores contacts, identities, tickets, messages, notes,
  attachments (metadata, and their files when the export carries them),
  tags and events with their ids and timestamps
  verbatim. It writes no events of its own, runs no threading or rules,
  sends nothing, and skips an id that already exists. Export → import →
  export gives identical output.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from supportctl.channels import media_names
from supportctl.errors import SupportError, UsageError
from supportctl.safe import is_label
from supportctl.services.progress import NO_PROGRESS, Progress, counted
from supportctl.store import messages as stored_messages
from supportctl.store import transfer as repo
from supportctl.store.db import IntegrityError, Store
from supportctl.store.files import valid_digest
from supportctl.store.read import (
    TicketFilter,
    events_json,
    iter_ticket_ids,
    messages_json,
    tickets_json,
)
from supportctl.store.tickets import add_tag
from supportctl.values import DELIVERY_STATES, Priority, Status

CHUNK = 500


def export(store: Store, f: TicketFilter, now: str, *, messages: bool = False,
           raw: bool = False, files: bool = False) -> Iterator[dict[str, Any]]:
    """``files`` puts each attachment's bytes (base64, as ``data``) beside
    its metadata, so the export alone restores everything."""
    chunk: list[int] = []
    for tid in iter_ticket_ids(store, f, now):
        chunk.append(tid)
        if len(chunk) >= CHUNK:
            yield from _chunk(store, chunk, now, messages, raw, files)
            chunk = []
    if chunk:
        yield from _chunk(store, chunk, now, messages, raw, files)


def _chunk(store: Store, ids: list[int], now: str, messages: bool, raw: bool,
           files: bool) -> Iterator[dict[str, Any]]:
    for t in tickets_json(store, ids, now, full=True):
        if messages:
            t["messages"] = messages_json(store, t["id"], raw=raw, full=True)
            t["events"] = events_json(store, t["id"])
            if files:
                for m in t["messages"]:
                    for a in m["attachments"]:
                        a["data"] = base64.b64encode(store.read_file(a["sha256"])).decode("ascii")
        yield t


#: Lines (tickets) written together: their look-ups in a few statements,
#: their rows in multi-row statements (``store.transfer.restore_many``).
BATCH_LINES = 200
#: ... or fewer when the lines are this large (attachment data, originals).
BATCH_BYTES = 8 << 20
#: Files from this size on are read, checked and made ready in a second
#: process while this one writes (a fresh interpreter costs ~0.3 s).
READ_AHEAD_BYTES = 4 << 20

#: A line ready to write: its number, the line (text) or its object, and
#: its rows (``_candidate``; None when they could not be made).
Item = tuple[int, "str | dict[str, Any] | None", "Candidate | None"]


def import_jsonl(store: Store, lines: Iterable[str], *, batched: bool = True) -> dict[str, int]:
    """All or nothing: the whole file is one transaction, and every line is
    checked (types, statuses, priorities, tags, ids, timestamps, digests)
    before it is written; on any error the store is exactly as before and
    the ``UsageError`` names the line.

    Lines are written a batch at a time (``batched``): the same rows, in
    the same order, as writing them one line at a time, which is what
    happens for a batch whose write fails, so the error names the line
    exactly as it would have (``batched=False`` writes every line so)."""
    return _import(store, _batches(lines, keep_text=False, batched=batched), batched=batched)


def import_jsonl_file(store: Store, path: Path, progress: Progress = NO_PROGRESS, *,
                      ahead: bool | None = None) -> dict[str, int]:
    """``import_jsonl`` of a file, with progress (in lines). A file of
    ``READ_AHEAD_BYTES`` or more (or any, with ``ahead``) is read, checked
    and made into rows in a second process while this one writes: the
    same batches in the same order, so the same result and errors."""
    total = None
    with open(path, "rb") as count:
        if progress is not NO_PROGRESS:  # one quick pass for the total
            total = sum(chunk.count(b"\n") for chunk in iter(lambda: count.read(1 << 20), b""))
        size = os.fstat(count.fileno()).st_size
    progress.start("import", f"import {path.name}", total)
    if ahead is None:
        ahead = size >= READ_AHEAD_BYTES
    if ahead:
        again = _Lines(path)
        try:
            counts = _import(store, _read_ahead(path, progress), lines=again)
        finally:
            again.close()
    else:
        with open(path, encoding="utf-8") as fh:
            counts = import_jsonl(store, counted(fh, progress, "import", every=1000))
    progress.finish("import")
    return counts


#: Messages imported between two fills of the full-text indexes. FTS5
#: holds a fill's terms in memory (``full_text_in_bulk``), about 0.2 KB a
#: message: 100 000 at a time cost some 20 MB more than 20 000 did, and
#: filled messages_fts of a million messages in 7.2 s rather than 9.4.
FTS_EVERY = 100_000


def _import(store: Store, batches: Iterable[list[Item]], *, batched: bool = True,
            lines: _Lines | None = None) -> dict[str, int]:
    counts = {"tickets": 0, "skipped": 0, "messages": 0, "contacts": 0, "files": 0}
    links: list[tuple[int, str, int]] = []
    imported: list[int] = []
    with store.tx(), stored_messages.full_text_in_bulk(store) as deferred:
        # The full-text indexes are filled ``FTS_EVERY`` messages at a time
        # from the rows as they stand (a statement per batch left FTS5 a
        # small segment each, merged again and again), often enough that
        # the progress display never waits long on it.
        filled = 0
        # The messages since the last fill that go to the trigram index, as
        # the batches told them (None once a line was written on its own).
        unspaced: list[int] | None = []
        # A bad line raises from ``batches`` once the lines before it are
        # written, so a line before it that cannot be written is the error.
        for items in batches:
            told = _write(store, items, counts, links, imported, batched, lines)
            if told is None:
                unspaced = None
            elif unspaced is not None:
                unspaced += told
            if deferred is not None and counts["messages"] - filled >= FTS_EVERY:
                stored_messages.index_deferred(store, deferred, unspaced)
                deferred, filled = stored_messages.defer_full_text(store), counts["messages"]
                unspaced = []
        if deferred is not None:
            stored_messages.index_deferred(store, deferred, unspaced)
        # Links may point at tickets later in the file: restore them last.
        for tid, key, target in links:
            repo.restore_link(store, tid, key, target)
        # An import restores due times verbatim (SPEC §6): the tag triggers
        # marked these tickets stale, and a recompute would replace them.
        from supportctl.store.sla import mark_fresh

        mark_fresh(store, imported)
        # Rows came with their own ids: later rows get ids after them.
        store.after_restore()
    return counts


def _batches(lines: Iterable[str], *, keep_text: bool, batched: bool = True) -> Iterator[list[Item]]:
    """Checked lines with their rows, a batch at a time; a bad line raises
    its ``UsageError`` after the batch before it."""
    pending: list[Item] = []
    size = 0
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = _read_line(n, line)
        except UsageError:
            if pending:
                yield pending
            raise
        try:
            cand: Candidate | None = _candidate(obj)
        except (ValueError, binascii.Error):  # raised again where _import_ticket would
            cand = None
        # The writer needs the line itself only where it has no rows for it
        # (a reader process sends no more than that: the writer can read
        # any line again from the file, ``_Lines``).
        pending.append((n, obj if not keep_text else line if cand is None else None, cand))
        size += len(line)
        if len(pending) >= BATCH_LINES or size >= BATCH_BYTES or not batched:
            yield pending
            pending = []
            size = 0
    if pending:
        yield pending


def _read_line(n: int, line: str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UsageError(f"line {n} is not JSON ({exc.msg}): nothing was imported; "
                         "fix or remove that line and import again") from None
    except UnicodeDecodeError:
        raise UsageError(f"line {n} is not UTF-8: nothing was imported") from None
    try:
        check_ticket(obj)
    except ValueError as exc:
        raise UsageError(f"line {n}: {exc}; nothing was imported") from None
    return obj  # type: ignore[no-any-return]


def _write(store: Store, items: list[Item], counts: dict[str, int],
           links: list[tuple[int, str, int]], imported: list[int], batched: bool,
           lines: _Lines | None = None) -> list[int] | None:
    """Write checked lines: as one batch, or, when the batch cannot be
    written (or ``batched`` is off), one line at a time as before. Returns
    the batch's messages for the trigram index (None: written line by
    line, not told)."""
    cands = [c for _, _, c in items]
    if batched and None not in cands:
        before = dict(counts), len(links), len(imported)
        try:
            with store.tx():  # a savepoint: a failed batch leaves nothing
                b = _Batch(store, cands)  # type: ignore[arg-type]
                for c in cands:
                    if b.add(store, c, counts):  # type: ignore[arg-type]
                        imported.append(c[0])  # type: ignore[index]
                        links += c[7]  # type: ignore[index]
                    else:
                        counts["skipped"] += 1
                b.write(store)
            return b.unspaced
        except Exception:  # noqa: BLE001 - the line-at-a-time path says which line and why
            counts.update(before[0])
            del links[before[1]:]
            del imported[before[2]:]
    for n, src, _ in items:
        if src is None:
            assert lines is not None
            src = lines.at(n)
        obj = src if isinstance(src, dict) else json.loads(src)
        if repo.ticket_exists(store, obj["id"]):
            counts["skipped"] += 1
            continue
        try:
            _import_ticket(store, obj, counts)
        except IntegrityError as exc:
            raise UsageError(f"line {n}: {exc} (an id clashes with one already stored); "
                             "nothing was imported") from None
        except (ValueError, binascii.Error) as exc:
            raise UsageError(f"line {n}: {exc}; nothing was imported") from None
        imported.append(obj["id"])
        links += [(obj["id"], key, obj[key]) for key in ("merged_into", "linked_ticket")
                  if obj.get(key)]
    return None


# -- reading ahead in a second process -------------------------------------

class _Lines:
    """Line ``n`` of a file, read again for a batch written line by line
    (batches come in order, so one forward pass serves them all)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: Any = None
        self._n = 0

    def at(self, n: int) -> str:
        if self._fh is None or n <= self._n:
            if self._fh is not None:
                self._fh.close()
            self._fh = open(self.path, encoding="utf-8")  # noqa: SIM115 - kept open across calls
            self._n = 0
        for line in self._fh:
            self._n += 1
            if self._n == n:
                return line  # type: ignore[no-any-return]
        raise SupportError(f"{self.path} changed while it was imported: nothing was imported")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


#: Batches received from the reading process and held ready for the writer:
#: it keeps reading while the writer fills the full-text indexes (a second
#: or two per ``FTS_EVERY`` messages). 1 000 000 messages, rounds
#: alternating: 42.8 and 43.2 s against 46.3 and 47.1 s with the batches
#: received as the writer asked; the writer's peak 92 MB against 71 (16
#: batches: 111 MB, not measurably faster).
RECEIVED_AHEAD = 8


def _read_ahead(path: Path, progress: Progress) -> Iterator[list[Item]]:
    """``_batches`` of the file, made in a reader process (spawned: a fresh
    interpreter; it ignores Ctrl-C and exits with this process). A thread
    here receives and unpickles them while the writer's statements run
    (SQLite lets go of the interpreter as it steps), at most
    ``RECEIVED_AHEAD`` batches ahead; past that the pipe blocks the reader,
    so memory stays flat."""
    import multiprocessing
    import queue
    import threading

    ctx = multiprocessing.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_reader, args=(str(path), send), daemon=True,
                       name="supportctl-import-reader")
    proc.start()
    send.close()
    ready: queue.Queue[tuple[str, Any, int]] = queue.Queue(maxsize=RECEIVED_AHEAD)
    stop = threading.Event()

    def receive() -> None:
        while not stop.is_set():
            try:
                got = recv.recv()
            except (EOFError, OSError):
                got = ("lost", None, 0)
            except Exception as exc:  # noqa: BLE001 - raised here, in the writer, as before
                got = ("failed", exc, 0)
            while not stop.is_set():
                try:
                    ready.put(got, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if got[0] != "batch":
                return

    receiver = threading.Thread(target=receive, daemon=True, name="supportctl-import-receive")
    receiver.start()
    seen = 0
    try:
        while True:
            kind, payload, lines = ready.get()
            if kind == "lost":
                raise SupportError(f"the process reading {path.name} stopped unexpectedly: "
                                   "nothing was imported; run the import again")
            if kind == "failed":
                raise payload
            progress.advance("import", lines - seen)
            seen = lines
            if kind == "batch":
                yield payload
            elif kind == "raise":
                raise payload
            else:
                return
    finally:
        stop.set()
        if proc.is_alive():
            proc.kill()
        proc.join()
        receiver.join()
        recv.close()


def _reader(path: str, send: Any) -> None:
    """In the reader process: send each batch, then ``done`` or the
    exception the lines raised (with how many lines were read so far)."""
    from supportctl.services.parsing import _worker_started

    _worker_started()
    read = 0

    def lines(fh: Iterable[str]) -> Iterator[str]:
        nonlocal read
        for line in fh:
            read += 1
            yield line

    try:
        with open(path, encoding="utf-8") as fh:
            for batch in _batches(lines(fh), keep_text=True):
                send.send(("batch", batch, read))
        send.send(("done", None, read))
    except Exception as exc:  # noqa: BLE001 - raised again in the writer, in order
        try:
            send.send(("raise", exc, read))
        except Exception:  # noqa: BLE001 - it does not pickle: say what it was
            send.send(("raise", SupportError(f"reading {path}: {type(exc).__name__}: {exc}"), read))
    finally:
        send.close()


# -- what a line must look like ------------------------------------------

_MAX_ID = 2**63 - 1


def _id(value: Any, what: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if type(value) is not int or not 1 <= value <= _MAX_ID:
        raise ValueError(f"{what} must be a positive integer, not {_show(value)}")


def _text(value: Any, what: str, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, not {_show(value)}")


def _name(value: Any, what: str, *, optional: bool = True) -> None:
    """A label an agent gives (tag, assignee): what ``tag``/``assign`` take."""
    _text(value, what, optional=optional)
    if value is not None and not is_label(value):
        raise ValueError(f"{what} {_show(value)} is empty or holds control characters")


#: Times already read as ISO 8601 (an export repeats the same few times
#: over and over); bounded, cleared when full.
_GOOD_TIMES: set[str] = set()


def _time(value: Any, what: str, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise ValueError(f"{what} must be an ISO 8601 time, not {_show(value)}")
    if value in _GOOD_TIMES:
        return
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what} {_show(value)} is not an ISO 8601 time") from None
    if len(_GOOD_TIMES) >= 4096:
        _GOOD_TIMES.clear()
    _GOOD_TIMES.add(value)


def _one_of(value: Any, allowed: Iterable[str], what: str) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{what} {_show(value)} is not one of {', '.join(allowed)}")


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list, not {_show(value)}")
    return value


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be an object, not {_show(value)}")
    return value


def _check_csat(cs: dict[str, Any]) -> None:
    """An exported ticket's CSAT: when it was asked, and a rating of 1-5."""
    _time(cs["asked_at"], "csat.asked_at")
    if cs.get("rating") is not None and (not isinstance(cs["rating"], int)
                                         or not 1 <= cs["rating"] <= 5):
        raise ValueError(f"csat.rating {_show(cs['rating'])} is not a whole number from 1 to 5")


def _show(value: Any) -> str:
    from supportctl.safe import one_line

    return one_line(json.dumps(value, ensure_ascii=True), 40)


_STATUSES = tuple(s.value for s in Status)
_PRIORITIES = tuple(p.value for p in Priority)
_DIRECTIONS = ("in", "out", "note")
_TICKET_TIMES = ("first_response_at", "solved_at", "closed_at", "snoozed_until", "last_message_at",
                 "last_inbound_at")
_MESSAGE_TEXTS = ("account", "external_id", "subject", "text", "html", "in_reply_to", "references",
                  "conversation", "author", "auto_reason", "source_ref", "raw")


def check_ticket(t: Any) -> None:
    """Raise ``ValueError`` naming the first field of an exported ticket
    that import cannot take as it is. (Labels are constants: this runs for
    every line of a million-message import.)"""
    t = _dict(t, "a line")
    if "id" not in t or "status" not in t:
        raise ValueError("not a supportctl ticket (no id/status)")
    _id(t["id"], "id")
    _one_of(t["status"], _STATUSES, "status")
    if t.get("priority") is not None:
        _one_of(t["priority"], _PRIORITIES, "priority")
    media = media_names()
    _one_of(t.get("channel"), media, "channel")
    _text(t.get("subject"), "subject")
    _text(t.get("account"), "account")
    _name(t.get("assignee"), "assignee")
    _time(t.get("created_at"), "created_at", optional=False)
    _time(t.get("updated_at"), "updated_at", optional=False)
    for key in _TICKET_TIMES:
        _time(t.get(key), key)
    sla = t.get("sla")
    if sla is not None:
        for key in ("first_response_due", "resolution_due"):
            _time(_dict(sla, "sla").get(key), key)
    for key in ("merged_into", "linked_ticket"):
        _id(t.get(key), key, optional=True)
    if t.get("message_count") is not None and (type(t["message_count"]) is not int
                                              or t["message_count"] < 0):
        raise ValueError(f"message_count {_show(t['message_count'])} is not a count")
    _text(t.get("conversation"), "conversation")
    for tag in _list(t.get("tags"), "tags"):
        _name(tag, "tag", optional=False)
    c = t.get("contact")
    if c is not None:
        c = _dict(c, "contact")
        _id(c.get("id"), "contact.id")
        _text(c.get("name"), "contact.name")
        for i in _list(c.get("identities"), "contact.identities"):
            i = _dict(i, "identity")
            _one_of(i.get("channel"), media, "identity channel")
            _text(i.get("address"), "identity address", optional=False)
    for m in _list(t.get("messages"), "messages"):
        m = _dict(m, "message")
        try:
            _check_message(m, media)
        except ValueError as exc:
            raise ValueError(f"message {_show(m.get('id'))}: {exc}") from None
    for e in _list(t.get("events"), "events"):
        e = _dict(e, "event")
        try:
            _check_event(e)
        except ValueError as exc:
            raise ValueError(f"event {_show(e.get('id'))}: {exc}") from None


def _check_message(m: dict[str, Any], media: tuple[str, ...]) -> None:
    _id(m.get("id"), "id")
    _one_of(m.get("direction"), _DIRECTIONS, "direction")
    _one_of(m.get("channel"), media, "channel")
    _time(m.get("sent_at"), "sent_at", optional=False)
    _time(m.get("created_at"), "created_at")
    get = m.get
    for key in _MESSAGE_TEXTS:  # _text(m.get(key), key), inlined: twelve per message
        value = get(key)
        if value is not None and type(value) is not str and not isinstance(value, str):
            raise ValueError(f"{key} must be text, not {_show(value)}")
    frm = m.get("from")
    if frm is not None:
        frm = _dict(frm, "from")
        _text(frm.get("name"), "from.name")
        _text(frm.get("address"), "from.address")
    _list(m.get("to"), "to")
    _list(m.get("cc"), "cc")
    if m.get("meta") is not None:
        _dict(m["meta"], "meta")
    d = m.get("delivery")
    if d is not None:
        d = _dict(d, "delivery")
        if d.get("state") is not None:  # {state: null}: nothing was sent, as an inbound message
            _one_of(d["state"], DELIVERY_STATES, "delivery state")
        _text(d.get("error"), "delivery error")
    for a in _list(m.get("attachments"), "attachments"):
        a = _dict(a, "attachment")
        _text(a.get("filename"), "attachment filename", optional=False)
        _text(a.get("content_type"), "attachment content_type", optional=False)
        if type(a.get("size")) is not int or a["size"] < 0:
            raise ValueError(f"attachment size {_show(a.get('size'))} is not a size")
        if not valid_digest(a.get("sha256")):
            raise ValueError(f"attachment sha256 {_show(a.get('sha256'))} is not 64 "
                             "lowercase hex digits")
        _text(a.get("content_id"), "attachment content_id")
        _text(a.get("data"), "attachment data")


def _check_event(e: dict[str, Any]) -> None:
    _id(e.get("id"), "id")
    _id(e.get("ticket_id"), "ticket_id", optional=True)
    _id(e.get("contact_id"), "contact_id", optional=True)
    _text(e.get("actor"), "actor", optional=False)
    _text(e.get("action"), "action", optional=False)
    _time(e.get("at"), "at", optional=False)
    if e.get("detail") is not None:
        _dict(e["detail"], "detail")


def _import_contact(store: Store, c: dict[str, Any], now: str, counts: dict[str, int]) -> None:
    if repo.contact_exists(store, c["id"]):
        return
    repo.restore(store, "contacts", {"id": c["id"], "name": c.get("name") or "",
                              "created_at": now, "updated_at": now})
    counts["contacts"] += 1
    from supportctl.channels import identity_kind

    for ident in c.get("identities") or []:
        kind = identity_kind(ident["channel"])
        if repo.identity_taken(store, kind, ident["address"]):
            continue
        repo.restore(store, "identities", {"contact_id": c["id"], "kind": kind,
                                    "channel": ident["channel"], "address": ident["address"],
                                    "created_at": now})


def _import_ticket(store: Store, t: dict[str, Any], counts: dict[str, int]) -> None:
    now = t.get("created_at") or ""
    contact = t.get("contact")
    if contact:
        _import_contact(store, contact, now, counts)
    sla = t.get("sla") or {}
    repo.restore(store, "tickets", {
        "id": t["id"], "status": t["status"], "priority": t.get("priority") or "normal",
        "subject": t.get("subject") or "", "channel": t["channel"], "account": t.get("account"),
        "contact_id": contact["id"] if contact else None, "assignee": t.get("assignee"),
        "created_at": t["created_at"], "updated_at": t["updated_at"],
        "first_response_at": t.get("first_response_at"), "solved_at": t.get("solved_at"),
        "closed_at": t.get("closed_at"),
        "first_response_due": sla.get("first_response_due"),
        "resolution_due": sla.get("resolution_due"), "sla_policy": sla.get("policy"),
        "snoozed_until": t.get("snoozed_until"),
        "last_message_at": t.get("last_message_at"), "last_inbound_at": t.get("last_inbound_at"),
        "message_count": t.get("message_count") or 0, "conversation": t.get("conversation"),
    })
    counts["tickets"] += 1
    for tag in t.get("tags") or []:
        add_tag(store, t["id"], tag)
    cs = t.get("csat")
    if isinstance(cs, dict) and cs.get("asked_at"):
        _check_csat(cs)
        from supportctl.store import workflows

        workflows.record_csat_asked(store, t["id"], contact["id"] if contact else None,
                                    cs["asked_at"], None)
        if cs.get("answered_at") and cs.get("rating"):
            workflows.record_csat_answer(store, t["id"], cs["rating"], cs.get("comment") or "",
                                         cs["answered_at"], None)
    for m in t.get("messages") or []:
        if repo.message_exists(store, m["id"]):
            continue
        if m.get("external_id") and repo.message_key_taken(store, m["channel"], m["external_id"]):
            continue
        delivery = m.get("delivery") or {}
        repo.restore(store, "messages", {
            "id": m["id"], "ticket_id": t["id"], "direction": m["direction"],
            "channel": m["channel"], "account": m.get("account"),
            "external_id": m.get("external_id"),
            "from_name": (m.get("from") or {}).get("name", ""),
            "from_address": (m.get("from") or {}).get("address", ""),
            "to_json": json.dumps(m.get("to") or [], ensure_ascii=False),
            "cc_json": json.dumps(m.get("cc") or [], ensure_ascii=False),
            "subject": m.get("subject") or "", "text": m.get("text") or "", "html": m.get("html"),
            "sent_at": m["sent_at"], "created_at": m.get("created_at") or m["sent_at"],
            "in_reply_to": m.get("in_reply_to"), "refs": m.get("references"),
            "conversation": m.get("conversation"), "author": m.get("author"),
            "delivery_state": delivery.get("state"), "delivery_error": delivery.get("error"),
            "auto_reason": m.get("auto_reason"), "source_ref": m.get("source_ref"),
            "meta": json.dumps(m["meta"], ensure_ascii=False, sort_keys=True) if m.get("meta") else None,
            "language": m.get("language"),
        })
        if m.get("raw"):
            repo.restore(store, "originals", {"message_id": m["id"],
                                       "raw": base64.b64decode(m["raw"], validate=True)})
        for a in m.get("attachments") or []:
            if a.get("data") is not None:
                data = base64.b64decode(a["data"], validate=True)
                if store.put_file(data) != a["sha256"]:
                    raise ValueError(f"attachment {a['filename']!r} does not match its sha256")
                counts["files"] += 1
            repo.restore(store, "attachments", {
                "message_id": m["id"], "filename": a["filename"], "content_type": a["content_type"],
                "size": a["size"], "sha256": a["sha256"], "content_id": a.get("content_id"),
                "inline": int(bool(a.get("inline"))),
            })
        counts["messages"] += 1
    for e in t.get("events") or []:
        if repo.event_exists(store, e["id"]):
            continue
        repo.restore(store, "events", {
            "id": e["id"], "ticket_id": e.get("ticket_id"), "contact_id": e.get("contact_id"),
            "actor": e["actor"], "action": e["action"],
            "detail": json.dumps(e.get("detail") or {}, ensure_ascii=False, sort_keys=True),
            "at": e["at"],
        })



# -- a batch of lines at once ----------------------------------------------
# The rows _import_ticket writes, in the same order within each table, with
# the same values; what it looks up one row at a time is looked up for the
# whole batch first, and what the batch itself adds is remembered.

_CONTACT = ("id", "name", "created_at", "updated_at")
_IDENTITY = ("contact_id", "kind", "channel", "address", "created_at")
_TICKET = ("id", "status", "priority", "subject", "channel", "account", "contact_id", "assignee",
           "created_at", "updated_at", "first_response_at", "solved_at", "closed_at",
           "first_response_due", "resolution_due", "sla_policy", "snoozed_until",
           "last_message_at", "last_inbound_at", "message_count", "conversation")
_TAG = ("ticket_id", "tag")
_CSAT = ("ticket_id", "contact_id", "asked_at", "outbox_id", "rating", "comment", "answered_at",
         "message_id")
_MESSAGE = ("id", "ticket_id", "direction", "channel", "account", "external_id", "from_name",
            "from_address", "to_json", "cc_json", "subject", "text", "html", "sent_at",
            "created_at", "in_reply_to", "refs", "conversation", "author", "delivery_state",
            "delivery_error", "auto_reason", "source_ref", "meta", "language")
_ORIGINAL = ("message_id", "raw")
_ATTACHMENT = ("message_id", "filename", "content_type", "size", "sha256", "content_id", "inline")
_EVENT = ("id", "ticket_id", "contact_id", "actor", "action", "detail", "at")


#: One line made ready to write (by ``_candidate``, in a reading process
#: or in this one): plain tuples, cheap to send between processes. The
#: keys come first so that what is already stored can be skipped:
#: (ticket id, contact, ticket row, tag rows, csat row or None, messages,
#: events, links), a contact being (id, row, ((kind, address), row) per
#: identity), a message (id, (channel, external_id) or None, row,
#: original row or None, attachment rows, (data, sha256, filename) per
#: attachment file), an event (id, row).
Candidate = tuple[Any, ...]


def _candidate(t: dict[str, Any]) -> Candidate:
    """``_import_ticket``'s rows for a checked line, as if nothing were
    stored. Raises ``ValueError`` or ``binascii.Error`` where it would
    (the caller then writes the line as ``_import_ticket`` does, which
    raises only if the part that raised is not skipped)."""
    now = t.get("created_at") or ""
    contact = t.get("contact")
    tid = t["id"]
    cand_contact = None
    if contact:
        from supportctl.channels import identity_kind

        cid = contact["id"]
        idents = []
        for ident in contact.get("identities") or []:
            kind = identity_kind(ident["channel"])
            idents.append(((kind, ident["address"]),
                           (cid, kind, ident["channel"], ident["address"], now)))
        cand_contact = (cid, (cid, contact.get("name") or "", now, now), tuple(idents))
    sla = t.get("sla") or {}
    ticket = (
        tid, t["status"], t.get("priority") or "normal", t.get("subject") or "", t["channel"],
        t.get("account"), contact["id"] if contact else None, t.get("assignee"),
        t["created_at"], t["updated_at"], t.get("first_response_at"), t.get("solved_at"),
        t.get("closed_at"), sla.get("first_response_due"), sla.get("resolution_due"),
        sla.get("policy"), t.get("snoozed_until"), t.get("last_message_at"),
        t.get("last_inbound_at"), t.get("message_count") or 0, t.get("conversation"))
    tags = tuple((tid, tag) for tag in t.get("tags") or [])
    csat = None
    cs = t.get("csat")
    if isinstance(cs, dict) and cs.get("asked_at"):
        _check_csat(cs)
        # record_csat_asked, then record_csat_answer when answered: one row.
        answered = bool(cs.get("answered_at") and cs.get("rating"))
        csat = (tid, contact["id"] if contact else None, cs["asked_at"], None,
                cs["rating"] if answered else None,
                (cs.get("comment") or None) if answered else None,
                cs["answered_at"] if answered else None, None)
    messages = []
    for m in t.get("messages") or []:
        mid = m["id"]
        ext = m.get("external_id")
        delivery = m.get("delivery") or {}
        frm = m.get("from") or {}
        to, cc, meta = m.get("to"), m.get("cc"), m.get("meta")
        row = (
            mid, tid, m["direction"], m["channel"], m.get("account"), ext,
            frm.get("name", ""), frm.get("address", ""),
            json.dumps(to, ensure_ascii=False) if to else "[]",
            json.dumps(cc, ensure_ascii=False) if cc else "[]",
            m.get("subject") or "", m.get("text") or "", m.get("html"),
            m["sent_at"], m.get("created_at") or m["sent_at"],
            m.get("in_reply_to"), m.get("references"), m.get("conversation"), m.get("author"),
            delivery.get("state"), delivery.get("error"), m.get("auto_reason"),
            m.get("source_ref"),
            json.dumps(meta, ensure_ascii=False, sort_keys=True) if meta else None,
            m.get("language"))
        original = (mid, base64.b64decode(m["raw"], validate=True)) if m.get("raw") else None
        attachments, files = [], []
        for a in m.get("attachments") or []:
            if a.get("data") is not None:
                files.append((base64.b64decode(a["data"], validate=True), a["sha256"],
                              a["filename"]))
            attachments.append((mid, a["filename"], a["content_type"], a["size"], a["sha256"],
                                a.get("content_id"), int(bool(a.get("inline")))))
        messages.append((mid, (m["channel"], ext) if ext else None, row, original,
                         tuple(attachments), tuple(files),
                         stored_messages.has_unspaced(row[10], row[11])))
    events = tuple((e["id"], (
        e["id"], e.get("ticket_id"), e.get("contact_id"), e["actor"], e["action"],
        json.dumps(e.get("detail") or {}, ensure_ascii=False, sort_keys=True), e["at"]))
        for e in t.get("events") or [])
    links = tuple((tid, key, t[key]) for key in ("merged_into", "linked_ticket") if t.get(key))
    return (tid, cand_contact, ticket, tags, csat, tuple(messages), events, links)


class _Batch:
    """What is stored before the batch (looked up at once) and what the
    batch adds, as the one-line-at-a-time path would find it; and the rows
    to write, table by table."""

    def __init__(self, store: Store, cands: list[Candidate]) -> None:
        tickets, contacts, messages, events = [], [], [], []
        idents: set[tuple[str, str]] = set()
        keys: set[tuple[str, str]] = set()
        for tid, contact, _, _, _, msgs, evs, _ in cands:
            tickets.append(tid)
            if contact:
                contacts.append(contact[0])
                idents.update(k for k, _ in contact[2])
            for m in msgs:
                messages.append(m[0])
                if m[1]:
                    keys.add(m[1])
            events += [e[0] for e in evs]
        self.tickets = repo.stored_ids(store, "tickets", tickets)
        self.contacts = repo.stored_ids(store, "contacts", contacts)
        self.messages = repo.stored_ids(store, "messages", messages)
        self.events = repo.stored_ids(store, "events", events)
        self.identities = repo.taken_identities(store, idents)
        self.keys = repo.taken_message_keys(store, keys)
        self.rows: dict[str, list[tuple[Any, ...]]] = {
            "contacts": [], "identities": [], "tickets": [], "tags": [], "csat": [],
            "messages": [], "originals": [], "attachments": [], "events": []}
        #: The messages written with a character of an unspaced script
        #: (the trigram index's, ``has_unspaced``; told in the reading
        #: process, so the writer's fill need not test every message).
        self.unspaced: list[int] = []

    def add(self, store: Store, c: Candidate, counts: dict[str, int]) -> bool:
        """Add a line's rows as ``_import_ticket`` would write them; False
        when its ticket is stored (the line is skipped)."""
        tid, contact, ticket, tags, csat, msgs, evs, _ = c
        if tid in self.tickets:
            return False
        self.tickets.add(tid)
        rows = self.rows
        if contact and contact[0] not in self.contacts:
            self.contacts.add(contact[0])
            rows["contacts"].append(contact[1])
            counts["contacts"] += 1
            for key, row in contact[2]:
                if key not in self.identities:
                    self.identities.add(key)
                    rows["identities"].append(row)
        rows["tickets"].append(ticket)
        counts["tickets"] += 1
        rows["tags"] += tags
        if csat:
            rows["csat"].append(csat)
        for mid, key, row, original, attachments, files, unspaced in msgs:
            if mid in self.messages:
                continue
            if key:
                if key in self.keys:
                    continue
                self.keys.add(key)
            self.messages.add(mid)
            rows["messages"].append(row)
            if unspaced:
                self.unspaced.append(mid)
            if original:
                rows["originals"].append(original)
            for data, sha, filename in files:
                if store.put_file(data) != sha:
                    raise ValueError(f"attachment {filename!r} does not match its sha256")
                counts["files"] += 1
            rows["attachments"] += attachments
            counts["messages"] += 1
        for eid, row in evs:
            if eid not in self.events:
                self.events.add(eid)
                rows["events"].append(row)
        return True

    def write(self, store: Store) -> None:
        r = self.rows
        repo.restore_many(store, "contacts", _CONTACT, r["contacts"])
        repo.restore_many(store, "identities", _IDENTITY, r["identities"])
        repo.restore_many(store, "tickets", _TICKET, r["tickets"])
        repo.restore_many(store, "tags", _TAG, r["tags"], ignore_conflicts=True)
        repo.restore_many(store, "csat", _CSAT, r["csat"])
        repo.restore_many(store, "messages", _MESSAGE, r["messages"])
        repo.restore_many(store, "originals", _ORIGINAL, r["originals"])
        repo.restore_many(store, "attachments", _ATTACHMENT, r["attachments"])
        repo.restore_many(store, "events", _EVENT, r["events"])
