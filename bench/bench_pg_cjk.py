"""What PostgreSQL's step 7 costs and gives (pg_schema: accents folded,
trigram index for Chinese, Japanese, Korean and Thai): on a throwaway
server (tests/pg/server.py), a store made at step 5 gets ``--latin``
messages and ``--cjk`` CJK/Thai ones (bench_cjk's sentences), is migrated
to step 7 (timed: the table is rewritten, every tsvector computed again),
then each search runs ``--runs`` times (median) and its plan is shown
(EXPLAIN ANALYZE of the cursor's query).

    python bench/bench_pg_cjk.py [--latin 100000] [--cjk 5000] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_cjk import LATIN, cjk_text  # noqa: E402

QUERIES = ["注文番号", "注文", "配送状況", "주문번호", "ยังไม่ได้รับ", "注文番号 -返品", "arrived",
           "cafe", "from:yamada"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latin", type=int, default=100_000)
    ap.add_argument("--cjk", type=int, default=5_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    import psycopg

    from supportctl.store import pg_schema
    from supportctl.store.db import open_store
    from supportctl.store.search import _pg_matching, parse, search
    from tests.pg.server import PostgresServer

    rng = random.Random(7)
    langs = ["ja", "zh", "ko", "th"]
    rows = []
    for k in range(args.latin + args.cjk):
        cjk = k % ((args.latin + args.cjk) // max(args.cjk, 1)) == 0 and args.cjk
        lang = rng.choice(langs) if cjk else None
        text = cjk_text(rng, lang) if lang else rng.choice(LATIN).format(n=k) + " café"
        rows.append((k // 3 + 1, text, "yamada@example.jp" if lang == "ja" else f"c{k}@example.com"))
    with PostgresServer() as pg:
        url = pg.new_database()
        old = [s for number, _, steps in pg_schema.STEPS if number <= 5 for s in steps]
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
                         " name TEXT NOT NULL, at TEXT NOT NULL)")
            for s in old:
                conn.execute(s)  # type: ignore[arg-type]
            conn.execute("INSERT INTO schema_version SELECT n, 'old', 'x'"
                         " FROM unnest(ARRAY[1, 3, 4, 5]) n")
            conn.execute("ALTER TABLE messages DISABLE TRIGGER USER")
            with conn.cursor() as cur, cur.copy("COPY tickets (id, channel, created_at, updated_at)"
                                                " FROM STDIN") as cp:
                for t in range(1, len(rows) // 3 + 2):
                    cp.write_row((t, "email", "2026-01-01", "2026-01-01"))
            with conn.cursor() as cur, cur.copy(
                    "COPY messages (ticket_id, direction, channel, from_address, text, sent_at,"
                    " created_at) FROM STDIN") as cp:
                for tid, text, sender in rows:
                    cp.write_row((tid, "in", "email", sender, text, "2026-01-01", "2026-01-01"))
            conn.execute("ALTER TABLE messages ENABLE TRIGGER USER")
            conn.execute("VACUUM ANALYZE messages")
        start = time.perf_counter()
        store = open_store(url)  # migrates 5 -> 7
        took = time.perf_counter() - start
        n = len(rows)
        print(f"migrate 5 -> {pg_schema.LATEST}: {took:.1f} s for {n} messages"
              f" ({took * 1_000_000 / n / 60:.1f} min per million)")
        store.execute("ANALYZE messages")
        now = "2026-12-01T00:00:00Z"
        for query in QUERIES:
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                hits = search(store, query, now, limit=50)
                times.append(time.perf_counter() - t0)
            print(f"{query!r}: {len(hits)} tickets, median {statistics.median(times) * 1000:.1f} ms")
            found = _pg_matching(parse(query, now, store.sql))
            if found:
                sql, params = found
                plan = store.execute(f"EXPLAIN (ANALYZE, COSTS OFF) SELECT m.ticket_id, m.id"
                                     f" FROM messages m WHERE {sql} ORDER BY m.id + 0 DESC",
                                     params).fetchall()
                print("   " + "\n   ".join(str(r[0]) for r in plan))
                with store.tx():  # the probe of _pg_newest_tickets (a common term?)
                    store.execute("SET LOCAL enable_bitmapscan = off")
                    plan = store.execute(
                        "EXPLAIN (ANALYZE, COSTS OFF) SELECT count(*) FROM (SELECT 1 FROM messages m"
                        " WHERE m.id > (SELECT max(id) FROM messages) - 2000"
                        f" AND {sql} LIMIT 10) x", params).fetchall()
                print("   probe: " + "\n   ".join(str(r[0]) for r in plan[-2:]))
        size = store.scalar("SELECT pg_size_pretty(pg_relation_size('messages_grams'))")
        print(f"messages_grams: {size}")
        store.close()


if __name__ == "__main__":
    main()
