"""Parsing real mail into ``Inbound`` (SPEC §3, §4, §9).

Contract:
- Anything Python's ``email`` package can read becomes an ``Inbound`` with
  readable text. ``ParseError`` only when there is nothing usable: empty
  input, or bytes with no mail header at all. A MIME structure the package
  cannot build (``RecursionError`` on thousands of nested multiparts) is
  read again with headers only and its body kept as text.
- Parsing uses ``policy.compat32``: about 0.15 ms a mail against 1.1 ms for
  ``policy.default``, and it does not raise lazily on broken headers
  (Outlook-style Message-IDs, a lone ``"`` in ``To:``, bogus charsets).
  Headers are read through guarded helpers that never raise.
- Raw 8-bit header bytes (RFC 6532 UTF-8, or a legacy charset) are decoded
  before anything reads them: UTF-8, then the message's own declared body
  charset, then detection. Encoded words (RFC 2047) are decoded by our own
  liar-tolerant decoder, and only AFTER an address list is split, so an
  encoded ``<`` or ``,`` in a display name cannot change the address.
- Charsets: the declared one (normalised: ``uft-8``, ``cp-850``, junk after
  the name), UTF-8 first when a single-byte charset is declared (UTF-8
  labelled latin-1 is the commonest liar), the usual liars' real charsets
  (windows-1252 for latin-1/ASCII, cp949/gb18030 for their ancestors), then
  ``charset-normalizer``; never ``?`` or U+FFFD soup where a charset fits.
- Text: per ``multipart/alternative`` the plain part, else the HTML one
  converted; every other inline text part in order. An enclosed message
  (``message/rfc822``, ``message/global``) is shown under a "Forwarded
  message" header block and its attachments are kept, except inside a
  delivery report or complaint, where the enclosed original is ours and is
  only used for ``reports_on``.
- Subjects and names are folded to one line, controls removed (a decoded
  Subject may hold CR/LF: header injection, CVE-2024-6923).
- The external id is the Message-ID without brackets, else ``sha256:`` of
  the raw bytes, so the same bytes always get the same key.
- Delivery reports (``multipart/report`` DSNs and the common non-standard
  bounces) and abuse complaints (ARF) carry ``report_state`` ``failed``,
  the error, and the Message-IDs of the message they report on. A DSN whose
  every action is ``delayed`` (or ``delivered``/``relayed``/``expanded``)
  is not a failure: ``report_state`` stays ``""`` and it is a plain
  automatic message (its ``auto_reason`` says so).
- Work is bounded: at most ``MAX_PARTS`` MIME parts and ``MAX_DEPTH``
  levels are looked at, HTML conversion is capped in ``html.py``. Parts
  left out are counted in ``meta["parts_not_extracted"]`` (shown on the
  message); the original keeps them.
"""

from __future__ import annotations

import base64
import binascii
import email
import functools
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from typing import Any

from supportctl.errors import ParseError
from supportctl.mail.html import html_to_text, strip_controls
from supportctl.mail.largeparts import LARGE_PART, LargePart, elide
from supportctl.mail.loops import auto_reason
from supportctl.mail.speedups import (
    base64_payload,
    getaddresses,
    install_boundary_matcher,
    plain_mail,
)
from supportctl.models import Address, AttachmentData, Inbound
from supportctl.values import utcnow

#: At most this many parts are looked at (torture tests, endless nesting).
MAX_PARTS = 500
#: Nesting (multiparts and enclosed messages) followed for text.
MAX_DEPTH = 30
#: A "Message-ID" longer than a header line may be is junk, not a key.
MAX_ID = 998

install_boundary_matcher()

_MSGID = re.compile(r"<([^<>\s]+)>")
_WS = re.compile(r"\s+")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?]*)\?=")
_CHARSET_NAME = re.compile(r"[a-z0-9][a-z0-9_.:+-]*")
#: Charsets mail programs declare when they mean something wider.
_WIDER = {
    "iso-8859-1": "windows-1252", "latin-1": "windows-1252", "latin1": "windows-1252",
    "us-ascii": "windows-1252", "ascii": "windows-1252", "iso-8859-8-i": "iso-8859-8",
    "ks_c_5601-1987": "cp949", "euc-kr": "cp949", "gb2312": "gb18030", "gbk": "gb18030",
    "x-gbk": "gb18030", "shift_jis": "cp932", "tis-620": "cp874", "windows-874": "cp874",
    "unicode-1-1-utf-7": "utf-7", "uft-8": "utf-8", "utf8": "utf-8", "x-unknown": "",
    "unknown-8bit": "", "unknown": "", "x-user-defined": "windows-1252",
}
#: Declared charsets for which trying strict UTF-8 (or plain ASCII) first
#: would be wrong: wide Unicode, and 7-bit encodings whose bytes are ASCII.
_WIDE_UNICODE = ("utf-16", "utf-32", "utf-7", "ucs-2", "ucs-4", "unicode", "iso-2022",
                 "iso2022", "csiso2022", "hz")
