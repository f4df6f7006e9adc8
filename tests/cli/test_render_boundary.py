"""The render boundary by construction: whatever text any field of a
ticket holds, ``show``, the ticket list and ``plain`` print no control
character, escape or bidi override."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supportctl.cli import render

T = st.text(alphabet=st.characters(max_codepoint=0x2100) | st.sampled_from("\x1b[?1049h\x1bc\u202e\u200b\u2066\ufeff"),
            max_size=12)
BAD = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b\u200e\u200f\ufeff]")


def ticket(s: Any) -> dict[str, Any]:
    return {
        "id": 1, "status": s(), "priority": s(), "channel": s(), "account": s(), "assignee": s(),
        "subject": s(), "tags": [s(), s()], "updated_at": s(), "snoozed_until": s(),
        "merged_into": s(), "linked_ticket": s(),
        "contact": {"name": s(), "identities": [{"channel": s(), "address": s()}]},
        "sla": {"first_response_due": s(), "resolution_due": s(), "breached": True},
        "messages": [{"direction": "in", "channel": s(), "sent_at": s(), "author": s(), "text": s(),
                      "from": {"name": s(), "address": s()}, "auto_reason": s(),
                      "delivery": {"state": s(), "error": s()},
                      "attachments": [{"filename": s(), "content_type": s(), "size": s()}]}],
        "outbox": [{"id": s(), "state": "failed", "error": s()}],
        "contact_tickets": [{"id": s(), "status": s(), "channel": s(), "updated_at": s(), "subject": s()}],
    }


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_field_reaches_the_terminal_raw(data: st.DataObject, capsys: pytest.CaptureFixture[str]) -> None:
    t = ticket(lambda: data.draw(T))
    render.show(t)
    render.tickets([t], None)
    render.plain([[t["status"], t["tags"], t["messages"][0]["attachments"][0]["content_type"]]])
    out = capsys.readouterr().out
    assert not BAD.search(out), ascii(out)
