"""What the channels and ingest exchange. No I/O, no imports of ours but
``values``.

Channels produce ``Inbound`` items in ``Batch``es and consume ``Outbound``;
the ingest service turns ``Inbound`` into stored messages. Times are aware
``datetime`` objects in UTC. Statuses, priorities and the clock live in
``supportctl.values``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime


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
