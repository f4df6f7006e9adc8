"""Loop and noise rules of SPEC §4, each on its own, through every kind of
``headers`` ``auto_reason`` accepts, and through ``parse_email``."""

from __future__ import annotations

import email
from email import policy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportctl.mail.loops import auto_reason, is_own_address
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
    ({"From": "Shop <noreply+orders@shop.example>"}, "no-reply sender"),
    ({"From": "no_reply@bank.example"}, "no-reply sender"),
    ({"From": "Do.Not.Reply@bank.example"}, "no-reply sender"),
    ({"From": "donotreply-alerts@bank.example"}, "no-reply sender"),
    ({"From": "no-reply_notifications@bank.example"}, "no-reply sender"),
]
HUMAN = [
    {"From": "Ann <ann@example.com>"},
    {"From": "ann@example.com", "Auto-Submitted": "no"},
    {"From": "ann@example.com", "Auto-Submitted": "No (a person)"},
    {"From": "ann@example.com", "Precedence": "normal"},
    {"From": "ann@example.com", "Return-Path": "<ann@example.com>"},
    {"From": "postmaster-team-lead@example.com"},
    {"From": "reply@example.com"},
    {"From": "noreplyguy@example.com"},
    {"From": "ann+noreply@example.com"},
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


_LOCAL = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,15}", fullmatch=True)
_TAG = st.from_regex(r"[a-z0-9._-]{0,12}", fullmatch=True)
_DOMAIN = st.from_regex(r"[a-z0-9]{1,10}\.(example|test)", fullmatch=True)


def _case(text: str, flips: list[bool]) -> str:
    return "".join(c.upper() if f else c for c, f in zip(text, flips + [False] * len(text), strict=False))


@given(_LOCAL, _TAG, _DOMAIN, st.lists(st.booleans(), max_size=40), st.booleans())
def test_our_address_with_any_tag_and_case_is_ours(local: str, tag: str, domain: str,
                                                   flips: list[bool], bracket: bool) -> None:
    own = {f"{local}@{domain}"}
    address = _case(f"{local}+{tag}@{domain}" if tag else f"{local}@{domain}", flips)
    assert is_own_address(f"<{address}>" if bracket else address, own)


@given(_LOCAL, _LOCAL, _TAG, _DOMAIN, _DOMAIN)
def test_another_address_is_not_ours(local: str, other: str, tag: str, domain: str,
                                     other_domain: str) -> None:
    own = {f"{local}@{domain}"}
    if other != local:
        assert not is_own_address(f"{other}+{tag}@{domain}", own)
    if other_domain != domain:
        assert not is_own_address(f"{local}+{tag}@{other_domain}", own)
    assert not is_own_address("", own) and not is_own_address(local, own)


@given(st.sampled_from(["no", "No", "NO"]), st.sampled_from(["", "-", "_", "."]),
       st.sampled_from(["reply", "Reply"]), _TAG, _DOMAIN)
def test_every_spelling_of_no_reply_is_automatic(no: str, sep: str, reply: str, tag: str,
                                                 domain: str) -> None:
    local = f"{no}{sep}{reply}" + (f"+{tag}" if tag else "")
    assert auto_reason({"From": f"Shop <{local}@{domain}>"}) == "no-reply sender"
