"""Twilio channel: SMS, MMS and WhatsApp to the business's own numbers
(SPEC §2, §3, §7; sync-rules R44–R48, R52, R66), through twilio-python.

Config (secrets resolved): ``name``, ``account_sid``, ``auth_token``,
``numbers`` (E.164 ``+…`` and ``whatsapp:+…`` senders we own),
``api_base_url`` (default ``https://api.twilio.com``), ``tls_verify``,
``ca_file``.

twilio-python has no base-URL option: the ``Client`` gets our own
``twilio.http.HttpClient`` (httpx underneath, see ``channels.http``) that
moves every ``*.twilio.com`` URL onto ``api_base_url`` and turns transport
failures, 401, 429 and 5xx into our errors before the library sees them.
The library is imported only when a request is made (~130 ms).

Fetch contract (on top of ``channels.base``):
- One source per configured number, named by it (``+15550100000``,
  ``whatsapp:+15550100000``). Each lists ``Messages.json?To=<number>``
  with ``DateSent>=<day>`` and reads every page (``next_page_uri`` as
  given, R46) before yielding anything: the list is newest first, so a
  cursor taken from a partial walk could skip older messages.
- ``DateSent`` filters are whole GMT days (R44), so the query reaches back
  to the day of ``cursor date − OVERLAP`` (a message sent at 23:59:59 and
  listed after midnight is still in range). What comes back is mostly known
  already: a message sent before ``cursor date − LATE_WINDOW`` is taken as
  stored, and among later ones the cursor's ``seen`` SIDs are skipped; a
  message listed late with an earlier ``date_sent`` is therefore still
  picked up if it is at most ``LATE_WINDOW`` older than the newest one
  stored. Ingest dedupes by SID besides.
- The cursor is JSON ``{"v": 1, "date": ISO, "seen": {SID: epoch}}``,
  ``seen`` holding only SIDs within ``LATE_WINDOW`` of ``date``: small.
- New messages are yielded oldest first in batches of ``BATCH_SIZE``; each
  batch's cursor covers it and everything before it. A failure anywhere
  raises before the batch it concerns, so the cursor never passes a
  message that was not stored.
- First sync (no cursor): from ``since``, else ``FIRST_SYNC`` back.
- Only ``direction == "inbound"`` messages with a ``date_sent`` count; one
  still ``receiving`` (no ``date_sent`` yet, media not final) waits for
  the next run, which finds it within the window.
- Nothing new costs exactly one request per number (``PAGE_SIZE`` covers
  the overlap window unless the number is very busy).
- An ``Inbound`` has medium ``whatsapp`` when ``from`` has the
  ``whatsapp:`` prefix, else ``sms``; addresses are stored without the
  prefix (SPEC §3: the prefix is the medium, not the address).
  ``conversation`` is our number it was sent to, so a reply goes out from
  it. MMS/WhatsApp media are read from the Media subresource and
  downloaded with the account's credentials.

Send contract:
- ``messages.create`` from ``out.conversation`` when we own it on that
  medium, else the first configured number of the medium. A body longer
  than ``BODY_LIMIT`` (1600 characters: Twilio's cap on ``Body`` for every
  Message, WhatsApp included, errors 21617/21658, although WhatsApp itself
  takes 4096) becomes several messages cut at word boundaries and
  numbered ``(1/3)``. The result's ``external_id`` is the last part's SID
  (the one that completes the text; ``refresh`` follows it) and ``raw``
  lists every part's resource.
- ``out.meta["content_sid"]`` on WhatsApp sends that approved template
  (``ContentSid`` with ``ContentVariables``) instead of a body: outside the
  24-hour window WhatsApp takes nothing else (R48).
- A POST is never resent blindly (R52): only a connection that was never
  made or a short 429 is tried again. After a timeout, a dropped
  connection, a cut-off answer or a 502/504, one list call (``To``/``From``,
  newest first) looks for the message with that body created since the
  send began: found, it counts as sent; not found, ``ChannelError(
  temporary=True, unknown_outcome=True)`` and a person decides. A failure
  after some parts went out is ``unknown_outcome`` too.
- Files cannot be sent (Twilio takes media only as public URLs): refused
  before anything leaves.

Errors never contain the auth token (nor the account SID): texts from
Twilio and httpx are scrubbed, the library's exceptions (whose ``str``
carries URLs and colour codes) are never shown.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from supportctl.channels.base import BaseChannel
from supportctl.channels.http import (
    HttpJson,
    fetch_retry,
    retry_after_header,
    send_retry,
    split_message,
    status_error,
)
from supportctl.errors import AuthError, ChannelError, ConfigError, ParseError
from supportctl.models import (
    Address,
    AttachmentData,
    Batch,
    DeliveryUpdate,
    Inbound,
    Outbound,
    SendResult,
)
from supportctl.values import iso, parse_iso, utcnow

if TYPE_CHECKING:
    from twilio.rest import Client

log = logging.getLogger(__name__)

API = "https://api.twilio.com"
#: Twilio's cap on ``Body`` (SMS concatenation and WhatsApp alike).
BODY_LIMIT = 1600
#: Records per list page; Twilio's maximum is 1000.
PAGE_SIZE = 1000
#: How far before the cursor's date the day filter reaches (it is day-granular).
OVERLAP = timedelta(days=1)
#: How much earlier than the newest stored message a late-listed one may be.
LATE_WINDOW = timedelta(hours=1)
#: First sync without ``--since``: how far back.
FIRST_SYNC = timedelta(days=30)
#: Messages per yielded batch.
BATCH_SIZE = 100
#: Media larger than this are not downloaded (WhatsApp's own cap is 16 MB).
MAX_MEDIA_BYTES = 16 * 1024 * 1024
#: Created less than this before the send began still counts as ours when
#: looking for a POST whose answer was lost (clock skew).
LOOKUP_SLACK = timedelta(minutes=2)

#: Twilio message status → SPEC §2 delivery state.
STATES = {
    "queued": "queued", "accepted": "queued", "scheduled": "queued", "sending": "queued",
    "sent": "sent", "partially_delivered": "sent",
    "delivered": "delivered", "read": "delivered",
    "undelivered": "undelivered", "failed": "failed", "canceled": "failed",
}
#: Twilio error codes with a clearer next step.
HINTS = {
    21610: "the customer has opted out (replied STOP): they must text START first",
    21211: "the recipient is not a valid phone number",
    21606: "the From number cannot send to this recipient: check numbers",
    21614: "the recipient is not a mobile number",
    21617: "the text is too long for one message",
    63016: "outside WhatsApp's 24-hour window: reply with a template (content_sid)",
    63015: "the WhatsApp sandbox recipient has not joined the sandbox",
}
_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")


# -- pure helpers (no network, no twilio) --------------------------------------


def bare(address: str) -> str:
    """E.164 without the channel prefix: ``whatsapp:+39…`` → ``+39…``."""
    return address.split(":", 1)[1] if address.startswith("whatsapp:") else address


def medium_of(address: str) -> str:
    return "whatsapp" if address.startswith("whatsapp:") else "sms"


_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


def rfc2822(value: Any) -> datetime | None:
    """Twilio's JSON dates (``Wed, 01 May 2024 10:02:00 +0000``) as UTC."""
    if not value:
        return None
    # Fast path for Twilio's fixed GMT form: parsedate_to_datetime is ~10x
    # slower, and a busy number's overlap window holds thousands of dates.
    try:
        _, day, mon, year, hms, zone = str(value).split()
        if zone == "+0000":
            hh, mm, ss = hms.split(":")
            return datetime(int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss),
                            tzinfo=timezone.utc)
    except (ValueError, KeyError):
        pass
    try:
        dt = parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return parse_iso(str(value))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _complete(rec: Any) -> bool:
    """An inbound message that has arrived whole (not still ``receiving``)."""
    return (isinstance(rec, dict) and bool(rec.get("sid"))
            and str(rec.get("direction") or "") == "inbound"
            and rec.get("status") != "receiving" and rfc2822(rec.get("date_sent")) is not None)


