"""The contact form: its page, its token and its guards.

- The page is one HTML document with inline CSS and no script: labels for
  every field, ``lang`` set, visible focus, errors named in words next to
  the form (``role="alert"``), usable with a keyboard and a screen reader.
- The token is ``<issued>.<nonce>.<mac>``: ``mac`` is HMAC-SHA256 of
  ``issued.nonce`` under the secret. A token is good for ``ttl`` after
  it was issued; its nonce keys the stored message, so submitting one page
  twice stores it once.
- The honeypot is a text field people do not see (hidden from sight and
  from screen readers, out of the tab order): a bot that fills it in gets
  the thank-you page and nothing is stored.
- ``RateLimit``: at most ``limit`` accepted submissions per client address
  per hour, counted in memory (a restart forgets them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta

from supportctl.channels.web import escape

FIELDS = ("name", "email", "phone", "subject", "message")
HONEYPOT = "website"
MAX_LENGTHS = {"name": 200, "email": 254, "phone": 40, "subject": 200, "message": 20000}
_EMAIL = re.compile(r"[^@\s<>,;\"()\[\]]+@[^@\s<>,;\"()\[\]]+\.[^@\s<>,;\"()\[\].]+")
_PHONE = re.compile(r"\+?[\d\s().-]{6,40}")

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Contact us", "intro": "Write to us and we will answer by email.",
        "name": "Your name", "email": "Email", "phone": "Phone (optional)",
        "subject": "Subject (optional)", "message": "Message", "send": "Send",
        "honeypot": "Leave this field empty",
        "thanks_title": "Thank you", "thanks": "We have your message and will answer by email soon.",
        "again": "Write another message",
        "err_name": "Please give your name.", "err_email": "Please give an email address we can answer.",
        "err_phone": "This phone number does not look right.", "err_message": "Please write your message.",
        "err_token": "This page is too old. Please send the form again.",
        "err_size": "The message is too long.",
        "err_rate": "Too many messages from your address. Please try again later.",
        "required": "required",
    },
    "it": {
        "title": "Contattaci", "intro": "Scrivici: ti risponderemo per email.",
        "name": "Il tuo nome", "email": "Email", "phone": "Telefono (facoltativo)",
        "subject": "Oggetto (facoltativo)", "message": "Messaggio", "send": "Invia",
        "honeypot": "Lascia vuoto questo campo",
        "thanks_title": "Grazie", "thanks": "Abbiamo ricevuto il tuo messaggio e ti risponderemo presto per email.",
        "again": "Scrivi un altro messaggio",
        "err_name": "Indica il tuo nome.", "err_email": "Indica un indirizzo email a cui rispondere.",
        "err_phone": "Questo numero di telefono non sembra corretto.",
        "err_message": "Scrivi il tuo messaggio.",
        "err_token": "Questa pagina è troppo vecchia. Invia di nuovo il modulo.",
        "err_size": "Il messaggio è troppo lungo.",
        "err_rate": "Troppi messaggi dal tuo indirizzo. Riprova più tardi.",
        "required": "obbligatorio",
    },
    "fr": {
        "title": "Contactez-nous", "intro": "Écrivez-nous, nous vous répondrons par e-mail.",
        "name": "Votre nom", "email": "E-mail", "phone": "Téléphone (facultatif)",
        "subject": "Objet (facultatif)", "message": "Message", "send": "Envoyer",
        "honeypot": "Laissez ce champ vide",
        "thanks_title": "Merci", "thanks": "Nous avons bien reçu votre message et vous répondrons bientôt par e-mail.",
        "again": "Écrire un autre message",
        "err_name": "Indiquez votre nom.", "err_email": "Indiquez une adresse e-mail pour la réponse.",
        "err_phone": "Ce numéro de téléphone ne semble pas correct.",
        "err_message": "Écrivez votre message.",
        "err_token": "Cette page est trop ancienne. Envoyez de nouveau le formulaire.",
        "err_size": "Le message est trop long.",
        "err_rate": "Trop de messages depuis votre adresse. Réessayez plus tard.",
        "required": "obligatoire",
    },
    "de": {
        "title": "Kontakt", "intro": "Schreiben Sie uns, wir antworten per E-Mail.",
        "name": "Ihr Name", "email": "E-Mail", "phone": "Telefon (optional)",
        "subject": "Betreff (optional)", "message": "Nachricht", "send": "Senden",
        "honeypot": "Dieses Feld leer lassen",
        "thanks_title": "Danke", "thanks": "Ihre Nachricht ist angekommen; wir antworten bald per E-Mail.",
        "again": "Noch eine Nachricht schreiben",
        "err_name": "Bitte geben Sie Ihren Namen an.",
        "err_email": "Bitte geben Sie eine E-Mail-Adresse für die Antwort an.",
        "err_phone": "Diese Telefonnummer scheint nicht zu stimmen.",
        "err_message": "Bitte schreiben Sie Ihre Nachricht.",
        "err_token": "Diese Seite ist zu alt. Bitte senden Sie das Formular noch einmal.",
        "err_size": "Die Nachricht ist zu lang.",
        "err_rate": "Zu viele Nachrichten von Ihrer Adresse. Bitte später noch einmal.",
        "required": "Pflichtfeld",
    },
    "es": {
        "title": "Contacto", "intro": "Escríbenos y te responderemos por correo electrónico.",
        "name": "Tu nombre", "email": "Correo electrónico", "phone": "Teléfono (opcional)",
        "subject": "Asunto (opcional)", "message": "Mensaje", "send": "Enviar",
        "honeypot": "Deja este campo vacío",
        "thanks_title": "Gracias", "thanks": "Hemos recibido tu mensaje y te responderemos pronto por correo.",
        "again": "Escribir otro mensaje",
        "err_name": "Indica tu nombre.", "err_email": "Indica un correo electrónico para la respuesta.",
        "err_phone": "Este número de teléfono no parece correcto.",
        "err_message": "Escribe tu mensaje.",
        "err_token": "Esta página es demasiado antigua. Envía el formulario de nuevo.",
        "err_size": "El mensaje es demasiado largo.",
        "err_rate": "Demasiados mensajes desde tu dirección. Inténtalo más tarde.",
        "required": "obligatorio",
    },
}

CSS = """
*{box-sizing:border-box}
body{margin:0;font:1.0625rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1b1b1b;background:#f6f6f4}
main{max-width:36rem;margin:0 auto;padding:1.5rem 1rem 3rem}
h1{font-size:1.6rem;margin:.5rem 0}
label{display:block;font-weight:600;margin:1.1rem 0 .3rem}
input,textarea{width:100%;font:inherit;padding:.6rem .7rem;border:2px solid #6b6b6b;
border-radius:.4rem;background:#fff;color:inherit}
textarea{min-height:10rem;resize:vertical}
input:focus-visible,textarea:focus-visible,button:focus-visible,a:focus-visible{
outline:3px solid #1a5fb4;outline-offset:2px}
button{margin-top:1.4rem;font:inherit;font-weight:600;padding:.7rem 1.6rem;border:0;
border-radius:.4rem;background:#1a5fb4;color:#fff;cursor:pointer}
button:hover{background:#174f96}
.req{color:#a51d2d;font-weight:400}
.errors{border:2px solid #a51d2d;background:#fff0f0;padding:.6rem 1rem;border-radius:.4rem}
.errors ul{margin:.2rem 0;padding-left:1.2rem}
[aria-invalid=true]{border-color:#a51d2d}
.hp{position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden}
@media (prefers-color-scheme:dark){body{background:#1d1d1d;color:#eee}
input,textarea{background:#2a2a2a;border-color:#999}.errors{background:#3a1d1d}}
"""


def strings(language: str) -> dict[str, str]:
    return STRINGS.get(language, STRINGS["en"])


# -- token ---------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(secret: bytes, now: datetime) -> str:
    body = f"{int(now.timestamp())}.{_b64(secrets.token_bytes(12))}"
    mac = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def check_token(token: str, secret: bytes, now: datetime, ttl: timedelta) -> str | None:
    """The token's nonce when it is ours and not expired, else None."""
    parts = (token or "").split(".")
    if len(parts) != 3 or not parts[0].isdigit() or len(token) > 200:
        return None
    body = f"{parts[0]}.{parts[1]}"
    want = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(want, parts[2]):
        return None
    age = now.timestamp() - int(parts[0])
    if age < -60 or age > ttl.total_seconds():  # a minute of clock skew between workers
        return None
    return parts[1]


# -- checks --------------------------------------------------------------------


def validate(fields: Mapping[str, str]) -> list[str]:
    """The names of the fields that are wrong (empty when all are fine)."""
    bad = []
    if not fields.get("name", "").strip():
        bad.append("name")
    if not _EMAIL.fullmatch(fields.get("email", "").strip()):
        bad.append("email")
    phone = fields.get("phone", "").strip()
    if phone and not _PHONE.fullmatch(phone):
        bad.append("phone")
    if not fields.get("message", "").strip():
        bad.append("message")
    for f, n in MAX_LENGTHS.items():
        if len(fields.get(f, "")) > n and f not in bad:
            bad.append(f)
    return bad


class RateLimit:
    """At most ``limit`` hits per key in any ``window`` seconds."""

    def __init__(self, limit: int, window: float = 3600.0) -> None:
        self.limit, self.window = limit, window
        self.hits: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self.lock:
            if len(self.hits) > 10_000:  # forget the quiet ones: memory stays bounded
                for k in [k for k, q in self.hits.items() if not q or q[-1] < now - self.window]:
                    del self.hits[k]
            q = self.hits.setdefault(key, deque())
            while q and q[0] < now - self.window:
                q.popleft()
            if len(q) >= self.limit:
                return False
            q.append(now)
            return True


# -- pages ---------------------------------------------------------------------


def _page(language: str, title: str, body: str) -> bytes:
    return (f'<!doctype html>\n<html lang="{escape(language)}">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n"
            f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n").encode()


def form_page(language: str, site: str, token: str, values: Mapping[str, str] | None = None,
              errors: list[str] | None = None, action: str = "/form") -> bytes:
    s = strings(language)
    values = values or {}
    errors = errors or []
    heading = s["title"] + (f" · {site}" if site else "")
    out = [f"<h1>{escape(heading)}</h1>", f"<p>{escape(s['intro'])}</p>"]
    if errors:
        items = "".join(f'<li><a href="#f-{escape(e)}">{escape(s.get("err_" + e, e))}</a></li>'
                        if e in FIELDS else f'<li>{escape(s.get("err_" + e, e))}</li>'
                        for e in errors)
        out.append(f'<div class="errors" role="alert" id="errors"><ul>{items}</ul></div>')
    out.append(f'<form method="post" action="{escape(action)}" accept-charset="utf-8">')
    out.append(f'<input type="hidden" name="token" value="{escape(token)}">')
    specs = [("name", "text", "name", True), ("email", "email", "email", True),
             ("phone", "tel", "tel", False), ("subject", "text", "off", False)]
    for name, kind, auto, required in specs:
        req = f' <span class="req">({escape(s["required"])})</span>' if required else ""
        inv = ' aria-invalid="true" aria-describedby="errors"' if name in errors else ""
        out.append(f'<label for="f-{name}">{escape(s[name])}{req}</label>'
                   f'<input id="f-{name}" name="{name}" type="{kind}" autocomplete="{auto}"'
                   f' maxlength="{MAX_LENGTHS[name]}" value="{escape(values.get(name, ""))}"'
                   f'{" required" if required else ""}{inv}>')
    inv = ' aria-invalid="true" aria-describedby="errors"' if "message" in errors else ""
    out.append(f'<label for="f-message">{escape(s["message"])} '
               f'<span class="req">({escape(s["required"])})</span></label>'
               f'<textarea id="f-message" name="message" rows="8" maxlength="{MAX_LENGTHS["message"]}"'
               f' required{inv}>{escape(values.get("message", ""))}</textarea>')
    out.append(f'<div class="hp" aria-hidden="true"><label for="f-{HONEYPOT}">'
               f'{escape(s["honeypot"])}</label><input id="f-{HONEYPOT}" name="{HONEYPOT}" '
               'type="text" tabindex="-1" autocomplete="off" value=""></div>')
    out.append(f'<button type="submit">{escape(s["send"])}</button>\n</form>')
    return _page(language, heading, "\n".join(out))


def thanks_page(language: str, site: str, action: str = "/form") -> bytes:
    s = strings(language)
    return _page(language, s["thanks_title"],
                 f'<h1 id="thanks">{escape(s["thanks_title"])}</h1>\n<p>{escape(s["thanks"])}</p>\n'
                 f'<p><a href="{escape(action)}">{escape(s["again"])}</a></p>')


def message_page(language: str, key: str, action: str = "/form") -> bytes:
    """A page saying one thing went wrong (expired page, too big, too many)."""
    s = strings(language)
    return _page(language, s["title"],
                 f'<h1>{escape(s["title"])}</h1>\n<p role="alert">{escape(s[key])}</p>\n'
                 f'<p><a href="{escape(action)}">{escape(s["again"])}</a></p>')
