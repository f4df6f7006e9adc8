"""Sending from the command line (``supportctl/cli/channels.py``): what a
person is told when a reply cannot go out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_MAIL = ("From: Ann <ann@example.com>\nTo: support@example.com\nSubject: Parcel\n"
         "Message-ID: <p1@example.com>\nDate: Tue, 1 Dec 2026 10:00:00 +0000\n"
         "MIME-Version: 1.0\nContent-Type: text/plain\n\nWhere is my parcel?\n")


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        "channels:\n"
        "  - name: support-mail\n"
        "    type: imap\n"
        "    host: 127.0.0.1\n"
        "    username: support@example.com\n"
        "    password_env: SUPPORTCTL_TEST_UNSET_PASSWORD\n"
        "    smtp:\n"
        "      host: 127.0.0.1\n"
        "      port: 1\n"
        "      security: none\n")
    path.chmod(0o600)
    return path


def _imported(cli: Any, tmp_path: Path) -> str:
    """A store holding one customer mail (ticket 1); the config's path."""
    eml = tmp_path / "a.eml"
    eml.write_text(_MAIL)
    assert cli("import", str(eml), "--format", "eml").code == 0
    return str(_config(tmp_path))


def test_a_reply_whose_channel_cannot_be_set_up_says_it_is_kept_in_the_outbox(
        cli: Any, tmp_path: Path) -> None:
    # Before, the reply was queued, then `reply` exited 2 with the secret's
    # error alone: nothing said the reply was stored, and the outbox showed
    # it "sending" until a later sync sent it (with any retyped copy).
    cfg = _imported(cli, tmp_path)
    r = cli("--config", cfg, "reply", "1", "-m", "A new label is on its way")
    assert r.code == 1, r
    assert r.err.count("\n") == 1, r
    assert "SUPPORTCTL_TEST_UNSET_PASSWORD" in r.err
    assert "outbox entry 1" in r.err and "supportctl outbox retry 1" in r.err
    [entry] = cli("--config", cfg, "outbox", "--format", "json").json()
    assert entry["state"] == "failed"
    assert "SUPPORTCTL_TEST_UNSET_PASSWORD" in entry["error"]
    assert entry["next_attempt_at"]  # sync tries again, where the secret may be set
    message = cli("show", "1", "--format", "json").json()["messages"][-1]
    assert message["direction"] == "out"
    assert message["delivery"]["state"] == "failed"


def test_a_cc_the_mail_cannot_take_is_refused_before_anything_is_written(
        cli: Any, tmp_path: Path) -> None:
    # Before, the reply was queued, failed at the send ("not an email
    # address"), and `outbox retry` could only fail again.
    cfg = _imported(cli, tmp_path)
    for args in (["--dry-run"], []):
        r = cli("--config", cfg, "reply", "1", "-m", "hi", "--cc", "notanaddress", *args)
        assert r.code == 2, (args, r)
        assert "--cc 'notanaddress'" in r.err and r.err.count("\n") == 1, r
    assert cli("--config", cfg, "outbox", "--all", "--format", "json").json() == []
    assert len(cli("show", "1", "--format", "json").json()["messages"]) == 1
    r = cli("--config", cfg, "reply", "1", "-m", "hi", "--cc", "Bob <bob@example.com>",
            "--dry-run")
    assert r.code == 0 and r.json()["cc"] == ["Bob <bob@example.com>"], r


def test_reply_via_and_status_are_checked_before_the_dry_run_passes(
        cli: Any, tmp_path: Path) -> None:
    # Before, `--status opne --dry-run` passed (the send refused it later),
    # and `--via emial` said "no configured channel can send emial: add one".
    cfg = _imported(cli, tmp_path)
    for option, value, meant in (("--status", "opne", "open"), ("--via", "emial", "email")):
        r = cli("--config", cfg, "reply", "1", "-m", "hi", option, value, "--dry-run")
        assert r.code == 2, r
        assert f"unknown {option} '{value}' (did you mean '{meant}'?)" in r.err, r
        assert "add one" not in r.err and r.out == ""
    r = cli("--config", cfg, "reply", "1", "-m", "hi", "--status", "pending", "--via", "email",
            "--dry-run")
    assert r.code == 0, r
