"""The ``web`` medium: contact forms (SPEC §12). Pure: no network, no store.

Two ways a form reaches us, one result (an ``Inbound`` on medium ``web``
whose sender is the person who filled the form in, never the website):

- **Mailed forms.** Most site builders (WordPress Contact Form 7, Wix,
  Squarespace, Jimdo, …) mail each submission from a fixed address. An
  ``imap`` entry's ``forms`` rules name that sender and the labels of the
  form's fields; ``from_email`` reads the fields out of the mail's text
  (``Name: Ada``, a label on one line and its value below it, or an HTML
  table of label and value cells) and turns the mail into the submission.
  The mail's Message-ID stays its key, so a re-sync stores it once; the
  mailer's automatic-mail headers do not make the submission automatic
  (a person wrote it); the mailer's address is kept in ``meta``.
- **Posted forms** (``supportctl serve``): ``submission`` builds the same
  item from the fields of ``POST /form``, keyed by the form token's nonce,
  so a double submit of one page is one message.

Contract for both: the sender's address is the person's email address
(the identity a reply goes to), else their phone number; ``meta["form"]``
holds ``name``, ``email``, ``phone`` and every other field read; the text
is the person's message (the whole form text when no message field is
found). Each submission opens its own ticket (a form has no reply chain);
answers go by email (``channels.reply_medium``, from its declaration), and the person's answer by
mail threads onto the ticket as any reply does.
"""

from __future__ import annotations

import html as _html
import json
import re
from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from typing import Any

from supportctl.models import Address, Inbound

MEDIUM = "web"

#: The labels read when a rule names none, per field (case-insensitive;
#: English, Italian, French, German and Spanish, as the page speaks them).
DEFAULT_LABELS: dict[str, tuple[str, ...]] = {
    "name": ("name", "your name", "full name", "nome", "nom", "nombre", "vorname und nachname",
             "first name", "last name"),
    "email": ("email", "e-mail", "your email", "email address", "e-mail address", "courriel",
              "correo electrónico", "correo"),
    "phone": ("phone", "telephone", "phone number", "your phone", "telefono", "téléphone",
              "telefon", "teléfono", "mobile"),
    "subject": ("subject", "your subject", "oggetto", "objet", "betreff", "asunto"),
    "message": ("message", "your message", "messaggio", "nachricht", "mensaje", "comments",
                "comment", "enquiry", "inquiry"),
}
FIELDS = tuple(DEFAULT_LABELS)
RULE_KEYS = ("from", *FIELDS)

_EMAIL = re.compile(r"[^@\s<>,;\"()\[\]]+@[^@\s<>,;\"()\[\]]+\.[^@\s<>,;\"()\[\].]+")
_PHONE = re.compile(r"\+?[\d][\d\s().-]{5,22}\d")
_LABEL_LINE = re.compile(r"^[\s*_>#-]*([^:：\n]{1,60}?)[\s*_]*[:：]\s*(.*)$")
MAX_FIELD = 20_000
_OTHER_LABEL = re.compile(r"[^\W\d_][\w .'’/-]*")
#: The line a site builder ends its mail with ("Sent via …", "This e-mail
#: was sent from a contact form on …"): not part of the person's message.
_FOOTER = re.compile(r"(?i)^\s*\(?\s*(sent (via|from|with)|this e-?mail was sent|submitted (via|from|on)|"
                     r"inviato (da|tramite)|envoyé (depuis|via)|gesendet (von|über))\b")


def check_rules(value: Any) -> tuple[list[dict[str, Any]] | None, str]:
    """Validate a ``forms`` config value: ``(rules, "")`` or ``(None, why)``.

    A rule is a mapping with ``from`` (the site's sending address, or
    ``@domain``) and optional field labels (text or a list of text) for
    ``name``, ``email``, ``phone``, ``subject`` and ``message``."""
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        return None, "must be a list of form rules, each with from: and field labels"
    out: list[dict[str, Any]] = []
    for i, rule in enumerate(value):
        where = f"[{i}]"
        if not isinstance(rule, dict):
            return None, f"{where} must be a mapping (from, name, email, phone, subject, message)"
        unknown = [k for k in rule if k not in RULE_KEYS]
        if unknown:
            return None, f"{where}: unknown key {unknown[0]!r}: use {', '.join(RULE_KEYS)}"
        sender = rule.get("from")
        if not isinstance(sender, str) or not (
                _EMAIL.fullmatch(sender.strip()) or re.fullmatch(r"@[\w.-]+\.\w+", sender.strip())):
            return None, (f"{where}.from must be the address the website mails forms from "
                          "(forms@shop.example) or @domain")
        norm: dict[str, Any] = {"from": sender.strip().lower()}
        for f in FIELDS:
            labels = rule.get(f)
            if labels is None:
                continue
            if isinstance(labels, str):
                labels = [labels]
            if not isinstance(labels, list) or not labels or not all(
                    isinstance(x, str) and x.strip() for x in labels):
                return None, f"{where}.{f} must be a field label or a list of them"
            norm[f] = [" ".join(x.split()).rstrip(":：").lower() for x in labels]
        out.append(norm)
    return out, ""


