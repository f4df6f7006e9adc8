"""``report`` (SPEC §11) on a small store with known answers, built through
``import --format jsonl`` (timestamps verbatim), with the clock pinned.

The shop is in Rome (UTC+1 in November), open Monday to Friday 09:00-17:00;
the period is the two weeks 2026-11-16 .. 2026-11-30 (Mondays, UTC), the
previous period 2026-11-02 .. 2026-11-16. Now is Monday 2026-11-30 10:00
in Rome."""

from __future__ import annotations

import csv
import io
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.terminal import run_on_pty

NOW = "2026-11-30T09:00:00Z"
PERIOD = ("--since", "2026-11-16T00:00:00Z", "--until", "2026-11-30T00:00:00Z")

CONFIG = """\
timezone: Europe/Rome
business_hours: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}
sla: {first_response: 2h, resolution: 8h}
"""


def _msg(mid: int, direction: str, at: str, channel: str = "email", *, author: str | None = None,
         text: str = "hello") -> dict[str, Any]:
    return {"id": mid, "direction": direction, "channel": channel, "account": None,
            "external_id": None, "from": {"name": "", "address": ""}, "to": [], "subject": "",
            "text": text, "sent_at": at, "attachments": [], "delivery": {"state": None, "error": None},
            "author": author}


def _ticket(tid: int, contact: int, channel: str, created: str, subject: str, *,
            status: str = "open", first_response: str | None = None, solved: str | None = None,
            fr_due: str | None = None, res_due: str | None = None, tags: list[str] | None = None,
            linked: int | None = None, messages: list[dict[str, Any]] | None = None,
            events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": tid, "status": status, "priority": "normal", "subject": subject, "channel": channel,
        "account": None, "contact": {"id": contact, "name": f"Customer {contact}",
                                     "identities": [{"channel": "email",
                                                     "address": f"c{contact}@example.com"}]},
        "assignee": None, "tags": tags or [], "created_at": created, "updated_at": created,
        "first_response_at": first_response, "solved_at": solved,
        "sla": {"first_response_due": fr_due, "resolution_due": res_due, "breached": False},
        "message_count": len(messages or []), "last_message_at": created,
        "snoozed_until": None, "merged_into": None, "linked_ticket": linked,
        "messages": messages or [], "events": events or [],
    }


def _status(eid: int, tid: int, old: str, new: str, at: str) -> dict[str, Any]:
    return {"id": eid, "ticket_id": tid, "contact_id": None, "actor": "tester", "action": "status",
            "detail": {"old": old, "new": new}, "at": at}


