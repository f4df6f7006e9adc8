"""``import --format jsonl`` writes a batch of lines at a time (and, for a
large file, reads ahead in a second process); the store it leaves, every
table, every row, every word in the full-text indexes, and the error it
raises, are those of writing one line at a time."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supportctl.errors import UsageError
from supportctl.services import transfer
from supportctl.services.transfer import import_jsonl, import_jsonl_file
from supportctl.store.db import Store

FTS = ("messages_fts", "addresses_fts", "messages_cjk")


def snapshot(db: Path) -> dict[str, Any]:
    """Every row of every table (the full-text indexes' own tables aside),
    the words each full-text index holds (term, row, column, offset), and
    the attachment files."""
    c = sqlite3.connect(db)
    try:
        tables = [r[0] for r in c.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            if not r[0].startswith(FTS)]
        out: dict[str, Any] = {t: sorted(c.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
                               for t in tables if t != "_sqlite_migrations"}
        for fts in FTS:
            c.execute(f"CREATE VIRTUAL TABLE temp.v_{fts} USING fts5vocab(main, {fts}, instance)")
            out[fts] = c.execute(f"SELECT * FROM temp.v_{fts} ORDER BY 1, 2, 3, 4").fetchall()
        out["schema"] = sorted(c.execute("SELECT type, name, sql FROM sqlite_master").fetchall(),
                               key=repr)
    finally:
        c.close()
    files = db.with_name(db.stem + ".files")
    out["files"] = sorted(p.name for p in files.rglob("*") if p.is_file()) if files.exists() else []
    return out


def attachment(data: bytes) -> dict[str, Any]:
    return {"filename": "a.txt", "content_type": "text/plain", "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "data": base64.b64encode(data).decode("ascii")}


def ticket(tid: int, *, contact: int | None = None, addresses: tuple[str, ...] = (),
           messages: tuple[tuple[int, str | None], ...] = (), events: tuple[int, ...] = (),
           tags: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    t: dict[str, Any] = {
        "id": tid, "status": "open", "priority": "normal", "subject": f"order {tid}",
        "channel": "email", "created_at": "2026-11-01T10:00:00Z",
        "updated_at": "2026-11-02T10:00:00Z", "tags": list(tags),
        "sla": {"first_response_due": "2026-11-01T11:00:00Z", "resolution_due": None},
        "contact": None if contact is None else {
            "id": contact, "name": f"Eve {contact}",
            "identities": [{"channel": "email", "address": a} for a in addresses]},
        "messages": [{"id": mid, "direction": "in" if mid % 2 else "out", "channel": "email",
                      "sent_at": f"2026-11-01T10:{mid % 60:02d}:00Z", "external_id": ext,
                      "from": {"name": "Eve", "address": "eve@example.com"},
                      "to": [{"name": "Shop", "address": "shop@example.com"}] if mid % 3 else [],
                      "subject": f"where is parcel {mid}?",
                      "text": "注文番号の商品がまだ届きません" if mid % 5 == 0 else f"parcel {mid} is late",
                      "attachments": [attachment(b"bytes %d" % mid)] if mid % 4 == 0 else []}
                     for mid, ext in messages],
        "events": [{"id": e, "ticket_id": tid, "contact_id": contact, "actor": "bob",
                    "action": "tag", "detail": {"tag": "x"}, "at": "2026-11-01T10:00:00Z"}
                   for e in events],
    }
    t.update(extra)
    return t


def run(tmp_path: Path, name: str, seed: list[dict[str, Any]], lines: list[dict[str, Any]],
        how: str, *, batches_only: bool = False) -> tuple[str, dict[str, Any]]:
    """Import ``seed`` then ``lines`` into a new store; the error (or "")
    and the store's snapshot. ``batches_only``: fail if any line of
    ``lines`` is written one at a time (the batch path gave up)."""
    db = tmp_path / name / "s.db"
    db.parent.mkdir()
    store = Store(db)
    error = ""
    try:
        import_jsonl(store, [json.dumps(t) for t in seed], batched=False)
        text = [json.dumps(t) for t in lines]
        if batches_only:
            mp = pytest.MonkeyPatch()
            mp.setattr(transfer, "_import_ticket", _no_line_at_a_time)
        try:
            if how == "lines":
                import_jsonl(store, text, batched=False)
            elif how == "batches":
                import_jsonl(store, text)
            else:
                f = tmp_path / name / "in.jsonl"
                f.write_text("\n".join(text) + "\n")
                import_jsonl_file(store, f, ahead=how == "reader")
        except UsageError as exc:
            error = str(exc)
        finally:
            if batches_only:
                mp.undo()
    finally:
        store.close()
    return error, snapshot(db)


def _no_line_at_a_time(*args: Any) -> None:
    raise AssertionError("a batch was written one line at a time")


SEED = [ticket(1, contact=1, addresses=("a@example.com",), messages=((1, "<m1>"),), events=(1,),
               tags=("vip",)),
        ticket(2, contact=2, addresses=("b@example.com",), status="closed")]
LINES = [
    ticket(1, contact=9, messages=((50, None),)),  # stored: skipped
    ticket(3, contact=1, messages=((1, None), (3, "<m1>"), (4, "<m4>"), (5, None)),
           events=(1, 3), tags=("vip", "vip", "late"),
           csat={"asked_at": "2026-11-03T10:00:00Z", "rating": 4, "comment": "",
                 "answered_at": "2026-11-04T10:00:00Z"}),
    ticket(4, contact=3, addresses=("a@example.com", "c@example.com", "c@example.com"),
           messages=((6, "<m4>"), (7, "<m7>"), (8, None)), events=(3, 4),
           merged_into=12, linked_ticket=99,
           csat={"asked_at": "2026-11-03T10:00:00Z", "rating": None}),
    ticket(4, contact=4, messages=((9, None),)),  # the same ticket again: skipped
    ticket(5, contact=3, addresses=("d@example.com",), messages=((7, None), (10, None)),
           tags=("vip",)),
    *[ticket(n, contact=n % 7 + 1, addresses=(f"{n % 5}@example.com",),
             messages=tuple((100 + 10 * n + k, f"<{n}.{k}>" if k % 2 else None) for k in range(6)),
             events=(n,), tags=("bulk",) if n % 2 else ())
      for n in range(6, 14)],
    ticket(14, contact=2, messages=((300, None),), tags=("x",),
           csat={"asked_at": "2026-11-03T10:00:00Z", "rating": 9}),  # bad rating: line 14
]


@pytest.mark.parametrize("batch", [200, 3])
def test_batches_leave_the_store_lines_leave(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            batch: int) -> None:
    monkeypatch.setattr(transfer, "BATCH_LINES", batch)
    good = LINES[:-1]
    one = run(tmp_path, "lines", SEED, good, "lines")
    assert one[0] == ""
    assert one[1]["messages"] and one[1]["csat"] and one[1]["files"]
    assert run(tmp_path, "batches", SEED, good, "batches", batches_only=True) == one
    assert run(tmp_path, "file", SEED, good, "file", batches_only=True) == one


@pytest.mark.parametrize("every", [1, 4, 10**9])
def test_the_full_text_filled_in_chunks_holds_what_the_triggers_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, every: int) -> None:
    """The import leaves its messages out of the full-text indexes and
    fills them ``FTS_EVERY`` messages at a time (after each batch, after
    four messages, once at the end): the same words, rows and offsets as
    the triggers write row by row. The imported ids fall below and above
    the seed's, so some rows are indexed by the triggers even then."""
    monkeypatch.setattr(transfer, "BATCH_LINES", 3)
    good = LINES[:-1]
    with monkeypatch.context() as mp:
        mp.setattr(transfer.stored_messages, "defer_full_text", lambda store: None)
        want = run(tmp_path, "triggers", SEED, good, "batches")
    assert want[0] == "" and want[1]["messages_fts"]
    monkeypatch.setattr(transfer, "FTS_EVERY", every)
    assert run(tmp_path, f"every{every}", SEED, good, "batches") == want


def test_the_reader_process_leaves_the_same_store(tmp_path: Path) -> None:
    one = run(tmp_path, "lines", SEED, LINES[:-1], "lines")
    assert run(tmp_path, "reader", SEED, LINES[:-1], "reader") == one


@pytest.mark.parametrize("how", ["batches", "reader"])
def test_a_line_that_cannot_be_written_is_named_as_before(tmp_path: Path, how: str) -> None:
    one = run(tmp_path, "lines", SEED, LINES, "lines")
    assert one[0].startswith("line 14: csat.rating 9")
    assert run(tmp_path, how, SEED, LINES, how) == one
    # A row the store refuses (a sender's name null) is named by its line too.
    refused = [*LINES[:5], ticket(20, messages=((400, None),))]
    refused[-1]["messages"][0]["from"]["name"] = None
    one = run(tmp_path, "lines2", SEED, refused, "lines")
    assert one[0].startswith("line 6: NOT NULL constraint failed")
    assert run(tmp_path, how + "2", SEED, refused, how) == one
    # A line that is not JSON after a line the store refuses: the first is named.
    f = tmp_path / "bad.jsonl"
    f.write_text("\n".join([*(json.dumps(t) for t in refused), "{"]) + "\n")
    store = Store(tmp_path / "bad.db")
    try:
        with pytest.raises(UsageError, match="^line 6: NOT NULL"):
            import_jsonl_file(store, f, ahead=how == "reader")
    finally:
        store.close()


IDS = st.integers(1, 6)


@st.composite
def lines(draw: Any) -> list[dict[str, Any]]:
    return [ticket(draw(IDS), contact=draw(st.none() | IDS),
                   addresses=tuple(draw(st.lists(st.sampled_from("abc"), max_size=2))),
                   messages=tuple(draw(st.lists(st.tuples(st.integers(1, 12),
                                                          st.sampled_from([None, "<x>", "<y>"])),
                                                max_size=3))),
                   events=tuple(draw(st.lists(IDS, max_size=2))),
                   tags=tuple(draw(st.lists(st.sampled_from(["vip", "late"]), max_size=2))))
            for _ in range(draw(st.integers(1, 6)))]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=lines(), more=lines())
