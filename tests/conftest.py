"""Every test gets its own config and data directories (as llm does), and
no SUPPORTCTL_* variable leaks in from the developer's shell.

``run_cli`` (and the ``cli`` fixture) run the command line in this process
through ``supportctl.cli.app.run``, with the environment, streams, working
directory and process caches of a fresh run: much faster than a process
each. A test that needs a real process (signals, a terminal, start-up
imports, kill -9, a blocked network) is marked ``@pytest.mark.process``,
or calls ``run_cli(..., process=True)``; ``SUPPORTCTL_TEST_PROCESS=1``
runs every one as a process (to check the two agree)."""

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
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
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


#: Whether the running test wants ``run_cli`` to start processes (set per
#: test from its ``process`` marker by ``_cli_mode``).
_PROCESS = [False]


@pytest.fixture(autouse=True)
def _cli_mode(request: pytest.FixtureRequest) -> Iterator[None]:
    _PROCESS[0] = request.node.get_closest_marker("process") is not None \
        or os.environ.get("SUPPORTCTL_TEST_PROCESS") == "1"
    yield
    _PROCESS[0] = False


def run_cli(*args: str, input: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 120, process: bool | None = None) -> Result:
    """Run ``supportctl ARGS`` as ``python -m supportctl`` would, stdout not a
    TTY: in this process unless ``process`` (or the test's ``process``
    marker) asks for a whole process. ``timeout`` bounds a process only."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    # The interpreter reads PYTHON* variables (PYTHONPATH, PYTHONHASHSEED...)
    # only when it starts: a test that sets one needs a process.
    starts = any(k.startswith("PYTHON") and os.environ.get(k) != v for k, v in (env or {}).items())
    if not (_PROCESS[0] if process is None else process) and not starts:
        return run_in_process(list(args), input=input, env=full_env)
    proc = subprocess.run(
        [sys.executable, "-m", "supportctl", *args],
        input=input, capture_output=True, text=True, env=full_env, timeout=timeout,
        cwd=ROOT,
    )
    return Result(proc)


def run_in_process(args: list[str], *, input: str | None = None,
                   env: dict[str, str] | None = None) -> Result:
    """``supportctl.cli.app.run`` with what a new process would have: the
    environment given (else this one), stdin holding ``input`` (else
    empty), the repository as working directory, the services' caches of
    compiled config emptied and the ``supportctl`` logger as found. Output
    is captured as bytes and decoded as ``subprocess.run(text=True)``
    does (universal newlines), so results compare with a process's."""
    import io
    import logging

    from supportctl.cli.app import run

    fresh_caches()
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    stdout = io.TextIOWrapper(out_bytes, encoding="utf-8", newline="", write_through=True)
    stderr = io.TextIOWrapper(err_bytes, encoding="utf-8", errors="backslashreplace",
                              newline="", write_through=True)
    stdin = io.StringIO(input or "")
    logger = logging.getLogger("supportctl")
    saved_log = (logger.handlers[:], logger.propagate, logger.level)
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        code = run(list(args), env=dict(os.environ if env is None else env), stdin=stdin,
                   stdout=stdout, stderr=stderr)
    finally:
        os.chdir(cwd)
        logger.handlers[:], logger.propagate, logger.level = saved_log
        stdout.flush()
        stderr.flush()
    return Result(subprocess.CompletedProcess(
        args, code, _text(out_bytes.getvalue()), _text(err_bytes.getvalue())))


def _text(data: bytes) -> str:
    """As ``subprocess.run(text=True)`` decodes: universal newlines."""
    return data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")


def fresh_caches() -> None:
    """Forget what earlier runs in this process compiled from their
    configs (a new process starts without): rules, languages, business
    hours, timed-out patterns. Only modules already imported are touched."""
    rules = sys.modules.get("supportctl.services.rules")
    if rules is not None:
        for name in ("_compiled", "_timed_out", "_outside_by_minute", "_searchers", "_plans"):
            getattr(rules, name).clear()
    language = sys.modules.get("supportctl.services.language")
    if language is not None:
        language._configured.clear()
    sla = sys.modules.get("supportctl.services.sla")
    if sla is not None:
        sla._HOURS_CACHE.clear()
        sla._LAST[:] = [None, None]
    workflows = sys.modules.get("supportctl.store.workflows")
    if workflows is not None:
        workflows._tag_details.clear()


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
