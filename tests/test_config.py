"""Configuration: every problem at once with its line, secrets, defaults."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportctl.config import (
    load_config,
    parse_duration,
    resolve_secrets,
    secret_warnings,
    store_path_fast,
)
from supportctl.errors import ConfigError
from tests.conftest import ROOT, run_cli


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(text)
    p.chmod(mode)
    return p


BAD = """\
timezone: Mars/Olympus
reopen_window: 7 days
channels:
  - name: support-mail
    type: imap
    host: imap.example.com
    username: s@example.com
    password: x
    password_env: PW
    smtp:
      host: smtp.example.com
      prot: 587
  - name: sms
    type: twilio
    account_sid: AC1
    auth_token_env: T
    numbers: ["555-1234"]
  - name: tg
    type: telegrm
colour: blue
"""


def test_every_problem_at_once_with_lines(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, BAD))
    probs = e.value.problems
    text = "\n".join(probs)
    assert f"{tmp_path}/config.yaml:1: timezone" in text
    assert ":2: reopen_window" in text
    assert ":9: channels[0].password_env: give password one way only" in text
    assert ":12: channels[0].smtp.prot: unknown key (did you mean 'port'?)" in text
    assert "channels[1].numbers" in text and "555-1234" in text
    assert "channels[2].type: unknown channel type 'telegrm'" in text
    assert ":20: colour: unknown key" in text
    assert len(probs) == 7, probs


def test_cli_reports_config_errors_with_exit_2(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cfg = write(tmp_path, BAD)
    r = cli("config", "check", env={"SUPPORTCTL_CONFIG": str(cfg)})
    assert r.code == 2 and "prot" in r.err and "Traceback" not in r.err
    assert r.err.count("\n") == 7


def test_defaults_and_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(write(tmp_path, """\
channels:
  - name: m
    type: imap
    host: h
    username: Support@Example.com
    password_cmd: printf 'hunter2\\n'
    smtp: {host: s, username: u, password_env: SMTP_PW}
"""))
    entry = cfg.channels[0]
    assert entry["port"] == 993 and entry["security"] == "ssl" and entry["tls_verify"] is True
    assert entry["folders"] == ["INBOX"] and entry["addresses"] == ["support@example.com"]
    assert entry["smtp"]["port"] == 587 and entry["smtp"]["security"] == "starttls"
    monkeypatch.setenv("SMTP_PW", "s3cret")
    r = resolve_secrets(entry)
    assert r["password"] == "hunter2" and r["smtp"]["password"] == "s3cret"
    assert "password_cmd" not in r and "password" not in entry
    monkeypatch.delenv("SMTP_PW")
    with pytest.raises(ConfigError, match="SMTP_PW is not set"):
        resolve_secrets(entry)


def test_failing_cmd_never_shows_its_output(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """\
channels:
  - {name: t, type: telegram, token_cmd: "echo leaked-token; exit 3"}
"""))
    with pytest.raises(ConfigError) as e:
        resolve_secrets(cfg.channels[0])
    assert "leaked-token" not in str(e.value) and "exit 3" in str(e.value)


def test_clear_secret_in_readable_file_warns(tmp_path: Path) -> None:
    text = "channels:\n  - {name: t, type: telegram, token: '123:abc'}\n"
    cfg = load_config(write(tmp_path, text, 0o644))
    warnings = secret_warnings(cfg)
    assert len(warnings) == 1 and "chmod 600" in warnings[0] and "123:abc" not in warnings[0]
    assert secret_warnings(load_config(write(tmp_path, text, 0o600))) == []


def test_durations() -> None:
    assert parse_duration("90m").total_seconds() == 5400
    assert parse_duration("7d").days == 7
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_example_is_valid_and_shipped_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    top = ROOT / "config.example.yaml"
    assert top.read_text() == (ROOT / "supportctl" / "config.example.yaml").read_text()
    load_config(top)
    # every commented-out channel is valid once uncommented
    lines = top.read_text().splitlines()
    start = lines.index("channels: []")
    body = ["channels:"] + [ln[1:] for ln in lines[start + 1:] if ln.startswith("#")]
    text = "\n".join(body) + "\n"
    env = {"TWILIO_AUTH_TOKEN": "t", "TELEGRAM_BOT_TOKEN": "t", "MASTODON_TOKEN": "t",
           "SUPPORT_SMTP_PASSWORD": "p"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    p = tmp_path / "channels.yaml"
    p.write_text(text)
    cfg = load_config(p)
    assert [c["type"] for c in cfg.channels] == ["imap", "twilio", "telegram", "mastodon"]


def test_init_writes_private_config_that_checks_clean(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("init")
    assert r.code == 0, r
    path = tmp_path / "config" / "supportctl" / "config.yaml"
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
    assert cli("config", "check").code == 0


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\"'#\\\ufeff", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
               min_size=1, max_size=30).filter(lambda s: s.strip() == s and not s.startswith(("~", "-", "[", "{", "&", "*", "!", "|", ">", "%", "@", "`", ",", "?", ":"))))
def test_store_path_fast_agrees_with_yaml(tmp_path_factory: pytest.TempPathFactory, value: str) -> None:
    import yaml

    d = tmp_path_factory.mktemp("c")
    for rendered in (f'"{value}"', f"'{value}'", f"{value}  # a comment"):
        p = d / "c.yaml"
        p.write_text(f"# top\nstore: {rendered}\ntimezone: UTC\n")
        try:
            expected = yaml.safe_load(p.read_text())["store"]
        except yaml.YAMLError:
            continue
        if not isinstance(expected, str):
            continue
        assert store_path_fast(p) == os.path.expanduser(expected)


def test_unknown_assignee_with_agents(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cfg = write(tmp_path, "agents: [marta, luca]\n")
    env = {"SUPPORTCTL_CONFIG": str(cfg)}
    tid = cli("new", "--channel", "phone", "--to", "x", "-m", "y", env=env).out.strip()
    assert cli("assign", "marta", tid, env=env).code == 0
    r = cli("assign", "nobody", tid, env=env)
    assert r.code == 2 and "marta" in r.err


def test_store_from_config(tmp_path: Path) -> None:
    db = tmp_path / "elsewhere.db"
    cfg = write(tmp_path, f"store: {db}  # mine\n")
    r = run_cli("new", "--channel", "phone", "--to", "x", "-m", "y",
                env={"SUPPORTCTL_CONFIG": str(cfg)})
    assert r.code == 0, r
    assert db.exists()
