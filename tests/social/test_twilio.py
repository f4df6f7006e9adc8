"""Twilio channel against the fake Twilio REST API, through the real
twilio-python: contract, paging, the day-overlap window, media, WhatsApp,
sends that lose their answer, delivery states, faults and secrets."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from supportctl.channels import build
from supportctl.channels import http as http_module
from supportctl.channels import retry as retry_module
from supportctl.channels import twilio as tw
from supportctl.channels.retry import RetryAfter
from supportctl.errors import AuthError, ChannelError
from supportctl.models import Address, AttachmentData, Outbound
from tests.contract import ChannelContract, drain, texts
from tests.social.twilio_server import SHOP, SHOP2, SHOP_WA, SID, TOKEN, TwilioServer

CUSTOMER = "+15550111111"
LIST = r"/2010-04-01/Accounts/\w+/Messages\.json"


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_module, "REQUEST_TIMEOUT", 0.5)
    monkeypatch.setattr(retry_module, "BASE_DELAY", 0.01)


@pytest.fixture
def srv() -> Iterator[TwilioServer]:
    with TwilioServer() as server:
        yield server


def channel(srv: TwilioServer, numbers: list[str] | None = None, **extra: Any) -> Any:
    ch = build({"name": "shop-sms", "type": "twilio", "account_sid": SID, "auth_token": TOKEN,
                "numbers": numbers or [SHOP, SHOP_WA], "api_base_url": srv.url, **extra})
    ch.sleeps = []
    ch.sleep = ch.sleeps.append
    return ch


def items(batches: list[Any]) -> list[Any]:
    return [i for b in batches for i in b.items]


def no_secret(*texts: str) -> None:
    for t in texts:
        assert TOKEN not in t and SID not in t, t


class TwilioHarness:
    def __init__(self, srv: TwilioServer) -> None:
        self.srv = srv
        self.k = 0

    def channel(self) -> Any:
        return channel(self.srv)

    def deliver(self, n: int) -> None:
        for _ in range(n):
            self.srv.inbound(CUSTOMER, f"contract message {self.k}")
            self.k += 1

    def outbound(self) -> Outbound:
        return Outbound(medium="sms", to=[Address(CUSTOMER)], text="Hello there")

    def received(self) -> list[Any]:
        return [c.get("Body") for c in self.srv.created]


class TestTwilioContract(ChannelContract):
    @pytest.fixture
    def harness(self, srv: TwilioServer) -> TwilioHarness:
        return TwilioHarness(srv)


# -- fetch ---------------------------------------------------------------------------


def test_inbound_fields_and_one_source_per_number(srv: TwilioServer) -> None:
    sms = srv.inbound(CUSTOMER, "Il pacco non è arrivato", to=SHOP)
    wa = srv.inbound("whatsapp:+393331234567", "Ciao! Avete la taglia 38?", to=SHOP_WA)
    ch = channel(srv)
    batches = drain(ch, cursors := {})
    assert [b.source for b in batches] == [SHOP, SHOP_WA]
    assert set(cursors) == {SHOP, SHOP_WA}
    a, b = items(batches)
    assert (a.medium, a.external_id, a.sender, a.conversation) == \
        ("sms", sms["sid"], Address(CUSTOMER), SHOP)
    assert a.text == "Il pacco non è arrivato" and a.to == [Address(SHOP)]
    assert a.sent_at == datetime.strptime(sms["date_sent"], "%a, %d %b %Y %H:%M:%S %z")
    assert json.loads(a.raw)["sid"] == sms["sid"]
    # WhatsApp: the prefix is the medium, not part of the address (SPEC §3).
    assert (b.medium, b.sender.address, b.conversation) == ("whatsapp", "+393331234567", SHOP)
    assert b.external_id == wa["sid"]


def test_pages_are_all_read_following_next_page_uri(
        srv: TwilioServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tw, "PAGE_SIZE", 3)
    monkeypatch.setattr(tw, "BATCH_SIZE", 4)
    base = datetime.now(timezone.utc) - timedelta(hours=2)
    for k in range(8):
        srv.inbound(CUSTOMER, f"message {k}", sent=base + timedelta(minutes=k))
    ch = channel(srv, [SHOP])
    batches = drain(ch, cursors := {})
    listed = srv.http.requests(LIST)
    assert len(listed) == 3
    assert "PageToken" in listed[1].query and listed[1].query["PageSize"] == ["3"]
    # Oldest first, in batches whose cursors each cover what came before.
    assert [i.text for i in items(batches)] == [f"message {k}" for k in range(8)]
    assert [len(b.items) for b in batches] == [4, 4]
    assert json.loads(batches[0].cursor)["date"] < json.loads(batches[1].cursor)["date"]
    srv.http.log.clear()
    assert items(drain(ch, cursors)) == []


def test_nothing_new_is_one_request_per_number(srv: TwilioServer) -> None:
    for number in (SHOP, SHOP_WA, SHOP2):
        frm = "whatsapp:+393331234567" if number.startswith("whatsapp:") else CUSTOMER
        srv.inbound(frm, "hello", to=number)
    ch = channel(srv, [SHOP, SHOP_WA, SHOP2])
    cursors: dict[str, str] = {}
    assert len(items(drain(ch, cursors))) == 3
    srv.http.log.clear()
    assert items(drain(ch, cursors)) == []
    assert len(srv.http.log) == 3
    assert sorted(r.query["To"][0] for r in srv.http.log) == sorted([SHOP, SHOP_WA, SHOP2])


def test_day_overlap_finds_a_message_listed_late_across_midnight(srv: TwilioServer) -> None:
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=10, microsecond=0)
    srv.inbound(CUSTOMER, "just after midnight", sent=today)
    ch = channel(srv, [SHOP])
    cursors: dict[str, str] = {}
    assert [i.text for i in items(drain(ch, cursors))] == ["just after midnight"]
    # Twilio lists a message sent at 23:59:59 only now.
    srv.inbound(CUSTOMER, "just before midnight", sent=today - timedelta(seconds=11))
    srv.http.log.clear()
    assert [i.text for i in items(drain(ch, cursors))] == ["just before midnight"]
    # DateSent is day-granular: the query reached back to yesterday.
    [req] = srv.http.requests(LIST)
    assert req.query["DateSent>"] == [(today - timedelta(days=1)).date().isoformat()]
    assert items(drain(ch, cursors)) == []


def test_cursor_keeps_only_the_late_window(srv: TwilioServer) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for minutes in (300, 200, 30, 10, 0):
        srv.inbound(CUSTOMER, f"{minutes} minutes ago", sent=now - timedelta(minutes=minutes))
    ch = channel(srv, [SHOP])
    cursors: dict[str, str] = {}
    drain(ch, cursors)
    state = json.loads(cursors[SHOP])
    assert len(state["seen"]) == 3  # within LATE_WINDOW of the newest
    # A message earlier than the window listed late is taken as stored
    # (documented); one inside the window is fetched.
    srv.inbound(CUSTOMER, "late, inside the window", sent=now - timedelta(minutes=20))
    srv.inbound(CUSTOMER, "late, outside the window", sent=now - timedelta(minutes=100))
    assert [i.text for i in items(drain(ch, cursors))] == ["late, inside the window"]


def test_first_sync_reaches_back_to_since(srv: TwilioServer) -> None:
    now = datetime.now(timezone.utc)
    srv.inbound(CUSTOMER, "old", sent=now - timedelta(days=60))
    srv.inbound(CUSTOMER, "recent", sent=now - timedelta(days=3))
    ch = channel(srv, [SHOP])
    assert [i.text for i in items(drain(ch, {}))] == ["recent"]  # FIRST_SYNC: 30 days
    got = [i.text for b in ch.fetch({}, since=now - timedelta(days=90)) for i in b.items]
    assert got == ["old", "recent"]


def test_receiving_and_outbound_messages_are_not_inbound_items(srv: TwilioServer) -> None:
    srv.inbound(CUSTOMER, "still arriving", status="receiving")
    ch = channel(srv, [SHOP])
    ch.send(Outbound(medium="sms", to=[Address(SHOP)], text="to ourselves", conversation=SHOP2))
    srv.numbers.append(SHOP2)
    assert items(drain(ch, {})) == []


def test_media_are_downloaded_with_the_account_credentials(srv: TwilioServer) -> None:
    photo = b"\xff\xd8\xff\xe0 fake jpeg" * 100
    msg = srv.inbound("whatsapp:+393331234567", "", to=SHOP_WA,
                      media=[(photo, "image/jpeg"), (b"%PDF-1.4 receipt", "application/pdf")])
    ch = channel(srv)
    [item] = items(drain(ch, {}))
    assert item.external_id == msg["sid"] and item.text == "(media only)"
    assert [(a.content_type, a.data) for a in item.attachments] == \
        [("image/jpeg", photo), ("application/pdf", b"%PDF-1.4 receipt")]
    assert item.attachments[0].filename.endswith(".jpg")
    content = srv.http.requests(r".*/Media/ME\w+")
    assert len(content) == 2 and all(r.headers["authorization"].startswith("Basic ")
                                     for r in content)


def test_unavailable_media_keep_the_message_with_a_note(srv: TwilioServer) -> None:
    msg = srv.inbound(CUSTOMER, "see photo", media=[(b"x", "image/png")])
    srv.blobs.clear()  # deleted from Twilio (404)
    [item] = items(drain(channel(srv, [SHOP]), {}))
    assert item.external_id == msg["sid"] and item.attachments == []
    assert "could not be downloaded" in item.text
    no_secret(item.text)


# -- faults on fetch -----------------------------------------------------------------


def test_429_retry_after_is_honoured(srv: TwilioServer) -> None:
    srv.inbound(CUSTOMER, "hello")
    srv.http.fail(LIST, "429", retry_after=1)
    ch = channel(srv, [SHOP])
    assert len(items(drain(ch, {}))) == 1
    assert ch.sleeps == [1.0]


def test_long_rate_limit_ends_the_run_without_sleeping(srv: TwilioServer) -> None:
    srv.http.fail(LIST, "429", retry_after=120)
    ch = channel(srv, [SHOP])
    with pytest.raises(RetryAfter) as err:
        drain(ch, cursors := {})
    assert err.value.temporary and err.value.delay == 120 and ch.sleeps == [] and cursors == {}


def test_500_then_success(srv: TwilioServer) -> None:
    srv.inbound(CUSTOMER, "hello")
    srv.http.fail(LIST, "500")
    assert len(items(drain(channel(srv, [SHOP]), {}))) == 1
    assert len(srv.http.requests(LIST)) == 2


def test_hang_times_out_then_retries(srv: TwilioServer) -> None:
    srv.inbound(CUSTOMER, "hello")
    srv.http.hang_seconds = 1.0
    srv.http.fail(LIST, "hang")
    assert len(items(drain(channel(srv, [SHOP]), {}))) == 1
    assert len(srv.http.requests(LIST)) == 2


@pytest.mark.parametrize("kind", ["truncate", "drop", "500"])
def test_persistent_fault_is_temporary_and_moves_no_cursor(srv: TwilioServer, kind: str) -> None:
    srv.inbound(CUSTOMER, "hello")
    srv.http.fail(LIST, kind, times=3)
    cursors: dict[str, str] = {}
    with pytest.raises(ChannelError) as err:
        drain(channel(srv, [SHOP]), cursors)
    assert err.value.temporary and cursors == {}
    no_secret(str(err.value))
    assert len(items(drain(channel(srv, [SHOP]), cursors))) == 1


def test_a_failing_second_page_yields_nothing(
        srv: TwilioServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tw, "PAGE_SIZE", 2)
    for k in range(3):
        srv.inbound(CUSTOMER, f"m{k}")
    ch = channel(srv, [SHOP])
    seen: list[Any] = []
    original = ch._get_json

    def second_page_fails(url: str, params: Any = None) -> Any:
        if "PageToken" in url:
            raise ChannelError("injected", temporary=True)
        return original(url, params)

    ch._get_json = second_page_fails
    with pytest.raises(ChannelError):
        for batch in ch.fetch({}):
            seen.append(batch)
    assert seen == []


def test_bad_credentials_are_an_auth_error_without_secrets(srv: TwilioServer) -> None:
    srv.token = "the-right-one-0000"
    ch = channel(srv)
    with pytest.raises(AuthError) as err:
        drain(ch, {})
    assert "auth_token" in str(err.value) and not err.value.temporary
    no_secret(str(err.value))
    with pytest.raises(AuthError) as err2:
        ch.check()
    no_secret(str(err2.value))


def test_no_secret_in_errors_or_logs(srv: TwilioServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    ch = channel(srv)
    assert "Bottega Rossi" in ch.check()
    no_secret(ch.check())  # the account resource carries the token
    for kind in ("truncate", "drop", "500", "hang"):
        srv.http.hang_seconds = 0.7
        srv.http.fail(LIST, kind, times=3)
        with pytest.raises(ChannelError) as err:
            drain(channel(srv), {})
        errors.append(str(err.value))
    srv.http.fail(LIST, "drop")  # the POST is lost, the lookup finds nothing
    with pytest.raises(ChannelError) as err:
        ch.send(Outbound(medium="sms", to=[Address(CUSTOMER)], text="hi"))
    errors.append(str(err.value))
    srv.numbers.remove(SHOP)
    with pytest.raises(ChannelError) as err:
        ch.send(Outbound(medium="sms", to=[Address(CUSTOMER)], text="hi"))
    errors.append(str(err.value))
    closed = channel(srv)
    closed.base_url = "http://127.0.0.1:9"
    with pytest.raises(ChannelError) as err:
        drain(closed, {})
    errors.append(str(err.value))
    no_secret(*errors, *(r.getMessage() for r in caplog.records))


# -- send ----------------------------------------------------------------------------


def test_reply_goes_out_from_the_number_it_came_to(srv: TwilioServer) -> None:
    ch = channel(srv, [SHOP, SHOP2])
    res = ch.send(Outbound(medium="sms", to=[Address(CUSTOMER)], text="Ciao!",
                           conversation=SHOP2))
    [sent] = srv.created
    assert (sent["From"], sent["To"], sent["Body"]) == (SHOP2, CUSTOMER, "Ciao!")
    assert res.external_id == sent["_sid"] and res.state == "queued"
    assert json.loads(res.raw)["sid"] == res.external_id
    # A conversation we do not own on that medium: the first number.
    ch.send(Outbound(medium="sms", to=[Address(CUSTOMER)], text="again", conversation="+1999"))
    assert srv.created[1]["From"] == SHOP


def test_whatsapp_prefix_on_both_ends(srv: TwilioServer) -> None:
    ch = channel(srv)
    ch.send(Outbound(medium="whatsapp", to=[Address("+393331234567")], text="Sì, la 38 c'è",
                     conversation=SHOP))
    [sent] = srv.created
    assert (sent["From"], sent["To"]) == (SHOP_WA, "whatsapp:+393331234567")


def test_whatsapp_template_sends_content_sid_instead_of_body(srv: TwilioServer) -> None:
    ch = channel(srv)
    sid = "HX" + "0" * 32
    ch.send(Outbound(medium="whatsapp", to=[Address("+393331234567")], text="ignored",
                     meta={"content_sid": sid, "content_variables": {"1": "Giulia"}}))
    [sent] = srv.created
    assert sent["ContentSid"] == sid and "Body" not in sent
    assert json.loads(sent["ContentVariables"]) == {"1": "Giulia"}


def test_no_number_for_the_medium_is_refused(srv: TwilioServer) -> None:
    with pytest.raises(ChannelError) as err:
        channel(srv, [SHOP]).send(Outbound(medium="whatsapp", to=[Address(CUSTOMER)], text="x"))
    assert "whatsapp" in str(err.value) and not err.value.temporary and srv.created == []


def test_long_text_is_split_at_1600_and_numbered(srv: TwilioServer) -> None:
    words = " ".join(f"parola{k}" for k in range(600))  # 5889 characters
    res = channel(srv).send(Outbound(medium="sms", to=[Address(CUSTOMER)], text=words))
    bodies = [c["Body"] for c in srv.created]
    assert len(bodies) == 4 and all(len(b) <= 1600 for b in bodies)
    assert [b.rsplit(" ", 1)[1] for b in bodies] == ["(1/4)", "(2/4)", "(3/4)", "(4/4)"]
    rejoined = " ".join(b.rsplit(" ", 1)[0] for b in bodies)
    assert rejoined == words
    assert res.external_id == srv.created[-1]["_sid"]
    assert len(json.loads(res.raw)["parts"]) == 4


def test_attachments_are_refused_before_sending(srv: TwilioServer) -> None:
    out = Outbound(medium="sms", to=[Address(CUSTOMER)], text="x",
                   attachments=[AttachmentData("a.pdf", "application/pdf", b"%PDF")])
    with pytest.raises(ChannelError) as err:
        channel(srv).send(out)
    assert not err.value.temporary and srv.http.requests(LIST) == []


def test_lost_answer_is_looked_up_not_resent(srv: TwilioServer) -> None:
    srv.lose_create = "hang"
    srv.http.hang_seconds = 1.0
    ch = channel(srv)
    res = ch.send(Outbound(medium="sms", to=[Address(CUSTOMER)], text="Rimborso fatto"))
    assert len(srv.created) == 1 and res.external_id == srv.created[0]["_sid"]
    posts = [r for r in srv.http.requests(LIST) if r.method == "POST"]
    lookups = [r for r in srv.http.requests(LIST) if r.method == "GET"]
    assert len(posts) == 1 and len(lookups) == 1
    assert lookups[0].query["From"] == [SHOP] and lookups[0].query["To"] == [CUSTOMER]


def test_dropped_post_not_listed_is_unknown_and_not_resent(srv: TwilioServer) -> None:
    srv.http.fail(LIST, "drop")  # the POST dies before the server acts
    ch = channel(srv)
    with pytest.raises(ChannelError) as err:
        ch.send(Outbound(medium="sms", to=[Address(CUSTOMER)], text="Rimborso fatto"))
    assert err.value.unknown_outcome and err.value.temporary
    assert srv.created == []
    assert len([r for r in srv.http.requests(LIST) if r.method == "POST"]) == 1


def test_post_429_is_retried_and_500_is_not(srv: TwilioServer) -> None:
    ch = channel(srv)
    srv.http.fail(LIST, "429", retry_after=1)
    ch.send(Outbound(medium="sms", to=[Address(CUSTOMER)], text="one"))
    assert len(srv.created) == 1 and ch.sleeps == [1.0]
    srv.http.fail(LIST, "500")
    with pytest.raises(ChannelError) as err:
        ch.send(Outbound(medium="sms", to=[Address(CUSTOMER)], text="two"))
    assert err.value.temporary and not err.value.unknown_outcome
    assert len(srv.created) == 1


def test_refusal_is_permanent_with_a_hint(srv: TwilioServer) -> None:
    srv.numbers.remove(SHOP2)  # not (or no longer) ours on Twilio's side
    with pytest.raises(ChannelError) as err:
        channel(srv, [SHOP2]).send(Outbound(medium="sms", to=[Address(CUSTOMER)], text="x"))
    assert not err.value.temporary and "21606" in str(err.value)
    assert "check numbers" in str(err.value)
    no_secret(str(err.value))


def test_partial_send_is_unknown(srv: TwilioServer) -> None:
    ch = channel(srv)
    original = ch._create
    calls = []

    def second_fails(*args: Any) -> Any:
        calls.append(args)
        if len(calls) == 2:
            raise ChannelError("refused", temporary=False)
        return original(*args)

    ch._create = second_fails
    with pytest.raises(ChannelError) as err:
        ch.send(Outbound(medium="sms", to=[Address(CUSTOMER)], text="word " * 400))
    assert err.value.unknown_outcome and "1 of 2" in str(err.value).replace("1–1", "1")


# -- delivery, check, demo -------------------------------------------------------------


def test_refresh_reports_delivery_states(srv: TwilioServer) -> None:
    ch = channel(srv)
    a = ch.send(Outbound(medium="sms", to=[Address(CUSTOMER)], text="a")).external_id
    b = ch.send(Outbound(medium="sms", to=[Address(CUSTOMER)], text="b")).external_id
    c = ch.send(Outbound(medium="sms", to=[Address(CUSTOMER)], text="c")).external_id
    srv.set_status(a, "delivered")
    srv.set_status(b, "undelivered", 30007, "Carrier violation")
    ups = {u.external_id: u for u in ch.refresh([a, b, c, "SM" + "f" * 32, "mem-1"])}
    assert ups[a].state == "delivered" and ups[c].state == "queued"
    assert ups[b].state == "undelivered" and "30007" in ups[b].error
    assert set(ups) == {a, b, c}


def test_sample_payload_parses_like_fetch() -> None:
    from importlib import resources

    raw = (resources.files("supportctl") / "samples" / "twilio" / "messages.json").read_text()
    got = tw.inbound_from_json(json.loads(raw), {"name": "demo", "numbers": [SHOP]})
    assert 3 <= len(got) <= 5
    assert {i.medium for i in got} == {"sms", "whatsapp"}
    assert all(i.sender and not i.sender.address.startswith("whatsapp:") for i in got)
    assert any(i.meta.get("num_media") for i in got)
    assert [i.sent_at for i in got] == sorted(i.sent_at for i in got if i.sent_at)


def test_importing_the_module_loads_neither_twilio_nor_httpx() -> None:
    code = ("import sys, supportctl.channels.twilio, supportctl.channels.telegram;"
            "print([m for m in ('twilio', 'httpx') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_contract_texts_helper_sanity(srv: TwilioServer) -> None:
    srv.inbound(CUSTOMER, "ciao")
    assert texts(drain(channel(srv, [SHOP]), {})) == ["ciao"]
