"""What the trigram index of Chinese, Japanese, Korean and Thai text (m011)
costs: search time beside the bare typer app, insert cost, store size.

    python bench/bench_cjk.py --store bench/out/base.db [--before-code DIR]
        [--runs 5] [--cjk 10000] [--import-tickets 4000]

1. Search (SPEC §8: reference + 40 ms). ``--store`` is a generated
   100 000-ticket store (gen_store.py) at the schema before m011; it is
   copied, the copy is upgraded (``db migrate``, timed) and given ``--cjk``
   messages in Japanese, Chinese, Korean and Thai on existing tickets.
   Then, each beside the bare typer app in the same round: a common word,
   a two-character CJK term (an ``instr`` scan of the CJK messages), a
   longer one (the trigram index), a word and a CJK term together, and
   ``list --query``. With ``--before-code DIR`` (a checkout of the code
   before m011), ``search support`` and ``search 注文`` also run with that
   code on the original store.
2. Store size: the trigram index's pages (``dbstat``) and the file's growth.
3. Insert cost: the same JSONL export (``--import-tickets`` tickets of 10
   messages, one ticket in ten in a CJK language) imported into a fresh
   store with and without the m011 triggers, CPU time of the whole process,
   alternating, medians.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_store  # noqa: E402
from _common import OUT  # noqa: E402
from bench_store import BARE_TYPER, PY, run  # noqa: E402

SENTENCES = {
    "ja": ["注文番号{n}の商品がまだ届きません。", "配送状況を確認していただけますか。",
           "返品の手続きを教えてください。", "サイズを交換したいです。", "領収書を発行してください。"],
    "zh": ["我的订单{n}还没有到。", "请帮我查一下物流信息。", "我想退货，请问怎么办理？",
           "收到的商品有破损。", "可以开发票吗？"],
    "ko": ["주문번호 {n} 상품이 아직 도착하지 않았습니다.", "배송 상태를 확인해 주세요.",
           "환불 절차를 알려주세요.", "사이즈를 교환하고 싶습니다."],
    "th": ["สินค้าที่สั่งซื้อหมายเลข {n} ยังไม่ได้รับครับ", "ช่วยตรวจสอบการจัดส่งด้วยค่ะ",
           "ต้องการคืนสินค้าครับ"],
}
LATIN = ["Where is my order {n}? It has not arrived yet.", "Can you check the tracking please?",
         "I would like to return the shoes, they are too small.", "Thanks for the quick answer!",
         "Il pacco {n} non è ancora arrivato.", "Je voudrais changer l'adresse de livraison."]


def cjk_text(rng: random.Random, lang: str) -> str:
    return "".join(rng.choice(SENTENCES[lang]).format(n=rng.randint(1000, 99999))
                   for _ in range(rng.randint(1, 4)))


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def add_cjk_messages(db: Path, n: int, seed: int = 7) -> float:
    """``n`` inbound CJK messages on existing tickets, through the triggers;
    returns the seconds the inserts took."""
    import time

    rng = random.Random(seed)
    conn = sqlite3.connect(db, isolation_level=None)
    top_ticket, top_msg = conn.execute("SELECT max(ticket_id), max(id) FROM messages").fetchone()
    rows = []
    for i in range(n):
        lang = rng.choice(list(SENTENCES))
        tid = rng.randint(1, top_ticket)
        rows.append((top_msg + 1 + i, tid, "in", "email", f"cjk{i}@example.com",
                     cjk_text(rng, lang)[:20], cjk_text(rng, lang), "2026-10-31T12:00:00Z",
                     "2026-10-31T12:00:00Z"))
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO messages (id, ticket_id, direction, channel, from_address, subject, text,"
        " sent_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    took = time.perf_counter() - t0
    conn.close()
    return took


def index_bytes(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    out = dict(conn.execute(
        "SELECT CASE WHEN name LIKE 'messages_cjk%' THEN 'trigram index'"
        " WHEN name = 'messages_automatic' THEN 'automatic-messages index'"
        " WHEN name LIKE 'messages_fts%' THEN 'word index' ELSE 'other' END, sum(pgsize)"
        " FROM dbstat GROUP BY 1"))
    conn.close()
    return out


def jsonl_dump(path: Path, tickets: int, seed: int = 3) -> None:
    rng = random.Random(seed)
    mid = 0
    with path.open("w", encoding="utf-8") as f:
        for tid in range(1, tickets + 1):
            lang = rng.choice(list(SENTENCES)) if tid % 10 == 0 else None
            msgs = []
            for k in range(10):
                mid += 1
                text = cjk_text(rng, lang) if lang else " ".join(
                    rng.choice(LATIN).format(n=rng.randint(1000, 99999)) for _ in range(4))
                msgs.append({"id": mid, "direction": "in" if k % 2 == 0 else "out",
                             "channel": "email", "account": None, "external_id": None,
                             "from": {"name": "", "address": f"c{tid}@example.com"}, "to": [],
                             "subject": text[:30], "text": text,
                             "sent_at": "2026-10-01T10:00:00Z", "attachments": [],
                             "delivery": {"state": None, "error": None}})
            f.write(json.dumps({
                "id": tid, "status": "open", "priority": "normal", "subject": msgs[0]["subject"],
                "channel": "email", "account": None,
                "contact": {"id": tid, "name": "", "identities": [
                    {"channel": "email", "address": f"c{tid}@example.com"}]},
                "assignee": None, "tags": [], "created_at": "2026-10-01T10:00:00Z",
                "updated_at": "2026-10-01T10:00:00Z", "first_response_at": None,
                "solved_at": None, "sla": {}, "message_count": 10,
                "last_message_at": "2026-10-01T10:00:00Z", "snoozed_until": None,
                "merged_into": None, "linked_ticket": None, "messages": msgs, "events": [],
            }, ensure_ascii=False) + "\n")


def fresh_store(path: Path, *, trigram: bool) -> None:
    from supportctl.store.db import Store

    Store(path).close()
    if not trigram:  # the insert path as it was before m011
        conn = sqlite3.connect(path)
        for t in ("ai", "ad", "aud", "aui"):
            conn.execute(f"DROP TRIGGER messages_cjk_{t}")
        conn.commit()
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--before-code", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cjk", type=int, default=10_000)
    ap.add_argument("--import-tickets", type=int, default=4000)
    ap.add_argument("--skip-search", action="store_true")
    ap.add_argument("--skip-import", action="store_true")
    ap.add_argument("--reuse", action="store_true",
                    help="Reuse bench/out/cjk-after.db from an earlier run (no copy, migrate, add).")
    a = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    bare = OUT / "bare_typer.py"
    bare.write_text(BARE_TYPER)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    if not a.skip_search:
        after = OUT / "cjk-after.db"
    if not a.skip_search and not (a.reuse and after.exists()):
        for p in (after, Path(f"{after}-wal"), Path(f"{after}-shm")):
            p.unlink(missing_ok=True)
        shutil.copyfile(a.store, after)
        size0 = after.stat().st_size
        r = run([PY, "-m", "supportctl", "--db", str(after), "db", "migrate"])
        assert r.code == 0, "db migrate failed"
        print(f"db migrate (m011 on {a.store.name}): {r.wall:.1f} s wall, {r.cpu:.1f} s CPU")
        grown_empty = index_bytes(after)
        took = add_cjk_messages(after, a.cjk)
        print(f"{a.cjk} CJK messages added through the triggers: {took:.2f} s")
        sizes = index_bytes(after)
        subprocess.run(["sqlite3", str(after), "PRAGMA wal_checkpoint(TRUNCATE)"],
                       check=False, capture_output=True)
        print(f"store size: {size0 / 1e6:.0f} MB before, {after.stat().st_size / 1e6:.0f} MB after"
              f" (migration + {a.cjk} messages)")
        for name in ("trigram index", "automatic-messages index", "word index"):
            print(f"  {name}: {grown_empty.get(name, 0) / 1e6:.2f} MB after the migration,"
                  f" {sizes.get(name, 0) / 1e6:.2f} MB with the CJK messages")
    if not a.skip_search:
        sc = [PY, "-m", "supportctl", "--db", str(after)]
        s50 = ["--limit", "50", "--format", "json"]
        cases = {
            "search support (common word)": [*sc, "search", *s50, "support"],
            "search 注文 (2 characters: instr scan)": [*sc, "search", *s50, "注文"],
            "search 届きません (trigram)": [*sc, "search", *s50, "届きません"],
            "search 订单 support (word + CJK)": [*sc, "search", *s50, "订单", "support"],
            "search 상품이 -환불": [*sc, "search", *s50, "상품이", "-환불"],
            "list --query 注文 --limit 50": [*sc, "list", "--query", "注文", *s50],
        }
        if a.before_code:
            # -P: not the current directory (this checkout) but PYTHONPATH first.
            old = [PY, "-P", "-m", "supportctl", "--db", str(a.store)]
            before = {"BEFORE search support": [*old, "search", *s50, "support"],
                      "BEFORE search 注文": [*old, "search", *s50, "注文"]}
        else:
            before = {}
        ref = [PY, str(bare), "--limit", "50"]
        results: dict[str, list[tuple[float, float]]] = {k: [] for k in [*cases, *before]}
        refs: list[tuple[float, float]] = []
        for rnd in range(a.runs + 1):
            for name, argv in [*cases.items(), *before.items()]:
                rr = run(ref)
                if name.startswith("BEFORE"):
                    bench_store.ENV["PYTHONPATH"] = str(a.before_code)
                rc = run(argv)
                bench_store.ENV.pop("PYTHONPATH", None)
                if rnd == 0:
                    assert rc.code == 0, f"{name} exited {rc.code}"
                    continue
                refs.append((rr.wall, rr.cpu))
                results[name].append((rc.wall - rr.wall, rc.cpu - rr.cpu))
        print(f"\nbare typer reference: {median([w for w, _ in refs]) * 1000:.0f} ms wall, "
              f"{median([c for _, c in refs]) * 1000:.0f} ms CPU (median of {len(refs)})")
        print(f"{'command':45} {'Δ wall':>9} {'Δ CPU':>9}  budget +40 ms")
        for name, deltas in results.items():
            dw = median([w for w, _ in deltas]) * 1000
            dc = median([c for _, c in deltas]) * 1000
            verdict = "pass" if min(dw, dc) <= 40 else "MISS"
            print(f"{name:45} {dw:+8.0f}ms {dc:+8.0f}ms  {verdict} (wall/cpu best)")

    if a.skip_import:
        return
    # Insert cost: import with and without the trigram triggers.
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        dump = Path(tmp) / "dump.jsonl"
        jsonl_dump(dump, a.import_tickets)
        times: dict[bool, list[float]] = {False: [], True: []}
        sizes_b: dict[bool, int] = {}
        for rnd in range(max(3, a.runs // 2)):
            for trigram in (False, True):
                db = Path(tmp) / f"imp-{trigram}-{rnd}.db"
                fresh_store(db, trigram=trigram)
                r = run([PY, "-m", "supportctl", "--db", str(db), "import", str(dump),
                         "--format", "jsonl"])
                assert r.code == 0
                times[trigram].append(r.cpu)
                sizes_b[trigram] = db.stat().st_size
        n = a.import_tickets * 10
        t0, t1 = median(times[False]), median(times[True])
        print(f"\nimport --format jsonl of {n} messages (one ticket in ten CJK), CPU medians:"
              f" {t0:.2f} s without the trigram triggers, {t1:.2f} s with"
              f" ({(t1 / t0 - 1) * 100:+.1f} %); store {sizes_b[False] / 1e6:.1f} ->"
              f" {sizes_b[True] / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
