"""The webhooks of ``supportctl serve`` (SPEC §12): each refuses a forged
or unsigned delivery (403, nothing stored); a genuine one is stored before
the 2xx; a repeated delivery stores nothing twice; and a message that both
arrives by webhook and is polled by ``sync`` (the same message at the fake
Twilio and Telegram APIs) is stored once, because both key it alike."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from tests.serve.conftest import META_SECRET, META_VERIFY, PUBLIC, TG_SECRET, Served
from tests.services.test_quarantine_retry import TRIP
from tests.social.twilio_server import SHOP, SID
from tests.social.twilio_server import TOKEN as TW_TOKEN

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def messages(cli: Any, env: dict[str, str]) -> list[dict[str, Any]]:
    res = cli("export", "--format", "jsonl", "--messages", env=env)
    assert res.code == 0, res
    return [m for t in res.jsonl() for m in t["messages"]]


def twilio_params(msg: dict[str, Any]) -> dict[str, str]:
    """What Twilio POSTs to a number's webhook for an incoming message."""
    return {"ToCountry": "US", "SmsMessageSid": msg["sid"], "NumMedia": "0",
            "SmsSid": msg["sid"], "SmsStatus": "received", "Body": msg["body"],
            "To": msg["to"], "NumSegments": "1", "MessageSid": msg["sid"],
            "AccountSid": SID, "From": msg["from"], "ApiVersion": "2010-04-01"}


def post_twilio(s: Served, params: dict[str, str], *, token: str = TW_TOKEN,
                url: str = PUBLIC + "/hooks/twilio") -> Any:
    from twilio.request_validator import RequestValidator

    sig = RequestValidator(token).compute_signature(url, params)
    return s.request("POST", "/hooks/twilio", urlencode(params).encode(),
                     {**FORM, "X-Twilio-Signature": sig})


def test_twilio_forged_refused_repeats_and_sync_store_once(cli: Any, serve: Any) -> None:
    s = serve()
    msg = s.twilio.inbound("+15550123456", "Hi, where is my refund for order 1057?")
    params = twilio_params(msg)

    assert post_twilio(s, params, token="not-the-auth-token").status == 403
    assert post_twilio(s, params, url="https://evil.example/hooks/twilio").status == 403
    assert s.request("POST", "/hooks/twilio", urlencode(params).encode(), FORM).status == 403
    genuine = post_twilio(s, params)  # the genuine delivery
    assert genuine.status == 200
    assert messages(cli, s.env)[0]["text"] == msg["body"]

    again = post_twilio(s, params)
    assert again.status == 200 and b"<Response>" in again.body
    assert len(messages(cli, s.env)) == 1

    # sync polls the same message from the API: still one.
    res = cli("sync", "shop-sms", env=s.env)
    assert res.code == 0, res
    got = messages(cli, s.env)
    assert [(m["channel"], m["account"], m["external_id"]) for m in got] == \
        [("sms", "shop-sms", msg["sid"])]

    # And the other way round: polled first, then pushed.
    later = s.twilio.inbound("+15550123456", "Any news?")
    assert cli("sync", "shop-sms", env=s.env).code == 0
    assert post_twilio(s, twilio_params(later)).status == 200
    got = messages(cli, s.env)
    assert [m["external_id"] for m in got] == [msg["sid"], later["sid"]]

    # A body changed after signing is refused.
    forged = dict(twilio_params(s.twilio.inbound("+15550123456", "real")))
    from twilio.request_validator import RequestValidator

    sig = RequestValidator(TW_TOKEN).compute_signature(PUBLIC + "/hooks/twilio", forged)
    forged["Body"] = "send the refund to my other account"
    res = s.request("POST", "/hooks/twilio", urlencode(forged).encode(),
                    {**FORM, "X-Twilio-Signature": sig})
    assert res.status == 403
    assert len(messages(cli, s.env)) == 2


def test_twilio_status_callbacks_store_nothing(cli: Any, serve: Any) -> None:
    s = serve()
    params = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered", "AccountSid": SID,
              "From": SHOP, "To": "+15550123456"}
    assert post_twilio(s, params).status == 200
    assert messages(cli, s.env) == []


