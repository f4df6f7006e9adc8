"""A fake Mastodon instance on loopback, speaking the REST API as
docs.joinmastodon.org documents it, for driving the real Mastodon.py.

Endpoints: ``GET /api/v1/notifications`` (``types[]``/``exclude_types[]``,
``max_id``/``since_id``/``min_id``/``limit``, ``Link`` with ``next`` and
``prev``), ``GET /api/v1/conversations`` (paginated by last status id, as
Mastodon does), ``POST /api/v1/statuses`` (form or JSON; an
``Idempotency-Key`` seen before returns the same status; 500-character
limit → 422), ``GET /api/v1/accounts/verify_credentials``, media under
``/system/media/``. Every answer carries ``X-RateLimit-Limit/Remaining/
Reset``; ``throttle`` makes the next answers 429 as Rack::Attack does.

Ids are strings from counters; ``next_id`` can start at any number so
that tests cross a length boundary ("9" → "10")."""

from __future__ import annotations

import html
import itertools
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

from tests.social.loopback import LoopbackServer, Reply, Request

TOKEN = "tok-SECRET-0123456789abcdef"
OWN = "helpdesk"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _key(value: str) -> tuple[int, str]:
    return (len(value), value)


class MastodonServer:
    """Wraps a ``LoopbackServer``; use as a context manager."""

    def __init__(self, *, first_id: int = 1, token: str = TOKEN) -> None:
        self.http = LoopbackServer()
        # The loopback server writes headers and body in two segments; with
        # Nagle on, every keep-alive request waits out a 40 ms delayed ACK.
        self.http.httpd.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
        self.url = self.http.url
        self.host = "127.0.0.1"
        self.token = token
        self.lock = threading.Lock()
        self.ids = itertools.count(first_id)
        self.accounts: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.conversations: dict[str, dict[str, Any]] = {}
        self.posted: list[dict[str, Any]] = []
        self.idempotency: dict[str, str] = {}
        self.media: dict[str, tuple[bytes, str]] = {}
        self.ratelimit_limit = 300
        self.ratelimit_remaining = 300
        self.throttled: list[float] = []  # reset offsets (seconds) of queued 429s
        #: The next POST creates its status but answers with cut-off JSON
        #: (the reply lost on the way back).
        self.lose_post_replies = 0
        #: A lower page-size cap than Mastodon's (80 notifications, 40
        #: conversations), as other servers and instance settings have.
        self.page_cap: int | None = None
        self.me = self.account(OWN, "Example Shop Help Desk")
        self._install()

    # -- state helpers ------------------------------------------------------------

    def next_id(self) -> str:
        return str(next(self.ids))

    def account(self, acct: str, display_name: str = "") -> dict[str, Any]:
        if acct in self.accounts:
            return self.accounts[acct]
        username, _, domain = acct.partition("@")
        host = domain or self.host
        acc = {
            "id": self.next_id(), "username": username, "acct": acct,
            "display_name": display_name, "locked": False, "bot": False,
            "discoverable": True, "group": False, "created_at": "2023-01-05T00:00:00.000Z",
            "note": "", "url": f"https://{host}/@{username}", "uri": f"https://{host}/users/{username}",
            "avatar": f"https://{host}/avatars/original/missing.png",
            "avatar_static": f"https://{host}/avatars/original/missing.png",
            "header": f"https://{host}/headers/original/missing.png",
            "header_static": f"https://{host}/headers/original/missing.png",
            "followers_count": 3, "following_count": 5, "statuses_count": 12,
            "last_status_at": "2024-05-01", "emojis": [], "fields": [],
        }
        self.accounts[acct] = acc
        return acc

    def _mention_html(self, acc: dict[str, Any]) -> str:
        return (f'<span class="h-card" translate="no"><a href="{acc["url"]}" class="u-url '
                f'mention">@<span>{acc["username"]}</span></a></span>')

    def status(self, acct: str, text: str, *, visibility: str = "public",
               in_reply_to_id: str | None = None, mentions: list[str] | None = None,
               media: list[tuple[str, bytes, str]] | None = None, name: str = "",
               spoiler_text: str = "") -> dict[str, Any]:
        """A status by ``acct`` whose content mentions ``mentions`` (default:
        our account) and then says ``text``."""
        author = self.account(acct, name or acct.split("@")[0].title())
        mentioned = [self.accounts[m] if m in self.accounts else self.account(m)
                     for m in (mentions if mentions is not None else [OWN])]
        paragraphs = [html.escape(p).replace("\n", "<br />") for p in text.split("\n\n")]
        lead = " ".join(self._mention_html(a) for a in mentioned)
        if lead:
            paragraphs[0] = f"{lead} {paragraphs[0]}"
        sid = self.next_id()
        attachments: list[dict[str, Any]] = []
        for filename, data, ctype in media or []:
            path = f"/system/media/{sid}/{filename}"
            self.media[path] = (data, ctype)
            attachments.append({
                "id": self.next_id(), "type": "image" if ctype.startswith("image/") else "unknown",
                "url": self.url + path, "preview_url": self.url + path, "remote_url": None,
                "meta": {}, "description": "photo", "blurhash": None,
            })
        parent = self.statuses.get(in_reply_to_id or "")
        created = _now()
        st = {
            "id": sid, "created_at": _iso(created), "in_reply_to_id": in_reply_to_id,
            "in_reply_to_account_id": parent["account"]["id"] if parent else None,
            "sensitive": bool(spoiler_text), "spoiler_text": spoiler_text,
            "visibility": visibility, "language": "en",
            "uri": f"{author['uri']}/statuses/{sid}", "url": f"{author['url']}/{sid}",
            "replies_count": 0, "reblogs_count": 0, "favourites_count": 0, "edited_at": None,
            "content": "".join(f"<p>{p}</p>" for p in paragraphs),
            "reblog": None, "application": None, "account": author,
            "media_attachments": attachments,
            "mentions": [{"id": a["id"], "username": a["username"], "url": a["url"],
                          "acct": a["acct"]} for a in mentioned],
            "tags": [], "emojis": [], "card": None, "poll": None,
        }
        with self.lock:
            self.statuses[sid] = st
            if any(a is self.me for a in mentioned) and author is not self.me:
                self.notifications.append({
                    "id": self.next_id(), "type": "mention", "created_at": st["created_at"],
                    "account": author, "status": st,
                })
            if visibility == "direct":
                self._converse(st, [author, *mentioned])
        return st

    def mention(self, acct: str, text: str, **kw: Any) -> dict[str, Any]:
        return self.status(acct, text, **kw)

    def other_notification(self, kind: str = "favourite", acct: str = "fan@remote.example") -> None:
        with self.lock:
            self.notifications.append({
                "id": self.next_id(), "type": kind, "created_at": _iso(_now()),
                "account": self.account(acct), "status": None,
            })

    def _converse(self, st: dict[str, Any], participants: list[dict[str, Any]]) -> None:
        # Mastodon keys a conversation by the thread; here: by its root status.
        root = st
        while root.get("in_reply_to_id") and root["in_reply_to_id"] in self.statuses:
            root = self.statuses[root["in_reply_to_id"]]
        cid = root.get("_conversation") or root["id"]
        st["_conversation"] = root["_conversation"] = cid
        conv = self.conversations.setdefault(cid, {"id": cid, "unread": True, "accounts": []})
        ids = {a["id"] for a in conv["accounts"]}
        for acc in participants:
            if acc is not self.me and acc["id"] not in ids:
                conv["accounts"].append(acc)
                ids.add(acc["id"])
        conv["last_status"] = st

    # -- HTTP ---------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        reset = _now() + timedelta(minutes=5)
        return {"X-RateLimit-Limit": str(self.ratelimit_limit),
                "X-RateLimit-Remaining": str(max(self.ratelimit_remaining, 0)),
                "X-RateLimit-Reset": _iso(reset)}

    def _api(self, fn: Callable[[Request], Reply], *, auth: bool = True) -> Callable[[Request], Reply]:
        def handler(req: Request) -> Reply:
            with self.lock:
                if self.throttled:
                    offset = self.throttled.pop(0)
                    return Reply(429, {"error": "Too many requests"}, {
                        "X-RateLimit-Limit": str(self.ratelimit_limit),
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": _iso(_now() + timedelta(seconds=offset)),
                    })
                self.ratelimit_remaining -= 1
            if auth and req.headers.get("authorization") != f"Bearer {self.token}":
                return Reply(401, {"error": "The access token is invalid"}, self._headers())
            reply = fn(req)
            reply.headers = {**self._headers(), **reply.headers}
            return reply
        return handler

    def throttle(self, times: int = 1, reset_in: float = 0.0) -> None:
        """The next ``times`` API requests get 429, resetting in ``reset_in`` s."""
        self.throttled.extend([reset_in] * times)

    def _install(self) -> None:
        r = self.http.route
        r("GET", r"/api/v1/notifications/?")(self._api(self._notifications))
        r("GET", r"/api/v1/conversations/?")(self._api(self._conversations))
        r("POST", r"/api/v1/statuses/?")(self._api(self._post_status))
        r("GET", r"/api/v1/accounts/verify_credentials")(self._api(self._verify))
        r("GET", r"/system/media/.+")(self._media)

    @staticmethod
    def _arg(req: Request, name: str) -> str | None:
        values = req.query.get(name)
        return values[0] if values else None

    def _page(self, req: Request, items: list[dict[str, Any]], key: Callable[[dict[str, Any]], str],
              default: int, maximum: int) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """Mastodon's id pagination over ``items``: newest first; ``min_id``
        gives the page just above it (still newest first)."""
        limit = min(int(self._arg(req, "limit") or default), maximum, self.page_cap or maximum)
        max_id, since_id, min_id = (self._arg(req, n) for n in ("max_id", "since_id", "min_id"))
        ordered = sorted(items, key=lambda i: _key(key(i)))
        if max_id:
            ordered = [i for i in ordered if _key(key(i)) < _key(max_id)]
        if since_id:
            ordered = [i for i in ordered if _key(key(i)) > _key(since_id)]
        if min_id:
            page = [i for i in ordered if _key(key(i)) > _key(min_id)][:limit]
            page.reverse()
        else:
            page = list(reversed(ordered))[:limit]
        headers = {}
        if page:
            base = f"{self.url}{req.path}"
            extra = "".join(f"&types[]={t}" for t in req.query.get("types[]", []))
            headers["Link"] = (f'<{base}?limit={limit}&max_id={key(page[-1])}{extra}>; rel="next", '
                               f'<{base}?limit={limit}&min_id={key(page[0])}{extra}>; rel="prev"')
        return page, headers

    def _notifications(self, req: Request) -> Reply:
        types = req.query.get("types[]")
        exclude = req.query.get("exclude_types[]", [])
        with self.lock:
            items = [n for n in self.notifications
                     if (not types or n["type"] in types) and n["type"] not in exclude]
        page, headers = self._page(req, items, lambda n: n["id"], 40, 80)
        return Reply(200, [self._public(n) for n in page], headers)

    def _conversations(self, req: Request) -> Reply:
        with self.lock:
            items = [c for c in self.conversations.values() if c.get("last_status")]
        page, headers = self._page(req, items, lambda c: c["last_status"]["id"], 20, 40)
        return Reply(200, [self._public(c) for c in page], headers)

    @staticmethod
    def _public(obj: Any) -> Any:
        """Drop our bookkeeping keys (``_…``) from what goes on the wire."""
        if isinstance(obj, dict):
            return {k: MastodonServer._public(v) for k, v in obj.items() if not k.startswith("_")}
        if isinstance(obj, list):
            return [MastodonServer._public(v) for v in obj]
        return obj

    def _post_status(self, req: Request) -> Reply:
        if req.headers.get("content-type", "").startswith("application/json"):
            form = {k: v if isinstance(v, list) else [str(v)] for k, v in (req.json() or {}).items()}
        else:
            form = parse_qs(req.body.decode())
        text = (form.get("status") or [""])[0]
        key = req.headers.get("idempotency-key")
        with self.lock:
            if key and key in self.idempotency:
                return Reply(200, self._public(self.statuses[self.idempotency[key]]))
        if not text.strip():
            return Reply(422, {"error": "Validation failed: Text can't be blank"})
        from supportctl.channels.mastodon import weighted_len

        if weighted_len(text) > 500:
            return Reply(422, {"error": "Validation failed: Text character limit of 500 exceeded"})
        in_reply_to = (form.get("in_reply_to_id") or [None])[0]
        if in_reply_to and in_reply_to not in self.statuses:
            return Reply(404, {"error": "Record not found"})
        visibility = (form.get("visibility") or ["public"])[0]
        mentioned = []
        for word in text.split():
            if word.startswith("@") and len(word) > 1:
                acct = word[1:].rstrip(".,:;!?")
                if acct.endswith("@" + self.host):
                    acct = acct[: -len(self.host) - 1]
                mentioned.append(acct)
        # Build the status like ``status`` does, but as written by us.
        st = self.status(OWN, text, visibility=visibility, in_reply_to_id=in_reply_to,
                         mentions=[], name=self.me["display_name"])
        with self.lock:
            st["mentions"] = [{"id": self.account(a)["id"], "username": a.split("@")[0],
                               "url": self.account(a)["url"], "acct": a} for a in mentioned]
            st["_text"] = text
            if visibility == "direct":
                self._converse(st, [self.account(a) for a in mentioned])
            self.posted.append(st)
            if key:
                self.idempotency[key] = st["id"]
            if self.lose_post_replies > 0:
                self.lose_post_replies -= 1
                return Reply(200, raw=b'{"id":"' + st["id"].encode()[:1])
        return Reply(200, self._public(st))

    def _verify(self, req: Request) -> Reply:
        me = dict(self.me)
        me["source"] = {"privacy": "public", "sensitive": False, "language": "en", "note": "",
                        "fields": []}
        return Reply(200, me)

    def _media(self, req: Request) -> Reply:
        found = self.media.get(req.path)
        if found is None:
            return Reply(404, {"error": "Not found"})
        data, ctype = found
        return Reply(200, raw=data, headers={"Content-Type": ctype})

    # -- context manager -------------------------------------------------------------

    def requests(self, pattern: str = ".*") -> list[Request]:
        return self.http.requests(pattern)

    def __enter__(self) -> MastodonServer:
        # serve_forever's default 0.5 s poll would make every teardown wait that long.
        self.http.thread = threading.Thread(target=self.http.httpd.serve_forever,
                                            kwargs={"poll_interval": 0.02}, daemon=True)
        self.http.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.__exit__(*exc)
