"""The Mastodon channel against a fake instance on loopback, through the
real Mastodon.py (sync-rules §8, cases 52–56)."""

from __future__ import annotations

import itertools
import json
import re
import sys
import time
import types
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from supportctl.channels import build
from supportctl.channels import mastodon as mod
from supportctl.channels import retry as retry_mod
from supportctl.channels.retry import RetryAfter
from supportctl.errors import AuthError, ChannelError
from supportctl.models import Address, Batch, Outbound
from tests.contract import ChannelContract, drain
from tests.social.mastodon_server import OWN, TOKEN, MastodonServer

try:
    import supportctl.mail.html  # noqa: F401
except ImportError:  # pragma: no cover - only until supportctl.mail.html lands
    _stub = types.ModuleType("supportctl.mail.html")

    def _html_to_text(html: str) -> str:
        text = re.sub(r"<br\s*/?>", "\n", html)
        text = re.sub(r"</p>\s*<p>", "\n\n", text)
        text = re.sub(r"<[^>]+>", "", text)
        import html as _h

        return _h.unescape(text).strip()

    _stub.html_to_text = _html_to_text  # type: ignore[attr-defined]
    sys.modules["supportctl.mail.html"] = _stub

SAMPLE = Path(mod.__file__).resolve().parent.parent / "samples" / "mastodon" / "notifications.json"


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry_mod, "BASE_DELAY", 0.001)
    monkeypatch.setattr(mod, "REQUEST_TIMEOUT", 0.5)


@pytest.fixture
def server() -> Iterator[MastodonServer]:
    with MastodonServer() as srv:
        srv.http.hang_seconds = 1.0
        yield srv


def config(srv: MastodonServer, **extra: Any) -> dict[str, Any]:
    return {"name": "shop-masto", "type": "mastodon", "base_url": srv.url,
            "access_token": TOKEN, **extra}


def channel(srv: MastodonServer, **extra: Any) -> Any:
    ch: Any = build(config(srv, **extra))
    ch.slept = []
    ch.sleep = ch.slept.append  # record, never really sleep
    return ch


def items(batches: list[Batch]) -> list[Any]:
    return [i for b in batches for i in b.items]


def outbound(to: str, text: str, *, reply_to: str = "", visibility: str | None = None,
             key: str | None = None) -> Outbound:
    meta: dict[str, object] = {"visibility": visibility} if visibility else {}
    return Outbound(medium="mastodon", to=[Address(to)], text=text,
                    reply_to_external_id=reply_to, idempotency_key=key or uuid.uuid4().hex,
                    meta=meta)


def error_texts(exc: BaseException) -> str:
    """The message of an error and of everything chained to it."""
    out = []
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        out.append(f"{e!s} {e!r}")
        e = e.__cause__ or e.__context__
    return "\n".join(out)


# -- the shared contract ---------------------------------------------------------


class Harness:
    def __init__(self, srv: MastodonServer) -> None:
        self.srv = srv
        self.k = itertools.count()

    def channel(self) -> Any:
        return channel(self.srv)

    def deliver(self, n: int) -> None:
        for _ in range(n):
            k = next(self.k)
            self.srv.mention(f"cust{k % 3}@remote.example", f"contract message {k}")

    def outbound(self) -> Outbound:
        st = self.srv.mention("alice@remote.example", "Where is my order?")
        return outbound("alice@remote.example", "Hello there", reply_to=st["id"])

    def received(self) -> list[Any]:
        return [s["_text"] for s in self.srv.posted]


class TestMastodonContract(ChannelContract):
    @pytest.fixture
    def harness(self, server: MastodonServer) -> Harness:
        return Harness(server)


# -- fetch --------------------------------------------------------------------------


def test_inbound_fields(server: MastodonServer) -> None:
    st = server.mention("bob@remote.example", "My parcel never came.\n\nOrder 1042.",
                        name="Bob Baker")
    ch = channel(server)
    [item] = items(drain(ch, {}))
    assert item.medium == "mastodon" and item.external_id == st["id"]
    assert item.sender == Address("bob@remote.example", "Bob Baker")
    assert item.text.startswith("My parcel never came.")  # our @helpdesk is gone
    assert "Order 1042." in item.text and "@helpdesk" not in item.text
    assert item.sent_at is not None and item.sent_at.tzinfo is not None
    assert item.meta == {"visibility": "public", "url": st["url"]}
    assert json.loads(item.raw)["status"]["id"] == st["id"]
    assert item.in_reply_to == ""


