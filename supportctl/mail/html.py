"""HTML to readable text (HTML-only mail, Mastodon statuses).

html2text does the layout (links kept as ``text (url)``, lists, quotes);
two traps measured in research/sync-rules.md are handled here:
- converters turn ``&#27;`` into a real ESC: escape sequences and controls
  are removed AFTER converting;
- some return empty text on deeply nested input: then a plain tag
  stripper is used, so a message never comes back blank.
Input is bounded (2 MB) so one hostile mail cannot stall a sync.
"""

from __future__ import annotations

import html as _html
import re

MAX_INPUT = 2_000_000

_ESC_SEQ = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[ -/]*[0-~]?"
)
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BLOCK = re.compile(r"(?i)<\s*(br|/p|/div|/li|/tr|/h\d|/blockquote|/table)\b[^>]*>")
_DROP = re.compile(r"(?is)<(script|style|head|title)\b.*?</\1\s*>")
_TAG = re.compile(r"<[^>]*>")


def strip_controls(text: str) -> str:
    """Remove escape sequences and control characters (keeping \\n, \\t)
    from stored text; the terminal boundary (``safe.clean``) still runs."""
    return _CTRL.sub("", _ESC_SEQ.sub("", text.replace("\r\n", "\n").replace("\r", "\n")))


def _crude(html: str) -> str:
    text = _DROP.sub(" ", html)
    text = _BLOCK.sub("\n", text)
    text = _TAG.sub("", text)
    return _html.unescape(text)


def _tidy(text: str) -> str:
    lines = [ln.rstrip() for ln in text.splitlines()]
    out: list[str] = []
    for ln in lines:
        if not ln and out and not out[-1]:
            continue
        out.append(ln)
    return "\n".join(out).strip()


def _link(m: re.Match[str]) -> str:
    label, url = m.group(1), m.group(2)
    if label == url or label.startswith(("@", "#")):
        return label
    return f"{label} ({url})"


def html_to_text(html: str) -> str:
    """Readable text of an HTML document or fragment; never raises."""
    if not html:
        return ""
    html = html[:MAX_INPUT]
    text = ""
    try:
        import html2text

        conv = html2text.HTML2Text()
        conv.body_width = 0  # no hard wrapping: terminals wrap
        conv.ignore_images = True
        conv.ignore_emphasis = True
        conv.ignore_tables = False
        conv.protect_links = False
        conv.inline_links = True
        conv.unicode_snob = True
        conv.single_line_break = False
        text = conv.handle(html)
        # Markdown link syntax reads badly in a terminal: "[text](url)" → "text (url)".
        # Mentions and hashtags (Mastodon) keep just their text.
        text = re.sub(r"\[([^\]\n]+)\]\((\S+?)\)", _link, text)
    except Exception:  # a converter bug must not lose the message
        text = ""
    text = strip_controls(text)
    if not text.strip():
        text = strip_controls(_crude(html))
    return _tidy(text)
