"""A small threaded HTTP server on loopback for speaking a third party's
documented wire format in tests (Twilio, Telegram, Mastodon).

Routes are ``(method, path_regex) -> handler(request) -> Reply``. Faults can
be queued: the next N requests matching a route answer 429/500, hang, or
send truncated JSON, so the channel's retry rules are tested against real
sockets and the real client libraries."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    match: re.Match[str] | None = None

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


@dataclass
class Fault:
    kind: str  # "429", "500", "hang", "truncate", "drop"
    retry_after: int = 0


Handler = Callable[[Request], Reply]


class LoopbackServer:
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.faults: list[tuple[re.Pattern[str], Fault]] = []
        self.log: list[Request] = []
        self.hang_seconds = 30.0
        outer = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Small keep-alive responses would otherwise wait ~40 ms on
            # Nagle's algorithm and delayed ACKs.
            disable_nagle_algorithm = True

            def log_message(self, *a: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                req = Request(self.command, parts.path, parse_qs(parts.query),
                              {k.lower(): v for k, v in self.headers.items()}, body)
                outer.log.append(req)
                fault = outer._take_fault(req.path)
                if fault is not None:
                    return outer._send_fault(self, fault)
                for method, rx, handler in outer.routes:
                    m = rx.fullmatch(req.path)
                    if m and method == req.method:
                        req.match = m
                        reply = handler(req)
                        return outer._send(self, reply)
                outer._send(self, Reply(404, {"error": f"no route {req.method} {req.path}"}))

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        class _Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that timed out and hung up is part of the test

        self.httpd = _Server(("127.0.0.1", 0), _H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.routes.append((method, re.compile(pattern), fn))
            return fn
        return deco

    def fail(self, pattern: str, kind: str, times: int = 1, retry_after: int = 0) -> None:
        for _ in range(times):
            self.faults.append((re.compile(pattern), Fault(kind, retry_after)))

    def requests(self, pattern: str = ".*") -> list[Request]:
        rx = re.compile(pattern)
        return [r for r in self.log if rx.fullmatch(r.path)]

    def _take_fault(self, path: str) -> Fault | None:
        for i, (rx, fault) in enumerate(self.faults):
            if rx.fullmatch(path):
                del self.faults[i]
                return fault
        return None

    def _send(self, h: BaseHTTPRequestHandler, reply: Reply) -> None:
        data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
        h.send_response(reply.status)
        headers = {"Content-Type": "application/json", **reply.headers}
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _send_fault(self, h: BaseHTTPRequestHandler, fault: Fault) -> None:
        if fault.kind == "hang":
            time.sleep(self.hang_seconds)
            return
        if fault.kind == "drop":
            h.close_connection = True
            h.connection.close()
            return
        if fault.kind == "truncate":
            data = b'{"messages": [{"sid": "SM'
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        status = int(fault.kind)
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
        self._send(h, Reply(status, {"error": f"injected {status}", "code": status,
                                     "message": "injected fault"}, headers))

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
