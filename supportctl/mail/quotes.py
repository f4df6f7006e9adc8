"""Folding quoted history and signatures away for display.

Quote-stripping libraries are super-linear on hostile input (research:
email_reply_parser 19 s on 11 KB). This is a single forward pass over at
most ``MAX_SCAN`` characters with simple per-line patterns, so it is
linear and bounded; the full text is always kept and searchable, this only
shapes what ``show`` prints.

The folded view is the text before the first line that starts quoted
history: an attribution ("On … wrote:", "Am … schrieb", "Le … a écrit",
"Il giorno … ha scritto", "El … escribió"), an Outlook header block
("-----Original Message-----", "From: … / Sent: …"), a run of ``>`` lines,
or the signature separator ``-- ``.
"""

from __future__ import annotations

import re

MAX_SCAN = 100_000

_ATTRIBUTION = re.compile(
    r"^\s*(on\b.{0,200}\bwrote\s*:|am\b.{0,200}\bschrieb\b.{0,80}:?|le\b.{0,200}\ba écrit\s*:"
    r"|il giorno\b.{0,200}\bha scritto\s*:|el\b.{0,200}\bescribió\s*:|op\b.{0,200}\bschreef\b.{0,80}:?"
    r"|.{0,200}<[^>\s]+@[^>\s]+>\s+(wrote|schrieb|scrisse|escribió)\s*:)\s*$",
    re.IGNORECASE,
)
_OUTLOOK = re.compile(
    r"^\s*(-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|messaggio originale"
    r"|mensaje original|forwarded message)\s*-{2,}|_{10,})\s*$",
    re.IGNORECASE,
)
_HEADER = re.compile(r"^\s*\*?(from|von|de|da|van)\s*:\*?\s+\S", re.IGNORECASE)
_HEADER2 = re.compile(r"^\s*\*?(sent|gesendet|envoyé|inviato|enviado|date|datum|to|an)\s*:", re.IGNORECASE)
_SIGNATURE = re.compile(r"^-- ?$")
_MOBILE = re.compile(r"^\s*(sent from my|von meinem|envoyé de mon|inviato da)\b", re.IGNORECASE)


def fold(text: str) -> tuple[str, bool]:
    """(display text, whether anything was folded). Never raises."""
    if not text:
        return "", False
    head = text[:MAX_SCAN]
    lines = head.split("\n")
    # own_after[i]: unquoted, non-blank lines from i on (one backward pass,
    # so the scan stays linear).
    own_after = [0] * (len(lines) + 1)
    for j in range(len(lines) - 1, -1, -1):
        ln = lines[j]
        own_after[j] = own_after[j + 1] + (1 if ln.strip() and not ln.startswith(">") else 0)
    cut: int | None = None
    for i, line in enumerate(lines):
        if _SIGNATURE.match(line) or _OUTLOOK.match(line) or _MOBILE.match(line):
            cut = i
            break
        if len(line) < 400 and _ATTRIBUTION.match(line):
            cut = i
            break
        if i + 1 < len(lines) and len(line) < 400 and _ATTRIBUTION.match(line + " " + lines[i + 1][:400]):
            cut = i  # attributions are often wrapped over two lines
            break
        if _HEADER.match(line) and any(_HEADER2.match(nl) for nl in lines[i + 1 : i + 4]):
            cut = i
            break
        # A trailing block of quotes (an interleaved reply, with answers
        # between the quotes, is not folded).
        if line.startswith(">") and own_after[i] == 0:
            cut = i
            break
    if cut is None or cut == 0:
        return text, False
    shown = "\n".join(lines[:cut]).rstrip()
    if not shown.strip():
        return text, False
    return shown, True

