"""Working as a team on one queue (SPEC §13): claims with a lease, handing
out the next ticket, and noticing another agent's work before a reply.

- ``claim`` takes a ticket until the lease ends; a live claim of another
  agent is taken over only with ``force``. ``release`` gives it back.
- ``hand_out`` (``next``) claims the most urgent waiting ticket that is
  neither claimed nor assigned to someone else: one transaction, so two
  agents asking at once never get the same ticket.
- ``others_work`` is what a reply must not ignore: a live claim by someone
  else, or another agent's answer since this agent opened the ticket
  (``show``, ``triage``, ``claim``, ``next`` and a reply record the
  opening). A claim already given back changed nothing a reply could miss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from supportctl.errors import ClaimedByOther
from supportctl.store import claims
from supportctl.store.db import Store


def claim(store: Store, ticket_id: int, agent: str, now: str, until: str, *,
          force: bool = False, log: bool = True, when: Callable[[str], str] = str) -> None:
    """``log=False``: a ticket held while it is on a triage screen leaves
    no event per key press. ``when`` shows a stored time to a person (the
    CLI's, in the shop's zone)."""
    from supportctl.services.triage import require  # not on `show`'s path (``opened``)

    with store.tx():
        require(store, ticket_id)
        held = claims.holder(store, ticket_id, now)
        if held and held[0] != agent and not force:
            raise ClaimedByOther(
                f"ticket {ticket_id} is claimed by {held[0]} until {when(held[1])}: "
                "pass --force to take it over"
            )
        claims.set_claim(store, ticket_id, agent, until)
        claims.note_seen(store, ticket_id, agent, now)
        taken_from = held[0] if held and held[0] != agent else None
        if log or taken_from:
            detail: dict[str, Any] = {"until": until}
            if taken_from:
                detail["taken_from"] = taken_from
            store.event(agent, "claim", now, ticket_id=ticket_id, **detail)


def release(store: Store, ticket_id: int, agent: str, now: str, *, force: bool = False,
            log: bool = True) -> bool:
    """Give a claim back; False when there was none to give."""
    from supportctl.services.triage import require

    with store.tx():
        require(store, ticket_id)
        held = claims.holder(store, ticket_id, now)
        if held is None:
            return False
        if held[0] != agent and not force:
            raise ClaimedByOther(
                f"ticket {ticket_id} is claimed by {held[0]}, not you: pass --force to release it"
            )
        claims.set_claim(store, ticket_id, None, None)
        if log:
            store.event(agent, "unclaim", now, ticket_id=ticket_id, holder=held[0])
    return True


def hand_out(store: Store, agent: str, now: str, until: str, channel: str | None = None) -> int | None:
    with store.tx():
        tid = claims.hand_out(store, agent, now, until, channel)
        if tid is not None:
            claims.note_seen(store, tid, agent, now)
            store.event(agent, "claim", now, ticket_id=tid, until=until, via="next")
    return tid


def opened(store: Store, ticket_id: int, agent: str, now: str) -> None:
    """``agent`` has the ticket in front of them now (nothing on a
    read-only store: reading it stays possible)."""
    if store.readonly:
        return
    claims.note_opened(store, ticket_id, agent, now)


def others_work(store: Store, ticket_id: int, agent: str, since: str, now: str, *,
                when: Callable[[str], str] = str) -> list[str]:
    """One line per thing another agent did that a reply by ``agent``
    (who opened the ticket at ``since``) would otherwise ignore."""
    seen = claims.seen_at(store, ticket_id, agent)
    start = min(seen, since) if seen else since
    out = []
    held = claims.holder(store, ticket_id, now)
    if held and held[0] != agent:
        out.append(f"claimed by {held[0]} until {when(held[1])}")
    for e in claims.answers_since(store, ticket_id, agent, start):
        line = f"answered by {e['actor']} at {when(e['at'])}"
        if line not in out:
            out.append(line)
    return out
