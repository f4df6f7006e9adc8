"""What a channel declares about itself, in one place (issue 12).

Each channel has one small declaration module in
``supportctl/channels/specs/`` holding ``CHANNEL`` (a ``ChannelSpec``, or
``CHANNELS`` for several types sharing one implementation: its
config keys and which are secret, the media it carries, where its
implementation and its demo samples are) and ``MEDIA`` (the ``Medium``s it
introduces: identity kind and address normalisation, reply window, whether
we may write first). Config validation, contacts, the outbox, auto-reply,
``new``/``reply`` and ``demo`` read these declarations and nothing else.

Adding a channel is therefore: its declaration module, its implementation
module (named in ``ChannelSpec.impl``), its loopback server and its tests.
The registry (``supportctl.channels.registry``) finds declarations by
listing ``specs/``; nothing else has to name a new channel.

Invariant: declaration modules import only the standard library and this
module, so reading every declaration costs a few milliseconds and never
loads a client library: ``list`` and ``show`` stay fast. Implementations are
named by ``"module:attribute"`` strings and imported only when used.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

#: A config key: (kind, required, default). Kinds are those of
#: ``supportctl.config._value``, plus ``secret`` (also ``x_env``/``x_cmd``)
#: and ``block:smtp``.
KeySpec = tuple[str, bool, Any]

#: The TLS keys every network channel accepts (SPEC §9).
TLS_KEYS: dict[str, KeySpec] = {
    "tls_verify": ("bool", False, True), "ca_file": ("file", False, None),
}


@dataclass(frozen=True)
class ReplyWindow:
    """A medium that takes free replies only for a while after the
    customer's last message on it (WhatsApp, Messenger, Instagram)."""

    #: Free replies within this long of the customer's last message.
    free: timedelta
    #: Plain words for the provider's rule, for refusals ("WhatsApp").
    provider: str
    #: What to do outside the window (ends the refusal message).
    outside: str
    #: A send-meta key that lifts the window altogether (WhatsApp's
    #: pre-approved template ``content_sid``).
    exempt_by: str = ""
    #: A send-meta key that extends the window to ``extended`` (Meta's
    #: HUMAN_AGENT tag, ``reply --human-agent``), and its flag's name.
    extended_by: str = ""
    extended: timedelta | None = None
    extended_flag: str = ""


@dataclass(frozen=True)
class Medium:
    """One medium a ticket, message or identity can be on (SPEC §6)."""

    name: str
    #: Sort key: media are listed in this order (help, errors).
    rank: int
    #: The identity namespace (SPEC §3): an E.164 number is one ``phone``
    #: identity whether it texts, calls or writes on WhatsApp.
    identity: str = ""
    #: Normalises an address of this medium (already stripped).
    normalise: Callable[[str], str] | None = None
    #: An address we may write to: (full-match regex, what to give instead).
    address: tuple[str, str] | None = None
    #: False for media that only log (phone, in-person, post).
    sends: bool = True
    #: Why we may not write first on it ("" when we may).
    no_first: str = ""
    #: Replies carry a subject with the ``[#id]`` token (email).
    subject: bool = False
    #: A reply on this medium goes out on that one (a contact form: email).
    answered_by: str = ""
    #: Why a reply on it cannot carry files, and what to do instead ("" when
    #: it can): checked before anything is written or queued.
    no_files: str = ""
    window: ReplyWindow | None = None
    #: ``module:function(raw, config) -> Inbound`` reading a stored original
    #: payload again (``sync --retry-quarantine``).
    stored_parser: str = ""

    @property
    def kind(self) -> str:
        return self.identity or self.name

    def normal(self, address: str) -> str:
        address = (address or "").strip()
        return self.normalise(address) if self.normalise else address

    def valid(self, address: str) -> bool:
        return self.address is None or re.fullmatch(self.address[0], address) is not None


@dataclass(frozen=True)
class Demo:
    """Bundled sample messages for ``supportctl demo``: ``sample`` under
    ``supportctl/samples/`` in the channel's own wire format, read by
    ``loader`` (``module:function(payload, config) -> list[Inbound]``, the
    channel's own pure parser); a folder of ``.eml`` files when ``loader``
    is empty."""

    account: str
    config: dict[str, Any]
    sample: str
    loader: str = ""
    own_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChannelSpec:
    """One channel ``type`` of the config's ``channels`` list."""

    type: str
    rank: int
    #: ``module:Class`` of the implementation, imported only when built.
    impl: str
    #: The media it carries (the ``--via`` choices); ``("*",)``: every
    #: medium that sends (the in-memory test channel).
    media: tuple[str, ...]
    #: Its config keys besides ``name``, ``type`` and ``signature``.
    keys: dict[str, KeySpec] = field(default_factory=dict)
    #: Secret keys that are not secret enough to warn about in clear.
    not_warned: frozenset[str] = frozenset()
    #: Shown in config errors and --help (False: the test-only memory type).
    public: bool = True
    demo: Demo | None = None
    #: Fetching the next batch changes nothing on the server (IMAP's
    #: EXAMINE and BODY.PEEK), so a sync may fetch and parse batches ahead
    #: of what it has committed (``services.parsing``).
    read_ahead: bool = False

    @property
    def secrets(self) -> list[str]:
        return [k for k, (kind, _, _) in self.keys.items() if kind == "secret"]


# -- normalisers more than one declaration shares -------------------------------


def lower(address: str) -> str:
    return address.lower()


def phone_number(address: str) -> str:
    """An E.164 number: one identity whether it texts, calls or writes on
    WhatsApp (the ``whatsapp:`` prefix is the medium, not the address)."""
    if address.lower().startswith("whatsapp:"):
        address = address[9:]
    digits = re.sub(r"[^\d+]", "", address)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    return digits or address


PHONE_ADDRESS = (r"\+[1-9]\d{6,14}", "a number in international form, e.g. +393471234567")