def test_local_account_gets_instance_host(server: MastodonServer) -> None:
    server.mention("dora", "I am on the same instance")
    [item] = items(drain(channel(server), {}))
    assert item.sender.address == f"dora@{server.host}"


def test_only_mentions_are_fetched(server: MastodonServer) -> None:
    server.other_notification("favourite")
    server.other_notification("follow")
    server.mention("bob@remote.example", "a real question")
    got = items(drain(channel(server), {}))
    assert [i.text for i in got] == ["a real question"]
    assert all(r.query.get("types[]") == ["mention"]
               for r in server.requests("/api/v1/notifications/?"))


def test_other_mentions_in_a_reply_are_kept(server: MastodonServer) -> None:
    server.account("eve@remote.example")
    server.mention("bob@remote.example", "what do you think?",
                   mentions=["eve@remote.example", OWN])
    [item] = items(drain(channel(server), {}))
    assert item.text == "@eve what do you think?"


def test_many_messages_page_forward_with_min_id_oldest_first(server: MastodonServer) -> None:
    server.mention("bob@remote.example", "first")
    cursors: dict[str, str] = {}
    ch = channel(server)
    drain(ch, cursors)
    start = cursors["notifications"]
    for k in range(100):
        server.mention(f"c{k % 7}@remote.example", f"burst {k}")
    server.http.log.clear()
    t0, cpu0 = time.monotonic(), time.process_time()
    batches = drain(ch, cursors)
    elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
    got = [i.text for i in items(batches)]
    assert got == [f"burst {k}" for k in range(100)]
    # Each batch's cursor is the highest id in it, and cursors only grow.
    keys = [mod.id_key(b.cursor or "") for b in batches if b.source == "notifications"]
    assert keys == sorted(keys) and len(keys) == 3
    notif = server.requests("/api/v1/notifications/?")
    assert [r.query.get("min_id") for r in notif][0] == [start]
    assert all("min_id" in r.query and "since_id" not in r.query for r in notif)
    assert len(notif) == 4  # 40 + 40 + 20, then the empty page the Link header leads to
    assert len(server.requests("/api/v1/conversations/?")) == 1
    assert len(server.requests("/api/v1/accounts/verify_credentials")) == 0  # cached
    # Cheap, and no waiting: the CPU time of this process (the channel and
    # the fake instance), which a loaded machine does not stretch as it
    # does the wall clock (0.4-2.1 s of it for 0.5 s of work at load 4),
    # and no pause asked for.
    assert cpu < 5 and ch.slept == []
    print(f"100 new mentions: {len(server.http.log)} requests, {elapsed * 1000:.0f} ms, "
          f"{cpu * 1000:.0f} ms CPU")


def test_first_sync_walks_back_then_yields_oldest_first(server: MastodonServer) -> None:
    for k in range(90):
        server.mention("bob@remote.example", f"old {k}")
    cursors: dict[str, str] = {}
    batches = drain(channel(server), cursors)
    assert [i.text for i in items(batches)] == [f"old {k}" for k in range(90)]
    newest = max((n["id"] for n in server.notifications), key=mod.id_key)
    assert cursors["notifications"] == newest
    notif = server.requests("/api/v1/notifications/?")
    assert len(notif) == 4 and "max_id" not in notif[0].query and "max_id" in notif[1].query


def test_first_sync_since_bounds_the_reach(server: MastodonServer) -> None:
    for k in range(3):
        server.mention("bob@remote.example", f"ancient {k}")
    for n in server.notifications:
        n["created_at"] = "2020-01-01T00:00:00.000Z"
    server.mention("bob@remote.example", "recent")
    cursors: dict[str, str] = {}
    since = datetime.now(timezone.utc) - timedelta(days=1)
    got = items(list(channel(server).fetch(cursors, since=since)))
    assert [i.text for i in got] == ["recent"]


