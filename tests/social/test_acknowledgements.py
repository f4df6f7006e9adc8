"""Acknowledgements on SMS, Telegram and Mastodon follow the same rules as
email (SPEC §4), whole-process against the loopback APIs: the backlog a
first sync brings in gets none, a message after it gets one, once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.social.mastodon_server import TOKEN as MA_TOKEN
from tests.social.mastodon_server import MastodonServer
from tests.social.telegram_server import TOKEN as TG_TOKEN
from tests.social.telegram_server import TelegramServer
from tests.social.twilio_server import SHOP, SID, TwilioServer
from tests.social.twilio_server import TOKEN as TW_TOKEN

pytest.importorskip("supportctl.config")

Servers = tuple[TwilioServer, TelegramServer, MastodonServer, dict[str, str]]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    with TwilioServer() as tw, TelegramServer() as tg, MastodonServer() as ma:
        cfg = tmp_path / "config.yaml"
        cfg.write_text(
            "templates:\n"
            "  ack: \"Thanks {{ first_name }}: we answer within a day.\"\n"
            "auto_reply: {enabled: true, template: ack}\n"
            "channels:\n"
            "  - name: shop-sms\n"
            "    type: twilio\n"
            f"    account_sid: {SID}\n"
            "    auth_token_env: SHOP_TWILIO_TOKEN\n"
            f"    numbers: ['{SHOP}', 'whatsapp:{SHOP}']\n"
            f"    api_base_url: {tw.url}\n"
            "  - name: shop-telegram\n"
            "    type: telegram\n"
            "    token_env: SHOP_TELEGRAM_TOKEN\n"
            f"    api_base_url: {tg.url}\n"
            "  - name: shop-masto\n"
            "    type: mastodon\n"
            f"    base_url: {ma.url}\n"
            "    access_token_env: SHOP_MASTO_TOKEN\n",
            encoding="utf-8",
        )
        yield tw, tg, ma, {"SUPPORTCTL_CONFIG": str(cfg), "SHOP_TWILIO_TOKEN": TW_TOKEN,
                           "SHOP_TELEGRAM_TOKEN": TG_TOKEN, "SHOP_MASTO_TOKEN": MA_TOKEN}


def sent_acks(tw: TwilioServer, tg: TelegramServer, ma: MastodonServer) -> list[tuple[str, str]]:
    """(medium, recipient) of every message the shop sent."""
    return ([("sms", c["To"]) for c in tw.created]
            + [("telegram", str(s["chat"]["id"])) for s in tg.sent]
            + [("mastodon", p["_text"].split()[0]) for p in ma.posted])


def test_first_sync_backlog_gets_none_later_messages_one_each(cli: Any, servers: Servers) -> None:
    tw, tg, ma, env = servers
    old = datetime.now(timezone.utc) - timedelta(days=20)
    tw.inbound("+15550100001", "Still no refund?", sent=old)
    tw.inbound("+15550100002", "Are you open today?")
    tg.message(tg.user(5100000001, "Lia"), "Pacco perso", date=int(old.timestamp()))
    tg.message(tg.user(5100000002, "Ugo"), "Avete la 38?")
    ma.mention("bob@remote.example", "Do you ship to Norway?")
    res = cli("sync", env=env)
    assert res.code == 0, res
    tickets = cli("list", "--format", "json", env=env).json()
    assert len(tickets) == 5
    assert sent_acks(tw, tg, ma) == []

    time.sleep(1.1)  # stored times have whole seconds
    tw.inbound("+15550100003", "Order 1057 arrived broken")
    tg.message(tg.user(5100000003, "Eva"), "Ciao, una domanda")
    ma.mention("ann@remote.example", "Is the grinder back in stock?")
    res = cli("sync", env=env)
    assert res.code == 0, res
    assert sorted(sent_acks(tw, tg, ma)) == [
        ("mastodon", "@ann@remote.example"), ("sms", "+15550100003"), ("telegram", "5100000003")]
    assert cli("sync", env=env).code == 0
    assert len(sent_acks(tw, tg, ma)) == 3  # once
    new = [t for t in cli("list", "--format", "json", env=env).json() if t["message_count"] == 2]
    assert len(new) == 3 and all(t["first_response_at"] is None for t in new)


def test_a_reply_twilio_accepted_as_queued_is_never_sent_again(cli: Any, servers: Servers) -> None:
    tw, tg, ma, env = servers
    tw.inbound("+15550100009", "Where is order 1060?")
    assert cli("sync", "shop-sms", env=env).code == 0
    [t] = cli("list", "--format", "json", env=env).json()
    assert cli("reply", str(t["id"]), "-m", "It ships today.", env=env).code == 0
    assert len(tw.created) == 1
    later = (datetime.now(timezone.utc) + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    res = cli("sync", "shop-sms", env={**env, "SUPPORTCTL_NOW": later})
    assert res.code == 0, res
    assert len(tw.created) == 1  # Twilio's "queued" means accepted: not resent


def test_kill_between_fetch_and_commit_then_each_new_ticket_has_one_acknowledgement(
        cli: Any, servers: Servers) -> None:
    """The kill points of tests/social/test_e2e_twilio_telegram.py: the
    first batch (100) committed, the second hanging on a download."""
    tw, tg, ma, env = servers
    assert cli("sync", env=env).code == 0  # the first sync: nothing yet
    time.sleep(1.1)
    for k in range(149):
        tw.inbound(f"+1555030{k:04d}", f"sms {k}")
    tw.inbound("+15550309999", "photo attached", media=[(b"\xff\xd8jpeg", "image/jpeg")])
    for k in range(149):
        tg.message(tg.user(7000000000 + k, f"Cliente{k}"), f"tg {k}")
    doc = tg.add_file(b"%PDF-1.4", "documents", "pdf", file_name="ricevuta.pdf")
    tg.message(tg.user(7999999999, "Ultima"), None, document=doc)
    tw.http.hang_seconds = tg.http.hang_seconds = 60
    tw.http.fail(r"/cdn/\w+", "hang")
    tg.http.fail(r"/file/bot.*", "hang")
    cmd = [sys.executable, "-m", "supportctl", "--db", str(cli.db), "sync"]

    def sync_killed(name: str, ready: Any) -> None:
        proc = subprocess.Popen([*cmd, name], env={**os.environ, **env}, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not ready():
            assert proc.poll() is None and time.monotonic() < deadline, "the sync never got there"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    # Killed while the first batch's acknowledgements go out, then with the
    # second batch hanging on a download (its first batch committed).
    sync_killed("shop-sms", lambda: len(tw.created) >= 10)
    sync_killed("shop-sms", lambda: bool(tw.http.requests(r"/cdn/\w+")))
    sync_killed("shop-telegram", lambda: len(tg.sent) >= 10)
    sync_killed("shop-telegram", lambda: bool(tg.http.requests(r"/file/bot.*")))
    res = cli("sync", env=env)
    assert res.code == 0, res
    tickets = cli("list", "--format", "json", env=env).json()
    assert len(tickets) == 300
    entries = cli("outbox", "list", "--all", "--format", "json", env=env).json()
    # Decided with each ticket: exactly one each, none lost, none doubled.
    assert sorted(e["ticket_id"] for e in entries) == sorted(t["id"] for t in tickets)
    sms = Counter(c["To"] for c in tw.created)
    chats = Counter(s["chat"]["id"] for s in tg.sent)
    assert set(sms.values()) == {1} and set(chats.values()) == {1}
    # A send cut by the kill is "unknown" (never resent blindly): at most one per kill.
    unknown = [e for e in entries if e["state"] == "unknown"]
    assert len(unknown) <= 4 and len(sms) + len(chats) >= 300 - len(unknown)


def test_whatsapp_gets_a_plain_acknowledgement_inside_the_window(cli: Any, servers: Servers) -> None:
    """The customer just wrote: WhatsApp's 24-hour window is open, so a
    plain acknowledgement may go (a template with a content_sid only after)."""
    tw, tg, ma, env = servers
    assert cli("sync", env=env).code == 0  # the first sync: no backlog acknowledged
    time.sleep(1.1)
    tw.inbound("whatsapp:+15550100009", "Avete la taglia 38?", to=f"whatsapp:{SHOP}")
    assert cli("sync", env=env).code == 0
    sent = [(c["To"], c["Body"]) for c in tw.created]
    assert len(sent) == 1 and sent[0][0] == "whatsapp:+15550100009", sent
    assert "we answer within a day" in sent[0][1]
    assert cli("sync", env=env).code == 0
    assert len(tw.created) == 1  # once