def record_inbound(rec: Mapping[str, Any]) -> Inbound:
    """One Message resource as an ``Inbound`` (attachments not downloaded)."""
    frm, to = str(rec.get("from") or ""), str(rec.get("to") or "")
    sent = rfc2822(rec.get("date_sent"))
    try:
        num_media = int(rec.get("num_media") or 0)
    except (TypeError, ValueError):
        num_media = 0
    text = str(rec.get("body") or "")
    if not text.strip() and num_media:
        text = "(media only)"
    return Inbound(
        medium=medium_of(frm),
        raw=_dumps(rec),
        external_id=str(rec["sid"]),
        sender=Address(bare(frm)),
        to=[Address(bare(to))] if to else [],
        text=text,
        sent_at=sent,
        received_at=rfc2822(rec.get("date_created")) or sent,
        conversation=bare(to),
        source_ref=f"{to}/{rec['sid']}",
        meta={"num_media": num_media, "twilio_status": str(rec.get("status") or "")},
    )


def _oldest_first(records: list[Any]) -> list[dict[str, Any]]:
    """Complete inbound records, oldest first. The list is newest first;
    reversing it keeps Twilio's order among messages of the same second."""
    keyed = [(rfc2822(r.get("date_sent")), i, r) for i, r in enumerate(reversed(records))
             if _complete(r)]
    keyed.sort(key=lambda t: (t[0], t[1]))
    return [r for _, _, r in keyed]


