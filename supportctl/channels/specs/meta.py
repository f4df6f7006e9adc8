"""Facebook Messenger and Instagram Direct (Meta Graph API, polled; SPEC §12).

Two channel types share one implementation (``supportctl.channels.meta``):
``messenger`` reads a Page's conversations, ``instagram`` an Instagram
professional account's. Meta lets a business answer freely for 24 hours
after the customer's last message; a person's answer may go with the
HUMAN_AGENT tag (``reply --human-agent``) up to 7 days; never after, and
never first."""

from __future__ import annotations

from datetime import timedelta

from supportctl.channels.spec import TLS_KEYS, ChannelSpec, Demo, KeySpec, Medium, ReplyWindow

_PARSER = "supportctl.channels.meta:parse_stored"
_LOADER = "supportctl.channels.meta:inbound_from_json"


def _window(provider: str) -> ReplyWindow:
    return ReplyWindow(
        free=timedelta(hours=24), provider=provider,
        # Empty: the refusal names the contact's other channels instead.
        outside="",
        extended_by="human_agent", extended=timedelta(days=7), extended_flag="--human-agent",
    )


def _first(provider: str) -> str:
    return (f"{provider} only lets a business answer people who wrote to it first: "
            "wait for the customer to write, or start the ticket on another channel")


MEDIA = (
    Medium("messenger", rank=60, stored_parser=_PARSER, window=_window("Messenger"),
           no_first=_first("Messenger"),
           address=(r"\d+", "the customer's page-scoped id (PSID), from one of their messages")),
    Medium("instagram", rank=70, stored_parser=_PARSER, window=_window("Instagram"),
           no_first=_first("Instagram"),
           no_files=("Instagram takes files only from public URLs, so Instagram replies carry "
                     "text only here: send the text alone, or the file by another channel"),
           address=(r"\d+", "the customer's Instagram-scoped id (IGSID), from one of their "
                            "messages")),
)


def _keys(id_key: str) -> dict[str, KeySpec]:
    return {
        id_key: ("text", True, None), "access_token": ("secret", True, None),
        "api_base_url": ("url", False, "https://graph.facebook.com"),
        "api_version": ("text", False, "v21.0"), "since": ("since", False, None), **TLS_KEYS,
    }


CHANNEL_MESSENGER = ChannelSpec(
    type="messenger", rank=50, impl="supportctl.channels.meta:MessengerChannel",
    media=("messenger",), keys=_keys("page_id"),
    demo=Demo(account="shop-facebook", sample="meta/messenger.json", loader=_LOADER,
              config={"name": "shop-facebook", "type": "messenger", "page_id": "1029384756",
                      "access_token": "demo"}),
)
CHANNEL_INSTAGRAM = ChannelSpec(
    type="instagram", rank=60, impl="supportctl.channels.meta:InstagramChannel",
    media=("instagram",), keys=_keys("account_id"),
    demo=Demo(account="shop-instagram", sample="meta/instagram.json", loader=_LOADER,
              config={"name": "shop-instagram", "type": "instagram",
                      "account_id": "17841400000000001", "access_token": "demo"}),
)
CHANNELS = (CHANNEL_MESSENGER, CHANNEL_INSTAGRAM)
