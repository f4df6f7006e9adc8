"""``outbox`` says when a failed send is tried again (issue 10): the JSON
field ``next_attempt_at`` and a column in the table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.email.servers import PASSWORD, Dovecot, Recorder, message, smtp_server
from tests.email.test_e2e import write_config

NOW = "2026-12-01T10:00:00Z"


def test_outbox_shows_when_the_next_retry_is_due(cli: Any, tmp_path: Path, dovecot: Dovecot,
                                                  user: str) -> None:
    cfg = tmp_path / "config.yaml"
    env = {"SUPPORTCTL_CONFIG": str(cfg), "SUPPORT_MAIL_PASSWORD": PASSWORD,
           "SUPPORTCTL_NOW": NOW}
    dovecot.append(user, [message(1, sender="ada@example.com", msgid="d1@example.com")])
    greylisting = smtp_server(Recorder(reply="451 4.3.0 greylisted, try later"))
    refusing = smtp_server(Recorder(reply="550 5.1.1 no such user"))
    try:
        write_config(cfg, dovecot, user, greylisting.port)
        assert cli("sync", env=env).code == 0
        assert cli("reply", "1", "-m", "We are on it.", env=env).code == 1
        write_config(cfg, dovecot, user, refusing.port)
        assert cli("reply", "1", "-m", "And again.", env=env).code == 1
    finally:
        greylisting.stop()
        refusing.stop()
    temporary, permanent = cli("outbox", "--format", "json", env=env).json()
    # The first temporary failure waits two minutes (then 4, 8, … up to 4 h).
    assert temporary["state"] == "failed" and temporary["next_attempt_at"] == "2026-12-01T10:02:00Z"
    assert permanent["state"] == "failed" and permanent["next_attempt_at"] is None
    table = cli("outbox", env=env).out.splitlines()
    assert "retry: sync after Tue 1 Dec 10:02 UTC (in 2 min)" in table[0]
    assert f"no retry: `outbox retry {permanent['id']}`" in table[1]
    later = {**env, "SUPPORTCTL_NOW": "2026-12-01T10:05:00Z"}
    assert "retry: next sync" in cli("outbox", env=later).out.splitlines()[0]
