"""Mastodon channel: mentions and direct messages of one account (SPEC §2,
§3, §7; sync-rules R58–R61), through Mastodon.py.

Config (secrets resolved): ``name``, ``base_url`` (the instance),
``access_token``; optional ``tls_verify`` / ``ca_file`` (SPEC §9).

Fetch contract (on top of ``channels.base``):
- Two sources, polled in this order, each with its own cursor:
  ``notifications`` (``types[]=mention`` only; public mentions, replies and
  DMs) and ``conversations`` (DMs, so that one the notification policy
  filtered away still arrives; only each conversation's ``last_status``).
  A status seen through both is one message: ingest dedupes by
  ``external_id`` (the status id).
- Ids are strings (R59): ordered by ``id_key`` (length, then text), which
  orders numeric snowflakes and ULIDs alike and never goes through float.
- With a cursor, pages are walked forward with ``min_id`` (R58: ``since_id``
  alone returns only the newest page and leaves a gap), oldest first; each
  page is one ``Batch`` whose cursor is the highest id in it, so a crash
  re-fetches at worst the uncommitted page.
- Every walk follows the ``Link`` header (``prev`` forward, ``next``
  backward) until the server gives none or a page is empty; a page's length
  never ends a walk, because a server may cap ``limit`` below what we ask
  (and Mastodon caps conversations at 40, GoToSocial lower).
- Without a cursor (first sync) pages are walked backwards from the newest
  until ``since`` (or ``FIRST_SYNC_MAX`` entries, however the server pages
  them), then yielded oldest first.
- Nothing new costs exactly one request per source. When there is something
  new, one ``verify_credentials`` (cached for the run) tells which mention
  is our own, to drop it from the text; media are downloaded.
- Nothing moves on the server: notifications are not dismissed and
  conversations not marked read.

Send contract:
- ``POST /api/v1/statuses`` starting with ``@acct`` of the customer (a direct
  status without the mention reaches nobody, R61), ``in_reply_to_id`` of the
  customer's status, an ``Idempotency-Key`` (Mastodon returns the same status
  for a repeated key within an hour) and the visibility of ``reply_visibility``.
- Longer than ``STATUS_LIMIT``: a reply chain, numbered ``(1/3)``; part
  ``i`` carries key ``KEY-i`` so a retried chain dedupes part by part. The
  result's ``external_id`` is the last part (what the customer answers).
- Because of the key, a POST whose outcome is unknown (timeout, dropped
  connection, malformed answer, 502/504) is retried in-process with the same
  key; if that never settles it, ``ChannelError(unknown_outcome=True)``.

Errors: 429 → ``RetryAfter`` (from ``Retry-After`` or ``X-RateLimit-Reset``;
Mastodon.py runs with ``ratelimit_method="throw"`` because its default
sleeps for minutes while we hold the sync lock). A short wait is retried; a
wait longer than ``MAX_RATE_LIMIT_WAIT`` ends this account's run (R60).
5xx, network, timeouts and malformed JSON are temporary ``ChannelError``s;
401/403 are ``AuthError``s. No message ever contains the access token.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from supportctl.channels import retry as retry_module
from supportctl.channels.base import BaseChannel
from supportctl.channels.retry import RetryAfter, retry
from supportctl.errors import AuthError, ChannelError, ConfigError, ParseError, TLSError
from supportctl.models import Address, AttachmentData, Batch, Inbound, Outbound, SendResult
from supportctl.values import parse_iso

if TYPE_CHECKING:
    import requests
    from mastodon import Mastodon

T = TypeVar("T")

SOURCES = ("notifications", "conversations")
#: Page size asked for. Mastodon's maxima are 80 (notifications) and 40
#: (conversations); a server may cap lower: walks follow ``Link``, so that
#: only costs requests.
PAGE_LIMIT = 40
#: First sync without ``since``: how far back to reach (entries per source).
FIRST_SYNC_MAX = 400
#: Seconds per HTTP request (Mastodon.py's default is 300).
REQUEST_TIMEOUT = 30.0
#: A rate limit that resets within this many seconds is waited out;
#: a longer one ends the run for this account instead of sleeping on the lock.
MAX_RATE_LIMIT_WAIT = 10.0
#: Mastodon's default character limit; URLs count 23, mentions their user part.
STATUS_LIMIT = 500
#: Media larger than this are not downloaded (a note with the URL is kept).
MAX_MEDIA_BYTES = 16 * 1024 * 1024
#: Attempts for one request (network or 5xx or a short 429 in between).
ATTEMPTS = 3

_URL = re.compile(r"https?://[^\s<>\"']+")
_FULL_MENTION = re.compile(r"(?<![\w/@])@(\w+)@[\w.-]*\w")
_LEADING_MENTION = re.compile(r"@([\w.-]+)(?:@([\w.-]*\w))?")


# -- pure helpers (no network, no Mastodon.py) -------------------------------


def id_key(value: str) -> tuple[int, str]:
    """Sort key for Mastodon ids, which are strings (R59): Mastodon's
    numeric snowflakes and GoToSocial's ULIDs both order by length, then
    text ("9" < "10"); floats would lose precision and text alone puts
    "10" before "9"."""
    return (len(value), value)


def _host(config: Mapping[str, Any]) -> str:
    return (urlsplit(str(config.get("base_url") or "")).hostname or "").lower()


def global_acct(acct: str, host: str) -> str:
    """``user@instance`` for any account: the API gives local accounts as
    bare ``user``, which would collide with ``user`` on another instance."""
    acct = acct.lstrip("@")
    if "@" in acct or not host:
        return acct
    return f"{acct}@{host}"


def _html_to_text(html: str) -> str:
    # Imported here: the HTML parser is only needed when messages arrive.
    from supportctl.mail.html import html_to_text

    return html_to_text(html).strip()


def _own_mention(status: Mapping[str, Any], own_acct: str, host: str) -> dict[str, Any] | None:
    """The entry of ``status.mentions`` that is our account. Without
    ``own_acct`` (the demo), the only mention local to our instance."""
    mentions = [m for m in status.get("mentions") or [] if isinstance(m, dict)]
    if own_acct:
        want = global_acct(own_acct, host).lower()
        for m in mentions:
            if global_acct(str(m.get("acct", "")), host).lower() == want:
                return m
        return None
    local = [m for m in mentions if "@" not in str(m.get("acct", ""))]
    return local[0] if len(local) == 1 else None


def strip_own_mention(text: str, mention: Mapping[str, Any] | None) -> str:
    """Drop our own ``@handle`` from the run of mentions a status starts with
    (Mastodon prefixes every reply with them); other people's stay."""
    if not mention:
        return text
    username = str(mention.get("username") or str(mention.get("acct", "")).split("@")[0])
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\n,":
            pos += 1
        m = _LEADING_MENTION.match(text, pos)
        if not m:
            return text
        if m.group(1).lower() == username.lower():
            rest = text[m.end():].lstrip(" \t,:")
            return (text[:m.start()] + rest).strip()
        pos = m.end()


