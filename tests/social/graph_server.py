"""A fake Meta Graph API on loopback, shaped after the documented JSON, for
driving ``MessengerChannel`` / ``InstagramChannel`` through ``api_base_url``.

Endpoints under ``/<version>/``: ``{page-or-account}/conversations``
(``platform``, ``fields``, ``limit``, ``after``; newest ``updated_time``
first), ``{conversation}/messages`` (newest first), ``{page-or-account}/
messages`` (the Send API: ``recipient``, ``messaging_type`` RESPONSE or
MESSAGE_TAG with ``tag``, ``message.text``), ``debug_token`` and
``{page-or-account}`` itself; images at ``/cdn/<name>``. Lists are
``{"data": [...], "paging": {"cursors": {"before", "after"}, "next"}}`` with
``next`` a full URL back to this server (carrying ``access_token``, as
Graph's do); times look like ``2024-01-01T12:00:00+0000``; errors are
``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``.

Faults: ``graph_error(code, …)`` answers the next matching calls with a
Graph error (rate limits 4/17/32/613, permissions 10/200), ``expire()``
makes the token expired (code 190, subcode 463), ``http.fail(rx, "500")``
an HTTP 500, and ``on_page`` runs a callback after a list page is served
(a conversation updated while the client pages)."""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import urlencode

from tests.social.loopback import LoopbackServer, Reply, Request

TOKEN = "EAAGm0PX4ZCpsBAPageTokenSecret1234567890abcdef"
PAGE_ID = "1029384756"
IG_ID = "17841400000000001"
VERSION = "v21.0"
START = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7"
       b"\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")


