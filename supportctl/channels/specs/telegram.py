"""Telegram bots (Bot API, polled with getUpdates)."""

from __future__ import annotations

from supportctl.channels.spec import TLS_KEYS, ChannelSpec, Demo, Medium

MEDIA = (
    Medium("telegram", rank=40, stored_parser="supportctl.channels.telegram:parse_stored",
           address=(r"-?\d+|@[A-Za-z]\w{4,}",
                    "a numeric Telegram chat id (the bot can only write to people who wrote "
                    "to it)")),
)

CHANNEL = ChannelSpec(
    type="telegram", rank=30, impl="supportctl.channels.telegram:TelegramChannel",
    media=("telegram",),
    keys={
        "token": ("secret", True, None),
        "api_base_url": ("url", False, "https://api.telegram.org"), **TLS_KEYS,
    },
    demo=Demo(account="shop-telegram", sample="telegram/updates.json",
              loader="supportctl.channels.telegram:inbound_from_json",
              config={"name": "shop-telegram", "type": "telegram", "token": "demo"}),
)
