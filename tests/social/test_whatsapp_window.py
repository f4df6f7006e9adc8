"""The WhatsApp 24-hour refusal names its real reason, and ``reply
--dry-run`` refuses exactly when a real send would (fake Twilio API on
loopback; nothing leaves when refused)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.social.twilio_server import SHOP, SHOP_WA, SID, TwilioServer
from tests.social.twilio_server import TOKEN as TW_TOKEN

pytest.importorskip("supportctl.config")


@pytest.fixture
def twilio(tmp_path: Path) -> Iterator[tuple[TwilioServer, dict[str, str]]]:
    with TwilioServer() as tw:
        cfg = tmp_path / "config.yaml"
        cfg.write_text(
            "channels:\n  - name: shop-sms\n    type: twilio\n"
            f"    account_sid: {SID}\n    auth_token_env: SHOP_TWILIO_TOKEN\n"
            f"    numbers: ['{SHOP}', '{SHOP_WA}']\n    api_base_url: {tw.url}\n",
            encoding="utf-8")
        yield tw, {"SUPPORTCTL_CONFIG": str(cfg), "SHOP_TWILIO_TOKEN": TW_TOKEN}


def _ticket(cli: Any, env: dict[str, str], channel: str) -> int:
    [t] = [t for t in cli("list", "--format", "json", env=env).json() if t["channel"] == channel]
    return int(t["id"])


def test_whatsapp_refusal_names_the_reason_and_dry_run_agrees(
        cli: Any, twilio: tuple[TwilioServer, dict[str, str]]) -> None:
    tw, env = twilio
    wrote = datetime.now(timezone.utc) - timedelta(minutes=5)
    tw.inbound("+393471234567", "Via SMS", sent=wrote)
    tw.inbound("whatsapp:+393479999999", "Via WhatsApp", to=SHOP_WA, sent=wrote)
    assert cli("sync", env=env).code == 0
    sms, wa = _ticket(cli, env, "sms"), _ticket(cli, env, "whatsapp")
    sent_before = len(tw.messages)

    for extra in ((), ("--dry-run",)):
        r = cli("reply", str(sms), "--via", "whatsapp", "-m", "Ciao", *extra, env=env)
        assert r.code == 1, r
        assert "never wrote on WhatsApp" in r.err, r
        later = {**env, "SUPPORTCTL_NOW": (wrote + timedelta(hours=30)).isoformat()}
        r = cli("reply", str(wa), "-m", "Ciao", *extra, env=later)
        assert r.code == 1, r
        assert "last wrote on WhatsApp 30 hours ago" in r.err, r
        # --cc is refused on a dry run as on a real one.
        r = cli("reply", str(sms), "-m", "x", "--cc", "a@example.com", *extra, env=env)
        assert r.code == 2 and "--cc only applies to email" in r.err, r
    assert len(tw.messages) == sent_before
    # Within the window the dry run passes and sends nothing.
    r = cli("reply", str(wa), "-m", "Ciao", "--dry-run", env=env)
    assert r.code == 0 and r.json()["to"] == "+393479999999", r
    assert len(tw.messages) == sent_before
