"""``supportctl serve`` (SPEC §12): a small web service for a shop whose
machine can be reached from the internet, behind a reverse proxy for TLS.

- ``GET /form`` is a plain HTML contact form (no script, inline CSS, in
  ``serve.language``); ``POST /form`` takes it, guarded by a honeypot
  field, a signed token that expires (HMAC-SHA256 with ``serve.secret``),
  a size cap (``serve.max_size``) and a per-IP rate limit
  (``serve.rate_limit`` submissions an hour).
- ``/hooks/twilio``, ``/hooks/telegram`` and ``/hooks/meta`` take what
  those platforms push, each checking its sender's signature first (403
  otherwise) against ``serve.public_url`` when set, else the URL as
  requested.

Contract: what is received is stored by the same ingest as ``sync``, in
one committed transaction (``synchronous=FULL``), BEFORE the 2xx answer;
a failure to store answers 503, so the platform sends it again. Every
item keeps the key ``sync`` gives the same message (Twilio's MessageSid,
Telegram's ``chat_id:message_id``, Meta's ``mid``), so a repeated delivery,
or a ``sync`` that polls the same message, stores it once.

The package is stdlib only (``wsgiref`` plus ``socketserver`` threads):
no command but ``serve`` imports it (tests/serve/test_serve.py checks).
``app.ServeApp`` is a plain WSGI application, so any WSGI server can host it.
"""
