"""The signature that ends what an agent writes to a customer.

One rule for every way an agent writes (``reply -m``, ``reply`` in the
editor, ``reply --template``, ``new``, and ``triage``, which replies
through ``reply``): the agent's ``signature`` (``agents:``), else the
sending channel entry's ``signature``, else none (SPEC §7).

- Email: the usual block, below ``-- `` (RFC 3676's signature separator,
  which mail programs fold away).
- SMS, WhatsApp, Telegram, Mastodon: one short line, the signature's first
  non-empty line cut to ``SHORT`` characters, with no separator: a message
  there is read on a phone, an SMS is billed by the segment, and a
  three-line email block would be longer than most answers.
- A text that already ends with the signature (a template that signs
  itself) is left alone; an approved WhatsApp template (``content_sid``)
  is sent as approved, never signed.
"""

from __future__ import annotations

from typing import Any

SHORT = 40


def signature_for(config: Any, actor: str, entry: dict[str, Any]) -> str:
    """The agent's signature, else the channel entry's, else ''."""
    for agent in getattr(config, "agents", None) or []:
        if getattr(agent, "name", None) == actor and getattr(agent, "signature", ""):
            return str(agent.signature)
    return str(entry.get("signature") or "")


def short_line(signature: str) -> str:
    """A signature as one short line for messaging channels."""
    lines = [ln.strip() for ln in signature.splitlines()]
    # A signature written with its own "-- " separator starts after it.
    if lines and lines[0] in ("--", "-- "):
        lines = lines[1:]
    first = next((ln for ln in lines if ln), "")
    return first if len(first) <= SHORT else first[: SHORT - 1].rstrip() + "…"


def sign(text: str, signature: str, medium: str) -> str:
    """``text`` ending with ``signature`` as ``medium`` wants it."""
    if not signature.strip():
        return text
    body = text.rstrip()
    if medium == "email":
        block = signature.strip("\n")
        if block.startswith("-- \n") or block.startswith("--\n"):
            block = block.split("\n", 1)[1]
        if body.endswith(block.rstrip()):
            return text
        return f"{body}\n\n-- \n{block}"
    line = short_line(signature)
    if not line or body.endswith(line):
        return text
    return f"{body}\n{line}"
