"""A fake Twilio REST API (2010-04-01) on loopback, for driving the real
twilio-python through ``api_base_url``.

Endpoints, JSON as api.twilio.com sends it (RFC 2822 dates, counts as
strings, ``subresource_uris``): ``GET /2010-04-01/Accounts/{sid}.json``;
``GET …/Messages.json`` with ``To``, ``From``, ``DateSent``, ``DateSent>``,
``DateSent<`` (whole GMT days ``YYYY-MM-DD`` only, as Twilio insists),
``PageSize`` (≤ 1000), ``Page`` and ``PageToken``, newest first, with
``first_page_uri``/``next_page_uri``/``previous_page_uri``/``page``/
``page_size``/``start``/``end``/``uri``; ``POST …/Messages.json`` (form:
``To``, ``From``, ``Body`` ≤ 1600, ``ContentSid``, ``ContentVariables``);
``GET …/Messages/{sid}.json``; ``GET …/Messages/{sid}/Media.json``; media
content at ``…/Media/{sid}`` (authenticated, redirecting to an unsigned
``/cdn/`` URL as Twilio redirects to its CDN). Every API path checks HTTP
Basic auth and answers 401 with error 20003 otherwise.

``lose_create`` makes the next POST create its message and then lose the
answer (``hang`` past the client's timeout, ``truncate`` the JSON)."""

from __future__ import annotations

import base64
import itertools
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from tests.social.loopback import LoopbackServer, Reply, Request

SID = "AC" + "5a" * 16
TOKEN = "twSECRETtoken0123456789abcdef42"
SHOP = "+15550100000"
SHOP_WA = "whatsapp:+15550100000"
SHOP2 = "+15550100001"


def rfc2822(dt: datetime | None) -> str | None:
    return format_datetime(dt.astimezone(timezone.utc)) if dt else None


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


