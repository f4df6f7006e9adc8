"""``sync --watch`` runs housekeeping on every pass (SPEC §10: "they go out
during sync, at once under --watch"): a pass that fetches nothing new still
sends the breach notification whose time has just come.

Real time, not ``SUPPORTCTL_NOW`` (it cannot move inside one process): a
first, empty ``sync`` (so the SMS is not history), then a plain ``sync``
stores the customer's SMS, so no pass of the watch
that follows has new mail; then the first-response target is set, in
seconds, so that the clock runs out a few seconds after the watch starts.
The test polls with a generous timeout and times nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, run_cli
from tests.social.twilio_server import SHOP, SID, TwilioServer
from tests.social.twilio_server import TOKEN as TW_TOKEN

OWNER = "+393331112222"
CUSTOMER = "+393471234567"


def config(path: Path, url: str, first_response: str) -> None:
    path.write_text(f"""\
timezone: Europe/Rome
sla:
  - name: fast
    first_response: {first_response}
    resolution: 30d
    business_hours_only: false
channels:
  - name: shop-sms
    type: twilio
    account_sid: {SID}
    auth_token_env: SHOP_TWILIO_TOKEN
    numbers: ["{SHOP}"]
    api_base_url: {url}
notify:
  - name: owner-breach
    via: shop-sms
    to: "{OWNER}"
    on: [breached]
""")
    path.chmod(0o600)


def until(what: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = what()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_a_watch_pass_with_no_new_mail_sends_a_due_notification(tmp_path: Path, cli: Any) -> None:
    env = {"SHOP_TWILIO_TOKEN": TW_TOKEN}
    cfg = tmp_path / "config.yaml"
    with TwilioServer() as tw:
        def to_owner() -> list[str]:
            return [m["Body"] for m in tw.created if m["To"] == OWNER]

        config(cfg, tw.url, "1h")
        # The shop has run before: the customer's message is no history.
        assert run_cli("--db", str(cli.db), "--config", str(cfg), "sync", env=env).code == 0
        time.sleep(1.1)  # stored times have whole seconds
        sent = datetime.now(timezone.utc)
        tw.inbound(CUSTOMER, "Il pacco 1049 non è arrivato", sent=sent)
        first = run_cli("--db", str(cli.db), "--config", str(cfg), "sync", env=env)
        assert first.code == 0, first
        assert "shop-sms: 1 new" in first.err and to_owner() == []

        # The clock now runs out a few seconds from here: the config changed,
        # so the watch's passes recompute the due time (nothing else does).
        target = int((datetime.now(timezone.utc) - sent).total_seconds()) + 4
        config(cfg, tw.url, f"{target}s")
        proc = subprocess.Popen(
            [sys.executable, "-m", "supportctl", "--db", str(cli.db), "--config", str(cfg),
             "sync", "--watch", "--interval", "0.3"],
            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")),  # type: ignore[union-attr]
                                  daemon=True)
        reader.start()
        try:
            assert until(to_owner), "no breach notification while watching"

            # Quiet passes print nothing (sync --watch says only what changed):
            # let some ten of them go by before counting notifications.
            time.sleep(3)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
            reader.join(timeout=10)
    assert proc.returncode == 130, lines
    assert not any("Traceback" in ln for ln in lines), lines
    # Every pass of the watch fetched nothing; the one that notified too.
    told = next(i for i, ln in enumerate(lines) if "housekeeping:" in ln and "1 notified" in ln)
    assert all("shop-sms: 0 new" in ln for ln in lines[:told] if ln.startswith("shop-sms:"))
    assert "shop-sms: 0 new" in [ln for ln in lines[:told] if ln.startswith("shop-sms:")][-1]
    # Once, however many passes followed; and to the owner, never the customer.
    [note] = to_owner()
    assert note.startswith("#1 breached (first response)")
    assert [m for m in tw.created if m["To"] == CUSTOMER] == []
    events = run_cli("--db", str(cli.db), "--config", str(cfg), "show", "1", "--format", "json",
                     env=env).json()["events"]
    assert [e["detail"]["event"] for e in events if e["action"] == "notify"] == ["breached"]
