"""Shared plumbing of the HTTP channels Twilio and Telegram: one httpx
client per channel, and the mapping of whatever can go wrong on the wire to
``ChannelError`` (SPEC §2, §9; sync-rules R52, R56, R66).

Contract:
- ``HttpJson.request`` never raises an httpx exception: a connection that
  was never made is ``Unreached`` (temporary, surely not acted on, safe to
  send again); a timeout or a connection dropped after the request left is
  temporary and, for a request that changes something (``sending=True``),
  ``unknown_outcome``; a certificate problem is ``TLSError``.
- Status codes are the channel's business (each API spells its errors its
  own way); ``status_error`` gives the common mapping: 429 → ``RetryAfter``,
  5xx → temporary, anything else permanent.
- ``parse_json`` turns a body that is not JSON (a proxy's HTML page, an
  answer cut off mid-way) into a temporary error.
- No message, exception text or log record carries a secret: every text
  that came from httpx goes through ``scrub`` (Telegram puts the bot token
  in every URL), errors are raised ``from None`` so a traceback under ``-v``
  does not print the httpx exception either, and a logging filter redacts
  the secrets from httpx's own request log lines.
- ``fetch_retry`` retries idempotent reads (bounded; a rate limit longer
  than ``MAX_RATE_LIMIT_WAIT`` ends the run instead of sleeping on the sync
  lock); ``send_retry`` retries a send only when it surely did not arrive
  (``Unreached``, a short 429), never after a timeout.
- httpx is imported lazily: read commands never pay for it.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar

from supportctl.channels import retry as retry_module
from supportctl.channels.retry import RetryAfter
from supportctl.errors import ChannelError, TLSError

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")

#: Seconds for connecting and for each read; tests shrink it.
REQUEST_TIMEOUT = 30.0
#: A rate limit that lifts within this many seconds is waited out; a longer
#: one ends this entry's run (cron comes back) instead of holding the lock.
MAX_RATE_LIMIT_WAIT = 10.0
#: Attempts for one idempotent read (network, 5xx or short 429 in between).
FETCH_ATTEMPTS = 3
#: Attempts for one send that surely did not arrive.
SEND_ATTEMPTS = 3


class Unreached(ChannelError):
    """The request never reached the server (connection refused, DNS,
    connect timeout): nothing was acted on, sending again is safe."""

    def __init__(self, message: str) -> None:
        super().__init__(message, temporary=True, unknown_outcome=False)


class _Stop(ChannelError):
    """Carries an error out of ``retry`` without retrying it."""

    def __init__(self, error: ChannelError) -> None:
        super().__init__(str(error), temporary=False)
        self.error = error


# -- secrets out of logs -------------------------------------------------------


class _Redactor(logging.Filter):
    """Removes registered secrets from records of httpx's loggers, which
    log every request URL at INFO (a Telegram URL holds the bot token)."""

    secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            text = record.getMessage()
        except Exception:  # a broken log call is not ours to fix
            return True
        clean = scrub(text, self.secrets)
        if clean != text:
            record.msg, record.args = clean, ()
        return True


_REDACTOR = _Redactor()
_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2",
            "httpcore.proxy")


def register_secrets(secrets: Iterable[str]) -> None:
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)
    _Redactor.secrets.update(s for s in secrets if s and len(s) >= 4)


def scrub(text: str, secrets: Iterable[str]) -> str:
    # Longest first, so a secret that contains another is removed whole.
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


# -- text ----------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length as Telegram and Twilio count it: UTF-16 code units (an emoji
    outside the BMP is two)."""
    return len(text.encode("utf-16-le")) // 2


def _cut(text: str, budget: int) -> int:
    """Index of the longest prefix of ``text`` within ``budget`` UTF-16 units."""
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > budget:
            return i
    return len(text)


def split_message(text: str, limit: int) -> list[str]:
    """``text`` as parts of at most ``limit`` UTF-16 units, cut at a
    paragraph, else a line, else a word boundary (a word longer than a part
    is cut), numbered ``(1/3)`` at the end when there is more than one, so
    the customer can put parts that arrive out of order back together."""
    text = text.strip()
    if utf16_len(text) <= limit:
        return [text]
    budget = max(limit - len(" (99/99)"), 1)
    parts: list[str] = []
    rest = text
    while rest:
        if utf16_len(rest) <= budget:
            parts.append(rest)
            break
        end = _cut(rest, budget)
        window = rest[:end]
        cut = -1
        for sep in ("\n\n", "\n", " "):
            pos = window.rfind(sep)
            # A boundary in the first fifth would make a stub part: cut hard.
            if pos > budget // 5:
                cut = pos
                break
        if cut < 0:
            part, rest = window, rest[end:]
        else:
            part, rest = window[:cut], rest[cut:]
        parts.append(part.rstrip())
        rest = rest.lstrip()
    n = len(parts)
    return [f"{p} ({i}/{n})" for i, p in enumerate(parts, 1)]


# -- the client ----------------------------------------------------------------


