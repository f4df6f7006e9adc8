"""Daily use at a terminal (issue 10): times in the shop's zone, a list that
fits the terminal, the rows the limit left out, snoozed tickets, events in
the thread, tags as first typed. Through the CLI, on a pseudo-terminal and
in tmux where a real terminal matters."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, Result
from tests.terminal import run_on_pty

# Wednesday 9 December 2026, 09:20 in Rome (CET, UTC+1).
NOW = "2026-12-09T08:20:00Z"
ROME = "timezone: Europe/Rome\n"


def east_asian_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def line(tid: int, *, subject: str = "Il pacco non è arrivato", name: str = "Anna Rossi",
         created: str = "2026-12-09T07:00:00Z", status: str = "new", **extra: Any) -> str:
    """One ticket of an export, with one customer message at ``created``."""
    addr = f"c{tid}@example.com"
    t = {"id": tid, "status": status, "priority": "normal", "subject": subject,
         "channel": "email", "account": "mail",
         "contact": {"id": tid, "name": name, "identities": [{"channel": "email", "address": addr}]},
         "assignee": None, "tags": [], "created_at": created, "updated_at": created,
         "sla": {}, "message_count": 1, "events": [],
         "messages": [{"id": tid, "direction": "in", "channel": "email",
                       "from": {"name": name, "address": addr}, "to": [], "subject": subject,
                       "text": "Buongiorno, il pacco non è arrivato.", "sent_at": created}]}
    t.update(extra)
    return json.dumps(t) + "\n"


@pytest.fixture
def shop(cli: Any, tmp_path: Path) -> Any:
    """``cli`` with a config in Rome's zone and the clock pinned at NOW."""
    cfg = tmp_path / "shop.yaml"
    cfg.write_text(ROME)

    def call(*args: str, now: str = NOW, env: dict[str, str] | None = None, **kw: Any) -> Result:
        return cli("--config", str(cfg), *args,  # type: ignore[no-any-return]
                   env={"SUPPORTCTL_NOW": now, **(env or {})}, **kw)

    call.db = cli.db  # type: ignore[attr-defined]
    call.cfg = cfg  # type: ignore[attr-defined]
    return call


def load(call: Any, tmp_path: Path, *lines: str) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(lines))
    r = call("import", str(src), "--format", "jsonl")
    assert r.code == 0, r


def on_tty(args: list[str], env: dict[str, str], columns: int = 200) -> str:
    """The CLI with stdout and stderr on one pseudo-terminal: what a person sees."""
    drawn = run_on_pty(args, {"NO_COLOR": "1", **env}, columns=columns).text()
    return re.sub(r"\x1b\[[0-9;]*m", "", drawn)  # bold stays under NO_COLOR


def tty_env(call: Any) -> dict[str, str]:
    return {"SUPPORTCTL_DB": str(call.db), "SUPPORTCTL_CONFIG": str(call.cfg),
            "SUPPORTCTL_NOW": NOW}


# -- times ------------------------------------------------------------------


def test_times_are_in_the_shops_zone_and_labelled_json_and_csv_stay_utc(
        shop: Any, tmp_path: Path) -> None:
    # One ticket from this morning, one from July (summer time: CEST).
    load(shop, tmp_path, line(1), line(2, created="2026-07-01T10:00:00Z", status="open"))
    rows = shop("list").out.splitlines()
    assert rows[0].split("\t")[3] == "Wed 9 Dec 08:00 CET"
    assert rows[1].split("\t")[3] == "Wed 1 Jul 12:00 CEST"
    shown = shop("show", "1").out
    assert "← Wed 9 Dec 08:00 CET  Anna Rossi" in shown
    # Machines keep UTC ISO 8601.
    assert shop("list", "--format", "json").json()[0]["updated_at"] == "2026-12-09T07:00:00Z"
    assert shop("show", "1", "--format", "json").json()["messages"][0]["sent_at"] == \
        "2026-12-09T07:00:00Z"
    assert "2026-12-09T07:00:00Z" in shop("list", "--format", "csv").out
    # A time of another year says its year.
    load(shop, tmp_path, line(3, created="2025-12-24T09:00:00Z"))
    assert "Wed 24 Dec 2025 10:00 CET" in shop("show", "3").out


