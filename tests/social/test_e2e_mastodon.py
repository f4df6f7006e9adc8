"""Whole-process runs of ``supportctl sync`` and ``reply`` against the fake
Mastodon instance: tickets are created, a mention thread stays on one
ticket, and a direct message is answered directly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import all_tickets as tickets
from tests.social.mastodon_server import TOKEN, MastodonServer

pytest.importorskip("supportctl.config")


@pytest.fixture
def masto(tmp_path: Path) -> Iterator[tuple[MastodonServer, dict[str, str]]]:
    with MastodonServer() as srv:
        cfg = tmp_path / "config.yaml"
        # The token comes from the environment, as a user would keep it.
        cfg.write_text(
            "channels:\n"
            "  - name: shop-masto\n"
            "    type: mastodon\n"
            f"    base_url: {srv.url}\n"
            "    access_token_env: SHOP_MASTO_TOKEN\n",
            encoding="utf-8",
        )
        yield srv, {"SUPPORTCTL_CONFIG": str(cfg), "SHOP_MASTO_TOKEN": TOKEN}


def test_sync_creates_tickets_and_threads_a_mention_reply(
        cli: Any, masto: tuple[MastodonServer, dict[str, str]]) -> None:
    srv, env = masto
    q = srv.mention("bob@remote.example", "Do you ship the grinder to Norway?", name="Bob Baker")
    res = cli("sync", env=env)
    assert res.code == 0, res
    [t] = tickets(cli, env)
    assert t["channel"] == "mastodon" and t["account"] == "shop-masto"
    assert t["contact"]["identities"][0]["address"] == "bob@remote.example"

    res = cli("reply", str(t["id"]), "-m", "Yes, in about 3 days.", env=env)
    assert res.code == 0, res
    [ours] = srv.posted
    assert ours["in_reply_to_id"] == q["id"]
    assert ours["_text"].startswith("@bob@remote.example Yes, in about 3 days.")
    assert ours["visibility"] == "unlisted"  # a public mention gets an unlisted answer

    srv.mention("bob@remote.example", "Great, ordering now!", in_reply_to_id=ours["id"])
    res = cli("sync", env=env)
    assert res.code == 0, res
    [t] = tickets(cli, env)
    shown = cli("show", str(t["id"]), "--format", "json", env=env).json()
    texts = [m["text"] for m in shown["messages"]]
    assert any("Great, ordering now!" in x for x in texts) and len(texts) == 3

    # Nothing new: one request per source, no duplicates.
    srv.http.log.clear()
    assert cli("sync", env=env).code == 0
    assert len(srv.http.log) == 2
    assert len(tickets(cli, env)) == 1


def test_direct_message_is_answered_directly(
        cli: Any, masto: tuple[MastodonServer, dict[str, str]]) -> None:
    srv, env = masto
    dm = srv.mention("carol@remote.example", "My card was charged twice for order 2291",
                     visibility="direct")
    assert cli("sync", env=env).code == 0
    [t] = tickets(cli, env)
    res = cli("reply", str(t["id"]), "-m", "Sorry! The second charge is refunded.", env=env)
    assert res.code == 0, res
    [post] = srv.posted
    assert post["visibility"] == "direct" and post["in_reply_to_id"] == dm["id"]
    assert post["_text"].startswith("@carol@remote.example ")
    assert srv.requests("/api/v1/statuses/?")[0].headers.get("idempotency-key")
    # Our reply is now the conversation's last status: it is not fetched back.
    assert cli("sync", env=env).code == 0
    [t] = tickets(cli, env)
    shown = cli("show", str(t["id"]), "--format", "json", env=env).json()
    assert [m["direction"] for m in shown["messages"]] == ["in", "out"]


def test_bad_token_fails_sync_without_showing_it(
        cli: Any, masto: tuple[MastodonServer, dict[str, str]]) -> None:
    srv, env = masto
    srv.mention("bob@remote.example", "hello")
    res = cli("sync", env={**env, "SHOP_MASTO_TOKEN": "not-the-token-42"})
    assert res.code == 1, res
    assert "access_token" in res.err
    assert "not-the-token-42" not in res.out + res.err and TOKEN not in res.out + res.err