def test_any_overlap_of_ids_is_skipped_as_line_by_line(tmp_path_factory: pytest.TempPathFactory,
                                                       seed: list[dict[str, Any]],
                                                       more: list[dict[str, Any]]) -> None:
    """Stored and repeated tickets, contacts, identities, messages (by id
    and by external id) and events: the same skipped, the same written."""
    tmp = tmp_path_factory.mktemp("overlap")
    assert run(tmp, "batches", seed, more, "batches", batches_only=True) \
        == run(tmp, "lines", seed, more, "lines")


class Recorded:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def start(self, key: str, label: str, total: int | None, *, note: str = "") -> None:
        self.calls.append(("start", total))

    def advance(self, key: str, n: int = 1) -> None:
        self.calls.append(("advance", n))

    def finish(self, key: str) -> None:
        self.calls.append(("finish", None))


@pytest.mark.parametrize("ahead", [False, True])
def test_progress_counts_every_line_read_ahead_or_not(tmp_path: Path, ahead: bool) -> None:
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join([*(json.dumps(t) for t in LINES[:-1]), ""]) + "\n")
    shown = Recorded()
    store = Store(tmp_path / "s.db")
    try:
        counts = import_jsonl_file(store, f, shown, ahead=ahead)  # type: ignore[arg-type]
    finally:
        store.close()
    assert (counts["tickets"], counts["skipped"]) == (len(LINES) - 2, 1)
    assert shown.calls[0] == ("start", len(LINES))
    assert sum(n for what, n in shown.calls if what == "advance") == len(LINES)
    assert shown.calls[-1] == ("finish", None)


