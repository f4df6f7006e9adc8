"""Configuration: every problem at once with its line, secrets, defaults,
the yaml-free store scan, and the shipped example."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import date, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supportctl import config as config_mod
from supportctl.config import (
    CHANNEL_KEYS,
    SERVE_KEYS,
    SMTP_KEYS,
    TOP_KEYS,
    Config,
    default_config_path,
    default_data_dir,
    load_config,
    parse_duration,
    resolve_secrets,
    secret_warnings,
    store_path_fast,
)
from supportctl.errors import ConfigError
from tests.conftest import ROOT, run_cli

EXAMPLE = ROOT / "config.example.yaml"
SHIPPED = ROOT / "supportctl" / "config.example.yaml"


def write(tmp_path: Path, text: str, mode: int = 0o600, name: str = "config.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    p.chmod(mode)
    return p


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    return e.value.problems


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


# -- every problem at once ---------------------------------------------------


def test_every_problem_at_once_with_lines(tmp_path: Path) -> None:
    probs = problems(tmp_path, BAD)
    text = "\n".join(probs)
    assert f"{tmp_path}/config.yaml:1: timezone: unknown time zone 'Mars/Olympus'" in text
    assert ":2: reopen_window: bad duration" in text
    assert ":9: channels[0].password_env: give password one way only" in text
    assert ":12: channels[0].smtp.prot: unknown key (did you mean 'port'?)" in text
    assert ":17: channels[1].numbers: '555-1234' is not an E.164 number" in text
    assert ":19: channels[2].type: unknown channel type 'telegrm' (did you mean 'telegram'?)" in text
    assert ":20: colour: unknown key" in text
    assert len(probs) == 7, probs
    # every problem is FILE:LINE: key: message
    assert all(re.match(rf"{re.escape(str(tmp_path))}/config\.yaml:\d+: \S+: ", p) for p in probs)


def test_str_is_a_one_line_summary(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, BAD))
    assert str(e.value).startswith("config has 7 problems; first: ")
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError) as one:
        load_config(write(tmp_path, "colour: blue\n"))
    assert str(one.value) == f"{tmp_path}/config.yaml:1: colour: unknown key"


def test_cli_reports_config_errors_with_exit_2(tmp_path: Path, cli: Any) -> None:
    cfg = write(tmp_path, BAD)
    r = cli("config", "check", env={"SUPPORTCTL_CONFIG": str(cfg)})
    assert r.code == 2 and "prot" in r.err and "Traceback" not in r.err
    assert r.err.count("\n") == 7


def test_unknown_key_suggestions_at_every_level(tmp_path: Path) -> None:
    text = "\n".join(problems(tmp_path, """\
timezon: UTC
sla: {first_respons: 1h}
outbox: {max_attempt: 3}
channels:
  - {name: t, type: telegram, tokn: x}
  - name: m
    type: imap
    host: h
    username: u@example.com
    password_cmd: "true"
    smtp: {host: s, securty: ssl}
rules:
  - {name: r, match: {subjet: x}, tag: [a]}
