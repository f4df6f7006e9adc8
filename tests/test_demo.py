"""`supportctl demo` goes through the real parsers and ingest."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CORPUS, run_cli


def test_demo_shows_an_inbox_from_every_channel(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    r = run_cli("--db", str(db), "demo")
    assert r.code == 0, r
    assert "Where is my parcel" in r.out
    listed = run_cli("--db", str(db), "list", "--format", "json").json()
    channels = {t["channel"] for t in listed}
    assert {"email", "phone"} <= channels
    parcel = next(t for t in listed if t["subject"].startswith("Where is my parcel"))
    assert parcel["message_count"] == 2  # the follow-up threaded by In-Reply-To
    giulia = next(t for t in listed if t["channel"] == "phone")
    shown = run_cli("--db", str(db), "show", str(giulia["id"]), "--format", "json").json()
    assert shown["contact_tickets"], "the caller's email ticket shows on her phone ticket"


def test_demo_without_db_leaves_nothing_behind(tmp_path: Path) -> None:
    r = run_cli("demo")
    assert r.code == 0, r
    assert "removed on exit" in r.err


def test_import_the_whole_corpus_nothing_lost(cli) -> None:  # type: ignore[no-untyped-def]
    files = sorted((CORPUS / "flanker").rglob("*.eml"))
    r = cli("import", str(CORPUS / "flanker"), "--format", "eml")
    assert r.code == 0, r
    assert "0 quarantined" in r.err
    from supportctl.mail.parse import content_key, parse_email

    distinct = {(parse_email(f.read_bytes()).external_id, content_key(f.read_bytes()))
                for f in files}
    info = cli("db", "info", "--format", "json").json()
    # several corpus files share a Message-ID but say different things
    # (torture.eml and torture-part.eml): each is kept
    assert info["messages"] == len(distinct) and info["quarantine"] == 0
    bounces = cli("search", "tag:bounce", "--format", "json").json()
    assert bounces  # reports on unknown messages get a ticket tagged bounce
    again = cli("import", str(CORPUS / "flanker"), "--format", "eml")
    assert f"{len(files)} duplicates skipped" in again.err
