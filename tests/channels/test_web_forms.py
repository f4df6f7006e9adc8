"""Reading a website's form mail (``channels/web.py``), without servers:
the three layouts site builders use give back what the person typed,
whatever they typed; a mail from another sender, or naming nobody to
answer, stays an ordinary mail; ``forms`` rules are checked with the key
and line; a stored submission reads back the same (quarantine retry)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from supportctl.channels.web import check_rules, from_email, parse_stored, read_fields
from supportctl.config import load_config
from supportctl.errors import ConfigError
from supportctl.mail.parse import parse_email

RULE = {"from": "forms@shop.example"}

words = st.text(alphabet=st.characters(whitelist_categories=("L",)), min_size=1, max_size=12)
names = st.lists(words, min_size=1, max_size=3).map(" ".join)
lines = st.lists(st.lists(words, min_size=1, max_size=6).map(" ".join), min_size=1, max_size=4)


def _layouts(name: str, email: str, message: list[str]) -> list[list[str]]:
    same_line = [f"Name: {name}", f"Email: {email}", "Message: " + message[0], *message[1:]]
    below = ["Name:", name, "", "Email Address:", email, "", "Message:", *message, "",
             "Sent via Shop"]
    html_like = ["New submission", f"Name: {name}", f"E-mail: {email}", "Message", *message]
    return [same_line, below, html_like]


@settings(max_examples=150, deadline=None)
@given(names, words, lines)
@example(name="ENQUIRY", local="A", message=["A"])  # a name that is a label's word
def test_every_layout_gives_back_what_was_typed(name: str, local: str, message: list[str]) -> None:
    email = f"{local}@example.com"
    for layout in _layouts(name, email, message):
        got = read_fields(layout, RULE)
        assert got["name"] == name, layout
        assert got["email"] == email, layout
        assert got["message"] == "\n".join(message), layout


def _mail(sender: str, body: str) -> bytes:
    return (f"From: Site <{sender}>\r\nTo: support@example.org\r\nSubject: New form\r\n"
            "Message-ID: <f1@shop.example>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body).encode()


def test_only_configured_senders_and_only_with_someone_to_answer() -> None:
    rules, _ = check_rules([{"from": "@shop.example"}])
    assert rules
    body = "Name: Ada\r\nEmail: ada@example.com\r\nMessage: hi\r\n"
    item = from_email(parse_email(_mail("forms@shop.example", body)), rules)
    assert item is not None and item.medium == "web"
    assert item.sender is not None and item.sender.address == "ada@example.com"
    assert item.external_id == "f1@shop.example"  # the mail's key: a re-sync stores it once
    assert from_email(parse_email(_mail("someone@else.example", body)), rules) is None
    nobody = "Name: Ada\r\nMessage: call me maybe\r\n"
    assert from_email(parse_email(_mail("forms@shop.example", nobody)), rules) is None
    phone_only = "Name: Ada\r\nPhone: 0039 347 123 4567\r\nMessage: call me\r\n"
    item = from_email(parse_email(_mail("forms@shop.example", phone_only)), rules)
    assert item is not None and item.sender is not None
    assert item.sender.address == "+393471234567" and item.text == "call me"


@pytest.mark.parametrize("forms, message", [
    ("[{from: not-an-address}]", "channels[0].forms: [0].from must be the address"),
    ("[{from: a@b.example, nmae: Name}]", "unknown key 'nmae'"),
    ("[{from: a@b.example, email: []}]", "[0].email must be a field label or a list of them"),
    ("yes", "must be a list of form rules"),
])
def test_bad_rules_name_the_key_and_line(tmp_path: Path, forms: str, message: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("channels:\n  - name: m\n    type: imap\n    host: h\n    username: u\n"
                   f"    password_env: P\n    forms: {forms}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    assert f"{cfg}:7:" in str(exc.value) and message in str(exc.value)


def test_stored_originals_read_back_the_same() -> None:
    raw = json.dumps({"fields": {"name": "Ada", "email": "ada@example.com", "phone": "",
                                 "subject": "S", "message": "M"}, "key": "n0nce"}).encode()
    item = parse_stored(raw, {})
    assert (item.external_id, item.text, item.subject) == ("form:n0nce", "M", "S")
    mail = _mail("forms@shop.example", "Name: Ada\r\nEmail: ada@example.com\r\nMessage: hi\r\n")
    again = parse_stored(mail, {"forms": [RULE]})
    assert again.medium == "web" and again.external_id == "f1@shop.example"
