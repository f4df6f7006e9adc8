"""The outbox: nothing an agent writes is lost (SPEC §2, §9).

Contract:
- ``queue_reply`` writes the outgoing message and its outbox entry, in the
  same transaction as the ticket change (status, first response, event),
  BEFORE anything goes on the wire.
- ``send_entry`` then sends it. Success stores the provider's id and state.
  A failure leaves the entry ``failed`` (the send surely did not happen) or
  ``unknown`` (it may have: never resent without a person saying so), with
  its error; temporary failures get ``next_attempt_at`` with backoff.
- A retry reuses the same payload, so an email keeps its Message-ID and a
  Mastodon post its Idempotency-Key.
- ``retry_due`` (run by ``sync``) resends failed, temporary entries at most
  ``max_attempts`` times; ``refresh`` asks the channel for later states.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from supportctl.channels import identity_kind, reply_medium
from supportctl.channels import medium as channel_medium
from supportctl.channels.base import Channel
from supportctl.errors import ChannelError, NotFound, SendRefused, UsageError
from supportctl.models import Address, AttachmentData, Inbound, Outbound
from supportctl.services import ingest, triage
from supportctl.store import messages as message_repo
from supportctl.store import outbox as repo
from supportctl.store.db import Store
from supportctl.store.workflows import last_inbound_at
from supportctl.values import iso, parse_iso, utcnow

#: Only a reply in one of these states is a first response (SLA): queued,
#: failed or unknown ones may never have reached the customer.
FIRST_RESPONSE_STATES = ("sent", "delivered")


def _domain(address: str) -> str:
    return address.rpartition("@")[2] or "supportctl.invalid"


def reply_subject(own: str | None, ticket_subject: str, ticket_id: int) -> str:
    """An email reply's subject: a template's own ``subject`` (with the
    ticket's ``[#N]`` token, SPEC §3), else "Re: " and the ticket's."""
    if own and own.strip():
        base = ingest.TOKEN.sub("", own).strip()
        return f"{base} [#{ticket_id}]"
    return _reply_subject(ticket_subject, ticket_id)


def _reply_subject(subject: str, ticket_id: int) -> str:
    base = ingest.TOKEN.sub("", subject or "").strip()
    if not base.lower().startswith(("re:", "aw:", "sv:")):
        base = f"Re: {base}" if base else "Re:"
    return f"{base} [#{ticket_id}]"


def account_addresses(account: dict[str, Any]) -> set[str]:
    """The addresses a channel entry sends and receives as (ours)."""
    from email.utils import parseaddr

    smtp = account.get("smtp") or {}
    found = [*(account.get("addresses") or []), smtp.get("from"), smtp.get("reply_to")]
    if "@" in str(account.get("username") or ""):
        found.append(account["username"])
    return {parseaddr(str(a))[1].lower() for a in found if a and parseaddr(str(a))[1]}


def recipients(store: Store, ticket_id: int, medium: str,
               own: set[str] | None = None) -> tuple[list[Address], Any]:
    """Who a reply on ``medium`` goes to (Reply-To first, as a mail
    client answers; never one of ``own``), and the customer's last message
    on that medium (for threading), if any."""
    from supportctl.mail.loops import is_own_address
    from supportctl.store.read import answer_to

    found, last = answer_to(store, ticket_id, medium, identity_kind(medium))
    if not found:
        raise UsageError(
            f"ticket {ticket_id}'s contact has no {medium} address: "
            f"add one with `supportctl contact link` or reply --via another channel"
        )
    to = [Address(a["address"], a["name"]) for a in found
          if medium != "email" or not is_own_address(a["address"], own or set())]
    if not to:
        raise UsageError(
            f"ticket {ticket_id}: the answer would go to our own address "
            f"{found[0]['address']}: reply --via another channel, or start a new ticket "
            "with `supportctl new` to the customer"
        )
    return to, last


def recipient(store: Store, ticket_id: int, medium: str,
              own: set[str] | None = None) -> tuple[Address, Any]:
    """The first of ``recipients``."""
    to, last = recipients(store, ticket_id, medium, own)
    return to[0], last


def reply_all_cc(last: Any, to: list[Address], own: set[str]) -> list[Address]:
    """The others on the customer's last email (its To and Cc), as a mail
    client's reply-all keeps them: never one of ``own`` nor the recipients
    already in ``to``, each once."""
    from supportctl.mail.loops import is_own_address

    if last is None:
        return []
    seen = {a.address.lower() for a in to}
    out: list[Address] = []
    for column in ("to_json", "cc_json"):
        for a in json.loads(last[column] or "[]"):
            addr = str(a.get("address") or "")
            if "@" not in addr or addr.lower() in seen or is_own_address(addr, own):
                continue
            seen.add(addr.lower())
            out.append(Address(addr, str(a.get("name") or "")))
    return out


def reply_window(store: Store, ticket_id: int, medium: str,
                 meta: dict[str, Any] | None = None) -> None:
    """A medium whose declaration has a ``ReplyWindow`` (WhatsApp, Messenger,
    Instagram) takes free replies only so long after the customer's last
    message on it; a send-meta flag may lift the window (WhatsApp's
    pre-approved template) or extend it (Meta's HUMAN_AGENT tag). Say which
    reason stops a reply and what to do instead."""
    window = channel_medium(medium).window
    meta = meta or {}
    if window is None or (window.exempt_by and meta.get(window.exempt_by)):
        return
    extended = bool(window.extended_by and meta.get(window.extended_by))
    limit = window.extended if extended and window.extended else window.free
    last_in = last_inbound_at(store, ticket_id, medium)
    fix = window.outside or _other_channels(store, ticket_id, medium)
    if not last_in:
        raise SendRefused(f"ticket {ticket_id}: the customer never wrote on {window.provider}, "
                          f"{fix}")
    ago = utcnow() - parse_iso(last_in)  # type: ignore[operator]
    if ago > limit:
        hours = int(ago.total_seconds() // 3600)
        when = f"{hours} hours ago" if hours < 48 else f"{hours // 24} days ago"
        span = _span(limit)
        if window.extended_by and not extended and window.extended and ago <= window.extended:
            fix = (f"so {window.provider} takes it only as a person's answer: add "
                   f"{window.extended_flag} (up to {_span(window.extended)}), or {fix}")
        raise SendRefused(
            f"ticket {ticket_id}: the customer last wrote on {window.provider} {when} "
            f"(over {span}), {fix}"
        )


def _other_channels(store: Store, ticket_id: int, medium: str) -> str:
    """The suggestion after a closed window: the contact's other media."""
    from supportctl.channels import media

    have = repo.contact_media(store, ticket_id)
    other = [m.name for m in media().values()
             if m.name in have and m.name != medium and m.sends and m.window is None]
    if other:
        return (f"so answer by another channel of this contact: reply --via {other[0]}"
                + (f" (they also have {', '.join(other[1:])})" if other[1:] else ""))
    return ("and the contact has no other channel: add one with `supportctl contact link` "
            "and reply --via it")


def whatsapp_window(store: Store, ticket_id: int) -> None:
    """WhatsApp's 24-hour window (kept for callers of the old name)."""
    reply_window(store, ticket_id, "whatsapp")


def check_files(medium: str, attachments: list[Path] | None) -> None:
    """Refuse files on a medium whose replies cannot carry them (its
    declaration says why and what to do), before anything is written."""
    why = channel_medium(medium).no_files if attachments else ""
    if why:
        raise UsageError(why)


def _span(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours} hours" if hours < 48 else f"{hours // 24} days"


def plan_reply(store: Store, ticket_id: int, *, medium: str, account: dict[str, Any],
               cc: list[str] | None = None, keep_cc: bool = False,
               meta: dict[str, Any] | None = None, to: Address | None = None,
               own_addresses: set[str] | None = None) -> tuple[list[Address], list[Address], Any]:
    """Every check a send makes before anything is written, and where the
    reply goes: (to, cc, the customer's last message). ``reply --dry-run``
    shows exactly this; ``queue_reply`` uses it, so the two cannot differ."""
    medium = reply_medium(medium)  # a contact form is answered by email
    triage.require(store, ticket_id)
    own = set(own_addresses or ()) | account_addresses(account)
    if to is None:
        to_list, last = recipients(store, ticket_id, medium, own)
    else:
        to_list, last = [to], None
    reply_window(store, ticket_id, medium, meta)
    if not channel_medium(medium).subject:
        if cc:
            raise UsageError("--cc only applies to email replies")
        return to_list, [], last
    extra = [_cc_address(c) for c in cc or []]
    kept = reply_all_cc(last, [*to_list, *extra], own) if keep_cc else []
    return to_list, [*kept, *extra], last


def _cc_address(text: str) -> Address:
    """A ``--cc`` value the mail will take (the check the send makes):
    refused before anything is written, never a reply that cannot go."""
    from supportctl.mail.compose import to_header_address

    address = Address(text)
    try:
        to_header_address(address)
    except ValueError as exc:
        from supportctl.safe import one_line

        raise UsageError(f"--cc {one_line(text, 60)!r}: {exc}: give one address such as "
                         "ada@example.com") from None
    return address


def queue_reply(
    store: Store,
    ticket_id: int,
    *,
    text: str,
    medium: str,
    account: dict[str, Any],
    actor: str,
    cc: list[str] | None = None,
    attachments: list[Path] | None = None,
    status: str | None = None,
    template: str = "",
    meta: dict[str, Any] | None = None,
    auto: bool = False,
    to: Address | None = None,
    subject: str | None = None,
    own_addresses: set[str] | None = None,
    keep_cc: bool = False,
) -> int:
    """Write the reply and its outbox entry; returns the outbox id.
    ``keep_cc``: an email reply keeps the others on the customer's last
    message (reply-all, minus our own addresses)."""
    medium = reply_medium(medium)  # a contact form is answered by email
    check_files(medium, attachments)
    now = iso(utcnow()) or ""
    meta = dict(meta or {})
    # A template's own subject (templates.render_template puts it in meta).
    template_subject = meta.pop("subject", None)
    files: list[AttachmentData] = []
    for path in attachments or []:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read attachment {path}: {exc.strerror}") from None
        import mimetypes

        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        files.append(AttachmentData(filename=path.name, content_type=ctype, data=data))
    with store.tx():
        t = triage.require(store, ticket_id)
        to_list, cc_list, last = plan_reply(
            store, ticket_id, medium=medium, account=account, cc=cc, keep_cc=keep_cc, meta=meta,
            to=to, own_addresses=own_addresses)
        out = Outbound(medium=medium, to=to_list, text=text, template=template, auto=auto,
                       meta=dict(meta or {}))
        out.idempotency_key = uuid.uuid4().hex
        out.attachments = files
        if last is not None:
            out.conversation = last["conversation"] or ""
            out.reply_to_external_id = last["external_id"] or ""
            if last["meta"]:
                lm = json.loads(last["meta"])
                if "visibility" in lm and "visibility" not in out.meta:
                    out.meta["visibility"] = lm["visibility"]
        out.conversation = out.conversation or (t["conversation"] or "")
        external_id = None
        if medium == "email":
            smtp = account.get("smtp") or {}
            sender = smtp.get("from") or (account.get("addresses") or [account.get("username", "")])[0]
            out.from_addr = Address(sender)
            if smtp.get("reply_to"):
                out.reply_to = Address(smtp["reply_to"])
            out.subject = subject or reply_subject(template_subject, t["subject"], ticket_id)
            out.cc = cc_list
            out.message_id = f"{uuid.uuid4().hex}.t{ticket_id}@{_domain(sender)}"
            external_id = out.message_id
            refs = _references(store, ticket_id, last)
            out.in_reply_to = refs[-1] if refs else ""
            out.references = refs
        msg = Inbound(medium=medium, raw=b"", sender=out.from_addr, to=out.to, cc=out.cc,
                      subject=out.subject, text=text, attachments=files,
                      in_reply_to=out.in_reply_to, references=out.references,
                      conversation=out.conversation, meta={"auto": True} if auto else {})
        message_id = ingest.insert_message(
            store, ticket_id, msg, direction="out", account=account.get("name"),
            external_id=external_id, sent_at=now, now=now, author=actor,
            delivery=("queued", ""),
        )
        ingest.bump_ticket(store, ticket_id, now, inbound=False, now=now)
        payload = asdict(out)
        payload["attachments"] = [
            {"filename": a.filename, "content_type": a.content_type,
             "sha256": store.put_file(a.data)} for a in files
        ]
        outbox_id = repo.add(
            store,
            {"message_id": message_id, "ticket_id": ticket_id, "channel": medium,
             "account": account.get("name"), "state": "queued", "attempts": 0,
             "payload": json.dumps(payload, ensure_ascii=False), "created_at": now,
             "updated_at": now},
        )
        if not auto:
            triage.on_agent_reply(store, ticket_id, actor, now, status)
        store.event(actor, "auto_reply" if auto else "reply", now, ticket_id=ticket_id,
                    contact_id=t["contact_id"], message_id=message_id, outbox_id=outbox_id,
                    channel=medium, account=account.get("name"))
    return outbox_id


def _references(store: Store, ticket_id: int, last: Any) -> list[str]:
    """References for an email reply: the customer's chain plus the
    message we answer (RFC 5322 §3.6.4), bounded as mail clients do."""
    if last is None:
        last = message_repo.last_threadable_email(store, ticket_id)
    if last is None:
        return []
    refs = (last["refs"] or "").split()
    if last["external_id"] and not last["external_id"].startswith("sha256:"):
        refs.append(last["external_id"])
    return refs[-20:]


def _load(store: Store, outbox_id: int) -> tuple[Any, Outbound]:
    row = repo.get(store, outbox_id)
    if row is None:
        raise NotFound(f"no outbox entry {outbox_id}: see `supportctl outbox`")
    p = json.loads(row["payload"])
    out = Outbound(
        medium=p["medium"], to=[Address(**a) for a in p["to"]], text=p["text"],
        subject=p.get("subject", ""), cc=[Address(**a) for a in p.get("cc", [])],
        from_addr=Address(**p["from_addr"]) if p.get("from_addr") else None,
        reply_to=Address(**p["reply_to"]) if p.get("reply_to") else None,
        message_id=p.get("message_id", ""), in_reply_to=p.get("in_reply_to", ""),
        references=p.get("references", []), reply_to_external_id=p.get("reply_to_external_id", ""),
        conversation=p.get("conversation", ""), template=p.get("template", ""),
        auto=p.get("auto", False), idempotency_key=p.get("idempotency_key", ""),
        meta=p.get("meta", {}),
    )
    out.attachments = [
        AttachmentData(a["filename"], a["content_type"], store.read_file(a["sha256"]))
        for a in p.get("attachments", [])
    ]
    return row, out


INTERRUPTED = ("the send was interrupted: it may or may not have reached the customer; "
               "check, then `supportctl outbox retry` or `cancel`")


def send_entry(store: Store, outbox_id: int, channel: Channel, *, max_attempts: int = 5) -> str:
    """Send one entry; returns its new state. Never raises for a channel
    failure: the state and error are stored instead."""
    row, out = _load(store, outbox_id)
    if row["state"] not in ("queued", "failed"):
        return str(row["state"])
    now = iso(utcnow()) or ""
    # Claim the entry as "unknown" and commit BEFORE anything goes on the
    # wire: if this process dies mid-send (kill -9, Ctrl-C, power), the
    # entry is never resent blindly by a later sync (SPEC §2), and a second
    # process cannot claim it too.
    with store.tx():
        claimed = repo.claim_for_send(store, outbox_id, INTERRUPTED, now)
        if claimed:
            message_repo.set_delivery(store, row["message_id"], {
                "delivery_state": "unknown", "delivery_error": INTERRUPTED})
    if not claimed:
        return str(repo.state(store, outbox_id))
    try:
        result = channel.send(out)
    except ChannelError as exc:
        state = "unknown" if exc.unknown_outcome else "failed"
        _record_failure(store, row, state, str(exc),
                        exc.temporary and not exc.unknown_outcome, max_attempts, now)
        return state
    with store.tx():
        repo.update(store, outbox_id, {
            "state": result.state, "error": result.error or None, "attempts": row["attempts"] + 1,
            "updated_at": now, "next_attempt_at": None, "temporary": 0})
        fields: dict[str, Any] = {"delivery_state": result.state,
                                  "delivery_error": result.error or None}
        if result.external_id and out.medium != "email":
            fields["external_id"] = result.external_id
        message_repo.set_delivery(store, row["message_id"], fields)
        if result.raw:
            message_repo.keep_original(store, row["message_id"], result.raw)
        store.event("outbox", "sent", now, ticket_id=row["ticket_id"], outbox_id=outbox_id,
                    state=result.state)
        if result.state in FIRST_RESPONSE_STATES and not out.auto:
            triage.on_reply_sent(store, row["ticket_id"], now)
    return result.state


def _record_failure(store: Store, row: Any, state: str, error: str, temporary: bool,
                    max_attempts: int, now: str) -> None:
    """A send that did not happen (``failed``) or may have (``unknown``):
    the entry and its message say why; a temporary failure is retried by
    ``sync`` with backoff."""
    from supportctl.safe import one_line

    attempts = row["attempts"] + 1
    delay = timedelta(minutes=min(2 ** attempts, 240))
    retry = temporary and attempts < max_attempts
    error = one_line(error, 300)
    with store.tx():
        repo.update(store, row["id"], {
            "state": state, "error": error, "temporary": int(retry),
            "attempts": attempts, "updated_at": now,
            "next_attempt_at": iso(utcnow() + delay) if retry else None,
        })
        message_repo.set_delivery(store, row["message_id"], {
            "delivery_state": state, "delivery_error": error})
        store.event("outbox", "send_failed", now, ticket_id=row["ticket_id"],
                    outbox_id=row["id"], state=state, error=error)


def channel_unavailable(store: Store, outbox_id: int, error: str, *, max_attempts: int = 5) -> str:
    """The entry's channel could not be set up (a secret that cannot be
    read here, say): nothing went on the wire. The entry is ``failed``
    with that error, and ``sync`` retries it as a temporary failure (cron
    may have the secret this shell lacks). Returns the new state."""
    row = repo.get(store, outbox_id)
    if row is None or row["state"] != "queued":
        return str(row["state"]) if row else "failed"
    _record_failure(store, row, "failed", error, True, max_attempts, iso(utcnow()) or "")
    return "failed"


def _open_entry(store: Store, outbox_id: int, what: str) -> Any:
    """An entry a person may still act on (queued, failed or unknown)."""
    row = repo.get(store, outbox_id)
    if row is None:
        raise NotFound(f"no outbox entry {outbox_id}: see `supportctl outbox`")
    if row["state"] not in ("failed", "unknown", "queued"):
        raise UsageError(f"outbox entry {outbox_id} is {row['state']}: {what}")
    return row


def retry_entry(store: Store, outbox_id: int, channel: Channel, actor: str) -> str:
    """A person asked to resend (also for ``unknown`` entries)."""
    row = _open_entry(store, outbox_id, "nothing to retry")
    now = iso(utcnow()) or ""
    with store.tx():
        repo.update(store, outbox_id, {"state": "queued", "updated_at": now})
        store.event(actor, "outbox_retry", now, ticket_id=row["ticket_id"], outbox_id=outbox_id)
    return send_entry(store, outbox_id, channel)


def cancel_entry(store: Store, outbox_id: int, actor: str) -> None:
    row = _open_entry(store, outbox_id, "it cannot be cancelled")
    now = iso(utcnow()) or ""
    with store.tx():
        repo.update(store, outbox_id, {"state": "cancelled", "updated_at": now})
        message_repo.set_delivery(store, row["message_id"], {"delivery_state": "failed",
                                                     "delivery_error": "cancelled"})
        store.event(actor, "outbox_cancel", now, ticket_id=row["ticket_id"], outbox_id=outbox_id)


def due_entries(store: Store, account: str, max_attempts: int) -> list[int]:
    """Failed temporary entries whose backoff is over, and entries queued
    but never handed to the channel for 5 minutes (their command died).
    A ``queued`` entry with attempts was accepted by the provider (Twilio
    answers "queued"): resending it would send it twice."""
    now = iso(utcnow()) or ""
    return repo.due(store, account, max_attempts, now, iso(utcnow() - timedelta(minutes=5)) or "")


def refresh(store: Store, account: str, channel: Channel) -> int:
    """Ask the channel for later delivery states of recent sends."""
    cutoff = iso(utcnow() - timedelta(days=3))
    rows = repo.recent_sends(store, account, cutoff or "")
    if not rows:
        return 0
    updates = {u.external_id: u for u in channel.refresh([r["external_id"] for r in rows])}
    now = iso(utcnow()) or ""
    changed = 0
    with store.tx():
        for r in rows:
            u = updates.get(r["external_id"])
            if u is None:
                continue
            repo.update(store, r["id"], {"state": u.state, "error": u.error or None,
                                             "updated_at": now})
            message_repo.set_delivery(store, r["message_id"], {"delivery_state": u.state,
                                                       "delivery_error": u.error or None})
            if u.state in FIRST_RESPONSE_STATES and not r["auto"]:
                triage.on_reply_sent(store, r["ticket_id"], now)
            changed += 1
    return changed


def outbox_json(store: Store, states: list[str] | None = None) -> list[dict[str, Any]]:
    return [
        {"id": r["id"], "ticket_id": r["ticket_id"], "message_id": r["message_id"],
         "channel": r["channel"], "account": r["account"], "text": r["text"],
         "state": r["state"], "error": r["error"], "attempts": r["attempts"],
         "created_at": r["created_at"], "updated_at": r["updated_at"],
         # When sync resends it (its first run from then on): only failed
         # entries whose error was temporary are retried by themselves.
         "next_attempt_at": r["next_attempt_at"] if r["state"] == "failed" and r["temporary"]
         else None}
        for r in repo.entries(store, states)
    ]