def test_ids_compare_by_length_then_value(server: MastodonServer) -> None:
    assert mod.id_key("9") < mod.id_key("10") < mod.id_key("100")
    assert sorted(["10", "9", "100", "11"], key=mod.id_key) == ["9", "10", "11", "100"]
    # ULIDs (GoToSocial) are fixed length and sort as text.
    assert mod.id_key("01ARZ3NDEKTSV4RRFFQ69G5FAV") < mod.id_key("01BX5ZZKBKACTAV9WEVGEMMVRZ")
    server.mention("bob@remote.example", "one")
    cursors: dict[str, str] = {}
    ch = channel(server)
    drain(ch, cursors)
    assert len(cursors["notifications"]) == 1  # a one-digit id
    for k in range(4):
        server.mention("bob@remote.example", f"more {k}")
    got = items(drain(ch, cursors))
    assert [i.text for i in got] == [f"more {k}" for k in range(4)]
    assert len(cursors["notifications"]) == 2  # crossed "9" → "10"
    assert items(drain(ch, cursors)) == []


def test_nothing_new_costs_one_request_per_source(server: MastodonServer) -> None:
    server.mention("bob@remote.example", "hello", visibility="direct")
    cursors: dict[str, str] = {}
    ch = channel(server)
    drain(ch, cursors)
    assert set(cursors) == {"notifications", "conversations"}
    server.http.log.clear()
    t0 = time.monotonic()
    again = drain(ch, cursors)
    elapsed = time.monotonic() - t0
    assert items(again) == []
    assert [r.path for r in server.http.log] == ["/api/v1/notifications", "/api/v1/conversations/"]
    print(f"nothing new: {len(server.http.log)} requests, {elapsed * 1000:.1f} ms")


def test_abandoned_generator_refetches_uncommitted(server: MastodonServer) -> None:
    server.mention("bob@remote.example", "start")
    cursors: dict[str, str] = {}
    ch = channel(server)
    drain(ch, cursors)
    for k in range(50):
        server.mention("bob@remote.example", f"m{k}")
    # Crash before committing the first batch: nothing moves.
    gen = ch.fetch(dict(cursors))
    first = next(gen)
    gen.close()
    assert [i.text for i in first.items] == [f"m{k}" for k in range(40)]
    again = drain(channel(server), dict(cursors))
    assert [i.text for i in items(again)] == [f"m{k}" for k in range(50)]
    # Commit the first batch, then crash: the rest comes next time, once.
    gen = ch.fetch(dict(cursors))
    first = next(gen)
    cursors[first.source] = first.cursor or ""
    gen.close()
    rest = drain(channel(server), cursors)
    assert [i.text for i in items(rest)] == [f"m{k}" for k in range(40, 50)]


def test_mention_thread_in_reply_to(server: MastodonServer) -> None:
    q = server.mention("bob@remote.example", "Do you ship to Norway?")
    ch = channel(server)
    cursors: dict[str, str] = {}
    drain(ch, cursors)
    res = ch.send(outbound("bob@remote.example", "Yes, in 3 days.", reply_to=q["id"],
                           visibility="public"))
    ours = server.statuses[res.external_id]
    assert ours["in_reply_to_id"] == q["id"]
    follow = server.mention("bob@remote.example", "Great, thanks!", in_reply_to_id=ours["id"])
    [item] = items(drain(ch, cursors))
    assert item.external_id == follow["id"] and item.in_reply_to == res.external_id
    assert item.text == "Great, thanks!"


def test_direct_message_reply_stays_direct_with_mention(server: MastodonServer) -> None:
    dm = server.mention("carol@remote.example", "my card was charged twice", visibility="direct")
    ch = channel(server)
    [item] = items(drain(ch, {}))  # once, though it is both a mention and a conversation
    assert item.meta["visibility"] == "direct"
    res = ch.send(outbound("carol@remote.example", "Refunded, sorry!", reply_to=dm["id"],
                           visibility=str(item.meta["visibility"])))
    [post] = server.posted
    assert post["visibility"] == "direct" and post["in_reply_to_id"] == dm["id"]
    assert post["_text"] == "@carol@remote.example Refunded, sorry!"
    assert res.external_id == post["id"] and res.state == "sent"
    assert json.loads(res.raw)["id"] == post["id"]


