"""Messenger and Instagram Direct through the CLI against the fake Graph API
(SPEC §12): sync newest-first down to the watermark, each message once,
images downloaded, one request when nothing is new, kill/retry, rate
limits, an expired token, the 24-hour / HUMAN_AGENT 7-day windows, and
``config check --online``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from supportctl.channels import build
from supportctl.channels import http as http_module
from supportctl.channels import retry as retry_module
from supportctl.models import Address, Outbound
from tests.conftest import run_cli
from tests.contract import ChannelContract, drain
from tests.social.graph_server import IG_ID, PAGE_ID, START, TOKEN, GraphServer
from tests.social.twilio_server import SHOP, SID


def _env(tmp_path: Path, srv: GraphServer, *, name: str = "shop-fb",
         extra: str = "") -> dict[str, str]:
    kind, key, oid = (("instagram", "account_id", IG_ID) if srv.platform == "instagram"
                      else ("messenger", "page_id", PAGE_ID))
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "channels:\n"
        f"  - name: {name}\n    type: {kind}\n    {key}: '{oid}'\n"
        f"    access_token_env: META_TOKEN\n    api_base_url: {srv.url}\n{extra}",
        encoding="utf-8")
    return {"SUPPORTCTL_CONFIG": str(cfg), "META_TOKEN": TOKEN,
            "SUPPORTCTL_NOW": (srv.clock + timedelta(minutes=30)).isoformat()}


@pytest.fixture
def fb() -> Iterator[GraphServer]:
    with GraphServer(page_size=2) as srv:
        yield srv


@pytest.fixture
def ig() -> Iterator[GraphServer]:
    with GraphServer(platform="instagram") as srv:
        yield srv


def _now(env: dict[str, str], srv: GraphServer, **delta: float) -> dict[str, str]:
    return {**env, "SUPPORTCTL_NOW": (srv.clock + timedelta(**delta)).isoformat()}


def _messages(cli: Any, env: dict[str, str]) -> list[dict[str, Any]]:
    out = cli("export", "--format", "jsonl", "--messages", env=env)
    assert out.code == 0, out
    return [m for t in out.jsonl() for m in t["messages"]]


def test_messenger_sync_stores_each_message_once_with_images(
        cli: Any, fb: GraphServer, tmp_path: Path) -> None:
    luca = fb.user("7712345678901234", "Luca Ferri")
    anna = fb.user("7798765432109876", "Anna Conti")
    fb.message(luca, "Hi! The strap of my bag is torn.")
    fb.message(luca, "Here is the photo", image=True)
    fb.message(anna, "Do you ship to Austria?")
    fb.message(luca, "Thanks, we will look", outgoing=True)  # the Page's own: not a customer's
    env = _env(tmp_path, fb)

    r = cli("sync", env=env)
    assert r.code == 0, r
    tickets = cli("list", "--format", "json", env=env).json()
    assert sorted((t["channel"], t["account"], t["contact"]["name"]) for t in tickets) == [
        ("messenger", "shop-fb", "Anna Conti"), ("messenger", "shop-fb", "Luca Ferri")]
    luca_t = next(t for t in tickets if t["contact"]["name"] == "Luca Ferri")
    assert luca_t["contact"]["identities"] == [{"channel": "messenger",
                                                 "address": "7712345678901234"}]
    shown = cli("show", str(luca_t["id"]), "--format", "json", env=env).json()
    texts = [m["text"] for m in shown["messages"]]
    assert texts == ["Hi! The strap of my bag is torn.", "Here is the photo"]
    [att] = shown["messages"][1]["attachments"]
    assert att["content_type"] == "image/png" and att["size"] > 0
    assert shown["messages"][0]["sent_at"] == "2026-12-01T10:01:00Z"

    # Re-sync stores nothing twice, and costs one request.
    before = len(fb.graph_requests())
    r = cli("sync", env=env)
    assert r.code == 0, r
    assert len(fb.graph_requests()) - before == 1
    assert len(_messages(cli, env)) == 3

    # A new message on an older conversation: only that one is read.
    fb.message(anna, "Also to Germany?")
    before = len(fb.graph_requests())
    assert cli("sync", env=_now(env, fb, minutes=5)).code == 0
    calls = fb.graph_requests()[before:]
    assert [c.path.rsplit("/", 1)[-1] for c in calls] == ["conversations", "messages"]
    assert len(_messages(cli, env)) == 4
    # The token never sits in a URL we built (only Graph's own paging links carry it).
    assert all("access_token" not in c.query for c in calls)


def test_paging_and_a_conversation_updated_while_paging(
        cli: Any, fb: GraphServer, tmp_path: Path) -> None:
    people = [fb.user(f"77000000000000{i:02d}", f"Person {i}") for i in range(5)]
    for p in people:
        fb.message(p, f"hello from {p['name']}")
    env = _env(tmp_path, fb)
    # While the client reads the first page, the oldest conversation gets a
    # new message and jumps to the top.
    fb.on_page(lambda: fb.message(people[0], "anyone there?"))
    assert cli("sync", env=_now(env, fb, minutes=30)).code == 0
    assert cli("sync", env=_now(env, fb, minutes=31)).code == 0
    texts = sorted(m["text"] for m in _messages(cli, env))
    assert texts == sorted([f"hello from Person {i}" for i in range(5)] + ["anyone there?"])
    before = len(fb.graph_requests())
    assert cli("sync", env=_now(env, fb, minutes=32)).code == 0
    assert len(fb.graph_requests()) - before == 1


def test_a_killed_sync_resumes_without_storing_twice(
        cli: Any, fb: GraphServer, tmp_path: Path) -> None:
    a, b = fb.user("7711111111111111", "Ada"), fb.user("7722222222222222", "Bea")
    fb.message(a, "first")
    fb.message(b, "second")
    env = _env(tmp_path, fb)
    # The second conversation's messages fail for good (HTTP 500 three times):
    # the run ends after the first conversation was committed.
    fb.http.fail(r"/v21.0/t_7722222222222222/messages", "500", times=3)
    r = cli("sync", env=env)
    assert r.code == 1 and "HTTP 500" in r.err, r
    assert [m["text"] for m in _messages(cli, env)] == ["first"] or \
        sorted(m["text"] for m in _messages(cli, env)) == ["first"]
    r = cli("sync", env=env)
    assert r.code == 0, r
    assert sorted(m["text"] for m in _messages(cli, env)) == ["first", "second"]
    assert cli("sync", env=env).code == 0
    assert len(_messages(cli, env)) == 2


@pytest.mark.parametrize("code", [4, 17, 32, 613])
def test_rate_limit_codes_back_off_and_retry(
        cli: Any, fb: GraphServer, tmp_path: Path, code: int) -> None:
    fb.message(fb.user("7733333333333333", "Carla"), "ciao")
    env = _env(tmp_path, fb)
    fb.graph_error(code, path=r".*/conversations", regain_minutes=0)
    r = cli("sync", env=env)
    assert r.code == 0, r
    assert [m["text"] for m in _messages(cli, env)] == ["ciao"]


def test_a_long_rate_limit_ends_the_run_and_says_when(
        cli: Any, fb: GraphServer, tmp_path: Path) -> None:
    fb.message(fb.user("7733333333333333", "Carla"), "ciao")
    env = _env(tmp_path, fb)
    fb.graph_error(32, path=r".*/conversations", regain_minutes=15)
    r = cli("sync", env=env)
    assert r.code == 1, r
    assert "rate limiting" in r.err and "900s" in r.err, r
    assert TOKEN not in r.err
    assert cli("sync", env=env).code == 0
    assert len(_messages(cli, env)) == 1


def test_an_expired_token_is_one_clear_error(cli: Any, fb: GraphServer, tmp_path: Path) -> None:
    fb.message(fb.user("7733333333333333", "Carla"), "ciao")
    env = _env(tmp_path, fb)
    fb.expire()
    r = cli("sync", env=env)
    assert r.code == 1, r
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    assert len(lines) == 1, r
    assert "code 190" in r.err and "long-lived Page access token" in r.err, r
    assert TOKEN not in r.err
    r = cli("config", "check", "--online", env=env)
    assert r.code == 1 and "code 190" in r.err, r


def test_replies_inside_the_window_human_agent_and_refused_after(
        cli: Any, fb: GraphServer, tmp_path: Path) -> None:
    luca = fb.user("7712345678901234", "Luca Ferri")
    fb.message(luca, "Is the bag back in stock?")
    env = _env(tmp_path, fb)
    assert cli("sync", env=env).code == 0
    [t] = cli("list", "--format", "json", env=env).json()
    tid = str(t["id"])

    r = cli("reply", tid, "-m", "Yes, from Monday!", env=_now(env, fb, hours=2))
    assert r.code == 0, r
    assert fb.sent[-1] == {"recipient": {"id": "7712345678901234"},
                           "messaging_type": "RESPONSE",
                           "message": {"text": "Yes, from Monday!"}}

    # After 24 hours a plain reply is refused, naming --human-agent.
    day2 = _now(env, fb, hours=30)
    r = cli("reply", tid, "-m", "Still interested?", env=day2)
    assert r.code == 1 and "over 24 hours" in r.err and "--human-agent" in r.err, r
    assert len(fb.sent) == 1
    r = cli("reply", tid, "-m", "Still interested?", "--human-agent", env=day2)
    assert r.code == 0, r
    assert fb.sent[-1]["messaging_type"] == "MESSAGE_TAG"
    assert fb.sent[-1]["tag"] == "HUMAN_AGENT"

    # After 7 days nothing goes; the refusal points at another channel.
    later = _now(env, fb, days=8)
    r = cli("reply", tid, "-m", "Hello?", "--human-agent", env=later)
    assert r.code == 1 and "over 7 days" in r.err and "contact link" in r.err, r
    c = t["contact"]["id"]
    assert cli("contact", "link", str(c), "luca@example.com", env=later).code == 0
    r = cli("reply", tid, "-m", "Hello?", "--human-agent", "--dry-run", env=later)
    assert r.code == 1 and "reply --via email" in r.err, r
    assert len(fb.sent) == 2
    # --human-agent means nothing on other media.
    r = cli("reply", tid, "--via", "email", "-m", "x", "--human-agent", "--dry-run", env=later)
    assert r.code == 2 and "--human-agent does not apply to email" in r.err, r
    # And a Page may not write first.
    r = cli("new", "--channel", "messenger", "--to", "7712345678901234", "--subject", "Hi",
            "-m", "Hello", env=later)
    assert r.code == 2 and "only lets a business answer" in r.err, r


def test_instagram_direct(cli: Any, ig: GraphServer, tmp_path: Path) -> None:
    sara = ig.user("6512345678901234", "sara.moretti.design")
    ig.message(sara, "Do you ship the green wallet to Switzerland?", image=True)
    env = _env(tmp_path, ig, name="shop-ig")
    assert cli("sync", env=env).code == 0, env
    [t] = cli("list", "--format", "json", env=env).json()
    assert t["channel"] == "instagram" and t["contact"]["name"] == "@sara.moretti.design"
    r = cli("reply", str(t["id"]), "-m", "Yes, in 3 days.", env=env)
    assert r.code == 0, r
    assert ig.sent[-1]["recipient"] == {"id": "6512345678901234"}
    before = len(ig.graph_requests())
    assert cli("sync", env=env).code == 0
    assert len(ig.graph_requests()) - before == 1
    r = cli("config", "check", "--online", env=env)
    assert r.code == 0, r
    assert "Advanced Access" in r.err and "instagram_manage_messages" in r.err, r


def test_config_check_online_names_permissions_and_app_review(
        cli: Any, fb: GraphServer, tmp_path: Path) -> None:
    env = _env(tmp_path, fb)
    r = cli("config", "check", "--online", env=env)
    assert r.code == 0, r
    assert "Bottega Rossi" in r.err and "app review" in r.err and "pages_messaging" in r.err
    assert TOKEN not in r.err + r.out
    fb.scopes = ["pages_show_list"]
    r = cli("config", "check", "--online", env=env)
    assert r.code == 1 and "lacks pages_messaging, pages_manage_metadata" in r.err, r


def test_config_keys_come_from_the_declaration(cli: Any, fb: GraphServer, tmp_path: Path) -> None:
    env = _env(tmp_path, fb, extra="    page_token: x\n")
    r = cli("config", "check", env=env)
    assert r.code == 2 and "page_token" in r.err, r
    cfg = Path(env["SUPPORTCTL_CONFIG"])
    cfg.write_text(cfg.read_text().replace("    page_id: '1029384756'\n", "")
                   .replace("    page_token: x\n", ""))
    r = cli("config", "check", env=env)
    assert r.code == 2 and "page_id" in r.err, r


def test_demo_has_messenger_and_instagram(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    db = tmp_path / "demo.db"
    assert run_cli("--db", str(db), "demo").code == 0
    listed = run_cli("--db", str(db), "list", "--format", "json").json()
    got = {t["channel"]: t for t in listed if t["channel"] in ("messenger", "instagram")}
    assert got["messenger"]["contact"]["name"] == "Luca Ferri"
    assert got["messenger"]["account"] == "shop-facebook"
    assert got["instagram"]["contact"]["name"] == "@sara.moretti.design"


def test_stored_payload_reads_back(tmp_path: Path) -> None:
    from supportctl.channels import parse_stored

    with GraphServer() as srv:
        msg = srv.message(srv.user("7712345678901234", "Luca"), "ciao", image=True)
    raw = json.dumps({"conversation": "t_1", "message": msg}).encode()
    item = parse_stored("messenger", raw, {"type": "messenger", "page_id": PAGE_ID})
    assert item.external_id == msg["id"] and item.sender and item.sender.name == "Luca"
    assert "not downloaded again" in item.text
    assert item.sent_at == START + timedelta(minutes=1)


# -- the channel contract, in process ---------------------------------------------


class MetaHarness:
    def __init__(self, srv: GraphServer) -> None:
        self.srv = srv
        self.k = 0
        self.user = srv.user("7744444444444444", "Dora")

    def channel(self) -> Any:
        key = "account_id" if self.srv.platform == "instagram" else "page_id"
        ch = build({"name": "shop-fb", "type": self.srv.platform, key: self.srv.own_id,
                    "access_token": TOKEN, "api_base_url": self.srv.url})
        ch.sleep = lambda s: None
        return ch

    def deliver(self, n: int) -> None:
        for _ in range(n):
            # A conversation each: the contract's batches are per conversation.
            who = self.srv.user(f"77{self.k:014d}", f"Customer {self.k}")
            self.srv.message(who, f"contract message {self.k}")
            self.k += 1

    def outbound(self) -> Outbound:
        return Outbound(medium=self.srv.platform, to=[Address(self.user["id"])],
                        text="Hello there")

    def received(self) -> list[Any]:
        return [m["message"]["text"] for m in self.srv.sent]


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_module, "REQUEST_TIMEOUT", 0.5)
    monkeypatch.setattr(retry_module, "BASE_DELAY", 0.01)


class TestMessengerContract(ChannelContract):
    @pytest.fixture
    def harness(self, fb: GraphServer, fast: None) -> MetaHarness:
        return MetaHarness(fb)


class TestInstagramContract(ChannelContract):
    @pytest.fixture
    def harness(self, ig: GraphServer, fast: None) -> MetaHarness:
        return MetaHarness(ig)


def test_calls_are_spaced_to_two_a_second(fb: GraphServer, fast: None) -> None:
    for k in range(4):
        fb.message(fb.user(f"77{k:014d}", f"C{k}"), f"m{k}")
    ch = MetaHarness(fb).channel()
    waits: list[float] = []
    ch.sleep = waits.append
    # The calls come at once, whatever the machine's load: with the real
    # clock, two loopback calls taking a second between them (a loaded
    # machine) owed no wait, and the count below came up short.
    ch.clock = lambda: 0.0
    drain(ch, {})
    # 1 + 1 (two pages of 2) conversation lists and 4 message lists: 6 calls,
    # so at least 4 waits to keep to 2 calls in any second.
    assert len(fb.graph_requests()) == 6
    assert len([w for w in waits if w > 0]) >= 3 and all(w <= 1.0 for w in waits)


def test_paging_links_to_another_host_are_not_followed(fb: GraphServer, fast: None) -> None:
    from supportctl.errors import ChannelError

    ch = MetaHarness(fb).channel()
    with pytest.raises(ChannelError, match="another host"):
        ch.call("GET", "https://elsewhere.example/v21.0/x")


def test_the_declaration() -> None:
    from supportctl.channels import channel_specs, media, media_of_type

    for name in ("messenger", "instagram"):
        m = media()[name]
        assert m.no_first and m.window and m.window.extended == timedelta(days=7)
        assert m.window.free == timedelta(hours=24) and name in media_of_type("memory")
        assert channel_specs()[name].secrets == ["access_token"]


# -- the sync algorithm, as a property ------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

#: (who writes: customer 0-3, or a sync that is killed after k batches: -1-k)
_OPS = st.lists(st.one_of(st.integers(0, 3), st.integers(-4, -1)), min_size=1, max_size=14)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=_OPS, same_second=st.booleans())
def test_every_message_is_stored_exactly_once(ops: list[int], same_second: bool) -> None:
    """Messages arrive in any order across conversations (several in one
    second, too); syncs are killed after any number of batches; a final full
    sync has stored every customer message exactly once, and one more sync
    is one request."""
    with GraphServer(page_size=2) as srv:
        users = [srv.user(f"77{k:014d}", f"C{k}") for k in range(4)]
        stored: dict[str, int] = {}
        cursors: dict[str, str] = {}
        sent: list[str] = []

        def sync(limit: int | None) -> None:
            ch = MetaHarness(srv).channel()
            for n, batch in enumerate(ch.fetch(dict(cursors))):
                if limit is not None and n >= limit:
                    break  # killed before this batch was committed
                for item in batch.items:
                    stored[item.external_id] = stored.get(item.external_id, 0) + 1
                if batch.cursor is not None:
                    cursors[batch.source] = batch.cursor
            ch.close()

        for op in ops:
            if op >= 0:
                at = srv.clock if same_second else None
                sent.append(srv.message(users[op], f"m{len(sent)}", at=at)["id"])
            else:
                sync(-op - 1)
        sync(None)
        # Ingest dedupes by id; what matters is that nothing is missing and
        # a committed batch is never handed out again.
        assert set(stored) == set(sent)
        assert all(v == 1 for v in stored.values()), stored
        before = len(srv.graph_requests())
        sync(None)
        # One request, unless more than a page of conversations share the
        # newest second (whole-second times cannot order them).
        times = sorted((c["updated_time"] for c in srv.conversations.values()), reverse=True)
        ties = times.count(times[0]) if times else 0
        pages = -(-len(times) // srv.page_size) or 1
        assert len(srv.graph_requests()) - before == min(pages, ties // srv.page_size + 1)


def test_messenger_reply_uploads_files_and_media_without_files_refuse_first(
        cli: Any, fb: GraphServer, ig: GraphServer, tmp_path: Path) -> None:
    """A Messenger reply carries files (each uploaded as ``filedata``
    after the text); Instagram, SMS, WhatsApp and Mastodon cannot, and say
    so before anything is written or queued."""
    luca = fb.user("7712345678901234", "Luca Ferri")
    fb.message(luca, "Can you send me the invoice?")
    sms = f"  - {{name: shop-sms, type: twilio, account_sid: {SID}, auth_token_env: TW, " \
          f"numbers: ['{SHOP}']}}\n"
    env = {**_env(tmp_path, fb, extra=sms), "TW": "x"}
    assert cli("sync", "shop-fb", env=env).code == 0
    [t] = cli("list", "--format", "json", env=env).json()
    pdf, png = tmp_path / "fattura 1049.pdf", tmp_path / "strap.png"
    pdf.write_bytes(b"%PDF-1.4 invoice 1049\n")
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    r = cli("reply", str(t["id"]), "-m", "Here it is.", "--attach", str(pdf), "--attach", str(png),
            env=_now(env, fb, hours=1))
    assert r.code == 0, r
    text, doc, pic = fb.sent[-3:]
    assert text["message"] == {"text": "Here it is."}
    assert doc["message"]["attachment"]["type"] == "file"
    assert doc["recipient"] == {"id": "7712345678901234"} and doc["messaging_type"] == "RESPONSE"
    assert doc["filedata"]["filename"] == "fattura 1049.pdf"
    assert doc["filedata"]["data"] == pdf.read_bytes()
    assert pic["message"]["attachment"]["type"] == "image"
    assert pic["filedata"]["content_type"] == "image/png"
    [out] = [m for m in _messages(cli, env) if m["direction"] == "out"]
    assert [a["filename"] for a in out["attachments"]] == ["fattura 1049.pdf", "strap.png"]

    sara = ig.user("6512345678901234", "sara.moretti.design")
    ig.message(sara, "Do you have the invoice?")
    (tmp_path / "ig").mkdir()
    ienv = _env(tmp_path / "ig", ig, name="shop-ig")
    idb = tmp_path / "ig" / "store.db"
    assert run_cli("--db", str(idb), "sync", env=ienv).code == 0
    [it] = run_cli("--db", str(idb), "list", "--format", "json", env=ienv).json()
    before = len(ig.sent)
    r = run_cli("--db", str(idb), "reply", str(it["id"]), "-m", "Here", "--attach", str(pdf),
                env=ienv)
    assert r.code == 2 and "Instagram takes files only from public URLs" in r.err, r
    assert len(ig.sent) == before
    assert run_cli("--db", str(idb), "outbox", "--format", "json", env=ienv).json() == []
    # The same declaration refuses `new` with files on SMS, before a ticket exists.
    r = cli("new", "--channel", "sms", "--to", "+15550123456", "--subject", "Invoice", "-m", "x",
            "--attach", str(pdf), env=env)
    assert r.code == 2 and "SMS replies carry text only" in r.err, r
    assert len(cli("list", "--status", "all", "--format", "json", env=env).json()) == 1
