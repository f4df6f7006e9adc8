"""Channel registry: the declarations in ``specs/`` (see
``supportctl.channels.spec``), read once and cheaply, and each ``type``'s
implementation imported lazily so that heavy client libraries (imaplib2,
twilio, httpx, Mastodon.py) stay off the start-up path of read commands."""

from __future__ import annotations

import importlib
import os
from functools import cache
from typing import Any

from supportctl.channels.base import Channel
from supportctl.channels.spec import ChannelSpec, Medium
from supportctl.errors import ConfigError, ParseError
from supportctl.models import Inbound


@cache
def _declarations() -> tuple[dict[str, ChannelSpec], dict[str, Medium]]:
    # Listing the folder (not pkgutil, which costs more than every
    # declaration together) finds a new channel's declaration by itself.
    folder = os.path.join(os.path.dirname(__file__), "specs")
    specs: list[ChannelSpec] = []
    media: list[Medium] = []
    for entry in sorted(os.listdir(folder)):
        if not entry.endswith(".py") or entry.startswith("_"):
            continue
        mod = importlib.import_module(f"supportctl.channels.specs.{entry[:-3]}")
        if getattr(mod, "CHANNEL", None) is not None:
            specs.append(mod.CHANNEL)
        specs += list(getattr(mod, "CHANNELS", ()))
        media += list(getattr(mod, "MEDIA", ()))
    specs.sort(key=lambda s: (s.rank, s.type))
    media.sort(key=lambda m: (m.rank, m.name))
    return {s.type: s for s in specs}, {m.name: m for m in media}


def channel_specs() -> dict[str, ChannelSpec]:
    """Every channel type's declaration, in rank order."""
    return _declarations()[0]


def media() -> dict[str, Medium]:
    """Every medium's declaration, in rank order."""
    return _declarations()[1]


def medium(name: str) -> Medium:
    """The declaration of ``name``; an unknown medium (an old store's, an
    import's) is its own identity kind and is normalised only by trimming."""
    return media().get(name) or Medium(name, rank=10_000)


def media_names() -> tuple[str, ...]:
    """The media of SPEC §6, in rank order."""
    return tuple(media())


def log_media() -> tuple[str, ...]:
    """Media that only log (nothing is sent)."""
    return tuple(m.name for m in media().values() if not m.sends)


def identity_kind(name: str) -> str:
    """The identity namespace of a medium (SPEC §3)."""
    return medium(name).kind


def reply_medium(name: str) -> str:
    """The medium a reply on ``name`` goes out on (a contact form is
    answered by email: its declaration's ``answered_by``)."""
    return medium(name).answered_by or name


def reads_ahead(type_: str) -> bool:
    """Whether a sync may fetch and parse a channel type's batches ahead
    of what it has committed (its declaration's ``read_ahead``)."""
    spec = channel_specs().get(type_)
    return spec is not None and spec.read_ahead


def media_of_type(type_: str) -> tuple[str, ...]:
    """Which media a channel type can carry (the ``--via`` choices)."""
    spec = channel_specs().get(type_)
    if spec is None:
        return ()
    if spec.media == ("*",):
        return tuple(m.name for m in media().values() if m.sends)
    return spec.media


def _target(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def channel_class(type_: str) -> Any:
    spec = channel_specs().get(type_)
    if spec is None:
        raise ConfigError(
            f"unknown channel type {type_!r}: use one of {', '.join(sorted(channel_specs()))}"
        )
    return _target(spec.impl)


def build(config: dict[str, Any]) -> Channel:
    """Build a channel from its resolved config entry."""
    return channel_class(config["type"])(config)  # type: ignore[no-any-return]


def parse_stored(medium_name: str, raw: bytes, config: dict[str, Any] | None = None) -> Inbound:
    """The ``Inbound`` of a payload stored for ``medium_name``; ``config`` is
    the channel entry it came through, when it is still configured. Each
    medium's parser of a stored original payload (RFC 822 bytes, the API's
    JSON) is pure, no network: ``sync --retry-quarantine`` reads a
    quarantined item again through it. Raises ``ParseError`` when the
    payload is not one of that medium's messages."""
    target = medium(medium_name).stored_parser
    if not target:
        raise ParseError(f"no parser for medium {medium_name!r}")
    item: Inbound = _target(target)(raw, config or {})
    return item
