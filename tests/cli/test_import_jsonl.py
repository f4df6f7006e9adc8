"""``import --format jsonl`` is all or nothing: a file cut off mid-way, or
a line with a wrong type or value, leaves the store exactly as it was and
exits 2 naming the line (never "internal error")."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.cli.mailfixtures import LIVE


def ticket(tid: int, **change: Any) -> dict[str, Any]:
    t: dict[str, Any] = {
        "id": tid, "status": "open", "priority": "normal", "subject": f"order {tid}", "channel": "email",
        "created_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-01T10:00:00Z", "tags": ["vip"],
        "assignee": "bob",
        "contact": {"id": tid, "name": "Eve", "identities": [
            {"channel": "email", "address": f"eve{tid}@example.com"}]},
        "messages": [{"id": tid, "direction": "in", "channel": "email",
                      "sent_at": "2026-12-01T10:00:00Z", "external_id": f"<{tid}@example.com>",
                      "from": {"name": "Eve", "address": f"eve{tid}@example.com"}, "text": "hi",
                      "attachments": []}],
        "events": [],
    }
    t.update(change)
    return t


def counts(db: Path) -> tuple[int, int, int]:
    c = sqlite3.connect(db)
    try:
        return tuple(c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[return-value]
                     for t in ("tickets", "messages", "contacts"))
    finally:
        c.close()


@pytest.fixture
def seeded(cli: Any, tmp_path: Path) -> Any:
    """A store with one ticket already in it."""
    f = tmp_path / "seed.jsonl"
    f.write_text(json.dumps(ticket(5000)) + "\n")
    assert cli("import", str(f), "--format", "jsonl").code == 0
    return cli


def test_a_file_cut_off_mid_way_imports_nothing(seeded: Any, tmp_path: Path) -> None:
    before = seeded("export", "--messages").out
    lines = [json.dumps(ticket(n)) for n in range(1, 692)]
    lines[-1] = lines[-1][: len(lines[-1]) // 2]  # the copy was cut off here
    f = tmp_path / "cut.jsonl"
    f.write_text("\n".join(lines))
    r = seeded("import", str(f), "--format", "jsonl")
    assert r.code == 2, r
    assert "line 691" in r.err and "nothing was imported" in r.err
    assert counts(seeded.db) == (1, 1, 1)
    assert seeded("export", "--messages").out == before


BAD = [
    ({"id": "7"}, "id"),
    ({"status": f"open{LIVE}"}, "status"),
    ({"status": "archived"}, "status"),
    ({"priority": "asap"}, "priority"),
    ({"tags": [f"vip{LIVE}"]}, "tag"),
    ({"tags": "vip"}, "tags"),
    ({"assignee": "bob\u202e"}, "assignee"),
    ({"created_at": "yesterday"}, "created_at"),
    ({"messages": "hello"}, "messages"),
    ({"messages": [{"id": 9, "direction": "in", "channel": "email", "sent_at": 5}]}, "sent_at"),
    ({"contact": {"id": "x"}}, "contact.id"),
    ({"merged_into": 1e20}, "merged_into"),
]


@pytest.mark.parametrize(("change", "field"), BAD, ids=[f for _, f in BAD])
def test_a_bad_line_names_itself_and_changes_nothing(seeded: Any, tmp_path: Path,
                                                     change: dict[str, Any], field: str) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text("\n".join(json.dumps(t) for t in (ticket(1), ticket(2), ticket(3, **change))) + "\n")
    r = seeded("import", str(f), "--format", "jsonl")
    assert r.code == 2, r
    assert r.err.startswith("error: line 3: ") and field in r.err and "internal error" not in r.err
    assert "\x1b" not in r.err
    assert counts(seeded.db) == (1, 1, 1)


def test_import_keeps_due_times_verbatim_under_an_sla_config(cli: Any, tmp_path: Path) -> None:
    """Tags inserted by an import mark tickets for an SLA recompute; an
    import restores due times as exported (SPEC §6), config or not."""
    config = tmp_path / "config.yaml"
    config.write_text("sla:\n  first_response: 1h\n  resolution: 1d\n  business_hours_only: false\n")
    config.chmod(0o600)
    due = {"first_response_due": "2026-12-09T09:00:00Z", "resolution_due": "2026-12-19T09:00:00Z"}
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(ticket(7, sla=due)) + "\n")
    for pre in ((), ("--config", str(config))):
        db = tmp_path / f"s{len(pre)}.db"
        r = cli("--db", str(db), *pre, "import", str(src), "--format", "jsonl")
        assert r.code == 0, r
        [t] = cli("--db", str(db), *pre, "list", "--status", "all", "--format", "json").json()
        assert {k: t["sla"][k] for k in due} == due
