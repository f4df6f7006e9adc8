"""Team mode on PostgreSQL through the command line (SPEC §13): a
``postgresql://`` URL as ``--db`` gives the same JSON as a SQLite file,
``next`` never hands one ticket to two agents, commands not yet ported say
so in one line, and SQLite users never load the PostgreSQL driver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.race import race_next
from tests.conftest import ROOT, Result, run_cli

NOW = {"SUPPORTCTL_NOW": "2026-12-01T09:00:00Z"}
LINES = [
    {"id": 1, "status": "open", "priority": "high", "subject": "Parcel lost", "channel": "email",
     "created_at": "2026-11-30T08:00:00Z", "updated_at": "2026-11-30T09:00:00Z",
     "tags": ["dhl"], "contact": {"id": 1, "name": "Ann Becker",
                                  "identities": [{"channel": "email", "address": "ann@example.com"}]},
     "messages": [{"id": 1, "ticket_id": 1, "direction": "in", "channel": "email",
                   "external_id": "a1@example.com", "from": {"name": "Ann Becker",
                                                              "address": "ann@example.com"},
                   "to": [{"name": "", "address": "help@shop.example"}], "subject": "Parcel lost",
                   "text": "My parcel never arrived. Order 1042.",
                   "sent_at": "2026-11-30T08:00:00Z", "attachments": []}]},
    {"id": 2, "status": "new", "priority": "normal", "subject": "Rimborso", "channel": "sms",
     "created_at": "2026-11-30T10:00:00Z", "updated_at": "2026-11-30T10:00:00Z", "tags": [],
     "contact": {"id": 2, "name": "", "identities": [{"channel": "sms", "address": "+393331112222"}]},
     "messages": [{"id": 2, "ticket_id": 2, "direction": "in", "channel": "sms",
                   "external_id": "SM1", "from": {"name": "", "address": "+393331112222"},
                   "to": [], "subject": "", "text": "Vorrei un rimborso per l'ordine 1043",
                   "sent_at": "2026-11-30T10:00:00Z", "attachments": []}]},
]


@pytest.fixture
def pgcli(pg_url: str) -> Any:
    def call(*args: str, **kw: Any) -> Result:
        return run_cli("--db", pg_url, *args, **kw)

    call.db = pg_url  # type: ignore[attr-defined]
    return call


def _fill(cli: Any) -> None:
    body = "".join(json.dumps(line) + "\n" for line in LINES)
    assert cli("import", "--format", "jsonl", "-", input=body, env=NOW).code == 0
    r = cli("new", "--channel", "phone", "--to", "Carla", "--subject", "Chiamata",
            "-m", "Ha chiamato per la fattura", env=NOW)
    assert r.code == 0, r
    for args in (("tag", "VIP", "1", "3"), ("assign", "marta", "2"), ("priority", "urgent", "3"),
                 ("solve", "1"), ("note", "1", "-m", "checked with DHL")):
        assert cli(*args, env=NOW).code == 0, args


def _without_snippets(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "snippet"} for r in records]


def test_read_commands_print_the_same_json_as_on_sqlite(cli: Any, pgcli: Any) -> None:
    _fill(cli)
    _fill(pgcli)
    for args in (("list", "--status", "all", "--format", "json"),
                 ("list", "--format", "json", "--sort", "priority"),
                 ("list", "--tag", "vip", "--format", "ids"),
                 ("show", "1", "--format", "json"),
                 ("show", "3", "--format", "json"),
                 ("export", "--format", "jsonl", "--messages", "--raw"),
                 ("list", "--query", "parcel", "--status", "all", "--format", "json")):
        here, there = cli(*args, env=NOW), pgcli(*args, env=NOW)
        assert here.code == there.code == 0, (args, here, there)
        assert there.out == here.out, args
    for query in ("parcel", "tag:vip", "from:ann", "-tag:vip", "status:solved", '"never arrived"',
                  "1043", "is:unassigned"):
        here, there = (c("search", query, "--format", "json", env=NOW) for c in (cli, pgcli))
        assert here.code == there.code == 0, (query, here, there)
        assert _without_snippets(there.json()) == _without_snippets(here.json()), query
    missing = pgcli("show", "99", env=NOW)
    assert missing.code == 3 and "no ticket 99" in missing.err


def test_italian_words_match_their_stems(pgcli: Any) -> None:
    """A message in Italian is indexed with Italian stems: "rimborsi"
    finds "rimborso" (the SQLite store matches words exactly)."""
    body = json.dumps({**LINES[1], "messages": [{**LINES[1]["messages"][0], "language": "it"}]})
    assert pgcli("import", "--format", "jsonl", "-", input=body + "\n", env=NOW).code == 0
    found = pgcli("search", "rimborsi", "--format", "ids", env=NOW)
    assert found.code == 0 and found.out.split() == ["2"], found


def test_two_agents_racing_next_on_postgresql_never_get_the_same_ticket(
        pgcli: Any, tmp_path: Path) -> None:
    """Two processes hand out 1 000 tickets between them through the
    service `next` calls (``FOR UPDATE SKIP LOCKED``), plus one real
    `next` each: every ticket goes to exactly one agent."""
    race_next(pgcli, pgcli.db, tmp_path, lambda who: {**NOW, "SUPPORTCTL_AGENT": who})


def test_every_command_runs_on_postgresql_and_a_new_one_must_say() -> None:
    """Every command of the CLI is declared to work on PostgreSQL
    (``engine.PORTED``; ``db embed`` was the last). A command added
    without being declared is refused there in one line, and this test
    names it."""
    from typer.main import get_command

    from supportctl.cli.app import _register, app
    from supportctl.errors import UsageError
    from supportctl.store.engine import GROUPS, PORTED, require_ported

    _register([])  # every command module
    names = []
    for name, command in get_command(app).commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        if name in GROUPS and subcommands:
            names += [f"{name} {sub}" for sub in subcommands]
        else:
            names.append(name)
    # The knowledge base is a folder of files: kb opens no store.
    assert sorted(n for n in names if n not in PORTED and not n.startswith("kb ")) == []
    with pytest.raises(UsageError) as refused:
        require_ported("frobnicate --all")
    assert "`frobnicate` is not available on PostgreSQL yet" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_server_that_refuses_is_one_line_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql://ann:s3cret@/nowhere?host={tmp_path}"
    r = run_cli("--db", url, "list")
    assert r.code == 1 and r.err.count("\n") == 1, r
    assert "cannot connect" in r.err and "s3cret" not in r.err, r


def test_without_the_extra_the_url_names_what_to_install(tmp_path: Path) -> None:
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "psycopg.py").write_text("raise ImportError('no psycopg here')\n")
    # A writing command: the reading ones need libpq only (tests/store/test_pq.py).
    r = run_cli("--db", "postgresql://ann@/shop", "tag", "vip", "1",
                env={"PYTHONPATH": str(blocker)})
    assert r.code == 2 and "supportctl[postgres]" in r.err and r.err.count("\n") == 1, r


def test_store_url_in_the_config_opens_postgresql(pg_url: str, tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"store: {pg_url}\n", encoding="utf-8")
    env = {"SUPPORTCTL_CONFIG": str(cfg), **NOW}
    r = run_cli("new", "--channel", "phone", "--to", "Dora", "-m", "hi", "--format", "ids", env=env)
    assert r.code == 0 and r.out.strip() == "1", r
    assert run_cli("list", "--format", "ids", env={"SUPPORTCTL_DB": pg_url}).out.split() == ["1"]


def test_sqlite_start_up_never_loads_the_postgresql_driver(cli: Any) -> None:
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "supportctl", "--db",
                        str(cli.db), "list"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-500:]
    loaded = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if "|" in line}
    assert not {m for m in loaded if m.startswith(("psycopg", "supportctl.store.pg"))}


def test_sync_and_reply_through_a_channel_on_postgresql(pgcli: Any, tmp_path: Path) -> None:
    """A real channel (the Telegram loopback server) synced into a
    PostgreSQL store, answered by two agents: the second is warned off
    (exit 4) as on SQLite, the reply goes out once, and a second sync
    stores nothing twice."""
    from tests.social.telegram_server import TOKEN as TG_TOKEN
    from tests.social.telegram_server import TelegramServer

    with TelegramServer() as tg:
        cfg = tmp_path / "config.yaml"
        cfg.write_text("agents: [{name: marta}, {name: luca}]\n"
                       "channels:\n  - name: shop-telegram\n    type: telegram\n"
                       f"    token_env: SHOP_TELEGRAM_TOKEN\n    api_base_url: {tg.url}\n",
                       encoding="utf-8")
        env = {"SUPPORTCTL_CONFIG": str(cfg), "SHOP_TELEGRAM_TOKEN": TG_TOKEN, **NOW}
        tg.message(tg.user(5100000001, "Lia"), "Avete la taglia 38?")
        first = pgcli("sync", env=env)
        assert first.code == 0, first
        assert pgcli("sync", env=env).code == 0
        [t] = pgcli("list", "--format", "json", env=env).json()
        assert t["message_count"] == 1 and t["channel"] == "telegram"
        tid = str(t["id"])
        assert pgcli("show", tid, env={**env, "SUPPORTCTL_AGENT": "marta"}).code == 0
        r = pgcli("reply", tid, "-m", "Sì, ce l'abbiamo.", env={**env, "SUPPORTCTL_AGENT": "luca"})
        assert r.code == 0, r
        r = pgcli("reply", tid, "-m", "Sì!", env={**env, "SUPPORTCTL_AGENT": "marta"})
        assert r.code == 4 and "was answered by luca" in r.err, r
        assert [m["text"] for m in tg.sent] == ["Sì, ce l'abbiamo."]
        shown = pgcli("show", tid, "--format", "json", env=env).json()
        assert [m["direction"] for m in shown["messages"]] == ["in", "out"]
        assert shown["status"] == "open" and shown["messages"][1]["delivery"]["state"] == "sent"


def test_the_other_ported_triage_commands(pgcli: Any, tmp_path: Path) -> None:
    eml = ROOT / "supportctl" / "samples" / "email" / "05-photo.eml"
    assert pgcli("import", str(eml), "--format", "eml", env=NOW).code == 0
    listed = pgcli("attachments", "1", "--format", "json", env=NOW)
    assert listed.code == 0 and listed.json(), listed
    saved = pgcli("attachments", "1", "--save", str(tmp_path / "out"), env=NOW)
    assert saved.code == 0, saved
    [name] = [a["filename"] for a in listed.json()][:1]
    assert (tmp_path / "out" / name).read_bytes()
    for args in (("tag", "x", "1"), ("untag", "x", "1"), ("snooze", "2h", "1"),
                 ("claim", "1"), ("unclaim", "1"), ("solve", "1"), ("reopen", "1")):
        r = pgcli(*args, env=NOW)
        assert r.code == 0, (args, r)
    [t] = pgcli("list", "--status", "all", "--format", "json", env=NOW).json()
    assert t["status"] == "open" and t["tags"] == ["history"] and t["claim"] is None
    assert t["snoozed_until"] is None  # solving it ended the snooze
    assert pgcli("snooze", "2h", "1", env=NOW).code == 0
    [t] = pgcli("list", "--status", "all", "--format", "json", env=NOW).json()
    assert t["snoozed_until"] == "2026-12-01T11:00:00Z"
    unknown = pgcli("tag", "x", "1", "99", env=NOW)
    assert unknown.code == 3 and "99" in unknown.err


@pytest.mark.process
def test_three_machines_syncing_the_same_entries_store_every_message_once(
        pg_url: str, tmp_path: Path) -> None:
    """SPEC §13: every machine runs `sync` from cron against one server.
    Three `sync` processes start together, four times, while customers keep
    writing on SMS and Telegram: each entry is pulled by one of them at a
    time (the others skip it, exit 0), and every message is stored once,
    each customer's in one ticket per channel."""
    import threading

    from tests.social.telegram_server import TOKEN as TG_TOKEN
    from tests.social.telegram_server import TelegramServer
    from tests.social.twilio_server import SHOP, SID, TwilioServer
    from tests.social.twilio_server import TOKEN as TW_TOKEN

    with TwilioServer() as tw, TelegramServer() as tg:
        cfg = tmp_path / "config.yaml"
        cfg.write_text("channels:\n"
                       f"  - name: shop-sms\n    type: twilio\n    account_sid: {SID}\n"
                       f"    auth_token_env: SHOP_TWILIO_TOKEN\n    numbers: ['{SHOP}']\n"
                       f"    api_base_url: {tw.url}\n"
                       "  - name: shop-telegram\n    type: telegram\n"
                       f"    token_env: SHOP_TELEGRAM_TOKEN\n    api_base_url: {tg.url}\n",
                       encoding="utf-8")
        env = {**os.environ, "SUPPORTCTL_CONFIG": str(cfg),
               "SHOP_TWILIO_TOKEN": TW_TOKEN, "SHOP_TELEGRAM_TOKEN": TG_TOKEN}
        people = [tg.user(5200000000 + k, f"Cliente {k}") for k in range(3)]
        sent_sms, sent_tg = 0, 0
        for rnd in range(4):
            for k in range(3):
                for j in range(4):
                    tw.inbound(f"+1555010{k:04d}", f"round {rnd} sms {j} from {k}")
                    tg.message(people[k], f"round {rnd} telegram {j} from {k}")
                    sent_sms, sent_tg = sent_sms + 1, sent_tg + 1
            gate = threading.Barrier(3)
            results: list[subprocess.CompletedProcess[str]] = []

            def machine(gate: threading.Barrier = gate,
                        results: list[subprocess.CompletedProcess[str]] = results) -> None:
                gate.wait(timeout=60)
                results.append(subprocess.run(
                    [sys.executable, "-m", "supportctl", "--db", pg_url, "sync"], cwd=ROOT,
                    env=env, capture_output=True, text=True, timeout=300))

            threads = [threading.Thread(target=machine) for _ in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
            assert not any("Traceback" in r.stderr for r in results)
        # A last pass on one machine picks up what every skip left behind.
        assert run_cli("--db", pg_url, "sync", env=env).code == 0
        got = run_cli("--db", pg_url, "export", "--format", "jsonl", "--messages", env=env)
        tickets = list(got.jsonl())
        inbound = [m["external_id"] for t in tickets for m in t["messages"]
                   if m["direction"] == "in"]
        assert len(inbound) == len(set(inbound)) == sent_sms + sent_tg
        by_channel = sorted((t["channel"], t["message_count"]) for t in tickets)
        assert by_channel == [("sms", 16)] * 3 + [("telegram", 16)] * 3


# -- insight: report, suggest, kb (SPEC §11) ----------------------------------------

def _insight_lines() -> list[dict[str, Any]]:
    """test_report's shop with noise, automatic mail and a delivery report
    added (what ``report`` leaves out), and a ticket across a change of
    daylight saving time."""
    from tests.cli.test_report import _msg, _store_lines, _ticket

    lines = _store_lines()
    for tid, tag in ((201, "spam"), (202, "auto"), (203, "bounce")):
        lines.append(_ticket(tid, 9, "email", "2026-11-18T09:00:00Z", f"Noise {tag}",
                             status="closed", tags=[tag],
                             messages=[_msg(2000 + tid, "in", "2026-11-18T09:00:00Z")]))
    ooo = _msg(3001, "in", "2026-11-24T12:00:00Z", text="I am out of the office")
    ooo["auto_reason"] = "Auto-Submitted: auto-replied"
    dsn = _msg(3002, "in", "2026-11-16T10:05:00Z", text="Delivery failed")
    dsn["delivery"] = {"state": "failed", "error": "550 no such user"}
    lines[-2]["messages"].append(ooo)
    lines[2]["messages"].append(dsn)
    lines.append(_ticket(301, 7, "email", "2026-10-23T08:00:00Z", "Hello", tags=["dst"], messages=[
        _msg(4001, "in", "2026-10-23T08:00:00Z"), _msg(4002, "in", "2026-10-26T08:00:00Z"),
        _msg(4003, "out", "2026-10-26T08:29:00Z"), _msg(4004, "out", "2026-10-26T08:30:00Z")]))
    lines[3]["assignee"] = "marta"
    # asked how it went: two answered, one not, and one before the first period
    lines[0]["csat"] = {"asked_at": "2026-11-06T10:00:00Z", "rating": 1,
                        "answered_at": "2026-11-06T11:00:00Z"}
    lines[7]["csat"] = {"asked_at": "2026-11-25T10:00:00Z", "rating": 5,
                        "answered_at": "2026-11-25T11:00:00Z"}
    lines[2]["csat"] = {"asked_at": "2026-11-21T10:00:00Z", "rating": 2,
                        "answered_at": "2026-11-21T12:00:00Z"}
    lines[4]["csat"] = {"asked_at": "2026-11-22T10:00:00Z"}
    # a reply that never went out is no answer (m029; PostgreSQL step 9)
    failed = _msg(3003, "out", "2026-11-21T11:00:00Z", text="Your parcel ships today")
    failed["delivery"] = {"state": "failed", "error": "cancelled"}
    lines[2]["messages"].append(failed)
    return lines


@pytest.mark.parametrize("zone", ["Europe/Rome", "Asia/Kolkata", "UTC"])
def test_report_prints_the_same_bytes_on_both_engines(cli: Any, pgcli: Any, tmp_path: Path,
                                                     zone: str) -> None:
    """Every form of ``report`` (each --by, json, csv, plain rows, the HTML
    page; whole-hour and half-hour zones, a period across a change of
    daylight saving time) gives the same output on PostgreSQL as on
    SQLite from the same data."""
    from tests.cli.test_report import CONFIG

    body = "".join(json.dumps(t) + "\n" for t in _insight_lines())
    for c in (cli, pgcli):
        assert c("import", "--format", "jsonl", "-", input=body).code == 0
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.replace("Europe/Rome", zone))
    env = {"SUPPORTCTL_NOW": "2026-11-30T09:00:00Z"}
    periods = [("--since", "2026-11-16T00:00:00Z", "--until", "2026-11-30T00:00:00Z"),
               ("--since", "2026-10-20T00:00:00Z", "--until", "2026-11-30T07:30:00Z"),
               ("--since", "30d")]
    for period in periods:
        for by in ((), ("--by", "channel"), ("--by", "tag"), ("--by", "assignee"),
                   ("--by", "day"), ("--by", "week")):
            for fmt in ("json", "csv", "table") if zone == "Europe/Rome" else ("json",):
                args = ("--config", str(config), "report", *period, *by, "--format", fmt)
                here, there = cli(*args, env=env), pgcli(*args, env=env)
                assert here.code == there.code == 0, (args, here, there)
                assert there.out == here.out, args
        if zone != "Europe/Rome":
            continue
        pages = []
        for c, name in ((cli, "sqlite.html"), (pgcli, "pg.html")):
            r = c("--config", str(config), "report", *period, "--html", str(tmp_path / name),
                  env=env)
            assert r.code == 0, r
            pages.append((tmp_path / name).read_bytes())
        assert pages[0] == pages[1]
    [g] = pgcli("--config", str(config), "report", *periods[0], "--format", "json", env=env).json()
    assert g["tickets"] == 6 and g["messages"] == {"in": 10, "out": 4}
    assert (g["csat"]["asked"], g["csat"]["responses"], g["csat"]["average"]) == (3, 2, 3.5)
    # Edits under messages already counted (the rollup's dirty days): the same again.
    for c in (cli, pgcli):
        for args in (("tag", "vip", "3"), ("untag", "shipping", "2"), ("assign", "luca", "1"),
                     ("tag", "spam", "7")):
            assert c(*args, env=env).code == 0, args
    for by in ((), ("--by", "tag"), ("--by", "assignee"), ("--by", "channel")):
        args = ("--config", str(config), "report", *periods[1], *by, "--format", "json")
        here, there = cli(*args, env=env), pgcli(*args, env=env)
        assert there.out == here.out and here.code == 0, args


