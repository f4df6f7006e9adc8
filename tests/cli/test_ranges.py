"""Ids, durations, limits and times out of range (issue 7): every one is a
usage error (exit 2) or not found (exit 3) with a message, never "internal
error", wherever the command line or the config reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli

HUGE = "99999999999999999999"  # past SQLite's 64-bit integers

CASES = [
    ("close", HUGE), ("show", HUGE), ("note", HUGE, "-m", "x"), ("reply", HUGE, "-m", "x"),
    ("tag", "x", HUGE), ("assign", "ann", HUGE), ("priority", "high", HUGE),
    ("delete", HUGE, "--yes"), ("merge", HUGE, "1"), ("merge", "1", HUGE),
    ("attachments", HUGE), ("template", "preview", "x", HUGE),
    ("contact", "show", HUGE), ("contact", "link", HUGE, "+15551234567"),
    ("contact", "merge", HUGE, "1"), ("contact", "export", HUGE),
    ("contact", "forget", HUGE, "--yes"),
    ("outbox", "retry", HUGE), ("outbox", "cancel", HUGE),
    ("quarantine", "show", HUGE), ("quarantine", "export", HUGE),
    ("snooze", "9999999999d", "1"), ("snooze", "99999999d", "1"),
    ("snooze", "9999-12-31T23:00-05:00", "1"), ("snooze", "0001-01-01", "1"),
    ("list", "--limit", "1e20"), ("list", "--limit", HUGE), ("list", "--limit", "-5"),
    ("list", "--offset", HUGE), ("list", "--contact", HUGE),
    ("list", "--since", "99999999d"), ("list", "--until", "9999999999w"),
    ("search", "after:99999999d"), ("search", "before:9999999999d"),
    ("search", "after:0001-01-01"), ("search", "x", "--limit", HUGE),
    ("export", "--since", "99999999d"), ("report", "--since", "99999999d"),
    ("sync", "--interval", "1e300", "--watch"),
]


def test_out_of_range_is_a_usage_error_everywhere(cli: Any) -> None:
    assert cli("new", "--channel", "phone", "--to", "Ann", "-m", "hi").code == 0
    wrong = []
    for args in CASES:
        r = cli(*args)
        if r.code not in (2, 3) or "internal error" in r.err or "Traceback" in r.err \
                or not r.err.strip():
            wrong.append((args, r))
    assert wrong == []
    # Nothing was done: the one ticket is as it was.
    t = cli("show", "1", "--format", "json").json()
    assert (t["status"], t["tags"], t["assignee"], t["snoozed_until"]) == ("new", [], None, None)


def test_the_message_says_what_is_allowed(cli: Any) -> None:
    cli("new", "--channel", "phone", "--to", "Ann", "-m", "hi")
    r = cli("close", HUGE)
    assert r.code == 2 and "ids are whole numbers from 1 to" in r.err, r
    r = cli("snooze", "9999999999d", "1")
    assert r.code == 2 and "too long: at most 100 years" in r.err, r


@pytest.mark.parametrize("snippet", [
    "reopen_window: 9999999999d\n",
    "close_after: 99999999d\n",
    "auto_reply: {window: 99999999999999999999h}\n",
    "outbox: {max_attempts: 99999999999999999999}\n",
    "channels:\n  - {name: m, type: imap, host: h, username: u, password_env: P, since: 99999999d}\n",
])
def test_config_values_out_of_range_are_config_errors(tmp_path: Path, snippet: str) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(snippet)
    r = run_cli("--config", str(cfg), "config", "check")
    assert r.code == 2, r
    assert "internal error" not in r.err and ("too long" in r.err or "from 1 to" in r.err), r
    assert ":1" in r.err or ":2" in r.err, r  # the line is named
