"""SIGTERM/SIGHUP/Ctrl-C end a run with exit 130, however the interrupt
travels through Python: the cases here once ended as if killed by SIGINT
(status -2, which cron and scripts read as a crash) or never ended.

Each runs ``python -m`` on a small driver module, because both failures
live in the interpreter's exit path and signal handling, which an
in-process run cannot show."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.process


def _driver(tmp_path: Path, body: str, *args: str,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    (tmp_path / "driver.py").write_text(body, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
           "SUPPORTCTL_CONFIG": str(tmp_path / "config.yaml"),
           "SUPPORTCTL_DB": str(tmp_path / "store.db")}
    return subprocess.run([sys.executable, "-m", "driver", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_an_interrupt_inside_generated_code_still_exits_130(tmp_path: Path) -> None:
    """A signal landing while a dataclass builds its methods (a string
    ``exec``) marks the interpreter, which under ``python -m`` then died by
    SIGINT at exit even though the run had handled it and returned 130."""
    res = _driver(tmp_path, """
from supportctl.cli import app

def interrupted_in_generated_code(cx, argv):
    try:
        exec("raise KeyboardInterrupt")  # as a signal inside dataclasses' exec
    except KeyboardInterrupt:
        app._say_interrupted(cx.stderr)
        return 130
    return 0

app._run = interrupted_in_generated_code
app.main([])
""")
    assert res.returncode == 130, (res.returncode, res.stderr)
    assert "interrupted" in res.stderr


def test_a_swallowed_sigterm_still_ends_sync_watch(tmp_path: Path) -> None:
    """Python drops an exception raised while an object is finalized: a
    SIGTERM arriving then raised its KeyboardInterrupt into nothing, and
    the handler had already set further SIGTERMs aside, so `sync --watch`
    never stopped. The run remembers the signal and the watch ends at its
    next pass."""
    (tmp_path / "config.yaml").write_text(
        "channels:\n  - name: mem\n    type: memory\n", encoding="utf-8")
    res = _driver(tmp_path, """
import os, signal
from supportctl.cli import channels

class Finalized:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)  # its KeyboardInterrupt is dropped

real_wait, passes = channels._wait_any, []

def wait_any(*args):
    passes.append(1)
    if len(passes) == 2:
        Finalized()
    if len(passes) > 20:
        raise SystemExit(99)  # still watching long after the SIGTERM
    real_wait(*args)

channels._wait_any = wait_any
from supportctl.cli import app
app.main(["sync", "--watch", "--interval", "0.1"])
""")
    assert res.returncode == 130, (res.returncode, res.stderr)
    assert "interrupted" in res.stderr


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_signal_while_a_finished_run_closes_down_keeps_its_exit_code(
        tmp_path: Path, sig: str) -> None:
    """After the run, the interpreter takes a while to close down (a tenth
    of a second after a sync); cron's timeout or a closing SSH session may
    come then. The run's own handlers are gone by that time: the process
    died by the signal (status -15 or -1, a crash to cron and scripts)
    although the work was done and said. Its exit code stands."""
    (tmp_path / "config.yaml").write_text("timezone: UTC\n", encoding="utf-8")
    res = _driver(tmp_path, f"""
import atexit, os, signal
# Runs as the interpreter closes down, after main() has decided the code.
atexit.register(lambda: os.kill(os.getpid(), signal.{sig}))
from supportctl.cli import app
app.main(["init"])
""")
    assert res.returncode == 0, (res.returncode, res.stderr)
    assert (tmp_path / "store.db").exists()
