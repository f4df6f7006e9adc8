"""A fake Telegram Bot API on loopback, as core.telegram.org/bots/api
documents it, for driving ``TelegramChannel`` through ``api_base_url``.

Methods at ``/bot<token>/<method>`` (GET query, POST JSON, form or
multipart): ``getUpdates`` (an update is confirmed, and forgotten, once
``getUpdates`` is called with a higher ``offset``; no offset returns the
earliest unconfirmed ones; ``allowed_updates`` does not filter updates
already queued, as the API warns), ``getFile``, ``sendMessage`` (4096
UTF-16 units, ``reply_parameters``), ``sendDocument`` (multipart),
``getMe``, ``deleteWebhook``; files at ``/file/bot<token>/<file_path>``.
Answers are ``{"ok": true, "result": …}`` or ``{"ok": false, "error_code":
…, "description": …[, "parameters": {"retry_after": N}]}`` with that
HTTP status: 401 for a wrong token, 409 while a webhook is set or another
poller holds the bot, 429 from ``throttle``, 400 for bad requests.

``lose_send`` makes the next send act and then lose its answer (``hang``
past the client's timeout or ``truncate``)."""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from tests.social.loopback import LoopbackServer, Reply, Request

TOKEN = "7012345678:AAFsecretTelegramToken_abcdefGHIJKL"
BOT = {"id": 7012345678, "is_bot": True, "first_name": "Bottega Rossi",
       "username": "bottega_rossi_bot", "can_join_groups": True,
       "can_read_all_group_messages": False, "supports_inline_queries": False}


def ok(result: Any) -> Reply:
    return Reply(200, {"ok": True, "result": result})


def fail(code: int, description: str, **extra: Any) -> Reply:
    return Reply(code, {"ok": False, "error_code": code, "description": description, **extra})


