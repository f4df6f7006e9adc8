"""Facebook Messenger and Instagram Direct through Meta's Graph API, polled
(SPEC §12). The declaration is ``supportctl/channels/specs/meta.py``.

Reading (the Conversations API):
- ``GET /{id}/conversations?platform=messenger|instagram`` lists
  conversations newest first (``updated_time``); paging follows
  ``paging.next`` (only back to the configured origin: it carries the token).
- The stored watermark (source ``conversations``) is the newest
  ``updated_time`` a completed pass saw. Listing stops at the first
  conversation older than it; one updated in that very second is checked
  against its own cursor (``updated_time`` has whole seconds, so its
  ``message_count`` tells a second message in the same second). A sync with
  nothing new is therefore ONE request (more only when over a page of
  conversations changed in the watermark's very second).
- Each changed conversation (source ``conv:<id>``, cursor ``{"last": newest
  message id, "updated": its updated_time, "count": its message_count}``) is read with ``GET
  /{conversation}/messages`` newest first until the known id, and yielded
  oldest first as one batch. The watermark batch comes last, after every
  changed conversation was committed: killed at any point, the next run
  finds what it missed, and ingest's dedupe by message id stores nothing
  twice. A conversation that moves to the top while the list is paged is
  listed twice (taken once) or found by the next run (its ``updated_time``
  is not older than the watermark).
- Messages by the Page / account itself are not customer messages and are
  skipped. Image attachments (``image_data.url``) and files (``file_url``)
  are downloaded from Meta's CDN.

Rate limits: the Conversations API allows about 2 calls a second per Page or
account; calls are spaced to that. Graph error codes 4, 17, 32 and 613 and
HTTP 429/5xx are retried with backoff (``X-Business-Use-Case-Usage``'s
``estimated_time_to_regain_access`` when given; a long wait ends the run
instead of holding the sync lock). Code 190 (token expired or revoked) is an
``AuthError`` saying how to get a new token.

Sending (the Send API): ``POST /{id}/messages`` with ``messaging_type:
RESPONSE`` inside the 24-hour window, or ``MESSAGE_TAG`` + ``HUMAN_AGENT``
when the agent asked for it (``reply --human-agent``, up to 7 days); the
outbox checks the windows before anything is sent, from the declaration.
The token goes in the ``Authorization`` header, never in a URL we build.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from supportctl.channels.base import BaseChannel
from supportctl.channels.http import HttpJson, fetch_retry, send_retry, split_message, status_error
from supportctl.channels.retry import RetryAfter
from supportctl.errors import AuthError, ChannelError, ConfigError, ParseError
from supportctl.models import Address, AttachmentData, Batch, Inbound, Outbound, SendResult

API = "https://graph.facebook.com"
VERSION = "v21.0"
WATERMARK = "conversations"
#: Conversations and messages per page.
PAGE = 25
#: About 2 calls a second per Page/account (Conversations API).
CALLS_PER_SECOND = 2
#: Graph error codes that mean "too many calls" (application, user, page,
#: and the per-hour limit): back off and try again.
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613})
#: Send API text limit (characters).
TEXT_LIMIT = 2000
MAX_FILE_BYTES = 25 * 1024 * 1024
#: Permissions each type needs for reading conversations and answering.
PERMISSIONS = {
    "messenger": ("pages_messaging", "pages_manage_metadata"),
    "instagram": ("instagram_basic", "instagram_manage_messages", "pages_manage_metadata"),
}
NEW_TOKEN = ("make a new long-lived Page access token (README, \"Messenger and Instagram\") "
             "and put it in access_token")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def graph_time(value: Any) -> datetime | None:
    """``2024-01-01T12:00:00+0000`` (Graph's format) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").astimezone(timezone.utc)
    except ValueError:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
        except ValueError:
            return None


def _attachment_type(content_type: str) -> str:
    """The Send API's attachment ``type`` of a file."""
    major = (content_type or "").split("/", 1)[0]
    return major if major in ("image", "audio", "video") else "file"


def _medium(config: Mapping[str, Any]) -> str:
    return "instagram" if config.get("type") == "instagram" else "messenger"


def _own_id(config: Mapping[str, Any]) -> str:
    return str(config.get("account_id") or config.get("page_id") or "")


def files_of(msg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The downloadable attachments of a message, as plain metadata."""
    att = msg.get("attachments")
    data = att.get("data") if isinstance(att, dict) else None
    out: list[dict[str, Any]] = []
    for i, a in enumerate(data if isinstance(data, list) else []):
        if not isinstance(a, dict):
            continue
        image = a.get("image_data") if isinstance(a.get("image_data"), dict) else None
        url = (image or {}).get("url") or a.get("file_url") or ""
        if not url:
            continue
        ctype = str(a.get("mime_type") or ("image/jpeg" if image else "application/octet-stream"))
        name = str(a.get("name") or f"{'image' if image else 'file'}-{i + 1}"
                   + (".jpg" if image and ctype == "image/jpeg" else ""))
        out.append({"url": str(url), "name": name, "mime_type": ctype,
                    "size": int(a.get("size") or 0), "image": image is not None})
    return out


def message_inbound(msg: Mapping[str, Any], conversation: str,
                    config: Mapping[str, Any]) -> Inbound | None:
    """One Graph message as an ``Inbound``; None for the Page's own
    messages and anything without an id or sender."""
    sender = msg.get("from") if isinstance(msg.get("from"), dict) else None
    mid = msg.get("id")
    if not mid or sender is None or not sender.get("id"):
        return None
    if str(sender["id"]) == _own_id(config):
        return None
    medium = _medium(config)
    name = str(sender.get("name") or "")
    if not name and sender.get("username"):
        name = f"@{sender['username']}"
    files = files_of(msg)
    text = str(msg.get("message") or "")
    if not text.strip():
        text = "(" + ", ".join("photo" if f["image"] else f"file {f['name']}"
                               for f in files) + ")" if files else "(a message without text)"
    sent = graph_time(msg.get("created_time"))
    return Inbound(
        medium=medium,
        raw=_dumps({"conversation": conversation, "message": msg}),
        external_id=str(mid),
        sender=Address(str(sender["id"]), name),
        to=[Address(_own_id(config))] if _own_id(config) else [],
        text=text,
        sent_at=sent,
        received_at=sent,
        conversation=conversation,
        source_ref=f"conv:{conversation}",
        meta={"files": files},
    )


def inbound_from_json(payload: Mapping[str, Any], config: Mapping[str, Any]) -> list[Inbound]:
    """Inbound messages from ``{"conversations": [{"id": …, "messages":
    {"data": [...]}}]}`` (the Graph answer of ``conversations?fields=
    messages{…}``), oldest first. Pure: the demo uses it; files are listed in
    ``meta["files"]`` and downloaded by the channel."""
    convs = payload.get("conversations") if isinstance(payload, Mapping) else None
    out: list[Inbound] = []
    for conv in convs if isinstance(convs, list) else []:
        if not isinstance(conv, dict):
            continue
        msgs = conv.get("messages", {})
        data = msgs.get("data") if isinstance(msgs, dict) else None
        for m in reversed(data if isinstance(data, list) else []):
            item = message_inbound(m, str(conv.get("id") or ""), config) \
                if isinstance(m, dict) else None
            if item is not None:
                out.append(item)
    out.sort(key=lambda i: i.sent_at or datetime.min.replace(tzinfo=timezone.utc))
    return out


WEBHOOK_OBJECTS = {"page": "messenger", "instagram": "instagram"}


def webhook_inbound(payload: Any,
                    entries: Sequence[Mapping[str, Any]]) -> list[tuple[str, Inbound]]:
    """``(account, item)`` for each customer message of a Messenger or
    Instagram webhook delivery (echoes of our own sends, reads and
    reactions are not messages). The account is the configured entry of
    that Page or Instagram account (``page_id`` / ``account_id``), else
    ``meta``. Each item's raw is a delivery of that one event, in the
    webhook's own shape, so ``parse_stored`` reads it again."""
    out: list[tuple[str, Inbound]] = []
    if not isinstance(payload, dict):
        return out
    medium = WEBHOOK_OBJECTS.get(str(payload.get("object")))
    if medium is None:
        return out
    for entry in payload.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        owner = str(entry.get("id") or "")
        key = "page_id" if medium == "messenger" else "account_id"
        account = next((str(e["name"]) for e in entries
                        if e.get("type") == medium and str(e.get(key) or "") == owner), "meta")
        for event in entry.get("messaging") or []:
            msg = event.get("message") if isinstance(event, dict) else None
            if not isinstance(msg, dict) or msg.get("is_echo") or not msg.get("mid"):
                continue
            sender = str((event.get("sender") or {}).get("id") or "")
            try:
                sent = datetime.fromtimestamp(int(event.get("timestamp")) / 1000, timezone.utc)
            except (TypeError, ValueError, OverflowError):
                sent = None
            files = [a for a in msg.get("attachments") or [] if isinstance(a, dict)]
            text = str(msg.get("text") or "")
            if not text.strip() and files:
                text = "(" + ", ".join(str(a.get("type") or "file") for a in files) + ")"
            reply: dict[str, Any] = msg["reply_to"] if isinstance(msg.get("reply_to"), dict) else {}
            one = {"object": payload["object"], "entry": [{"id": owner, "messaging": [event]}]}
            out.append((account, Inbound(
                medium=medium,
                raw=_dumps(one),
                external_id=str(msg["mid"]),
                sender=Address(sender),
                to=[Address(str((event.get("recipient") or {}).get("id") or owner))],
                text=text,
                sent_at=sent,
                received_at=sent,
                in_reply_to=str(reply.get("mid") or ""),
                conversation=sender,
                source_ref=f"webhook:{owner}",
                meta={"files": [{"type": a.get("type"),
                                 "url": (a.get("payload") or {}).get("url")} for a in files]}
                if files else {},
            )))
    return out


def parse_stored(raw: bytes, config: Mapping[str, Any]) -> Inbound:
    """The message of one stored payload (``Inbound.raw``), without the
    network: attachments are not downloaded again, the text says so."""
    try:
        payload = json.loads(raw)
    except ValueError:
        raise ParseError("not a Graph API message (not JSON)") from None
    item: Inbound | None
    if isinstance(payload, dict) and "object" in payload:  # a webhook delivery
        found = webhook_inbound(payload, [config])
        item = found[0][1] if found else None
    else:
        msg = payload.get("message") if isinstance(payload, dict) else None
        item = message_inbound(msg, str(payload.get("conversation") or ""), config) \
            if isinstance(msg, dict) else None
    if item is None:
        raise ParseError("not a Messenger or Instagram message from a customer")
    files = item.meta.get("files")
    notes = [f"({f.get('name') or f.get('type') or 'a file'} was not downloaded again: the message was read back from "
             "quarantine)" for f in (files if isinstance(files, list) else [])
             if isinstance(f, dict)]
    if notes:
        item.text = (item.text + "\n\n" + "\n".join(notes)).strip()
    return item


class MetaChannel(BaseChannel):
    """One Page (Messenger) or Instagram professional account."""

    type = "messenger"
    id_key = "page_id"
    label = "Messenger"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        for key in (self.id_key, "access_token"):
            if not config.get(key):
                raise ConfigError(f"channel {self.name!r}: set {key} (type {self.type})")
        self._token = str(config["access_token"])
        self.object_id = str(config[self.id_key])
        base = str(config.get("api_base_url") or API).rstrip("/")
        self.version = str(config.get("api_version") or VERSION).strip("/")
        self.base_url = f"{base}/{self.version}"
        self._origin = urlsplit(base)[:2]
        host = urlsplit(base).hostname or base
        self.http = HttpJson(where=f"{self.label} at {host}", secrets=[self._token],
                             config=config)
        #: How retries and spacing sleep; tests replace it.
        self.sleep: Callable[[float], None] = time.sleep
        self.clock: Callable[[], float] = time.monotonic
        self._calls: deque[float] = deque(maxlen=CALLS_PER_SECOND)
        self.config = config

    # -- plumbing --------------------------------------------------------------

    def _space(self) -> None:
        """At most ``CALLS_PER_SECOND`` calls in any second."""
        if len(self._calls) == self._calls.maxlen:
            wait = self._calls[0] + 1.0 - self.clock()
            if wait > 0:
                self.sleep(wait)
        self._calls.append(self.clock())

    def call(self, method: str, url: str, *, sending: bool = False, **kwargs: Any) -> Any:
        """One Graph call; the decoded JSON body, or a ``ChannelError``."""
        if urlsplit(url)[:2] != self._origin:
            # A paging link elsewhere would carry the token off: refuse.
            raise ChannelError(f"{self.http.where} sent a paging link to another host")
        self._space()
        headers = {"Authorization": f"Bearer {self._token}"}
        resp = self.http.request(method, url, sending=sending, headers=headers, **kwargs)
        try:
            payload = json.loads(resp.content)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            raise self._api_error(resp.status_code, payload["error"], resp.headers,
                                  sending=sending)
        if resp.status_code >= 400:
            raise status_error(resp.status_code, self.http.where, sending=sending)
        if not isinstance(payload, dict):
            return self.http.malformed(sending=sending)
        return payload

    def _api_error(self, status: int, err: Mapping[str, Any], headers: Mapping[str, str], *,
                   sending: bool) -> ChannelError:
        try:
            code = int(err.get("code") or 0)
        except (TypeError, ValueError):
            code = 0
        sub = err.get("error_subcode")
        desc = self.http.scrub(str(err.get("message") or ""))[:200]
        where = self.http.where
        tag = f"code {code}" + (f", subcode {sub}" if sub else "")
        if code == 190:
            return AuthError(f"{where} rejected the access token of {self.name!r} ({tag}: "
                             f"expired or revoked): {NEW_TOKEN}")
        if code in RATE_LIMIT_CODES or status == 429:
            delay = _regain_seconds(headers)
            return RetryAfter(f"{where} is rate limiting {self.name!r} ({tag}): try again in "
                              f"{delay:.0f}s", delay)
        if status >= 500 or err.get("is_transient") is True or code in (1, 2):
            return status_error(max(status, 500), where, desc, sending=sending)
        if code == 10 and sub == 2018278:
            return ChannelError(f"{where} refused the message ({tag}): it is outside the "
                                "24-hour window; answer by another channel of this contact")
        if code in (10, 200) or 200 <= code < 300:
            need = ", ".join(PERMISSIONS[_medium(self.config)])
            return ChannelError(f"{where} refused ({tag}: {desc or 'permission missing'}): the "
                                f"token needs {need}, and Meta's app review (Advanced Access) "
                                "to read customers' messages; see `supportctl config check "
                                "--online`")
        return ChannelError(f"{where} refused the request ({tag}): {desc or 'no reason given'}")

    def _get(self, url: str, **params: Any) -> Any:
        return fetch_retry(partial(self.call, "GET", url, params=params or None),
                           sleep=self.sleep)

    # -- fetch -----------------------------------------------------------------

    def fetch(self, cursors: Mapping[str, str], *,
              since: datetime | None = None) -> Iterator[Batch]:
        watermark = graph_time(cursors.get(WATERMARK))
        known = {k[5:]: _conv_cursor(v) for k, v in cursors.items() if k.startswith("conv:")}
        changed: dict[str, dict[str, Any]] = {}
        newest: datetime | None = None
        url: str | None = f"{self.base_url}/{self.object_id}/conversations"
        params: dict[str, Any] = {"platform": _medium(self.config),
                                  "fields": "id,updated_time,message_count", "limit": PAGE}
        while url:
            page = self._get(url, **params)
            params = {}  # ``paging.next`` carries them
            data = page.get("data")
            if not isinstance(data, list):
                self.http.malformed()
            stop = False
            for conv in data:
                cid = str(conv.get("id") or "") if isinstance(conv, dict) else ""
                updated = graph_time(conv.get("updated_time")) if cid else None
                if updated is None:
                    continue
                newest = max(newest, updated) if newest else updated
                if (watermark and updated < watermark) or (since and updated < since):
                    stop = True
                    break
                seen = known.get(cid, {})
                if seen.get("updated") == conv.get("updated_time") and \
                        seen.get("count", "") == str(conv.get("message_count", "")):
                    continue  # seen in this very state
                changed.setdefault(cid, conv)
            paging = page.get("paging") if isinstance(page.get("paging"), dict) else {}
            url = None if stop else (paging.get("next") or None)
        # Oldest change first, so that what a killed run did is a prefix.
        for cid, conv in sorted(changed.items(), key=lambda kv: kv[1]["updated_time"]):
            items, last = self._messages(cid, known.get(cid, {}).get("last", ""), since)
            cursor = json.dumps({"last": last or known.get(cid, {}).get("last", ""),
                                 "updated": conv["updated_time"],
                                 "count": str(conv.get("message_count", ""))})
            yield Batch(source=f"conv:{cid}", cursor=cursor, items=items)
        if newest is not None and (watermark is None or newest > watermark):
            yield Batch(source=WATERMARK, cursor=newest.strftime("%Y-%m-%dT%H:%M:%S+0000"))

    def _messages(self, conversation: str, known: str,
                  since: datetime | None) -> tuple[list[Inbound], str]:
        """The conversation's messages newer than ``known``, oldest first,
        and the newest message id."""
        url: str | None = f"{self.base_url}/{conversation}/messages"
        params: dict[str, Any] = {
            "fields": "id,created_time,from,to,message,attachments{id,mime_type,name,size,"
                      "image_data,file_url}", "limit": PAGE}
        found: list[dict[str, Any]] = []
        while url:
            page = self._get(url, **params)
            params = {}
            data = page.get("data")
            if not isinstance(data, list):
                self.http.malformed()
            stop = False
            for m in data:
                if not isinstance(m, dict) or not m.get("id"):
                    continue
                created = graph_time(m.get("created_time"))
                if str(m["id"]) == known or (since and created and created < since):
                    stop = True
                    break
                found.append(m)
            paging = page.get("paging") if isinstance(page.get("paging"), dict) else {}
            url = None if stop else (paging.get("next") or None)
        newest = str(found[0]["id"]) if found else ""
        items = [i for i in (message_inbound(m, conversation, self.config)
                             for m in reversed(found)) if i is not None]
        return [self._with_files(i) for i in items], newest

    def _with_files(self, item: Inbound) -> Inbound:
        files = item.meta.get("files")
        notes: list[str] = []
        for f in files if isinstance(files, list) else []:
            try:
                got = fetch_retry(partial(self.http.download, f["url"], limit=MAX_FILE_BYTES),
                                  sleep=self.sleep)
            except ChannelError as exc:
                if exc.temporary:
                    raise
                notes.append(f"({f['name']} could not be downloaded: {exc})")
                continue
            if got is None:
                notes.append(f"({f['name']} is larger than 25 MB and was not downloaded)")
                continue
            data, served = got
            item.attachments.append(AttachmentData(
                filename=f["name"], content_type=str(f.get("mime_type") or served), data=data))
        if notes:
            item.text = (item.text + "\n\n" + "\n".join(notes)).strip()
        return item

    # -- send ------------------------------------------------------------------

    def send(self, message: Outbound) -> SendResult:
        medium = _medium(self.config)
        if message.medium != medium:
            raise ChannelError(f"channel {self.name!r} ({self.type}) cannot send {message.medium}")
        target = message.to[0].address if message.to else ""
        if not target:
            raise ChannelError(f"no {self.label} user to send to")
        human = bool(message.meta.get("human_agent"))
        base: dict[str, Any] = {"recipient": {"id": target}}
        if human:
            base |= {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
        else:
            base["messaging_type"] = "RESPONSE"
        bodies: list[dict[str, Any]] = [
            base | {"message": {"text": part}}
            for part in (split_message(message.text, TEXT_LIMIT) if message.text.strip() else [])]
        if message.attachments and medium != "messenger":
            raise ChannelError(f"{self.label} replies carry text only here: send the file "
                               "by another channel, or a link to it")
        # Messenger takes each file as an upload beside the message
        # (multipart ``filedata``), after the text, one message per file.
        uploads = [(base | {"message": {"attachment": {"type": _attachment_type(a.content_type),
                                                       "payload": {"is_reusable": False}}}}, a)
                   for a in message.attachments]
        if not bodies and not uploads:
            raise ChannelError("empty message: nothing sent")
        url = f"{self.base_url}/{self.object_id}/messages"
        sent: list[Any] = []
        calls = [(body, partial(self.call, "POST", url, sending=True, json=body))
                 for body in bodies]
        calls += [(body, partial(self.call, "POST", url, sending=True,
                                 data={k: json.dumps(v) if isinstance(v, dict) else v
                                       for k, v in body.items()},
                                 files={"filedata": (a.filename or "file", a.data,
                                                     a.content_type)}))
                  for body, a in uploads]
        bodies = [body for body, _ in calls]
        for _body, call in calls:
            try:
                result = send_retry(call, sleep=self.sleep)
            except ChannelError as exc:
                if sent:
                    raise ChannelError(f"{len(sent)} of {len(bodies)} messages were sent, "
                                       f"then: {exc}", temporary=exc.temporary,
                                       unknown_outcome=True) from None
                raise
            if not result.get("message_id"):
                self.http.malformed(sending=True)
            sent.append(result)
        return SendResult(external_id=str(sent[-1]["message_id"]), state="sent",
                          raw=_dumps(bodies[0] if len(bodies) == 1 else bodies))

    # -- check -----------------------------------------------------------------

    def check(self) -> str:
        medium = _medium(self.config)
        need = PERMISSIONS[medium]
        info = self._get(f"{self.base_url}/debug_token", input_token=self._token)
        data = info.get("data") if isinstance(info.get("data"), dict) else {}
        if data.get("is_valid") is False:
            raise AuthError(f"{self.http.where}: the access token of {self.name!r} is not "
                            f"valid: {NEW_TOKEN}")
        scopes = {str(s) for s in data.get("scopes") or []}
        missing = [p for p in need if p not in scopes]
        if missing:
            raise ChannelError(f"{self.http.where}: the token of {self.name!r} lacks "
                               f"{', '.join(missing)}: give the app these permissions and "
                               "make the Page token again")
        fields = "id,username" if medium == "instagram" else "id,name"
        me = self._get(f"{self.base_url}/{self.object_id}", fields=fields)
        who = me.get("name") or (f"@{me['username']}" if me.get("username") else "")
        expires = int(data.get("expires_at") or 0)
        life = "never expires" if not expires else \
            "expires " + datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%d")
        return (f"{self.label} {who} (id {me.get('id')}): token ok ({life}), permissions "
                f"{', '.join(need)}; note: reading customers' messages needs Meta's app "
                f"review (Advanced Access for {', '.join(need)}) unless every writer has a "
                "role on the app")

    def close(self) -> None:
        self.http.close()


class MessengerChannel(MetaChannel):
    type = "messenger"
    id_key = "page_id"
    label = "Messenger"


class InstagramChannel(MetaChannel):
    type = "instagram"
    id_key = "account_id"
    label = "Instagram"


def _conv_cursor(value: str | None) -> dict[str, str]:
    try:
        got = json.loads(value or "{}")
    except ValueError:
        return {}
    return {k: str(v) for k, v in got.items()} if isinstance(got, dict) else {}


def _regain_seconds(headers: Mapping[str, str]) -> float:
    """How long Meta says the limit holds (``X-Business-Use-Case-Usage``:
    ``estimated_time_to_regain_access`` in minutes), else a short backoff."""
    from supportctl.channels import retry as retry_module

    raw = headers.get("x-business-use-case-usage") or headers.get("X-Business-Use-Case-Usage")
    minutes = 0.0
    try:
        usage = json.loads(raw) if raw else {}
        for entries in usage.values() if isinstance(usage, dict) else []:
            for e in entries if isinstance(entries, list) else []:
                minutes = max(minutes, float(e.get("estimated_time_to_regain_access") or 0))
    except (ValueError, TypeError, AttributeError):
        minutes = 0.0
    return minutes * 60 if minutes else retry_module.BASE_DELAY