def retry_after_header(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        try:
            return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
        except (TypeError, ValueError):
            return None


def status_error(status: int, where: str, detail: str = "", *, sending: bool = False,
                 delay: float | None = None, hint: str = "") -> ChannelError:
    """The common mapping of an HTTP error status (``detail`` already scrubbed)."""
    detail = f": {detail[:200]}" if detail else ""
    if status == 429:
        wait = delay if delay is not None else retry_module.BASE_DELAY
        return RetryAfter(f"{where} is rate limiting (HTTP 429){detail}: "
                          f"try again in {wait:.0f}s", wait)
    if status >= 500:
        # A gateway error may come after the request was acted on.
        return ChannelError(f"{where} failed (HTTP {status}){detail}", temporary=True,
                            unknown_outcome=sending and status in (502, 504))
    return ChannelError(f"{where} refused the request (HTTP {status}){detail}"
                        + (f": {hint}" if hint else ""))


class HttpJson:
    """An httpx client for one channel entry. ``where`` names the service in
    messages ("Telegram at api.telegram.org"); ``secrets`` are scrubbed from
    every text that leaves this object."""

    def __init__(self, *, where: str, secrets: Iterable[str], config: Mapping[str, Any],
                 user_agent: str = "supportctl") -> None:
        self.where = where
        self.secrets = [s for s in secrets if s]
        self.config = config
        self.user_agent = user_agent
        self._client: httpx.Client | None = None
        register_secrets(self.secrets)

    def scrub(self, text: str) -> str:
        return scrub(text, self.secrets)

    def client(self) -> httpx.Client:
        if self._client is None:
            import httpx

            verify: bool | ssl.SSLContext = bool(self.config.get("tls_verify", True))
            if verify and self.config.get("ca_file"):
                verify = ssl.create_default_context(cafile=str(self.config["ca_file"]))
            self._client = httpx.Client(
                timeout=httpx.Timeout(REQUEST_TIMEOUT),
                verify=verify,
                headers={"User-Agent": self.user_agent},
                # Redirects only where a caller asks (media downloads): an API
                # call that redirects is a misconfigured base URL.
                follow_redirects=False,
                trust_env=True,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def request(self, method: str, url: str, *, sending: bool = False,
                **kwargs: Any) -> httpx.Response:
        """One request; transport failures become ``ChannelError``s."""
        import httpx

        try:
            return self.client().request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, sending=sending) from None

    def transport_error(self, exc: Exception, *, sending: bool) -> ChannelError:
        import httpx

        name = type(exc).__name__
        cause = exc.__context__ or exc.__cause__
        if isinstance(exc, httpx.ConnectError) and (
                isinstance(cause, ssl.SSLError) or "CERTIFICATE" in str(exc).upper()):
            return TLSError(
                f"TLS verification failed for {self.where}: check api_base_url, or set "
                "ca_file (or tls_verify: false) for this channel")
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.UnsupportedProtocol):
            return Unreached(f"could not connect to {self.where} ({name}): check the "
                             "network and api_base_url")
        if isinstance(exc, httpx.PoolTimeout):
            return Unreached(f"no free connection to {self.where} ({name})")
        what = "timed out" if isinstance(exc, httpx.TimeoutException) else \
            "was cut off" if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError |
                                        httpx.WriteError) else f"failed ({name})"
        if sending:
            return ChannelError(
                f"the request to {self.where} {what} after it was sent: it may or may "
                "not have been acted on", temporary=True, unknown_outcome=True)
        return ChannelError(f"the request to {self.where} {what}: check the network",
                            temporary=True)

    def parse_json(self, response: httpx.Response, *, sending: bool = False) -> Any:
        try:
            return json.loads(response.content)
        except ValueError:
            return self.malformed(sending=sending)

    def malformed(self, *, sending: bool = False) -> Any:
        raise ChannelError(
            f"{self.where} sent a malformed answer (not JSON)"
            + (": the request may or may not have been acted on" if sending else ""),
            temporary=True, unknown_outcome=sending)

    def download(self, url: str, *, limit: int, auth: Any = None) -> tuple[bytes, str] | None:
        """GET a file, following redirects (httpx drops credentials when a
        redirect leaves the origin, so Twilio's signed CDN URLs get none).
        None when it is larger than ``limit`` bytes."""
        import httpx

        try:
            with self.client().stream("GET", url, auth=auth, follow_redirects=True) as resp:
                if resp.status_code >= 400:
                    raise status_error(resp.status_code, self.where,
                                       delay=retry_after_header(resp.headers.get("Retry-After")))
                declared = resp.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > limit:
                    return None
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        return None
                    chunks.append(chunk)
                ctype = resp.headers.get("Content-Type", "application/octet-stream")
                return b"".join(chunks), ctype.split(";")[0].strip()
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, sending=False) from None


# -- retries -------------------------------------------------------------------


def fetch_retry(call: Callable[[], T], *, sleep: Callable[[float], None],
                attempts: int | None = None, max_wait: float | None = None) -> T:
    """``retry`` for idempotent reads, except that a rate limit lifting
    later than ``max_wait`` is raised at once (still temporary)."""
    limit = MAX_RATE_LIMIT_WAIT if max_wait is None else max_wait

    def guarded() -> T:
        try:
            return call()
        except RetryAfter as exc:
            if exc.delay > limit:
                raise _Stop(exc) from None
            raise

    try:
        return retry_module.retry(guarded, attempts=attempts or FETCH_ATTEMPTS, sleep=sleep)
    except _Stop as stop:
        raise stop.error from None


def send_retry(call: Callable[[], T], *, sleep: Callable[[float], None],
               attempts: int | None = None, max_wait: float | None = None) -> T:
    """A send, tried again only when it surely did not arrive: the
    connection was never made, or a 429 asked for a short wait. A timeout,
    a dropped connection or a 5xx is raised: the outbox decides."""
    limit = MAX_RATE_LIMIT_WAIT if max_wait is None else max_wait
    total = attempts or SEND_ATTEMPTS
    for attempt in range(1, total + 1):
        try:
            return call()
        except RetryAfter as exc:
            if attempt == total or exc.delay > limit:
                raise
            sleep(min(max(exc.delay, 0.0), limit))
        except Unreached:
            if attempt == total:
                raise
            sleep(retry_module.BASE_DELAY * 2 ** (attempt - 1))
    raise AssertionError("unreachable")
