"""Parsing ahead (``services.parsing``): the worker processes give ingest
exactly what it would have parsed itself, in the same order, and leave to
ingest whatever they cannot do (so quarantine reasons stay the same)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

from supportctl.mail.parse import parse_email
from supportctl.models import Batch, Inbound
from supportctl.services import parsing
from supportctl.services.language import DEFAULT_LANGUAGES, detect
from tests.conftest import CORPUS

FILES = sorted((CORPUS / "flanker").rglob("*.eml"))


def _fields(item: Inbound) -> dict[str, object]:
    d = dataclasses.asdict(item)
    d["attachments"] = [(a.filename, a.content_type, a.data, a.inline, a.content_id)
                        for a in item.attachments]
    return d


def test_workers_parse_every_corpus_mail_as_ingest_would_in_order() -> None:
    started = datetime.now(timezone.utc)
    raws = [f.read_bytes() for f in FILES] + [b"", b"\x00\x01 not mail at all"]
    batches = [Batch(source="INBOX", cursor=f"1:{k}", total=len(raws),
                     items=[Inbound(medium="email", raw=raw, needs_parse=True, source_ref=f"INBOX:{k}")
                            for raw in raws[k:k + 7]])
               for k in range(0, len(raws), 7)]
    with parsing.Ahead(DEFAULT_LANGUAGES, threshold=0) as ahead:
        out = list(ahead.batches(iter(batches)))
    assert [b.cursor for b in out] == [b.cursor for b in batches]
    got = [item for b in out for item in b.items]
    assert [i.raw for i in got] == raws  # same order, the bytes kept
    parsed = 0
    for raw, item in zip(raws, got, strict=True):
        if item.needs_parse:
            continue  # left to ingest: it parses in-process as before
        parsed += 1
        want = parse_email(raw, source_ref=item.source_ref)
        mine = _fields(item)
        assert mine.pop("language_ready") is True
        assert mine.pop("language") == detect(want.text or want.subject or "", DEFAULT_LANGUAGES)
        theirs = _fields(want)
        theirs.pop("language_ready"), theirs.pop("language")
        if want.sent_at is not None and want.sent_at > started:
            mine.pop("sent_at"), theirs.pop("sent_at")  # no usable Date: "now" differs
        assert mine == theirs
    # The batch that starts the pool is ingest's to parse, while the
    # workers start; every later one is parsed ahead.
    assert all(item.needs_parse for item in out[0].items)
    assert parsed >= len(FILES) - len(batches[0].items) - 2
    # What no parser can read is never parsed ahead: ingest quarantines it.
    assert got[-1].needs_parse and got[-2].needs_parse


def test_small_passes_start_no_pool() -> None:
    items = [Inbound(medium="email", raw=FILES[0].read_bytes(), needs_parse=True)]
    with parsing.Ahead(DEFAULT_LANGUAGES) as ahead:
        out = list(ahead.batches(iter([Batch(source="INBOX", cursor="1:1", items=items, total=1)])))
        assert ahead._pool is None
    assert out[0].items[0].needs_parse  # untouched: ingest parses it


def test_sources_that_may_not_be_read_ahead_pass_through() -> None:
    seen: list[int] = []

    def fetch() -> object:
        for k in range(3):
            seen.append(k)
            yield Batch(source="updates", cursor=str(k), total=10_000, items=[])

    with parsing.Ahead(DEFAULT_LANGUAGES, threshold=0) as ahead:
        for k, batch in enumerate(ahead.batches(fetch(), read_ahead=False)):  # type: ignore[arg-type]
            assert seen == list(range(k + 1))  # never a batch beyond the one handed out
            assert batch.cursor == str(k)


def test_a_prestarted_pool_parses_every_batch_ahead_even_a_small_pass() -> None:
    # A first sync starts the pool before its first batch (cli sync): that
    # batch is parsed by the workers too, not left to ingest.
    raws = [f.read_bytes() for f in FILES[:6]]
    batches = [Batch(source="INBOX", cursor=f"1:{k}", total=len(raws),
                     items=[Inbound(medium="email", raw=raw, needs_parse=True)
                            for raw in raws[k:k + 3]])
               for k in (0, 3)]
    with parsing.Ahead(DEFAULT_LANGUAGES) as ahead:
        ahead.prestart()
        assert ahead.started
        out = list(ahead.batches(iter(batches)))
    assert not ahead.started  # closed with its block
    assert [b.cursor for b in out] == ["1:0", "1:3"]
    assert not any(item.needs_parse for b in out for item in b.items)
    assert [item.raw for b in out for item in b.items] == raws


def test_first_syncs_due_only_for_entries_read_ahead_and_not_yet_synced(tmp_path: object) -> None:
    from pathlib import Path

    from supportctl.services.sync import first_syncs_due
    from supportctl.store import sends
    from supportctl.store.db import open_store

    store = open_store(Path(str(tmp_path)) / "store.db")
    mail = {"name": "mail", "type": "imap"}
    chat = {"name": "chat", "type": "telegram"}
    assert first_syncs_due(None, [mail])  # no store yet
    assert not first_syncs_due(None, [chat])
    assert first_syncs_due(store, [mail])
    assert not first_syncs_due(store, [chat])  # never read ahead: no pool to start
    sends.begin_first_sync(store, "mail", "2026-12-01T00:00:00Z")
    sends.mark_synced(store, "mail", "2026-12-01T00:00:00Z")
    assert first_syncs_due(store, [mail])  # cut off halfway: it resumes
    sends.end_first_sync(store, "mail")
    assert not first_syncs_due(store, [mail, chat])


def test_workers_do_not_run_the_entry_script_again(tmp_path: object) -> None:
    # The console script `supportctl` imports the CLI at its top; spawn
    # would run it again in every worker (about 50 ms each, for nothing).
    import subprocess
    import sys
    from pathlib import Path

    script = Path(str(tmp_path)) / "supportctl-entry.py"
    script.write_text(
        "import sys\n"
        "import supportctl.cli.app  # what the console script imports first\n"
        "if __name__ == '__main__':\n"
        "    from supportctl.services import parsing\n"
        "    from supportctl.services.language import DEFAULT_LANGUAGES\n"
        "    with parsing.Ahead(DEFAULT_LANGUAGES) as ahead:\n"
        "        ahead.prestart()\n"
        "        pool = ahead._start()\n"
        "        seen = pool.submit(eval, \"'supportctl.cli.app' in __import__('sys').modules\")\n"
        "        print(seen.result(), sys.modules['__main__'].__file__ == __file__)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]  # not in the worker; ours as it was
