"""ruff and mypy are part of the test command (one command runs it all)."""

from __future__ import annotations

import shutil
import subprocess
import sys

from tests.conftest import ROOT


def test_ruff() -> None:
    p = subprocess.run([sys.executable, "-m", "ruff", "check", "supportctl", "tests", "bench"],
                       cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_mypy() -> None:
    assert shutil.which("mypy") or True
    p = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
