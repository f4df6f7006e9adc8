"""``report`` and ``suggest`` on PostgreSQL beside SQLite (issue 13, SPEC §8
budgets: report <= 1.5 s, suggest <= 300 ms), as whole processes, medians.

    python bench/bench_pg_insight.py [--store PATH] [--pg-url URL] [--runs 5]

Without ``--pg-url`` a PostgreSQL server is started on a temporary
directory (tests/pg/server.py: Debian's ``postgresql`` package) and the
SQLite store (default: the 100 000-ticket store bench_store.py caches in
bench/out/) is copied into a new database with COPY, table by table
(generated columns, the tsvectors, are computed on the way in: minutes).
``--keep`` prints the URL and leaves that server running for later runs
(stop it with ``pg_ctl -D DIR stop``). Each round runs the bare typer app
(the reference) and each command on each engine back to back.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import OUT  # noqa: E402

PY = sys.executable
REPORT_BUDGET_MS = 1500.0
SUGGEST_BUDGET_MS = 300.0

#: Copied in this order (foreign keys); other tables are empty in a generated store.
TABLES = ["contacts", "identities", "tickets", "messages", "tags", "events", "csat", "tag_names"]


def load(sqlite_path: Path, url: str) -> None:
    """Copy the tables both schemas share, column by column they share."""
    import psycopg

    from supportctl.store.db import open_store

    open_store(url).close()  # the PostgreSQL schema
    src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute("SET session_replication_role = replica")  # no triggers, no FK checks
        for table in TABLES:
            have = {r[1] for r in src.execute(f"PRAGMA table_info({table})")}
            if not have:
                continue
            cols = [r[0] for r in pg.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
                " AND is_generated = 'NEVER' ORDER BY ordinal_position", [table])
                if r[0] in have]
            started = time.perf_counter()
            with pg.cursor() as cur, cur.copy(
                    f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in src.execute(f"SELECT {', '.join(cols)} FROM {table}"):
                    copy.write_row(row)
            print(f"  {table}: {time.perf_counter() - started:.1f} s", flush=True)
        pg.execute("SET session_replication_role = origin")
        for table in TABLES:
            pg.execute(f"VACUUM ANALYZE {table}")
    from supportctl.store.db import open_store as reopen

    store = reopen(url)
    store.after_restore()
    store.close()


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr[-400:]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", type=Path, default=OUT / "store-100000-1000000-s1-g1.db")
    ap.add_argument("--pg-url")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--load-only", action="store_true")
    args = ap.parse_args()
    server = None
    url = args.pg_url
    if url is None:
        from tests.pg.server import PostgresServer

        server = PostgresServer().__enter__()
        url = server.new_database()
        print(f"loading {args.store} into {url}", flush=True)
        load(args.store, url)
        if args.keep:
            print(f"kept: {url} (data {server.data})", flush=True)
    try:
        if args.load_only:
            return
        bare = OUT / "bare_typer.py"
        newest = sqlite3.connect(f"file:{args.store}?mode=ro", uri=True).execute(
            "SELECT max(created_at) FROM tickets").fetchone()[0]
        open_sms = sqlite3.connect(f"file:{args.store}?mode=ro", uri=True).execute(
            "SELECT max(id) FROM tickets WHERE status IN ('new', 'open')").fetchone()[0]
        now = {"SUPPORTCTL_NOW": newest}
        import os

        env = {**os.environ, **now}
        cases = [("report 30d", ["report", "--format", "json", "--since", "30d"]),
                 ("report whole store", ["report", "--format", "json", "--since", "2000-01-01"]),
                 *((f"report 1y --by {by}", ["report", "--format", "json", "--since", "365d",
                                              "--by", by])
                   for by in ("channel", "tag", "assignee", "day", "week")),
                 ("suggest", ["suggest", str(open_sms), "--format", "json"])]
        rows: dict[str, dict[str, list[float]]] = {}
        for rnd in range(args.runs + 1):
            for name, argv in cases:
                for engine, db in (("sqlite", str(args.store)), ("postgresql", url)):
                    full = [PY, "-m", "supportctl", "--db", db, *argv]
                    ref = timed([PY, str(bare)]) if bare.exists() else 0.0
                    started = time.perf_counter()
                    done = subprocess.run(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                          text=True, env=env)
                    took = (time.perf_counter() - started) * 1000
                    if done.returncode != 0:
                        raise SystemExit(f"{name} on {engine} failed: {done.stderr[-400:]}")
                    if rnd:  # the first round warms up
                        got = rows.setdefault(name, {})
                        got.setdefault(engine, []).append(took)
                        got.setdefault("ref", []).append(ref)
        print(f"{'command':28} {'ref ms':>8} {'sqlite ms':>10} {'pg ms':>8} {'budget':>7}")
        for name, got in rows.items():
            budget = SUGGEST_BUDGET_MS if name.startswith("suggest") else REPORT_BUDGET_MS
            pg = statistics.median(got["postgresql"])
            print(f"{name:28} {statistics.median(got['ref']):8.0f} "
                  f"{statistics.median(got['sqlite']):10.0f} {pg:8.0f} {budget:7.0f}"
                  f" {'ok' if pg <= budget else 'OVER'}")
    finally:
        if server is not None and not args.keep:
            server.__exit__(None, None, None)


if __name__ == "__main__":
    main()
