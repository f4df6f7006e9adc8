"""Housekeeping in every sync: solved tickets close after close_after,
snoozes whose time has come end with an event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import run_cli


def test_sync_closes_and_wakes(tmp_path: Path, cli: Any) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("close_after: 2d\nchannels:\n  - {name: mem, type: memory}\n")

    def call(now: str, *args: str) -> Any:
        res = run_cli("--db", str(cli.db), "--config", str(cfg), *args,
                      env={"SUPPORTCTL_NOW": now})
        assert res.code == 0, res
        return res

    for subject in ("Solved", "Snoozed"):
        call("2026-11-30T09:00:00Z", "new", "--channel", "phone", "--to", "Ann",
             "--subject", subject, "-m", "x")
    call("2026-11-30T09:00:00Z", "solve", "1")
    call("2026-11-30T09:00:00Z", "snooze", "2026-12-01T08:00:00Z", "2")
    call("2026-11-30T12:00:00Z", "sync")
    assert call("2026-11-30T12:00:00Z", "list", "--format", "ids").out.split() == []

    res = call("2026-12-02T10:00:00Z", "sync")
    assert "housekeeping: 1 closed, 1 woken" in res.err
    one = call("2026-12-02T10:00:00Z", "show", "1", "--format", "json").json()
    two = call("2026-12-02T10:00:00Z", "show", "2", "--format", "json").json()
    assert one["status"] == "closed"
    assert two["snoozed_until"] is None
    assert [e["detail"] for e in two["events"] if e["action"] == "unsnooze"] == [{"reason": "time"}]
