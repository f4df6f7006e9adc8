"""Generate a realistic supportctl store, fast and deterministically.

    python bench/gen_store.py --tickets 100000 --messages 1000000 --out PATH
        [--seed 1] [--end 2026-11-01] [--fts rebuild|triggers] [--verify]

The schema comes from opening ``supportctl.store.db.Store(path)`` once (so it
is exactly what migrations.py makes); rows are then bulk-inserted with
``executemany`` in a few big transactions straight into contacts,
identities, tickets, messages, attachments (metadata only), tags and
events.

What the data looks like:
- two years of tickets ending at ``--end``, busier lately, mostly in
  business hours; ids (tickets and messages) grow with time, as a real
  store's do, because search orders by message id as recency;
- channels: email about 60 %, then whatsapp, sms, telegram, phone, mastodon;
  languages English (half), Italian, German, French, Spanish, words drawn
  Zipf-like from a few hundred per language plus ten words common to all
  (``_common.COMMON``), order numbers and product codes as rare tokens;
- about 35 % of tickets come from a returning contact; a contact has one
  identity per identity kind it used;
- threads alternate customer and agent, with internal notes; email replies
  quote the previous message; a few inbound mails carry attachments;
- statuses follow age: recent tickets new/open/pending, older ones solved
  and then closed; priorities, tags, assignees, SLA due times, a few
  snoozed and merged tickets; ``message_count``, ``last_message_at``,
  ``last_inbound_at``, ``first_response_at`` and ``updated_at`` agree with
  the messages and status times;
- events: create, assign, tag, status changes, merge.

Not generated: original payloads (``originals``), attachment files,
outbox, quarantine (list, show, search and export do not read them).

FTS: with ``--fts rebuild`` (the default) the triggers and secondary
indexes are dropped during the load, the index is built at the end with
``INSERT INTO messages_fts(messages_fts) VALUES('rebuild')`` and the
indexes and triggers are recreated from migrations.py's own statements;
the schema is then checked to be identical to a fresh store's.
``--fts triggers`` loads through the live triggers instead, as sync would.
``--verify`` runs FTS5's ``integrity-check`` (index == content table) and
checks the denormalised counters against the messages.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sqlite3
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The checkout's own supportctl, installed or not (as the other benches).
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _common import (  # noqa: E402
    COMMON,
    DOMAINS,
    FIRST,
    GREETING,
    INSTANCES,
    LAST,
    PHONE_PREFIX,
    REPLY_PREFIX,
    SIGNOFF,
    SUBJECTS,
    WORDS,
)

GEN_VERSION = 1  # bump when the generated data changes (bench caches by it)

CHANNELS = ("email", "whatsapp", "sms", "telegram", "phone", "mastodon")
CHANNEL_W = (60, 13, 9, 8, 6, 4)
ACCOUNT = {"email": ("support-mail", "support-mail", "support-mail", "sales-mail"),
           "sms": ("twilio",), "whatsapp": ("twilio",), "telegram": ("telegram-bot",),
           "mastodon": ("mastodon",), "phone": (None,)}
LANGS = ("en", "it", "de", "fr", "es")
LANG_W = (50, 15, 15, 10, 10)
PRIORITIES = ("normal", "high", "low", "urgent")
PRIORITY_W = (75, 13, 8, 4)
FIRST_DUE_H = {"urgent": 1, "high": 4, "normal": 8, "low": 24}
RESOLVE_DUE_H = {"urgent": 8, "high": 24, "normal": 72, "low": 168}
AGENTS = ("alice", "bruno", "chiara", "dieter", "elodie", "fernando", "grace", "hamid")
TAGS = ("billing", "refund", "shipping", "returns", "warranty", "login", "bug",
        "feature-request", "vip", "complaint", "invoice", "wholesale", "press", "spam")
TAG_W = (14, 12, 16, 9, 6, 8, 5, 3, 3, 4, 6, 2, 1, 1)
DAY = 86400.0
HOUR = 3600.0

_KIND = {"email": "email", "sms": "phone", "whatsapp": "phone", "phone": "phone",
         "telegram": "telegram", "mastodon": "mastodon"}


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _ascii(name: str) -> str:
    table = str.maketrans("äöüßàáâãèéêìíîòóôùúûñçÀÁÈÉÌÍÒÓÙÚÑÇÄÖÜ",
                          "aousaaaaeeeiiiooouuuncAAEEIIOOUUNCAOU")
    return "".join(c for c in name.translate(table).lower() if c.isalnum())


class Text:
    """Sentences in one language with Zipf-like word frequencies."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.cum: dict[str, list[float]] = {}
        for lang, words in WORDS.items():
            acc, out = 0.0, []
            for rank in range(len(words)):
                acc += 1.0 / (rank + 2)
                out.append(acc)
            self.cum[lang] = out

    def sentence(self, lang: str, lo: int, hi: int) -> str:
        rng = self.rng
        words = rng.choices(WORDS[lang], cum_weights=self.cum[lang], k=rng.randint(lo, hi))
        r = rng.random()
        if r < 0.55:  # the words every language shares
            words.insert(rng.randrange(len(words) + 1), rng.choice(COMMON))
        if r < 0.08:
            words.append(f"#{rng.randint(100000, 999999)}")
        elif r > 0.95:
            words.append(f"{rng.choice('ABCDEFGHKMRSXZ')}{rng.choice('ABCDEFGHKMRSXZ')}-"
                         f"{rng.randint(100, 9999)}")
        return " ".join(words).capitalize() + "."

    def body(self, lang: str, short: bool, name: str) -> str:
        rng = self.rng
        if short:  # chat: a line or two, no greeting
            return " ".join(self.sentence(lang, 3, 12) for _ in range(rng.randint(1, 2)))
        paras = [" ".join(self.sentence(lang, 5, 13) for _ in range(rng.randint(1, 3)))
                 for _ in range(rng.randint(1, 3))]
        return (f"{rng.choice(GREETING[lang])},\n\n" + "\n\n".join(paras)
                + f"\n\n{rng.choice(SIGNOFF[lang])}\n{name}")