"""))
    assert ":1: timezon: unknown key (did you mean 'timezone'?)" in text
    assert ":2: sla.first_respons: unknown key (did you mean 'first_response'?)" in text
    assert ":3: outbox.max_attempt: unknown key (did you mean 'max_attempts'?)" in text
    assert ":5: channels[0].tokn: unknown key (did you mean 'token'?)" in text
    assert ":5: channels[0]: missing required key 'token' (or token_env / token_cmd)" in text
    assert ":11: channels[1].smtp.securty: unknown key (did you mean 'security'?)" in text
    assert ":13: rules[0].match.subjet: unknown key (did you mean 'subject'?)" in text


BAD_VALUES = [
    # (yaml, line, expected part of the problem)
    ("outbox: 5\n", 1, "outbox: must be a mapping"),
    ("outbox: {max_attempts: 0}\n", 1, "outbox.max_attempts: must be a whole number of at least 1"),
    ("close_after: 3 weeks\n", 1, "close_after: bad duration"),
    ("reopen_window: 7\n", 1, "reopen_window: bad duration"),
    ("store: [a, b]\n", 1, "store: must be text"),
    ("timezone: Europe/Rom\n", 1, "did you mean 'Europe/Rome'?"),
    ("business_hours: {days: 5}\n", 1, "business_hours.days: must be a list of days"),
    ("business_hours: {days: [mon, funday]}\n", 1, "unknown day 'funday'"),
    ("business_hours:\n  start: '18:00'\n  end: '09:00'\n", 3, "business_hours.end: must be after start"),
    ("business_hours: {start: 'nine'}\n", 1, "business_hours.start: must be a time"),
    ("holidays: {dates: [2026-02-30]}\n", 1, "holidays.dates: '2026-02-30' is not a date"),
    ("holidays: {dates: 2026-12-24, country: XX}\n", 1,
     "holidays.country: 'XX' is not a country the holidays calendar knows"),
    ("holidays: ZZ\n", 1, "holidays: 'ZZ' is not a country"),
    ("holidays: [IT]\n", 1, "holidays: must be a country code"),
    ("agents: marta\n", 1, "agents: must be a list"),
    ("agents:\n  - marta\n  - marta\n", 3, "agents[1]: duplicate agent name 'marta'"),
    ("agents: [none]\n", 1, "agents[0]: 'none' is reserved"),
    ("agents:\n  - {name: m, email: not-an-address}\n", 2, "agents[0].email: 'not-an-address' is not an email"),
    ("agents:\n  - {email: m@example.com}\n", 2, "agents[0]: missing required key 'name'"),
    ("agents:\n  - {name: m, groups: {a: 1}}\n", 2, "agents[0].groups: must be a list of text"),
    ("channels: {name: x}\n", 1, "channels: must be a list of channel entries"),
    ("channels:\n  - {name: a, type: [imap]}\n", 2, "channels[0].type: unknown channel type ['imap']"),
    ("channels:\n  - {name: a}\n", 2, "channels[0]: missing required key 'type'"),
    ("channels:\n  - {type: telegram, token: t}\n", 2, "channels[0]: missing required key 'name'"),
    ("channels:\n  - {name: Shop Bot, type: telegram, token: t}\n", 2, "channels[0].name: bad name 'Shop Bot'"),
    ("channels:\n  - {name: a, type: telegram, token: t}\n  - {name: a, type: telegram, token: u}\n", 3,
     "channels[1].name: duplicate channel name 'a'"),
    ("channels:\n  - {name: a, type: telegram, token: ''}\n", 2, "channels[0].token: must not be empty"),
    ("channels:\n  - {name: a, type: telegram, token_env: $TG}\n", 2,
     "channels[0].token_env: '$TG' is not an environment variable name: write the variable's name without $"),
    ("channels:\n  - {name: a, type: telegram, token: t, api_base_url: api.telegram.org}\n", 2,
     "channels[0].api_base_url: must be an http:// or https:// URL"),
    ("channels:\n  - {name: a, type: telegram, token: t, tls_verify: 'no'}\n", 2,
     "channels[0].tls_verify: must be true or false"),
    ("channels:\n  - {name: a, type: telegram, token: t, ca_file: missing.pem}\n", 2,
     "channels[0].ca_file: no such file"),
    ("channels:\n  - {name: a, type: mastodon, access_token: t}\n", 2,
     "channels[0]: missing required key 'base_url'"),
    ("channels:\n  - {name: a, type: mastodon, base_url: 'https://m.example', access_token: t, since: yesterday}\n",
     2, "channels[0].since: must be a date (2026-01-31) or a duration (30d)"),
    ("channels:\n  - {name: a, type: twilio, account_sid: AC1, auth_token: t}\n", 2,
     "channels[0]: missing required key 'numbers'"),
    ("channels:\n  - {name: a, type: twilio, account_sid: AC1, auth_token: t, numbers: ['whatsapp:15551234567']}\n",
     2, "'whatsapp:15551234567' is not an E.164 number"),
    ("channels:\n  - {name: a, type: imap, host: h, username: u, password: p, port: 99999}\n", 2,
     "channels[0].port: must be a port number (1-65535)"),
    ("channels:\n  - {name: a, type: imap, host: h, username: u, password: p, security: tls}\n", 2,
     "channels[0].security: must be one of ssl, starttls, none"),
    ("channels:\n  - {name: a, type: imap, host: h, username: u, password: p, folders: []}\n", 2,
     "channels[0].folders: must be a list of text"),
    ("channels:\n  - {name: a, type: imap, host: h, username: u, password: p, addresses: [support]}\n", 2,
     "channels[0].addresses: 'support' is not an email address"),
    ("channels:\n  - {name: a, type: imap, host: h, username: u}\n", 2,
     "channels[0]: missing required key 'password' (or password_env / password_cmd)"),
    ("channels:\n  - name: a\n    type: imap\n    host: h\n    username: u\n    password: p\n"
     "    smtp: {host: s, username: u}\n", 7,
     "channels[0].smtp: username is set but no password"),
    ("channels:\n  - name: a\n    type: imap\n    host: h\n    username: u\n    password: p\n"
     "    smtp: {host: s, password: p}\n", 7,
     "channels[0].smtp: a password without username"),
    ("channels:\n  - name: a\n    type: imap\n    host: h\n    username: u\n    password: p\n"
     "    smtp: {host: s, from: nobody}\n", 7, "channels[0].smtp.from: 'nobody' is not an email address"),
    ("channels:\n  - name: a\n    type: imap\n    host: h\n    username: u\n    password: p\n"
     "    smtp: {port: 25}\n", 7, "channels[0].smtp: missing required key 'host'"),
    ("sla: {first_response: 1h, by_priority: {critical: {first_response: 1h}}}\n", 1,
     "sla.by_priority.critical: unknown priority"),
    ("sla: {by_priority: {urgent: 1h}}\n", 1, "sla.by_priority.urgent: must be a mapping"),
    ("sla: {business_hours_only: sometimes}\n", 1, "sla.business_hours_only: must be true or false"),
    ("templates: [a]\n", 1, "templates: must be a mapping"),
    ("templates:\n  t: {subject: Hi}\n", 2, "templates.t: missing required key 'body'"),
    ("templates:\n  t: {body: x, content_sid: HX1}\n", 2, "templates.t.content_sid: must be a Twilio Content SID"),
    ("templates:\n  t: {body: [x]}\n", 2, "templates.t.body: must be text"),
    ("templates:\n  t: 'Hi {{ name'\n", 2, "templates.t: template error"),
    ("templates:\n  t: |\n    Hello,\n    {% if x %}no end\n", 4, "templates.t: template error"),
    ("rules: {a: 1}\n", 1, "rules: must be a list"),
    ("rules:\n  - {name: r, tag: [x]}\n", 2, "rules[0]: missing required key 'match'"),
    ("rules:\n  - {name: r, match: subject, tag: [x]}\n", 2, "rules[0].match: must be a mapping"),
    ("rules:\n  - {name: r, match: {}, tag: [x]}\n", 2, "rules[0].match: needs at least one condition"),
    ("rules:\n  - {name: r, match: {subject: x}}\n", 2, "rules[0]: does nothing"),
    ("rules:\n  - {name: r, match: {subject: x}, priority: critical}\n", 2,
     "rules[0].priority: must be one of low, normal, high, urgent"),
    ("rules:\n  - {name: r, match: {subject: x}, status: spam}\n", 2,
     "rules[0].status: must be one of new, open, pending, solved, closed"),
    ("agents: [marta]\nrules:\n  - {name: r, match: {subject: x}, assign: marts}\n", 3,
     "rules[0].assign: 'marts' is not one of agents (did you mean 'marta'?)"),
    ("auto_reply: {enabled: true}\n", 1, "auto_reply: enabled without a template"),
    ("auto_reply: {template: nope}\n", 1, "auto_reply.template: no template named 'nope'"),
    ("auto_reply: {max_per_contact: many}\n", 1, "auto_reply.max_per_contact: must be a whole number"),
    ("auto_reply: {window: soon}\n", 1, "auto_reply.window: bad duration"),
    ("auto_reply:\n  max_age: soon\n", 2, "auto_reply.max_age: bad duration"),
    ("auto_reply:\n  max_age: 0m\n", 2, "auto_reply.max_age: must be longer than 0"),
    ("csat: {enabled: yes please}\n", 1, "csat.enabled: must be true or false"),
    ("csat: true\n", 1, "csat: must be a mapping"),
    ("store: a\nstore: b\n", 2, "store: given twice"),
    ("reopen_window: !!int abc\n", 1, "reopen_window"),
    ("- a list\n", 1, "the config must be a mapping"),
]


@pytest.mark.parametrize(("text", "line", "expected"), BAD_VALUES,
                         ids=[f"{i}-{t.split(':')[0]}" for i, (t, _, _) in enumerate(BAD_VALUES)])
def test_bad_values_are_reported_with_key_and_line(tmp_path: Path, text: str, line: int,
                                                   expected: str) -> None:
    probs = problems(tmp_path, text)
    hits = [p for p in probs if expected in p]
    assert hits, probs
    assert hits[0].startswith(f"{tmp_path}/config.yaml:{line}: "), hits


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, "store: x\nchannels:\n  - name: a\n   type: imap\n"))
    assert str(e.value).startswith(f"{tmp_path}/config.yaml:4: ")
    assert "not valid YAML" in str(e.value)


_VOCAB = [*TOP_KEYS, *CHANNEL_KEYS["imap"], *CHANNEL_KEYS["twilio"], "name", "type", "days",
          "start", "end", "first_response", "by_priority", "urgent", "match", "subject", "tag",
          "enabled", "template", "password_env", "token_cmd", "dates", "country", "body"]
_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.text(max_size=8),
                  st.sampled_from(["imap", "twilio", "telegram", "mastodon", "memory", "7d", "09:00",
                                   "IT", "UTC", "a@b.example", "+15551234567", "https://x.example",
                                   "mon", "urgent", "{{ x", "2026-01-31"]),
                  st.dates())
_tree = st.recursive(_leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=3), st.dictionaries(st.sampled_from(_VOCAB), kids, max_size=4)),
    max_leaves=12)


@settings(max_examples=int(os.environ.get("FUZZ", "150")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(_VOCAB), _tree, max_size=5))
def test_any_content_gives_a_config_or_a_config_error(tmp_path: Path, data: dict[str, Any]) -> None:
    p = write(tmp_path, yaml.safe_dump(data, allow_unicode=True))
    try:
        load_config(p)
    except ConfigError as exc:
        assert exc.problems and all(x.startswith(f"{p}:") for x in exc.problems)


# -- defaults ----------------------------------------------------------------


def test_missing_file_gives_defaults_unless_required(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    cfg = load_config(missing)
    assert cfg == Config()
    assert cfg.path is None and cfg.store is None and cfg.channels == []
    assert cfg.reopen_window == timedelta(days=7) and cfg.close_after == timedelta(days=4)
    assert cfg.outbox_max_attempts == 5 and cfg.sla is None and cfg.business_hours is None
    assert cfg.auto_reply.enabled is False and cfg.auto_reply.max_per_contact == 3
    assert cfg.auto_reply.window == timedelta(hours=1) and cfg.csat.enabled is False
    assert cfg.auto_reply.max_age == timedelta(hours=4)
    with pytest.raises(ConfigError, match=r"no config at .*nope\.yaml: run `supportctl init`"):
        load_config(missing, required=True)


def test_default_path_follows_env_and_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_config_path() == tmp_path / "config" / "supportctl" / "config.yaml"
    assert default_data_dir() == tmp_path / "data" / "supportctl"
    assert load_config() == Config()  # the default path, not there yet
    monkeypatch.setenv("SUPPORTCTL_CONFIG", str(tmp_path / "mine.yaml"))
    assert default_config_path() == tmp_path / "mine.yaml"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")  # the XDG spec says so
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / ".local" / "share" / "supportctl"


def test_empty_and_null_sections_are_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == Config(path=tmp_path / "config.yaml")
    assert load_config(write(tmp_path, "# only comments\n")).channels == []
    cfg = load_config(write(tmp_path, "channels:\nagents:\nsla:\nstore:\n"))
    assert cfg.channels == [] and cfg.agents == [] and cfg.sla is None and cfg.store is None


def test_channel_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """\
channels:
  - name: m
    type: imap
    host: h
    username: Support@Example.com
    password_cmd: printf 'hunter2\\n'
    smtp: {host: s, username: u, password_env: SMTP_PW}
  - {name: plain, type: imap, host: h, username: support, password: p, security: starttls,
     smtp: {host: s, security: ssl}}
  - {name: none, type: imap, host: h, username: u, password: p, security: none,
     smtp: {host: s, security: none}}
  - {name: sms, type: twilio, account_sid: AC1, auth_token: t, numbers: "+15551234567"}
  - {name: tg, type: telegram, token: t}
  - {name: md, type: mastodon, base_url: "https://social.example/", access_token: t}
  - {name: mem, type: memory}
