"""Domain values shared by every layer. No I/O, no imports of ours.

Channels produce ``Inbound`` items in ``Batch``es and consume ``Outbound``;
the ingest service turns ``Inbound`` into stored messages. Times are aware
``datetime`` objects in UTC.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone


class Status(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    SOLVED = "solved"
    CLOSED = "closed"


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}

# The media (email, sms, …) are declared by the channels: see
# ``supportctl.channels.spec`` and ``supportctl.channels.media()``.

DELIVERY_STATES = ("queued", "sent", "delivered", "undelivered", "failed", "unknown")


def utcnow() -> datetime:
    """The one clock (SPEC §10): every time-dependent decision reads it.

    ``SUPPORTCTL_NOW`` (ISO 8601; a time without a zone is UTC) pins it for
    tests and scripts; nothing else changes behaviour with it. An unreadable
    value is ignored rather than failing every command."""
    pinned = os.environ.get("SUPPORTCTL_NOW")
    if pinned:
        try:
            dt = datetime.fromisoformat(pinned.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    return datetime.now(timezone.utc)


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 in UTC with ``Z`` (SPEC §6)."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def shift(value: str, delta: timedelta) -> str:
    """An ISO timestamp moved by ``delta``, as ISO again."""
    dt = parse_iso(value) or utcnow()
    return iso(dt + delta) or ""


@dataclass(frozen=True)
class Address:
    """A sender or recipient: an email address, an E.164 number, a Telegram
    user id, a Mastodon ``acct``. ``name`` is the display name, if any."""

    address: str
    name: str = ""


@dataclass
class AttachmentData:
    filename: str
    content_type: str
    data: bytes
    content_id: str = ""
    inline: bool = False
    #: A large part is not held decoded in memory: ``chunks()`` yields its
    #: content piece by piece (decoded from the raw message as it goes) and
    #: ``data`` is empty. The store streams it to its file.
    chunks: Callable[[], Iterator[bytes]] | None = None


@dataclass
class Inbound:
    """One message a channel fetched.

    For email, a channel may fill only ``raw`` (the RFC 822 bytes),
    ``received_at`` (INTERNALDATE) and ``source_ref``, with ``needs_parse``
    True: ingest parses it with ``supportctl.mail.parse``. Other channels
    fill every field themselves from the API's JSON (kept in ``raw``).
    """

    medium: str
    raw: bytes
    external_id: str = ""
    sender: Address | None = None
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    subject: str = ""
    text: str = ""
    html: str = ""
    sent_at: datetime | None = None
    received_at: datetime | None = None
    attachments: list[AttachmentData] = field(default_factory=list)
    # Threading hints: email Message-IDs (without <>), or for Mastodon the
    # status id this one answers.
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    #: Channel-specific conversation key (Telegram chat id, Mastodon
    #: conversation id); replies go back to it.
    conversation: str = ""
    #: Where the item sits in its source, for messages and quarantine
    #: (``INBOX:4711``, ``update:123``).
    source_ref: str = ""
    needs_parse: bool = False
    #: Loop/noise flags (SPEC §4): why no automatic reply may go to it.
    auto_reason: str = ""
    spam: bool = False
    #: A delivery report or complaint: the state it reports (``failed``)
    #: and the Message-IDs / external ids of the messages it reports on.
    report_state: str = ""
    report_error: str = ""
    reports_on: list[str] = field(default_factory=list)
    #: Extra channel facts kept as JSON (visibility, chat type, ...).
    meta: dict[str, object] = field(default_factory=dict)
    #: The detected language, when it was detected ahead of ingest (by the
    #: parsing pool, ``services.parsing``): ``language_ready`` says so, and
    #: ingest then does not detect it again (None stays "unsure").
    language: str | None = None
    language_ready: bool = False


@dataclass
class Batch:
    """Items from one source plus the cursor to store once they are
    committed. Ingest writes items and cursor in one transaction; a channel's
    ``fetch`` generator resumes only after that commit, so it may confirm
    the batch to its server (Telegram's next offset) when resumed."""

    source: str
    cursor: str | None
    items: list[Inbound] = field(default_factory=list)
    #: How many items this pass hands over from ``source`` in all, when the
    #: channel knows it up front (IMAP: the new UIDs of the folder); for
    #: progress displays and to decide whether parsing ahead pays.
    total: int | None = None


@dataclass
class Outbound:
    """A message to send. ``to`` is the customer's address on the medium;
    email fields (``message_id``, ``in_reply_to``, ``references``) are
    filled by the outbox service; ``reply_to_external_id`` is the customer's
    message this answers (Telegram ``reply_to_message_id``, Mastodon
    ``in_reply_to_id``). ``idempotency_key`` stays the same across retries."""

    medium: str
    to: list[Address]
    text: str
    subject: str = ""
    cc: list[Address] = field(default_factory=list)
    from_addr: Address | None = None
    reply_to: Address | None = None
    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    reply_to_external_id: str = ""
    conversation: str = ""
    attachments: list[AttachmentData] = field(default_factory=list)
    template: str = ""
    auto: bool = False
    idempotency_key: str = ""
    meta: dict[str, object] = field(default_factory=dict)


@dataclass
class SendResult:
    """What the channel reports after a send: the provider's id for the sent
    message and its state (``sent``, ``queued``, ``delivered``); ``raw`` is
    what was sent on the wire (RFC 822 bytes for email, API JSON else)."""

    external_id: str
    state: str = "sent"
    raw: bytes = b""
    error: str = ""


@dataclass
class DeliveryUpdate:
    """A later delivery state of a message we sent, keyed by its external id."""

    external_id: str
    state: str
    error: str = ""