def gtime(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def error(code: int, message: str, *, status: int = 400, type_: str = "OAuthException",
          subcode: int | None = None, headers: dict[str, str] | None = None) -> Reply:
    body: dict[str, Any] = {"message": message, "type": type_, "code": code,
                            "fbtrace_id": "AbCdEfGhIjK"}
    if subcode is not None:
        body["error_subcode"] = subcode
    return Reply(status, {"error": body}, headers or {})


class GraphServer:
    def __init__(self, *, platform: str = "messenger", token: str = TOKEN,
                 page_size: int = 25) -> None:
        self.http = LoopbackServer()
        self.http.hang_seconds = 2.0
        self.url = self.http.url
        self.platform = platform
        self.own_id = IG_ID if platform == "instagram" else PAGE_ID
        self.token = token
        self.page_size = page_size
        self.lock = threading.Lock()
        self.clock = START
        self.ids = itertools.count(1)
        #: conversation id -> {"id", "updated_time" (datetime), "messages" newest first}
        self.conversations: dict[str, dict[str, Any]] = {}
        self.blobs: dict[str, bytes] = {}
        self.sent: list[dict[str, Any]] = []
        self.expired = False
        self.scopes = (["instagram_basic", "instagram_manage_messages", "pages_manage_metadata"]
                       if platform == "instagram" else
                       ["pages_messaging", "pages_manage_metadata", "pages_show_list"])
        self.errors: list[tuple[str, Reply]] = []
        self.page_hooks: list[Callable[[], None]] = []
        self._install()

    # -- state --------------------------------------------------------------------

    def tick(self, minutes: int = 1) -> datetime:
        self.clock += timedelta(minutes=minutes)
        return self.clock

    def user(self, uid: str, name: str) -> dict[str, Any]:
        if self.platform == "instagram":
            return {"username": name, "id": uid}
        return {"name": name, "email": f"{uid}@facebook.com", "id": uid}

    def message(self, user: dict[str, Any], text: str, *, image: bool = False,
                at: datetime | None = None, conversation: str = "",
                outgoing: bool = False) -> dict[str, Any]:
        """A customer's message (or, ``outgoing``, the Page's) in their
        conversation with the Page, which moves to the top of the list."""
        with self.lock:
            when = at or self.tick()
            cid = conversation or f"t_{user['id']}"
            conv = self.conversations.setdefault(cid, {"id": cid, "messages": [],
                                                       "updated_time": when})
            n = next(self.ids)
            me = ({"username": "bottegarossi", "id": self.own_id} if self.platform == "instagram"
                  else {"name": "Bottega Rossi", "email": f"{self.own_id}@facebook.com",
                        "id": self.own_id})
            sender, to = (me, user) if outgoing else (user, me)
            msg: dict[str, Any] = {"id": f"m_{n:06d}AbCd", "created_time": gtime(when),
                                   "from": sender, "to": {"data": [to]}, "message": text}
            if image:
                name = f"img{n}.png"
                self.blobs[name] = PNG
                msg["attachments"] = {"data": [{
                    "id": f"att{n}", "mime_type": "image/png", "name": name, "size": len(PNG),
                    "image_data": {"width": 1, "height": 1, "max_width": 1, "max_height": 1,
                                   "url": f"{self.url}/cdn/{name}",
                                   "preview_url": f"{self.url}/cdn/{name}"}}]}
            conv["messages"].insert(0, msg)
            conv["updated_time"] = max(conv["updated_time"], when)
            return msg

    def expire(self) -> None:
        self.expired = True

    def graph_error(self, code: int, *, path: str = r".*", times: int = 1, status: int = 400,
                    subcode: int | None = None, regain_minutes: int | None = None) -> None:
        """The next ``times`` calls whose path matches ``path`` fail with
        this Graph error code (4/17/32/613: rate limits)."""
        headers: dict[str, str] = {}
        if regain_minutes is not None:
            headers["X-Business-Use-Case-Usage"] = json.dumps({self.own_id: [{
                "type": "pages", "call_count": 100, "total_cputime": 30, "total_time": 40,
                "estimated_time_to_regain_access": regain_minutes}]})
        msgs = {4: "Application request limit reached", 17: "User request limit reached",
                32: "Page request limit reached", 613: "Calls to this api have exceeded the "
                "rate limit."}
        for _ in range(times):
            self.errors.append((path, error(code, msgs.get(code, "An error occurred"),
                                            status=status, subcode=subcode, headers=headers)))

    # -- the API ------------------------------------------------------------------

    def graph_requests(self) -> list[Request]:
        """Every Graph call (CDN downloads excluded)."""
        return [r for r in self.http.log if r.path.startswith(f"/{VERSION}/")]

    @staticmethod
    def _send_params(req: Request) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The Send API's parameters, from a JSON body or a multipart upload
        (JSON-encoded fields beside ``filedata``); the upload, if any."""
        ctype = req.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            return req.json(), None
        msg = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + req.body)
        body: dict[str, Any] = {}
        upload = None
        for part in msg.iter_parts():
            name = str(part.get_param("name", header="content-disposition"))
            data = part.get_payload(decode=True)
            if name == "filedata":
                upload = {"filename": part.get_filename(), "content_type": part.get_content_type(),
                          "data": data}
            elif isinstance(data, bytes):
                text = data.decode()
                body[name] = json.loads(text) if text[:1] in "{[" else text
        return body, upload

    def _auth(self, req: Request) -> Reply | None:
        got = req.headers.get("authorization", "").removeprefix("Bearer ").strip() or \
            (req.query.get("access_token") or [""])[0]
        if self.expired:
            return error(190, "Error validating access token: Session has expired on "
                         "Tuesday, 01-Dec-26 09:00:00 PST.", subcode=463)
        if got != self.token:
            return error(190, "Invalid OAuth access token - Cannot parse access token")
        import re

        for i, (rx, reply) in enumerate(self.errors):
            if re.fullmatch(rx, req.path):
                del self.errors[i]
                return reply
        return None

    def _page(self, req: Request, rows: list[dict[str, Any]], path: str) -> Reply:
        limit = int((req.query.get("limit") or [str(self.page_size)])[0])
        limit = min(limit, self.page_size)
        after = (req.query.get("after") or [""])[0]
        start = int(base64.b64decode(after).decode()) if after else 0
        chunk = rows[start:start + limit]
        body: dict[str, Any] = {"data": chunk}
        if chunk:
            body["paging"] = {"cursors": {
                "before": base64.b64encode(str(start).encode()).decode(),
                "after": base64.b64encode(str(start + len(chunk)).encode()).decode()}}
            if start + len(chunk) < len(rows):
                q = {k: v[0] for k, v in req.query.items() if k != "after"}
                q |= {"access_token": self.token, "limit": str(limit),
                      "after": body["paging"]["cursors"]["after"]}
                body["paging"]["next"] = f"{self.url}{path}?{urlencode(q)}"
        for hook in list(self.page_hooks):
            self.page_hooks.remove(hook)
            hook()
        return Reply(200, body)

    def on_page(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` right after the next list page is served."""
        self.page_hooks.append(hook)

    def _install(self) -> None:
        v = VERSION
        http = self.http

        @http.route("GET", rf"/{v}/(?P<obj>[^/]+)/conversations")
        def conversations(req: Request) -> Reply:
            bad = self._auth(req)
            if bad:
                return bad
            if req.match is None or req.match["obj"] != self.own_id:
                return error(100, "Unsupported get request.", type_="GraphMethodException",
                             subcode=33)
            if (req.query.get("platform") or ["messenger"])[0] != self.platform:
                return error(100, "Invalid platform", type_="OAuthException")
            with self.lock:
                rows = sorted(self.conversations.values(), key=lambda c: c["updated_time"],
                              reverse=True)
                rows = [{"id": c["id"], "updated_time": gtime(c["updated_time"]),
                         "message_count": len(c["messages"])} for c in rows]
            return self._page(req, rows, req.path)

        @http.route("GET", rf"/{v}/(?P<conv>t_[^/]+|aWdf[^/]+)/messages")
        def messages(req: Request) -> Reply:
            bad = self._auth(req)
            if bad:
                return bad
            assert req.match is not None
            with self.lock:
                conv = self.conversations.get(req.match["conv"])
                if conv is None:
                    return error(100, "Unsupported get request.", type_="GraphMethodException",
                                 subcode=33)
                rows = list(conv["messages"])
            return self._page(req, rows, req.path)

        @http.route("POST", rf"/{v}/(?P<obj>[^/]+)/messages")
        def send(req: Request) -> Reply:
            bad = self._auth(req)
            if bad:
                return bad
            body, upload = self._send_params(req)
            kind = body.get("messaging_type")
            if kind not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
                return error(100, "(#100) Param messaging_type is required")
            if kind == "MESSAGE_TAG" and body.get("tag") != "HUMAN_AGENT":
                return error(100, "(#100) Tag is invalid")
            message = body.get("message") or {}
            text = message.get("text") or ""
            rid = (body.get("recipient") or {}).get("id")
            attachment = message.get("attachment") or {}
            if attachment and (attachment.get("type") not in ("image", "audio", "video", "file")
                               or upload is None):
                return error(100, "(#100) Upload attachment failure.")
            if not (text or attachment) or not rid:
                return error(100, "(#100) The parameter message is required")
            if attachment and self.platform == "instagram":
                return error(100, "(#100) Instagram takes attachments only by URL")
            with self.lock:
                n = next(self.ids)
                self.sent.append(body | ({"filedata": upload} if upload else {}))
            return Reply(200, {"recipient_id": rid, "message_id": f"m_sent{n:06d}"})

        @http.route("GET", rf"/{v}/debug_token")
        def debug(req: Request) -> Reply:
            bad = self._auth(req)
            if bad:
                return bad
            return Reply(200, {"data": {
                "app_id": "438765123456789", "type": "PAGE", "application": "Bottega Desk",
                "data_access_expires_at": 1803000000, "expires_at": 0, "is_valid": True,
                "issued_at": 1795000000, "profile_id": PAGE_ID, "scopes": self.scopes,
                "user_id": "100012345678901"}})

        @http.route("GET", rf"/{v}/(?P<obj>\d+)")
        def node(req: Request) -> Reply:
            bad = self._auth(req)
            if bad:
                return bad
            if self.platform == "instagram":
                return Reply(200, {"id": self.own_id, "username": "bottegarossi"})
            return Reply(200, {"id": self.own_id, "name": "Bottega Rossi"})

        @http.route("GET", r"/cdn/(?P<name>[^/]+)")
        def cdn(req: Request) -> Reply:
            assert req.match is not None
            data = self.blobs.get(req.match["name"])
            if data is None:
                return Reply(404, {"error": "not found"})
            return Reply(200, raw=data, headers={"Content-Type": "image/png"})

    def __enter__(self) -> GraphServer:
        self.http.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.__exit__(*exc)