"""))
    m, plain, none, sms, tg, md, mem = cfg.channels
    assert m["port"] == 993 and m["security"] == "ssl" and m["tls_verify"] is True
    assert m["folders"] == ["INBOX"] and m["addresses"] == ["support@example.com"]
    assert m["smtp"]["port"] == 587 and m["smtp"]["security"] == "starttls"
    assert m["smtp"]["tls_verify"] is True
    assert plain["port"] == 143 and "addresses" not in plain  # username is not an address
    assert plain["smtp"]["port"] == 465
    assert none["port"] == 143 and none["smtp"]["port"] == 25
    assert sms["numbers"] == ["+15551234567"] and sms["api_base_url"] == "https://api.twilio.com"
    assert tg["api_base_url"] == "https://api.telegram.org"
    assert md["base_url"] == "https://social.example"  # one form, no trailing slash
    assert mem == {"name": "mem", "type": "memory"}
    assert cfg.channel("sms") is sms
    with pytest.raises(ConfigError, match="no channel entry named 'nope': configured are m, plain"):
        cfg.channel("nope")


def test_top_level_values(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    cfg = load_config(write(tmp_path, """\
store: data/support.db
timezone: Europe/Rome
business_hours: {days: [mon-thu, Saturday], start: 8:30, end: "17:00"}
holidays: {country: it, dates: [2026-12-24, "2026-12-31"]}
agents:
  - marta
  - {name: luca, email: luca@example.com, groups: [billing], signature: "-- Luca"}
