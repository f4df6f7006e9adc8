"""Noise and loop detection for incoming mail (SPEC §4).

``auto_reason`` returns why no automatic reply may ever answer a message
(an auto-reply, a list or bulk mail, a bounce), or ``""`` when a person
wrote it. The "from one of our own addresses" rule needs the configuration
and is applied by ingest.
"""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parseaddr

Getter = Callable[[str], str]


def auto_reason(get: Getter) -> str:
    """``get(name)`` returns a header's decoded value or ``""``."""
    auto = get("Auto-Submitted").strip().lower()
    if auto and not auto.startswith("no"):
        return f"auto-submitted: {auto.split(';')[0]}"
    precedence = get("Precedence").strip().lower()
    if precedence in ("bulk", "list", "junk"):
        return f"precedence: {precedence}"
    if get("List-Id"):
        return "mailing list (List-Id)"
    if get("List-Unsubscribe"):
        return "bulk mail (List-Unsubscribe)"
    if get("X-Auto-Response-Suppress"):
        return "x-auto-response-suppress"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if get(name):
            return name.lower()
    return_path = get("Return-Path").strip()
    if return_path in ("<>", "< >"):
        return "empty return-path"
    sender = parseaddr(get("From"))[1].lower()
    local = sender.split("@")[0]
    if local in ("mailer-daemon", "postmaster"):
        return f"{local} sender"
    return ""