def test_without_a_config_zone_the_system_zone_tz_is_used(cli: Any, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(line(1))
    assert cli("import", str(src), "--format", "jsonl").code == 0
    env = {"SUPPORTCTL_NOW": NOW, "TZ": "America/New_York"}
    assert cli("list", env=env).out.split("\t")[3] == "Wed 9 Dec 02:00 EST"
    assert "Wed 9 Dec 07:00 UTC" in cli("show", "1", env={"SUPPORTCTL_NOW": NOW, "TZ": "UTC"}).out


def test_sla_due_times_say_when_and_how_far(shop: Any, tmp_path: Path) -> None:
    load(shop, tmp_path,
         line(1, sla={"first_response_due": "2026-12-09T09:00:00Z", "resolution_due": None}),
         line(2, sla={"first_response_due": "2026-12-09T06:15:00Z", "resolution_due": None}))
    assert "first response due Wed 9 Dec 10:00 CET (in 40 min)" in shop("show", "1").out
    assert "first response due Wed 9 Dec 07:15 CET (2 h 5 min overdue)" in shop("show", "2").out


def test_the_reply_draft_shows_the_thread_in_the_shops_zone(shop: Any, tmp_path: Path) -> None:
    load(shop, tmp_path, line(1))
    editor = tmp_path / "editor.sh"
    seen = tmp_path / "draft.txt"
    editor.write_text(f"#!/bin/sh\ncp \"$1\" {shlex.quote(str(seen))}\n: > \"$1\"\n")
    editor.chmod(0o755)
    cfg = tmp_path / "mail.yaml"
    cfg.write_text(ROME + "channels:\n  - {name: mail, type: imap, host: 127.0.0.1, username: s@shop.example,"
                   " password: unused, smtp: {host: 127.0.0.1, from: s@shop.example}}\n")
    cfg.chmod(0o600)
    out = on_tty(["reply", "1", "--dry-run"],
                 {**tty_env(shop), "SUPPORTCTL_CONFIG": str(cfg), "EDITOR": str(editor), "VISUAL": ""})
    assert "# in Wed 9 Dec 08:00 CET Anna Rossi" in seen.read_text(), out


# -- the list ----------------------------------------------------------------


LONG = "Il pacco con il numero d'ordine 1042 non è mai arrivato e il corriere non risponde"


@pytest.mark.parametrize("columns", [60, 80, 120, 200])
def test_the_list_fits_the_terminal_one_line_a_ticket(
        shop: Any, tmp_path: Path, columns: int) -> None:
    load(shop, tmp_path,
         line(7, subject=LONG, name="Maria Giovanna Bellincampi-Fontanarosa"),
         line(1042, subject="Reso", name="Bo", created="2026-12-09T06:00:00Z"),
         line(31, subject="注文した商品が届きません。確認をお願いします。", name="山田太郎",
              created="2026-12-09T05:00:00Z"))
    drawn = on_tty(["list"], tty_env(shop), columns).rstrip("\n").split("\n")
    assert len(drawn) == 4, drawn  # a header and one line per ticket: nothing wraps
    for row in drawn:
        assert east_asian_width(row) <= columns, (columns, row)
    head, first, second, third = drawn
    assert head.split()[:2] == ["ID", "STATUS"]
    # The id and the status always show, whole.
    assert first.split()[:2] == ["7", "new"] and second.split()[:2] == ["1042", "new"]
    assert third.split()[:2] == ["31", "new"]
    assert "Il pacco con il numero" in first  # the subject has the width left
    if columns >= 120:
        # Names are cut before subjects: the subject shows whole first.
        assert (LONG in first) or ("Bellincampi" not in first)
    if columns == 200:
        assert LONG in first and "Maria Giovanna Bellincampi-Fontanarosa" in first
        assert "UPDATED CET" in head and "Wed 9 Dec 08:00" in first
    if columns == 60:
        assert LONG not in first and "…" in first  # cut with an ellipsis, not wrapped


def test_the_list_in_a_real_80_column_terminal(shop: Any, tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("needs tmux")
    load(shop, tmp_path,
         line(7, subject=LONG, name="Maria Giovanna Bellincampi-Fontanarosa"),
         line(1042, subject="Reso", name="Bo", created="2026-12-09T06:00:00Z"))
    assert shop("tag", "Consegna", "7").code == 0
    sock = f"supportctl-daily-{os.getpid()}-{tmp_path.name}"
    env = {**os.environ, **tty_env(shop)}
    env.pop("COLUMNS", None)
    cmd = (f"cd {shlex.quote(str(ROOT))} && {shlex.quote(sys.executable)} -m supportctl list"
           f" && {shlex.quote(sys.executable)} -m supportctl show 7; echo EXITED $?; sleep 60")
    tmux = ["tmux", "-L", sock]
    subprocess.run([*tmux, "new-session", "-d", "-x", "80", "-y", "40", cmd], env=env, check=True)
    try:
        end = time.monotonic() + 60
        screen = ""
        while "EXITED" not in screen and time.monotonic() < end:
            time.sleep(0.2)
            screen = subprocess.run([*tmux, "capture-pane", "-p", "-J"], env=env, check=True,
                                    capture_output=True, text=True).stdout
    finally:
        subprocess.run([*tmux, "kill-server"], env=env, capture_output=True)
    assert "EXITED 0" in screen, screen
    rows = screen.splitlines()
    assert rows[0].split()[:2] == ["ID", "STATUS"], screen
    assert rows[1].split()[:2] == ["7", "new"] and "Il pacco con il numero" in rows[1], screen
    assert rows[2].split()[:2] == ["1042", "new"] and "Reso" in rows[2], screen
    # -J joins what the terminal wrapped: a list row wider than 80 would show here.
    assert all(east_asian_width(r) <= 80 for r in rows[:3]), screen
    assert rows[3].startswith("#7  Il pacco"), screen
    # show: the thread, in the shop's time, readable at 80 columns.
    assert "← Wed 9 Dec 08:00 CET  Maria Giovanna Bellincampi-Fontanarosa" in screen
    assert "tagged Consegna" in screen


def test_the_default_limit_says_how_many_more_on_a_terminal_only(
        shop: Any, tmp_path: Path) -> None:
    load(shop, tmp_path, *(line(i, created=f"2026-12-0{1 + i % 8}T0{i % 10}:00:00Z")
                           for i in range(1, 58)))
    drawn = on_tty(["list"], tty_env(shop), 120)
    assert "… 7 more: use --limit or filters" in drawn
    assert len([r for r in drawn.splitlines() if r.strip()[:1].isdigit()]) == 50
    assert "more" not in on_tty(["list", "--limit", "57"], tty_env(shop), 120)
    assert "more" not in on_tty(["list", "--offset", "10"], tty_env(shop), 120)
    # Piped: every ticket, nothing extra on either stream.
    piped = shop("list")
    assert len(piped.out.splitlines()) == 57 and piped.err == ""
    js = shop("list", "--format", "json")
    assert len(js.json()) == 57 and js.err == ""


def test_a_search_cut_by_the_default_limit_says_so_on_a_terminal(
        shop: Any, tmp_path: Path) -> None:
    # `list` said "… N more"; `search` showed 50 of 57 matches and nothing
    # else on the screen.
    load(shop, tmp_path, *(line(i, created=f"2026-12-0{1 + i % 8}T0{i % 10}:00:00Z")
                           for i in range(1, 58)))
    drawn = on_tty(["search", "pacco"], tty_env(shop), 120)
    assert "… more match: use --limit or a narrower query" in drawn
    assert "more match" not in on_tty(["search", "pacco", "--limit", "57"], tty_env(shop), 120)
    piped = shop("search", "pacco")
    assert len(piped.out.splitlines()) == 57 and piped.err == ""


# -- snoozed tickets --------------------------------------------------------------


def test_snoozed_tickets_are_marked_with_their_wake_time(shop: Any, tmp_path: Path) -> None:
    load(shop, tmp_path, line(1), line(2, subject="Reso"))
    assert shop("snooze", "tomorrow 9:00", "1").code == 0
    assert shop("show", "1", "--format", "json").json()["snoozed_until"] == "2026-12-10T08:00:00Z"
    assert [t["id"] for t in shop("list", "--format", "json").json()] == [2]
    every = shop("list", "--status", "all").out
    assert "(snoozed until Thu 10 Dec 09:00 CET) Il pacco non è arrivato" in every
    assert [t["id"] for t in shop("list", "--snoozed", "--format", "json").json()] == [1]
    assert "snoozed until Thu 10 Dec 09:00 CET" in shop("show", "1").out
    assert [t["id"] for t in shop("search", "is:snoozed", "--format", "json").json()] == [1]
    # Once its time has come it is an ordinary ticket again.
    later = "2026-12-10T08:30:00Z"
    assert shop("list", "--snoozed", "--format", "ids", now=later).out == ""
    assert "snoozed until" not in shop("show", "1", now=later).out.split("\n\n")[0]


# -- events in the thread ------------------------------------------------------


def test_show_prints_the_events_in_the_thread_in_time_order(shop: Any, tmp_path: Path) -> None:
    load(shop, tmp_path, line(1))
    steps = [("08:30", ["tag", "Consegna", "1"]), ("08:40", ["note", "1", "-m", "called DHL"]),
             ("08:50", ["assign", "marta", "1"]), ("09:00", ["priority", "high", "1"]),
             ("09:10", ["solve", "1"])]
    for at, args in steps:
        r = shop(*args, now=f"2026-12-09T{at}:00Z")
        assert r.code == 0, r
    out = shop("show", "1", now="2026-12-09T09:30:00Z").out
    wanted = ["← Wed 9 Dec 08:00 CET  Anna Rossi",
              "· Wed 9 Dec 09:30 CET  tester: tagged Consegna",
              "✎ note Wed 9 Dec 09:40 CET",
              "· Wed 9 Dec 09:50 CET  tester: assigned to marta",
              "· Wed 9 Dec 10:00 CET  tester: priority normal → high",
              "· Wed 9 Dec 10:10 CET  tester: status new → solved"]
    where = [out.find(w) for w in wanted]
    assert all(i >= 0 for i in where) and where == sorted(where), out
    # JSON is as it was: the events list, UTC.
    events = shop("show", "1", "--format", "json").json()["events"]
    assert [e["action"] for e in events] == ["tag", "note", "assign", "priority", "status"]
    assert events[0]["at"] == "2026-12-09T08:30:00Z" and events[0]["detail"] == {"tag": "consegna"}


# -- tags as first typed ------------------------------------------------------------


def test_tags_show_as_first_typed_and_filter_in_any_case(shop: Any, tmp_path: Path) -> None:
    load(shop, tmp_path, line(1), line(2, subject="Reso"))
    assert shop("tag", "VIP", "1").code == 0
    assert shop("tag", "vip,DHL", "2").code == 0
    assert shop("tag", "Dhl", "1").code == 0
    for t in shop("list", "--format", "json").json():
        assert "vip" in t["tags"] and "dhl" in t["tags"]  # the key: lower-case
    rows = {r.split("\t")[0]: r.split("\t") for r in shop("list").out.splitlines()}
    assert rows["1"][7] == "DHL,VIP" and rows["2"][7] == "DHL,VIP"
    assert "tags: DHL, VIP" in shop("show", "1").out
    assert "tagged DHL" in shop("show", "1").out
    for spelled in ("vip", "Vip", "VIP"):
        assert len(shop("list", "--tag", spelled, "--format", "ids").out.split()) == 2
    assert len(shop("search", "tag:Dhl", "--format", "ids").out.split()) == 2
    report = shop("report", "--by", "tag", "--since", "30d").out
    assert "\nVIP\t" in report and "\nvip\t" not in report
