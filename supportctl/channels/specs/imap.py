"""Email over IMAP, replies over SMTP."""

from __future__ import annotations

from supportctl.channels.spec import TLS_KEYS, ChannelSpec, Demo, Medium, lower

MEDIA = (
    Medium("email", rank=10, normalise=lower, subject=True,
           address=(r"[^@\s,;<>\"()\[\]]+@[^@\s,;<>\"()\[\]]+\.[^@\s,;<>\"()\[\].]+",
                    "one email address, e.g. ada@example.com"),
           stored_parser="supportctl.mail.parse:parse_stored"),
)

CHANNEL = ChannelSpec(
    type="imap", rank=10, impl="supportctl.channels.imap:ImapChannel", media=("email",),
    keys={
        "host": ("text", True, None), "port": ("port", False, None),
        "security": ("enum:ssl|starttls|none", False, "ssl"), **TLS_KEYS,
        "username": ("text", True, None), "password": ("secret", True, None),
        "folders": ("list", False, ["INBOX"]), "since": ("since", False, None),
        "addresses": ("emails", False, None), "smtp": ("block:smtp", False, None),
        "timeout": ("seconds", False, None),
        "forms": ("forms", False, None),  # website form mails (SPEC §12, channels/web.py)
    },
    demo=Demo(account="support-mail", config={}, sample="email",
              own_addresses=("support@example.com",)),
    read_ahead=True,
)
