"""Telegram channel: messages to a bot, through the Bot API's
``getUpdates`` (SPEC §2, §3, §7; sync-rules R53–R57, R66), plain httpx.

Config (secrets resolved): ``name``, ``token``, ``api_base_url`` (default
``https://api.telegram.org``), ``tls_verify``, ``ca_file``.

Fetch contract (on top of ``channels.base``):
- One source, ``updates``; its cursor is the next ``offset`` (the highest
  ``update_id`` stored + 1), absent on the first run.
- ``getUpdates(offset, timeout=0, limit=100, allowed_updates=["message"])``
  → one ``Batch`` per answer with ``cursor = last update_id + 1`` → when
  the caller resumes the generator (it committed the batch), the next
  ``getUpdates`` with that higher offset is what confirms the batch to
  Telegram (R53: "confirmed as soon as getUpdates is called with an offset
  higher than its update_id"). A crash before the commit therefore gets the
  same updates again; ingest dedupes by ``chat_id:message_id``. The loop
  ends on an empty answer, so nothing new costs exactly one request and N
  batches cost N + 1, the last one confirming the last batch.
- Updates other than ``message`` (sent before ``allowed_updates`` took
  effect, or by a bot that had others on) yield no item but still advance
  the cursor. A negative or non-numeric offset is never sent (a negative
  one drops the queue, R55).
- Updates live ≤ 24 h on Telegram's side (R54): cron must run well within
  that. After a week without updates, ids restart at random (R55); a
  stored offset above them would hide them, which a run cannot detect: a
  bot idle for a week should have its cursor cleared.
- Text or caption; photos (the largest size), documents, voice notes,
  audio, video and video notes are downloaded (``getFile``, then
  ``{base}/file/bot<token>/<file_path>``; the Bot API serves at most
  20 MB). Stickers, locations, contacts and polls become a short text.
  ``sender`` is the user id with "First Last (@username)";
  ``conversation`` is the chat id, where replies go.

Send contract:
- ``sendMessage`` (plain text: no ``parse_mode``, a customer's ``*`` stays
  a ``*``) to ``out.conversation`` or the customer's id, as a reply
  (``reply_parameters``) to the message part of ``reply_to_external_id``
  when it is in the same chat; longer than ``TEXT_LIMIT`` (4096 UTF-16
  units) becomes several messages numbered ``(1/3)``; then one
  ``sendDocument`` (multipart) per attachment. ``external_id`` is
  ``chat_id:message_id`` of the last message sent.
- Sends are not idempotent and Telegram has no way to look a message up
  (R66): only a request that surely did not arrive (no connection, a short
  429) is tried again; a timeout or a dropped connection after sending is
  ``unknown_outcome``, and so is any failure after a first part went out.

Errors: 409 (another poller or a webhook, R56) is permanent with what to
do; 429 is ``RetryAfter`` from ``parameters.retry_after``; 401/404 on the
token are ``AuthError``. The token is in every URL: no error, log record or
exception text contains it (see ``channels.http``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from supportctl.channels.base import BaseChannel
from supportctl.channels.http import (
    HttpJson,
    fetch_retry,
    send_retry,
    split_message,
    status_error,
)
from supportctl.channels.retry import RetryAfter
from supportctl.errors import AuthError, ChannelError, ConfigError, ParseError
from supportctl.models import (
    Address,
    AttachmentData,
    Batch,
    Inbound,
    Outbound,
    SendResult,
)

log = logging.getLogger(__name__)

API = "https://api.telegram.org"
SOURCE = "updates"
#: Updates per getUpdates (Telegram's maximum).
LIMIT = 100
#: sendMessage's limit, in UTF-16 code units after entity parsing.
TEXT_LIMIT = 4096
#: getFile serves files up to 20 MB.
MAX_FILE_BYTES = 20 * 1024 * 1024

CONFLICT_HINT = ("another getUpdates poller or a webhook holds this bot: stop it or call "
                 "deleteWebhook")


# -- pure helpers (no network) -------------------------------------------------


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def display_name(user: Mapping[str, Any]) -> str:
    """``First Last (@username)``, or what of it there is."""
    name = " ".join(str(user.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
    username = str(user.get("username") or "").strip()
    if name and username:
        return f"{name} (@{username})"
    return name or (f"@{username}" if username else "")


def _file(kind: str, obj: Mapping[str, Any], default_name: str, default_type: str
          ) -> dict[str, Any]:
    return {
        "kind": kind,
        "file_id": str(obj.get("file_id") or ""),
        "file_name": str(obj.get("file_name") or default_name),
        "mime_type": str(obj.get("mime_type") or default_type),
        "file_size": int(obj.get("file_size") or 0),
    }


def files_of(msg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The downloadable files of a message, as plain metadata."""
    mid = msg.get("message_id")
    out: list[dict[str, Any]] = []
    photos = [p for p in msg.get("photo") or [] if isinstance(p, dict) and p.get("file_id")]
    if photos:
        # Sizes come smallest first; the largest by bytes (else pixels) is the original.
        best = max(photos, key=lambda p: (int(p.get("file_size") or 0),
                                          int(p.get("width") or 0) * int(p.get("height") or 0)))
        out.append(_file("photo", best, f"photo-{mid}.jpg", "image/jpeg"))
    # An animation also comes as ``document``; take it once.
    for kind, name, ctype in (("document", f"document-{mid}", "application/octet-stream"),
                              ("voice", f"voice-{mid}.ogg", "audio/ogg"),
                              ("audio", f"audio-{mid}.mp3", "audio/mpeg"),
                              ("video", f"video-{mid}.mp4", "video/mp4"),
                              ("video_note", f"video-note-{mid}.mp4", "video/mp4")):
        obj = msg.get(kind)
        if isinstance(obj, dict) and obj.get("file_id"):
            out.append(_file(kind, obj, name, ctype))
    return out