def inbound_from_json(payload: dict[str, Any], config: dict[str, Any]) -> list[Inbound]:
    """Inbound messages from one Messages list page (the JSON of
    ``GET /2010-04-01/Accounts/{sid}/Messages.json``), oldest first. Pure:
    the demo uses it, and ``fetch`` parses every page with it; media are
    only counted (``meta["num_media"]``), ``TwilioChannel`` downloads them."""
    records = payload.get("messages") if isinstance(payload, dict) else None
    if not isinstance(records, list):
        return []
    return [record_inbound(r) for r in _oldest_first(records)]


def parse_stored(raw: bytes, config: Mapping[str, Any]) -> Inbound:
    """The message of one stored Message resource (``Inbound.raw``),
    without the network: media are not downloaded again, the text says so."""
    try:
        rec = json.loads(raw)
    except ValueError:
        raise ParseError("not a Twilio message (not JSON)") from None
    if not isinstance(rec, dict) or not rec.get("sid"):
        raise ParseError("not a Twilio message resource")
    item = record_inbound(rec)
    if item.meta.get("num_media"):
        item.text = (item.text + f"\n\n({item.meta['num_media']} media were not downloaded "
                     "again: the message was read back from quarantine)").strip()
    return item


@dataclass
class Cursor:
    """Where a number's fetch stands: the newest ``date_sent`` stored and
    the SIDs stored within ``LATE_WINDOW`` of it."""

    date: datetime | None = None
    seen: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, raw: str | None) -> Cursor:
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            when = parse_iso(data.get("date"))
            seen = {str(k): int(v) for k, v in (data.get("seen") or {}).items()}
        except (ValueError, TypeError, AttributeError):
            # Not ours (hand-edited, older format): start over from the
            # first-sync window; ingest dedupes what comes twice.
            log.warning("twilio: unreadable cursor %r ignored", raw[:40])
            return cls()
        return cls(when, seen)

    def dump(self) -> str:
        return json.dumps({"v": 1, "date": iso(self.date), "seen": self.seen},
                          separators=(",", ":"), sort_keys=True)

    def boundary(self) -> datetime | None:
        return self.date - LATE_WINDOW if self.date else None

    def is_known(self, rec: Mapping[str, Any]) -> bool:
        if rec["sid"] in self.seen:
            return True
        limit = self.boundary()
        sent = rfc2822(rec.get("date_sent"))
        return limit is not None and sent is not None and sent < limit

    def advance(self, records: list[dict[str, Any]]) -> Cursor:
        stamps = dict(self.seen)
        for r in records:
            sent = rfc2822(r["date_sent"])
            if sent is not None:
                stamps[str(r["sid"])] = int(sent.timestamp())
        newest = max([self.date] + [rfc2822(r["date_sent"]) for r in records],
                     key=lambda d: d.timestamp() if d else float("-inf"))
        if newest is None:
            return Cursor(self.date, stamps)
        keep = (newest - LATE_WINDOW).timestamp()
        return Cursor(newest, {sid: ts for sid, ts in stamps.items() if ts >= keep})


