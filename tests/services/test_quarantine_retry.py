"""A quarantined item keeps its medium and account, and a retry reads it
with that medium's parser (SPEC §9: re-ingested on a later
``sync --retry-quarantine``), never as an email."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.social.telegram_server import TOKEN as TG_TOKEN
from tests.social.telegram_server import TelegramServer
from tests.social.twilio_server import SHOP, SID, TwilioServer
from tests.social.twilio_server import TOKEN as TW_TOKEN

Servers = tuple[TwilioServer, TelegramServer, dict[str, str]]

# Stands in for a bug that trips over one message while it is stored: the
# store refuses it (an IntegrityError, as a broken invariant would raise),
# so ingest quarantines it raw instead of failing the batch.
TRIP = ("CREATE TRIGGER trip BEFORE INSERT ON messages WHEN new.text LIKE '%TRIP%' "
        "BEGIN SELECT RAISE(ABORT, 'tripped over this message'); END")


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    with TwilioServer() as tw, TelegramServer() as tg:
        cfg = tmp_path / "config.yaml"
        cfg.write_text(
            "channels:\n"
            f"  - {{name: shop-sms, type: twilio, account_sid: {SID}, "
            f"auth_token_env: TW, numbers: ['{SHOP}'], api_base_url: '{tw.url}'}}\n"
            f"  - {{name: shop-telegram, type: telegram, token_env: TG, api_base_url: '{tg.url}'}}\n")
        yield tw, tg, {"SUPPORTCTL_CONFIG": str(cfg), "TW": TW_TOKEN, "TG": TG_TOKEN}


def test_telegram_and_twilio_items_come_back_through_their_own_parsers(
        cli: Any, servers: Servers) -> None:
    tw, tg, env = servers
    assert cli("sync", env=env).code == 0  # creates the store
    with sqlite3.connect(cli.db) as db:
        db.execute(TRIP)
    marco = tg.user(5123456789, "Marco", "Bianchi", "marcob")
    tg.message(marco, "TRIP il pacco 1049 non è arrivato")
    sms = tw.inbound("+15550123456", "TRIP still no refund for order 1057?")
    res = cli("sync", env=env)
    assert res.code == 0 and "1 quarantined" in res.err, res

    held = cli("quarantine", "list", "--format", "json", env=env).json()
    assert sorted((q["channel"], q["account"]) for q in held) == \
        [("sms", "shop-sms"), ("telegram", "shop-telegram")]
    assert cli("list", "--status", "all", "--format", "json", env=env).json() == []

    with sqlite3.connect(cli.db) as db:
        db.execute("DROP TRIGGER trip")
    res = cli("sync", "--retry-quarantine", env=env)
    assert res.code == 0, res
    assert "2 recovered, 0 still quarantined" in res.err, res

    tickets = {t["channel"]: t for t in
               cli("export", "--format", "jsonl", "--messages", env=env).jsonl()}
    assert set(tickets) == {"telegram", "sms"}  # no empty email ticket
    tg_t, sms_t = tickets["telegram"], tickets["sms"]
    assert tg_t["account"] == "shop-telegram"
    assert tg_t["contact"]["name"] == "Marco Bianchi (@marcob)"
    [m] = tg_t["messages"]
    assert m["text"] == "TRIP il pacco 1049 non è arrivato" and m["external_id"] == "5123456789:1"
    assert sms_t["account"] == "shop-sms"
    assert sms_t["contact"]["identities"] == [{"channel": "sms", "address": "+15550123456"}]
    [m] = sms_t["messages"]
    assert m["external_id"] == sms["sid"] and m["text"] == "TRIP still no refund for order 1057?"
    # Recovered items stay listed as recovered; a second retry finds nothing.
    assert all(q["resolved_at"] for q in cli("quarantine", "list", "--format", "json",
                                              env=env).json())
    res = cli("quarantine", "retry", env=env)
    assert "0 recovered, 0 still quarantined" in res.err, res


def test_a_retry_needs_no_network_and_keeps_what_it_cannot_read(
        cli: Any, servers: Servers, tmp_path: Path) -> None:
    tw, tg, env = servers
    assert cli("sync", env=env).code == 0
    with sqlite3.connect(cli.db) as db:
        db.execute(TRIP)
    tg.message(tg.user(42, "Ada"), "TRIP hello")
    assert "1 quarantined" in cli("sync", env=env).err
    tw.__exit__(None, None, None)
    tg.__exit__(None, None, None)  # nothing to talk to from here on
    with sqlite3.connect(cli.db) as db:
        db.execute("DROP TRIGGER trip")
        # An item that is not what its medium says stays held, with why.
        db.execute("INSERT INTO quarantine (account, medium, source_ref, reason, raw, sha256, "
                   "created_at) VALUES ('shop-telegram', 'telegram', 'update:9', 'x', "
                   "X'7b7d', 'ab', '2026-01-01T00:00:00Z')")
    res = cli("quarantine", "retry", env=env)
    assert "1 recovered, 1 still quarantined" in res.err, res
    held = [q for q in cli("quarantine", "list", "--format", "json", env=env).json()
            if not q["resolved_at"]]
    assert [q["reason"] for q in held] == ["not a Telegram message update (telegram)"]
    [t] = cli("list", "--format", "json", env=env).json()
    assert t["channel"] == "telegram" and t["account"] == "shop-telegram"
