"""The CLI on a pseudo-terminal: what a person at a terminal sees.

One reader for every test that needs a terminal (colours, charts, the
editor path, progress): the pty's output is drained until the program
closes it, so a chatty program never blocks on a full pty buffer."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from tests.conftest import ROOT


@dataclass
class Drawn:
    code: int
    #: What reached the terminal (stdout, and stderr unless kept apart).
    screen: bytes
    #: stderr when ``stderr_tty=False``, else b"".
    err: bytes

    def text(self) -> str:
        return self.screen.decode("utf-8", "replace").replace("\r\n", "\n")


def run_on_pty(args: list[str], env: Mapping[str, str] | None = None, *, columns: int = 200,
               stdin_tty: bool = True, stderr_tty: bool = True, timeout: float = 60) -> Drawn:
    """``python -m supportctl ARGS`` with stdout (and stdin, stderr as
    asked) on one pseudo-terminal; ``env`` is added to ours, COLUMNS and
    TERM set unless ``env`` sets them."""
    master, slave = pty.openpty()
    full = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm-256color", **(env or {})}
    p = subprocess.Popen(
        [sys.executable, "-m", "supportctl", *args], stdout=slave,
        stderr=slave if stderr_tty else subprocess.PIPE,
        stdin=slave if stdin_tty else subprocess.DEVNULL, env=full, cwd=ROOT)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the other side closed (Linux answers EIO)
            break
        if not data:
            break
        chunks.append(data)
    code = p.wait(timeout=timeout)
    os.close(master)
    err = p.stderr.read() if p.stderr is not None else b""
    return Drawn(code, b"".join(chunks), err)