def query_day(cursor: Cursor, since: datetime | None, now: datetime) -> date:
    """The ``DateSent>=`` day: always a plain GMT date (R45: twilio-python
    would label any datetime as UTC without converting it)."""
    if cursor.date is not None:
        start = cursor.date - OVERLAP
    elif since is not None:
        start = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
    else:
        start = now - FIRST_SYNC
    return start.astimezone(timezone.utc).date()


# -- the channel ---------------------------------------------------------------


def _http_client(channel: TwilioChannel) -> Any:
    """A ``twilio.http.HttpClient`` that sends through the channel's httpx
    client to ``api_base_url``. Built lazily: importing twilio is slow."""
    from twilio.http import HttpClient
    from twilio.http.response import Response

    class _Client(HttpClient):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(log, False, None)
            #: The body of the last response (the exact JSON a create returned).
            self.last_text = ""

        def request(self, method: str, url: str, params: Any = None, data: Any = None,
                    headers: Any = None, auth: Any = None, timeout: Any = None,
                    allow_redirects: bool = False) -> Response:
            method = method.upper()
            sending = method in ("POST", "DELETE")
            kwargs: dict[str, Any] = {"params": params or None, "headers": headers, "auth": auth}
            if data:
                kwargs["data"] = data
            resp = channel.http.request(method, channel.rewrite(url), sending=sending, **kwargs)
            channel.check_status(resp.status_code, resp.content, resp.headers, sending=sending)
            text = resp.text
            if sending and resp.status_code < 300:
                try:
                    json.loads(text)
                except ValueError:
                    channel.http.malformed(sending=True)
            self.last_text = text
            return Response(resp.status_code, text, resp.headers)

    return _Client()


