"""The ticket store and triage command line, through the CLI as a script
uses it (stdout not a terminal, JSON formats)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import ROOT, run_cli


def _new(cli: Any, *extra: str) -> int:
    r = cli("new", "--channel", "phone", "--to", "+390612345678", "--subject", "Reso ordine",
            "-m", "Vuole restituire le scarpe", *extra)
    assert r.code == 0, r
    return int(r.out.strip())


def test_script_flow_and_lossless_round_trip(cli: Any, tmp_path: Path) -> None:
    tid = _new(cli)
    assert cli("tag", "vip,returns", str(tid)).code == 0
    assert cli("assign", "marta", str(tid)).code == 0
    assert cli("snooze", "2h", str(tid)).code == 0
    assert cli("note", str(tid), "-m", "called back, label sent").code == 0
    assert cli("list", "--format", "json").json() == []  # snoozed: hidden from the default list
    # ... but every ticket is in `--status all`, and `--snoozed` lists them (issue 10).
    assert [t["id"] for t in cli("list", "--status", "all", "--format", "json").json()] == [tid]
    assert [t["id"] for t in cli("list", "--snoozed", "--format", "json").json()] == [tid]
    assert cli("close", str(tid)).code == 0
    shown = cli("show", str(tid), "--format", "json").json()
    assert shown["status"] == "closed"
    assert shown["tags"] == ["returns", "vip"]
    assert shown["assignee"] == "marta"
    # done: no reminder left, and the ticket is in `list --status closed`
    assert shown["snoozed_until"] is None
    assert [t["id"] for t in cli("list", "--status", "closed", "--format", "json").json()] == [tid]
    assert [m["direction"] for m in shown["messages"]] == ["in", "note"]
    assert shown["contact"]["identities"] == [{"channel": "phone", "address": "+390612345678"}]
    actions = [e["action"] for e in shown["events"]]
    assert actions[:1] == ["create"] and {"tag", "assign", "snooze", "note", "status",
                                          "unsnooze"} <= set(actions)
    assert all(e["actor"] == "tester" for e in shown["events"])

    first = cli("export", "--format", "jsonl", "--messages")
    assert first.code == 0 and first.out.count("\n") == 1
    dump = tmp_path / "dump.jsonl"
    dump.write_text(first.out)
    other = tmp_path / "other.db"
    imp = run_cli("--db", str(other), "import", str(dump), "--format", "jsonl")
    assert imp.code == 0, imp
    second = run_cli("--db", str(other), "export", "--format", "jsonl", "--messages")
    assert second.out == first.out
    # importing again skips existing ids
    again = run_cli("--db", str(other), "import", str(dump), "--format", "jsonl")
    assert "1 already present" in again.err
    assert run_cli("--db", str(other), "export", "--format", "jsonl", "--messages").out == first.out


def test_plain_export_round_trip(cli: Any, tmp_path: Path) -> None:
    for _ in range(3):
        _new(cli)
    first = cli("export")
    dump = tmp_path / "d.jsonl"
    dump.write_text(first.out)
    other = tmp_path / "o.db"
    assert run_cli("--db", str(other), "import", str(dump)).code == 0
    assert run_cli("--db", str(other), "export").out == first.out
    assert cli("export", "--format", "csv").out.splitlines()[0].startswith("id,status")
    assert len(cli("export", "--format", "json").json()) == 3


def test_unknown_ids_exit_3_and_rest_still_done(cli: Any) -> None:
    tid = _new(cli)
    r = cli("show", "999")
    assert r.code == 3 and r.err.count("\n") == 1 and "999" in r.err and "Traceback" not in r.err
    r = cli("close", "999", str(tid))
    assert r.code == 3 and "999" in r.err
    assert cli("show", str(tid), "--format", "json").json()["status"] == "closed"


def test_ids_from_stdin(cli: Any) -> None:
    ids = [_new(cli) for _ in range(3)]
    listed = cli("list", "--format", "ids")
    assert sorted(int(x) for x in listed.out.split()) == ids
    r = cli("close", "-", input=listed.out)
    assert r.code == 0, r
    assert cli("list", "--format", "ids").out == ""
    assert len(cli("list", "--status", "closed", "--format", "ids").out.split()) == 3


def test_bad_flag_exits_2(cli: Any) -> None:
    r = cli("list", "--bogus")
    assert r.code == 2 and "--bogus" in r.err
    # The command line's own mistakes are one line too, saying where to look.
    for args, said in ((("list", "--bogus"), "supportctl list: No such option: --bogus"),
                       (("lst",), "No such command 'lst'. Did you mean 'list'?"),
                       (("list", "--limit", "abc"), "'abc' is not a valid int"),
                       (("show",), "supportctl show: Missing argument 'ID'")):
        r = cli(*args)
        assert r.code == 2 and r.out == "" and r.err.count("\n") == 1, r
        assert r.err.startswith("error: ") and said in r.err and " -h' lists" in r.err, r
    r = cli("list", "--status", "nope")
    assert r.code == 2 and "nope" in r.err
    r = cli("list", "--format", "xml")
    assert r.code == 2 and "xml" in r.err
    r = cli("list", "--since", "2026-11-20", "--until", "2026-11-10")
    assert r.code == 2 and "--until (2026-11-10) must be after --since (2026-11-20)" in r.err, r


def test_global_options_after_the_command(cli: Any, tmp_path: Path) -> None:
    db = tmp_path / "late.db"
    assert run_cli("init", "--db", str(db), "-q").code == 0
    r = run_cli("new", "--channel", "phone", "--to", "Ada", "-m", "hi", "--db", str(db), "-q")
    assert r.code == 0, r
    assert db.exists()


def test_status_rules(cli: Any) -> None:
    tid = _new(cli)
    assert cli("show", str(tid), "--format", "json").json()["status"] == "new"
    cli("solve", str(tid))
    t = cli("show", str(tid), "--format", "json").json()
    assert t["status"] == "solved" and t["solved_at"]
    cli("reopen", str(tid))
    t = cli("show", str(tid), "--format", "json").json()
    assert t["status"] == "open" and t["solved_at"] is None


def test_priority_sort_and_filters(cli: Any) -> None:
    a, b, c = (_new(cli) for _ in range(3))
    cli("priority", "urgent", str(b))
    cli("priority", "low", str(c))
    cli("assign", "ada", str(a))
    ids = [t["id"] for t in cli("list", "--sort", "priority", "--format", "json").json()]
    assert ids[0] == b and ids[-1] == c
    assert [t["id"] for t in cli("list", "--assignee", "ada", "--format", "json").json()] == [a]
    assert {t["id"] for t in cli("list", "--assignee", "none", "--format", "json").json()} == {b, c}
    assert [t["id"] for t in cli("list", "--priority", "urgent", "--format", "json").json()] == [b]
    assert cli("list", "--limit", "1", "--format", "jsonl").out.count("\n") == 1


def test_search_fields_phrases_negation(cli: Any) -> None:
    a = _new(cli)
    r = cli("new", "--channel", "in-person", "--to", "Hans Meier", "--subject", "Garantie Uhr",
            "-m", "Die Uhr bleibt stehen, Garantie bitte")
    b = int(r.out)
    cli("tag", "warranty", str(b))
    cli("close", str(b))

    def ids(*q: str) -> list[int]:
        res = cli("search", *q, "--format", "json")
        assert res.code == 0, res
        return [t["id"] for t in res.json()]

    assert ids("garantie") == [b]  # every status, closed included
    assert ids("scarpe") == [a]
    assert ids('"bleibt stehen"') == [b]
    assert ids('"stehen bleibt"') == []
    assert ids("subject:garantie") == [b]
    assert ids("tag:warranty") == [b]
    assert ids("status:new") == [a]
    assert ids("uhr", "-tag:warranty") == []
    assert ids("is:unassigned", "-garantie") == [a]
    assert cli("search", "nothingmatches").out == ""
    res = cli("search", "garantie", "--format", "json").json()
    assert "Garantie" in res[0]["snippet"]


def test_merge_and_delete(cli: Any) -> None:
    a, b = _new(cli), _new(cli)
    assert cli("merge", str(a), str(b)).code == 2  # needs --yes off a terminal
    assert cli("merge", str(a), str(b), "--yes").code == 0
    tb = cli("show", str(b), "--format", "json").json()
    assert tb["message_count"] == 2 and len(tb["messages"]) == 2
    ta = cli("show", str(a), "--format", "json").json()
    assert ta["merged_into"] == b and ta["status"] == "closed"
    assert cli("delete", str(b)).code == 2
    assert cli("delete", str(b), "--yes").code == 0
    assert cli("show", str(b)).code == 3


def test_contacts_link_merge_forget(cli: Any) -> None:
    tid = _new(cli)
    contact = cli("show", str(tid), "--format", "json").json()["contact"]["id"]
    r = cli("new", "--channel", "post", "--to", "giulia@example.com", "-m", "lettera")
    t2 = int(r.out)
    c2 = cli("show", str(t2), "--format", "json").json()["contact"]["id"]
    assert c2 != contact
    assert cli("contact", "link", str(contact), "giulia@example.com").code == 0
    shown = cli("show", str(tid), "--format", "json").json()
    assert [o["id"] for o in shown["contact_tickets"]] == [t2]
    assert {i["address"] for i in shown["contact"]["identities"]} == {"+390612345678",
                                                                      "giulia@example.com"}
    listed = cli("contact", "list", "--format", "json").json()
    assert len(listed) == 1
    r = cli("contact", "forget", str(contact), "--yes")
    assert r.code == 0, r
    gone = cli("show", str(tid), "--format", "json").json()
    assert gone["messages"][0]["text"] == "[forgotten]"
    assert gone["contact"]["identities"] == []
    assert cli("export").out.count("scarpe") == 0


def test_db_commands(cli: Any, tmp_path: Path) -> None:
    _new(cli)
    info = cli("db", "info", "--format", "json").json()
    assert info["tickets"] == 1 and info["schema_version"] >= 1
    backup = tmp_path / "b.db"
    assert cli("db", "backup", str(backup)).code == 0
    assert run_cli("--db", str(backup), "list", "--format", "ids").out.strip() == "1"
    assert cli("db", "vacuum").code == 0
    assert cli("db", "migrate").code == 0


def test_closed_pipe_is_quiet(cli: Any) -> None:
    import subprocess
    import sys

    for _ in range(3):
        _new(cli)
    p = subprocess.run(
        f"{sys.executable} -m supportctl --db {cli.db} export | head -c 10",
        shell=True, capture_output=True, text=True,
    )
    assert p.stderr == ""


def test_closed_pipe_ends_with_exit_0(cli: Any, tmp_path: Path) -> None:
    # `export | head` exited 1 (a failure under `set -o pipefail`): click
    # ends a broken pipe with sys.exit(1), which bypassed the quiet exit 0.
    import json
    import subprocess
    import sys

    lines = []
    for i in range(1, 401):
        at = "2026-11-20T10:00:00Z"
        lines.append(json.dumps({
            "id": i, "status": "open", "priority": "normal", "subject": f"Parcel {i} " + "x" * 200,
            "channel": "email", "account": None, "created_at": at, "updated_at": at,
            "contact": {"id": i, "name": f"C {i}", "identities": [
                {"channel": "email", "address": f"c{i}@example.com"}]},
            "assignee": None, "tags": [], "sla": {}, "message_count": 0, "messages": [],
            "events": []}))
    dump = tmp_path / "many.jsonl"
    dump.write_text("\n".join(lines) + "\n")
    assert cli("import", str(dump), "--format", "jsonl").code == 0
    for command in ("export", "list --status all", "search parcel"):
        p = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {sys.executable} -m supportctl --db {cli.db}"
                           f" {command} | head -c 10"],
            capture_output=True, text=True, cwd=ROOT)
        assert (p.returncode, p.stderr) == (0, ""), (command, p)


def test_list_query_combines_with_filters(cli: Any) -> None:
    a = _new(cli)
    r = cli("new", "--channel", "phone", "--to", "Bob", "--subject", "Garantie", "-m", "Uhr kaputt")
    b = int(r.out)
    cli("tag", "vip", str(b))
    ids = lambda *a_: [t["id"] for t in cli("list", *a_, "--format", "json").json()]  # noqa: E731
    assert ids("--query", "uhr") == [b]
    assert ids("--query", "uhr", "--tag", "vip") == [b]
    assert ids("--query", "-uhr") == [a]
    assert ids("--query", "scarpe tag:vip") == []