def rule_for(sender: str, rules: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    sender = (sender or "").strip().lower()
    for rule in rules:
        want = str(rule.get("from") or "")
        if sender == want or (want.startswith("@") and sender.endswith(want)):
            return rule
    return None


class _Cells(HTMLParser):
    """HTML as lines: each block or table cell ends a line; a table row of
    a label cell and a value cell becomes ``label: value``."""

    BLOCKS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "dt",
              "dd", "section", "article", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.cur: list[str] = []
        self.row: list[str] | None = None
        self.skip = 0

    def _end_line(self) -> None:
        text = " ".join("".join(self.cur).split())
        self.cur = []
        if not text:
            return
        if self.row is not None:
            self.row.append(text)
        else:
            self.lines.append(text)

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skip += 1
        elif tag == "tr":
            self._end_line()
            self.row = []
        elif tag in ("td", "th") or tag in self.BLOCKS:
            self._end_line()

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skip = max(0, self.skip - 1)
        elif tag in ("td", "th") or tag in self.BLOCKS:
            self._end_line()
        if tag in ("tr", "table") and self.row is not None:
            row, self.row = self.row, None
            if len(row) == 2 and len(row[0]) <= 60:
                self.lines.append(f"{row[0].rstrip(':：').strip()}: {row[1]}")
            else:
                self.lines.extend(row)

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.cur.append(data)

    def close(self) -> None:
        super().close()
        self._end_line()
        if self.row:
            self.lines.extend(self.row)
            self.row = None


def html_lines(html: str) -> list[str]:
    parser = _Cells()
    parser.feed(html[:2_000_000])
    parser.close()
    return parser.lines


def _labels(rule: Mapping[str, Any]) -> dict[str, list[str]]:
    return {f: list(rule.get(f) or DEFAULT_LABELS[f]) for f in FIELDS}


def _norm_label(text: str) -> str:
    return " ".join(text.replace("*", " ").replace("_", " ").split()).rstrip(":：").lower()


def read_fields(lines: Sequence[str], rule: Mapping[str, Any]) -> dict[str, str]:
    """The form's fields found in ``lines``: ``Label: value`` on one line,
    or a label alone on its line with the value on the lines below (until
    the next label or a blank line for one-line fields; a message runs to
    the next known label)."""
    labels = _labels(rule)
    #: label -> the fields it holds (CF7's default mail has "From: Name <addr>")
    field_of: dict[str, list[str]] = {}
    for f, labs in labels.items():
        for lab in labs:
            field_of.setdefault(lab, []).append(f)
    found: dict[str, list[tuple[int, str]]] = {}
    other: dict[str, str] = {}
    i, n = 0, len(lines)

    def label_at(line: str) -> tuple[str, list[str], str]:
        """(label, its fields, value on the same line); ("", [], "") when
        the line is no label; fields [] for a label we do not know."""
        stripped = line.strip()
        bare = _norm_label(stripped)
        if bare in field_of and not re.search(r"[:：]\s*\S", stripped):
            return bare, field_of[bare], ""
        m = _LABEL_LINE.match(stripped)
        if m:
            key = _norm_label(m.group(1))
            return key, field_of.get(key, []), m.group(2).strip()
        return "", [], ""

    while i < n:
        label, fields, value = label_at(lines[i])
        if not fields:
            if (label and value and len(label) <= 40 and _OTHER_LABEL.fullmatch(label)
                    and not _FOOTER.match(lines[i]) and "http" not in label):
                other.setdefault(label, value[:MAX_FIELD])
            i += 1
            continue
        long = "message" in fields
        j = i + 1
        parts = [value] if value else []
        # "Name:" with nothing after it: the line below is its value even
        # when it is a label's word on its own ("Enquiry", "Message"): a
        # form that writes its labels with a colon writes them all so.
        colon_label = not value and lines[i].rstrip().endswith((":", "："))
        while j < n:
            if label_at(lines[j])[1] and not (
                    colon_label and not parts and not re.search(r"[:：]", lines[j])):
                break
            if lines[j].strip() in ("--", "-- ", "—") or _FOOTER.match(lines[j]):
                break  # a signature or the site's footer
            if not long and (parts or not lines[j].strip()):
                break
            parts.append(lines[j])
            j += 1
        text = "\n".join(parts).strip() if long else " ".join(" ".join(parts).split())
        if text:
            for f in fields:
                found.setdefault(f, []).append((labels[f].index(label), text[:MAX_FIELD]))
        i = j
    out = {f: " ".join(v for _, v in sorted(vals)) if f != "message" else vals[0][1]
           for f, vals in found.items()}
    if out.get("name") and "@" in out["name"]:
        # "Ada Lovelace <ada@example.com>": the name is what is not the address
        out["name"] = " ".join(_EMAIL.sub("", out["name"]).replace("<>", "").strip(' "<>').split())
    for k, v in other.items():
        out.setdefault(k, v)
    return out


def _email_of(value: str) -> str:
    m = _EMAIL.search(value or "")
    return m.group(0).strip(".").lower() if m else ""


def _phone_of(value: str) -> str:
    m = _PHONE.search(value or "")
    if not m:
        return ""
    digits = re.sub(r"[^\d+]", "", m.group(0))
    return ("+" + digits[2:]) if digits.startswith("00") else digits


def from_email(item: Inbound, rules: Sequence[Mapping[str, Any]]) -> Inbound | None:
    """The submission a parsed form mail carries, or None when the mail is
    not from a configured form sender or names nobody to answer (no email
    address and no phone number: then it stays an ordinary mail)."""
    if item.medium != "email" or item.sender is None or item.report_state:
        return None
    rule = rule_for(item.sender.address, rules)
    if rule is None:
        return None
    # The HTML's cells first (a text part made from HTML holds its table
    # as markup), then the text.
    fields = read_fields(html_lines(item.html), rule) if item.html else {}
    if not (fields.get("email") or fields.get("phone")):
        fields = read_fields((item.text or "").splitlines(), rule)
    email = _email_of(fields.get("email", ""))
    if not email:
        # Many form plugins put the person in Reply-To.
        for a in item.meta.get("reply_to") or []:  # type: ignore[attr-defined]
            addr = str(a.get("address") or "").lower()
            if addr and addr != item.sender.address.lower():
                email = addr
                if not fields.get("name") and a.get("name"):
                    fields["name"] = str(a["name"])
                break
    phone = _phone_of(fields.get("phone", ""))
    if not email and not phone:
        return None
    name = " ".join(fields.get("name", "").split())[:200]
    text = fields.get("message") or (item.text or "").strip()
    extra = {k: v for k, v in fields.items() if k not in FIELDS}
    if fields.get("message") and extra:
        # The form's other fields (an order number, a product) belong with the question.
        text += "\n\n" + "\n".join(f"{k}: {v}" for k, v in extra.items())
    return Inbound(
        medium=MEDIUM,
        raw=item.raw,
        external_id=item.external_id,
        sender=Address(email or phone, name),
        to=item.to,
        subject=fields.get("subject") or item.subject,
        text=text,
        html="",
        sent_at=item.sent_at,
        received_at=item.received_at,
        attachments=item.attachments,
        source_ref=item.source_ref,
        spam=item.spam,
        meta={"form": {**extra, "name": name, "email": email, "phone": phone},
              "form_via": "email", "form_mailer": item.sender.address.lower()},
    )


def submission(fields: Mapping[str, str], *, key: str, page: str = "", raw: bytes = b"",
               language: str = "") -> Inbound:
    """The item of one ``POST /form`` (fields already checked)."""
    email = _email_of(fields.get("email", ""))
    phone = _phone_of(fields.get("phone", ""))
    name = " ".join(str(fields.get("name") or "").split())[:200]
    return Inbound(
        medium=MEDIUM,
        raw=raw,
        external_id=f"form:{key}",
        sender=Address(email or phone, name),
        subject=" ".join(str(fields.get("subject") or "").split())[:200],
        text=str(fields.get("message") or "").strip(),
        source_ref=f"form:{page}" if page else "form",
        meta={"form": {"name": name, "email": email, "phone": phone},
              "form_via": "serve", **({"form_language": language} if language else {})},
    )


def parse_stored(raw: bytes, config: Mapping[str, Any]) -> Inbound:
    """A stored ``web`` original read again (``sync --retry-quarantine``):
    the JSON ``serve`` kept of a posted form, or a form mail (RFC 822),
    read with the ``forms`` rules of the entry it came through."""
    from supportctl.errors import ParseError

    if raw.lstrip().startswith(b"{"):
        try:
            data = json.loads(raw)
        except ValueError:
            raise ParseError("not a stored form submission (bad JSON)") from None
        fields = data.get("fields") if isinstance(data, dict) else None
        if not isinstance(fields, dict) or not data.get("key"):
            raise ParseError("not a stored form submission")
        return submission({k: str(v) for k, v in fields.items()}, key=str(data["key"]),
                          raw=raw, language=str(data.get("language") or ""))
    from supportctl.mail.parse import parse_email

    found = from_email(parse_email(raw), list(config.get("forms") or []))
    if found is None:
        raise ParseError("not a form mail of this entry's forms rules")
    return found


def escape(text: str) -> str:
    return _html.escape(text, quote=True)
