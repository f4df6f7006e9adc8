"""The HTTP server under ``ServeApp``: the standard library's WSGI server
with one thread per request (``socketserver.ThreadingMixIn``), meant to
sit behind a reverse proxy (Caddy, nginx) that terminates TLS.

Why this stack (bench/bench_serve_imports.py measures it): it adds no
dependency and loads in a few tens of milliseconds; the traffic of a
small shop's form and webhooks is a few requests a minute, which a thread
per request serves easily; the proxy in front handles TLS, HTTP/2 and slow
clients. ``ServeApp`` is plain WSGI, so waitress or gunicorn can host it
instead where more is needed.
"""

from __future__ import annotations

import socketserver
from collections.abc import Callable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

#: A client that sends nothing for this long loses its thread.
REQUEST_TIMEOUT = 30.0


class _Handler(WSGIRequestHandler):
    timeout = REQUEST_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        # The app logs one line per request, without the query string
        # (Meta's verification puts a token there).
        return None


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


def make_server(app: Callable[..., Any], host: str, port: int) -> _Server:
    server = _Server((host, port), _Handler)
    server.set_app(app)
    return server