def _reader_that_dies(path: str, send: Any) -> None:
    """In the reading process: one batch of the file, then gone (killed)."""
    import os

    with open(path, encoding="utf-8") as fh:
        batch = next(transfer._batches(fh, keep_text=True))
    send.send(("batch", batch, len(batch)))
    os._exit(9)


def test_a_reading_process_that_dies_leaves_nothing_imported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transfer, "_reader", _reader_that_dies)  # the reading process runs it
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join(json.dumps(t) for t in LINES[:-1]) + "\n")
    store = Store(tmp_path / "s.db")
    try:
        with pytest.raises(transfer.SupportError, match="stopped unexpectedly: nothing was imported"):
            import_jsonl_file(store, f, ahead=True)
        assert store.scalar("SELECT count(*) FROM tickets") == 0
    finally:
        store.close()


def _reader_that_sends_garbage(path: str, send: Any) -> None:
    """In the reading process: bytes that are no pickle."""
    send.send_bytes(b"not a pickle")
    send.close()


def test_what_cannot_be_received_is_raised_in_the_writer_not_waited_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    monkeypatch.setattr(transfer, "_reader", _reader_that_sends_garbage)
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join(json.dumps(t) for t in LINES[:-1]) + "\n")
    store = Store(tmp_path / "s.db")
    try:
        with pytest.raises(pickle.UnpicklingError):
            import_jsonl_file(store, f, ahead=True)
        assert store.scalar("SELECT count(*) FROM tickets") == 0
    finally:
        store.close()