#: Parts made of header-like fields: read by ``_report``, shown only when a
#: message has no other text.
_FIELD_TYPES = ("message/delivery-status", "message/feedback-report", "text/rfc822-headers",
                "message/disposition-notification", "message/global-delivery-status",
                "message/global-headers")
_BODY_TYPES = ("text/plain", "text/html")


# -- charsets ---------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _norm_charset(declared: str | None) -> str:
    """A codec name for a declared charset, or ``""`` (seen in the wild:
    ``utf-8 euao6y69zh2w``, ``_iso-2022-jp$esc``, ``cp-850``, ``"uft-8"``)."""
    if not declared:
        return ""
    cs = str(declared).strip().strip("\"'").lower().lstrip("_-. ")
    m = _CHARSET_NAME.match(cs)
    if not m:
        return ""
    cs = m.group(0)
    cs = re.sub(r"^cp-(\d+)$", r"cp\1", cs)
    return _WIDER.get(cs, cs)


def _decode_bytes(data: bytes, declared: str | None, hint: str = "") -> str:
    """Bytes to text, never raising: the declared charset (or its wider
    superset), UTF-8, the message's ``hint`` charset, then detection;
    windows-1252 with replacement as the very last resort."""
    if not data:
        return ""
    cs = _norm_charset(declared)
    if data.isascii() and not cs.startswith(_WIDE_UNICODE):
        return data.decode("ascii")
    order = [cs, "utf-8", _norm_charset(hint)]
    if cs != "utf-8" and not cs.startswith(_WIDE_UNICODE):
        # Valid multi-byte UTF-8 is almost never meant as latin-1 text, but
        # a single-byte charset decodes anything: UTF-8 mislabelled as
        # iso-8859-1 is the commonest liar, so strict UTF-8 goes first.
        order = ["utf-8", cs, order[2]]
    tried: set[str] = set()
    for cand in order:
        if not cand or cand in tried:
            continue
        tried.add(cand)
        try:
            return data.decode(cand)
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
    # UTF-8 with a few broken sequences (a name cut inside a character, one
    # stray byte) is still UTF-8: detection would turn all of it to mojibake.
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = len(text) - len(text.encode("ascii", "ignore")) - bad
    if good > 0 and good >= 2 * bad:
        return text
    # Detection needs material: on a handful of bytes it guesses wildly, and
    # windows-1252 is then the likeliest meaning.
    if len(data) - len(data.decode("ascii", "ignore")) >= 8:
        try:
            from charset_normalizer import from_bytes

            best = from_bytes(data[:200_000]).best()
            if best is not None and best.encoding:
                return data.decode(best.encoding, errors="replace")
        except Exception:  # detection is a nicety; never let it lose the text
            pass
    return data.decode("windows-1252", errors="replace")


def _unraw(value: str, hint: str = "") -> str:
    """A header value as compat32 stores it (8-bit bytes as surrogates) to
    real text."""
    if value.isascii():
        return value
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value
    return _decode_bytes(data, None, hint)


def _fix_headers(part: Message, hint: str) -> None:
    """Decode raw 8-bit header bytes in place, so that compat32's own
    accessors (get, get_param, get_filename) see text instead of turning
    them into U+FFFD."""
    try:
        headers = part._headers  # type: ignore[attr-defined]
        if any(not v.isascii() for _, v in headers if isinstance(v, str)):
            part._headers = [  # type: ignore[attr-defined]
                (k, _unraw(v, hint) if isinstance(v, str) else v) for k, v in headers
            ]
            part.__dict__.pop(_MEMO, None)
    except Exception:
        pass


#: Where a part keeps what was read from its headers in this parse: the
#: parser asks a part for its type and parameters many times (each ask a
#: scan and parse of its headers, a fifth of a parse), and rewriting its
#: headers (``_fix_headers``) forgets them.
_MEMO = "_supportctl_read"


def _memo(part: Message) -> dict[Any, Any]:
    return part.__dict__.setdefault(_MEMO, {})  # type: ignore[no-any-return]