def _placeholder(msg: Mapping[str, Any], files: list[dict[str, Any]]) -> str:
    """A short text for a message without text or caption."""
    if files:
        labels = {"photo": "photo", "voice": "voice message", "video_note": "video message"}
        return "(" + ", ".join(
            labels.get(f["kind"]) or f"{f['kind']} {f['file_name']}" for f in files) + ")"
    if isinstance(msg.get("sticker"), dict):
        return f"(sticker {msg['sticker'].get('emoji') or ''})".replace(" )", ")")
    if isinstance(msg.get("location"), dict):
        loc = msg["location"]
        return f"(location: {loc.get('latitude')}, {loc.get('longitude')})"
    if isinstance(msg.get("contact"), dict):
        c = msg["contact"]
        who = display_name(c) or "contact"
        return f"(contact: {who} {c.get('phone_number') or ''})".replace(" )", ")")
    if isinstance(msg.get("poll"), dict):
        return f"(poll: {msg['poll'].get('question') or ''})"
    return "(a message of a kind supportctl does not read)"


def update_inbound(update: Mapping[str, Any]) -> Inbound | None:
    """One update as an ``Inbound``; None for anything but a ``message``."""
    msg = update.get("message")
    if not isinstance(msg, dict):
        return None
    chat: dict[str, Any] = msg["chat"] if isinstance(msg.get("chat"), dict) else {}
    chat_id, message_id = chat.get("id"), msg.get("message_id")
    if chat_id is None or message_id is None:
        return None
    user: dict[str, Any] = chat
    if isinstance(msg.get("from"), dict):
        user = msg["from"]
    elif isinstance(msg.get("sender_chat"), dict):
        # A post by a channel or an anonymous group admin: the chat speaks.
        user = msg["sender_chat"]
    name = display_name(user) or str(user.get("title") or "")
    files = files_of(msg)
    text = str(msg.get("text") or msg.get("caption") or "")
    if not text.strip():
        text = _placeholder(msg, files)
    try:
        sent = datetime.fromtimestamp(int(msg.get("date") or 0), timezone.utc)
    except (TypeError, ValueError, OverflowError):
        sent = None
    reply = msg.get("reply_to_message")
    in_reply_to = ""
    if isinstance(reply, dict) and reply.get("message_id") is not None:
        in_reply_to = f"{chat_id}:{reply['message_id']}"
    return Inbound(
        medium="telegram",
        raw=_dumps(update),
        external_id=f"{chat_id}:{message_id}",
        sender=Address(str(user.get("id") or chat_id), name),
        text=text,
        sent_at=sent,
        received_at=sent,
        in_reply_to=in_reply_to,
        conversation=str(chat_id),
        source_ref=f"update:{update.get('update_id')}",
        meta={"chat_type": str(chat.get("type") or ""), "files": files,
              "update_id": update.get("update_id")},
    )


def inbound_from_json(payload: dict[str, Any], config: dict[str, Any]) -> list[Inbound]:
    """Inbound messages from a ``getUpdates`` answer (``{"ok": true,
    "result": [...]}``), in update order. Pure: the demo uses it, and
    ``fetch`` parses every answer with it; files are listed in
    ``meta["files"]``, ``TelegramChannel`` downloads them."""
    result = payload.get("result") if isinstance(payload, dict) else None
    if not isinstance(result, list):
        return []
    updates = [u for u in result if isinstance(u, dict)]
    updates.sort(key=lambda u: u["update_id"] if isinstance(u.get("update_id"), int) else 0)
    return [item for item in map(update_inbound, updates) if item is not None]