def _status_inbound(
    status: Mapping[str, Any],
    config: Mapping[str, Any],
    *,
    raw: bytes,
    own_acct: str,
    conversation: str = "",
    received: str | None = None,
    source_ref: str = "",
) -> Inbound:
    host = _host(config)
    account = status.get("account") or {}
    acct = global_acct(str(account.get("acct") or account.get("username") or ""), host)
    text = _html_to_text(str(status.get("content") or ""))
    text = strip_own_mention(text, _own_mention(status, own_acct, host))
    if status.get("spoiler_text"):
        # The content warning is part of what the customer wrote.
        text = f"CW: {status['spoiler_text']}\n\n{text}".strip()
    media = [m for m in status.get("media_attachments") or [] if isinstance(m, dict)]
    if not text and media:
        text = "(media only)"
    meta: dict[str, object] = {
        "visibility": str(status.get("visibility") or ""),
        "url": str(status.get("url") or status.get("uri") or ""),
    }
    status_id = str(status["id"])
    return Inbound(
        medium="mastodon",
        raw=raw,
        external_id=status_id,
        sender=Address(acct, str(account.get("display_name") or account.get("username") or "")),
        to=[Address(global_acct(own_acct, host))] if own_acct else [],
        text=text,
        html=str(status.get("content") or ""),
        sent_at=parse_iso(status.get("created_at")),
        received_at=parse_iso(received) if received else parse_iso(status.get("created_at")),
        in_reply_to=str(status.get("in_reply_to_id") or ""),
        # Mastodon's status has no conversation id; Pleroma's has one.
        conversation=conversation
        or str((status.get("pleroma") or {}).get("conversation_id") or "")
        or status_id,
        source_ref=source_ref,
        meta=meta,
    )


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _entry_key(entry: Mapping[str, Any]) -> str:
    """The id an entry pages by: a notification's own id, a conversation's
    ``last_status`` id (Mastodon paginates conversations by it)."""
    if "last_status" in entry:
        return str((entry.get("last_status") or {}).get("id") or "")
    return str(entry.get("id") or "")