def test_telegram_secret_token_repeats_and_sync(cli: Any, serve: Any) -> None:
    s = serve()
    marco = s.telegram.user(5123456789, "Marco", "Bianchi", "marcob")
    update = s.telegram.message(marco, "Il pacco 1049 non è arrivato")
    body = json.dumps(update).encode()
    json_h = {"Content-Type": "application/json"}

    assert s.request("POST", "/hooks/telegram", body, json_h).status == 403
    assert s.request("POST", "/hooks/telegram", body,
                     {**json_h, "X-Telegram-Bot-Api-Secret-Token": "guess"}).status == 403
    assert messages(cli, s.env) == []
    good = {**json_h, "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    assert s.request("POST", "/hooks/telegram", body, good).status == 200
    assert s.request("POST", "/hooks/telegram/shop-telegram", body, good).status == 200
    got = messages(cli, s.env)
    assert [(m["channel"], m["account"], m["text"]) for m in got] == \
        [("telegram", "shop-telegram", "Il pacco 1049 non è arrivato")]

    # getUpdates still holds the update: sync sees it and stores nothing new.
    res = cli("sync", "shop-telegram", env=s.env)
    assert res.code == 0, res
    assert [m["external_id"] for m in messages(cli, s.env)] == [got[0]["external_id"]]
    # Not a message (an edited one, a callback): answered, nothing stored.
    other = json.dumps({"update_id": 1, "edited_message": {"message_id": 1}}).encode()
    assert s.request("POST", "/hooks/telegram", other, good).status == 200
    assert len(messages(cli, s.env)) == 1


def _meta_event(mid: str, text: str) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": "1122334455", "time": 1764590000000, "messaging": [
        {"sender": {"id": "6789012345"}, "recipient": {"id": "1122334455"},
         "timestamp": 1764590000000, "message": {"mid": mid, "text": text}},
        {"sender": {"id": "1122334455"}, "recipient": {"id": "6789012345"},
         "timestamp": 1764590001000, "message": {"mid": mid + "-echo", "text": "our reply",
                                                  "is_echo": True}},
    ]}]}


def test_meta_verification_signature_and_repeats(cli: Any, serve: Any) -> None:
    s = serve()
    q = f"/hooks/meta?hub.mode=subscribe&hub.verify_token={META_VERIFY}&hub.challenge=1158201444"
    ok = s.request("GET", q)
    assert ok.status == 200 and ok.body == b"1158201444"
    bad = s.request("GET", "/hooks/meta?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1")
    assert bad.status == 403
    # The token travels in the query string: the log never shows it.
    assert META_VERIFY not in s.log.read_text()

    body = json.dumps(_meta_event("m_AbC123", "Do you ship to Malta?")).encode()
    sig = "sha256=" + hmac.new(META_SECRET.encode(), body, hashlib.sha256).hexdigest()
    wrong = "sha256=" + hmac.new(b"other", body, hashlib.sha256).hexdigest()
    json_h = {"Content-Type": "application/json"}
    assert s.request("POST", "/hooks/meta", body, json_h).status == 403
    assert s.request("POST", "/hooks/meta", body,
                     {**json_h, "X-Hub-Signature-256": wrong}).status == 403
    assert s.request("POST", "/hooks/meta", body + b" ",
                     {**json_h, "X-Hub-Signature-256": sig}).status == 403
    for _ in range(2):
        res = s.request("POST", "/hooks/meta", body, {**json_h, "X-Hub-Signature-256": sig})
        assert res.status == 200
    got = messages(cli, s.env)
    assert [(m["channel"], m["external_id"], m["text"], m["from"]["address"]) for m in got] == \
        [("messenger", "m_AbC123", "Do you ship to Malta?", "6789012345")]


