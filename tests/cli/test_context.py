"""The command line keeps no state between runs: each invocation gets its
own context (options, store, config, display zone, streams), so runs in
one process are as independent as runs in two. These tests fail if a
module-level state object comes back."""

from __future__ import annotations

import ast
import io
import sys
from pathlib import Path

from supportctl.store.db import Store
from tests.conftest import ROOT, run_in_process

NOW = {"SUPPORTCTL_NOW": "2026-12-09T09:00:00Z"}


def _store(path: Path) -> Path:
    Store(path).close()
    return path


def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    import os

    res = run_in_process(list(args), env={**os.environ, **NOW, **(env or {})})
    return res.code, res.out, res.err


def test_two_runs_with_different_db_and_as_are_independent(tmp_path: Path) -> None:
    one, two = _store(tmp_path / "one.db"), _store(tmp_path / "two.db")
    code, _, err = _cli("--db", str(one), "--as", "alice", "new", "--channel", "phone", "--to",
                        "Ann", "--subject", "first store", "-m", "hello")
    assert code == 0, err
    code, _, err = _cli("--db", str(two), "--as", "bob", "new", "--channel", "phone", "--to",
                        "Bo", "--subject", "second store", "-m", "hi")
    assert code == 0, err
    # Global options after the command, and none at all: nothing carried over.
    code, out, _ = _cli("list", "--format", "ids", "--db", str(one))
    assert (code, out) == (0, "1\n")
    code, out, err = _cli("list", "--format", "ids")  # no --db: the (missing) default store
    assert code == 1 and "no store at" in err and out == ""
    for db, subject, actor in ((one, "first store", "alice"), (two, "second store", "bob")):
        code, out, _ = _cli("--db", str(db), "show", "1", "--format", "json")
        assert code == 0
        import json

        ticket = json.loads(out)
        assert ticket["subject"] == subject
        assert {e["actor"] for e in ticket["events"]} == {actor}


def test_the_display_zone_is_each_runs_own(tmp_path: Path) -> None:
    db = _store(tmp_path / "s.db")
    assert _cli("--db", str(db), "new", "--channel", "phone", "--to", "Ann", "--subject", "zones",
                "-m", "x")[0] == 0
    rome, york = tmp_path / "rome.yaml", tmp_path / "york.yaml"
    rome.write_text("timezone: Europe/Rome\n")
    york.write_text("timezone: America/New_York\n")
    for cfg, label in ((rome, "CET"), (york, "EST"), (rome, "CET")):
        code, out, err = _cli("--db", str(db), "--config", str(cfg), "list")
        assert code == 0, err
        hour = "10:00" if label == "CET" else "04:00"
        assert f"{hour} {label}\t" in out, out


def test_injected_streams_are_the_ones_written_and_read(tmp_path: Path) -> None:
    from supportctl.cli.app import current, run

    db = _store(tmp_path / "s.db")
    out, err = io.StringIO(), io.StringIO()
    before = (sys.stdin, sys.stdout, sys.stderr)
    code = run(["--db", str(db), "close", "-"], stdin=io.StringIO("7\n"), stdout=out, stderr=err)
    assert code == 3 and out.getvalue() == ""
    assert err.getvalue().startswith("error: no ticket 7")
    assert (sys.stdin, sys.stdout, sys.stderr) == before
    # Outside a run there is no invocation: a fresh context, holding nothing.
    assert current()._store is None and current().db is None


def test_no_module_level_state_object_in_the_cli() -> None:
    """No module of the CLI binds a ``Ctx`` (or any instance of a class of
    its own) at module level; the context is made per run."""
    for path in sorted((ROOT / "supportctl" / "cli").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)} | {"Ctx"}
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                value = node.value
                if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
                    assert value.func.id not in classes, \
                        f"{path.name}:{node.lineno}: module-level {value.func.id}() is shared state"
    import supportctl.cli.app as app

    assert not hasattr(app, "STATE")


def test_commands_a_run_registers_stay_for_the_next_run(tmp_path: Path) -> None:
    """``export`` and ``import`` load other command modules while they run
    (cli.tickets, cli.channels): what those register must still be there
    for the next run in the same process (``new``, ``reply``)."""
    db = _store(tmp_path / "s.db")
    dump = tmp_path / "dump.jsonl"
    assert _cli("--db", str(db), "export", "--format", "jsonl")[0] == 0
    dump.write_text("")
    assert _cli("--db", str(db), "import", str(dump), "--format", "jsonl")[0] == 0
    code, _, err = _cli("--db", str(db), "new", "--channel", "phone", "--to", "Ann", "-m", "hi")
    assert code == 0, err
    code, _, err = _cli("--db", str(db), "reply", "1", "-m", "x", "--dry-run")
    assert "No such command" not in err