def parse_stored(raw: bytes, config: Mapping[str, Any]) -> Inbound:
    """The message of one stored update (``Inbound.raw``), without the
    network: files are not downloaded again, the text says which."""
    try:
        update = json.loads(raw)
    except ValueError:
        raise ParseError("not a Telegram update (not JSON)") from None
    item = update_inbound(update) if isinstance(update, dict) else None
    if item is None:
        raise ParseError("not a Telegram message update")
    files = item.meta.get("files")
    notes = [f"({f.get('kind')} {f.get('file_name')} was not downloaded again: "
             "the message was read back from quarantine)"
             for f in (files if isinstance(files, list) else []) if isinstance(f, dict)]
    if notes:
        item.text = (item.text + "\n\n" + "\n".join(notes)).strip()
    return item


# -- the channel ---------------------------------------------------------------


class TelegramChannel(BaseChannel):
    type = "telegram"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        if not config.get("token"):
            raise ConfigError(f"channel {self.name!r}: set token (type telegram)")
        self._token = str(config["token"])
        self.base_url = str(config.get("api_base_url") or API).rstrip("/")
        host = urlsplit(self.base_url).hostname or self.base_url
        self.http = HttpJson(where=f"Telegram at {host}", secrets=[self._token], config=config)
        #: How retries sleep; tests replace it.
        self.sleep: Callable[[float], None] = time.sleep

    # -- plumbing --------------------------------------------------------------

    def _url(self, method: str) -> str:
        return f"{self.base_url}/bot{self._token}/{method}"

    def call(self, method: str, *, sending: bool = False, **kwargs: Any) -> Any:
        """One Bot API call; the ``result`` of ``{"ok": true, ...}``."""
        resp = self.http.request("POST" if sending else "GET", self._url(method),
                                 sending=sending, **kwargs)
        try:
            payload = json.loads(resp.content)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            if resp.status_code >= 400:
                raise status_error(resp.status_code, self.http.where, sending=sending)
            return self.http.malformed(sending=sending)
        if payload.get("ok") is True and resp.status_code < 400:
            return payload.get("result")
        raise self._api_error(method, resp.status_code, payload, sending=sending)

    def _api_error(self, method: str, status: int, payload: Mapping[str, Any], *,
                   sending: bool) -> ChannelError:
        try:
            code = int(payload.get("error_code") or status)
        except (TypeError, ValueError):
            code = status
        desc = self.http.scrub(str(payload.get("description") or ""))[:200]
        where = self.http.where
        if code == 409:
            return ChannelError(f"{where} answered 409 ({desc or 'Conflict'}): {CONFLICT_HINT}")
        if code == 429:
            params = payload.get("parameters") if isinstance(payload.get("parameters"), dict) \
                else {}
            try:
                delay = float(params.get("retry_after"))  # type: ignore[union-attr, arg-type]
            except (TypeError, ValueError):
                delay = 1.0
            return RetryAfter(f"{where} is rate limiting {method} (HTTP 429): try again in "
                              f"{delay:.0f}s", delay)
        if code == 401 or (code == 404 and "not found" in desc.lower() and method in (
                "getMe", "getUpdates")):
            return AuthError(f"{where} rejected the bot token of {self.name!r} (HTTP {code}): "
                             "check token (from @BotFather)")
        if code >= 500:
            return status_error(code, where, desc, sending=sending)
        return ChannelError(f"{where} refused {method} (HTTP {code}): {desc or 'no reason given'}")

    # -- fetch -----------------------------------------------------------------

    def fetch(self, cursors: Mapping[str, str], *,
              since: datetime | None = None) -> Iterator[Batch]:
        raw = (cursors.get(SOURCE) or "").strip()
        offset = int(raw) if raw.isdigit() and int(raw) > 0 else None
        while True:
            params: dict[str, Any] = {"timeout": 0, "limit": LIMIT,
                                      "allowed_updates": json.dumps(["message"])}
            if offset is not None:
                # Confirms every update below ``offset``: only reached once
                # the caller has committed the batch that moved it (R53).
                params["offset"] = offset
            result = fetch_retry(partial(self.call, "getUpdates", params=params),
                                 sleep=self.sleep)
            if not isinstance(result, list):
                self.http.malformed()
            ids = [u["update_id"] for u in result
                   if isinstance(u, dict) and isinstance(u.get("update_id"), int)]
            if not ids:
                return
            items = [self._with_files(i) for i in inbound_from_json({"result": result}, {})]
            offset = max(ids) + 1
            yield Batch(source=SOURCE, cursor=str(offset), items=items)

    def _with_files(self, item: Inbound) -> Inbound:
        files = item.meta.get("files")
        notes: list[str] = []
        for f in files if isinstance(files, list) else []:
            got = self._download(f)
            if isinstance(got, str):
                notes.append(got)
            else:
                item.attachments.append(got)
        if notes:
            item.text = (item.text + "\n\n" + "\n".join(notes)).strip()
        return item

    def _download(self, f: Mapping[str, Any]) -> AttachmentData | str:
        """The file, or a note saying why it is not there."""
        label = f"{f.get('kind')} {f.get('file_name')}"
        too_big = f"({label} is larger than 20 MB, which bots cannot download)"
        if int(f.get("file_size") or 0) > MAX_FILE_BYTES:
            return too_big
        try:
            info = fetch_retry(partial(self.call, "getFile", params={"file_id": f["file_id"]}),
                               sleep=self.sleep)
            path = info.get("file_path") if isinstance(info, dict) else None
            if not path:
                return f"({label} is not available for download)"
            got = fetch_retry(
                partial(self.http.download, f"{self.base_url}/file/bot{self._token}/{path}",
                        limit=MAX_FILE_BYTES), sleep=self.sleep)
        except ChannelError as exc:
            if exc.temporary or isinstance(exc, AuthError):
                raise
            if "too big" in str(exc).lower():
                return too_big
            # Expired or refused: keep the message, say what is missing.
            return f"({label} could not be downloaded: {exc})"
        if got is None:
            return too_big
        data, served = got
        ctype = str(f.get("mime_type") or served)
        return AttachmentData(filename=str(f.get("file_name") or "file"), content_type=ctype,
                              data=data)

    # -- send ------------------------------------------------------------------

    def send(self, message: Outbound) -> SendResult:
        if message.medium != "telegram":
            raise ChannelError(f"channel {self.name!r} (telegram) cannot send {message.medium}")
        target = message.conversation or (message.to[0].address if message.to else "")
        if not target:
            raise ChannelError("no chat to send to: the ticket has no Telegram chat")
        chat_id: int | str = int(target) if target.lstrip("-").isdigit() else target
        reply_to: int | None = None
        chat, _, mid = message.reply_to_external_id.rpartition(":")
        if mid.isdigit() and chat == str(chat_id):
            reply_to = int(mid)
        steps: list[Callable[[dict[str, Any] | None], Any]] = []
        if message.text.strip():
            for part in split_message(message.text, TEXT_LIMIT):
                steps.append(partial(self._send_text, chat_id, part))
        for att in message.attachments:
            steps.append(partial(self._send_document, chat_id, att))
        if not steps:
            raise ChannelError("empty message: nothing sent")
        sent: list[Any] = []
        for step in steps:
            # Only the first message answers the customer's; the rest follow it.
            reply = {"message_id": reply_to, "allow_sending_without_reply": True} \
                if reply_to is not None and not sent else None
            try:
                result = send_retry(partial(step, reply), sleep=self.sleep)
            except ChannelError as exc:
                if sent:
                    raise ChannelError(
                        f"{len(sent)} of {len(steps)} messages were sent to chat {chat_id}, "
                        f"then: {exc}", temporary=exc.temporary, unknown_outcome=True) from None
                if exc.unknown_outcome:
                    raise ChannelError(
                        f"{exc}; Telegram cannot look a sent message up: check the chat "
                        "before resending", temporary=True, unknown_outcome=True) from None
                raise
            if not isinstance(result, dict) or result.get("message_id") is None:
                self.http.malformed(sending=True)
            sent.append(result)
        last = sent[-1]
        chat_of = (last.get("chat") or {}).get("id", chat_id)
        return SendResult(external_id=f"{chat_of}:{last['message_id']}", state="sent",
                          raw=_dumps(sent[0] if len(sent) == 1 else sent))

    def _send_text(self, chat_id: int | str, text: str, reply: dict[str, Any] | None) -> Any:
        body: dict[str, Any] = {"chat_id": chat_id, "text": text}
        if reply:
            body["reply_parameters"] = reply
        return self.call("sendMessage", sending=True, json=body)

    def _send_document(self, chat_id: int | str, att: AttachmentData,
                       reply: dict[str, Any] | None) -> Any:
        data: dict[str, str] = {"chat_id": str(chat_id)}
        if reply:
            data["reply_parameters"] = json.dumps(reply)
        files = {"document": (att.filename or "file", att.data,
                              att.content_type or "application/octet-stream")}
        return self.call("sendDocument", sending=True, data=data, files=files)

    # -- check -----------------------------------------------------------------

    def check(self) -> str:
        me = fetch_retry(partial(self.call, "getMe"), sleep=self.sleep)
        if not isinstance(me, dict):
            self.http.malformed()
        return (f"Telegram bot @{me.get('username')} ({me.get('first_name') or ''}, "
                f"id {me.get('id')})")

    def close(self) -> None:
        self.http.close()
