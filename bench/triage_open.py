"""How long ``triage`` takes to show its first ticket (SPEC §11 budget:
≤ 0.5 s on 100 000 tickets / 1 000 000 messages), in a real terminal.

    python bench/triage_open.py [--store PATH] [--runs 5]

Each run starts ``supportctl triage`` in a fresh detached tmux session and
polls the screen every 5 ms until the ticket header (``#ID (1/N)``) shows,
then quits it with ``q``; the reference run does the same for the bare
typer app of bench_store.py until its output shows. Medians. The store is
bench_store.py's generated one by default (bench/out/, git-ignored).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import OUT  # noqa: E402
from bench_store import BARE_TYPER  # noqa: E402
from gen_store import GEN_VERSION  # noqa: E402

PY = sys.executable
ROOT = Path(__file__).resolve().parent.parent


def tmux(sock: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", sock, *args], check=True, capture_output=True,
                          text=True).stdout


_RUN = iter(range(1_000_000))


def time_to(argv: list[str], pattern: str, quit_key: str | None) -> float:
    sock = f"bench-triage-{os.getpid()}-{next(_RUN)}"
    cmd = " ".join(argv) + "; sleep 30"
    start = time.perf_counter()
    tmux(sock, "new-session", "-d", "-x", "150", "-y", "45", cmd)
    try:
        while True:
            if re.search(pattern, tmux(sock, "capture-pane", "-p")):
                took = time.perf_counter() - start
                break
            if time.perf_counter() - start > 30:
                raise SystemExit(f"never showed {pattern!r}: {tmux(sock, 'capture-pane', '-p')}")
            time.sleep(0.005)
        if quit_key:
            tmux(sock, "send-keys", quit_key)
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path,
                    default=OUT / f"store-100000-1000000-s1-g{GEN_VERSION}.db")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    if not a.store.exists():
        raise SystemExit(f"no store at {a.store}: run bench/bench_store.py (or gen_store.py) first")
    OUT.mkdir(exist_ok=True)
    bare = OUT / "bare_typer.py"
    bare.write_text(BARE_TYPER)
    tri = [f"cd {ROOT} &&", PY, "-m", "supportctl", "--db", str(a.store), "triage"]
    ref = [PY, str(bare)]
    times, refs = [], []
    time_to(tri, r"#\d+ \(1/\d+\)", "q")  # warm-up: page cache, .pyc files
    for _ in range(a.runs):
        refs.append(time_to(ref, r"\[\]", None))
        times.append(time_to(tri, r"#\d+ \(1/\d+\)", "q"))
    med, rmed = statistics.median(times) * 1000, statistics.median(refs) * 1000
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")
    print(f"triage, first ticket on screen: median {med:.0f} ms (runs: "
          f"{', '.join(f'{t * 1000:.0f}' for t in times)})")
    print(f"bare typer app, output on screen: median {rmed:.0f} ms")
    print(f"budget <= 500 ms: {'PASS' if med <= 500 else 'MISS'} (delta {med - rmed:+.0f} ms)")


if __name__ == "__main__":
    main()
