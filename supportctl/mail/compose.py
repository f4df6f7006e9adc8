"""Outgoing email: the RFC 5322 bytes of a reply (SPEC §3, §4).

Contract:
- ``build_email(out, from_addr=..., reply_to=...)`` returns CRLF bytes that
  are 7-bit clean (non-ASCII text is quoted-printable or base64, non-ASCII
  header text RFC 2047 encoded), so any SMTP server takes them without
  8BITMIME or SMTPUTF8.
- Every header value that may come from a customer (subject, names,
  addresses, file names, Message-IDs) is passed through
  ``safe.header_value`` (no CR/LF, no controls: CVE-2024-6923), and
  addresses are checked by ``email.headerregistry.Address``, which refuses
  anything that is not one address.
- Message-IDs (``Message-ID``, ``In-Reply-To``, ``References``) are written
  and folded by us: the stdlib folder turns a token longer than a line into
  an RFC 2047 encoded word, which is not a msg-id (RFC 5322 §3.6.4) and
  breaks threading in every client.
- ``out.message_id`` is used as given (the outbox keeps it across retries);
  an empty one gets ``new_message_id``.
"""

from __future__ import annotations

import re
import secrets
import time
from email import policy as email_policy
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from supportctl.models import Address, Outbound
from supportctl.safe import header_value
from supportctl.values import utcnow

#: Generation policy: CRLF, lines folded at 78, and 7-bit transfer
#: encodings (``set_content`` then picks quoted-printable or base64).
POLICY = email_policy.SMTP.clone(cte_type="7bit")

_MSGID_OK = re.compile(r"^[!-;=?-~]+$")  # printable ASCII without space, < and >
_MAX_ID = 900  # RFC 5322 §2.1.1: a line MUST be at most 998 characters


def new_message_id(domain: str) -> str:
    """A fresh Message-ID without angle brackets, unique and unguessable
    (random, not a counter: ticket numbers in ids are guessable, see
    sync-rules §0.10)."""
    domain = clean_domain(domain)
    return f"{int(time.time())}.{secrets.token_hex(12)}@{domain}"


def clean_domain(domain: str) -> str:
    domain = header_value(domain).strip().strip("<>[]").lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        domain = ""
    return re.sub(r"[^a-z0-9.-]", "", domain) or "supportctl.invalid"


def domain_of(address: str) -> str:
    return clean_domain(address.rpartition("@")[2])


def clean_id(value: str) -> str:
    """A msg-id without brackets, or "" when it cannot be written safely."""
    value = header_value(value).strip().strip("<>").strip()
    if not value or len(value) > _MAX_ID or not _MSGID_OK.match(value):
        return ""
    return value


class _IdsHeader(str):
    """A header of msg-ids that folds only between ids (RFC 5322 §3.6.4).

    ``EmailPolicy.header_store_parse`` keeps a value that has a matching
    ``name`` as it is and asks it to ``fold`` itself."""

    name: str
    ids: list[str]

    def __new__(cls, name: str, ids: list[str]) -> _IdsHeader:
        self = super().__new__(cls, " ".join(f"<{i}>" for i in ids))
        self.name = name
        self.ids = ids
        return self

    def fold(self, *, policy: Any) -> str:
        lines: list[str] = []
        line = f"{self.name}:"
        for msgid in self.ids:
            token = f" <{msgid}>"
            if len(line) + len(token) > 78 and line != f"{self.name}:":
                lines.append(line)
                line = token
            else:
                line += token
        lines.append(line)
        return str(policy.linesep.join(lines) + policy.linesep)


def to_header_address(addr: Address) -> HeaderAddress:
    """An ``Address`` as a header address; ``ValueError`` when it is not
    exactly one valid address."""
    address = header_value(addr.address)
    name = header_value(addr.name)
    if not name and "<" in address:
        # "Support <support@example.org>" given as the address itself.
        parsed_name, parsed = parseaddr(address)
        name, address = header_value(parsed_name), parsed
    if not address or "@" not in address:
        raise ValueError(f"not an email address: {address!r}")
    local, _, domain = address.rpartition("@")
    if not domain.isascii():
        # RFC 5890: an internationalised domain goes on the wire as A-labels.
        address = f"{local}@{clean_domain(domain)}"
    if not local.isascii():
        raise ValueError(f"{address!r} needs SMTPUTF8, which supportctl does not send")
    result = HeaderAddress(display_name=name, addr_spec=address)
    if result.addr_spec != address:
        raise ValueError(f"not a single email address: {address!r}")
    return result


def build_email(out: Outbound, *, from_addr: Address, reply_to: Address | None = None) -> bytes:
    """The RFC 5322 message for ``out`` (see the module contract).

    Raises ``ValueError`` for an address that is not one valid address."""
    msg = EmailMessage(policy=POLICY)
    sender = to_header_address(from_addr)
    msg["From"] = sender
    if reply_to is not None and reply_to.address:
        msg["Reply-To"] = to_header_address(reply_to)
    to = [to_header_address(a) for a in out.to if a.address]
    if not to:
        raise ValueError("a message needs at least one recipient")
    msg["To"] = to
    cc = [to_header_address(a) for a in out.cc if a.address]
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = header_value(out.subject)
    msg["Date"] = format_datetime(utcnow())
    message_id = clean_id(out.message_id) or new_message_id(sender.domain)
    msg["Message-ID"] = _IdsHeader("Message-ID", [message_id])
    in_reply_to = clean_id(out.in_reply_to)
    if in_reply_to:
        msg["In-Reply-To"] = _IdsHeader("In-Reply-To", [in_reply_to])
    refs: list[str] = []
    for ref in out.references:
        ref = clean_id(ref)
        if ref and ref not in refs:
            refs.append(ref)
    if in_reply_to and in_reply_to not in refs:
        refs.append(in_reply_to)
    if refs:
        # Keep the first (thread root) and the most recent ones, as mail
        # clients do, so the line count stays bounded (RFC 5322 §3.6.4).
        if len(refs) > 20:
            refs = refs[:1] + refs[-19:]
        msg["References"] = _IdsHeader("References", refs)
    if out.auto:
        # RFC 3834 §5: so that other responders do not answer us.
        msg["Auto-Submitted"] = "auto-replied"
    text = out.text if out.text.endswith("\n") or not out.text else out.text + "\n"
    msg.set_content(text, subtype="plain", charset="utf-8")
    for att in out.attachments:
        maintype, _, subtype = (att.content_type or "application/octet-stream").partition("/")
        if not subtype or not re.match(r"^[\w.+-]+$", maintype + subtype):
            maintype, subtype = "application", "octet-stream"
        filename = header_value(att.filename).replace("/", "_").replace("\\", "_") or "attachment"
        msg.add_attachment(att.data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=POLICY)


def message_id_of(raw: bytes) -> str:
    """The Message-ID (without brackets) of bytes built by ``build_email``."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    m = re.search(r"^Message-ID:\s*<([^>\r\n]+)>", head, re.MULTILINE | re.IGNORECASE)
    return m.group(1) if m else ""
