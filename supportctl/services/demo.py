"""``supportctl demo``: sample messages of every channel, bundled in the
package in each channel's own wire format (RFC 822 mail, Twilio's,
Telegram's, Mastodon's and the Graph API's JSON), ingested through the real
parsers and the real ingest path. Which samples, and which parser reads
them, each channel's declaration says (``ChannelSpec.demo``)."""

from __future__ import annotations

import importlib
import json
from importlib import resources
from typing import Any

from supportctl.models import Batch, Inbound
from supportctl.services import ingest, tickets
from supportctl.store.db import Store


def _samples() -> Any:
    return resources.files("supportctl") / "samples"


def load_demo(store: Store, actor: str) -> dict[str, Any]:
    counts: dict[str, Any] = {"messages": 0, "channels": []}
    root = _samples()
    from supportctl.channels import channel_specs

    # Each channel's declaration names its samples and its own pure parser.
    for spec in channel_specs().values():
        demo = spec.demo
        if demo is None:
            continue
        path = root / demo.sample
        if not demo.loader:  # a folder of RFC 822 files, parsed by ingest
            mails = sorted((p for p in path.iterdir() if p.name.endswith(".eml")),
                           key=lambda p: p.name) if path.is_dir() else []
            items = [Inbound(medium=spec.media[0], raw=p.read_bytes(), needs_parse=True,
                             source_ref=p.name) for p in mails]
        else:
            if not path.is_file():
                continue
            module, _, fn = demo.loader.partition(":")
            try:
                loader = getattr(importlib.import_module(module), fn)
            except ImportError:
                continue
            items = loader(json.loads(path.read_text(encoding="utf-8")), demo.config)
        if not items:
            continue
        settings = ingest.IngestSettings(account=demo.account, actor=actor,
                                         own_addresses=set(demo.own_addresses))
        ingest.ingest_batch(store, Batch("demo", None, items), settings)
        counts["messages"] += len(items)
        counts["channels"] += sorted({i.medium for i in items})
    from supportctl.values import iso, utcnow

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