def test_suggest_and_kb_from_ticket_give_the_same_answers_on_both_engines(
        cli: Any, pgcli: Any, tmp_path: Path) -> None:
    """``suggest`` (solved tickets and articles, the customer's language
    first) and ``kb from-ticket`` read a PostgreSQL store as a SQLite one:
    the same suggestions in the same order with the same scores here,
    where no inflection tells the engines apart, and the same draft."""
    from tests.cli.test_suggest import HISTORY, ticket

    lines = [*HISTORY, ticket(7, "new", "Quel est le prix du vélo rouge ?", [])]
    body = "".join(json.dumps(t) + "\n" for t in lines)
    home = tmp_path / "config" / "supportctl"
    (home / "kb").mkdir(parents=True)
    (home / "kb" / "rimborsi.md").write_text(
        "---\ntitle: Quando arriva il rimborso\nlanguage: it\ntags: [rimborso, resi]\n---\n"
        "Il rimborso arriva sulla carta 3-5 giorni dopo che le scarpe o altri articoli"
        " restituiti giungono al magazzino.\n")
    for c in (cli, pgcli):
        assert c("import", "--format", "jsonl", "-", input=body).code == 0
    for args in (("suggest", "5", "--format", "json"), ("suggest", "5"),
                 ("suggest", "3", "--format", "json"), ("suggest", "7", "--format", "json"),
                 ("suggest", "99")):
        here, there = cli(*args), pgcli(*args)
        assert (there.code, there.out, there.err) == (here.code, here.out, here.err), args
    found = pgcli("suggest", "5", "--format", "json").json()
    assert found[0]["ticket_id"] in (1, 6) and {s["kind"] for s in found} == {"ticket", "article"}
    drafts = []
    for c in (cli, pgcli):
        r = c("kb", "from-ticket", "1", "--title", f"Rimborso {len(drafts)}")
        assert r.code == 0, r
        drafts.append(Path(r.out.strip()).read_text().replace(f"Rimborso {len(drafts)}", "T"))
    assert drafts[0] == drafts[1] and "Il rimborso è stato emesso oggi" in drafts[1]
    assert pgcli("kb", "from-ticket", "4").code == 2 and pgcli("kb", "from-ticket", "99").code == 3


