"""What the server stack of ``supportctl serve`` costs, against the
alternatives, measured in the same run (SPEC §8 habit: figures beside a
reference, never a timed test).

1. Import cost, whole process, median of N alternating runs, minus the bare
   interpreter (the reference): the stdlib stack ``serve`` uses (wsgiref +
   socketserver threads), then waitress, then starlette + uvicorn, when
   they are importable (``pip install --target DIR waitress starlette
   uvicorn`` and pass ``--extra DIR``: they are not dependencies).
2. Requests: N form pages (``GET /form``) and N webhook deliveries (signed
   Telegram updates, each stored) against a running ``supportctl serve``,
   sequentially, on a throwaway store; median and p90 latency.

    python bench/bench_serve.py [--runs 15] [--requests 200] [--extra DIR]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STACKS = {
    "python (reference)": "pass",
    "stdlib wsgiref + threads (serve)": "import socketserver, wsgiref.simple_server",
    "supportctl.serve.app + server": "import supportctl.serve.app, supportctl.serve.server",
    "waitress": "import waitress",
    "starlette + uvicorn": "import starlette.applications, starlette.responses, uvicorn.main",
}


def _time(code: str, env: dict[str, str]) -> float | None:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,
                          capture_output=True)
    took = time.perf_counter() - start
    return took if proc.returncode == 0 else None


def imports(runs: int, extra: str | None) -> None:
    env = dict(os.environ)
    if extra:
        env["PYTHONPATH"] = extra
    times: dict[str, list[float]] = {k: [] for k in STACKS}
    for _ in range(runs):
        for name, code in STACKS.items():  # alternating: load drifts hit all alike
            t = _time(code, env)
            if t is not None:
                times[name].append(t)
    ref = statistics.median(times["python (reference)"])
    print(f"import cost, median of {runs} whole processes (load average "
          f"{os.getloadavg()[0]:.1f}):")
    for name, got in times.items():
        if not got:
            print(f"  {name:36s} not installed")
            continue
        med = statistics.median(got)
        extra_ms = (med - ref) * 1000
        print(f"  {name:36s} {med * 1000:7.1f} ms  (+{extra_ms:6.1f} ms over the interpreter, "
              f"x{med / ref:.2f})")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def requests(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.yaml"
        cfg.write_text("channels:\n  - name: bot\n    type: telegram\n    token: 1:x\n"
                       "    api_base_url: http://127.0.0.1:9\n"
                       "serve:\n  secret: bench-secret\n  telegram_secret_token: s3cret\n")
        cfg.chmod(0o600)
        port = _free_port()
        env = {**os.environ, "SUPPORTCTL_CONFIG": str(cfg)}
        proc = subprocess.Popen([sys.executable, "-m", "supportctl", "-q", "--db",
                                 str(Path(tmp) / "s.db"), "serve", "--port", str(port)],
                                cwd=ROOT, env=env)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

            def one(method: str, path: str, body: bytes = b"",
                    headers: dict[str, str] | None = None) -> float:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                start = time.perf_counter()
                conn.request(method, path, body=body or None, headers=headers or {})
                resp = conn.getresponse()
                resp.read()
                took = time.perf_counter() - start
                conn.close()
                assert resp.status == 200, resp.status
                return took

            pages = [one("GET", "/form") for _ in range(n)]
            hooks = []
            for i in range(n):
                update = {"update_id": 1000 + i, "message": {
                    "message_id": i + 1, "date": 1764590000 + i, "text": f"message {i}",
                    "chat": {"id": 42 + i % 20, "type": "private"},
                    "from": {"id": 42 + i % 20, "first_name": "Bench"}}}
                hooks.append(one("POST", "/hooks/telegram", json.dumps(update).encode(),
                                 {"X-Telegram-Bot-Api-Secret-Token": "s3cret",
                                  "Content-Type": "application/json"}))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    for label, got in (("GET /form", pages), ("POST /hooks/telegram (stored, fsync)", hooks)):
        got.sort()
        print(f"  {label:38s} median {statistics.median(got) * 1000:6.1f} ms, "
              f"p90 {got[int(len(got) * 0.9)] * 1000:6.1f} ms over {len(got)} requests")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--extra", help="a directory with waitress/starlette/uvicorn to compare")
    args = ap.parse_args()
    imports(args.runs, args.extra)
    print("requests, one at a time, against `supportctl serve`:")
    requests(args.requests)


if __name__ == "__main__":
    main()