class Gen:
    def __init__(self, tickets: int, messages: int, seed: int, end: float) -> None:
        if messages < tickets:
            raise SystemExit("--messages must be at least --tickets (every ticket has one)")
        self.n, self.m, self.end = tickets, messages, end
        self.rng = random.Random(seed)
        self.text = Text(self.rng)
        # contacts: (id, name, lang, created_at)
        self.contacts: list[tuple[int, str, str, str]] = []
        self.identities: list[tuple[int, int, str, str, str, str]] = []
        self.ident_of: dict[tuple[int, str], str] = {}
        self.contact_tickets: dict[int, list[int]] = {}

    # -- tickets -----------------------------------------------------------

    def _counts(self) -> list[int]:
        rng, n = self.rng, self.n
        raw = [rng.expovariate(1.0) ** 1.3 for _ in range(n)]
        rest = self.m - n
        scale = rest / sum(raw) if rest else 0.0
        counts = [1 + int(r * scale) for r in raw]
        short = self.m - sum(counts)
        for i in rng.choices(range(n), k=short) if short > 0 else ():
            counts[i] += 1
        return counts

    def _created(self) -> list[float]:
        rng, span = self.rng, 730 * DAY
        out = []
        for _ in range(self.n):
            # busier lately: the density doubles over the two years (inverse CDF)
            ts = self.end - span + span * ((1.0 + 3.0 * rng.random()) ** 0.5 - 1.0)
            if rng.random() < 0.75:  # business hours
                day = ts - ts % DAY
                ts = day + 8 * HOUR + rng.random() * 10 * HOUR
            out.append(min(ts, self.end - 60))
        out.sort()
        return out

    def _contact(self, lang_hint: str, at: float, medium: str) -> tuple[int, str, str]:
        rng = self.rng
        if self.contacts and rng.random() < 0.35:
            cid, name, lang, _ = self.contacts[rng.randrange(len(self.contacts))]
        else:
            cid = len(self.contacts) + 1
            lang = lang_hint
            name = f"{rng.choice(FIRST[lang])} {rng.choice(LAST[lang])}"
            if rng.random() < 0.08:
                name = ""  # a bare number or address
            self.contacts.append((cid, name, lang, iso(at)))
        kind = _KIND[medium]
        addr = self.ident_of.get((cid, kind))
        if addr is None:
            first, _, last = name.partition(" ") if name else ("customer", "", "")
            if kind == "email":
                addr = f"{_ascii(first)}.{_ascii(last) or 'x'}{cid}@{rng.choice(DOMAINS)}"
            elif kind == "phone":
                addr = f"{PHONE_PREFIX[lang]}{rng.randint(300, 399)}{cid:07d}"
            elif kind == "telegram":
                addr = str(100000000 + cid * 7919 % 900000000)
            else:
                addr = f"@{_ascii(first)}{cid}@{rng.choice(INSTANCES)}"
            self.ident_of[(cid, kind)] = addr
            self.identities.append((len(self.identities) + 1, cid, kind, medium, addr, iso(at)))
        return cid, name, lang

    def build(self) -> tuple[list[tuple[Any, ...]], list[tuple[float, int, int, str]],
                             list[tuple[int, str]], list[tuple[Any, ...]], list[dict[str, Any]]]:
        rng, end = self.rng, self.end
        counts = self._counts()
        created = self._created()
        tickets: list[tuple[Any, ...]] = []
        meta: list[tuple[float, int, int, str]] = []  # (sent_at, ticket_id, seq, direction)
        tags: list[tuple[int, str]] = []
        events: list[tuple[Any, ...]] = []
        info: list[dict[str, Any]] = []
        for i in range(self.n):
            tid = i + 1
            medium = rng.choices(CHANNELS, CHANNEL_W)[0]
            lang = rng.choices(LANGS, LANG_W)[0]
            t0 = created[i]
            cid, name, lang = self._contact(lang, t0, medium)
            self.contact_tickets.setdefault(cid, []).append(tid)
            n = counts[i]
            # directions: customer first, then mostly alternating; notes now and then
            dirs = ["in"]
            for _ in range(n - 1):
                r = rng.random()
                if r < 0.08:
                    dirs.append("note")
                elif r < 0.18:
                    dirs.append(dirs[-1] if dirs[-1] != "note" else "in")
                else:
                    dirs.append("out" if dirs[-1] == "in" else "in")
            if medium == "phone":  # a logged call; later contact by phone too
                dirs = ["in"] + ["note" if d == "note" else d for d in dirs[1:]]
            gaps = [rng.expovariate(1 / (3 * HOUR)) if d == "out" else
                    rng.expovariate(1 / (14 * HOUR)) if d == "in" else
                    rng.expovariate(1 / HOUR) for d in dirs[1:]]
            span = sum(gaps)
            room = end - 30 - t0
            if span > room:
                gaps = [g * room / span * 0.9 for g in gaps]
            times = [t0]
            for g in gaps:
                times.append(times[-1] + max(1.0, g))
            last = times[-1]
            age = end - last
            has_out = "out" in dirs
            snoozed = None
            solved_at = closed_at = None
            if age < 3 * DAY:
                status = ("pending" if dirs[-1] == "out" else "open") if has_out else "new"
                if status == "pending" and rng.random() < 0.15:
                    snoozed = iso(end + rng.uniform(0.5, 5) * DAY)
            elif age < 10 * DAY and has_out:
                status = rng.choices(("solved", "closed", "open", "pending"), (5, 3, 1, 1))[0]
            else:
                status = rng.choices(("closed", "pending", "solved", "open", "new"),
                                     (960, 15, 10, 10, 5))[0] if has_out else "closed"
            if status in ("solved", "closed"):
                solved_at = min(last + rng.uniform(0.2, 30) * HOUR, end - 10)
                if status == "closed":
                    closed_at = min(solved_at + rng.uniform(3, 7) * DAY, end - 5)
            priority = rng.choices(PRIORITIES, PRIORITY_W)[0]
            assignee = None
            if has_out or status != "new":
                assignee = rng.choice(AGENTS) if rng.random() < 0.9 else None
            first_out = next((t for t, d in zip(times, dirs, strict=True) if d == "out"), None)
            last_in = max(t for t, d in zip(times, dirs, strict=True) if d == "in")
            updated = max(x for x in (last, solved_at, closed_at) if x is not None)
            subject = rng.choice(SUBJECTS[lang])
            if medium not in ("email",):
                subject = ""  # filled from the first text, as ingest does
            account = rng.choice(ACCOUNT[medium])
            conv = f"tg:{self.ident_of[(cid, 'telegram')]}" if medium == "telegram" else None
            ticket_tags = sorted(set(rng.choices(TAGS, TAG_W, k=rng.choice((0, 0, 1, 1, 1, 2, 3))))
                                 ) if rng.random() < 0.7 else []
            tags += [(tid, g) for g in ticket_tags]
            merged_into = None
            tickets.append([
                tid, status, priority, subject, medium, account, cid, assignee, iso(t0),
                iso(updated), iso(first_out) if first_out else None,
                iso(solved_at) if solved_at else None, iso(closed_at) if closed_at else None,
                iso(t0 + FIRST_DUE_H[priority] * HOUR), iso(t0 + RESOLVE_DUE_H[priority] * HOUR),
                snoozed, merged_into, None, iso(last), iso(last_in), n, conv,
            ])
            info.append({"lang": lang, "name": name, "medium": medium, "cid": cid,
                         "account": account, "assignee": assignee or rng.choice(AGENTS)})
            for seq, (t, d) in enumerate(zip(times, dirs, strict=True)):
                meta.append((t, tid, seq, d))
            # events, in the order they happened
            ev: list[tuple[str, str, float, dict[str, Any]]] = [
                ("system", "create", t0, {"account": account, "channel": medium,
                                          "linked_ticket": None})]
            if assignee:
                ev.append((assignee, "assign", (first_out or t0 + 60), {"new": assignee, "old": None}))
            for g in ticket_tags:
                ev.append((assignee or "system", "tag", t0 + 120, {"tag": g}))
            if solved_at:
                ev.append((assignee or "system", "status", solved_at, {"new": "solved", "old": "open"}))
            if closed_at:
                ev.append(("system", "status", closed_at,
                           {"new": "closed", "old": "solved", "reason": "close_after"}))
            if snoozed:
                ev.append((assignee or "system", "snooze", last + 60, {"until": snoozed}))
            for actor, action, at, detail in ev:
                events.append((tid, None, actor, action,
                               json.dumps(detail, ensure_ascii=False, sort_keys=True), iso(at)))
        # A few duplicates merged into the contact's next ticket.
        for tids in self.contact_tickets.values():
            if len(tids) > 1 and rng.random() < 0.03:
                a, b = tids[0], tids[1]
                row = tickets[a - 1]
                row[1], row[16] = "closed", b
                events.append((b, None, "system", "merge", json.dumps({"merged": a}), row[9]))
                events.append((a, None, "system", "merged", json.dumps({"into": b}), row[9]))
        # Ticket subjects of chat channels come from their first text: set below.
        meta.sort()
        return [tuple(t) for t in tickets], meta, tags, events, info

    # -- messages ------------------------------------------------------------

    def messages(self, meta: list[tuple[float, int, int, str]], info: list[dict[str, Any]],
                 subjects: list[str], atts: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        rng, text = self.rng, self.text
        last_line: dict[int, str] = {}
        last_ext: dict[int, str] = {}
        for mid, (t, tid, seq, d) in enumerate(meta, 1):
            tk = info[tid - 1]
            lang, medium, name = tk["lang"], tk["medium"], tk["name"]
            addr = self.ident_of[(tk["cid"], _KIND[medium])]
            account = tk["account"]
            agent = tk["assignee"]
            short = medium not in ("email", "phone")
            if d == "note":
                body = text.sentence(lang, 4, 16)
            elif d == "out":
                body = text.body(lang, short, f"{agent.capitalize()} / support")
            else:
                body = text.body(lang, short, name or "")
            if medium == "email" and d == "in" and seq > 0 and tid in last_line:
                body += f"\n\nOn {iso(t - 3600)[:10]} support wrote:\n> {last_line[tid]}"
            if d != "note":
                paras = body.split("\n\n")
                last_line[tid] = paras[1 if len(paras) > 2 else 0][:200]
            if seq == 0 and not subjects[tid - 1]:
                first = " ".join(body.split())
                subjects[tid - 1] = first[:60] + ("…" if len(first) > 60 else "")
            us = {"name": "Support", "address": "support@example.com"} if medium == "email" else \
                {"name": "", "address": account or ""}
            them = {"name": name, "address": addr}
            if d == "in":
                frm, to = them, [us]
            elif d == "out":
                frm, to = us, [them]
            else:
                frm, to = {"name": agent, "address": ""}, []
            subj = ""
            if medium == "email" and d != "note":
                subj = subjects[tid - 1] if seq == 0 else REPLY_PREFIX[lang] + subjects[tid - 1]
            ext = None
            in_reply_to = refs = None
            if d != "note":
                if medium == "email":
                    ext = f"m{mid}.{rng.getrandbits(48):012x}@" + (
                        "example.com" if d == "out" else addr.rsplit("@", 1)[1])
                    if tid in last_ext:
                        in_reply_to = refs = last_ext[tid]
                    last_ext[tid] = ext
                elif medium in ("sms", "whatsapp"):
                    ext = f"SM{rng.getrandbits(128):032x}"
                elif medium == "telegram":
                    ext = f"{addr}:{mid}"
                elif medium == "mastodon":
                    ext = str(109000000000000000 + mid)
            state = err = None
            if d == "out":
                state = "sent" if medium == "email" else rng.choices(
                    ("delivered", "sent", "undelivered"), (90, 8, 2))[0]
                err = "30003 unreachable handset" if state == "undelivered" else None
            author = agent if d != "in" else None
            sent = iso(t)
            if medium == "email" and d == "in" and rng.random() < 0.04:
                kind = rng.choice((("photo.jpg", "image/jpeg"), ("invoice.pdf", "application/pdf"),
                                   ("screenshot.png", "image/png")))
                atts.append((mid, kind[0], kind[1], rng.randint(20_000, 3_000_000),
                             f"{rng.getrandbits(256):064x}", None, 0))
            yield (mid, tid, d, medium, account, ext, frm["name"], frm["address"],
                   json.dumps(to, ensure_ascii=False), "[]", subj, body, None, sent,
                   iso(t + 5), in_reply_to, refs, None, author, state, err,
                   None, f"INBOX:{mid}" if medium == "email" and d == "in" else None, None)


_MSG_COLS = ("id, ticket_id, direction, channel, account, external_id, from_name, from_address, "
             "to_json, cc_json, subject, text, html, sent_at, created_at, in_reply_to, refs, "
             "conversation, author, delivery_state, delivery_error, auto_reason, source_ref, meta")
_TICKET_COLS = ("id, status, priority, subject, channel, account, contact_id, assignee, "
                "created_at, updated_at, first_response_at, solved_at, closed_at, "
                "first_response_due, resolution_due, snoozed_until, merged_into, linked_ticket, "
                "last_message_at, last_inbound_at, message_count, conversation")


def _marks(cols: str) -> str:
    return ", ".join("?" for _ in cols.split(","))


def _schema(conn: sqlite3.Connection) -> list[tuple[str, str, str, str]]:
    return sorted(conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL"))


def _deferred_statements() -> list[str]:
    """Secondary indexes and FTS, SLA and report rollup triggers, verbatim
    from migrations.py (a later step's trigger of the same name, m021's,
    replaces m008's, m026's partial event index m001's, m028's full-text
    triggers m001's, m029's report_volume_mu m020's)."""
    from supportctl.store.migrations import _M001, _M008, _M020, _M021, _M026, _M028, _M029

    # m028 redefines every full-text trigger; only messages_fts is rebuilt
    # after the load (the others stay live during it)
    fts_028 = [s for s in _M028 if s.lstrip().startswith("CREATE TRIGGER messages_fts_")]
    final: dict[str, str] = {}
    for stmt in [*_M001, *_M008, *_M021, *_M020, *_M026, *fts_028, *_M029]:
        if stmt.lstrip().startswith(("CREATE INDEX", "CREATE UNIQUE INDEX", "CREATE TRIGGER")):
            final[_name_of(stmt.strip())] = stmt
    return list(final.values())


def _name_of(stmt: str) -> str:
    words = stmt.split()
    return words[3] if words[1] == "UNIQUE" else words[2]


def generate(out: Path, tickets: int, messages: int, *, seed: int = 1, end: str = "2026-11-01",
             fts: str = "rebuild", verify: bool = False, quiet: bool = False) -> dict[str, float]:
    from supportctl.store.db import Store

    def say(msg: str) -> None:
        if not quiet:
            print(f"[{time.perf_counter() - t_start:6.1f}s] {msg}", file=sys.stderr, flush=True)

    t_start = time.perf_counter()
    out = Path(out)
    for p in (out, out.with_name(out.name + "-wal"), out.with_name(out.name + "-shm")):
        p.unlink(missing_ok=True)
    Store(out).close()  # the real schema, through the real migrations
    end_ts = datetime.fromisoformat(end).replace(tzinfo=timezone.utc).timestamp()

    conn = sqlite3.connect(str(out), isolation_level=None)
    reference_schema = _schema(conn)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA foreign_keys = OFF")
    deferred = _deferred_statements() if fts == "rebuild" else []
    for stmt in deferred:
        kind = "TRIGGER" if "TRIGGER" in stmt.split()[1] else "INDEX"
        conn.execute(f"DROP {kind} {_name_of(stmt)}")

    g = Gen(tickets, messages, seed, end_ts)
    ticket_rows, meta, tags, events, info = g.build()
    say(f"planned {len(ticket_rows)} tickets, {len(meta)} messages, {len(g.contacts)} contacts")
    subjects = [str(t[3]) for t in ticket_rows]
    atts: list[tuple[Any, ...]] = []
    t_msg = time.perf_counter()
    conn.execute("BEGIN")
    sql = f"INSERT INTO messages ({_MSG_COLS}) VALUES ({_marks(_MSG_COLS)})"
    rows = g.messages(meta, info, subjects, atts)
    while True:
        batch = list(itertools.islice(rows, 100_000))
        if not batch:
            break
        conn.executemany(sql, batch)
        say(f"messages {batch[-1][0]}")
    conn.execute("COMMIT")
    t_msg = time.perf_counter() - t_msg
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO contacts (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
        [(cid, name, at, at) for cid, name, _, at in g.contacts])
    conn.executemany(
        "INSERT INTO identities (id, contact_id, kind, channel, address, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)", g.identities)
    conn.executemany(
        f"INSERT INTO tickets ({_TICKET_COLS}) VALUES ({_marks(_TICKET_COLS)})",
        [(*t[:3], subjects[t[0] - 1], *t[4:]) for t in ticket_rows])
    conn.executemany("INSERT INTO tags (ticket_id, tag) VALUES (?, ?)", tags)
    conn.executemany(
        "INSERT INTO events (ticket_id, contact_id, actor, action, detail, at)"
        " VALUES (?, ?, ?, ?, ?, ?)", events)
    conn.executemany(
        "INSERT INTO attachments (message_id, filename, content_type, size, sha256, content_id,"
        " inline) VALUES (?, ?, ?, ?, ?, ?, ?)", atts)
    conn.execute("COMMIT")
    say("tickets, contacts, tags, events written")
    t_fts = time.perf_counter()
    if fts == "rebuild":
        conn.execute("INSERT INTO messages_fts(messages_fts) VALUES('rebuild')")
        say("fts rebuilt")
        for stmt in deferred:
            conn.execute(stmt)
        say("indexes and triggers recreated")
    t_fts = time.perf_counter() - t_fts
    if _schema(conn) != reference_schema:
        raise SystemExit("schema differs from a fresh store's after the bulk load")
    if verify:
        _verify(conn)
        say("verified")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    # The rollup report reads (m020): counted in by the first report, here
    # as in a store in use, where reports keep it current.
    from supportctl.store.db import Store
    from supportctl.store.report import catch_up_volume

    store = Store(out)
    catch_up_volume(store)
    store.close()
    say("report rollup counted")
    total = time.perf_counter() - t_start
    say(f"done: {out} ({out.stat().st_size / 1e6:.0f} MB)")
    return {"seconds": total, "messages_seconds": t_msg, "fts_seconds": t_fts}


def _verify(conn: sqlite3.Connection) -> None:
    # rank=1: also compares every row of the content table with the index.
    conn.execute("INSERT INTO messages_fts(messages_fts, rank) VALUES('integrity-check', 1)")
    bad = conn.execute(
        "SELECT count(*) FROM tickets t LEFT JOIN (SELECT ticket_id, count(*) n, max(sent_at) l,"
        " max(CASE WHEN direction = 'in' THEN sent_at END) li FROM messages GROUP BY ticket_id) m"
        " ON m.ticket_id = t.id WHERE t.message_count != m.n OR t.last_message_at != m.l"
        " OR t.last_inbound_at != m.li OR t.updated_at < m.l").fetchone()[0]
    if bad:
        raise SystemExit(f"{bad} tickets disagree with their messages")
    if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
        raise SystemExit("foreign key violations")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tickets", type=int, default=100_000)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--end", default="2026-11-01", help="last day of the two years (UTC)")
    ap.add_argument("--fts", choices=("rebuild", "triggers"), default="rebuild")
    ap.add_argument("--verify", action="store_true")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args()
    generate(a.out, a.tickets, a.messages, seed=a.seed, end=a.end, fts=a.fts, verify=a.verify,
             quiet=a.quiet)


if __name__ == "__main__":
    main()