sla:
  first_response: 4h
  resolution: 3d
  business_hours_only: false
  by_priority:
    urgent: {first_response: 1h}
rules:
  - name: refunds
    match: {subject: Refund, channel: email}
    tag: refund
    assign: luca
    priority: high
templates:
  thanks: "Hi {{ first_name }}"
  shipped: {subject: Shipped, body: "Gone."}
auto_reply: {enabled: true, template: thanks, max_per_contact: 1, window: 90m}
csat: {enabled: true, template: shipped}
reopen_window: 2w
close_after: 36h
outbox: {max_attempts: 9}
channels:
  - {name: tg, type: telegram, token: t, ca_file: ca.pem, signature: "Shop"}
"""))
    assert cfg.store == str(tmp_path / "data" / "support.db")
    assert cfg.timezone == "Europe/Rome"
    assert cfg.business_hours is not None
    assert cfg.business_hours.days == {0, 1, 2, 3, 5}
    assert (cfg.business_hours.start, cfg.business_hours.end) == (dtime(8, 30), dtime(17, 0))
    assert cfg.holidays.country == "IT"
    assert cfg.holidays.dates == [date(2026, 12, 24), date(2026, 12, 31)]
    assert cfg.agent_names() == ["marta", "luca"]
    assert cfg.agents[1].groups == ["billing"] and cfg.agents[1].signature == "-- Luca"
    assert cfg.sla is not None and cfg.sla.first_response == timedelta(hours=4)
    assert cfg.sla.by_priority == {"urgent": (timedelta(hours=1), None)}
    assert cfg.sla.business_hours_only is False
    rule = cfg.rules[0]
    assert (rule.name, rule.match, rule.tag, rule.assign, rule.priority, rule.status) == (
        "refunds", {"subject": "Refund", "channel": "email"}, ["refund"], "luca", "high", None)
    assert cfg.templates["thanks"].body == "Hi {{ first_name }}"
    assert (cfg.templates["shipped"].subject, cfg.templates["shipped"].body) == ("Shipped", "Gone.")
    assert cfg.auto_reply.enabled and cfg.auto_reply.window == timedelta(minutes=90)
    assert cfg.auto_reply.max_per_contact == 1
    assert cfg.csat.enabled and cfg.csat.template == "shipped"
    assert cfg.reopen_window == timedelta(weeks=2) and cfg.close_after == timedelta(hours=36)
    assert cfg.outbox_max_attempts == 9
    assert cfg.channels[0]["ca_file"] == str(tmp_path / "ca.pem")  # relative to the config
    assert cfg.channels[0]["signature"] == "Shop"


def test_holidays_short_form(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "holidays: de\n")).holidays.country == "DE"


def test_since_is_normalised(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """\
channels:
  - {name: a, type: imap, host: h, username: u, password: p, since: 2026-01-31}
  - {name: b, type: imap, host: h, username: u, password: p, since: 30d}
