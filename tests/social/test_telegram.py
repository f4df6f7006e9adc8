"""Telegram channel against the fake Bot API: contract, offset
confirmation only after the commit, non-message updates, files, 409/429,
faults, sends and the token kept out of every text."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from supportctl.channels import build
from supportctl.channels import http as http_module
from supportctl.channels import retry as retry_module
from supportctl.channels import telegram as tg
from supportctl.channels.retry import RetryAfter
from supportctl.errors import AuthError, ChannelError
from supportctl.models import Address, AttachmentData, Outbound
from tests.contract import ChannelContract, drain
from tests.social.telegram_server import BOT, TOKEN, TelegramServer

UPDATES = r"/bot[^/]+/getUpdates"
SEND = r"/bot[^/]+/sendMessage"


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_module, "REQUEST_TIMEOUT", 0.5)
    monkeypatch.setattr(retry_module, "BASE_DELAY", 0.01)


@pytest.fixture
def srv() -> Iterator[TelegramServer]:
    with TelegramServer() as server:
        yield server


def channel(srv: TelegramServer, **extra: Any) -> Any:
    ch = build({"name": "shop-telegram", "type": "telegram", "token": TOKEN,
                "api_base_url": srv.url, **extra})
    ch.sleeps = []
    ch.sleep = ch.sleeps.append
    return ch


def items(batches: list[Any]) -> list[Any]:
    return [i for b in batches for i in b.items]


def no_token(*texts: str) -> None:
    secret = TOKEN.split(":", 1)[1]
    for t in texts:
        assert TOKEN not in t and secret not in t, t


@pytest.fixture
def marco(srv: TelegramServer) -> dict[str, Any]:
    return srv.user(5123456789, "Marco", "Bianchi", "marcob")


class TelegramHarness:
    def __init__(self, srv: TelegramServer) -> None:
        self.srv = srv
        self.k = 0
        self.user = srv.user(6234567890, "Anna", "Schmidt", lang="de")

    def channel(self) -> Any:
        return channel(self.srv)

    def deliver(self, n: int) -> None:
        for _ in range(n):
            self.srv.message(self.user, f"contract message {self.k}")
            self.k += 1

    def outbound(self) -> Outbound:
        self.srv.private_chat(self.user)
        return Outbound(medium="telegram", to=[Address(str(self.user["id"]))],
                        text="Hello there")

    def received(self) -> list[Any]:
        return [m.get("text") for m in self.srv.sent]


class TestTelegramContract(ChannelContract):
    @pytest.fixture
    def harness(self, srv: TelegramServer) -> TelegramHarness:
        return TelegramHarness(srv)


# -- fetch ---------------------------------------------------------------------------


def test_message_fields(srv: TelegramServer, marco: dict[str, Any]) -> None:
    u = srv.message(marco, "Ciao! L'ordine 1049 non è arrivato", date=1795431120)
    [batch] = drain(channel(srv), cursors := {})
    [item] = batch.items
    assert batch.source == "updates" and cursors == {"updates": str(u["update_id"] + 1)}
    assert item.medium == "telegram" and item.external_id == "5123456789:1"
    assert item.sender == Address("5123456789", "Marco Bianchi (@marcob)")
    assert item.conversation == "5123456789" and item.text == "Ciao! L'ordine 1049 non è arrivato"
    assert item.sent_at is not None and item.sent_at.isoformat() == "2026-11-23T10:52:00+00:00"
    assert json.loads(item.raw) == u
    no_name = srv.user(42, "", username="only_handle")
    srv.message(no_name, "hi")
    [item2] = items(drain(channel(srv), cursors))
    assert item2.sender == Address("42", "@only_handle")


def test_updates_are_confirmed_only_by_the_call_after_the_commit(
        srv: TelegramServer, marco: dict[str, Any]) -> None:
    first = [srv.message(marco, f"m{k}")["update_id"] for k in range(3)]
    ch = channel(srv)
    gen = ch.fetch({})
    batch = next(gen)
    assert [i.text for i in batch.items] == ["m0", "m1", "m2"]
    # Crash: the caller never committed, the generator is abandoned.
    gen.close()
    assert srv.confirmed == [] and srv.offsets == [None]
    again = drain(channel(srv), cursors := {})
    assert [i.text for i in items(again)] == ["m0", "m1", "m2"]
    # The second getUpdates, with the committed offset, confirmed them.
    assert srv.offsets[-1] == first[-1] + 1 and srv.confirmed == first
    assert cursors == {"updates": str(first[-1] + 1)}
    assert items(drain(channel(srv), {})) == []  # even without a cursor: gone from the queue


def test_nothing_new_is_one_request(srv: TelegramServer, marco: dict[str, Any]) -> None:
    srv.message(marco, "hello")
    cursors: dict[str, str] = {}
    drain(channel(srv), cursors)
    srv.http.log.clear()
    assert items(drain(channel(srv), cursors)) == []
    [req] = srv.http.log
    assert req.query["offset"] == [cursors["updates"]] and req.query["timeout"] == ["0"]
    assert json.loads(req.query["allowed_updates"][0]) == ["message"]


def test_batches_of_a_hundred_each_confirmed_by_the_next_call(
        srv: TelegramServer, marco: dict[str, Any]) -> None:
    ids = [srv.message(marco, f"m{k}")["update_id"] for k in range(250)]
    cursors: dict[str, str] = {}
    batches = drain(channel(srv), cursors)
    assert [len(b.items) for b in batches] == [100, 100, 50]
    assert srv.offsets == [None, ids[99] + 1, ids[199] + 1, ids[249] + 1]
    assert len(srv.confirmed) == 250


def test_other_updates_advance_the_cursor_without_items(
        srv: TelegramServer, marco: dict[str, Any]) -> None:
    m = srv.message(marco, "first")
    srv.push({"edited_message": {**m["message"], "text": "first, edited", "edit_date": 1}})
    last = srv.push({"callback_query": {"id": "1", "from": marco, "data": "x"}})
    cursors: dict[str, str] = {}
    batches = drain(channel(srv), cursors)
    assert [i.text for i in items(batches)] == ["first"]
    assert cursors["updates"] == str(last["update_id"] + 1)
    srv.queue.clear()
    srv.push({"my_chat_member": {"chat": {"id": 1}}})
    [only] = drain(channel(srv), cursors)
    assert only.items == [] and only.cursor == str(int(cursors["updates"]))


def test_files_are_downloaded(srv: TelegramServer, marco: dict[str, Any]) -> None:
    big = b"\x89PNG large" * 500
    photo = [srv.add_file(b"small", "photos", "jpg", width=90, height=60),
             srv.add_file(big, "photos", "jpg", width=1280, height=960),
             srv.add_file(b"medium" * 10, "photos", "jpg", width=320, height=240)]
    doc = srv.add_file(b"%PDF-1.4 fattura", "documents", "pdf", file_name="fattura 1049.pdf",
                       mime_type="application/pdf")
    voice = srv.add_file(b"OggS voice", "voice", "oga", duration=3, mime_type="audio/ogg")
    srv.message(marco, None, photo=photo, caption="La tazza è rotta")
    srv.message(marco, None, document=doc)
    srv.message(marco, None, voice=voice)
    a, b, c = items(drain(channel(srv), {}))
    assert a.text == "La tazza è rotta"
    assert [(x.filename, x.content_type, x.data) for x in a.attachments] == \
        [("photo-1.jpg", "image/jpeg", big)]
    assert b.text == "(document fattura 1049.pdf)"
    assert [(x.filename, x.content_type, x.data) for x in b.attachments] == \
        [("fattura 1049.pdf", "application/pdf", b"%PDF-1.4 fattura")]
    assert c.text == "(voice message)" and c.attachments[0].data == b"OggS voice"
    assert c.attachments[0].content_type == "audio/ogg"
    assert len(srv.http.requests(r"/file/bot.*")) == 3


def test_too_big_file_keeps_the_message_with_a_note(
        srv: TelegramServer, marco: dict[str, Any]) -> None:
    video = srv.add_file(b"x", "videos", "mp4", size=25 * 1024 * 1024, mime_type="video/mp4")
    srv.message(marco, None, video=video, caption="guardate")
    [item] = items(drain(channel(srv), {}))
    assert item.attachments == [] and "larger than 20 MB" in item.text
    assert srv.http.requests(r"/bot[^/]+/getFile") == []  # known from file_size


def test_other_kinds_become_short_texts(srv: TelegramServer, marco: dict[str, Any]) -> None:
    srv.message(marco, None, sticker={"file_id": "s", "emoji": "👍", "width": 1, "height": 1})
    srv.message(marco, None, location={"latitude": 45.46, "longitude": 9.19})
    got = [i.text for i in items(drain(channel(srv), {}))]
    assert got == ["(sticker 👍)", "(location: 45.46, 9.19)"]


def test_reply_to_our_message_is_a_reply_chain(srv: TelegramServer, marco: dict[str, Any]) -> None:
    srv.private_chat(marco)
    ours = channel(srv).send(Outbound(medium="telegram", to=[Address("5123456789")],
                                      text="Ti aggiorniamo domani"))
    mid = int(ours.external_id.split(":")[1])
    srv.message(marco, "Grazie!", reply_to={"message_id": mid, "chat": srv.chats[marco["id"]]})
    [item] = items(drain(channel(srv), {}))
    assert item.in_reply_to == ours.external_id


# -- errors on fetch -----------------------------------------------------------------


@pytest.mark.parametrize("holder", ["webhook", "other_poller"])
def test_409_is_permanent_and_says_what_to_do(srv: TelegramServer, holder: str) -> None:
    setattr(srv, holder, "https://example.com/hook" if holder == "webhook" else True)
    with pytest.raises(ChannelError) as err:
        drain(channel(srv), {})
    assert not err.value.temporary and "409" in str(err.value)
    assert "another getUpdates poller or a webhook holds this bot" in str(err.value)
    assert len(srv.http.requests(UPDATES)) == 1  # not retried


def test_429_retry_after_from_parameters(srv: TelegramServer, marco: dict[str, Any]) -> None:
    srv.message(marco, "hello")
    srv.throttled = [1]
    ch = channel(srv)
    assert len(items(drain(ch, {}))) == 1
    assert ch.sleeps == [1.0]


def test_long_429_ends_the_run(srv: TelegramServer, marco: dict[str, Any]) -> None:
    srv.message(marco, "hello")
    srv.throttled = [60]
    ch = channel(srv)
    with pytest.raises(RetryAfter) as err:
        drain(ch, cursors := {})
    assert err.value.delay == 60 and err.value.temporary and ch.sleeps == [] and cursors == {}


def test_500_and_hang_are_retried(srv: TelegramServer, marco: dict[str, Any]) -> None:
    srv.message(marco, "hello")
    srv.http.hang_seconds = 1.0
    srv.http.fail(UPDATES, "500")
    srv.http.fail(UPDATES, "hang")
    assert len(items(drain(channel(srv), {}))) == 1
    assert len(srv.http.requests(UPDATES)) == 4  # 500, hang, ok, confirming empty call


@pytest.mark.parametrize("kind", ["truncate", "drop", "500"])
def test_persistent_fault_is_temporary_and_moves_no_cursor(
        srv: TelegramServer, marco: dict[str, Any], kind: str) -> None:
    srv.message(marco, "hello")
    srv.http.fail(UPDATES, kind, times=3)
    cursors: dict[str, str] = {}
    with pytest.raises(ChannelError) as err:
        drain(channel(srv), cursors)
    assert err.value.temporary and cursors == {}
    no_token(str(err.value))
    assert srv.confirmed == []


def test_failed_download_fails_the_batch_not_the_cursor(
        srv: TelegramServer, marco: dict[str, Any]) -> None:
    doc = srv.add_file(b"data", "documents", "pdf", file_name="a.pdf")
    srv.message(marco, None, document=doc)
    srv.http.fail(r"/file/bot.*", "500", times=3)
    cursors: dict[str, str] = {}
    with pytest.raises(ChannelError):
        drain(channel(srv), cursors)
    assert cursors == {}
    [item] = items(drain(channel(srv), cursors))
    assert item.attachments[0].data == b"data"


def test_wrong_token_is_an_auth_error_without_the_token(srv: TelegramServer) -> None:
    ch = build({"name": "t", "type": "telegram", "token": "123:WRONGwrongWRONG",
                "api_base_url": srv.url})
    with pytest.raises(AuthError) as err:
        drain(ch, {})
    assert "token" in str(err.value) and "WRONGwrongWRONG" not in str(err.value)


def test_token_in_no_error_or_log(srv: TelegramServer, marco: dict[str, Any],
                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    srv.http.hang_seconds = 0.7
    for kind in ("truncate", "drop", "500", "hang"):
        srv.http.fail(UPDATES, kind, times=3)
        with pytest.raises(ChannelError) as err:
            drain(channel(srv), {})
        errors.append(str(err.value))
    srv.private_chat(marco)
    for lose in ("hang", "truncate"):
        srv.lose_send = lose
        with pytest.raises(ChannelError) as err:
            channel(srv).send(Outbound(medium="telegram", to=[Address(str(marco["id"]))],
                                       text="x"))
        errors.append(str(err.value))
    with pytest.raises(ChannelError) as err:
        channel(srv, api_base_url="http://127.0.0.1:9").check()
    errors.append(str(err.value))
    doc = srv.add_file(b"data", "documents", "pdf", file_name="a.pdf")
    srv.message(marco, None, document=doc)
    srv.blobs.clear()
    [item] = items(drain(channel(srv), {}))
    errors.append(item.text)
    assert "could not be downloaded" in item.text
    assert any(TOKEN.split(":")[1][:6] in r.getMessage() or "***" in r.getMessage()
               for r in caplog.records if r.name == "httpx")
    no_token(*errors, *(r.getMessage() for r in caplog.records))


# -- send ----------------------------------------------------------------------------


def test_reply_threads_on_the_customer_message(srv: TelegramServer, marco: dict[str, Any]) -> None:
    u = srv.message(marco, "Dov'è il pacco?")
    ch = channel(srv)
    [item] = items(drain(ch, {}))
    res = ch.send(Outbound(medium="telegram", to=[item.sender], text="In consegna *oggi*",
                           conversation=item.conversation,
                           reply_to_external_id=item.external_id))
    [sent] = srv.sent
    assert sent["text"] == "In consegna *oggi*" and "parse_mode" not in sent["_params"]
    assert sent["_params"]["reply_parameters"]["message_id"] == u["message"]["message_id"]
    assert sent["reply_to_message"]["text"] == "Dov'è il pacco?"
    assert res.external_id == f"5123456789:{sent['message_id']}" and res.state == "sent"
    assert json.loads(res.raw)["message_id"] == sent["message_id"]


def test_long_text_split_and_documents_follow(srv: TelegramServer, marco: dict[str, Any]) -> None:
    srv.private_chat(marco)
    text = "\n\n".join("Paragrafo " + "molto " * 120 for _ in range(8))  # ~5900 chars
    out = Outbound(medium="telegram", to=[Address("5123456789")], text=text,
                   reply_to_external_id="5123456789:1",
                   attachments=[AttachmentData("etichetta reso.pdf", "application/pdf", b"%PDF")])
    res = ch_send(srv, out)
    texts = [m["text"] for m in srv.sent if m["_method"] == "sendMessage"]
    assert len(texts) == 2 and all(len(t) <= 4096 for t in texts)
    assert texts[0].endswith("(1/2)") and texts[1].endswith("(2/2)")
    # Only the first message answers the customer's.
    assert "reply_parameters" in srv.sent[0]["_params"]
    assert "reply_parameters" not in srv.sent[1]["_params"]
    [doc] = [m for m in srv.sent if m["_method"] == "sendDocument"]
    assert doc["document"]["file_name"] == "etichetta reso.pdf"
    assert srv.blobs[srv.files[doc["document"]["file_id"]]["file_path"]] == b"%PDF"
    assert res.external_id == f"5123456789:{doc['message_id']}"


def ch_send(srv: TelegramServer, out: Outbound) -> Any:
    ch = channel(srv)
    try:
        return ch.send(out)
    finally:
        ch.close()


def test_lost_answer_is_unknown_and_not_resent(srv: TelegramServer, marco: dict[str, Any]) -> None:
    srv.private_chat(marco)
    srv.http.hang_seconds = 1.0
    srv.lose_send = "hang"
    with pytest.raises(ChannelError) as err:
        ch_send(srv, Outbound(medium="telegram", to=[Address("5123456789")], text="Rimborsato"))
    assert err.value.unknown_outcome and err.value.temporary
    assert len(srv.http.requests(SEND)) == 1 and len(srv.sent) == 1


def test_send_429_is_waited_and_sent_once(srv: TelegramServer, marco: dict[str, Any]) -> None:
    srv.private_chat(marco)
    srv.throttled = [1]
    ch = channel(srv)
    ch.send(Outbound(medium="telegram", to=[Address("5123456789")], text="ok"))
    assert len(srv.sent) == 1 and ch.sleeps == [1.0]


def test_failure_after_a_first_part_is_unknown(srv: TelegramServer, marco: dict[str, Any]) -> None:
    srv.private_chat(marco)
    srv.http.fail(r"/bot[^/]+/sendDocument", "500")
    out = Outbound(medium="telegram", to=[Address("5123456789")], text="see attached",
                   attachments=[AttachmentData("a.pdf", "application/pdf", b"%PDF")])
    with pytest.raises(ChannelError) as err:
        ch_send(srv, out)
    assert err.value.unknown_outcome and "1 of 2" in str(err.value)


def test_refused_send_is_permanent(srv: TelegramServer) -> None:
    with pytest.raises(ChannelError) as err:
        ch_send(srv, Outbound(medium="telegram", to=[Address("999")], text="hi"))
    assert not err.value.temporary and not err.value.unknown_outcome
    assert "chat not found" in str(err.value)


def test_check_is_get_me(srv: TelegramServer) -> None:
    assert channel(srv).check() == f"Telegram bot @{BOT['username']} (Bottega Rossi, id {BOT['id']})"


def test_sample_payload_parses_like_fetch() -> None:
    from importlib import resources

    raw = (resources.files("supportctl") / "samples" / "telegram" / "updates.json").read_text()
    got = tg.inbound_from_json(json.loads(raw), {"name": "demo", "token": "demo"})
    assert 3 <= len(got) <= 5
    assert any(i.meta["files"] for i in got) and all(i.medium == "telegram" for i in got)
    assert any(i.in_reply_to for i in got)
