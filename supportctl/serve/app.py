"""The WSGI application of ``supportctl serve`` (see the package docstring
for the contract). It receives its store, config and factories from the
command; it never prints (``log`` gets one line per request)."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, parse_qsl

from supportctl.models import Batch, Inbound
from supportctl.serve import form, hooks
from supportctl.values import utcnow

Start = Callable[..., Any]
#: What the platforms send is small; anything bigger is refused unread.
HOOK_MAX_BYTES = 1_000_000
HTML = "text/html; charset=utf-8"
PAGE_HEADERS = [
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
     "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
]
_REASONS = {200: "OK", 303: "See Other", 400: "Bad Request", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 411: "Length Required",
            413: "Content Too Large", 429: "Too Many Requests", 503: "Service Unavailable"}


class Refused(Exception):
    def __init__(self, status: int, text: str = "") -> None:
        super().__init__(text)
        self.status, self.text = status, text


class ServeApp:
    """``settings_for(account, entry)`` gives the ``IngestSettings`` to store
    a message under; ``build_channel(entry)`` a channel (for downloading a
    pushed message's media with the entry's credentials)."""

    def __init__(self, store: Any, config: Any, serve: Mapping[str, Any], *,
                 settings_for: Callable[[str, dict[str, Any] | None], Any],
                 build_channel: Callable[[dict[str, Any]], Any],
                 resolve: Callable[[dict[str, Any]], dict[str, Any]],
                 log: Callable[[str], None] = lambda line: None) -> None:
        self.store, self.config, self.serve = store, config, dict(serve)
        self.settings_for, self.build_channel, self.resolve = settings_for, build_channel, resolve
        self.log = log
        secret = str(self.serve.get("secret") or "")
        #: Without serve.secret, tokens are signed with a key of this process.
        self.ephemeral = not secret
        self.secret = secret.encode() if secret else secrets.token_bytes(32)
        self.language = str(self.serve.get("language") or "en")
        self.site = str(self.serve.get("title") or "")
        self.ttl = self.serve.get("token_ttl") or timedelta(hours=2)
        self.max_size = int(self.serve.get("max_size") or 32768)
        self.limit = form.RateLimit(int(self.serve.get("rate_limit") or 5))
        self.lock = threading.Lock()  # one writer: the store's connection is shared
        self._resolved: dict[str, dict[str, Any]] = {}

    # -- WSGI ------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start: Start) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "") or "/"
        try:
            status, headers, body = self.route(method, path, environ)
        except Refused as exc:
            status, headers, body = exc.status, [("Content-Type", "text/plain; charset=utf-8")], \
                (exc.text or _REASONS.get(exc.status, "")).encode() + b"\n"
        self.log(f"{method} {path} {status}")
        start(f"{status} {_REASONS.get(status, 'OK')}",
              [*headers, ("Content-Length", str(len(body)))])
        return [b"" if method == "HEAD" else body]

    def route(self, method: str, path: str,
              environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        if path in ("/form", "/form/"):
            if method in ("GET", "HEAD"):
                return self.page(200, form.form_page(self.language, self.site, self._token()))
            if method == "POST":
                return self.post_form(environ)
            raise Refused(405)
        if path == "/form/thanks" and method in ("GET", "HEAD"):
            return self.page(200, form.thanks_page(self.language, self.site))
        if path == "/":
            return 303, [("Location", "/form")], b""
        if path == "/healthz":
            return 200, [("Content-Type", "text/plain")], b"ok\n"
        if path == "/hooks/twilio":
            return self.twilio(method, environ)
        if path == "/hooks/telegram" or path.startswith("/hooks/telegram/"):
            return self.telegram(method, path.removeprefix("/hooks/telegram").strip("/"), environ)
        if path == "/hooks/meta":
            return self.meta(method, environ)
        raise Refused(404)

    @staticmethod
    def page(status: int, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        return status, [("Content-Type", HTML), *PAGE_HEADERS], body

    # -- plumbing --------------------------------------------------------------

    def _token(self) -> str:
        return form.make_token(self.secret, utcnow())

    def _body(self, environ: dict[str, Any], limit: int) -> bytes:
        """The request body, refused unread when over ``limit``."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            raise Refused(411) from None
        if length < 0:
            raise Refused(400)
        if length > limit:
            raise Refused(413)
        data: bytes = environ["wsgi.input"].read(length) if length else b""
        if len(data) != length:
            raise Refused(400, "incomplete body")
        return data

    @staticmethod
    def client(environ: dict[str, Any]) -> str:
        """The client's address: behind a reverse proxy on this machine,
        the one the proxy added last to X-Forwarded-For (earlier ones are
        whatever the client wrote); else the peer's."""
        peer = str(environ.get("REMOTE_ADDR") or "")
        forwarded = str(environ.get("HTTP_X_FORWARDED_FOR") or "")
        if forwarded and (peer.startswith("127.") or peer == "::1"):
            return forwarded.split(",")[-1].strip() or peer
        return peer

    def url(self, environ: dict[str, Any]) -> str:
        """The URL a platform signed: ``serve.public_url`` + the path when
        set, else the URL as requested (through the proxy's headers)."""
        path = environ.get("PATH_INFO", "") or "/"
        query = environ.get("QUERY_STRING") or ""
        tail = path + (f"?{query}" if query else "")
        base = str(self.serve.get("public_url") or "").rstrip("/")
        if base:
            return base + tail
        peer = str(environ.get("REMOTE_ADDR") or "")
        proxied = peer.startswith("127.") or peer == "::1"
        scheme = (environ.get("HTTP_X_FORWARDED_PROTO") if proxied else None) \
            or environ.get("wsgi.url_scheme", "http")
        host = (environ.get("HTTP_X_FORWARDED_HOST") if proxied else None) \
            or environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "localhost")
        return f"{scheme}://{host}{tail}"

    def entry(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """A channel entry with its secrets resolved (once per process)."""
        name = str(entry["name"])
        if name not in self._resolved:
            self._resolved[name] = self.resolve(dict(entry))
        return self._resolved[name]

    def store_items(self, account: str, entry: dict[str, Any] | None,
                    items: list[Inbound]) -> Any:
        """Ingest ``items`` and commit before answering; 503 when the
        store cannot take them (the platform will deliver again)."""
        from supportctl.errors import SupportError
        from supportctl.services import ingest

        settings = self.settings_for(account, entry)
        try:
            with self.lock:
                return ingest.ingest_batch(self.store, Batch(source="webhook", cursor=None,
                                                             items=items), settings)
        except (SupportError, OSError) as exc:
            self.log(f"could not store: {type(exc).__name__}")
            raise Refused(503, "could not store the message: try again") from None
        except Exception as exc:  # sqlite3 errors included: nothing was committed
            self.log(f"could not store: {type(exc).__name__}")
            raise Refused(503, "could not store the message: try again") from None

    # -- the form --------------------------------------------------------------

    def post_form(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        try:
            body = self._body(environ, self.max_size)
        except Refused as exc:
            if exc.status == 413:
                return self.page(413, form.message_page(self.language, "err_size"))
            raise
        raw = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True,
                       max_num_fields=20)
        values = {k: (raw.get(k) or [""])[0] for k in (*form.FIELDS, form.HONEYPOT, "token")}
        fields = {k: values[k].replace("\r\n", "\n") for k in form.FIELDS}
        if values[form.HONEYPOT].strip():
            # A bot: it sees success, nothing is stored.
            return 303, [("Location", "/form/thanks")], b""
        nonce = form.check_token(values["token"], self.secret, utcnow(), self.ttl)
        errors = [] if nonce else ["token"]
        errors += form.validate(fields)
        if errors:
            # The person keeps what they wrote, with a fresh token.
            return self.page(400, form.form_page(self.language, self.site, self._token(),
                                                 fields, errors))
        if not self.limit.allow(self.client(environ)):
            return self.page(429, form.message_page(self.language, "err_rate"))
        from supportctl.channels.web import submission

        payload = json.dumps({"fields": fields, "language": self.language, "key": nonce,
                              "received_at": utcnow().isoformat()},
                             ensure_ascii=False, sort_keys=True).encode()
        item = submission(fields, key=str(nonce), raw=payload, language=self.language)
        item.received_at = item.sent_at = utcnow()
        self.store_items("web", None, [item])
        return 303, [("Location", "/form/thanks")], b""

    # -- webhooks --------------------------------------------------------------

    def twilio(self, method: str, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        if method != "POST":
            raise Refused(405)
        body = self._body(environ, HOOK_MAX_BYTES)
        params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        found = hooks.twilio_entry(self.config.channels, params)
        if found is None:
            raise Refused(403, "no twilio entry has this number")
        entry = self.entry(found)
        if not hooks.twilio_valid(str(entry.get("auth_token") or ""), self.url(environ), params,
                                  str(environ.get("HTTP_X_TWILIO_SIGNATURE") or "")):
            raise Refused(403, "bad signature")
        rec = hooks.twilio_record(params, utcnow())
        if rec is not None and rec["from"] not in (entry.get("numbers") or []):
            from supportctl.channels.twilio import record_inbound

            item = record_inbound(rec)
            if item.meta.get("num_media"):
                item = self._with_channel(entry, lambda ch: ch._with_media(rec))
            self.store_items(entry["name"], entry, [item])
        twiml = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
        return 200, [("Content-Type", "text/xml")], twiml

    def telegram(self, method: str, name: str,
                 environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        if method != "POST":
            raise Refused(405)
        if not hooks.telegram_valid(str(self.serve.get("telegram_secret_token") or ""),
                                    str(environ.get("HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN") or "")):
            raise Refused(403, "bad secret token")
        bots = [e for e in self.config.channels if e.get("type") == "telegram"
                and (not name or e["name"] == name)]
        if len(bots) != 1:
            raise Refused(404, "name the telegram entry: /hooks/telegram/NAME")
        body = self._body(environ, HOOK_MAX_BYTES)
        try:
            update = json.loads(body)
        except ValueError:
            raise Refused(400, "not JSON") from None
        from supportctl.channels.telegram import update_inbound

        item = update_inbound(update) if isinstance(update, dict) else None
        if item is not None:
            entry = self.entry(bots[0])
            if item.meta.get("files"):
                parsed = item
                item = self._with_channel(entry, lambda ch: ch._with_files(parsed))
            self.store_items(entry["name"], entry, [item])
        return 200, [("Content-Type", "text/plain")], b""

    def meta(self, method: str, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        if method == "GET":
            q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING") or "").items()}
            want = str(self.serve.get("meta_verify_token") or "")
            if (q.get("hub.mode") == "subscribe" and want
                    and hooks.telegram_valid(want, q.get("hub.verify_token", ""))):
                return 200, [("Content-Type", "text/plain")], q.get("hub.challenge", "").encode()
            raise Refused(403, "bad verify token")
        if method != "POST":
            raise Refused(405)
        body = self._body(environ, HOOK_MAX_BYTES)
        if not hooks.meta_valid(str(self.serve.get("meta_app_secret") or ""), body,
                                str(environ.get("HTTP_X_HUB_SIGNATURE_256") or "")):
            raise Refused(403, "bad signature")
        try:
            payload = json.loads(body)
        except ValueError:
            raise Refused(400, "not JSON") from None
        by_account: dict[str, list[Inbound]] = {}
        for account, item in hooks.meta_items(payload, self.config.channels):
            by_account.setdefault(account, []).append(item)
        for account, items in by_account.items():
            entry = next((e for e in self.config.channels if e.get("name") == account), None)
            self.store_items(account, self.entry(entry) if entry else None, items)
        return 200, [("Content-Type", "text/plain")], b"EVENT_RECEIVED"

    def _with_channel(self, entry: dict[str, Any], fn: Callable[[Any], Inbound]) -> Inbound:
        """Run ``fn`` with a channel of ``entry`` (media downloads); a
        temporary failure answers 503 so the platform delivers again."""
        from supportctl.errors import ChannelError

        channel = self.build_channel(entry)
        try:
            return fn(channel)
        except ChannelError as exc:
            self.log(f"media download failed: {type(exc).__name__}")
            raise Refused(503, "could not fetch the message's media: try again") from None
        finally:
            try:
                channel.close()
            except Exception:
                pass
