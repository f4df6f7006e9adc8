"""Group assignment by rules: round-robin after the rule's last pick, and
least-open (fewest new/open/pending tickets, config order on ties)."""

from __future__ import annotations

from pathlib import Path

from supportctl.config import Agent, Config, Rule
from supportctl.services import ingest, triage
from supportctl.services.rules import choose_agent
from supportctl.store import workflows
from supportctl.store.db import Store

NOW = "2026-12-09T10:00:00Z"


def test_least_open_and_round_robin(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    cfg = Config(agents=[Agent("marta", groups=["billing"]), Agent("luca", groups=["billing"]),
                         Agent("sara", groups=["billing"]), Agent("ugo")])
    least = Rule(name="least", match={"channel": "sms"}, assign_group="billing", assign_how="least-open")
    rr = Rule(name="rr", match={"channel": "sms"}, assign_group="billing")

    def ticket(who: str | None, status: str = "open") -> None:
        tid = ingest.create_ticket(store, channel="sms", account=None, contact_id=None, subject="s",
                                   created_at=NOW, actor="t", now=NOW)
        if who:
            triage.assign(store, tid, who, "t", NOW)
        triage.set_status(store, tid, status, "t", NOW)

    assert choose_agent(store, cfg, least) == "marta"  # nobody has any: config order
    ticket("marta")
    ticket("luca")
    ticket("marta")
    ticket("sara", "solved")  # solved tickets do not count
    ticket("sara", "closed")
    assert choose_agent(store, cfg, least) == "sara"
    ticket("sara")
    ticket("sara")
    assert choose_agent(store, cfg, least) == "luca"

    picks = []
    for _ in range(4):
        pick = choose_agent(store, cfg, rr) or ""
        picks.append(pick)
        with store.tx():
            workflows.set_last_assignee(store, "rr", pick)
    assert picks == ["marta", "luca", "sara", "marta"]
    # after luca comes sara; an agent who left the group restarts at the first
    with store.tx():
        workflows.set_last_assignee(store, "rr", "luca")
    assert choose_agent(store, cfg, rr) == "sara"
    with store.tx():
        workflows.set_last_assignee(store, "rr", "gone")
    assert choose_agent(store, cfg, rr) == "marta"
