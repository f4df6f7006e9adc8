"""SMS and WhatsApp through Twilio."""

from __future__ import annotations

from datetime import timedelta

from supportctl.channels.spec import (
    PHONE_ADDRESS,
    TLS_KEYS,
    ChannelSpec,
    Demo,
    Medium,
    ReplyWindow,
    phone_number,
)

_PARSER = "supportctl.channels.twilio:parse_stored"
_NO_FILES = ("Twilio takes files only from public URLs, so {} replies carry text only here: "
             "send the text alone, or the file by email (reply --via email)")

MEDIA = (
    Medium("sms", rank=20, identity="phone", normalise=phone_number, address=PHONE_ADDRESS,
           stored_parser=_PARSER, no_files=_NO_FILES.format("SMS")),
    Medium("whatsapp", rank=30, identity="phone", normalise=phone_number, address=PHONE_ADDRESS,
           stored_parser=_PARSER, no_files=_NO_FILES.format("WhatsApp"),
           no_first=("WhatsApp only lets a business write first with a pre-approved template: "
                     "use `supportctl new --channel sms`, or wait for the customer to write"),
           window=ReplyWindow(
               free=timedelta(hours=24), provider="WhatsApp",
               outside=("so WhatsApp only accepts a pre-approved template: use --template NAME "
                        "(a template with content_sid) or reply --via sms"),
               exempt_by="content_sid")),
)

CHANNEL = ChannelSpec(
    type="twilio", rank=20, impl="supportctl.channels.twilio:TwilioChannel",
    media=("sms", "whatsapp"),
    keys={
        "account_sid": ("secret", True, None), "auth_token": ("secret", True, None),
        "numbers": ("numbers", True, None),
        "api_base_url": ("url", False, "https://api.twilio.com"), **TLS_KEYS,
    },
    not_warned=frozenset({"account_sid"}),
    demo=Demo(account="shop-sms", sample="twilio/messages.json",
              loader="supportctl.channels.twilio:inbound_from_json",
              config={"name": "shop-sms", "type": "twilio", "account_sid": "AC" + "0" * 32,
                      "auth_token": "demo", "numbers": ["+15550100000", "whatsapp:+15550100000"]}),
)