@pytest.mark.parametrize(("theirs", "ours"), [
    ("public", "unlisted"), ("unlisted", "unlisted"), ("private", "direct"),
    ("direct", "direct"), (None, "direct")])
def test_reply_visibility(server: MastodonServer, theirs: str | None, ours: str) -> None:
    channel(server).send(outbound("bob@remote.example", "hi", visibility=theirs))
    assert server.posted[-1]["visibility"] == ours


def test_local_customer_is_mentioned_without_host(server: MastodonServer) -> None:
    server.account("dora")
    channel(server).send(outbound(f"dora@{server.host}", "hi Dora"))
    assert server.posted[-1]["_text"] == "@dora hi Dora"


def test_dm_hidden_from_notifications_arrives_through_conversations(
        server: MastodonServer) -> None:
    dm = server.mention("erin@remote.example", "private question", visibility="direct")
    server.notifications.clear()  # the notification policy filtered it
    cursors: dict[str, str] = {}
    ch = channel(server)
    [item] = items(drain(ch, cursors))
    assert item.external_id == dm["id"] and item.conversation == dm["id"]
    assert json.loads(item.raw)["last_status"]["id"] == dm["id"]
    # Our reply becomes the conversation's last status: not fetched as inbound.
    ch.send(outbound("erin@remote.example", "answer", reply_to=dm["id"], visibility="direct"))
    assert items(drain(ch, cursors)) == []
    assert cursors["conversations"] == server.posted[-1]["id"]


def test_media_are_downloaded(server: MastodonServer) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"x" * 100
    server.mention("bob@remote.example", "see the dent", media=[("dent.png", png, "image/png")])
    [item] = items(drain(channel(server), {}))
    [att] = item.attachments
    assert att.data == png and att.content_type == "image/png" and att.filename == "dent.png"
    media_reqs = server.requests("/system/media/.+")
    assert media_reqs and "authorization" not in media_reqs[0].headers


def test_missing_media_is_noted_not_fatal(server: MastodonServer) -> None:
    server.mention("bob@remote.example", "photo", media=[("gone.png", b"x", "image/png")])
    server.media.clear()
    [item] = items(drain(channel(server), {}))
    assert item.attachments == [] and "attachment not downloaded" in item.text


# -- send -----------------------------------------------------------------------------


def test_idempotent_retry_of_a_post(server: MastodonServer) -> None:
    out = outbound("bob@remote.example", "Your refund is on its way.")
    ch = channel(server)
    first = ch.send(out)
    second = ch.send(out)  # the outbox retrying the same entry
    assert first.external_id == second.external_id
    assert len(server.posted) == 1
    keys = [r.headers.get("idempotency-key") for r in server.requests("/api/v1/statuses/?")]
    assert keys == [out.idempotency_key] * 2


def test_lost_reply_to_a_post_is_retried_with_the_same_key(server: MastodonServer) -> None:
    server.lose_post_replies = 1  # created, but the answer is cut off
    ch = channel(server)
    res = ch.send(outbound("bob@remote.example", "shipped"))
    assert len(server.posted) == 1 and res.external_id == server.posted[0]["id"]
    assert len(server.requests("/api/v1/statuses/?")) == 2


def test_post_timeout_retried_then_unknown(server: MastodonServer) -> None:
    server.http.fail(r"/api/v1/statuses/?", "hang")
    ch = channel(server)
    res = ch.send(outbound("bob@remote.example", "after a timeout"))
    assert res.external_id and len(server.posted) == 1
    server.http.fail(r"/api/v1/statuses/?", "hang", times=mod.ATTEMPTS)
    with pytest.raises(ChannelError) as info:
        ch.send(outbound("bob@remote.example", "never"))
    assert info.value.temporary and info.value.unknown_outcome
    assert "timed out" in str(info.value)
    assert TOKEN not in error_texts(info.value)


def test_post_without_key_is_not_retried_blindly(server: MastodonServer) -> None:
    server.lose_post_replies = 1
    out = outbound("bob@remote.example", "no key")
    out.idempotency_key = ""
    with pytest.raises(ChannelError) as info:
        channel(server).send(out)
    assert info.value.unknown_outcome and len(server.requests("/api/v1/statuses/?")) == 1


