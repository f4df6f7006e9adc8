"""Rules on new tickets: when every listed condition matches (a
case-insensitive substring of the channel, account, sender, recipients,
subject or text), tag, assign, prioritise or set the status. Rules run in
order, inside the ingest transaction, and each change is an event whose
actor is the rule."""

from __future__ import annotations

from typing import Any

from supportctl.models import Inbound
from supportctl.services import triage
from supportctl.store.db import Store


def _field(item: Inbound, account: str, key: str) -> str:
    if key == "channel":
        return item.medium
    if key == "account":
        return account
    if key == "from":
        return f"{item.sender.name} <{item.sender.address}>" if item.sender else ""
    if key == "to":
        return " ".join(f"{a.name} <{a.address}>" for a in [*item.to, *item.cc])
    if key == "subject":
        return item.subject
    if key == "text":
        return item.text
    return ""


def matches(rule: Any, item: Inbound, account: str) -> bool:
    return all(want.lower() in _field(item, account, key).lower() for key, want in rule.match.items())


def apply_rules(store: Store, ticket_id: int, item: Inbound, settings: Any, now: str) -> None:
    for rule in settings.config.rules:
        if not matches(rule, item, settings.account):
            continue
        actor = f"rule:{rule.name}"
        if rule.tag:
            triage.tag(store, ticket_id, list(rule.tag), actor, now)
        if rule.assign:
            triage.assign(store, ticket_id, rule.assign, actor, now)
        if rule.priority:
            triage.priority(store, ticket_id, rule.priority, actor, now)
        if rule.status:
            triage.set_status(store, ticket_id, rule.status, actor, now)