def test_meta_webhook_and_sync_of_the_same_message_store_it_once(cli: Any, serve: Any) -> None:
    """A Messenger message delivered by the webhook and then polled by
    `sync` (and one polled first, then delivered) is one message: both key
    it by the Graph message id under the entry that owns the Page."""
    from tests.social.graph_server import PAGE_ID, GraphServer

    with GraphServer() as fb:
        s = serve(channels=(f"  - name: shop-fb\n    type: messenger\n    page_id: '{PAGE_ID}'\n"
                            f"    access_token_env: META_TOKEN\n    api_base_url: {fb.url}\n"))
        luca = fb.user("7712345678901234", "Luca Ferri")

        def deliver(msg: dict[str, Any]) -> None:
            ms = int(datetime.fromisoformat(msg["created_time"].replace("+0000", "+00:00"))
                     .timestamp() * 1000)
            body = json.dumps({"object": "page", "entry": [{"id": PAGE_ID, "time": ms, "messaging": [
                {"sender": {"id": luca["id"]}, "recipient": {"id": PAGE_ID}, "timestamp": ms,
                 "message": {"mid": msg["id"], "text": msg["message"]}}]}]}).encode()
            sig = "sha256=" + hmac.new(META_SECRET.encode(), body, hashlib.sha256).hexdigest()
            res = s.request("POST", "/hooks/meta", body,
                            {"Content-Type": "application/json", "X-Hub-Signature-256": sig})
            assert res.status == 200

        first = fb.message(luca, "Hi! The strap of my bag is torn.")
        deliver(first)
        assert cli("sync", "shop-fb", env=s.env).code == 0
        second = fb.message(luca, "Here is my order number: 1049")
        assert cli("sync", "shop-fb", env=s.env).code == 0
        deliver(second)
        got = messages(cli, s.env)
        assert sorted((m["channel"], m["account"], m["external_id"]) for m in got) == sorted(
            [("messenger", "shop-fb", first["id"]), ("messenger", "shop-fb", second["id"])])
        assert len(cli("list", "--format", "json", env=s.env).json()) == 1


def test_twilio_picture_is_downloaded_with_the_entry_credentials(cli: Any, serve: Any) -> None:
    s = serve()
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    msg = s.twilio.inbound("+15550123456", "the broken box", media=[(png, "image/png")])
    params = {**twilio_params(msg), "NumMedia": "1", "MediaContentType0": "image/png",
              "MediaUrl0": f"{s.twilio.url}/2010-04-01/Accounts/{SID}/Messages/{msg['sid']}/Media/x"}
    assert post_twilio(s, params).status == 200
    (got,) = messages(cli, s.env)
    assert got["text"] == "the broken box"
    assert [(a["content_type"], a["size"]) for a in got["attachments"]] == [("image/png", len(png))]
    assert cli("sync", "shop-sms", env=s.env).code == 0
    assert len(messages(cli, s.env)) == 1


def test_a_webhook_message_that_trips_is_read_again_from_quarantine(cli: Any, serve: Any) -> None:
    """What a webhook stores raw is enough to read the message again: a
    message that trips while it is stored is quarantined (the platform gets
    its 2xx), and ``sync --retry-quarantine`` brings each back through its
    own channel's parser, as the same message (id, sender, text)."""
    s = serve()
    assert s.request("GET", "/healthz").status == 200
    with sqlite3.connect(cli.db) as db:
        db.execute(TRIP)
    json_h = {"Content-Type": "application/json"}

    sms = s.twilio.inbound("+15550123456", "TRIP still no refund for order 1057?")
    assert post_twilio(s, twilio_params(sms)).status == 200
    marco = s.telegram.user(5123456789, "Marco", "Bianchi", "marcob")
    update = s.telegram.message(marco, "TRIP il pacco 1049 non è arrivato")
    assert s.request("POST", "/hooks/telegram", json.dumps(update).encode(),
                     {**json_h, "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}).status == 200
    for obj, owner, mid in (("page", "1122334455", "m_AbC123"), ("instagram", "17841400000", "ig_1")):
        event = _meta_event(mid, "TRIP do you ship to Malta?")
        event["object"] = obj
        event["entry"][0]["id"] = owner
        body = json.dumps(event).encode()
        sig = "sha256=" + hmac.new(META_SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert s.request("POST", "/hooks/meta", body,
                         {**json_h, "X-Hub-Signature-256": sig}).status == 200

    held = cli("quarantine", "list", "--format", "json", env=s.env).json()
    assert sorted(q["channel"] for q in held) == ["instagram", "messenger", "sms", "telegram"]
    assert messages(cli, s.env) == []
    with sqlite3.connect(cli.db) as db:
        db.execute("DROP TRIGGER trip")
    res = cli("sync", "--retry-quarantine", env=s.env)
    assert res.code == 0 and "4 recovered, 0 still quarantined" in res.err, res
    got = sorted((m["channel"], m["external_id"], m["from"]["address"], m["text"])
                 for m in messages(cli, s.env))
    assert got == sorted([
        ("sms", sms["sid"], "+15550123456", "TRIP still no refund for order 1057?"),
        ("telegram", "5123456789:1", "5123456789", "TRIP il pacco 1049 non è arrivato"),
        ("messenger", "m_AbC123", "6789012345", "TRIP do you ship to Malta?"),
        ("instagram", "ig_1", "6789012345", "TRIP do you ship to Malta?"),
    ]), got
