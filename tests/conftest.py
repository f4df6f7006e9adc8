"""Every test gets its own config and data directories (as llm does), and
no SUPPORTCTL_* variable leaks in from the developer's shell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data"  # copied from ../shared/corpus so a clean clone has it


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for key in list(os.environ):
        if key.startswith("SUPPORTCTL_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("SUPPORTCTL_AGENT", "tester")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    yield tmp_path


class Result:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self) -> Any:
        return json.loads(self.out)

    def jsonl(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def __repr__(self) -> str:
        return f"<exit {self.code}\nstdout: {self.out}\nstderr: {self.err}>"


def run_cli(*args: str, input: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> Result:
    """Run ``python -m supportctl ARGS`` as a whole process, stdout not a TTY."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "supportctl", *args],
        input=input, capture_output=True, text=True, env=full_env, timeout=timeout,
        cwd=ROOT,
    )
    return Result(proc)


@pytest.fixture
def cli(tmp_path: Path) -> Any:
    """``cli("list", "--format", "json")`` against a store in tmp_path,
    created as `supportctl init` would (commands other than init, import,
    demo and a configured sync refuse a store that does not exist)."""
    from supportctl.store.db import Store

    db = tmp_path / "store.db"
    Store(db).close()

    def call(*args: str, **kw: Any) -> Result:
        return run_cli("--db", str(db), *args, **kw)

    call.db = db  # type: ignore[attr-defined]
    return call


def all_tickets(cli: Any, env: dict[str, str]) -> list[dict[str, Any]]:
    """``list --status all --format json``: every ticket, as a script sees it."""
    res = cli("list", "--status", "all", "--format", "json", env=env)
    assert res.code == 0, res
    return list(res.json())
