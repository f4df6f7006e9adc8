"""HTML to readable text (HTML-only mail, Mastodon statuses).

html2text does the layout (links kept as ``text (url)``, lists, quotes);
two traps measured in research/sync-rules.md are handled here:
- converters turn ``&#27;`` into a real ESC: escape sequences and controls
  are removed AFTER converting;
- some return empty text on deeply nested input: then a plain tag
  stripper is used, so a message never comes back blank.
Work is bounded so one hostile mail cannot stall a sync: html2text is
linear but slow on junk (measured ~7 µs per character on a run of ``<``),
so input over ``CONVERT_MAX`` goes to the tag stripper (linear, ~0.1 s per
MB); input over ``MAX_INPUT`` is cut. Every regex here is linear: no
pattern can rescan the rest of the input from each of many starting points.
"""

from __future__ import annotations

import html as _html
import re

MAX_INPUT = 2_000_000
CONVERT_MAX = 300_000

_ESC_SEQ = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[ -/]*[0-~]?"
)
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# ``[^<>]`` rather than ``[^>]``: a run of "<" without any ">" must not make
# every "<" scan to the end of the input (quadratic).
_BLOCK = re.compile(r"(?i)<\s*(br|/p|/div|/li|/tr|/h\d|/blockquote|/table)\b[^<>]*>")
_DROP_OPEN = re.compile(r"(?i)<(script|style|head|title)\b")
_TAG = re.compile(r"<[^<>]*>")
# The label excludes "[" so a run of unclosed brackets cannot make every "["
# rescan the line (quadratic: 800 KB of them took minutes).
_MD_LINK = re.compile(r"\[([^\[\]\n]{1,2000})\]\(((?:\\.|[^\s()\\]){1,4000})\)")
_MD_ESCAPE = re.compile(r"\\([()\[\]\\])")


def strip_controls(text: str) -> str:
    """Remove escape sequences and control characters (keeping \\n, \\t)
    from stored text; the terminal boundary (``safe.clean``) still runs."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Every escape sequence starts with a control character: most texts
    # hold none, and one scan for them is a fraction of the two rewrites.
    if _CTRL.search(text) is None:
        return text
    return _CTRL.sub("", _ESC_SEQ.sub("", text))


def _drop_invisible(html: str) -> str:
    """Remove script/style/head/title elements in one forward pass. A
    lazy ``<script>.*?</script>`` regex rescans to the end for every
    unclosed opening tag (quadratic); an unclosed one hides the rest, as
    in a browser."""
    out: list[str] = []
    pos = 0
    lower = html.lower()
    while True:
        m = _DROP_OPEN.search(html, pos)
        if m is None:
            out.append(html[pos:])
            break
        out.append(html[pos:m.start()])
        end = lower.find("</" + m.group(1).lower(), m.end())
        if end < 0:
            break
        close = lower.find(">", end)
        pos = len(html) if close < 0 else close + 1
        out.append(" ")
    return "".join(out)


def _crude(html: str) -> str:
    text = _drop_invisible(html)
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
    # html2text escapes brackets in URLs ("a\\(b\\)"); a reader wants them plain.
    label, url = m.group(1), _MD_ESCAPE.sub(r"\1", m.group(2))
    if label == url or label.startswith(("@", "#")):
        return label
    return f"{label} ({url})"


def _convert(html: str) -> str:
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
    # Markdown link syntax reads badly in a terminal: "[text](url)" becomes
    # "text (url)"; mentions and hashtags (Mastodon) keep just their text.
    return _MD_LINK.sub(_link, conv.handle(html))


def html_to_text(html: str) -> str:
    """Readable text of an HTML document or fragment; never raises."""
    if not html:
        return ""
    html = html[:MAX_INPUT]
    text = ""
    if len(html) <= CONVERT_MAX:
        try:
            text = _convert(html)
        except Exception:  # a converter bug must not lose the message
            text = ""
    text = strip_controls(text)
    if not text.strip():
        text = strip_controls(_crude(html))
    return _tidy(text)