def test_suggest_on_postgresql_finds_the_inflected_question(pgcli: Any) -> None:
    """Where the engines differ: a message in Italian is indexed with
    Italian stems, so a customer writing "rimborsi" (plural) is offered
    the solved ticket about a "rimborso" first, as a user would expect."""
    from tests.cli.test_suggest import ticket

    solved = ticket(1, "solved", "Quando arriva il rimborso della caparra?",
                    [("alice", "Il rimborso della caparra arriva entro 5 giorni.")],
                    subject="Caparra")
    other = ticket(2, "solved", "Quando arriva il pacco?",
                   [("alice", "Il pacco arriva domani.")], subject="Pacco")
    question = ticket(3, "new", "Aspetto ancora i rimborsi delle caparre", [])
    for line in (solved, other, question):
        for m in line["messages"]:
            m["language"] = "it"
    body = "".join(json.dumps(t) + "\n" for t in (solved, other, question))
    assert pgcli("import", "--format", "jsonl", "-", input=body).code == 0
    found = pgcli("suggest", "3", "--format", "json").json()
    assert [s["ticket_id"] for s in found][:1] == [1], found


# -- live updates (SPEC §13) ----------------------------------------------------------

def test_an_open_triage_screen_learns_of_new_tickets_at_once(pgcli: Any, tmp_path: Path) -> None:
    """A triage screen on PostgreSQL (another process, in a real terminal)
    shows the ticket, its suggestion and takes one-key actions as on
    SQLite, and takes in a ticket another agent creates and a note on the
    ticket on screen as soon as they commit (LISTEN/NOTIFY): well within
    the minute its fallback poll waits, without a key press."""
    import shutil

    from supportctl.cli.triage import LIVE_SECONDS
    from tests.cli.test_triage import NOW as TNOW
    from tests.cli.test_triage import QUEUE, Screen

    if shutil.which("tmux") is None:
        pytest.skip("needs tmux")
    body = "".join(json.dumps(t) + "\n" for t in QUEUE)
    assert pgcli("import", "--format", "jsonl", "-", input=body).code == 0
    s = Screen(tmp_path, ["--db", pgcli.db, "triage"],
               {"SUPPORTCTL_NOW": TNOW, "SUPPORTCTL_AGENT": "marta"})
    try:
        s.wait("#12 (1/3)")
        s.wait("1. ticket #10")  # the suggestion, read on a connection of its own
        assert "Il corriere ha avuto un ritardo" in s.text()
        env = {"SUPPORTCTL_NOW": TNOW, "SUPPORTCTL_AGENT": "luca"}
        r = pgcli("new", "--channel", "phone", "--to", "+390612345678", "--subject", "Reso",
                  "-m", "Vorrei restituire le scarpe", env=env)
        assert r.code == 0, r
        screen = s.wait("1 new ticket at the end of the queue", timeout=LIVE_SECONDS / 4)
        assert "#12 (1/4)" in screen
        assert pgcli("note", "12", "-m", "Ho chiamato il corriere", env=env).code == 0
        screen = s.wait("Ho chiamato il corriere", timeout=LIVE_SECONDS / 4)
        assert "#12 changed" in screen
        s.keys("t")
        s.wait("Tags")
        s.type("shipping")
        s.keys("s")
        s.wait("#12 solved")
        shown = pgcli("show", "12", "--format", "json", env=env).json()
        assert shown["status"] == "solved" and shown["tags"] == ["shipping"]
        assert shown["claim"] == {"agent": "marta", "until": "2026-09-12T12:30:00Z"}
        s.keys("q")
        s.wait("EXITED 0")
    finally:
        s.close()