class TwilioServer:
    def __init__(self, *, account_sid: str = SID, token: str = TOKEN,
                 numbers: tuple[str, ...] = (SHOP, SHOP_WA, SHOP2)) -> None:
        self.http = LoopbackServer()
        self.http.hang_seconds = 2.0
        self.url = self.http.url
        self.account_sid = account_sid
        self.token = token
        self.numbers = list(numbers)
        self.lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []
        self.created: list[dict[str, Any]] = []
        self.media: dict[str, list[dict[str, Any]]] = {}
        self.blobs: dict[str, tuple[bytes, str]] = {}
        self.order = itertools.count()
        self.lose_create: str | None = None
        self._install()

    # -- state helpers ------------------------------------------------------------

    def _uri(self, tail: str) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}{tail}"

    def _message(self, *, sid: str, frm: str, to: str, body: str, direction: str,
                 status: str, created: datetime, sent: datetime | None,
                 num_media: int = 0) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": body,
            "date_created": rfc2822(created), "date_sent": rfc2822(sent),
            "date_updated": rfc2822(sent or created), "direction": direction,
            "error_code": None, "error_message": None, "from": frm,
            "messaging_service_sid": None, "num_media": str(num_media),
            "num_segments": str(max(1, -(-len(body) // 153))) if body else "1",
            "price": None, "price_unit": "USD", "sid": sid, "status": status,
            "subresource_uris": {
                "media": self._uri(f"/Messages/{sid}/Media.json"),
                "feedback": self._uri(f"/Messages/{sid}/Feedback.json"),
            },
            "to": to, "uri": self._uri(f"/Messages/{sid}.json"),
            "_order": next(self.order),
        }

    def inbound(self, frm: str, body: str, *, to: str = SHOP, sent: datetime | None = None,
                media: list[tuple[bytes, str]] | None = None,
                status: str = "received") -> dict[str, Any]:
        """A customer's message to ``to``; WhatsApp when ``frm`` says so."""
        when = sent or _now()
        prefix = "MM" if media else "SM"
        sid = prefix + secrets.token_hex(16)
        msg = self._message(sid=sid, frm=frm, to=to, body=body, direction="inbound",
                            status=status, created=when,
                            sent=None if status == "receiving" else when,
                            num_media=len(media or []))
        entries = []
        for data, ctype in media or []:
            me = "ME" + secrets.token_hex(16)
            self.blobs[me] = (data, ctype)
            entries.append({
                "account_sid": self.account_sid, "content_type": ctype,
                "date_created": rfc2822(when), "date_updated": rfc2822(when),
                "parent_sid": sid, "sid": me,
                "uri": self._uri(f"/Messages/{sid}/Media/{me}.json"),
            })
        with self.lock:
            self.media[sid] = entries
            self.messages.append(msg)
        return msg

    def find(self, sid: str) -> dict[str, Any] | None:
        return next((m for m in self.messages if m["sid"] == sid), None)

    def set_status(self, sid: str, status: str, error_code: int | None = None,
                   error_message: str | None = None) -> None:
        msg = self.find(sid)
        assert msg is not None
        msg.update(status=status, error_code=error_code, error_message=error_message)
        if status in ("sent", "delivered", "undelivered", "failed") and not msg["date_sent"]:
            msg["date_sent"] = rfc2822(_now())

    @staticmethod
    def public(msg: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in msg.items() if not k.startswith("_")}

    # -- HTTP ---------------------------------------------------------------------

    def _authorized(self, req: Request) -> bool:
        want = base64.b64encode(f"{self.account_sid}:{self.token}".encode()).decode()
        return req.headers.get("authorization") == f"Basic {want}"

    def _error(self, status: int, code: int, message: str) -> Reply:
        return Reply(status, {"code": code, "message": message,
                              "more_info": f"https://www.twilio.com/docs/errors/{code}",
                              "status": status})

    def _guard(self, req: Request) -> Reply | None:
        if not self._authorized(req):
            return Reply(401, {"code": 20003, "detail": "Your AccountSid or AuthToken was "
                               "incorrect.", "message": "Authenticate",
                               "more_info": "https://www.twilio.com/docs/errors/20003",
                               "status": 401})
        if req.match and req.match.groupdict().get("acct") not in (None, self.account_sid):
            return self._error(404, 20404, f"The requested resource {req.path} was not found")
        return None

    @staticmethod
    def _day(value: str) -> datetime | None:
        try:
            return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        except ValueError:
            return None

    def _list(self, req: Request) -> Reply:
        q = {k: v[-1] for k, v in req.query.items()}
        filters: list[tuple[str, str]] = []
        rows = list(self.messages)
        for key in ("To", "From"):
            if key in q:
                filters.append((key, q[key]))
                rows = [m for m in rows if m[key.lower()] == q[key]]
        for key in ("DateSent", "DateSent>", "DateSent<"):
            if key not in q:
                continue
            day = self._day(q[key])
            if day is None:
                return self._error(400, 20001, f"Invalid value for {key}: {q[key]}")
            filters.append((key, q[key]))
            end = day + timedelta(days=1)

            def sent(m: dict[str, Any]) -> datetime | None:
                from email.utils import parsedate_to_datetime

                return parsedate_to_datetime(m["date_sent"]) if m["date_sent"] else None

            if key == "DateSent":
                rows = [m for m in rows if (s := sent(m)) is not None and day <= s < end]
            elif key == "DateSent>":
                rows = [m for m in rows if (s := sent(m)) is not None and s >= day]
            else:
                rows = [m for m in rows if (s := sent(m)) is not None and s < end]

        def key_of(m: dict[str, Any]) -> tuple[float, int]:
            from email.utils import parsedate_to_datetime

            stamp = m["date_sent"] or m["date_created"]
            return (parsedate_to_datetime(stamp).timestamp(), m["_order"])

        rows.sort(key=key_of, reverse=True)
        size = min(int(q.get("PageSize", "50")), 1000)
        page = int(q.get("Page", "0"))
        start = 0
        token = q.get("PageToken", "")
        if token.startswith("PA"):
            after = token[2:]
            idx = next((i for i, m in enumerate(rows) if m["sid"] == after), None)
            start = idx + 1 if idx is not None else len(rows)
        chunk = rows[start:start + size]
        base = self._uri("/Messages.json")

        def link(p: int, tok: str | None) -> str:
            params = [*filters, ("PageSize", str(size)), ("Page", str(p))]
            if tok:
                params.append(("PageToken", tok))
            return f"{base}?{urlencode(params)}"

        more = start + size < len(rows)
        body = {
            "first_page_uri": link(0, None),
            "end": start + len(chunk) - 1 if chunk else start,
            "previous_page_uri": link(page - 1, "PB" + chunk[0]["sid"]) if page and chunk
            else None,
            "messages": [self.public(m) for m in chunk],
            "uri": link(page, token or None),
            "page_size": size,
            "start": start,
            "next_page_uri": link(page + 1, "PA" + chunk[-1]["sid"]) if more and chunk
            else None,
            "page": page,
        }
        return Reply(200, body)

    def _create(self, req: Request) -> Reply:
        form = {k: v[-1] for k, v in req.form().items()}
        to, frm = form.get("To", ""), form.get("From", "")
        body, content = form.get("Body"), form.get("ContentSid")
        if frm not in self.numbers:
            return self._error(400, 21606, f"The From phone number {frm} is not a valid, "
                               "SMS-capable inbound phone number or short code for your account.")
        if to.startswith("whatsapp:") != frm.startswith("whatsapp:"):
            return self._error(400, 21910, "Invalid From and To pair. From and To should be "
                               "of the same channel")
        if not body and not content:
            return self._error(400, 21602, "Message body is required.")
        if body and len(body.encode("utf-16-le")) // 2 > 1600:
            return self._error(400, 21617, "The concatenated message body exceeds the 1600 "
                               "character limit.")
        sid = "SM" + secrets.token_hex(16)
        msg = self._message(sid=sid, frm=frm, to=to, body=body or f"[template {content}]",
                            direction="outbound-api", status="queued", created=_now(),
                            sent=None)
        with self.lock:
            self.messages.append(msg)
            self.created.append({**form, "_sid": sid})
        lose, self.lose_create = self.lose_create, None
        if lose == "hang":
            time.sleep(self.http.hang_seconds)
        if lose == "truncate":
            return Reply(201, raw=b'{"sid": "' + sid.encode())
        return Reply(201, self.public(msg))

    def _install(self) -> None:
        http = self.http
        acct = r"/2010-04-01/Accounts/(?P<acct>AC\w+)"

        @http.route("GET", acct + r"\.json")
        def account(req: Request) -> Reply:
            if (r := self._guard(req)) is not None:
                return r
            return Reply(200, {
                # The real resource carries the auth token: never print it.
                "auth_token": self.token, "date_created": rfc2822(_now() - timedelta(days=400)),
                "date_updated": rfc2822(_now()), "friendly_name": "Bottega Rossi",
                "owner_account_sid": self.account_sid, "sid": self.account_sid,
                "status": "active", "type": "Full", "uri": self._uri(".json"),
                "subresource_uris": {"messages": self._uri("/Messages.json")},
            })

        @http.route("GET", acct + r"/Messages\.json")
        def listing(req: Request) -> Reply:
            return self._guard(req) or self._list(req)

        @http.route("POST", acct + r"/Messages\.json")
        def create(req: Request) -> Reply:
            return self._guard(req) or self._create(req)

        @http.route("GET", acct + r"/Messages/(?P<msg>\w+)\.json")
        def fetch(req: Request) -> Reply:
            if (r := self._guard(req)) is not None:
                return r
            assert req.match is not None
            msg = self.find(req.match["msg"])
            if msg is None:
                return self._error(404, 20404, f"The requested resource {req.path} was not found")
            return Reply(200, self.public(msg))

        @http.route("GET", acct + r"/Messages/(?P<msg>\w+)/Media\.json")
        def media_list(req: Request) -> Reply:
            if (r := self._guard(req)) is not None:
                return r
            assert req.match is not None
            entries = self.media.get(req.match["msg"], [])
            uri = self._uri(f"/Messages/{req.match['msg']}/Media.json?PageSize=50&Page=0")
            return Reply(200, {"first_page_uri": uri, "end": max(len(entries) - 1, 0),
                               "media_list": entries, "next_page_uri": None, "page": 0,
                               "page_size": 50, "previous_page_uri": None, "start": 0,
                               "uri": uri})

        @http.route("GET", acct + r"/Messages/(?P<msg>\w+)/Media/(?P<me>ME\w+)")
        def media_content(req: Request) -> Reply:
            if (r := self._guard(req)) is not None:
                return r
            assert req.match is not None
            if req.match["me"] not in self.blobs:
                return self._error(404, 20404, f"The requested resource {req.path} was not found")
            return Reply(302, raw=b"", headers={
                "Location": f"{self.url}/cdn/{req.match['me']}?Expires=1&Signature=x"})

        @http.route("GET", r"/cdn/(?P<me>ME\w+)")
        def cdn(req: Request) -> Reply:
            assert req.match is not None
            data, ctype = self.blobs[req.match["me"]]
            return Reply(200, raw=data, headers={"Content-Type": ctype})

    def __enter__(self) -> TwilioServer:
        self.http.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.__exit__(*exc)
