"""``GET /form`` and ``POST /form`` of ``supportctl serve`` over real HTTP
(SPEC §12): a submission becomes one ``web`` ticket of the person; a bot
that fills the honeypot, an expired or forged token, a body over the cap
and a client over its hourly quota store nothing; a double submit of one
page stores one message; the page speaks the configured language."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from tests.conftest import ROOT
from tests.serve.conftest import FORM_SECRET, Served

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def token_of(page: str) -> str:
    m = re.search(r'name="token" value="([^"]+)"', page)
    assert m, page
    return m.group(1)


def submit(s: Served, token: str | None = None, headers: dict[str, str] | None = None,
           **fields: str) -> Any:
    if token is None:
        token = token_of(s.request("GET", "/form").text)
    data = {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "",
            "subject": "Order 1042", "message": "My parcel never arrived.", "website": "",
            "token": token, **fields}
    return s.request("POST", "/form", urlencode(data).encode(), {**FORM, **(headers or {})})


def tickets(cli: Any) -> list[dict[str, Any]]:
    res = cli("list", "--status", "all", "--format", "json")
    assert res.code == 0, res
    return list(res.json())


def test_a_submission_is_one_web_ticket_of_the_person(cli: Any, serve: Any) -> None:
    s = serve(language="it", title="Bottega Rossi")
    page = s.request("GET", "/form")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="it">' in page.text and "Bottega Rossi" in page.text
    assert '<label for="f-email">' in page.text and "<script" not in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    token = token_of(page.text)

    res = submit(s, token, phone="+39 347 123 4567", message="Il pacco non è arrivato.\r\nGrazie")
    assert res.status == 303 and res.headers["location"] == "/form/thanks"
    thanks = s.request("GET", "/form/thanks")
    assert thanks.status == 200 and "Grazie" in thanks.text

    # The same page sent twice (a double click, a reload): one message.
    assert submit(s, token).status == 303
    got = tickets(cli)
    assert len(got) == 1
    t = got[0]
    assert (t["channel"], t["account"], t["status"], t["subject"]) == \
        ("web", "web", "new", "Order 1042")
    assert t["contact"]["name"] == "Ada Lovelace"
    assert {(i["channel"], i["address"]) for i in t["contact"]["identities"]} == {
        ("email", "ada@example.com"), ("phone", "+393471234567")}
    msg = cli("show", str(t["id"]), "--format", "json").json()["messages"][0]
    assert msg["text"] == "Il pacco non è arrivato.\nGrazie"
    assert msg["from"] == {"name": "Ada Lovelace", "address": "ada@example.com"}

    # The person is answered by email (dry run: no mail entry needed to plan it).
    plan = cli("reply", str(t["id"]), "-m", "x", "--dry-run")
    assert plan.code != 0 and "email" in plan.err  # no email entry configured: says so


def test_bad_input_is_shown_back_with_what_was_written(cli: Any, serve: Any) -> None:
    s = serve()
    res = submit(s, email="not-an-address", message="Keep this text")
    assert res.status == 400
    assert 'aria-invalid="true"' in res.text and "Keep this text" in res.text
    assert 'role="alert"' in res.text and "email address" in res.text
    assert tickets(cli) == []


def test_honeypot_gets_thanks_and_stores_nothing(cli: Any, serve: Any) -> None:
    s = serve()
    res = submit(s, website="http://cheap-pills.example")
    assert res.status == 303 and res.headers["location"] == "/form/thanks"
    assert tickets(cli) == []


def test_expired_and_forged_tokens_store_nothing(cli: Any, serve: Any) -> None:
    from supportctl.serve.form import make_token

    s = serve(token_ttl="1h")
    old = make_token(FORM_SECRET.encode(), datetime.now(timezone.utc) - timedelta(hours=2))
    res = submit(s, old, message="written slowly")
    assert res.status == 400 and "too old" in res.text
    assert "written slowly" in res.text and token_of(res.text) != old  # a fresh token to resend
    forged = make_token(b"not the secret", datetime.now(timezone.utc))
    assert submit(s, forged).status == 400
    assert submit(s, "").status == 400
    assert tickets(cli) == []
    # Within its life a token works.
    fresh = make_token(FORM_SECRET.encode(), datetime.now(timezone.utc) - timedelta(minutes=50))
    assert submit(s, fresh).status == 303
    assert len(tickets(cli)) == 1


def test_size_cap_refuses_unread(cli: Any, serve: Any) -> None:
    s = serve(max_size=4000)
    res = submit(s, message="x" * 5000)
    assert res.status == 413 and "too long" in res.text
    assert tickets(cli) == []
    assert submit(s, message="x" * 3000).status == 303


def test_rate_limit_per_client(cli: Any, serve: Any) -> None:
    s = serve(rate_limit=2)
    # Behind the proxy on this machine, the client is the address it forwards.
    a, b = {"X-Forwarded-For": "203.0.113.7"}, {"X-Forwarded-For": "198.51.100.9"}
    assert submit(s, headers=a, message="one").status == 303
    assert submit(s, headers=a, message="two").status == 303
    third = submit(s, headers=a, message="three")
    assert third.status == 429 and "Too many" in third.text
    # A client cannot escape by writing its own X-Forwarded-For before the proxy's.
    assert submit(s, headers={"X-Forwarded-For": "1.2.3.4, 203.0.113.7"}).status == 429
    assert submit(s, headers=b, message="another person").status == 303
    assert sorted(m for t in tickets(cli) for m in [t["subject"]]) == \
        ["Order 1042", "Order 1042", "Order 1042"]


def test_list_and_show_never_import_the_server(cli: Any) -> None:
    for args in (["list"], ["show", "1"]):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "supportctl", "--db",
                               str(cli.db), *args], cwd=ROOT, capture_output=True, text=True)
        modules = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                   if line.startswith("import time:")}
        assert "supportctl.serve" not in modules and "wsgiref" not in modules, args


def test_only_the_serve_command_imports_the_server() -> None:
    import ast

    pkg = ROOT / "supportctl"
    users = set()
    for path in pkg.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n == "supportctl.serve" or n.startswith("supportctl.serve.") for n in names):
                users.add(str(path.relative_to(pkg)))
    assert {u for u in users if not u.startswith("serve/")} == {"cli/serve.py"}
