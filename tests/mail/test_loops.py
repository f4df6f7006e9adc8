"""Loop and noise rules of SPEC §4, each on its own, through every kind of
``headers`` ``auto_reason`` accepts, and through ``parse_email``."""

from __future__ import annotations

import email
from email import policy

import pytest

from supportctl.mail.loops import auto_reason
from supportctl.mail.parse import parse_email

CASES = [
    ({"Auto-Submitted": "auto-replied"}, "auto-submitted: auto-replied"),
    ({"Auto-Submitted": "auto-generated; owner-email=x@example.com"}, "auto-submitted: auto-generated"),
    ({"Auto-Submitted": "auto-notified (vacation)"}, "auto-submitted: auto-notified"),
    ({"Precedence": "bulk"}, "precedence: bulk"),
    ({"Precedence": "List"}, "precedence: list"),
    ({"Precedence": "junk"}, "precedence: junk"),
    ({"Precedence": "auto_reply"}, "precedence: auto_reply"),
    ({"List-Id": "Shop news <news.example.com>"}, "mailing list (List-Id)"),
    ({"List-Unsubscribe": "<mailto:unsub@example.com>"}, "bulk mail (List-Unsubscribe)"),
    ({"X-Auto-Response-Suppress": "All"}, "x-auto-response-suppress"),
    ({"X-Autoreply": "yes"}, "x-autoreply"),
    ({"X-Autorespond": "Out of office"}, "x-autorespond"),
    ({"X-Autoresponder": "1"}, "x-autoresponder"),
    ({"Return-Path": "<>"}, "empty return-path"),
    ({"Return-Path": "< >"}, "empty return-path"),
    ({"From": "MAILER-DAEMON@mx.example.com"}, "mailer-daemon sender"),
    ({"From": "Mail Delivery System <Postmaster@example.org>"}, "postmaster sender"),
    ({"From": "Shop <no-reply@shop.example>"}, "no-reply sender"),
    ({"From": "noreply@shop.example"}, "no-reply sender"),
]
HUMAN = [
    {"From": "Ann <ann@example.com>"},
    {"From": "ann@example.com", "Auto-Submitted": "no"},
    {"From": "ann@example.com", "Auto-Submitted": "No (a person)"},
    {"From": "ann@example.com", "Precedence": "normal"},
    {"From": "ann@example.com", "Return-Path": "<ann@example.com>"},
    {"From": "postmaster-team-lead@example.com"},
    {"From": "reply@example.com"},
    {"From": "ann@example.com", "List-Id": "  "},
]


@pytest.mark.parametrize("headers,reason", CASES, ids=lambda v: str(v))
def test_each_rule(headers: dict[str, str], reason: str) -> None:
    assert auto_reason(headers) == reason
    lower = {k.lower(): v for k, v in headers.items()}
    assert auto_reason(lower) == reason  # header names in any case
    assert auto_reason(lambda name: headers.get(name, "")) == reason
    text = "".join(f"{k}: {v}\n" for k, v in headers.items())
    message = email.message_from_string(text + "\nbody\n", policy=policy.compat32)
    assert auto_reason(message) == reason
    if "From" not in headers:
        text = "From: ann@example.com\n" + text
    assert parse_email((text + "\nbody\n").encode()).auto_reason == reason


@pytest.mark.parametrize("headers", HUMAN, ids=lambda v: str(v))
def test_a_person(headers: dict[str, str]) -> None:
    assert auto_reason(headers) == ""
    text = "".join(f"{k}: {v}\n" for k, v in headers.items())
    assert parse_email((text + "\nbody\n").encode()).auto_reason == ""


def test_first_rule_wins_and_broken_headers_do_not_raise() -> None:
    assert auto_reason({"Auto-Submitted": "auto-replied", "Precedence": "bulk"}).startswith("auto-submitted")
    assert auto_reason({}) == ""
    assert auto_reason({"From": '"'}) == ""