def _get_param(part: Message, name: str, header: str = "content-type") -> Any:
    """``part.get_param(name, header=header)``, with the header's
    parameters read once per part (compat32 parses the whole header again
    for every parameter asked); raises as it does."""
    memo = _memo(part)
    params = memo.get(header)
    if params is None:
        params = memo[header] = _params(part, header)
    name = name.lower()
    for key, value in params:
        if key.lower() == name:
            if isinstance(value, tuple):  # RFC 2231: (charset, language, text)
                return value[0], value[1], email.utils.unquote(value[2])
            return email.utils.unquote(value)
    return None


def _params(part: Message, header: str) -> Any:
    """``part.get_params(header=header, unquote=False)`` (or ``()``). A
    plain header (no backslash, no RFC 2231 ``*``, no quoted ``;``) is
    split here into what that call gives for it; any other goes to it."""
    value = part.get(header)
    if value is None:
        return ()
    if type(value) is str and "\\" not in value and "*" not in value:
        segments = value.split(";")
        if not any(seg.count('"') % 2 for seg in segments):
            out = []
            for seg in segments:
                at = seg.find("=")
                if at < 0:
                    out.append((seg.strip(), ""))
                else:
                    out.append((seg[:at].strip().lower(), seg[at + 1:].strip()))
            # compat32 re-quotes every parameter but the first
            return out[:1] + [(k, '"' + email.utils.unquote(v).replace('"', '\\"') + '"')
                              for k, v in out[1:]]
    return part.get_params(header=header, unquote=False) or ()


def _decode_words(text: str, hint: str = "") -> str:
    """RFC 2047 encoded words decoded with the liar-tolerant decoder.
    Whitespace between adjacent encoded words is dropped (§6.2); adjacent
    words in one charset are joined before decoding, because senders split
    multi-byte characters across words."""
    if "=?" not in text:
        return text
    out: list[str] = []
    run_cs = ""
    run: list[bytes] = []
    pos = 0

    def flush() -> None:
        if run:
            out.append(_decode_bytes(b"".join(run), run_cs, hint))
            run.clear()

    for m in _ENCODED_WORD.finditer(text):
        gap = text[pos:m.start()]
        cs = m.group(1).split("*", 1)[0]  # RFC 2231 language suffix
        data = _word_bytes(m.group(2), m.group(3))
        if data is None:
            continue  # left in place as text by the next gap
        if not (run and not gap.strip()):
            flush()
            out.append(gap)
        elif cs != run_cs and _norm_charset(cs) != _norm_charset(run_cs):
            flush()
        run_cs = cs
        run.append(data)
        pos = m.end()
    flush()
    out.append(text[pos:])
    return "".join(out)


def _word_bytes(encoding: str, payload: str) -> bytes | None:
    raw = payload.encode("utf-8", "surrogateescape")
    if encoding in "Qq":
        return binascii.a2b_qp(raw, header=True)  # "_" is a space in headers
    raw = re.sub(rb"[^A-Za-z0-9+/]", b"", raw)
    if len(raw) % 4 == 1:
        raw = raw[:-1]  # a stray last character cannot be padded into a byte
    try:
        return base64.b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        return None


# -- headers ----------------------------------------------------------------


class _Headers:
    """A message's headers indexed once by lower-case name. compat32's
    ``get``/``get_all`` scan every header on every call, which cost about
    0.1 ms a mail (a tenth of a first sync); the top-level lookups below
    go through this instead. Only ``get`` and ``get_all`` are offered."""

    def __init__(self, msg: Message) -> None:
        self._by_name: dict[str, list[str]] = {}
        try:
            items = msg.items()
        except Exception:
            items = []
        for k, v in items:
            if k:
                self._by_name.setdefault(k.lower(), []).append(v)

    def get(self, name: str, failobj: Any = None) -> Any:
        values = self._by_name.get(name.lower())
        return values[0] if values else failobj

    def get_all(self, name: str, failobj: Any = None) -> Any:
        return self._by_name.get(name.lower()) or failobj


HeaderSource = Any  # a Message, or _Headers for the top-level message