"""))
    assert [c["since"] for c in cfg.channels] == ["2026-01-31", "30d"]


# -- durations ---------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("45s", timedelta(seconds=45)), ("90m", timedelta(minutes=90)), ("36h", timedelta(hours=36)),
    ("7d", timedelta(days=7)), ("2w", timedelta(weeks=2)), (" 0d ", timedelta(0)),
])
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["soon", "7", "7 days", "1.5h", "-3d", "3D", "1h30m", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="write it like"):
        parse_duration(text)


@given(st.integers(0, 10**6), st.sampled_from("smhdw"))
def test_duration_round_trip(n: int, unit: str) -> None:
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    if n * seconds > 100 * 366 * 86400:  # past 100 years: refused (tests/test_timeparse.py)
        with pytest.raises(ValueError, match="too long"):
            parse_duration(f"{n}{unit}")
        return
    assert parse_duration(f"{n}{unit}").total_seconds() == n * seconds


# -- secrets -----------------------------------------------------------------


def test_secrets_resolve_from_env_and_cmd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(write(tmp_path, """\
channels:
  - name: m
    type: imap
    host: h
    username: u@example.com
    password_cmd: "printf 'hunter2\\\\nlogin: u\\\\n'"
    smtp: {host: s, username: u, password_env: SMTP_PW}
  - {name: sms, type: twilio, account_sid_env: SID, auth_token_cmd: echo '  tok  ', numbers: "+15551234567"}
  - {name: tg, type: telegram, token: in-clear}