class TwilioChannel(BaseChannel):
    type = "twilio"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        missing = [k for k in ("account_sid", "auth_token", "numbers") if not config.get(k)]
        if missing:
            raise ConfigError(f"channel {self.name!r}: set {' and '.join(missing)} (type twilio)")
        self.account_sid = str(config["account_sid"])
        self._token = str(config["auth_token"])
        self.numbers: list[str] = [str(n) for n in config["numbers"]]
        self.base_url = str(config.get("api_base_url") or API).rstrip("/")
        host = urlsplit(self.base_url).hostname or self.base_url
        self.http = HttpJson(where=f"Twilio at {host}", secrets=[self._token, self.account_sid],
                             config=config)
        self._client: Client | None = None
        self._transport: Any = None
        #: How retries sleep; tests replace it.
        self.sleep: Callable[[float], None] = time.sleep

    # -- plumbing --------------------------------------------------------------

    def client(self) -> Client:
        if self._client is None:
            from twilio.rest import Client

            self._transport = _http_client(self)
            self._client = Client(
                self.account_sid, self._token, account_sid=self.account_sid,
                http_client=self._transport,
                # ClientBase reads TWILIO_EDGE/TWILIO_REGION from the
                # environment when given none (an empty dict counts as none).
                environment={"SUPPORTCTL": "1"},
            )
        return self._client

    def rewrite(self, url: str) -> str:
        """``https://api.twilio.com/…`` (or a regional host) → ``api_base_url``."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host == "twilio.com" or host.endswith(".twilio.com"):
            return self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return url

    def scrub(self, text: str) -> str:
        return self.http.scrub(text)

    def check_status(self, status: int, body: bytes, headers: Mapping[str, str], *,
                     sending: bool) -> None:
        """Errors that mean the same on every endpoint, raised before
        twilio-python turns them into its own exceptions."""
        if status < 400 or status not in (401, 429) and status < 500:
            return
        detail = ""
        try:
            payload = json.loads(body)
            if isinstance(payload, dict):
                detail = str(payload.get("message") or payload.get("detail") or "")
        except ValueError:
            pass
        detail = self.scrub(detail)
        if status == 401:
            raise AuthError(f"Twilio rejected the account_sid/auth_token of {self.name!r} "
                            "(HTTP 401): check them in the Twilio console")
        raise status_error(status, self.http.where, detail, sending=sending,
                           delay=retry_after_header(headers.get("Retry-After")))

    def _library_error(self, exc: Exception, what: str) -> ChannelError:
        """Our error for what twilio-python raised on a 4xx (never its
        ``str``: it carries the request URL)."""
        status = getattr(exc, "status", None)
        code = getattr(exc, "code", None)
        msg = str(getattr(exc, "msg", "") or getattr(exc, "detail", "") or "")
        msg = self.scrub(msg.replace("Unable to create record: ", "")
                         .replace("Unable to fetch record: ", ""))
        hint = HINTS.get(code) if isinstance(code, int) else None
        code_text = f", error {code}" if code and code != status else ""
        text = f"Twilio refused {what} (HTTP {status}{code_text})"
        if msg:
            text += f": {msg[:200]}"
        if hint:
            text += f": {hint}"
        return ChannelError(text)

    def _get_json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        resp = self.client().request("GET", url, params=params)
        if resp.status_code >= 400:
            detail = ""
            try:
                detail = str(json.loads(resp.text).get("message") or "")
            except (ValueError, AttributeError):
                pass
            raise status_error(resp.status_code, self.http.where, self.scrub(detail))
        try:
            return json.loads(resp.text)
        except ValueError:
            return self.http.malformed()

    def _messages_url(self) -> str:
        return f"{API}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    # -- fetch -----------------------------------------------------------------

    def fetch(self, cursors: Mapping[str, str], *,
              since: datetime | None = None) -> Iterator[Batch]:
        for number in self.numbers:
            yield from self._fetch_number(number, cursors.get(number), since)

    def list_messages(self, params: dict[str, Any]) -> list[Any]:
        """Every record of a Messages list, all pages, newest first."""
        url: str | None = self._messages_url()
        query: dict[str, Any] | None = params
        records: list[Any] = []
        visited: set[str] = set()
        while url and url not in visited:
            visited.add(url)
            page = fetch_retry(partial(self._get_json, url, query), sleep=self.sleep)
            msgs = page.get("messages") if isinstance(page, dict) else None
            if not isinstance(msgs, list):
                self.http.malformed()
            records.extend(msgs or [])
            nxt = page.get("next_page_uri")
            # next_page_uri carries the filters and PageToken: used as given.
            url, query = (API + str(nxt), None) if nxt else (None, None)
        return records

    def _fetch_number(self, number: str, raw_cursor: str | None,
                      since: datetime | None) -> Iterator[Batch]:
        cursor = Cursor.load(raw_cursor)
        day = query_day(cursor, since, utcnow())
        records = self.list_messages({"To": number, "DateSent>": day.isoformat(),
                                      "PageSize": PAGE_SIZE})
        fresh = [r for r in _oldest_first(records) if not cursor.is_known(r)]
        for start in range(0, len(fresh), BATCH_SIZE):
            chunk = fresh[start:start + BATCH_SIZE]
            items = [self._with_media(r) for r in chunk]
            cursor = cursor.advance(chunk)
            yield Batch(source=number, cursor=cursor.dump(), items=items)

    def _with_media(self, rec: dict[str, Any]) -> Inbound:
        item = record_inbound(rec)
        if item.meta.get("num_media"):
            item.attachments, notes = self._media(str(rec["sid"]))
            if notes:
                item.text = (item.text + "\n\n" + "\n".join(notes)).strip()
        return item

    def _media(self, message_sid: str) -> tuple[list[AttachmentData], list[str]]:
        """Download a message's media (Media list subresource, then each
        file with the account's credentials)."""
        url = f"{API}/2010-04-01/Accounts/{self.account_sid}/Messages/{message_sid}/Media.json"
        entries: list[Any] = []
        visited: set[str] = set()
        while url and url not in visited:  # to the last page, as list_messages
            visited.add(url)
            page = fetch_retry(partial(self._get_json, url), sleep=self.sleep)
            found = page.get("media_list") if isinstance(page, dict) else None
            if not isinstance(found, list):
                self.http.malformed()
            entries.extend(found or [])
            nxt = page.get("next_page_uri")
            url = API + str(nxt) if nxt else ""
        files: list[AttachmentData] = []
        notes: list[str] = []
        for entry in entries:
            if not isinstance(entry, dict) or not entry.get("uri"):
                continue
            sid = str(entry.get("sid") or "media")
            ctype = str(entry.get("content_type") or "application/octet-stream")
            target = self.rewrite(API + str(entry["uri"]).removesuffix(".json"))
            try:
                got = fetch_retry(
                    partial(self.http.download, target, limit=MAX_MEDIA_BYTES,
                            auth=(self.account_sid, self._token)),
                    sleep=self.sleep)
            except ChannelError as exc:
                if exc.temporary:
                    raise
                # Deleted or refused media must not block the number forever.
                notes.append(f"(attachment {sid} could not be downloaded: {exc})")
                continue
            if got is None:
                notes.append(f"(attachment {sid} is larger than "
                             f"{MAX_MEDIA_BYTES // (1024 * 1024)} MB and was not downloaded)")
                continue
            data, served = got
            ctype = ctype if ctype != "application/octet-stream" else served
            ext = mimetypes.guess_extension(ctype) or ""
            files.append(AttachmentData(filename=f"{sid}{ext}", content_type=ctype, data=data))
        return files, notes

    # -- send ------------------------------------------------------------------

    def sender_for(self, out: Outbound) -> str:
        wa = out.medium == "whatsapp"
        own = [n for n in self.numbers if n.startswith("whatsapp:") == wa]
        conv = bare(out.conversation or "")
        want = f"whatsapp:{conv}" if wa else conv
        if conv and want in own:
            return want
        if own:
            return own[0]
        raise ChannelError(f"channel {self.name!r} has no {out.medium} number: add one to "
                           "its numbers (whatsapp:+… for WhatsApp)")

    def send(self, message: Outbound) -> SendResult:
        if message.medium not in ("sms", "whatsapp"):
            raise ChannelError(f"channel {self.name!r} (twilio) cannot send {message.medium}")
        if not message.to:
            raise ChannelError("no recipient for the message")
        if message.attachments:
            raise ChannelError("Twilio cannot send attached files (it takes media only from "
                               "public URLs): send the text alone, or the file by email")
        wa = message.medium == "whatsapp"
        to = bare(message.to[0].address)
        to = f"whatsapp:{to}" if wa else to
        from_ = self.sender_for(message)
        content_sid = str(message.meta.get("content_sid") or "") if wa else ""
        variables: Any = message.meta.get("content_variables")
        if isinstance(variables, dict):
            variables = json.dumps(variables, ensure_ascii=False)
        bodies: list[str | None] = [None]
        if not content_sid:
            texts = split_message(message.text, BODY_LIMIT)
            if not texts[0].strip():
                raise ChannelError("empty message: nothing sent")
            bodies = list(texts)
        started = utcnow()
        sent: list[dict[str, Any]] = []
        for i, body in enumerate(bodies, 1):
            which = f"part {i} of {len(bodies)}" if len(bodies) > 1 else "the message"
            try:
                rec = send_retry(partial(self._create, to, from_, body, content_sid, variables),
                                 sleep=self.sleep)
            except ChannelError as exc:
                if exc.unknown_outcome:
                    found = self._find_created(to, from_, body, started,
                                               {str(r["sid"]) for r in sent})
                    if found is not None:
                        sent.append(found)
                        continue
                    raise ChannelError(
                        f"{which} to {bare(to)} may or may not have been sent ({exc}); "
                        "Twilio does not list it yet: check with `supportctl outbox` later",
                        temporary=True, unknown_outcome=True) from None
                if sent:
                    raise ChannelError(
                        f"parts 1–{len(sent)} of {len(bodies)} were sent, then {exc}",
                        temporary=exc.temporary, unknown_outcome=True) from None
                raise
            sent.append(rec)
        last = sent[-1]
        state = STATES.get(str(last.get("status") or ""), "queued")
        return SendResult(
            external_id=str(last["sid"]),
            # A create answers queued/accepted; a later state is refresh's.
            state=state if state in ("queued", "sent", "delivered") else "queued",
            raw=_dumps(sent[0] if len(sent) == 1 else {"parts": sent}),
        )

    def _create(self, to: str, from_: str, body: str | None, content_sid: str,
                variables: Any) -> dict[str, Any]:
        from twilio.base.exceptions import TwilioException

        kwargs: dict[str, Any] = {"to": to, "from_": from_}
        if content_sid:
            kwargs["content_sid"] = content_sid
            if variables:
                kwargs["content_variables"] = variables
        else:
            kwargs["body"] = body
        api = self.client().api.v2010.accounts(self.account_sid)
        try:
            inst = api.messages.create(**kwargs)
        except TwilioException as exc:
            raise self._library_error(exc, "the message") from None
        except ValueError:
            # The library could not read the answer: created or not, unknown.
            raise ChannelError(f"{self.http.where} sent a malformed answer", temporary=True,
                               unknown_outcome=True) from None
        try:
            rec = json.loads(self._transport.last_text)
        except ValueError:
            rec = {}
        if not isinstance(rec, dict) or not rec.get("sid"):
            rec = {"sid": inst.sid, "status": inst.status, "to": inst.to, "from": inst.from_,
                   "body": inst.body}
        return rec

    def _find_created(self, to: str, from_: str, body: str | None, started: datetime,
                      exclude: set[str]) -> dict[str, Any] | None:
        """After a lost answer: the message Twilio created for this send, if
        it lists one (one request; R66). Without a body (a template) any
        message between the two created since the send began counts."""
        try:
            page = fetch_retry(
                lambda: self._get_json(self._messages_url(),
                                       {"To": to, "From": from_, "PageSize": 20}),
                sleep=self.sleep, attempts=1)
        except ChannelError:
            return None
        earliest = started - LOOKUP_SLACK
        for rec in page.get("messages") or [] if isinstance(page, dict) else []:
            if not isinstance(rec, dict) or str(rec.get("sid")) in exclude:
                continue
            created = rfc2822(rec.get("date_created"))
            if created is None or created < earliest:
                continue
            if body is None or rec.get("body") == body:
                return rec
        return None

    # -- delivery, check -------------------------------------------------------

    def refresh(self, external_ids: list[str]) -> list[DeliveryUpdate]:
        from twilio.base.exceptions import TwilioException

        api = self.client().api.v2010.accounts(self.account_sid)
        out: list[DeliveryUpdate] = []
        for sid in external_ids:
            if not _SID.fullmatch(sid or ""):
                continue

            def get(s: str = sid) -> Any:
                try:
                    return api.messages(s).fetch()
                except TwilioException as exc:
                    if getattr(exc, "status", None) == 404:
                        return None
                    raise self._library_error(exc, f"the status of {s}") from None
                except ValueError:
                    return self.http.malformed()

            inst = fetch_retry(get, sleep=self.sleep)
            if inst is None:
                continue
            state = STATES.get(str(inst.status or ""))
            if state is None:
                continue
            error = ""
            if inst.error_code:
                error = f"Twilio error {inst.error_code}"
                if inst.error_message:
                    error += f": {self.scrub(str(inst.error_message))}"
            out.append(DeliveryUpdate(sid, state, error))
        return out

    def check(self) -> str:
        from twilio.base.exceptions import TwilioException

        def get() -> Any:
            try:
                return self.client().api.v2010.accounts(self.account_sid).fetch()
            except TwilioException as exc:
                raise self._library_error(exc, "the account") from None
            except ValueError:
                return self.http.malformed()

        acct = fetch_retry(get, sleep=self.sleep)
        return (f"Twilio account {acct.friendly_name!r} ({acct.status}); "
                f"numbers {', '.join(self.numbers)}")

    def close(self) -> None:
        self.http.close()