def _raw_header(msg: HeaderSource, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:
        return ""
    return "" if value is None else str(value)


def _header(msg: HeaderSource, name: str, hint: str = "") -> str:
    """A header's text, RFC 2047 decoded; ``""`` when absent or broken."""
    return _decode_words(_raw_header(msg, name), hint)


def _one_line(text: str) -> str:
    return _WS.sub(" ", strip_controls(text)).strip()


_TOKEN = re.compile("\ue000(\\d+)\ue001")


def _addresses(msg: HeaderSource, name: str, hint: str = "") -> list[Address]:
    """Split first, decode names after: decoding first would let an encoded
    "<x@y>" or "," in a display name become an address. Encoded words are
    swapped for private-use placeholders while splitting, because senders
    put raw ":" and "@" in them too, which would start a group or an
    address."""
    words: list[str] = []

    def protect(m: re.Match[str]) -> str:
        words.append(m.group(0))
        return f"\ue000{len(words) - 1}\ue001"

    def restore(text: str) -> str:
        return _TOKEN.sub(lambda m: words[int(m.group(1))], text)

    try:
        values = [_ENCODED_WORD.sub(protect, str(v)) for v in msg.get_all(name) or []]
        pairs = getaddresses(values)
    except Exception:
        return []
    out = []
    for disp, addr in pairs:
        addr = _one_line(restore(addr))
        disp = _one_line(_decode_words(restore(disp), hint))
        if not addr or ("@" not in addr and not disp):
            continue
        out.append(Address(addr, disp))
    return out


def _ids(text: str) -> list[str]:
    """Message-IDs in a header: ``<…>`` tokens, else bare ``x@y`` words
    (some clients drop the brackets in In-Reply-To)."""
    found = [m for m in _MSGID.findall(text or "") if len(m) <= MAX_ID]
    if not found and text and "<" not in text:
        found = [w for w in text.split() if "@" in w and len(w) <= MAX_ID]
    return found


def _message_id(msg: HeaderSource) -> str:
    ids = _ids(_raw_header(msg, "Message-ID"))
    return ids[0] if ids else ""


def _date(msg: HeaderSource) -> datetime | None:
    value = _raw_header(msg, "Date")
    if not value:
        return None
    try:
        dt = parsedate_to_datetime(value)
    except Exception:
        return None
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        dt = dt.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return None
    if dt.year < 1980 or dt.year > 2100:
        return None  # a clock at zero or a typo: arrival time is more honest
    return dt


def _charset_hint(msg: Message) -> str:
    """The first non-Unicode charset a text part declares: mail programs
    that put raw 8-bit bytes in headers use the body's charset for them."""
    for part in _walk(msg, limit=50):
        try:
            cs = _norm_charset(_get_param(part, "charset") or None)
        except Exception:
            continue
        if cs and cs != "utf-8" and not cs.startswith(_WIDE_UNICODE):
            return cs
    return ""


# -- parts ------------------------------------------------------------------


def _ctype(part: Message) -> str:
    memo = _memo(part)
    found = memo.get("ctype")
    if found is None:
        try:
            found = part.get_content_type().lower()
        except Exception:
            found = "application/octet-stream"
        memo["ctype"] = found
    return found  # type: ignore[no-any-return]


def _payload(part: Message) -> bytes:
    data: Any
    try:
        data = base64_payload(part)
        if data is None:
            data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    try:
        raw = part.get_payload()
    except Exception:
        return b""
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _part_text(part: Message, hint: str = "") -> str:
    try:
        cs = _get_param(part, "charset")
    except Exception:
        cs = None
    return _decode_bytes(_payload(part), cs if isinstance(cs, str) else None, hint)


def _param(part: Message, name: str, header: str, hint: str) -> str:
    try:
        value: Any = _get_param(part, name, header)
    except Exception:
        return ""
    if isinstance(value, tuple):  # RFC 2231: (charset, language, %-decoded text)
        charset, _lang, text = (list(value) + ["", "", ""])[:3]
        try:
            value = _decode_bytes(str(text).encode("latin-1"), charset or None, hint)
        except UnicodeEncodeError:
            value = str(text)
    if not isinstance(value, str):
        return ""
    return _one_line(_decode_words(email.utils.unquote(value), hint))


def _filename(part: Message, n: int, ctype: str, hint: str) -> str:
    name = (_param(part, "filename", "content-disposition", hint)
            or _param(part, "name", "content-type", hint))
    if not name:
        import mimetypes

        ext = mimetypes.guess_extension(ctype) or ".bin"
        name = f"part-{n}{ext}"
    return name


def _walk(msg: Message, limit: int = MAX_PARTS) -> list[Message]:
    """Every part, depth first, at most ``limit`` (no recursion)."""
    out: list[Message] = []
    stack = [msg]
    while stack and len(out) < limit:
        part = stack.pop()
        out.append(part)
        try:
            payload: Any = part.get_payload()
        except Exception:
            continue
        if isinstance(payload, list):
            stack.extend(p for p in reversed(payload) if isinstance(p, Message))
    return out


def _leaves(part: Message) -> int:
    """How many non-multipart parts ``part`` holds, itself included."""
    count, stack = 0, [part]
    while stack:
        p = stack.pop()
        try:
            payload: Any = p.get_payload()
        except Exception:
            payload = None
        if isinstance(payload, list):
            stack.extend(c for c in payload if isinstance(c, Message))
        else:
            count += 1
    return count


@dataclass
class _Body:
    """What one walk over the parts collects."""

    hint: str
    skip_enclosed: bool
    seen: int = 0
    enclosed: int = 0
    #: Leaf parts past ``MAX_PARTS`` or ``MAX_DEPTH``: not extracted, and
    #: the message says so (``meta["parts_not_extracted"]``).
    dropped: int = 0
    #: Large bodies kept out of the tree (``largeparts``): the marker
    #: header naming each, which were read back as attachments, and
    #: whether one was met where an attachment could not be.
    marker: str = ""
    large: list[LargePart] = field(default_factory=list)
    claimed: set[int] = field(default_factory=set)
    misread: bool = False
    html: list[str] = field(default_factory=list)
    attachments: list[AttachmentData] = field(default_factory=list)


#: A piece of body text: (kind, text) with kind "plain" or "html" (converted
#: only when chosen, so 3 000 HTML alternatives cost nothing).
Segment = tuple[str, str]


def _segments(part: Message, depth: int, body: _Body, *, top: bool = False) -> list[Segment]:
    body.seen += 1
    if body.seen > MAX_PARTS or depth > MAX_DEPTH:
        body.dropped += _leaves(part)
        return []
    _fix_headers(part, body.hint)
    ctype = _ctype(part)
    try:
        payload: Any = part.get_payload()
    except Exception:
        payload = ""
    if isinstance(payload, list):
        children = [p for p in payload if isinstance(p, Message)]
        if ctype in _FIELD_TYPES:
            return []  # read by _report
        if ctype.startswith("message/"):
            if body.skip_enclosed or not children:
                return []
            return _forwarded(children[0], depth, body)
        if ctype == "multipart/alternative":
            return _alternative(children, depth, body)
        out: list[Segment] = []
        for child in children:
            out += _segments(child, depth + 1, body)
        return out
    return _leaf(part, ctype, body, top=top)


def _alternative(children: list[Message], depth: int, body: _Body) -> list[Segment]:
    """The plain alternative when it has text, else the first with any
    (HTML converted later). Every alternative is walked, so inline images
    of a multipart/related HTML alternative are kept as attachments."""
    options = [_segments(child, depth + 1, body) for child in children]
    for segs in options:
        if any(kind == "plain" and text.strip() for kind, text in segs):
            return segs
    for segs in options:
        if any(text.strip() for _, text in segs):
            return segs
    return []


def _forwarded(inner: Message, depth: int, body: _Body) -> list[Segment]:
    _fix_headers(inner, body.hint)
    head = ["---------- Forwarded message ----------"]
    for name in ("From", "Date", "Subject", "To"):
        value = _one_line(_header(inner, name, body.hint))
        if value:
            head.append(f"{name}: {value}")
    body.enclosed += 1
    try:
        return [("plain", "\n".join(head) + "\n")] + _segments(inner, depth + 1, body)
    finally:
        body.enclosed -= 1


def _leaf(part: Message, ctype: str, body: _Body, *, top: bool) -> list[Segment]:
    try:
        disp = (part.get_content_disposition() or "").lower()
    except Exception:
        disp = ""
    has_name = bool(_param(part, "filename", "content-disposition", body.hint)
                    or _param(part, "name", "content-type", body.hint))
    is_body = disp != "attachment" and not has_name
    large = _large_index(part, body)
    if large is not None and (ctype in _BODY_TYPES or ctype.startswith(("multipart/", "message/"))
                              or ctype in _FIELD_TYPES):
        body.misread = True
        return []
    if ctype in _BODY_TYPES and (is_body or top):
        text = _part_text(part, body.hint)
        if ctype == "text/html":
            if not body.enclosed:
                body.html.append(text)
            return [("html", text)]
        return [("plain", text)]
    if ctype.startswith("multipart/") or (top and ctype.startswith("message/")):
        # A multipart without its boundary (or an unparsed message): the
        # payload is all there is; show it as text when it holds any.
        text = _part_text(part, body.hint)
        return [("plain", text)] if text.strip() else []
    if ctype in _FIELD_TYPES:
        return []
    chunks = None
    if large is not None:
        body.claimed.add(large)
        data, chunks = b"", body.large[large].chunks
    else:
        data = _payload(part)
        if not data:
            return []
    cid = _ids(_raw_header(part, "Content-ID"))
    n = len(body.attachments) + 1
    body.attachments.append(AttachmentData(
        filename=_filename(part, n, ctype, body.hint), content_type=ctype, data=data,
        content_id=cid[0] if cid else "",
        inline=disp == "inline" or (bool(cid) and disp != "attachment"), chunks=chunks,
    ))
    return []


def _large_index(part: Message, body: _Body) -> int | None:
    """Which elided large body ``part`` is, if it is one."""
    if not body.marker:
        return None
    value = _raw_header(part, body.marker).strip()
    if value.isdigit() and int(value) < len(body.large) and int(value) not in body.claimed:
        return int(value)
    return None


def _body(msg: Message, item: Inbound, hint: str, is_report: bool, marker: str = "",
          large: list[LargePart] | None = None) -> bool:
    """Fill text, html and attachments; False when an elided large part
    was not read back as an attachment (the caller parses again, whole)."""
    body = _Body(hint=hint, skip_enclosed=is_report, marker=marker, large=large or [])
    segs = _segments(msg, 0, body, top=True)
    if body.large and (body.misread or (len(body.claimed) < len(body.large) and not body.dropped)):
        return False
    texts = [html_to_text(text) if kind == "html" else text for kind, text in segs]
    text = "\n\n".join(t.strip("\n") for t in texts if t.strip())
    item.html = "\n".join(body.html)
    item.attachments = body.attachments
    if body.dropped:
        item.meta["parts_not_extracted"] = body.dropped
    if not text.strip():
        text = _fallback_text(msg, hint)
    item.text = strip_controls(text).strip("\n")
    return True


def _fallback_text(msg: Message, hint: str) -> str:
    """A body hidden in an odd part (S/MIME's application/plain, a report's
    field block, a named text part): the first small textual part."""
    for part in _walk(msg):
        pt = _ctype(part)
        if pt in _FIELD_TYPES:
            candidate = _fields_text(part, hint)
        elif part.is_multipart() or not (pt.startswith("text/") or pt == "application/plain"):
            continue
        else:
            candidate = _part_text(part, hint)
        if candidate.strip() and len(candidate) < 1_000_000:
            return html_to_text(candidate) if pt == "text/html" else candidate
    return ""


# -- the entry point --------------------------------------------------------


def _read(raw: bytes) -> Message:
    try:
        return plain_mail(raw) or email.message_from_bytes(raw, policy=policy.compat32)
    except Exception:
        # The MIME tree could not be built (RecursionError on thousands of
        # nested multiparts): headers only, the body kept as one text part.
        try:
            msg = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
        except Exception as exc:
            raise ParseError(f"unreadable message: {type(exc).__name__}") from None
        for name in ("Content-Type", "Content-Transfer-Encoding"):
            del msg[name]
        return msg


def parse_email(raw: bytes, *, received_at: datetime | None = None,
                source_ref: str = "", large_part: int | None = LARGE_PART) -> Inbound:
    """The ``Inbound`` of one RFC 822 message. Raises ``ParseError`` only
    when nothing usable can be read (see the module contract). Attachments
    of ``large_part`` bytes or more come as ``chunks`` decoded from ``raw``
    on demand (``largeparts``); None reads every part into memory."""
    if not raw or raw.isspace():  # (strip() would copy a 70 MB message)
        raise ParseError("empty message")
    small, marker, large = elide(raw, threshold=large_part) if large_part else (raw, "", [])
    msg = _read(small)
    del small
    keys = [k for k in list(msg.keys()) if k]
    if not keys and not raw.lstrip().startswith((b"From ", b"Received", b"Return-Path")):
        raise ParseError("no mail headers found: not an RFC 822 message")
    hint = _charset_hint(msg)
    _fix_headers(msg, hint)

    h = _Headers(msg)
    senders = (_addresses(h, "From", hint) or _addresses(h, "Sender", hint)
               or _addresses(h, "Return-Path", hint))
    spam_status = _raw_header(h, "X-Spam-Status").strip().upper()
    item = Inbound(
        medium="email",
        raw=raw,
        external_id=_message_id(h) or "sha256:" + hashlib.sha256(raw).hexdigest(),
        sender=senders[0] if senders else None,
        to=_addresses(h, "To", hint),
        cc=_addresses(h, "Cc", hint),
        subject=_one_line(_header(h, "Subject", hint)),
        sent_at=_date(h) or received_at or utcnow(),
        received_at=received_at,
        in_reply_to=(_ids(_raw_header(h, "In-Reply-To")) or [""])[0],
        references=_ids(_raw_header(h, "References")),
        source_ref=source_ref,
        spam=(_raw_header(h, "X-Spam-Flag").strip().upper().startswith("YES")
              or spam_status.startswith("YES")),
    )
    item.auto_reason = auto_reason(lambda name: _header(h, name, hint))
    # Where the customer wants the answer (RFC 5322 §3.6.2), and X-Loop
    # marks of systems the mail went through (ingest checks them against
    # our own addresses).
    reply_to = _addresses(h, "Reply-To", hint)
    if reply_to:
        item.meta["reply_to"] = [{"name": a.name, "address": a.address} for a in reply_to]
    loops = [a.address for a in _addresses(h, "X-Loop", hint) if a.address]
    if loops:
        item.meta["x_loop"] = loops
    if not _body(msg, item, hint, is_report=_ctype(msg) == "multipart/report", marker=marker,
                 large=large):
        return parse_email(raw, received_at=received_at, source_ref=source_ref, large_part=None)
    _report(msg, item, hint)
    if not keys and not item.text.strip():
        raise ParseError("no usable header, text or attachment")
    return item


#: Headers that say what a message is (its author, recipients, time, subject,
#: and the MIME structure of its body), as opposed to trace fields each
#: delivery adds (Received, Delivered-To, Return-Path, X-Original-To, ...).
_CONTENT_HEADERS = (b"from", b"sender", b"to", b"cc", b"date", b"subject", b"message-id",
                    b"in-reply-to", b"references", b"content-type",
                    b"content-transfer-encoding")
_HEADER_LINE = re.compile(rb"^([!-9;-~]+)[ \t]*:(.*)$")


def content_key(raw: bytes) -> str:
    """A digest of what a mail says, the same for every copy of one
    message: CC'd to two of our addresses (each delivery adds its own
    trace headers), filed in two folders, fetched again after a crash,
    read from an mbox with LF line ends instead of CRLF. Two different
    messages that share a Message-ID (two senders' ``<1@localhost>``)
    differ in author, recipients, date, subject or body."""
    # The body is hashed in pieces, never copied whole (a 70 MB mail met
    # again after a crash).
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if i >= 0]
    split = min(ends) if ends else len(raw)
    head = raw[:split + 1].replace(b"\r\n", b"\n")
    start = split + (2 if raw.startswith(b"\n\n", split) else 3) if ends else len(raw)
    end = len(raw)
    while end > start and raw[end - 1] in b" \t\r\n\x0b\x0c":
        end -= 1
    fields: list[bytes] = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b" " + line.strip()  # a folded continuation
            continue
        m = _HEADER_LINE.match(line)
        fields.append(m.group(1).lower() + b":" + m.group(2).strip() if m else b"")
    digest = hashlib.sha256()
    for f in sorted(f for f in fields if f.split(b":", 1)[0] in _CONTENT_HEADERS):
        digest.update(b" ".join(f.split()) + b"\n")
    digest.update(b"\n")
    view, pos = memoryview(raw), start
    while pos < end:
        stop = min(pos + (1 << 20), end)
        if stop < end and raw[stop - 1] == 0x0D:
            stop += 1  # keep a CR LF pair in one piece
        digest.update(bytes(view[pos:stop]).replace(b"\r\n", b"\n"))
        pos = stop
    return digest.hexdigest()