"""))
    monkeypatch.setenv("SMTP_PW", "s3cret")
    monkeypatch.setenv("SID", "AC123")
    entry = cfg.channels[0]
    r = resolve_secrets(entry)
    assert r["password"] == "hunter2"  # the first line, as `pass show` prints it
    assert r["smtp"]["password"] == "s3cret"
    assert "password_cmd" not in r and "password_env" not in r["smtp"]
    # a deep copy: the loaded config still holds the forms, not the secrets
    assert "password" not in entry and "password" not in entry["smtp"]
    assert entry["smtp"]["password_env"] == "SMTP_PW"
    sms = resolve_secrets(cfg.channels[1])
    assert (sms["account_sid"], sms["auth_token"]) == ("AC123", "tok")
    assert resolve_secrets(cfg.channels[2]) == cfg.channels[2]


def test_missing_or_empty_env_names_key_and_variable(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(write(tmp_path, "channels:\n  - {name: tg, type: telegram, token_env: TG_TOKEN}\n"))
    with pytest.raises(ConfigError, match=r"channels\[tg\]\.token_env: environment variable TG_TOKEN is not set"):
        resolve_secrets(cfg.channels[0])
    monkeypatch.setenv("TG_TOKEN", "")
    with pytest.raises(ConfigError, match="TG_TOKEN is empty"):
        resolve_secrets(cfg.channels[0])


@pytest.mark.parametrize(("cmd", "expected"), [
    ("echo leaked-token; echo leaked-err >&2; exit 3", "failed (exit 3)"),
    ("printf '\\n\\n'", "printed nothing"),
    ("kill -9 $$", "was killed by signal 9"),
])
def test_failing_cmd_never_shows_its_output(tmp_path: Path, cmd: str, expected: str) -> None:
    p = write(tmp_path, "channels:\n  - name: t\n    type: telegram\n    token_cmd: " + repr(cmd) + "\n")
    cfg = load_config(p)
    with pytest.raises(ConfigError) as e:
        resolve_secrets(cfg.channels[0])
    msg = str(e.value)
    assert "channels[t].token_cmd" in msg and expected in msg
    assert "leaked" not in msg


def test_cmd_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_mod, "SECRET_CMD_TIMEOUT", 0.5)
    cfg = load_config(write(tmp_path, "channels:\n  - {name: t, type: telegram, token_cmd: 'sleep 5; echo x'}\n"))
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"channels\[t\]\.token_cmd did not finish within 0\.5 s"):
        resolve_secrets(cfg.channels[0])
    assert time.monotonic() - start < 3  # the orphaned sleep holds the pipe: not waited for


def test_cmd_does_not_read_our_stdin(tmp_path: Path) -> None:
    # `reply 3 -` reads the reply from stdin; a secret command must not eat it.
    cfg = load_config(write(tmp_path, "channels:\n  - {name: t, type: telegram, token_cmd: 'cat; echo tok'}\n"))
    assert resolve_secrets(cfg.channels[0])["token"] == "tok"


def test_two_forms_of_one_secret(tmp_path: Path) -> None:
    probs = problems(tmp_path, """\
channels:
  - name: tg
    type: telegram
    token_env: A
    token_cmd: b
  - name: m
    type: imap
    host: h
    username: u
    password: p
    smtp: {host: s, username: u, password: p, password_cmd: q}
""")
    assert any(":5: channels[0].token_cmd: give token one way only, not token_env and token_cmd" in p
               for p in probs), probs
    assert any(":11: channels[1].smtp.password_cmd: give password one way only" in p for p in probs), probs
    assert len(probs) == 2


def test_clear_secret_in_readable_file_warns(tmp_path: Path) -> None:
    text = """\
channels:
  - {name: t, type: telegram, token: '123:abc'}
  - {name: s, type: twilio, account_sid: AC1, auth_token_env: T, numbers: '+15551234567'}
  - name: m
    type: imap
    host: h
    username: u
    password_cmd: pass show x
    smtp: {host: s, username: u, password: smtp-pw}
