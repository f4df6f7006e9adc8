"""Daily use at a terminal (issue 10): commands say what they cannot do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli


def _log(cli: Any, who: str = "Ada", text: str = "Il pacco non è arrivato") -> int:
    r = cli("new", "--channel", "phone", "--to", who, "-m", text, "--format", "ids")
    assert r.code == 0, r
    return int(r.out.strip())


@pytest.mark.parametrize(
    ("option", "value", "meant"),
    [("--channel", "emial", "email"), ("--priority", "urgnet", "urgent"),
     ("--priority", "high,lwo", "low"), ("--status", "opne", "open"),
     ("--sort", "prio", "priority")],
)
def test_unknown_list_values_are_usage_errors_with_a_suggestion(
        cli: Any, option: str, value: str, meant: str) -> None:
    r = cli("list", option, value, "--format", "json")
    assert r.code == 2, r
    assert f"did you mean {meant!r}" in r.err
    assert r.err.count("\n") == 1  # one line
    # The valid values come from models' enums.
    if option == "--priority":
        assert "low, normal, high, urgent" in r.err
    if option == "--channel":
        assert "whatsapp" in r.err and "in-person" in r.err


def test_known_list_values_still_work(cli: Any) -> None:
    _log(cli)
    r = cli("list", "--channel", "phone", "--priority", "normal,high", "--status", "new",
            "--sort", "priority", "--format", "json")
    assert r.code == 0 and len(r.json()) == 1, r


def test_missing_store_is_an_error_not_a_new_empty_store(tmp_path: Path) -> None:
    db = tmp_path / "typo.db"
    for args in (["list"], ["show", "1"], ["search", "x"], ["close", "1"],
                 ["new", "--channel", "phone", "--to", "Ada", "-m", "hi"], ["db", "migrate"]):
        r = run_cli("--db", str(db), *args)
        assert r.code == 1, (args, r)
        assert f"no store at {db}" in r.err and "supportctl init" in r.err
        assert not db.exists()
    assert run_cli("--db", str(db), "init").code == 0
    assert db.exists()
    assert run_cli("--db", str(db), "list").code == 0


def test_import_creates_the_store(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    r = run_cli("--db", str(db), "import", "-", "--format", "jsonl", input="")
    assert r.code == 0, r
    assert db.exists()


def test_missing_config_file_is_exit_2(cli: Any, tmp_path: Path) -> None:
    r = cli("--config", str(tmp_path / "nope.yaml"), "list")
    assert r.code == 2 and "nope.yaml" in r.err, r
    r = cli("list", env={"SUPPORTCTL_CONFIG": str(tmp_path / "nope.yaml")})
    assert r.code == 2, r


def test_empty_id_list_on_stdin_is_a_no_op(cli: Any) -> None:
    tid = _log(cli)
    ids = cli("list", "--tag", "spam", "--format", "ids")
    assert ids.code == 0 and ids.out == ""
    for verb in ("close", "solve", "spam", "reopen"):
        r = cli(verb, "-", input=ids.out)
        assert r.code == 0 and r.err == "", (verb, r)
    r = cli("tag", "x", "-", input="\n")
    assert r.code == 0, r
    assert cli("show", str(tid), "--format", "json").json()["status"] == "new"
    # An id argument is still required, and one id from empty stdin is an error.
    assert cli("show", "-", input="").code == 2


def test_the_word_search_as_a_value_is_not_the_search_command(cli: Any) -> None:
    _log(cli, text="search engine sent me")
    _log(cli, who="Bob", text="nothing here")
    r = cli("list", "--query", "search", "--status", "all", "--format", "json")
    assert r.code == 0, r
    assert len(r.json()) == 1
    r = cli("search", "--format", "json", "search")
    assert r.code == 0 and len(r.json()) == 1, r