def parse_stored(raw: bytes, config: Any = None) -> Inbound:
    """``parse_email`` as the stored-payload parser of the email medium."""
    return parse_email(raw)


# -- delivery reports and complaints ---------------------------------------


_BOUNCE_SUBJECT = re.compile(
    r"(undeliver|delivery (status )?notification|failure notice|returned mail|mail delivery failed"
    r"|delivery has failed|could not be delivered|non ?remis|unzustellbar|not delivered)",
    re.IGNORECASE)
_DELAY_SUBJECT = re.compile(r"(delayed|still being retried|will be retried|warning:)", re.IGNORECASE)
#: Where non-standard bounces state the reason, most specific first.
_BOUNCE_REASON = (
    re.compile(r"\b([45]\d\d[ -][45]\.\d{1,3}\.\d{1,3}\b.*)"),
    re.compile(r"(?im)^technical details of permanent failure:\s*\n?\s*(\S.*)$"),
    re.compile(r"\b([45]\d\d\s+\S.*)"),
)


def _report(msg: Message, item: Inbound, hint: str) -> None:
    """Fill report_state/report_error/reports_on for DSNs and complaints."""
    ctype = _ctype(msg)
    try:
        report_type = str(_get_param(msg, "report-type") or "").lower() if ctype == "multipart/report" else ""
    except Exception:
        report_type = ""
    parts = _walk(msg)
    types = [_ctype(p) for p in parts]
    originals: list[str] = []
    for part, pt in zip(parts, types, strict=True):
        if pt in ("message/rfc822", "message/global"):
            inner: Any = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                originals += _ids(_raw_header(inner[0], "Message-ID"))
        elif pt in ("text/rfc822-headers", "message/global-headers"):
            try:
                head = email.message_from_string(_part_text(part, hint), policy=policy.compat32)
                originals += _ids(_raw_header(head, "Message-ID"))
            except Exception:
                pass
    if report_type == "feedback-report" or "message/feedback-report" in types:
        fb = parts[types.index("message/feedback-report")] if "message/feedback-report" in types else None
        kind = "abuse"
        if fb is not None:
            m = re.search(r"(?im)^feedback-type:\s*([\w-]+)", _fields_text(fb, hint))
            if m:
                kind = m.group(1).lower()
        item.report_state = "failed"
        item.report_error = f"complaint: {kind}"
        item.reports_on = _unique(originals)
        return
    status_types = ("message/delivery-status", "message/global-delivery-status")
    if report_type in ("delivery-status", "global-delivery-status") or any(t in types for t in status_types):
        ds = next((p for p, t in zip(parts, types, strict=True) if t in status_types), None)
        fields = _fields_text(ds, hint) if ds is not None else ""
        actions = [a.lower() for a in re.findall(r"(?im)^action:\s*([\w-]+)", fields)]
        status = re.findall(r"(?im)^status:\s*(\d\.\d{1,3}\.\d{1,3})", fields)
        diag = re.findall(r"(?im)^diagnostic-code:\s*(?:[^;\n]*;)?\s*(.+(?:\n[ \t].+)*)", fields)
        orig = re.findall(r"(?im)^original-message-id:\s*(.+)", fields)
        originals += [i for v in orig for i in _ids(v)]
        if "failed" in actions or (not actions and status and status[0].startswith("5")):
            item.report_state = "failed"
        elif actions:
            item.report_state = ""  # delayed, relayed, delivered, expanded: not a failure
        else:
            item.report_state = "failed" if status and status[0].startswith(("4", "5")) else ""
        if item.report_state:
            err = _one_line(diag[0])[:300] if diag else ""
            code = status[0] if status else ""
            item.report_error = (f"{code} {err}".strip() if code and code not in err
                                 else err or "delivery failed")
            item.reports_on = _unique(originals)
        return
    # Non-standard bounces: a mailer-daemon/postmaster sender and a bounce
    # subject; a delay warning ("still being retried") is not a failure.
    local = item.sender.address.split("@")[0].lower() if item.sender else ""
    if (local in ("mailer-daemon", "postmaster") and _BOUNCE_SUBJECT.search(item.subject)
            and not _DELAY_SUBJECT.search(item.subject)):
        body_ids = _ids("\n".join(re.findall(r"(?im)^message-id:\s*(.+)$", item.text)))
        item.report_state = "failed"
        item.report_error = "delivery failed"
        for pattern in _BOUNCE_REASON:
            m = pattern.search(item.text[:20_000])
            if m:
                item.report_error = _one_line(m.group(1))[:200]
                break
        item.reports_on = _unique(originals + body_ids)


def _unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _fields_text(part: Message, hint: str = "") -> str:
    """The text of a message/delivery-status or feedback-report part
    (compat32 parses its field groups into sub-messages)."""
    try:
        payload: Any = part.get_payload()
    except Exception:
        return ""
    if isinstance(payload, list):
        chunks = []
        for sub in payload:
            try:
                chunks.append("\n".join(f"{k}: {_unraw(str(v), hint)}" for k, v in sub.items()))
            except Exception:
                continue
        return "\n\n".join(chunks)
    return _part_text(part, hint)
