"""How ``show`` words a ticket's events (``supportctl/cli/render.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

AT = "2026-12-01T10:00:00Z"


def _event(eid: int, actor: str) -> dict[str, Any]:
    return {"id": eid, "ticket_id": 1, "contact_id": 1, "actor": actor, "action": "auto_reply",
            "detail": {"account": "bot", "channel": "telegram", "outbox_id": eid}, "at": AT}


def test_automatic_sends_are_named_for_what_they_are(cli: Any, tmp_path: Path) -> None:
    # Every automatic send logs `auto_reply`; `show` called a CSAT survey
    # and a rule's reply "automatic acknowledgement queued" too.
    line = {"id": 1, "status": "solved", "priority": "normal", "subject": "Ordine",
            "channel": "telegram", "account": "bot", "created_at": AT, "updated_at": AT,
            "contact": {"id": 1, "name": "Giulia", "identities": [
                {"channel": "telegram", "address": "5550001"}]},
            "assignee": None, "tags": [], "sla": {}, "message_count": 0, "messages": [],
            "events": [_event(1, "auto-reply"), _event(2, "csat"), _event(3, "rule:refunds")]}
    dump = tmp_path / "t.jsonl"
    dump.write_text(json.dumps(line) + "\n")
    assert cli("import", str(dump), "--format", "jsonl").code == 0
    shown = cli("show", "1").out
    assert "auto-reply: automatic acknowledgement queued" in shown
    assert "csat: satisfaction survey queued" in shown
    assert "rule:refunds: automatic reply queued" in shown
    assert shown.count("acknowledgement") == 1, shown
