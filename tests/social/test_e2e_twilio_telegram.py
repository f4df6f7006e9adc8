"""Whole-process runs of ``supportctl sync`` and ``reply`` against the fake
Twilio and Telegram APIs: messages become tickets, a re-sync adds nothing
and costs one request per source, replies go out on the right channel
with the right sender, and a sync killed between fetch and commit leaves
every message stored exactly once after the next run (SPEC §9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.social.telegram_server import TOKEN as TG_TOKEN
from tests.social.telegram_server import TelegramServer
from tests.social.twilio_server import SHOP, SHOP_WA, SID, TwilioServer
from tests.social.twilio_server import TOKEN as TW_TOKEN

pytest.importorskip("supportctl.config")

Servers = tuple[TwilioServer, TelegramServer, dict[str, str]]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    with TwilioServer() as tw, TelegramServer() as tg:
        cfg = tmp_path / "config.yaml"
        # Secrets from the environment, as a user would keep them.
        cfg.write_text(
            "channels:\n"
            "  - name: shop-sms\n"
            "    type: twilio\n"
            f"    account_sid: {SID}\n"
            "    auth_token_env: SHOP_TWILIO_TOKEN\n"
            f"    numbers: ['{SHOP}', '{SHOP_WA}']\n"
            f"    api_base_url: {tw.url}\n"
            "  - name: shop-telegram\n"
            "    type: telegram\n"
            "    token_env: SHOP_TELEGRAM_TOKEN\n"
            f"    api_base_url: {tg.url}\n",
            encoding="utf-8",
        )
        yield tw, tg, {"SUPPORTCTL_CONFIG": str(cfg), "SHOP_TWILIO_TOKEN": TW_TOKEN,
                       "SHOP_TELEGRAM_TOKEN": TG_TOKEN}


def export(cli: Any, env: dict[str, str]) -> list[dict[str, Any]]:
    res = cli("export", "--format", "jsonl", "--messages", env=env)
    assert res.code == 0, res
    return list(res.jsonl())


def inbound_ids(cli: Any, env: dict[str, str]) -> list[str]:
    return [m["external_id"] for t in export(cli, env) for m in t["messages"]
            if m["direction"] == "in"]


def test_sync_reply_and_nothing_new(cli: Any, servers: Servers) -> None:
    tw, tg, env = servers
    sms = tw.inbound("+15550123456", "Hi, still no refund for order 1057?")
    wa = tw.inbound("whatsapp:+393471234567", "Ciao! Avete la taglia 38?", to=SHOP_WA)
    marco = tg.user(5123456789, "Marco", "Bianchi", "marcob")
    tg.message(marco, "Il pacco 1049 non è arrivato")

    res = cli("sync", env=env)
    assert res.code == 0, res
    tickets = {t["channel"]: t for t in export(cli, env)}
    assert set(tickets) == {"sms", "whatsapp", "telegram"}
    assert tickets["sms"]["account"] == "shop-sms"
    assert tickets["whatsapp"]["contact"]["identities"] == \
        [{"channel": "whatsapp", "address": "+393471234567"}]
    assert tickets["telegram"]["contact"]["name"] == "Marco Bianchi (@marcob)"
    assert tickets["sms"]["messages"][0]["external_id"] == sms["sid"]
    assert tickets["whatsapp"]["messages"][0]["external_id"] == wa["sid"]

    # Nothing new: no duplicates, one request per number and one getUpdates.
    tw.http.log.clear()
    tg.http.log.clear()
    res = cli("sync", env=env)
    assert res.code == 0, res
    assert len(tw.http.log) == 2 and len(tg.http.log) == 1
    assert len(inbound_ids(cli, env)) == 3

    # Replies go out on each ticket's channel, from the number written to.
    for medium, text in (("sms", "Refund sent today"), ("whatsapp", "Sì, la 38 c'è"),
                         ("telegram", "Verifichiamo con il corriere")):
        res = cli("reply", str(tickets[medium]["id"]), "-m", text, env=env)
        assert res.code == 0, res
    assert [(c["From"], c["To"], c["Body"]) for c in tw.created] == [
        (SHOP, "+15550123456", "Refund sent today"),
        (SHOP_WA, "whatsapp:+393471234567", "Sì, la 38 c'è"),
    ]
    [sent] = tg.sent
    assert sent["chat"]["id"] == 5123456789 and sent["text"] == "Verifichiamo con il corriere"
    assert sent["_params"]["reply_parameters"]["message_id"] == 1

    # A later sync refreshes the delivery state Twilio reports.
    tw.set_status(tw.created[0]["_sid"], "delivered")
    assert cli("sync", env=env).code == 0
    out = [m for t in export(cli, env) for m in t["messages"] if m["direction"] == "out"]
    states = {m["external_id"]: m["delivery"]["state"] for m in out}
    assert states[tw.created[0]["_sid"]] == "delivered"
    assert states[f"5123456789:{sent['message_id']}"] == "sent"


def test_secrets_stay_out_of_a_failed_sync(cli: Any, servers: Servers) -> None:
    tw, tg, env = servers
    tw.token = "rotated-in-the-console-1234"
    tg.token = "7012345678:rotatedTOKENrotated"
    res = cli("sync", env=env)
    assert res.code == 1, res
    assert "auth_token" in res.err and "token" in res.err
    for secret in (TW_TOKEN, TG_TOKEN, TG_TOKEN.split(":")[1], SID):
        assert secret not in res.out + res.err


def _kill_when(proc: subprocess.Popen[str], ready: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the sync never got there"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_kill_between_fetch_and_commit_stores_everything_once(
        cli: Any, servers: Servers, tmp_path: Path) -> None:
    tw, tg, env = servers
    # Twilio: 150 messages on one number, yielded as 100 + 50; the second
    # batch holds an MMS whose media download hangs.
    for k in range(149):
        tw.inbound(f"+1555020{k:04d}", f"sms {k}")
    tw.inbound("+15550209999", "photo attached", media=[(b"\xff\xd8jpeg", "image/jpeg")])
    # Telegram: 150 updates (100 + 50); the second batch has a document
    # whose download hangs.
    for k in range(149):
        tg.message(tg.user(6000000000 + k, f"Cliente{k}"), f"tg {k}")
    doc = tg.add_file(b"%PDF-1.4", "documents", "pdf", file_name="ricevuta.pdf")
    tg.message(tg.user(6999999999, "Ultima"), None, document=doc)

    tw.http.hang_seconds = tg.http.hang_seconds = 60
    tw.http.fail(r"/cdn/\w+", "hang")
    tg.http.fail(r"/file/bot.*", "hang")
    cmd = [sys.executable, "-m", "supportctl", "--db", str(cli.db), "sync"]
    full_env = {**os.environ, **env}
    for server, marker in ((tw, r"/cdn/\w+"), (tg, r"/file/bot.*")):
        proc = subprocess.Popen(cmd, env=full_env, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        _kill_when(proc, lambda s=server, m=marker: bool(s.http.requests(m)))
    # Killed with the first batches committed (Telegram's confirmed by the
    # second getUpdates) and the second ones fetched but not stored.
    first = inbound_ids(cli, env)
    # Twilio finished on the second run; Telegram kept its first batch.
    assert len(first) == 150 + 100
    res = cli("sync", env=env)
    assert res.code == 0, res
    ids = inbound_ids(cli, env)
    assert len(ids) == 300 and len(set(ids)) == 300
    assert cli("sync", env=env).code == 0
    assert len(inbound_ids(cli, env)) == 300
    shown = {m["text"]: m for t in export(cli, env) for m in t["messages"]}
    assert shown["photo attached"]["attachments"][0]["content_type"] == "image/jpeg"
    assert shown["(document ricevuta.pdf)"]["attachments"][0]["filename"] == "ricevuta.pdf"
