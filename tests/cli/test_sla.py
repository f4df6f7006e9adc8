"""SLA policies through the CLI and its JSON, time pinned with
SUPPORTCTL_NOW: first match wins, due times follow priority, tags and the
config, pending pauses the resolution clock, `list --sla` and `--sort due`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import Result, run_cli

HOURS = """\
timezone: Europe/Rome
business_hours:
  mon-fri: ["09:00-13:00", "14:00-18:00"]
  sat: ["09:00-12:00"]
holidays: {country: IT, dates: [2026-12-24]}
channels:
  - {name: mem, type: memory}
"""
POLICIES = HOURS + """\
sla:
  - name: urgent
    match: {priority: urgent}
    first_response: 30m
    resolution: 8h
    business_hours_only: false
  - name: vip
    match: {contact_tag: vip}
    first_response: 15m
    resolution: 4h
  - name: standard
    first_response: 1h
    resolution: 16h
"""
MON_0830 = "2026-11-30T07:30:00Z"  # Monday 08:30 in Rome, before opening


def setup(tmp_path: Path, cli: Any, text: str = POLICIES) -> Any:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text)

    def call(*args: str, now: str = MON_0830) -> Result:
        res = run_cli("--db", str(cli.db), "--config", str(cfg), *args,
                      env={"SUPPORTCTL_NOW": now})
        assert res.code == 0, res
        return res

    call.cfg = cfg  # type: ignore[attr-defined]
    return call


def ticket(call: Any, tid: int = 1, now: str = MON_0830) -> dict[str, Any]:
    return call("show", str(tid), "--format", "json", now=now).json()  # type: ignore[no-any-return]


def test_first_matching_policy_and_business_time(tmp_path: Path, cli: Any) -> None:
    call = setup(tmp_path, cli)
    call("new", "--channel", "phone", "--to", "Ann", "--subject", "Broken zip", "-m", "help")
    sla = ticket(call)["sla"]
    # Opens at 09:00: first response 10:00, resolution 16 working hours
    # (two days of 8, lunch excluded) = Tuesday 18:00 Rome.
    assert sla["policy"] == "standard"
    assert sla["first_response_due"] == "2026-11-30T09:00:00Z"
    assert sla["resolution_due"] == "2026-12-01T17:00:00Z"
    assert sla["paused"] is False and sla["breached"] is False


def test_priority_change_recomputes_due_times(tmp_path: Path, cli: Any) -> None:
    call = setup(tmp_path, cli)
    call("new", "--channel", "phone", "--to", "Ann", "--subject", "Fire", "-m", "help")
    call("priority", "urgent", "1")
    sla = ticket(call)["sla"]
    assert sla["policy"] == "urgent"  # round the clock: 30 minutes from 08:30
    assert sla["first_response_due"] == "2026-11-30T08:00:00Z"
    assert sla["resolution_due"] == "2026-11-30T15:30:00Z"
    call("priority", "normal", "1")
    assert ticket(call)["sla"]["policy"] == "standard"


def test_contact_tag_on_another_ticket_selects_a_policy(tmp_path: Path, cli: Any) -> None:
    call = setup(tmp_path, cli)
    call("new", "--channel", "phone", "--to", "+393331234567", "--subject", "One", "-m", "a")
    call("new", "--channel", "phone", "--to", "+393331234567", "--subject", "Two", "-m", "b")
    call("tag", "vip", "1")
    assert ticket(call, 1)["sla"]["policy"] == "vip"
    two = ticket(call, 2)["sla"]
    assert two["policy"] == "vip" and two["first_response_due"] == "2026-11-30T08:15:00Z"
    call("untag", "vip", "1")
    assert ticket(call, 2)["sla"]["policy"] == "standard"


def test_config_change_gives_existing_tickets_due_times(tmp_path: Path, cli: Any) -> None:
    call = setup(tmp_path, cli, HOURS)
    call("new", "--channel", "phone", "--to", "Ann", "--subject", "Old", "-m", "x")
    assert ticket(call)["sla"]["first_response_due"] is None
    call.cfg.write_text(POLICIES)
    call("sync")
    sla = ticket(call)["sla"]
    assert sla["policy"] == "standard" and sla["first_response_due"] == "2026-11-30T09:00:00Z"
    # A changed target reaches open tickets at the next sync.
    call.cfg.write_text(POLICIES.replace("first_response: 1h", "first_response: 2h"))
    call("sync")
    assert ticket(call)["sla"]["first_response_due"] == "2026-11-30T10:00:00Z"


def test_pending_pauses_the_resolution_clock(tmp_path: Path, cli: Any) -> None:
    from tests.social.twilio_server import SHOP, SID, TOKEN, TwilioServer

    with TwilioServer() as tw:
        call = setup(tmp_path, cli, POLICIES.replace(
            "  - {name: mem, type: memory}\n",
            f"  - {{name: shop-sms, type: twilio, account_sid: {SID}, auth_token: {TOKEN}, "
            f"numbers: ['{SHOP}'], api_base_url: '{tw.url}'}}\n"))
        call.cfg.chmod(0o600)
        call("new", "--channel", "sms", "--to", "+393331234567", "-m", "We have your order")
        assert ticket(call)["sla"]["resolution_due"] == "2026-12-01T17:00:00Z"
        # Pending from Monday 10:00 to Monday 15:00 Rome: 4 working hours.
        call("reply", "1", "-m", "Which size?", "--status", "pending", now="2026-11-30T09:00:00Z")
        paused = ticket(call, now="2026-12-02T09:00:00Z")["sla"]
        assert paused["paused"] is True
        assert paused["resolution_breached"] is False  # the clock stopped before its due time
        call("reply", "1", "-m", "Found it", "--status", "open", now="2026-11-30T14:00:00Z")
    sla = ticket(call, now="2026-11-30T14:00:00Z")["sla"]
    assert sla["paused"] is False
    assert sla["resolution_due"] == "2026-12-02T12:00:00Z"  # Wednesday 13:00: 4h later


def test_list_sla_filters_sort_and_time_left(tmp_path: Path, cli: Any) -> None:
    call = setup(tmp_path, cli)
    for name in ("Ann", "Bob", "Cy"):
        call("new", "--channel", "phone", "--to", name, "--subject", name, "-m", "x")
    call("priority", "urgent", "2")  # round the clock: first response due 09:00 Rome
    later = "2026-11-30T08:30:00Z"  # 09:30 Rome: #2 is late, #1 and #3 due at 10:00
    breached = call("list", "--sla", "breached", "--format", "json", now=later).json()
    assert [t["id"] for t in breached] == [2]
    assert breached[0]["sla"]["first_response_breached"] is True
    soon = call("list", "--sla", "due-soon", "--format", "ids", now=later).out.split()
    assert sorted(soon) == ["1", "3"]
    order = call("list", "--sort", "due", "--format", "ids", now=later).out.split()
    assert order == ["2", "1", "3"]
    rows = {r.split("\t")[0]: r.split("\t")[-1] for r in call("list", now=later).out.splitlines()}
    assert rows == {"1": "30m", "2": "-30m", "3": "30m"}
    from tests.test_safe import run_tty

    drawn = run_tty(["--db", str(cli.db), "--config", str(call.cfg), "list"],
                    env={"SUPPORTCTL_NOW": later}).decode()
    assert "DUE" in drawn
    assert "\x1b[1;31m-30m" in drawn and "\x1b[33m30m" in drawn  # late in red, soon in yellow