"""
    for mode in (0o644, 0o640, 0o604):
        warnings = secret_warnings(load_config(write(tmp_path, text, mode)))
        assert len(warnings) == 2, warnings  # token and smtp.password; not the SID, not _env/_cmd
        assert "channels[t].token" in warnings[0] and "chmod 600" in warnings[0]
        assert "token_env / token_cmd" in warnings[0]
        assert "channels[m].smtp.password" in warnings[1]
        assert not any(s in w for w in warnings for s in ("123:abc", "smtp-pw"))
    assert secret_warnings(load_config(write(tmp_path, text, 0o600))) == []
    assert secret_warnings(load_config(write(tmp_path, text, 0o400))) == []
    assert secret_warnings(Config()) == []


# -- the store without yaml -----------------------------------------------------


@pytest.mark.parametrize(("line", "expected"), [
    ("store: /srv/support.db", "/srv/support.db"),
    ("store: /srv/support.db   # mine", "/srv/support.db"),
    ("store: '/srv/it''s here.db'  # quoted", "/srv/it's here.db"),
    ('store: "/srv/a#b.db" # hash inside quotes', "/srv/a#b.db"),
    ('store: "/srv/tab\\there\\u00e9.db"', "/srv/tab\there\u00e9.db"),
    ("store: /srv/a#b.db", "/srv/a#b.db"),  # no space before #: not a comment
    ("store: ~/support.db", "HOME/support.db"),
    ("store:   'rel/x.db'", "DIR/rel/x.db"),
    ('"store": /srv/q.db', "/srv/q.db"),
    ("store:\t/srv/tab.db", "/srv/tab.db"),
    ("store: ~", None),
    ("store: null", None),
    ("store:", None),
    ("store:   # nothing", None),
    ("stores: /nope.db", None),
    ("  store: /nested.db", None),
    ("store: >-\n  /srv/block.db", "/srv/block.db"),
    ("store:\n  /srv/next-line.db", "/srv/next-line.db"),
    ("store: &a /srv/anchored.db", "/srv/anchored.db"),
    ('store: "/srv/two\n  lines.db"', "/srv/two lines.db"),
])
def test_store_path_fast_cases(tmp_path: Path, line: str, expected: str | None) -> None:
    p = write(tmp_path, f"# my config\ntimezone: UTC\n{line}\nchannels: []\n")
    want = expected
    if want is not None:
        want = want.replace("HOME", str(Path.home())).replace("DIR", str(tmp_path))
    assert store_path_fast(p) == want
    if not line.startswith(("stores", " ")):  # those two are config errors
        assert load_config(p).store == want


def test_store_path_fast_edge_files(tmp_path: Path) -> None:
    assert store_path_fast(tmp_path / "missing.yaml") is None
    assert store_path_fast(tmp_path) is None  # a directory
    bom = tmp_path / "bom.yaml"
    bom.write_bytes("\ufeffstore: /srv/bom.db\n".encode())
    assert store_path_fast(bom) == "/srv/bom.db" == load_config(bom).store
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"store: \xff\xfe\n")
    assert store_path_fast(binary) is None
    first = write(tmp_path, "store: /a.db\nstore: /b.db\n", name="twice.yaml")
    assert store_path_fast(first) == "/a.db"  # load_config calls this file an error
    flow = write(tmp_path, "{store: /srv/flow.db, timezone: UTC}\n", name="flow.yaml")
    assert store_path_fast(flow) == "/srv/flow.db" == load_config(flow).store


def test_read_path_does_not_import_yaml(tmp_path: Path) -> None:
    p = write(tmp_path, "store: /srv/x.db\nchannels: []\n")
    code = (
        "import sys; from pathlib import Path; import supportctl.config as c; "
        "c.default_config_path(); c.default_data_dir(); "
        f"assert c.store_path_fast(Path({str(p)!r})) == '/srv/x.db'; "
        "heavy = [m for m in ('yaml', 'jinja2', 'holidays', 'zoneinfo', 'subprocess') if m in sys.modules]; "
        "assert 'yaml' not in heavy and 'jinja2' not in heavy and 'holidays' not in heavy, heavy"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# Paths people write: letters in any script, digits, separators and inner
# spaces (YAML's exotic whitespace and line breaks are not path material).
_plain = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "Pc", "Pd"),
                           include_characters="/._~ -"),
    min_size=1, max_size=30,
)


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_plain, style=st.sampled_from(["plain", "plain-comment", "single", "double"]))
def test_store_path_fast_agrees_with_load_config(tmp_path: Path, value: str, style: str) -> None:
    if style.startswith("plain"):
        rendered = value + ("  # a comment" if style == "plain-comment" else "")
    elif style == "single":
        rendered = "'" + value.replace("'", "''") + "'"
    else:
        rendered = yaml.safe_dump(value, default_style='"', allow_unicode=True, width=10**6).strip()
        if rendered.endswith("..."):
            return
    p = write(tmp_path, f"# top\nstore: {rendered}\ntimezone: UTC\n")
    try:
        expected = load_config(p).store
    except ConfigError:
        return  # not valid YAML, or not text: the read path need not agree with an error
    assert store_path_fast(p) == expected


# -- the shipped example ---------------------------------------------------------

_COMMENTED_SETTING = re.compile(r"^#( ?[a-z_]+:.*| {2,}\S.*)$")


def _uncommented_example() -> str:
    """Every commented-out setting of the example switched on."""
    out = []
    for ln in EXAMPLE.read_text().splitlines():
        if ln == "channels: []":
            out.append("channels:")
        elif _COMMENTED_SETTING.match(ln):
            out.append(ln[2:] if ln.startswith("# ") else ln[1:])
        elif not ln.startswith("#"):
            out.append(ln)
    return "\n".join(out) + "\n"


def test_example_is_shipped_identical() -> None:
    assert EXAMPLE.read_bytes() == SHIPPED.read_bytes()


def test_example_loads_clean_as_is(tmp_path: Path) -> None:
    p = write(tmp_path, EXAMPLE.read_text(), 0o644)
    cfg = load_config(p)
    assert cfg.channels == [] and secret_warnings(cfg) == []


def test_example_every_documented_setting_is_valid(tmp_path: Path) -> None:
    p = write(tmp_path, _uncommented_example())
    cfg = load_config(p)
    # A subset: each channel added later documents its own entry too.
    types = [c["type"] for c in cfg.channels]
    assert types[:4] == ["imap", "twilio", "telegram", "mastodon"], types
    assert cfg.timezone and cfg.business_hours and cfg.holidays.country and cfg.sla
    assert cfg.agents and cfg.rules and cfg.templates and cfg.auto_reply.template and cfg.csat.template
    assert cfg.store and cfg.outbox_max_attempts == 5


def test_example_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    keys = {*TOP_KEYS, *SMTP_KEYS, "signature", "by_priority", "business_hours_only", "max_per_contact",
            "window", "content_sid", "subject", "body", "match", "assign", "priority", "tag",
            "max_attempts", "dates", "country", "days", "start", "end", "groups", "email"}
    for spec in CHANNEL_KEYS.values():
        keys |= set(spec)
    keys |= set(SERVE_KEYS)
    missing = sorted(k for k in keys if not re.search(rf"\b{k}(_env|_cmd)?:", text))
    assert missing == [], missing


def test_init_writes_private_config_that_checks_clean(tmp_path: Path, cli: Any) -> None:
    r = cli("init")
    assert r.code == 0, r
    path = tmp_path / "config" / "supportctl" / "config.yaml"
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
    assert path.read_text() == EXAMPLE.read_text()
    assert cli("config", "check").code == 0


# -- through the CLI ------------------------------------------------------------


def test_unknown_assignee_with_agents(tmp_path: Path, cli: Any) -> None:
    cfg = write(tmp_path, "agents: [marta, luca]\n")
    # With agents configured, who you are (--as, SUPPORTCTL_AGENT) is one of them.
    env = {"SUPPORTCTL_CONFIG": str(cfg), "SUPPORTCTL_AGENT": "luca"}
    tid = cli("new", "--channel", "phone", "--to", "x", "-m", "y", env=env).out.strip()
    assert cli("assign", "marta", tid, env=env).code == 0
    r = cli("assign", "nobody", tid, env=env)
    assert r.code == 2 and "marta" in r.err


def test_store_from_config(tmp_path: Path) -> None:
    db = tmp_path / "elsewhere.db"
    cfg = write(tmp_path, f"store: {db}  # mine\n")
    r = run_cli("init", env={"SUPPORTCTL_CONFIG": str(cfg)})
    assert r.code == 0, r
    assert db.exists()


def test_relative_store_is_beside_the_config_whatever_the_cwd(tmp_path: Path) -> None:
    cfg = write(tmp_path, "store: rel.db\n")
    r = run_cli("init", env={"SUPPORTCTL_CONFIG": str(cfg)})
    assert r.code == 0, r
    assert (tmp_path / "rel.db").exists()
    assert not (ROOT / "rel.db").exists()


def test_logged_ticket_gets_sla_clock(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cfg = write(tmp_path, "sla:\n  first_response: 4h\n  resolution: 3d\n")
    r = cli("new", "--channel", "phone", "--to", "+15550001111", "-m", "call back",
            env={"SUPPORTCTL_CONFIG": str(cfg)})
    t = cli("show", r.out.strip(), "--format", "json").json()
    assert t["sla"]["first_response_due"] and t["sla"]["resolution_due"]
    assert t["sla"]["first_response_due"] < t["sla"]["resolution_due"]
    late = cli("list", "--sla", "breached", "--format", "ids")
    assert late.out == ""


def test_config_check_warns_about_serve_secrets_as_about_channels(tmp_path: Path,
                                                                  cli: Any) -> None:
    # Before, `config check` said "ok" about a serve block whose secret_env
    # was unset (serve then refused to start) or whose secret sat in clear in
    # a file others can read.
    text = ("serve:\n  secret_env: SUPPORTCTL_TEST_NO_SUCH_VAR\n"
            "  meta_app_secret: clear-app-secret\n  telegram_secret_token_cmd: no-such-prog-x\n")
    r = cli("config", "check", env={"SUPPORTCTL_CONFIG": str(write(tmp_path, text, 0o644))})
    assert r.code == 0, r
    assert "serve.secret_env: environment variable SUPPORTCTL_TEST_NO_SUCH_VAR is not set" in r.err
    assert "or serve will fail" in r.err
    assert "serve.meta_app_secret is in clear" in r.err and "clear-app-secret" not in r.err
    assert "serve.telegram_secret_token_cmd: program 'no-such-prog-x' is not found" in r.err


def test_kb_auto_reply_zero_means_none_as_the_example_says(tmp_path: Path, cli: Any) -> None:
    # config.example.yaml: "auto_reply: 2  # … (0: none)"; 0 was refused with
    # "must be a whole number of at least 1".
    r = cli("config", "check", env={"SUPPORTCTL_CONFIG": str(write(tmp_path, "kb:\n  auto_reply: 0\n"))})
    assert r.code == 0, r
    assert load_config(tmp_path / "config.yaml").kb.auto_reply == 0
    assert "(0: none)" in (ROOT / "config.example.yaml").read_text()
    assert any("kb.auto_reply: must be a whole number of at least 0" in p
               for p in problems(tmp_path, "kb:\n  auto_reply: -1\n"))
