"""Channel registry: ``type`` → module path, imported lazily so that heavy
client libraries (imaplib2, twilio, httpx, Mastodon.py) stay off the
start-up path of read commands."""

from __future__ import annotations

import importlib
from typing import Any

from supportctl.channels.base import Channel
from supportctl.errors import ConfigError

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