class TelegramServer:
    def __init__(self, *, token: str = TOKEN, first_update: int = 851000001) -> None:
        self.http = LoopbackServer()
        self.http.hang_seconds = 2.0
        self.url = self.http.url
        self.token = token
        self.lock = threading.Lock()
        self.update_ids = itertools.count(first_update)
        self.message_ids: dict[int, itertools.count[int]] = {}
        self.queue: list[dict[str, Any]] = []
        self.confirmed: list[int] = []
        self.chats: dict[int, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.blobs: dict[str, bytes] = {}
        self.sent: list[dict[str, Any]] = []
        #: Every message ever in a chat, by (chat id, message id).
        self.history: dict[tuple[int, int], dict[str, Any]] = {}
        self.offsets: list[int | None] = []
        self.webhook = ""
        self.other_poller = False
        self.throttled: list[int] = []
        self.lose_send: str | None = None
        self._install()

    # -- state helpers ------------------------------------------------------------

    def _mid(self, chat_id: int) -> int:
        return next(self.message_ids.setdefault(chat_id, itertools.count(1)))

    def user(self, uid: int, first: str, last: str = "", username: str = "",
             lang: str = "it") -> dict[str, Any]:
        u: dict[str, Any] = {"id": uid, "is_bot": False, "first_name": first}
        if last:
            u["last_name"] = last
        if username:
            u["username"] = username
        u["language_code"] = lang
        return u

    def private_chat(self, user: dict[str, Any]) -> dict[str, Any]:
        chat = {k: user[k] for k in ("id", "first_name", "last_name", "username") if k in user}
        chat["type"] = "private"
        self.chats[user["id"]] = chat
        return chat

    def add_file(self, data: bytes, folder: str, ext: str, *, size: int | None = None,
                 **fields: Any) -> dict[str, Any]:
        file_id = "BQACAgQAAx" + secrets.token_urlsafe(24)
        path = f"{folder}/file_{len(self.files)}.{ext}"
        self.files[file_id] = {"file_id": file_id, "file_unique_id": secrets.token_hex(8),
                               "file_size": len(data) if size is None else size,
                               "file_path": path}
        self.blobs[path] = data
        return {"file_id": file_id, "file_unique_id": self.files[file_id]["file_unique_id"],
                "file_size": self.files[file_id]["file_size"], **fields}

    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self.update_ids), **update}
        with self.lock:
            self.queue.append(update)
        return update

    def message(self, user: dict[str, Any], text: str | None = None, *,
                date: int | None = None, reply_to: dict[str, Any] | None = None,
                **content: Any) -> dict[str, Any]:
        """A customer's message to the bot in their private chat; ``content``
        adds ``photo``, ``document``, ``voice``, ``caption``…"""
        chat = self.chats.get(user["id"]) or self.private_chat(user)
        msg: dict[str, Any] = {"message_id": self._mid(chat["id"]), "from": user, "chat": chat,
                               "date": date or int(time.time())}
        if text is not None:
            msg["text"] = text
        if reply_to is not None:
            msg["reply_to_message"] = reply_to
        msg.update(content)
        self.history[(chat["id"], msg["message_id"])] = msg
        return self.push({"message": msg})

    # -- HTTP ---------------------------------------------------------------------

    @staticmethod
    def params(req: Request) -> dict[str, Any]:
        """Parameters from the query, a JSON body, a form or multipart."""
        out: dict[str, Any] = {k: v[-1] for k, v in req.query.items()}
        ctype = req.headers.get("content-type", "")
        if req.method == "POST" and req.body:
            if ctype.startswith("application/json"):
                out.update(req.json())
            elif ctype.startswith("multipart/form-data"):
                msg = BytesParser(policy=HTTP).parsebytes(
                    f"Content-Type: {ctype}\r\n\r\n".encode() + req.body)
                for part in msg.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    filename = part.get_filename()
                    payload = part.get_payload(decode=True)
                    if filename is not None:
                        out[str(name)] = {"filename": filename, "data": payload,
                                          "content_type": part.get_content_type()}
                    else:
                        out[str(name)] = payload.decode() if isinstance(payload, bytes) else ""
            else:
                out.update({k: v[-1] for k, v in req.form().items()})
        for key in ("reply_parameters", "allowed_updates"):
            if isinstance(out.get(key), str):
                out[key] = json.loads(out[key])
        return out

    def _get_updates(self, p: dict[str, Any]) -> Reply:
        if self.webhook:
            return fail(409, "Conflict: can't use getUpdates method while webhook is active; "
                        "use deleteWebhook to delete the webhook first")
        if self.other_poller:
            return fail(409, "Conflict: terminated by other getUpdates request; make sure "
                        "that only one bot instance is running")
        offset = int(p["offset"]) if "offset" in p else None
        limit = min(int(p.get("limit", 100)), 100)
        with self.lock:
            self.offsets.append(offset)
            if offset is not None and offset > 0:
                self.confirmed += [u["update_id"] for u in self.queue if u["update_id"] < offset]
                self.queue = [u for u in self.queue if u["update_id"] >= offset]
            elif offset is not None and offset < 0:
                self.queue = self.queue[offset:]
            return ok(list(self.queue[:limit]))

    def _reply_to(self, chat_id: int, p: dict[str, Any]) -> dict[str, Any] | None | Reply:
        rp = p.get("reply_parameters")
        mid = rp.get("message_id") if isinstance(rp, dict) else p.get("reply_to_message_id")
        if mid is None:
            return None
        m = self.history.get((chat_id, int(mid)))
        if m is not None:
            return {k: v for k, v in m.items() if k != "reply_to_message"}
        if isinstance(rp, dict) and rp.get("allow_sending_without_reply"):
            return {"message_id": int(mid), "chat": self.chats[chat_id], "date": 0}
        return fail(400, "Bad Request: message to be replied not found")

    def _send(self, method: str, p: dict[str, Any]) -> Reply:
        try:
            chat_id = int(p.get("chat_id", ""))
        except ValueError:
            return fail(400, "Bad Request: chat not found")
        if chat_id not in self.chats:
            return fail(400, "Bad Request: chat not found")
        msg: dict[str, Any] = {"message_id": self._mid(chat_id), "from": BOT,
                               "chat": self.chats[chat_id], "date": int(time.time())}
        if method == "sendMessage":
            text = str(p.get("text") or "")
            if not text.strip():
                return fail(400, "Bad Request: message text is empty")
            if len(text.encode("utf-16-le")) // 2 > 4096:
                return fail(400, "Bad Request: message is too long")
            msg["text"] = text
        else:
            doc = p.get("document")
            if not isinstance(doc, dict):
                return fail(400, "Bad Request: there is no document in the request")
            info = self.add_file(doc["data"], "documents", "bin", file_name=doc["filename"],
                                 mime_type=doc["content_type"])
            msg["document"] = info
            if p.get("caption"):
                msg["caption"] = p["caption"]
        reply = self._reply_to(chat_id, p)
        if isinstance(reply, Reply):
            return reply
        if reply is not None:
            msg["reply_to_message"] = reply
        with self.lock:
            self.sent.append({**msg, "_method": method, "_params": p})
            self.history[(chat_id, msg["message_id"])] = msg
        lose, self.lose_send = self.lose_send, None
        if lose == "hang":
            time.sleep(self.http.hang_seconds)
        if lose == "truncate":
            return Reply(200, raw=b'{"ok":true,"result":{"message_id":')
        return ok(msg)

    def _install(self) -> None:
        http = self.http

        def method(req: Request) -> Reply:
            assert req.match is not None
            if req.match["token"] != self.token:
                return fail(401, "Unauthorized")
            name = req.match["method"]
            if self.throttled:
                wait = self.throttled.pop(0)
                return fail(429, f"Too Many Requests: retry after {wait}",
                            parameters={"retry_after": wait})
            p = self.params(req)
            if name == "getUpdates":
                return self._get_updates(p)
            if name == "getMe":
                return ok(BOT)
            if name == "deleteWebhook":
                self.webhook = ""
                return ok(True)
            if name == "getFile":
                info = self.files.get(str(p.get("file_id")))
                if info is None:
                    return fail(400, "Bad Request: invalid file_id")
                if info["file_size"] > 20 * 1024 * 1024:
                    return fail(400, "Bad Request: file is too big")
                return ok(info)
            if name in ("sendMessage", "sendDocument"):
                return self._send(name, p)
            return fail(404, "Not Found")

        pattern = r"/bot(?P<token>[^/]+)/(?P<method>\w+)"
        http.route("GET", pattern)(method)
        http.route("POST", pattern)(method)

        @http.route("GET", r"/file/bot(?P<token>[^/]+)/(?P<path>.+)")
        def download(req: Request) -> Reply:
            assert req.match is not None
            if req.match["token"] != self.token or req.match["path"] not in self.blobs:
                return fail(404, "Not Found")
            return Reply(200, raw=self.blobs[req.match["path"]],
                         headers={"Content-Type": "application/octet-stream"})

    def __enter__(self) -> TelegramServer:
        self.http.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.__exit__(*exc)