def test_long_reply_becomes_a_numbered_chain(server: MastodonServer) -> None:
    text = " ".join(f"word{k}" for k in range(250))  # ~2000 characters
    ch = channel(server)
    res = ch.send(outbound("bob@remote.example", text, reply_to="", visibility="direct"))
    posts = server.posted
    assert len(posts) >= 4
    n = len(posts)
    for i, p in enumerate(posts, 1):
        assert mod.weighted_len(p["_text"]) <= 500
        assert p["_text"].startswith("@bob@remote.example ") and p["_text"].endswith(f"({i}/{n})")
        assert p["visibility"] == "direct"
    assert [p["in_reply_to_id"] for p in posts[1:]] == [p["id"] for p in posts[:-1]]
    assert res.external_id == posts[-1]["id"]
    joined = " ".join(re.sub(r"^@\S+ | \(\d+/\d+\)$", "", p["_text"]) for p in posts)
    assert joined.split() == text.split()
    # Retrying the whole chain posts nothing new (one key per part).
    again = outbound("bob@remote.example", text, key="chain-key")
    ch.send(again)
    count = len(server.posted)
    assert ch.send(again).external_id == server.posted[-1]["id"]
    assert len(server.posted) == count


def test_weighted_length_counts_urls_as_23() -> None:
    assert mod.weighted_len("see https://example.com/" + "a" * 100) == 4 + 23
    assert mod.weighted_len("@bob@remote.example hi") == len("@bob hi")
    assert mod.weighted_len("mail bob@remote.example") == len("mail bob@remote.example")


def test_attachments_refused_not_dropped(server: MastodonServer) -> None:
    from supportctl.models import AttachmentData

    out = outbound("bob@remote.example", "see attached")
    out.attachments.append(AttachmentData("a.pdf", "application/pdf", b"%PDF"))
    with pytest.raises(ChannelError) as info:
        channel(server).send(out)
    assert not info.value.temporary and server.posted == []


# -- errors -------------------------------------------------------------------------


def test_429_with_retry_after_is_honoured(server: MastodonServer) -> None:
    server.mention("bob@remote.example", "hi")
    server.http.fail(r"/api/v1/notifications/?", "429", retry_after=2)
    ch = channel(server)
    got = items(drain(ch, {}))
    assert [i.text for i in got] == ["hi"]
    assert ch.slept == [2.0]


def test_429_with_reset_now_is_retried(server: MastodonServer) -> None:
    server.mention("bob@remote.example", "hi")
    server.throttle(1, reset_in=0)
    ch = channel(server)
    assert [i.text for i in items(drain(ch, {}))] == ["hi"]
    assert len(ch.slept) == 1 and ch.slept[0] <= 1.0


def test_429_with_a_distant_reset_stops_without_sleeping(server: MastodonServer) -> None:
    server.mention("bob@remote.example", "hi")
    server.throttle(1, reset_in=240)
    ch = channel(server)
    cursors: dict[str, str] = {}
    with pytest.raises(RetryAfter) as info:
        drain(ch, cursors)
    assert 230 <= info.value.delay <= 241 and info.value.temporary
    assert ch.slept == [] and cursors == {}
    assert len(server.http.log) == 1
    assert "rate limiting" in str(info.value) and TOKEN not in error_texts(info.value)


def test_429_on_post_is_retried(server: MastodonServer) -> None:
    server.throttle(1, reset_in=0)
    ch = channel(server)
    res = ch.send(outbound("bob@remote.example", "hi"))
    assert res.external_id and len(server.posted) == 1


def test_500_then_success(server: MastodonServer) -> None:
    server.mention("bob@remote.example", "hi")
    server.http.fail(r"/api/v1/notifications/?", "500")
    ch = channel(server)
    assert [i.text for i in items(drain(ch, {}))] == ["hi"]
    assert len(ch.slept) == 1


def test_500_on_post_is_failed_not_unknown(server: MastodonServer) -> None:
    server.http.fail(r"/api/v1/statuses/?", "500", times=mod.ATTEMPTS)
    with pytest.raises(ChannelError) as info:
        channel(server).send(outbound("bob@remote.example", "hi"))
    assert info.value.temporary and not info.value.unknown_outcome


