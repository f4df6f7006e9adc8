"""Notifications end to end: whole ``supportctl sync`` runs against the
loopback Twilio and Telegram servers with the clock pinned. A customer's
SMS on Saturday night notifies the owner's phone once, the acknowledgement
goes to the customer and is no first response, the SLA due time skips the
weekend, a breach notifies once, assignment and a customer's answer reach
the team's Telegram chat, nothing repeats while nothing changes, and no
notification ever goes to the customer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Result, run_cli
from tests.social.telegram_server import TOKEN as TG_TOKEN
from tests.social.telegram_server import TelegramServer
from tests.social.twilio_server import SHOP, SID, TwilioServer
from tests.social.twilio_server import TOKEN as TW_TOKEN

OWNER = "+393331112222"
CUSTOMER = "+393471234567"
TEAM_CHAT = 424242
SAT_NIGHT = "2026-11-28T21:00:00Z"  # Saturday 22:00 in Rome


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


@pytest.fixture
def shop(tmp_path: Path, cli: Any) -> Iterator[tuple[TwilioServer, TelegramServer, Any]]:
    with TwilioServer() as tw, TelegramServer() as tg:
        tg.private_chat(tg.user(TEAM_CHAT, "Marta"))
        cfg = tmp_path / "config.yaml"
        cfg.write_text(f"""\
timezone: Europe/Rome
business_hours:
  mon-fri: ["09:00-13:00", "14:00-18:00"]
  sat: ["09:00-12:00"]
holidays: {{country: IT, subdivision: RM}}
sla:
  - name: standard
    first_response: 1h
    resolution: 16h
templates:
  ack: "Grazie! Le rispondiamo appena possibile."
auto_reply: {{enabled: true, template: ack}}
channels:
  - name: shop-sms
    type: twilio
    account_sid: {SID}
    auth_token_env: SHOP_TWILIO_TOKEN
    numbers: ["{SHOP}"]
    api_base_url: {tw.url}
  - name: shop-telegram
    type: telegram
    token_env: SHOP_TELEGRAM_TOKEN
    api_base_url: {tg.url}
notify:
  - name: owner-night
    via: shop-sms
    to: "{OWNER}"
    on: [new]
    outside_hours: true
  - name: owner-breach
    via: shop-sms
    to: "{OWNER}"
    on: [breached]
  - name: team
    via: shop-telegram
    to: "{TEAM_CHAT}"
    on: [assigned, customer-replied, due-soon]
""")

        def call(*args: str, now: str) -> Result:
            res = run_cli("--db", str(cli.db), "--config", str(cfg), *args,
                          env={"SUPPORTCTL_NOW": now, "SHOP_TWILIO_TOKEN": TW_TOKEN,
                               "SHOP_TELEGRAM_TOKEN": TG_TOKEN})
            assert res.code == 0, res
            return res

        call.cfg = cfg  # type: ignore[attr-defined]
        yield tw, tg, call


def to_owner(tw: TwilioServer) -> list[str]:
    return [m["Body"] for m in tw.created if m["To"] == OWNER]


def to_team(tg: TelegramServer) -> list[str]:
    return [m["text"] for m in tg.sent if m["chat"]["id"] == TEAM_CHAT]


def test_owner_and_team_are_told_once(shop: tuple[TwilioServer, TelegramServer, Any]) -> None:
    tw, tg, call = shop
    call("sync", now="2026-11-28T11:00:00Z")  # the shop has run since Saturday noon
    tw.inbound(CUSTOMER, "Il pacco 1049 non è arrivato\nordine del 20 novembre", sent=at(SAT_NIGHT))
    call("sync", now=SAT_NIGHT)
    for m in tw.created:  # as Twilio reports a moment later
        tw.set_status(m["_sid"], "delivered")
    [note] = to_owner(tw)
    assert note.startswith("#1 new · ") and f"{CUSTOMER}" in note and " · sms · " in note
    assert "Il pacco 1049 non è arrivato" in note and "ordine" not in note  # the first line only
    assert "due Mon 30 Nov 10:00" in note and len(note) <= 160
    # The customer got the acknowledgement, and only that.
    assert [m["Body"] for m in tw.created if m["To"] == CUSTOMER] == \
        ["Grazie! Le rispondiamo appena possibile."]
    ticket = call("show", "1", "--format", "json", now=SAT_NIGHT).json()
    assert ticket["first_response_at"] is None  # an acknowledgement is no first response
    assert ticket["sla"]["first_response_due"] == "2026-11-30T09:00:00Z"  # weekend skipped

    call("sync", now=SAT_NIGHT)  # nothing changed: nothing said
    call("sync", now="2026-11-29T10:00:00Z")
    assert len(to_owner(tw)) == 1 and to_team(tg) == []

    call("sync", now="2026-11-30T07:30:00Z")  # Monday 08:30: first response due in 1h30
    [soon] = to_team(tg)
    assert soon.startswith("#1 due-soon (first response)")

    call("sync", now="2026-11-30T09:05:00Z")  # Monday 10:05: breached
    call("sync", now="2026-11-30T09:35:00Z")
    owner = to_owner(tw)
    assert len(owner) == 2 and owner[1].startswith("#1 breached (first response)")

    call("assign", "marta", "1", now="2026-11-30T09:40:00Z")
    tw.inbound(CUSTOMER, "Novità?", sent=at("2026-11-30T09:45:00Z"))
    call("sync", now="2026-11-30T09:50:00Z")
    call("sync", now="2026-11-30T09:55:00Z")
    team = to_team(tg)
    assert len(team) == 3
    assert team[1].startswith("#1 assigned to marta")
    assert team[2].startswith("#1 customer-replied") and "Novità?" in team[2]
    assert len(to_owner(tw)) == 2  # owner-night is for new tickets outside hours only

    events = call("show", "1", "--format", "json", now="2026-11-30T09:55:00Z").json()["events"]
    sent = [(e["actor"], e["detail"]["event"]) for e in events if e["action"] == "notify"]
    assert sent == [("notify:owner-night", "new"), ("notify:team", "due-soon"),
                    ("notify:owner-breach", "breached"), ("notify:team", "assigned"),
                    ("notify:team", "customer-replied")]
    # Notifications are not messages of the ticket and went to no customer.
    assert all(m["to"] != [{"name": "", "address": OWNER}] for m in
               call("show", "1", "--format", "json", now="2026-11-30T09:55:00Z").json()["messages"])
    assert [m["Body"] for m in tw.created if m["To"] == CUSTOMER] == \
        ["Grazie! Le rispondiamo appena possibile."]


def test_notify_test_sends_through_the_entry(shop: tuple[TwilioServer, TelegramServer, Any]) -> None:
    tw, tg, call = shop
    res = call("notify", "test", "team", now=SAT_NIGHT)
    assert "sent a test notification" in res.err
    assert len(to_team(tg)) == 1 and "test notification for team" in to_team(tg)[0]
    call("notify", "test", "owner-breach", now=SAT_NIGHT)
    assert len(to_owner(tw)) == 1
    bad = run_cli("--config", str(call.cfg), "notify", "test", "nope")
    assert bad.code == 2 and "no notify entry named 'nope': configured are owner-night" in bad.err
