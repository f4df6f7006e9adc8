"""Config of SPEC §10: business hours per weekday, holidays of a region,
SLA policy lists and notify entries, each problem with its key and line."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from supportctl.config import load_config
from supportctl.errors import ConfigError

SMS = ("channels:\n  - {name: shop-sms, type: twilio, account_sid: AC1, auth_token: t, "
       "numbers: ['+15550001111']}\n  - {name: tg, type: telegram, token: t}\n"
       "  - {name: mast, type: mastodon, base_url: 'https://m.example', access_token: t}\n")

MAIL = ("channels:\n  - {name: shop-mail, type: imap, host: imap.shop.example, username: u,"
        " password: p, smtp: {host: smtp.shop.example, username: u, password: p}}\n")


def load(tmp_path: Path, text: str) -> object:
    p = tmp_path / "config.yaml"
    p.write_text(text)
    p.chmod(0o600)
    return load_config(p)


BAD = [
    ('business_hours:\n  mon-fri: ["09:00-13:00"]\n  sat: ["12:00-09:00"]\n', 3,
     "business_hours.sat: '12:00-09:00' is not a period"),
    ('business_hours:\n  mon-fry: ["09:00-13:00"]\n', 2, "unknown day 'mon-fry'"),
    ('business_hours:\n  mon: "nine to five"\n', 2, "business_hours.mon: 'nine to five' is not a period"),
    ('business_hours:\n  mon-fri: ["09:00-13:00"]\n  fri: ["14:00-18:00"]\n', 3,
     "business_hours.fri: fri is given twice"),
    ("holidays: {country: IT, subdivision: XX}\n", 1, "holidays.subdivision: 'XX' is not a subdivision of IT"),
    ("holidays: DE-ZZ\n", 1, "'ZZ' is not a subdivision of DE"),
    ("sla:\n  - name: a\n    match: {priority: critical}\n    first_response: 1h\n", 3,
     "sla[0].match.priority: unknown priority 'critical'"),
    ("sla:\n  - name: a\n    match: {chanel: sms}\n", 3, "sla[0].match.chanel: unknown key (did you mean 'channel'?)"),
    ("sla:\n  - {name: a, first_response: 1h}\n  - {name: a, first_response: 2h}\n", 3,
     "sla[1].name: duplicate policy name 'a'"),
    ("sla:\n  - {name: a, resolution: soon}\n", 2, "sla[0].resolution: bad duration"),
    (SMS + "notify:\n  - {name: n, via: shop-sms, to: '+393331112222', on: [breach]}\n", 6,
     "notify[0].on: unknown event 'breach' (did you mean 'breached'?)"),
    (SMS + "notify:\n  - {name: n, via: shop-mail, to: x, on: [new]}\n", 6,
     "notify[0].via: no channel entry named 'shop-mail'"),
    (SMS + "notify:\n  - {name: n, via: shop-sms, to: '3331112222', on: [new]}\n", 6,
     "notify[0].to: '3331112222' is not an E.164 number"),
    (SMS + "notify:\n  - {name: n, via: tg, to: owner, on: [new]}\n", 6,
     "notify[0].to: 'owner' is not a Telegram chat id"),
    (SMS + "notify:\n  - {name: n, via: mast, to: '@me', on: [new]}\n", 6,
     "notify[0].via: channel 'mast' (mastodon) cannot notify"),
    (SMS + "notify:\n  - {name: n, via: tg, to: '42', on: [digest]}\n", 6,
     "notify[0]: a digest needs at"),
    (SMS + "notify:\n  - {name: n, via: tg, to: '42', on: [new], at: '08:00'}\n", 6,
     "notify[0].at: only a digest has a time"),
    (SMS + "notify:\n  - name: n\n    via: tg\n    to: '42'\n    on: [new]\n    priority: [hi]\n", 10,
     "notify[0].priority: unknown priority 'hi'"),
    (SMS + "notify:\n  - {name: n, via: tg, to: '42', on: [new], outside_hours: sometimes}\n", 6,
     "notify[0].outside_hours: must be true or false"),
    (SMS + "notify:\n  - {via: tg, to: '42', on: [new]}\n", 6, "notify[0]: missing required key 'name'"),
    (SMS + "agents: [{name: marta, email: marta@shop.example}]\n"
     "notify:\n  - {name: n, via: shop-sms, to: assignee, on: [assigned]}\n", 7,
     "notify[0].to: to: assignee mails the ticket's assignee (agents[].email): channel 'shop-sms'"),
    (MAIL + "agents: [marta]\n"
     "notify:\n  - {name: n, via: shop-mail, to: assignee, on: [assigned]}\n", 5,
     "no agent has an email: add email to agents"),
    (MAIL + "agents: [{name: marta, email: marta@shop.example}]\n"
     "notify:\n  - {name: n, via: shop-mail, to: assignee, on: [new, sync-failed]}\n", 5,
     "notify[0].on: sync-failed is about no ticket, so it has no assignee"),
]


@pytest.mark.parametrize(("text", "line", "expected"), BAD, ids=[b[2][:40] for b in BAD])
def test_problems_name_key_and_line(tmp_path: Path, text: str, line: int, expected: str) -> None:
    with pytest.raises(ConfigError) as e:
        load(tmp_path, text)
    found = [p for p in e.value.problems if expected in p]
    assert found, e.value.problems
    assert f"config.yaml:{line}: " in found[0]


def test_shapes_of_section_10(tmp_path: Path) -> None:
    cfg = load(tmp_path, SMS + """\
timezone: Europe/Rome
business_hours:
  mon-fri: ["09:00-13:00", "14:00-18:00"]
  sat: ["09:00-12:00"]
  sun: []
holidays: {country: IT, subdivision: null, dates: [2026-12-24]}
sla:
  - name: urgent
    match: {priority: urgent, channel: [sms, whatsapp]}
    first_response: 30m
    resolution: 8h
    business_hours_only: false
  - name: standard
    first_response: 1h
    resolution: 2d
notify:
  - name: owner-phone
    via: shop-sms
    to: "whatsapp:+393331112222"
    on: [new, breached]
    outside_hours: true
    priority: [high, urgent]
  - name: morning
    via: tg
    to: "-100123"
    on: [digest]
    at: "08:30"
""")
    bh = cfg.business_hours  # type: ignore[attr-defined]
    assert bh.periods[0] == [(time(9), time(13)), (time(14), time(18))]
    assert bh.periods[5] == [(time(9), time(12))] and 6 not in bh.periods
    assert cfg.holidays.country == "IT" and cfg.holidays.subdivision is None  # type: ignore[attr-defined]
    pols = cfg.sla_policies  # type: ignore[attr-defined]
    assert [p.name for p in pols] == ["urgent", "standard"]
    assert pols[0].match == {"priority": ["urgent"], "channel": ["sms", "whatsapp"]}
    assert cfg.sla is pols[0]  # type: ignore[attr-defined]
    owner, morning = cfg.notify  # type: ignore[attr-defined]
    assert (owner.via, owner.to, owner.on, owner.outside_hours) == (
        "shop-sms", "whatsapp:+393331112222", ["new", "breached"], True)
    assert morning.at == time(8, 30)


def test_a_day_open_until_midnight(tmp_path: Path) -> None:
    cfg = load(tmp_path, 'business_hours:\n  sat-sun: ["18:00-24:00"]\n')
    assert cfg.business_hours.periods[6] == [(time(18), time(0))]  # type: ignore[attr-defined]
