"""Channel registry: ``type`` → module path, imported lazily so that heavy
client libraries (imaplib2, twilio, httpx, Mastodon.py) stay off the
start-up path of read commands."""

from __future__ import annotations

import importlib
from typing import Any

from supportctl.channels.base import Channel
from supportctl.errors import ConfigError, ParseError
from supportctl.models import Inbound

REGISTRY: dict[str, str] = {
    "memory": "supportctl.channels.memory:MemoryChannel",
    "imap": "supportctl.channels.imap:ImapChannel",
    "twilio": "supportctl.channels.twilio:TwilioChannel",
    "telegram": "supportctl.channels.telegram:TelegramChannel",
    "mastodon": "supportctl.channels.mastodon:MastodonChannel",
}

#: Which media each channel type can carry (the ``--via`` choices).
MEDIA_OF_TYPE: dict[str, tuple[str, ...]] = {
    "memory": ("email", "sms", "whatsapp", "telegram", "mastodon"),
    "imap": ("email",),
    "twilio": ("sms", "whatsapp"),
    "telegram": ("telegram",),
    "mastodon": ("mastodon",),
}


def channel_class(type_: str) -> Any:
    try:
        target = REGISTRY[type_]
    except KeyError:
        raise ConfigError(
            f"unknown channel type {type_!r}: use one of {', '.join(sorted(REGISTRY))}"
        ) from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def build(config: dict[str, Any]) -> Channel:
    """Build a channel from its resolved config entry."""
    return channel_class(config["type"])(config)  # type: ignore[no-any-return]


#: Each medium's parser of a stored original payload (RFC 822 bytes, the
#: API's JSON): pure, no network. ``sync --retry-quarantine`` reads a
#: quarantined item again through the parser of the medium it came on.
STORED_PARSERS: dict[str, str] = {
    "email": "supportctl.mail.parse:parse_stored",
    "sms": "supportctl.channels.twilio:parse_stored",
    "whatsapp": "supportctl.channels.twilio:parse_stored",
    "telegram": "supportctl.channels.telegram:parse_stored",
    "mastodon": "supportctl.channels.mastodon:parse_stored",
    "web": "supportctl.channels.web:parse_stored",
}


def parse_stored(medium: str, raw: bytes, config: dict[str, Any] | None = None) -> Inbound:
    """The ``Inbound`` of a payload stored for ``medium``; ``config`` is the
    channel entry it came through, when it is still configured. Raises
    ``ParseError`` when the payload is not one of that medium's messages."""
    target = STORED_PARSERS.get(medium)
    if target is None:
        raise ParseError(f"no parser for medium {medium!r}")
    module, _, fn = target.partition(":")
    item: Inbound = getattr(importlib.import_module(module), fn)(raw, config or {})
    return item