def _fts_settings(db: Path) -> dict[str, list[tuple[str, Any]]]:
    c = sqlite3.connect(db)
    try:
        return {t: c.execute(f"SELECT k, v FROM {t}_config WHERE k IN ('automerge', 'hashsize')"
                             " ORDER BY k").fetchall() for t in FTS}
    finally:
        c.close()


@pytest.mark.parametrize("bad", [False, True])
def test_an_import_leaves_the_full_text_settings_as_they_were(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: bool) -> None:
    """A long import fills the full-text indexes without FTS5 merging as
    it goes (``full_text_in_bulk``); after it, done or refused, FTS5
    merges as before (an owner's own setting kept), and the indexes pass
    FTS5's own integrity check."""
    monkeypatch.setattr(transfer, "BATCH_LINES", 3)
    monkeypatch.setattr(transfer, "FTS_EVERY", 4)
    db = tmp_path / "s.db"
    store = Store(db)
    try:
        store.execute("INSERT INTO addresses_fts(addresses_fts, rank) VALUES ('automerge', 8)")
        seen: list[Any] = []
        index = transfer.stored_messages.index_deferred
        monkeypatch.setattr(transfer.stored_messages, "index_deferred", lambda s, *args: (
            seen.append(s.scalar("SELECT v FROM messages_fts_config WHERE k = 'automerge'")),
            index(s, *args))[1])
        lines = [json.dumps(t) for t in (LINES if bad else LINES[:-1])]
        if bad:
            with pytest.raises(UsageError, match="line 14"):
                import_jsonl(store, lines)
        else:
            import_jsonl(store, lines)
    finally:
        store.close()
    assert seen and set(seen) == {0}  # while it filled
    want = {"automerge": 4, "hashsize": 1 << 20}
    settings = _fts_settings(db)
    if bad:  # rolled back with the rest: as the store had them
        assert settings == {"messages_fts": [], "addresses_fts": [("automerge", 8)],
                            "messages_cjk": []}
    else:
        assert settings == {"messages_fts": sorted(want.items()),
                            "addresses_fts": [("automerge", 8), ("hashsize", 1 << 20)],
                            "messages_cjk": sorted(want.items())}
        c = sqlite3.connect(db)
        try:
            assert c.execute("SELECT count(*) FROM messages").fetchone()[0] > 20
            for t in FTS:
                c.execute(f"INSERT INTO {t}({t}) VALUES ('integrity-check')")
        finally:
            c.close()


def test_messages_imported_below_the_deferral_are_indexed_and_deleted_cleanly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An import defers the full-text indexes from the store's next id on;
    lines whose messages have lower ids (a store already holding later
    ones, a file not in id order across fills) are indexed as they are
    written. Deleting them afterwards must find them there: FTS5 calls an
    index that is handed a row it does not hold corrupt."""
    monkeypatch.setattr(transfer, "BATCH_LINES", 2)
    monkeypatch.setattr(transfer, "FTS_EVERY", 3)
    db = tmp_path / "s.db"
    store = Store(db)
    try:
        import_jsonl(store, [json.dumps(ticket(100, messages=((5000, None),)))])
        lines = [ticket(n, contact=n, addresses=(f"{n}@example.com",),
                        messages=tuple((m, None) for m in range(10 * (30 - n), 10 * (30 - n) + 3)))
                 for n in range(1, 12)]
        import_jsonl(store, [json.dumps(t) for t in lines])
        assert store.scalar("SELECT count(*) FROM messages") == 34
        for t in FTS:
            store.execute(f"INSERT INTO {t}({t}) VALUES ('integrity-check')")
        found = store.scalar("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'parcel'")
        cjk = store.scalar("SELECT count(*) FROM messages_cjk WHERE messages_cjk MATCH '商品が'")
        assert found == 34 and cjk == store.scalar(
            "SELECT count(*) FROM messages WHERE text LIKE '%商品が%'") > 0
        store.execute("DELETE FROM tickets")
        for t in FTS:
            store.execute(f"INSERT INTO {t}({t}) VALUES ('integrity-check')")
    finally:
        store.close()
