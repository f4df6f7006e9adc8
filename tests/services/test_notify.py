"""The notifier in-process over a real store and the shipped memory
channel: a failed send is tried again and then sent once; spam and
automatic mail wake nobody; the first run sends no backlog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from supportctl.channels.memory import MemoryChannel, server
from supportctl.config import load_config
from supportctl.errors import ChannelError
from supportctl.models import Address, Inbound
from supportctl.services import notify, triage
from supportctl.services.ingest import IngestSettings, ingest_one
from supportctl.store.db import Store


@pytest.fixture
def env(tmp_path: Path) -> Any:
    p = tmp_path / "config.yaml"
    name = f"mem{tmp_path.name[-6:]}".lower().replace("_", "-")
    p.write_text(f"channels:\n  - {{name: {name}, type: memory}}\n"
                 f"notify:\n  - {{name: owner, via: {name}, to: '+393331112222', "
                 "on: [new, customer-replied]}\n")
    cfg = load_config(p)
    store = Store(tmp_path / "s.db")
    channel = MemoryChannel({"name": name, "type": "memory"})
    yield store, cfg, channel, server(name)
    store.close()


def sms(store: Store, cfg: Any, sender: str, text: str, ext: str, now: str, **kw: Any) -> int:
    item = Inbound(medium="sms", raw=b"{}", external_id=ext, sender=Address(sender), text=text, **kw)
    with store.tx():
        res = ingest_one(store, item, IngestSettings(account="sms", actor="sync", config=cfg), now=now)
    assert res.ticket_id
    return res.ticket_id


def run(store: Store, cfg: Any, channel: MemoryChannel, now: str) -> notify.Report:
    return notify.run(store, cfg, now, lambda name: channel, started=now)


def test_failed_send_is_retried_then_sent_once(env: Any) -> None:
    store, cfg, channel, srv = env
    run(store, cfg, channel, "2026-11-30T09:00:00Z")  # first run: starts here
    sms(store, cfg, "+393471234567", "Dov'è il mio ordine?", "SM1", "2026-11-30T09:01:00Z")
    srv.fail_send = ChannelError("connection refused", temporary=True)
    rep = run(store, cfg, channel, "2026-11-30T09:02:00Z")
    assert rep.sent == 0 and rep.failed == ["notify owner: connection refused"]
    srv.fail_send = None
    assert run(store, cfg, channel, "2026-11-30T09:03:00Z").sent == 1
    assert run(store, cfg, channel, "2026-11-30T09:04:00Z").sent == 0
    [out] = srv.sent
    assert out.to == [Address("+393331112222")] and out.medium == "sms" and out.auto
    assert out.text.startswith("#1 new · +393471234567 · sms · Dov'è il mio ordine?")


def test_spam_and_automatic_mail_wake_nobody(env: Any) -> None:
    store, cfg, channel, srv = env
    run(store, cfg, channel, "2026-11-30T09:00:00Z")
    tid = sms(store, cfg, "+393471234567", "hello", "SM1", "2026-11-30T09:01:00Z")
    triage.tag(store, tid, ["spam"], "me", "2026-11-30T09:01:00Z")
    sms(store, cfg, "+393471234567", "buy now", "SM2", "2026-11-30T09:01:30Z")
    sms(store, cfg, "+393479999999", "I am away", "SM3", "2026-11-30T09:01:40Z",
        auto_reason="auto-reply")
    assert run(store, cfg, channel, "2026-11-30T09:02:00Z").sent == 0 and srv.sent == []


def test_no_backlog_on_the_first_run(env: Any) -> None:
    store, cfg, channel, srv = env
    sms(store, cfg, "+393471234567", "old news", "SM1", "2026-11-01T09:00:00Z")
    assert run(store, cfg, channel, "2026-11-30T09:00:00Z").sent == 0
    sms(store, cfg, "+393471234567", "and now?", "SM2", "2026-11-30T09:05:00Z")
    assert run(store, cfg, channel, "2026-11-30T09:06:00Z").sent == 1
    assert "customer-replied" in srv.sent[0].text


def test_to_assignee_mails_the_agent_who_holds_the_ticket(tmp_path: Path) -> None:
    """``to: assignee``: the ticket's assignee at their ``agents[].email``
    (for ``assigned``, the one assigned then); nobody while no agent with
    an email holds it; ``notify test`` reaches every agent with an email."""
    name = f"mem{tmp_path.name[-6:]}".lower().replace("_", "-")
    p = tmp_path / "config.yaml"
    p.write_text(f"channels:\n  - {{name: {name}, type: memory}}\n"
                 "agents:\n  - {name: marta, email: marta@shop.example}\n"
                 "  - {name: nadia, email: nadia@shop.example}\n  - luca\n"
                 f"notify:\n  - {{name: mine, via: {name}, to: assignee, "
                 "on: [assigned, customer-replied]}\n")
    cfg = load_config(p)
    store = Store(tmp_path / "s.db")
    channel = MemoryChannel({"name": name, "type": "memory"})
    srv = server(name)
    try:
        run(store, cfg, channel, "2026-11-30T09:00:00Z")
        tid = sms(store, cfg, "+393471234567", "Dov'è il mio ordine?", "SM1", "2026-11-30T09:01:00Z")
        sms(store, cfg, "+393471234567", "Ci siete?", "SM2", "2026-11-30T09:02:00Z")
        assert run(store, cfg, channel, "2026-11-30T09:03:00Z").sent == 0  # nobody holds it
        triage.assign(store, tid, "luca", "owner", "2026-11-30T09:04:00Z")  # no email
        assert run(store, cfg, channel, "2026-11-30T09:05:00Z").sent == 0 and srv.sent == []
        triage.assign(store, tid, "marta", "owner", "2026-11-30T09:06:00Z")
        triage.assign(store, tid, "nadia", "owner", "2026-11-30T09:06:30Z")
        sms(store, cfg, "+393471234567", "Allora?", "SM3", "2026-11-30T09:07:00Z")
        assert run(store, cfg, channel, "2026-11-30T09:08:00Z").sent == 3
        got = [(out.to, out.medium, out.text.split(" · ")[0]) for out in srv.sent]
        assert got == [([Address("marta@shop.example")], "email", f"#{tid} assigned to marta"),
                       ([Address("nadia@shop.example")], "email", f"#{tid} assigned to nadia"),
                       ([Address("nadia@shop.example")], "email", f"#{tid} customer-replied")]
        srv.sent.clear()
        notify.send_test(cfg, "mine", lambda _: channel, "2026-11-30T09:09:00Z")
        assert [out.to for out in srv.sent] == [[Address("marta@shop.example")],
                                                [Address("nadia@shop.example")]]
    finally:
        store.close()
