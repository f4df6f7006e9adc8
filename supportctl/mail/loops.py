"""Noise and loop detection for incoming mail (SPEC §4).

``auto_reason`` returns why no automatic reply may ever answer a message
(an auto-reply, a list or bulk mail, a bounce), or ``""`` when a person
wrote it. The rules that need the configuration (from one of our own
addresses, ``X-Loop`` naming one) are applied by ingest through
``is_own_address``; the per-contact rate limit by the auto-reply service.

Rules, first match wins (RFC 3834 §5, SPEC §4): ``Auto-Submitted`` other
than ``no``; ``Precedence: bulk|list|junk`` (and ``auto_reply``, which
vacation programs send); ``List-Id``; ``List-Unsubscribe``;
``X-Auto-Response-Suppress``; ``X-Autoreply``/``X-Autorespond``
(``X-Autoresponder``); an empty ``Return-Path: <>``; a MAILER-DAEMON or
postmaster sender; a no-reply sender (nobody reads an answer to it, and
another robot may answer back), with any ``+tag`` and ``-``, ``_`` or ``.``
between the words (``noreply+x@``, ``no_reply@``, ``do.not.reply@``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from email.message import Message

from supportctl.mail.speedups import getaddresses

Getter = Callable[[str], str]
Headers = Getter | Mapping[str, str] | Message

_SEP = r"[-_.]?"
_NO_REPLY = re.compile(rf"^(no{_SEP}reply|do{_SEP}not{_SEP}reply)([-_.][\w.-]*)?$")


def _base(address: str) -> tuple[str, str]:
    """(local part without ``+tag``, domain), lower case."""
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    return local.split("+", 1)[0], domain


def is_own_address(address: str, own: set[str] | frozenset[str]) -> bool:
    """Whether ``address`` is one of ``own``, comparing without case and
    without a ``+tag`` (``support+orders@shop.example`` is
    ``support@shop.example``: the mail server delivers it to us)."""
    if not address or "@" not in address:
        return False
    base = _base(address)
    return any(_base(a) == base for a in own if "@" in a)


def _getter(headers: Headers) -> Getter:
    if callable(headers) and not isinstance(headers, Message | Mapping):
        return headers
    if isinstance(headers, Message):
        msg = headers

        def from_message(name: str) -> str:
            try:
                value = msg.get(name)
            except Exception:  # a broken header is as good as none here
                return ""
            return "" if value is None else str(value)

        return from_message
    lower = {str(k).lower(): v for k, v in headers.items()}
    return lambda name: str(lower.get(name.lower()) or "")


def auto_reason(headers: Headers) -> str:
    """Why a message is automatic, or ``""``. ``headers`` is a getter
    (``get(name)`` returns a header's decoded value or ``""``), a mapping of
    header names (any case) to values, or an ``email.message.Message``."""
    get = _getter(headers)
    auto = re.split(r"[;(\s]", get("Auto-Submitted").strip().lower(), maxsplit=1)[0]
    if auto and auto != "no":
        return f"auto-submitted: {auto}"
    precedence = get("Precedence").strip().lower()
    if precedence in ("bulk", "list", "junk", "auto_reply"):
        return f"precedence: {precedence}"
    if get("List-Id").strip():
        return "mailing list (List-Id)"
    if get("List-Unsubscribe").strip():
        return "bulk mail (List-Unsubscribe)"
    if get("X-Auto-Response-Suppress").strip():
        return "x-auto-response-suppress"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if get(name).strip():
            return name.lower()
    return_path = get("Return-Path").strip()
    if return_path.replace(" ", "") == "<>":
        return "empty return-path"
    # email.utils.parseaddr: the first address, or none.
    sender = next((addr for _, addr in getaddresses([get("From")])), "").lower()
    local = sender.rpartition("@")[0] if "@" in sender else sender
    local = local.split("+", 1)[0]
    if local in ("mailer-daemon", "postmaster"):
        return f"{local} sender"
    if _NO_REPLY.match(local):
        return "no-reply sender"
    return ""