def _entry_time(entry: Mapping[str, Any]) -> datetime | None:
    if "last_status" in entry:
        return parse_iso((entry.get("last_status") or {}).get("created_at"))
    return parse_iso(entry.get("created_at"))


def _entry_status(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """The customer's status in a notification, conversation or status
    object, or None when the entry carries none for us."""
    if "last_status" in entry:  # a Conversation
        status = entry.get("last_status")
        if not isinstance(status, dict):
            return None
        # ``accounts`` lists the participants other than us: a last status
        # by anyone else is our own reply.
        others = {str(a.get("id")) for a in entry.get("accounts") or [] if isinstance(a, dict)}
        if str((status.get("account") or {}).get("id")) not in others:
            return None
        return status
    if "type" in entry and "account" in entry:  # a Notification
        status = entry.get("status")
        return status if entry.get("type") == "mention" and isinstance(status, dict) else None
    if "content" in entry and "id" in entry:  # a bare Status
        return dict(entry)
    return None


def inbound_from_json(
    payload: list[Any] | dict[str, Any], config: Mapping[str, Any], *, own_acct: str = ""
) -> list[Inbound]:
    """Inbound messages from an API response: a list of notifications (non
    mentions are skipped), conversations or statuses, or one of them.
    Oldest first, so a reply follows the status it answers. Pure: no
    network, attachments are not downloaded (``MastodonChannel`` does it).
    ``own_acct`` is our account, whose leading mention is dropped."""
    entries = payload if isinstance(payload, list) else [payload]
    entries = [e for e in entries if isinstance(e, dict)]
    out: list[tuple[tuple[int, str], Inbound]] = []
    for entry in entries:
        status = _entry_status(entry)
        if status is None or not status.get("id"):
            continue
        account = status.get("account") or {}
        if own_acct and global_acct(str(account.get("acct", "")), _host(config)).lower() == \
                global_acct(own_acct, _host(config)).lower():
            continue
        if "last_status" in entry:
            kind, conv = "conversation", str(entry.get("id") or "")
        elif "type" in entry:
            kind, conv = "notification", ""
        else:
            kind, conv = "status", ""
        item = _status_inbound(
            status, config, raw=_dumps(entry), own_acct=own_acct, conversation=conv,
            received=entry.get("created_at") if kind == "notification" else None,
            source_ref=f"{kind}:{entry.get('id')}",
        )
        out.append((id_key(_entry_key(entry)), item))
    out.sort(key=lambda pair: pair[0])
    return [item for _, item in out]


def parse_stored(raw: bytes, config: Mapping[str, Any]) -> Inbound:
    """The status of one stored notification, conversation or status
    (``Inbound.raw``), without the network: media are not downloaded again
    and our own leading mention stays in the text."""
    try:
        entry = json.loads(raw)
    except ValueError:
        raise ParseError("not a Mastodon entry (not JSON)") from None
    found = inbound_from_json(entry, config) if isinstance(entry, dict) else []
    if not found:
        raise ParseError("not a Mastodon status, mention or conversation")
    item = found[0]
    media = (_entry_status(entry) or {}).get("media_attachments") or []
    if media:
        item.text = (item.text + f"\n\n({len(media)} media were not downloaded again: the "
                     "message was read back from quarantine)").strip()
    return item


def reply_visibility(customer: object) -> str:
    """The visibility of our reply, given the customer's status.

    ``direct`` stays direct. A public or unlisted mention gets an
    ``unlisted`` answer: visible on the thread, kept off our public
    timeline. A followers-only (``private``) status, or none known, gets a
    ``direct`` one: a ``private`` reply would show the customer's matter to
    *our* followers, and direct is the narrowest audience that reaches them."""
    if customer in ("public", "unlisted"):
        return "unlisted"
    return "direct"


def weighted_len(text: str) -> int:
    """Length as Mastodon counts it: every URL 23 characters, a remote
    mention only its ``@user`` part."""
    text = _URL.sub("x" * 23, text)
    text = _FULL_MENTION.sub(lambda m: "@" + m.group(1), text)
    return len(text)


def _wrap(body: str, budget: int) -> list[str]:
    """Greedy word wrap of ``body`` into parts of weighted length ≤ budget,
    keeping newlines inside parts; an overlong word is cut."""
    parts: list[str] = []
    current = ""
    for token in re.split(r"(\s+)", body):
        if not token:
            continue
        candidate = current + token
        if weighted_len(candidate.strip()) <= budget:
            current = candidate
            continue
        if current.strip():
            parts.append(current.strip())
        current = "" if token.isspace() else token
        while weighted_len(current) > budget:
            parts.append(current[:budget])
            current = current[budget:]
    if current.strip():
        parts.append(current.strip())
    return parts or [""]


def split_status(text: str, mention: str, limit: int = STATUS_LIMIT) -> list[str]:
    """The statuses a reply becomes: ``mention`` then the text, split into a
    numbered chain when longer than ``limit``."""
    body = text.strip()
    if body.lower().startswith(mention.lower()):
        body = body[len(mention):].strip()
    whole = f"{mention} {body}".strip()
    if weighted_len(whole) <= limit:
        return [whole]
    budget = limit - weighted_len(mention) - 1 - len(" (99/99)")
    parts = _wrap(body, max(budget, 20))
    n = len(parts)
    return [f"{mention} {part} ({i}/{n})" for i, part in enumerate(parts, 1)]


def _retry_delay(resp: Any) -> float:
    """Seconds until a rate limit resets, from ``Retry-After`` or Mastodon's
    ``X-RateLimit-Reset`` (ISO 8601; an epoch on GoToSocial), measured
    against the server's ``Date`` so clock skew does not matter."""
    fallback = retry_module.BASE_DELAY
    if resp is None:
        return fallback
    headers = resp.headers
    value = headers.get("Retry-After")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
                return max(when.timestamp() - time.time(), 0.0)
            except (TypeError, ValueError):
                pass
    reset = headers.get("X-RateLimit-Reset")
    if not reset:
        return fallback
    try:
        if reset.isdigit():
            reset_at = float(reset)
        else:
            parsed = datetime.fromisoformat(reset.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            reset_at = parsed.timestamp()
        now = time.time()
        if headers.get("Date"):
            now = parsedate_to_datetime(headers["Date"]).timestamp()
        return max(reset_at - now, 0.0)
    except (TypeError, ValueError):
        return fallback


class _Stop(ChannelError):
    """Carries an error out of ``retry`` without retrying it."""

    def __init__(self, error: ChannelError) -> None:
        super().__init__(str(error), temporary=False)
        self.error = error


# -- the channel ---------------------------------------------------------------


class _Page:
    """One answer of a paged list: its entries and its ``Link`` header."""

    def __init__(self, entries: list[dict[str, Any]], links: dict[str, str] | None) -> None:
        self.entries = entries
        #: rel → URL, or None when the answer had no ``Link`` header at all.
        self.links = links

    def follow(self, rel: str, param: str, fallback: str) -> str | None:
        """The ``param`` of the ``rel`` link: where the next page starts, or
        None when the server says there is none. A server that sends no
        ``Link`` header at all is walked by the ids we saw (``fallback``)
        until a page comes back empty."""
        if self.links is None:
            return fallback
        url = self.links.get(rel)
        if not url:
            return None
        values = parse_qs(urlsplit(url).query).get(param)
        return values[0] if values and values[0] else None


def _links(response: Any) -> dict[str, str] | None:
    if response is None or not response.headers.get("Link"):
        return None
    try:
        return {rel: str(link.get("url") or "") for rel, link in response.links.items()}
    except Exception:  # an unreadable header is no header
        return None


class MastodonChannel(BaseChannel):
    type = "mastodon"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        missing = [k for k in ("base_url", "access_token") if not config.get(k)]
        if missing:
            raise ConfigError(
                f"channel {self.name!r}: set {' and '.join(missing)} (type mastodon)"
            )
        self.base_url = str(config["base_url"]).rstrip("/")
        self.host = _host(config)
        self._token = str(config["access_token"])
        self._client: Mastodon | None = None
        self._session: requests.Session | None = None
        self._last: requests.Response | None = None
        self._me: dict[str, Any] | None = None
        #: How retries sleep; tests replace it to record delays.
        self.sleep: Callable[[float], None] = time.sleep

    # -- plumbing --------------------------------------------------------------

    def _api(self) -> Mastodon:
        if self._client is None:
            # Heavy (requests, dateutil): loaded only when a run talks to Mastodon.
            import requests
            from mastodon import Mastodon

            session = requests.Session()
            verify: bool | str = bool(self.config.get("tls_verify", True))
            if verify and self.config.get("ca_file"):
                verify = str(self.config["ca_file"])
            session.verify = verify
            # Mastodon.py hides the response; we need its headers (Retry-After)
            # and its exact JSON (kept raw with each message).
            session.hooks["response"].append(self._remember)
            self._session = session
            self._client = Mastodon(
                access_token=self._token,
                api_base_url=self.base_url,
                # "wait" (the default) would sleep up to 5 minutes on the lock.
                ratelimit_method="throw",
                # No GET /api/v1/instance on every run.
                version_check_mode="none",
                request_timeout=REQUEST_TIMEOUT,
                session=session,
                user_agent="supportctl",
            )
        return self._client

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last = response

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _error(self, exc: Exception, *, posting: bool) -> ChannelError:
        """Our typed error for whatever Mastodon.py or requests raised."""
        import requests
        from mastodon.errors import (
            MastodonAPIError,
            MastodonNetworkError,
            MastodonRatelimitError,
        )

        where = f"Mastodon at {self.host}"
        if isinstance(exc, MastodonRatelimitError):
            delay = _retry_delay(self._last)
            return RetryAfter(
                f"{where} is rate limiting account {self.name!r} (HTTP 429): "
                f"sync again in {delay:.0f}s", delay)
        if isinstance(exc, MastodonNetworkError | requests.RequestException):
            cause = exc if isinstance(exc, requests.RequestException) else exc.__context__
            if isinstance(cause, requests.exceptions.SSLError):
                return TLSError(
                    f"TLS verification failed for {self.host}: check base_url, or set "
                    f"ca_file (or tls_verify: false) for {self.name!r}")
            # Not connected at all: the request surely did not arrive.
            unsent = isinstance(cause, requests.exceptions.ConnectTimeout) or (
                isinstance(cause, requests.ConnectionError)
                and "NewConnectionError" in repr(cause))
            what = "timed out" if isinstance(cause, requests.Timeout) else "failed"
            return ChannelError(
                f"request to {where} {what}: check the network and base_url",
                temporary=True, unknown_outcome=posting and not unsent)
        if isinstance(exc, MastodonAPIError):
            args = exc.args
            status = args[1] if len(args) > 1 and isinstance(args[1], int) else None
            detail = self._scrub(str(args[3])) if len(args) > 3 and args[3] else ""
            detail = f": {detail[:200]}" if detail else ""
            if status is None:
                # Mastodon.py could not parse the body: a truncated answer.
                return ChannelError(f"{where} sent a malformed answer (not JSON)",
                                    temporary=True, unknown_outcome=posting)
            if status == 401:
                return AuthError(
                    f"{where} rejected the access token of {self.name!r} (HTTP 401): "
                    "check access_token")
            if status == 403:
                return AuthError(
                    f"{where} refused account {self.name!r} (HTTP 403){detail}: check that "
                    "access_token has the read and write scopes and the account is not suspended")
            if status == 429:
                delay = _retry_delay(self._last)
                return RetryAfter(f"{where} is rate limiting (HTTP 429): sync again in "
                                  f"{delay:.0f}s", delay)
            if status >= 500:
                # A gateway error may come after the status was created.
                return ChannelError(f"{where} failed (HTTP {status}){detail}", temporary=True,
                                    unknown_outcome=posting and status in (502, 504))
            if status == 404:
                if posting:
                    return ChannelError(f"{where} answered 404{detail}: the status being "
                                        "answered may have been deleted")
                return ChannelError(f"{where} answered 404{detail}: check base_url")
            return ChannelError(f"{where} refused the request (HTTP {status}){detail}")
        return ChannelError(f"{where}: {self._scrub(type(exc).__name__)}: "
                            f"{self._scrub(str(exc))[:200]}")

    def _call(self, fn: Callable[[Mastodon], T], *, posting: bool = False,
              idempotent: bool = True) -> T:
        """``fn(api)`` with our retry rules and error mapping."""

        def attempt() -> T:
            api = self._api()
            self._last = None
            cause: Exception | None = None
            try:
                return fn(api)
            except ChannelError as exc:
                err = exc
            except Exception as exc:
                err, cause = self._error(exc, posting=posting), exc
            if isinstance(err, RetryAfter) and err.delay > MAX_RATE_LIMIT_WAIT:
                raise _Stop(err) from cause
            raise err from cause

        try:
            return retry(attempt, attempts=ATTEMPTS, idempotent=idempotent, sleep=self.sleep)
        except _Stop as stop:
            raise stop.error from None

    def _json(self) -> Any:
        """The body of the response just received, as the server sent it."""
        if self._last is None:
            raise ChannelError(f"Mastodon at {self.host} sent no answer", temporary=True)
        try:
            return json.loads(self._last.content)
        except ValueError:
            raise ChannelError(f"Mastodon at {self.host} sent a malformed answer (not JSON)",
                               temporary=True) from None

    def _get_list(self, fn: Callable[[Mastodon], Any]) -> _Page:
        def call(api: Mastodon) -> _Page:
            fn(api)
            data = self._json()
            if not isinstance(data, list):
                raise ChannelError(f"Mastodon at {self.host} sent an unexpected answer",
                                   temporary=True)
            return _Page([e for e in data if isinstance(e, dict)], _links(self._last))

        return self._call(call)

    def _account(self) -> dict[str, Any]:
        if self._me is None:
            def call(api: Mastodon) -> dict[str, Any]:
                api.account_verify_credentials()
                data = self._json()
                if not isinstance(data, dict) or "acct" not in data:
                    raise ChannelError(f"Mastodon at {self.host} sent an unexpected answer",
                                       temporary=True)
                return data

            self._me = self._call(call)
        return self._me

    # -- fetch -----------------------------------------------------------------

    def _page(self, source: str, *, min_id: str | None = None,
              max_id: str | None = None) -> _Page:
        if source == "notifications":
            return self._get_list(lambda api: api.notifications(
                types=["mention"], min_id=min_id, max_id=max_id, limit=PAGE_LIMIT))
        return self._get_list(lambda api: api.conversations(
            min_id=min_id, max_id=max_id, limit=PAGE_LIMIT))

    def fetch(
        self, cursors: Mapping[str, str], *, since: datetime | None = None
    ) -> Iterator[Batch]:
        # Status ids handed out in this run: a DM arrives as a mention and
        # again as a conversation's last status; yield it once. (Across runs
        # ingest's dedupe by external_id covers it.)
        seen: set[str] = set()
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
        for source in SOURCES:
            yield from self._fetch_source(source, cursors.get(source), since, seen)

    def _fetch_source(self, source: str, cursor: str | None,
                      since: datetime | None, seen_ids: set[str]) -> Iterator[Batch]:
        if cursor:
            position: str | None = cursor
            while position is not None:
                page = self._page(source, min_id=position)
                # Servers have mishandled min_id (mastodon#25245): keep only
                # what is really newer than the cursor.
                entries = sorted((e for e in page.entries if _entry_key(e)
                                  and id_key(_entry_key(e)) > id_key(position)),
                                 key=lambda e: id_key(_entry_key(e)))
                if not entries:
                    return
                newest = _entry_key(entries[-1])
                yield Batch(source, newest, self._items(entries, seen_ids))
                # Newer pages are the ``prev`` link (Mastodon pages newest
                # first); one that would not move forward ends the walk.
                nxt = page.follow("prev", "min_id", newest)
                position = nxt if nxt is not None and id_key(nxt) > id_key(position) else None
            return
        # First sync: walk back from the newest, then hand out oldest first.
        seen: dict[str, dict[str, Any]] = {}
        max_id: str | None = None
        while len(seen) < FIRST_SYNC_MAX:
            page = self._page(source, max_id=max_id)
            fresh = [e for e in page.entries if _entry_key(e) and _entry_key(e) not in seen]
            for e in fresh:
                seen[_entry_key(e)] = e
            if not fresh:
                break
            oldest = min(fresh, key=lambda e: id_key(_entry_key(e)))
            when = _entry_time(oldest)
            if since is not None and when is not None and when < since:
                break
            max_id = page.follow("next", "max_id", _entry_key(oldest))
            if max_id is None:
                break
        if not seen:
            return
        ordered = sorted(seen.values(), key=lambda e: id_key(_entry_key(e)))
        newest = _entry_key(ordered[-1])
        if since is not None:
            ordered = [e for e in ordered if (_entry_time(e) or since) >= since]
        if not ordered:
            # Everything is older than ``since``: still remember where we are.
            yield Batch(source, newest, [])
            return
        for start in range(0, len(ordered), PAGE_LIMIT):
            chunk = ordered[start:start + PAGE_LIMIT]
            yield Batch(source, _entry_key(chunk[-1]), self._items(chunk, seen_ids))

    def _items(self, entries: list[dict[str, Any]], seen_ids: set[str]) -> list[Inbound]:
        statuses = {str(s["id"]): s for s in (_entry_status(e) for e in entries)
                    if s is not None and s.get("id") and str(s["id"]) not in seen_ids}
        if not statuses:
            return []
        own = str(self._account().get("acct") or "")
        items = [i for i in inbound_from_json(entries, self.config, own_acct=own)
                 if i.external_id in statuses and i.external_id not in seen_ids]
        for item in items:
            seen_ids.add(item.external_id)
            self._attach(item, statuses[item.external_id])
        return items

    # -- media -------------------------------------------------------------------

    def _attach(self, item: Inbound, status: Mapping[str, Any]) -> None:
        notes = []
        for media in status.get("media_attachments") or []:
            if not isinstance(media, dict):
                continue
            url = str(media.get("url") or media.get("remote_url") or "")
            if not url.startswith(("https://", "http://")):
                continue
            got = self._download(url)
            if got is None:
                notes.append(f"[attachment not downloaded: {url}]")
                continue
            data, content_type = got
            name = urlsplit(url).path.rsplit("/", 1)[-1] or f"media-{media.get('id')}"
            item.attachments.append(AttachmentData(filename=name, content_type=content_type,
                                                   data=data))
        if notes:
            item.text = (item.text + "\n\n" + "\n".join(notes)).strip()

    def _download(self, url: str) -> tuple[bytes, str] | None:
        """A media file's bytes and type; None when it is gone (4xx) or too
        large. Transient failures raise, so the batch is fetched again."""
        import requests

        self._api()
        session = self._session
        assert session is not None

        def get(_api: Mastodon) -> tuple[bytes, str] | None:
            # No Authorization header: media sit on a CDN or another instance.
            with session.get(url, timeout=REQUEST_TIMEOUT, stream=True) as r:
                if r.status_code == 429:
                    raise RetryAfter(f"media host of {self.host} is rate limiting",
                                     _retry_delay(r))
                if r.status_code >= 500:
                    raise ChannelError(f"media download from {urlsplit(url).hostname} failed "
                                       f"(HTTP {r.status_code})", temporary=True)
                if r.status_code >= 400:
                    return None
                size = int(r.headers.get("Content-Length") or 0)
                if size > MAX_MEDIA_BYTES:
                    return None
                data = b""
                for chunk in r.iter_content(65536):
                    data += chunk
                    if len(data) > MAX_MEDIA_BYTES:
                        return None
                ctype = r.headers.get("Content-Type", "application/octet-stream")
                return data, ctype.split(";")[0].strip()

        def guarded(api: Mastodon) -> tuple[bytes, str] | None:
            try:
                return get(api)
            except requests.RequestException as exc:
                raise self._error(exc, posting=False) from exc

        return self._call(guarded)

    # -- send --------------------------------------------------------------------

    def _mention(self, address: str) -> str:
        """``@user`` for an account on our instance, ``@user@host`` else."""
        user, _, domain = address.lstrip("@").partition("@")
        if not domain or domain.lower() == self.host:
            return f"@{user}"
        return f"@{user}@{domain}"

    def send(self, message: Outbound) -> SendResult:
        if not message.to or not message.to[0].address:
            raise ChannelError("a Mastodon reply needs the customer's account (user@instance)")
        if message.attachments:
            raise ChannelError(
                "Mastodon replies cannot carry attachments here yet: send a link instead")
        mention = self._mention(message.to[0].address)
        visibility = reply_visibility(message.meta.get("visibility"))
        parts = split_status(message.text, mention)
        reply_to: str | None = message.reply_to_external_id or None
        key = message.idempotency_key
        posted: list[dict[str, Any]] = []
        for i, text in enumerate(parts, 1):
            part_key = (key if i == 1 else f"{key}-{i}") if key else None

            def post(api: Mastodon, text: str = text, part_key: str | None = part_key,
                     reply_to: str | None = reply_to) -> dict[str, Any]:
                api.status_post(text, in_reply_to_id=reply_to, visibility=visibility,
                                idempotency_key=part_key)
                data = self._json()
                if not isinstance(data, dict) or not data.get("id"):
                    raise ChannelError(f"Mastodon at {self.host} sent an unexpected answer",
                                       temporary=True, unknown_outcome=True)
                return data

            try:
                # With a key the server dedupes, so an unknown outcome may be retried.
                status = self._call(post, posting=True, idempotent=part_key is not None)
            except ChannelError as exc:
                if posted:
                    raise ChannelError(
                        f"{exc} (parts 1–{len(posted)} of {len(parts)} were posted, last "
                        f"status {posted[-1]['id']}): check the thread before retrying",
                        temporary=exc.temporary, unknown_outcome=True) from exc
                raise
            posted.append(status)
            reply_to = str(status["id"])
        raw = _dumps(posted[0] if len(posted) == 1 else posted)
        return SendResult(external_id=str(posted[-1]["id"]), state="sent", raw=raw)

    # -- check / close -------------------------------------------------------------

    def check(self) -> str:
        me = self._account()
        return f"logged in as @{global_acct(str(me.get('acct', '')), self.host)}"

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session = None
        self._client = None
