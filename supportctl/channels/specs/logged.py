"""Media an agent only logs (a call, a visit, a letter): nothing is sent."""

from __future__ import annotations

from supportctl.channels.spec import Medium, phone_number


def _name(address: str) -> str:
    return " ".join(address.split())


MEDIA = (
    # A number someone called from is one identity with their texts.
    Medium("phone", rank=100, identity="phone", normalise=phone_number, sends=False),
    Medium("in-person", rank=110, identity="name", normalise=_name, sends=False),
    Medium("post", rank=120, identity="name", normalise=_name, sends=False),
)

CHANNEL = None