def _store_lines() -> list[dict[str, Any]]:
    return [
        # -- the previous period --
        _ticket(101, 4, "email", "2026-11-05T10:00:00Z", "Refund request", status="closed",
                solved="2026-11-05T12:00:00Z", tags=["refund"],
                messages=[_msg(1001, "in", "2026-11-05T10:00:00Z")]),
        _ticket(102, 5, "email", "2026-11-10T10:00:00Z", "Wrong size delivered", tags=["refund"],
                messages=[_msg(1002, "in", "2026-11-10T10:00:00Z"),
                          # an old ticket's messages sent in the period count in hour_of_week
                          _msg(1003, "in", "2026-11-17T19:00:00Z"),   # Tue 20:00 in Rome
                          _msg(1004, "in", "2026-11-22T23:30:00Z")]),  # Mon 00:30 in Rome
        # -- the period --
        # Mon 09:00 Rome; answered 11:00 (2 business hours); solved Tue 09:00 (8); closed, and
        # the customer wrote again by email: a new ticket linked to it (a reopen).
        _ticket(1, 1, "email", "2026-11-16T08:00:00Z", "Refund for broken blender",
                status="closed", first_response="2026-11-16T10:00:00Z",
                solved="2026-11-17T08:00:00Z", fr_due="2026-11-16T10:00:00Z",
                res_due="2026-11-17T08:00:00Z", tags=["refund"],
                messages=[_msg(1, "in", "2026-11-16T08:00:00Z"),
                          _msg(2, "out", "2026-11-16T10:00:00Z")],
                events=[_status(1, 1, "open", "solved", "2026-11-17T08:00:00Z"),
                        _status(2, 1, "solved", "closed", "2026-11-18T08:00:00Z")]),
        # Fri 17:30 Rome (closed); answered Mon 09:30: half a business hour, 64 calendar hours.
        _ticket(2, 1, "email", "2026-11-20T16:30:00Z", "Re: Refund still missing",
                first_response="2026-11-23T08:30:00Z", fr_due="2026-11-23T10:00:00Z",
                res_due="2026-11-23T16:00:00Z", tags=["refund", "shipping"], linked=1,
                messages=[_msg(3, "in", "2026-11-20T16:30:00Z"),
                          _msg(4, "out", "2026-11-23T08:30:00Z")]),
        # Wed 14:00 Rome by SMS; answered in 1h; solved, reopened by the customer, solved
        # again Thu 11:00: 3 + 2 business hours.
        _ticket(3, 2, "sms", "2026-11-18T13:00:00Z", "Parcel tracking number missing",
                status="solved", first_response="2026-11-18T14:00:00Z",
                solved="2026-11-19T10:00:00Z", fr_due="2026-11-18T15:00:00Z",
                res_due="2026-11-19T13:00:00Z", tags=["shipping"],
                messages=[_msg(5, "in", "2026-11-18T13:00:00Z", "sms"),
                          _msg(6, "out", "2026-11-18T14:00:00Z", "sms"),
                          _msg(7, "in", "2026-11-19T09:00:00Z", "sms")],
                events=[_status(3, 3, "open", "solved", "2026-11-18T15:00:00Z"),
                        _status(4, 3, "solved", "open", "2026-11-19T09:00:00Z"),
                        _status(5, 3, "open", "solved", "2026-11-19T10:00:00Z")]),
        # Wed 11:00 Rome on WhatsApp; only the automatic acknowledgement went out: both
        # clocks missed. The same contact writes again within 7 days (ticket 6).
        _ticket(4, 3, "whatsapp", "2026-11-25T10:00:00Z", "Tracking number missing again",
                status="new", fr_due="2026-11-25T12:00:00Z", res_due="2026-11-26T10:00:00Z",
                tags=["shipping"],
                messages=[_msg(8, "in", "2026-11-25T10:00:00Z", "whatsapp"),
                          _msg(9, "out", "2026-11-25T10:00:00Z", "whatsapp", author="auto-reply")]),
        # Sat 23:30 UTC = Sun 00:30 in Rome: the day group is 2026-11-29. Clocks still running.
        _ticket(5, 2, "telegram", "2026-11-28T23:30:00Z", "Parcel tracking number missing",
                status="new", fr_due="2026-11-30T10:00:00Z", res_due="2026-11-30T16:00:00Z",
                messages=[_msg(10, "in", "2026-11-28T23:30:00Z", "telegram"),
                          _msg(11, "in", "2026-11-29T22:30:00Z", "telegram")]),  # Sun 23:30
        # Tue 10:00 Rome; answered 10:30, solved 12:00; a note is not an answer.
        _ticket(7, 6, "email", "2026-11-24T09:00:00Z", "Wrong size delivered", status="solved",
                first_response="2026-11-24T09:30:00Z", solved="2026-11-24T11:00:00Z",
                fr_due="2026-11-24T11:00:00Z", res_due="2026-11-25T09:00:00Z",
                tags=["<i>vip</i>"],
                messages=[_msg(12, "in", "2026-11-24T09:00:00Z"),
                          _msg(13, "out", "2026-11-24T09:30:00Z"),
                          _msg(14, "note", "2026-11-24T10:00:00Z")]),
        # -- after the period: contact 3 asks again, 4.9 days after ticket 4 --
        _ticket(6, 3, "whatsapp", "2026-11-30T08:00:00Z", "Still nothing",
                status="new", messages=[_msg(15, "in", "2026-11-30T08:00:00Z", "whatsapp")]),
    ]


@pytest.fixture
def shop(cli: Any, tmp_path: Path) -> Any:
    dump = tmp_path / "shop.jsonl"
    dump.write_text("".join(json.dumps(t) + "\n" for t in _store_lines()))
    r = cli("import", str(dump), "--format", "jsonl")
    assert r.code == 0, r
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    config.chmod(0o600)

    def call(*args: str, config_file: bool = True) -> Any:
        pre = ("--config", str(config)) if config_file else ()
        return cli(*pre, "report", *args, env={"SUPPORTCTL_NOW": NOW})

    return call


def _grid(cells: dict[tuple[int, int], int]) -> list[list[int]]:
    g = [[0] * 24 for _ in range(7)]
    for (d, h), n in cells.items():
        g[d][h] = n
    return g