def test_truncated_json_is_temporary_and_moves_no_cursor(server: MastodonServer) -> None:
    server.mention("bob@remote.example", "one")
    cursors: dict[str, str] = {}
    ch = channel(server)
    drain(ch, cursors)
    before = dict(cursors)
    server.mention("bob@remote.example", "two")
    server.http.fail(r"/api/v1/notifications/?", "truncate", times=mod.ATTEMPTS)
    with pytest.raises(ChannelError) as info:
        drain(ch, cursors)
    assert info.value.temporary and "malformed" in str(info.value)
    assert cursors == before
    assert [i.text for i in items(drain(ch, cursors))] == ["two"]


def test_connection_refused_is_temporary(server: MastodonServer) -> None:
    ch: Any = build({"name": "x", "type": "mastodon", "base_url": "http://127.0.0.1:9",
                     "access_token": TOKEN})
    ch.sleep = lambda s: None
    with pytest.raises(ChannelError) as info:
        list(ch.fetch({}))
    assert info.value.temporary and TOKEN not in error_texts(info.value)
    with pytest.raises(ChannelError) as info:
        ch.send(outbound("bob@remote.example", "hi"))
    # Never connected: the post surely did not happen.
    assert info.value.temporary and not info.value.unknown_outcome


def test_bad_token_is_an_auth_error_without_the_token(server: MastodonServer) -> None:
    ch = build({**config(server), "access_token": "wrong-" + TOKEN})
    with pytest.raises(AuthError) as info:
        list(ch.fetch({}))
    text = error_texts(info.value)
    assert "access_token" in str(info.value) and "wrong-" not in text and TOKEN not in text
    assert not info.value.temporary
    with pytest.raises(AuthError):
        ch.check()
    with pytest.raises(AuthError):
        ch.send(outbound("bob@remote.example", "hi"))


def test_check_names_the_account(server: MastodonServer) -> None:
    assert channel(server).check() == f"logged in as @{OWN}@{server.host}"


def test_missing_config_is_a_config_error() -> None:
    from supportctl.errors import ConfigError

    with pytest.raises(ConfigError, match="access_token"):
        build({"name": "m", "type": "mastodon", "base_url": "https://example.social"})


def test_mastodon_py_runs_without_waiting_or_version_probe(server: MastodonServer) -> None:
    ch = channel(server)
    api = ch._api()
    assert api.ratelimit_method == "throw" and api.version_check_mode == "none"
    assert api.request_timeout == mod.REQUEST_TIMEOUT
    assert server.http.log == []  # building the client asked nothing


# -- the bundled sample -----------------------------------------------------------


def test_sample_notifications() -> None:
    payload = json.loads(SAMPLE.read_text(encoding="utf-8"))
    cfg = {"name": "shop-mastodon", "type": "mastodon", "base_url": "https://example.social",
           "access_token": "demo"}
    got = mod.inbound_from_json(payload, cfg)
    assert len(got) >= 3
    assert all(i.medium == "mastodon" and i.external_id and i.raw and i.text for i in got)
    assert all("@" in (i.sender.address if i.sender else "") for i in got)
    assert not any(i.text.startswith("@") for i in got)  # our mention is gone
    assert any(i.meta["visibility"] == "direct" for i in got)
    ids = {i.external_id for i in got}
    replies = [i for i in got if i.in_reply_to]
    assert replies and all(r.in_reply_to in ids or r.in_reply_to for r in replies)
    # Oldest first: a reply comes after what it answers when both are there.
    order = [i.external_id for i in got]
    for r in replies:
        if r.in_reply_to in ids:
            assert order.index(r.in_reply_to) < order.index(r.external_id)


def test_reply_to_a_deleted_status_fails_for_good(server: MastodonServer) -> None:
    with pytest.raises(ChannelError) as info:
        channel(server).send(outbound("bob@remote.example", "hi", reply_to="999999"))
    assert not info.value.temporary and not info.value.unknown_outcome
    assert "deleted" in str(info.value) and server.posted == []


def test_fetch_timeout_is_temporary(server: MastodonServer) -> None:
    server.http.fail(r"/api/v1/notifications/?", "hang", times=mod.ATTEMPTS)
    with pytest.raises(ChannelError) as info:
        list(channel(server).fetch({}))
    assert info.value.temporary and "timed out" in str(info.value)
    assert TOKEN not in error_texts(info.value)
