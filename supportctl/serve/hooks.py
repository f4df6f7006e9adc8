"""Webhook payloads: whose they are, whether they are genuine, and the
``Inbound`` items they carry, keyed exactly as ``sync`` keys the same
message (so a message both pushed and polled is stored once).

- Twilio signs ``X-Twilio-Signature`` over the full URL and the POSTed
  parameters with the account's auth token; twilio's own
  ``RequestValidator`` checks it. The parameters become the Message
  resource ``sync`` reads (``sid`` = MessageSid), parsed by
  ``channels.twilio.record_inbound``.
- Telegram sends the ``secret_token`` given to ``setWebhook`` in
  ``X-Telegram-Bot-Api-Secret-Token``; the body is one Update, parsed by
  ``channels.telegram.update_inbound`` (key ``chat_id:message_id``).
- Meta signs the body with the app secret (``X-Hub-Signature-256:
  sha256=<hex>``) and checks the endpoint with ``GET ?hub.mode=subscribe&
  hub.verify_token=…&hub.challenge=…``. Messages are keyed by their
  ``mid``, the id the Graph API's conversations list gives them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

from supportctl.models import Inbound


def twilio_valid(auth_token: str, url: str, params: Mapping[str, str], signature: str) -> bool:
    if not signature or not auth_token:
        return False
    from twilio.request_validator import RequestValidator

    return bool(RequestValidator(auth_token).validate(url, dict(params), signature))


def twilio_entry(entries: Sequence[Mapping[str, Any]],
                 params: Mapping[str, str]) -> Mapping[str, Any] | None:
    """The twilio entry a webhook is for: the one with the number written
    to, else the one of the account."""
    twilio = [e for e in entries if e.get("type") == "twilio"]
    to = params.get("To", "")
    for e in twilio:
        if to and to in (e.get("numbers") or []):
            return e
    sid = params.get("AccountSid", "")
    for e in twilio:
        if sid and e.get("account_sid") == sid:
            return e
    return None


def twilio_record(params: Mapping[str, str], now: datetime) -> dict[str, Any] | None:
    """The Message resource (as ``GET …/Messages/{sid}.json`` gives it) of
    an incoming-message webhook; None for a status callback or anything
    else that is no customer's message."""
    sid = params.get("MessageSid") or params.get("SmsMessageSid") or ""
    status = (params.get("SmsStatus") or params.get("MessageStatus") or "received").lower()
    if not sid or status not in ("received", "receiving"):
        return None
    stamp = format_datetime(now.astimezone(timezone.utc).replace(microsecond=0))
    return {
        "sid": sid, "account_sid": params.get("AccountSid", ""),
        "from": params.get("From", ""), "to": params.get("To", ""),
        "body": params.get("Body", ""), "num_media": params.get("NumMedia", "0"),
        "direction": "inbound", "status": "received",
        "date_sent": stamp, "date_created": stamp, "date_updated": stamp,
        "messaging_service_sid": params.get("MessagingServiceSid") or None,
    }


def telegram_valid(secret: str, header: str) -> bool:
    return bool(secret) and hmac.compare_digest(secret.encode(), (header or "").encode())


def meta_valid(app_secret: str, body: bytes, header: str) -> bool:
    if not app_secret or not (header or "").startswith("sha256="):
        return False
    want = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, header[7:].strip().lower())


def meta_items(payload: Any,
               entries: Sequence[Mapping[str, Any]]) -> list[tuple[str, Inbound]]:
    """``(account, item)`` for each customer message of a Messenger or
    Instagram webhook (``channels.meta.webhook_inbound``)."""
    from supportctl.channels.meta import webhook_inbound

    return webhook_inbound(payload, entries)