def test_a_store_from_before_the_reopen_index_gets_it_and_counts_the_same(
        cli: Any, shop: Any) -> None:
    """m025 indexes the status changes that reopen a ticket (the reopen
    rate reads only those): a store at schema 23 gets it when opened, and
    the report counts the same reopens."""
    import sqlite3

    conn = sqlite3.connect(cli.db)
    conn.execute("DROP INDEX events_reopen")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm025_reopen_index'")
    conn.execute("PRAGMA user_version = 23")
    conn.commit()
    conn.close()
    [g] = shop(*PERIOD, "--format", "json").json()
    assert g["reopened"] == 2 and g["reopen_rate"] == pytest.approx(2 / 3)
    conn = sqlite3.connect(cli.db)
    assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'events_reopen'").fetchone()
    conn.close()


def test_report_json_known_answers(shop: Any) -> None:
    r = shop(*PERIOD, "--format", "json")
    assert r.code == 0, r
    [g] = r.json()
    assert g["group"] == "all" and g["tickets"] == 6 and g["solved"] == 3
    assert g["business_time"] is True
    # business hours: first responses 2, 0.5, 1, 0.5; resolutions 8, 5, 2
    assert g["first_response_hours"] == {"median": pytest.approx(0.75), "p90": pytest.approx(1.7)}
    assert g["resolution_hours"] == {"median": pytest.approx(5.0), "p90": pytest.approx(7.4)}
    # decided: 1, 3, 7 met; 2 (resolution), 4 (both) missed; 5 still running
    assert g["sla_attainment"] == pytest.approx(0.6)
    assert g["sla"]["first_response"] == {"met": 4, "missed": 1, "attainment": pytest.approx(0.8)}
    assert g["sla"]["resolution"] == {"met": 3, "missed": 2, "attainment": pytest.approx(0.6)}
    assert [p["name"] for p in g["sla"]["policies"]] == ["default"]
    assert g["sla"]["policies"][0]["tickets"] == 6
    # solved at some time: 1, 3, 7; came back: 1 (a linked ticket), 3 (reopened)
    assert g["reopened"] == 2 and g["reopen_rate"] == pytest.approx(2 / 3)
    # contact 1 (tickets 1 and 2, 4.4 days apart) and 3 (ticket 6 after the period);
    # contact 2's tickets are 10 days apart
    assert g["repeat_contacts"] == 2
    # CSAT is not recorded in this store's schema yet
    assert g["csat"] == {"average": None, "responses": 0, "asked": 0, "response_rate": None,
                         "satisfied_share": None}
    # Rome time, Monday first; notes, the automatic acknowledgement and the message after the
    # period are not counted; an old ticket's messages in the period are
    assert g["hour_of_week"]["in"] == _grid({
        (0, 0): 1, (0, 9): 1, (1, 10): 1, (1, 20): 1, (2, 11): 1, (2, 14): 1, (3, 10): 1,
        (4, 17): 1, (6, 0): 1, (6, 23): 1})
    assert g["hour_of_week"]["out"] == _grid({(0, 9): 1, (0, 11): 1, (1, 10): 1, (2, 15): 1})
    assert g["messages"] == {"in": 10, "out": 4}
    # tags: refund 2 against 2 (no growth), shipping 3 against 0
    assert g["trending_tags"] == [{"name": "shipping", "count": 3, "previous": 0},
                                  {"name": "<i>vip</i>", "count": 1, "previous": 0}]
    # "tracking number" and "number missing" say nothing "tracking number missing" does not
    assert g["trending_phrases"] == [
        {"name": "tracking number missing", "count": 3, "previous": 0},
        {"name": "parcel tracking number", "count": 2, "previous": 0}]


def test_calendar_hours_without_business_hours(shop: Any) -> None:
    [g] = shop(*PERIOD, "--format", "json", config_file=False).json()
    assert g["business_time"] is False
    # ticket 2 waited 64 calendar hours over the weekend: 0.5, 1, 2, 64
    assert g["first_response_hours"]["median"] == pytest.approx(1.5)


