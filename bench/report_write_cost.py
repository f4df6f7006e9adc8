"""What the report rollup (m020: ``report_volume``, whose triggers only mark
the days an edit of an already counted message touches) costs the write
path: ``import`` of a JSONL file and ``sync`` of new SMS from a loopback
Twilio API, each into a fresh store with the rollup's triggers and into
one with them dropped (the same code otherwise), alternating which goes
first. Whole processes, medians; the verdict is on CPU time (on a shared
machine wall time swings more than the difference). Then what the next
``report`` pays to count the imported messages in (``catch_up_volume``,
in-process CPU).

    python bench/report_write_cost.py [--tickets 2000] [--messages 5000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_rules import config, fill  # noqa: E402

from supportctl.store.db import Store  # noqa: E402
from tests.social.twilio_server import TwilioServer  # noqa: E402

TAGS = ("billing", "refund", "shipping", "returns", "vip", "spam")
AGENTS = (None, "alice", "bruno", "chiara")


def jsonl(path: Path, tickets: int, rnd: random.Random) -> int:
    """Tickets of ten messages each (in and out), some tagged and assigned."""
    n = 0
    with path.open("w") as f:
        for tid in range(1, tickets + 1):
            t0 = 1_780_000_000 + tid * 600
            msgs = []
            for k in range(10):
                n += 1
                at = datetime.fromtimestamp(t0 + k * 1800, timezone.utc).strftime(
                    "%Y-%m-%dT%H:%M:%SZ")
                msgs.append({"id": n, "direction": "in" if k % 2 == 0 else "out",
                             "channel": "email", "account": None, "external_id": None,
                             "from": {"name": "", "address": f"c{tid}@example.com"}, "to": [],
                             "subject": "Parcel", "text": f"message {k} of ticket {tid} " * 8,
                             "sent_at": at, "attachments": [], "author": None})
            created = msgs[0]["sent_at"]
            f.write(json.dumps({
                "id": tid, "status": "open", "priority": "normal", "subject": "Parcel",
                "channel": "email", "account": None,
                "contact": {"id": tid, "name": "C", "identities": [
                    {"channel": "email", "address": f"c{tid}@example.com"}]},
                "assignee": rnd.choice(AGENTS),
                "tags": rnd.sample(TAGS, rnd.choice((0, 1, 1, 2))),
                "created_at": created, "updated_at": created, "first_response_at": None,
                "solved_at": None, "sla": {}, "message_count": 10,
                "last_message_at": msgs[-1]["sent_at"], "snoozed_until": None,
                "merged_into": None, "linked_ticket": None, "messages": msgs,
                "events": []}) + "\n")
    return n


def fresh(path: Path, rollup: bool) -> Path:
    Store(path).close()
    if not rollup:
        conn = sqlite3.connect(path)
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"
                                    " AND name LIKE 'report_volume%'").fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        conn.commit()
        conn.close()
    return path


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    t0 = time.perf_counter()
    r0 = os.times()
    subprocess.run(argv, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    r1 = os.times()
    return time.perf_counter() - t0, (r1.children_user - r0.children_user) + (
        r1.children_system - r0.children_system)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tickets", type=int, default=2000, help="imported (10 messages each)")
    ap.add_argument("--messages", type=int, default=5000, help="new SMS per sync")
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    rnd = random.Random(1)
    results: dict[tuple[str, bool], list[tuple[float, float]]] = {}
    py = [sys.executable, "-m", "supportctl"]
    with TwilioServer() as tw, tempfile.TemporaryDirectory() as d:
        dump = Path(d) / "dump.jsonl"
        n = jsonl(dump, a.tickets, rnd)
        fill(tw, a.messages, rnd, datetime(2026, 12, 8, 20, 0, tzinfo=timezone.utc))
        cfg = config(Path(d) / "sync.yaml", tw.url, False)
        env = dict(os.environ, SUPPORTCTL_NOW="2026-12-09T10:00:00Z")
        sync_env = dict(env, SUPPORTCTL_CONFIG=str(cfg))
        for r in range(a.rounds):
            for rollup in ((True, False) if r % 2 == 0 else (False, True)):
                tag = "rollup" if rollup else "none"
                db = fresh(Path(d) / f"i{r}{tag}.db", rollup)
                results.setdefault(("import", rollup), []).append(
                    timed([*py, "--db", str(db), "import", str(dump), "--format", "jsonl"], env))
                db = fresh(Path(d) / f"s{r}{tag}.db", rollup)
                results.setdefault(("sync", rollup), []).append(
                    timed([*py, "--db", str(db), "sync", "-q"], sync_env))
            print(f"  round {r + 1}/{a.rounds}", file=sys.stderr, flush=True)
        from supportctl.store.report import catch_up_volume

        store = Store(Path(d) / "i0rollup.db")
        t0 = time.process_time()
        catch_up_volume(store)
        catch_up = time.process_time() - t0
        store.close()
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores; {a.rounds} rounds")
    worst = 0.0
    for what, label in (("import", f"import of {a.tickets} tickets / {n} messages (JSONL)"),
                        ("sync", f"sync of {a.messages} new SMS (loopback Twilio)")):
        base = [x for x in results[(what, False)]]
        with_ = [x for x in results[(what, True)]]
        bw, bc = statistics.median(w for w, _ in base), statistics.median(c for _, c in base)
        ww, wc = statistics.median(w for w, _ in with_), statistics.median(c for _, c in with_)
        worst = max(worst, wc / bc - 1)
        print(f"{label}: without the rollup {bw:.2f} s wall, {bc:.2f} s cpu; with it"
              f" {ww:.2f} s wall, {wc:.2f} s cpu: {100 * (ww / bw - 1):+.1f} % wall,"
              f" {100 * (wc / bc - 1):+.1f} % cpu")
    print(f"the next report counting the {n} imported messages in: {catch_up:.2f} s cpu")
    return 0


if __name__ == "__main__":
    sys.exit(main())
