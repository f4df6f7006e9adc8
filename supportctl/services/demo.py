"""``supportctl demo``: sample messages of every channel, bundled in the
package in each channel's own wire format (RFC 822 mail, Twilio's and
Telegram's and Mastodon's JSON), ingested through the real parsers and
the real ingest path."""

from __future__ import annotations

import importlib
import json
from importlib import resources
from typing import Any

from supportctl.models import Batch, Inbound
from supportctl.services import ingest, tickets
from supportctl.store.db import Store

#: (account name, channel module, config, sample file)
SOCIAL = [
    ("shop-sms", "supportctl.channels.twilio",
     {"name": "shop-sms", "type": "twilio", "account_sid": "AC" + "0" * 32, "auth_token": "demo",
      "numbers": ["+15550100000", "whatsapp:+15550100000"]},
     "twilio/messages.json"),
    ("shop-telegram", "supportctl.channels.telegram",
     {"name": "shop-telegram", "type": "telegram", "token": "demo"}, "telegram/updates.json"),
    ("shop-mastodon", "supportctl.channels.mastodon",
     {"name": "shop-mastodon", "type": "mastodon", "base_url": "https://example.social",
      "access_token": "demo"}, "mastodon/notifications.json"),
]


def _samples() -> Any:
    return resources.files("supportctl") / "samples"


def load_demo(store: Store, actor: str) -> dict[str, Any]:
    counts: dict[str, Any] = {"messages": 0, "channels": []}
    root = _samples()
    mails = sorted((p for p in (root / "email").iterdir() if p.name.endswith(".eml")),
                   key=lambda p: p.name) if (root / "email").is_dir() else []
    if mails:
        items = [Inbound(medium="email", raw=p.read_bytes(), needs_parse=True, source_ref=p.name)
                 for p in mails]
        settings = ingest.IngestSettings(account="support-mail", actor=actor,
                                         own_addresses={"support@example.com"})
        ingest.ingest_batch(store, Batch("demo", None, items), settings)
        counts["messages"] += len(items)
        counts["channels"].append("email")
    for account, module, config, sample in SOCIAL:
        path = root / sample
        if not path.is_file():
            continue
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        payload = json.loads(path.read_text(encoding="utf-8"))
        items = mod.inbound_from_json(payload, config)
        settings = ingest.IngestSettings(account=account, actor=actor)
        ingest.ingest_batch(store, Batch("demo", None, items), settings)
        counts["messages"] += len(items)
        media = sorted({i.medium for i in items})
        counts["channels"] += media
    from supportctl.models import iso, utcnow

    now = iso(utcnow()) or ""
    tid = tickets.log_ticket(
        store, medium="phone", who="+390612345678", name="Giulia Rossi",
        subject="Reso ordine 1042",
        text="Ha chiamato: vuole restituire le scarpe dell'ordine 1042, taglia sbagliata.",
        actor=actor, now=now,
    )
    tickets.add_note(store, tid, "Sent her the return label by post.", actor, now)
    # The caller is the Giulia who wrote by email: one person, one history.
    from supportctl.services import contacts

    by_mail = contacts.find(store, "email", "giulia.rossi@example.it")
    if by_mail is not None:
        contacts.link(store, by_mail, "phone", "+390612345678", actor, now)
    counts["messages"] += 1
    counts["channels"].append("phone")
    return counts