def test_groups_by_channel_day_and_tag(shop: Any) -> None:
    by_channel = {g["group"]: g for g in shop(*PERIOD, "--by", "channel", "--format", "json").json()}
    assert {k: v["tickets"] for k, v in by_channel.items()} == {
        "email": 3, "sms": 1, "telegram": 1, "whatsapp": 1}
    assert by_channel["email"]["repeat_contacts"] == 1
    assert by_channel["whatsapp"]["repeat_contacts"] == 1
    assert by_channel["sms"]["reopen_rate"] == 1.0
    assert by_channel["telegram"]["hour_of_week"]["in"] == _grid({(6, 0): 1, (6, 23): 1})
    for g in by_channel.values():  # every group object carries SPEC §11's fields
        assert {"csat", "reopen_rate", "repeat_contacts", "hour_of_week", "trending_tags",
                "trending_phrases"} <= set(g)
        assert set(g["csat"]) >= {"average", "responses", "asked", "satisfied_share"}

    days = [g["group"] for g in shop(*PERIOD, "--by", "day", "--format", "json").json()]
    # ticket 5 was created on Saturday in UTC but Sunday in Rome
    assert days == ["2026-11-16", "2026-11-18", "2026-11-20", "2026-11-24", "2026-11-25",
                    "2026-11-29"]
    weeks = {g["group"]: g["tickets"] for g in shop(*PERIOD, "--by", "week", "--format",
                                                   "json").json()}
    assert weeks == {"2026-W47": 3, "2026-W48": 3}

    tags = {g["group"]: g for g in shop(*PERIOD, "--by", "tag", "--format", "json").json()}
    assert {k: v["tickets"] for k, v in tags.items()} == {
        "refund": 2, "shipping": 3, "(untagged)": 1, "<i>vip</i>": 1}
    # within the refund group, shipping grew (ticket 2); the group's own tag is not news
    assert tags["refund"]["trending_tags"] == [{"name": "shipping", "count": 1, "previous": 0}]


def test_csv_and_plain_shapes(shop: Any) -> None:
    r = shop(*PERIOD, "--by", "channel", "--format", "csv")
    assert r.code == 0, r
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert [row["group"] for row in rows] == ["email", "sms", "telegram", "whatsapp"]
    email = rows[0]
    assert email["tickets"] == "3" and email["repeat_contacts"] == "1"
    assert float(email["first_response_median_hours"]) == pytest.approx(0.5)
    assert email["trending_tags"] == "<i>vip</i> 1 (was 0); shipping 1 (was 0)"
    plain = shop(*PERIOD).out.splitlines()  # off a terminal: tab-separated data, no charts
    assert plain[0].split("\t")[:3] == ["group", "tickets", "solved"]
    assert plain[1].split("\t")[:2] == ["all", "6"]
    assert "█" not in "".join(plain)


def test_bad_arguments_are_one_line_errors(shop: Any) -> None:
    r = shop("--by", "colour")
    assert r.code == 2 and "use one of channel, tag, assignee, day, week" in r.err
    r = shop("--since", "2026-11-20", "--until", "2026-11-10")
    assert r.code == 2 and "must be after" in r.err
    r = shop("--format", "xml")
    assert r.code == 2 and "table, json, jsonl or csv" in r.err