def test_sync_watch_learns_of_another_agents_new_ticket_at_once(pgcli: Any, tmp_path: Path) -> None:
    """``sync --watch`` on PostgreSQL (its own process, a ten-minute
    interval) runs a pass as soon as another agent's change commits: the
    owner's notification of the ticket another agent created and assigned
    goes out then, not after the interval."""
    import os
    import signal
    import threading

    from tests.social.test_watch_housekeeping import OWNER, config, until
    from tests.social.twilio_server import TOKEN as TW_TOKEN
    from tests.social.twilio_server import TwilioServer

    env = {"SHOP_TWILIO_TOKEN": TW_TOKEN}
    cfg = tmp_path / "config.yaml"
    with TwilioServer() as tw:
        config(cfg, tw.url, "1h")
        cfg.write_text(cfg.read_text().replace("on: [breached]", "on: [assigned]"))
        proc = subprocess.Popen(
            [sys.executable, "-m", "supportctl", "--db", pgcli.db, "--config", str(cfg),
             "sync", "--watch", "--interval", "600"],
            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")),  # type: ignore[union-attr]
                                  daemon=True)
        reader.start()
        try:
            assert until(lambda: any(ln.startswith("shop-sms:") for ln in lines), 60), lines
            time.sleep(1)  # the first pass is over: the loop waits
            r = pgcli("--config", str(cfg), "new", "--channel", "phone", "--to", "+393471234567",
                      "--subject", "Chiamata", "-m", "Ha chiamato per il reso",
                      env={**env, "SUPPORTCTL_AGENT": "luca", **NOW})
            assert r.code == 0, r
            # In the same second (the clock pinned): updated_at does not move,
            # and the assignment must still be announced.
            assert pgcli("assign", "marta", "1", env={"SUPPORTCTL_AGENT": "luca", **NOW}).code == 0
            assert until(lambda: [m for m in tw.created if m["To"] == OWNER], 60), lines
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
            reader.join(timeout=10)
    assert not any("Traceback" in ln for ln in lines), lines
    [note] = [m["Body"] for m in tw.created if m["To"] == OWNER]
    assert note.startswith("#1 assigned"), note
