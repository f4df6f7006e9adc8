"""Mastodon direct messages and mentions."""

from __future__ import annotations

from supportctl.channels.spec import TLS_KEYS, ChannelSpec, Demo, Medium


def _account(address: str) -> str:
    return address.lstrip("@").lower()


MEDIA = (
    Medium("mastodon", rank=50, normalise=_account,
           stored_parser="supportctl.channels.mastodon:parse_stored",
           no_files=("Mastodon replies carry text only here: send the file by another "
                     "channel, or a link to it"),
           address=(r"[A-Za-z0-9_]+(@[A-Za-z0-9.-]+\.[A-Za-z]+)?",
                    "an account, e.g. ada@mastodon.social")),
)

CHANNEL = ChannelSpec(
    type="mastodon", rank=40, impl="supportctl.channels.mastodon:MastodonChannel",
    media=("mastodon",),
    keys={
        "base_url": ("url", True, None), "access_token": ("secret", True, None),
        "since": ("since", False, None), **TLS_KEYS,
    },
    demo=Demo(account="shop-mastodon", sample="mastodon/notifications.json",
              loader="supportctl.channels.mastodon:inbound_from_json",
              config={"name": "shop-mastodon", "type": "mastodon",
                      "base_url": "https://example.social", "access_token": "demo"}),
)