def test_charts_on_a_terminal(shop: Any, cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    d = run_on_pty(["--db", str(cli.db), "--config", str(config), "report", *PERIOD],
                   {"SUPPORTCTL_NOW": NOW}, columns=120, stdin_tty=False)
    assert d.code == 0
    screen = d.screen.decode()
    assert "Hour of week" in screen and "Mon" in screen and "Sun" in screen
    assert "▲ shipping" in screen and "tracking number missing" in screen
    assert "█" in screen  # volume bars and the heat map
    assert "new tickets" in screen  # the daily line
    # a store that records CSAT, but nobody of the period was asked
    assert "CSAT: no customer of this period was asked how it went" in screen


def test_volume_bars_fit_the_terminal_and_keep_their_proportions(shop: Any, cli: Any,
                                                                   tmp_path: Path) -> None:
    # At 100 columns the 20-character bars were cut by the edge ("██████████…"):
    # a group of 4 tickets and one of 3 drew the same bar.
    import re

    counts = {g["group"]: g["tickets"] for g in shop(*PERIOD, "--by", "channel",
                                                      "--format", "json").json()}
    d = run_on_pty(["--db", str(cli.db), "--config", str(tmp_path / "config.yaml"), "report",
                    *PERIOD, "--by", "channel"], {"SUPPORTCTL_NOW": NOW, "NO_COLOR": "1"},
                   columns=100, stdin_tty=False)
    assert d.code == 0
    screen = re.sub(r"\x1b\[[0-9;]*m", "", d.screen.decode())
    bars = {}
    for line in screen.splitlines():
        name = line.split(" ", 1)[0]
        if name in counts and "█" in line:
            assert "…" not in line, line
            bars[name] = line.count("█")
    assert set(bars) == set(counts), screen
    top = max(counts.values())
    for name, n in counts.items():
        assert bars[name] == max(1, round(max(bars.values()) * n / top)), (bars, counts)


def test_html_page_gives_the_period_in_the_shops_zone(shop: Any, tmp_path: Path) -> None:
    # README: every time a person reads is in the config's timezone; the
    # terminal said "Mon 16 Nov 01:00 CET", the page "2026-11-16 00:00 UTC".
    out = tmp_path / "report.html"
    assert shop(*PERIOD, "--html", str(out)).code == 0
    page = out.read_text()
    assert "Tickets created Mon 16 Nov 01:00 CET – Mon 30 Nov 01:00 CET" in page
    assert "<title>Support report 2026-11-16 – 2026-11-30</title>" in page
    assert " UTC" not in page


def test_html_page_is_self_contained_and_private(shop: Any, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    r = shop(*PERIOD, "--by", "tag", "--html", str(out))
    assert r.code == 0, r
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    page = out.read_text()
    assert "No customer of this period was asked how it went." in page
    low = page.lower()
    for banned in ("http://", "https://", "<script", "url(", "@import", "<link", "<iframe",
                   "src="):
        assert banned not in low, banned
    assert page.count("<svg") >= 4  # daily line, two heat maps, bars
    assert "&lt;i&gt;vip&lt;/i&gt;" in page and "<i>vip" not in page
    assert 'name="viewport"' in page
    # an existing file is replaced and stays private
    out.chmod(0o644)
    assert shop(*PERIOD, "--html", str(out)).code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    r = shop(*PERIOD, "--html", str(tmp_path / "missing" / "r.html"))
    assert r.code == 2 and "folder that exists" in r.err


def test_hour_of_week_follows_daylight_saving(cli: Any, tmp_path: Path) -> None:
    """08:00 UTC is 10:00 in Rome before the change of 25 October 2026 and
    09:00 after it; Kolkata (UTC+5:30) counts by its own half hours."""
    dump = tmp_path / "dst.jsonl"
    dump.write_text(json.dumps(_ticket(
        1, 1, "email", "2026-10-23T08:00:00Z", "Hello", messages=[
            _msg(1, "in", "2026-10-23T08:00:00Z"),    # Fri, summer time
            _msg(2, "in", "2026-10-26T08:00:00Z"),    # Mon, winter time
            _msg(3, "out", "2026-10-26T08:29:00Z"),   # Mon 09:29 Rome, 13:59 Kolkata
            _msg(4, "out", "2026-10-26T08:30:00Z"),   # Mon 09:30 Rome, 14:00 Kolkata
        ])) + "\n")
    assert cli("import", str(dump), "--format", "jsonl").code == 0
    period = ("--since", "2026-10-19T00:00:00Z", "--until", "2026-11-02T00:00:00Z")
    for zone, cells_in, cells_out in (
            ("Europe/Rome", {(4, 10): 1, (0, 9): 1}, {(0, 9): 2}),
            ("Asia/Kolkata", {(4, 13): 1, (0, 13): 1}, {(0, 13): 1, (0, 14): 1})):
        config = tmp_path / f"{zone.replace('/', '-')}.yaml"
        config.write_text(f"timezone: {zone}\n")
        r = cli("--config", str(config), "report", *period, "--format", "json",
                env={"SUPPORTCTL_NOW": NOW})
        assert r.code == 0, r
        [g] = r.json()
        assert g["hour_of_week"] == {"in": _grid(cells_in), "out": _grid(cells_out)}, zone


def test_policies_and_csat_fill_in_when_the_store_records_them(shop: Any, cli: Any,
                                                               tmp_path: Path) -> None:
    """Policies (``sla_policy``) and CSAT (the ``csat`` table: one row per
    ticket asked, SPEC §10) as ``sync`` records them; here written by hand."""
    import sqlite3

    conn = sqlite3.connect(cli.db)
    conn.execute("UPDATE tickets SET sla_policy = 'urgent' WHERE id IN (2, 4)")
    conn.execute("UPDATE tickets SET sla_policy = 'standard' WHERE id NOT IN (2, 4)")
    asked = "2026-11-25T10:00:00Z"
    for tid, rating in ((1, 5), (3, 2), (7, 4)):
        conn.execute("INSERT INTO csat (ticket_id, asked_at, rating, answered_at)"
                     " VALUES (?, ?, ?, ?)", [tid, asked, rating, asked])
    conn.execute("INSERT INTO csat (ticket_id, asked_at) VALUES (2, ?)", [asked])
    conn.commit()
    conn.close()
    [g] = shop(*PERIOD, "--format", "json").json()
    assert g["csat"] == {"average": pytest.approx(11 / 3), "responses": 3, "asked": 4,
                         "response_rate": 0.75, "satisfied_share": pytest.approx(2 / 3)}
    # On a terminal: the ratings, and no word of CSAT missing.
    d = run_on_pty(["--db", str(cli.db), "--config", str(tmp_path / "config.yaml"), "report",
                    *PERIOD], {"SUPPORTCTL_NOW": NOW}, columns=160, stdin_tty=False)
    screen = d.screen.decode()
    assert d.code == 0 and "CSAT" in screen, screen
    assert "CSAT: no customer" not in screen and "not recorded" not in screen
    policies = {p["name"]: p for p in g["sla"]["policies"]}
    assert policies["urgent"]["tickets"] == 2 and policies["urgent"]["attainment"] == 0.0
    assert policies["standard"]["tickets"] == 4 and policies["standard"]["attainment"] == 1.0
    assert policies["urgent"]["first_response_attainment"] == 0.5


def test_spam_and_automatic_mail_are_not_customer_volume(cli: Any, tmp_path: Path) -> None:
    """The known answers of ``test_report_json_known_answers`` hold with
    spam, automatic mail and delivery reports added to the period."""
    lines = _store_lines()
    for tid, tag in ((201, "spam"), (202, "auto"), (203, "bounce")):
        lines.append(_ticket(tid, 9, "email", "2026-11-18T09:00:00Z", f"Noise {tag}",
                             status="closed", tags=[tag],
                             messages=[_msg(2000 + tid, "in", "2026-11-18T09:00:00Z")]))
    ooo = _msg(3001, "in", "2026-11-24T12:00:00Z", text="I am out of the office")
    ooo["auto_reason"] = "Auto-Submitted: auto-replied"
    dsn = _msg(3002, "in", "2026-11-16T10:05:00Z", text="Delivery failed")
    dsn["delivery"] = {"state": "failed", "error": "550 no such user"}
    lines[-2]["messages"].append(ooo)  # ticket 7
    lines[2]["messages"].append(dsn)   # ticket 1
    dump = tmp_path / "noisy.jsonl"
    dump.write_text("".join(json.dumps(t) + "\n" for t in lines))
    assert cli("import", str(dump), "--format", "jsonl").code == 0
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    env = {"SUPPORTCTL_NOW": NOW}
    [g] = cli("--config", str(config), "report", *PERIOD, "--format", "json", env=env).json()
    assert g["tickets"] == 6 and g["messages"] == {"in": 10, "out": 4}
    assert sum(map(sum, g["hour_of_week"]["in"])) == 10
    tags = cli("--config", str(config), "report", *PERIOD, "--by", "tag", "--format", "json",
               env=env).json()
    assert not {"spam", "auto", "bounce"} & {t["group"] for t in tags}
    channels = cli("--config", str(config), "report", *PERIOD, "--by", "channel", "--format",
                   "json", env=env).json()
    assert {c["group"]: c["tickets"] for c in channels}["email"] == 3
    # CSV: plain numbers, hours as hours and shares as fractions 0-1
    r = cli("--config", str(config), "report", *PERIOD, "--format", "csv", env=env)
    [row] = list(csv.DictReader(io.StringIO(r.out)))
    assert float(row["first_response_median_hours"]) == pytest.approx(0.75)
    assert float(row["sla_attainment"]) == pytest.approx(0.6)
    assert float(row["reopen_rate"]) == pytest.approx(2 / 3, abs=1e-3)
    assert not any(v.endswith(("h", "%")) for v in row.values())
    help_text = cli("report", "--help").out
    assert "spam" in help_text and "automatic" in help_text


def test_times_stored_with_an_offset_count_as_instants(cli: Any, tmp_path: Path) -> None:
    """The report reads tickets in the order their ``created_at`` sorts
    and takes the periods as slices of it; an import keeps times as
    written, and one with an offset sorts otherwise as text than as an
    instant. The same tickets give the same report either way: here
    contact 8's first ticket, made the evening before the period, is
    written as 09:00+14:00 on its first day (after ticket 1's text), and
    belongs to the previous period all the same."""
    from supportctl.store.db import Store
    from tests.conftest import run_cli

    def lines(offset: bool) -> list[dict[str, Any]]:
        first = _ticket(301, 8, "email", "2026-11-15T19:00:00Z", "Broken kettle lid",
                        tags=["kettle"], messages=[_msg(3010, "in", "2026-11-15T19:00:00Z")])
        if offset:
            first["created_at"] = first["updated_at"] = "2026-11-16T09:00:00+14:00"
        return [*_store_lines(), first,
                _ticket(302, 8, "email", "2026-11-16T10:30:00Z", "Broken kettle lid",
                        tags=["kettle"], messages=[_msg(3020, "in", "2026-11-16T10:30:00Z")])]

    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    reports = []
    for offset in (False, True):
        db = tmp_path / f"offset-{offset}.db"
        Store(db).close()
        dump = tmp_path / f"offset-{offset}.jsonl"
        dump.write_text("".join(json.dumps(t) + "\n" for t in lines(offset)))
        assert run_cli("--db", str(db), "import", str(dump), "--format", "jsonl").code == 0
        got = {}
        for by in (None, "channel", "tag", "day", "week"):
            r = run_cli("--db", str(db), "--config", str(config), "report", *PERIOD,
                        *(("--by", by) if by else ()), "--format", "json",
                        env={"SUPPORTCTL_NOW": NOW})
            assert r.code == 0, r
            got[by] = r.json()
        reports.append(got)
    assert reports[0] == reports[1]
    [g] = reports[1][None]
    assert g["tickets"] == 7 and g["repeat_contacts"] == 2  # 301 is the previous period's
    kettle = {t["group"]: t for t in reports[1]["tag"]}["kettle"]
    assert kettle["tickets"] == 1 and kettle["trending_tags"] == []


def test_each_subjects_phrases_are_kept_for_the_next_report(shop: Any, cli: Any) -> None:
    """A report keeps the phrases it works out per subject (m027) and the
    next one reads them instead of working them out again; kept under
    another version of the phrase rules, they are worked out afresh."""
    import sqlite3

    from supportctl.services.phrases import VERSION

    first = shop(*PERIOD, "--format", "json").json()
    conn = sqlite3.connect(cli.db)
    kept = dict(conn.execute("SELECT subject, phrases FROM subject_phrases WHERE version = ?",
                             [VERSION]))
    assert "tracking number missing" in kept["Parcel tracking number missing"].split("\n")
    # read, not worked out again: a row changed by hand shows
    conn.execute("UPDATE subject_phrases SET phrases = 'kept phrase'"
                 " WHERE subject = 'Parcel tracking number missing'")
    conn.commit()
    [g] = shop(*PERIOD, "--format", "json").json()
    assert {"name": "kept phrase", "count": 2, "previous": 0} in g["trending_phrases"]
    # another version of the rules: worked out afresh, and kept again
    conn.execute("UPDATE subject_phrases SET version = version - 1")
    conn.commit()
    assert shop(*PERIOD, "--format", "json").json() == first
    assert conn.execute("SELECT count(*) FROM subject_phrases WHERE version != ?",
                        [VERSION]).fetchone()[0] == 0
    conn.close()


def test_a_store_from_before_the_phrases_gets_them(cli: Any, shop: Any) -> None:
    """A store at schema 25 gets m027's table when opened; its first
    report works out every subject's phrases and keeps them."""
    import sqlite3

    before = shop(*PERIOD, "--format", "json").json()
    conn = sqlite3.connect(cli.db)
    conn.execute("DROP TABLE subject_phrases")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm027_subject_phrases'")
    conn.execute("PRAGMA user_version = 25")
    conn.commit()
    conn.close()
    assert shop(*PERIOD, "--format", "json").json() == before
    conn = sqlite3.connect(cli.db)
    assert conn.execute("SELECT count(*) FROM subject_phrases").fetchone()[0] > 0
    conn.close()
