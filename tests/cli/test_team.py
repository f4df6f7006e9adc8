"""Working as a team on one queue (SPEC §13) on SQLite: claims with a
lease, `next` handing out the most urgent unclaimed ticket, and a reply
that asks before answering over another agent's work."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.race import race_next
from tests.conftest import ROOT
from tests.social.telegram_server import TOKEN as TG_TOKEN
from tests.social.telegram_server import TelegramServer

T0 = "2026-12-01T09:00:00Z"


def at(minutes: int) -> dict[str, str]:
    h, m = divmod(minutes, 60)
    return {"SUPPORTCTL_NOW": f"2026-12-01T{9 + h:02d}:{m:02d}:00Z"}


def as_(agent: str, minutes: int = 0, **extra: str) -> dict[str, str]:
    return {"SUPPORTCTL_AGENT": agent, **at(minutes), **extra}


def _log(cli: Any, who: str, text: str, priority: str = "", minutes: int = 0) -> int:
    r = cli("new", "--channel", "phone", "--to", who, "-m", text, "--format", "ids",
            env=at(minutes))
    assert r.code == 0, r
    tid = int(r.out.strip())
    if priority:
        assert cli("priority", priority, str(tid), env=at(minutes)).code == 0
    return tid


def test_claim_holds_a_ticket_until_the_lease_ends(cli: Any) -> None:
    tid = _log(cli, "Ada", "Il pacco non è arrivato")
    r = cli("claim", str(tid), "--for", "20m", env=as_("marta"))
    assert r.code == 0 and "claimed until Tue 1 Dec 09:20 UTC" in r.err, r
    t = cli("show", str(tid), "--format", "json", env=as_("marta", 1)).json()
    assert t["claim"] == {"agent": "marta", "until": "2026-12-01T09:20:00Z"}
    # Someone else cannot take it quietly: exit 4, naming who holds it.
    r = cli("claim", str(tid), env=as_("luca", 5))
    assert r.code == 4 and "claimed by marta until Tue 1 Dec 09:20 UTC" in r.err
    assert "--force" in r.err and r.err.count("\n") == 1
    # After the lease it is free again, and the list JSON says so.
    [row] = cli("list", "--format", "json", env=at(21)).json()
    assert row["claim"] is None
    assert cli("claim", str(tid), env=as_("luca", 21)).code == 0
    # --force takes over a live claim, and the log says from whom.
    assert cli("claim", str(tid), "--force", env=as_("marta", 22)).code == 0
    events = cli("show", str(tid), "--format", "json", env=at(23)).json()["events"]
    claims = [(e["actor"], e["detail"].get("taken_from")) for e in events if e["action"] == "claim"]
    assert claims == [("marta", None), ("luca", None), ("marta", "luca")]
    # `show` tells the same in words, the lease in the shop's time.
    shown = cli("show", str(tid), env=at(23)).out
    assert "claimed until Tue 1 Dec 09:52 UTC (taken from luca)" in shown, shown


def test_unclaim_gives_it_back_and_only_the_holder_may(cli: Any) -> None:
    tid = _log(cli, "Ada", "Dov'è il mio ordine?")
    assert cli("claim", str(tid), env=as_("marta")).code == 0
    r = cli("unclaim", str(tid), env=as_("luca", 1))
    assert r.code == 4 and "claimed by marta, not you" in r.err
    assert cli("unclaim", str(tid), env=as_("marta", 2)).code == 0
    assert cli("show", str(tid), "--format", "json", env=at(3)).json()["claim"] is None
    assert "claim given back (was marta's)" in cli("show", str(tid), env=at(3)).out


def test_claim_several_reports_each_held_one_and_claims_the_rest(cli: Any) -> None:
    a, b, c = (_log(cli, n, f"question from {n}") for n in ("Ada", "Bea", "Cy"))
    assert cli("claim", str(b), env=as_("luca")).code == 0
    r = cli("claim", str(a), str(b), str(c), "999", env=as_("marta", 1))
    assert r.code == 4, r
    assert "no ticket 999" in r.err and f"ticket {b} is claimed by luca" in r.err
    shown = {t["id"]: (t["claim"] or {}).get("agent")
             for t in cli("list", "--format", "json", env=at(2)).json()}
    assert shown == {a: "marta", b: "luca", c: "marta"}


def test_bad_lease_is_a_usage_error(cli: Any) -> None:
    tid = _log(cli, "Ada", "hello")
    for bad in ("soon", "0m", "-5m", "99999999d"):
        r = cli("claim", str(tid), "--for", bad, env=as_("marta"))
        assert r.code == 2 and "--for" in r.err or "too long" in r.err, (bad, r)


def test_next_hands_out_the_most_urgent_unclaimed_ticket(cli: Any) -> None:
    low = _log(cli, "Ada", "a question", "low", minutes=0)
    urgent = _log(cli, "Bea", "the shop page is down", "urgent", minutes=5)
    normal_old = _log(cli, "Cy", "still waiting", minutes=1)
    theirs = _log(cli, "Dee", "for luca only", "urgent", minutes=2)
    assert cli("assign", "luca", str(theirs), env=at(3)).code == 0
    snoozed = _log(cli, "Eve", "later please", "urgent", minutes=4)
    assert cli("snooze", "2h", str(snoozed), env=at(4)).code == 0

    got = [cli("next", "--format", "ids", env=as_("marta", 10 + k)) for k in range(3)]
    assert [int(r.out) for r in got] == [urgent, normal_old, low], got
    r = cli("next", "--format", "ids", env=as_("marta", 14))
    assert r.code == 3 and "nothing waits" in r.err and r.out == ""
    # luca gets his own assigned ticket; the snoozed one still sleeps.
    assert int(cli("next", "--format", "ids", env=as_("luca", 15)).out) == theirs
    assert cli("next", "--format", "ids", env=as_("luca", 16)).code == 3
    # A lease that ended puts its ticket back in the queue.
    assert int(cli("next", "--format", "ids", env=as_("luca", 41)).out) == urgent
    # Every lease over and the snoozed one awake (11:04): urgent ones first,
    # the longest waiting first among them; luca's own stays his.
    later = [int(cli("next", "--format", "ids", "--for", "4h", env=as_("ann", 125 + k)).out)
             for k in range(3)]
    assert later == [snoozed, urgent, normal_old]
    # Without --format it says whose it is and shows the ticket.
    r = cli("next", env=as_("bo", 200))
    assert r.code == 0 and f"#{low} is yours until Tue 1 Dec 12:50 UTC" in r.err, r
    assert "a question" in r.out


def test_next_channel_filter_is_checked(cli: Any) -> None:
    _log(cli, "Ada", "hello")
    r = cli("next", "--channel", "emial", env=as_("marta"))
    assert r.code == 2 and "did you mean 'email'" in r.err
    assert cli("next", "--channel", "email", env=as_("marta")).code == 3
    assert cli("next", "--channel", "phone", "--format", "ids", env=as_("marta")).code == 0


def test_two_agents_racing_next_never_get_the_same_ticket(cli: Any, tmp_path: Path) -> None:
    """Two processes hand out 1 000 tickets between them; every ticket goes
    to exactly one of them (tests/cli/race.py)."""
    race_next(cli, str(cli.db), tmp_path, as_)


@pytest.fixture
def telegram(tmp_path: Path, cli: Any) -> Iterator[tuple[TelegramServer, dict[str, str]]]:
    with TelegramServer() as tg:
        cfg = tmp_path / "config.yaml"
        cfg.write_text(
            "agents: [{name: marta}, {name: luca}]\n"
            "channels:\n"
            "  - name: shop-telegram\n"
            "    type: telegram\n"
            "    token_env: SHOP_TELEGRAM_TOKEN\n"
            f"    api_base_url: {tg.url}\n",
            encoding="utf-8",
        )
        env = {"SUPPORTCTL_CONFIG": str(cfg), "SHOP_TELEGRAM_TOKEN": TG_TOKEN}
        from datetime import datetime

        sent = int(datetime.fromisoformat(T0.replace("Z", "+00:00")).timestamp())
        tg.message(tg.user(5100000001, "Lia"), "Avete la taglia 38?", date=sent)
        assert cli("sync", env={**env, **at(0)}).code == 0
        yield tg, env


def test_reply_over_a_colleagues_answer_is_refused_off_a_terminal(
        cli: Any, telegram: tuple[TelegramServer, dict[str, str]]) -> None:
    tg, env = telegram
    [t] = cli("list", "--format", "json", env={**env, **at(1)}).json()
    tid = str(t["id"])
    assert cli("show", tid, env={**env, **as_("marta", 2)}).code == 0  # marta reads it
    r = cli("reply", tid, "-m", "Sì, ce l'abbiamo.", env={**env, **as_("luca", 3)})
    assert r.code == 0, r  # luca answers first
    r = cli("reply", tid, "-m", "Sì!", env={**env, **as_("marta", 4)})
    assert r.code == 4, r
    assert f"ticket {tid} was answered by luca at Tue 1 Dec 09:03 UTC" in r.err
    assert "--force" in r.err and f"supportctl show {tid}" in r.err
    assert [m["text"] for m in tg.sent] == ["Sì, ce l'abbiamo."]  # nothing doubled
    # Having read it again, marta may add to it; or she forces it at once.
    assert cli("show", tid, env={**env, **as_("marta", 5)}).code == 0
    assert cli("reply", tid, "-m", "Vuole che la metta da parte?",
               env={**env, **as_("marta", 6)}).code == 0
    assert cli("reply", tid, "-m", "Grazie!", "--force", env={**env, **as_("luca", 7)}).code == 0
    assert len(tg.sent) == 3


def test_showing_an_unchanged_ticket_again_writes_nothing_yet_a_reply_still_sees_what_came_after(
        cli: Any, telegram: tuple[TelegramServer, dict[str, str]]) -> None:
    """`show` records that the agent opened the ticket, for reply's check;
    once recorded, showing it again while nothing changed leaves the store
    untouched (a write costs a read command four fsyncs)."""
    import hashlib

    tg, env = telegram
    [t] = cli("list", "--format", "json", env={**env, **at(1)}).json()
    tid = str(t["id"])
    assert cli("show", tid, env={**env, **as_("marta", 2)}).code == 0
    before = hashlib.sha256(cli.db.read_bytes()).hexdigest()
    assert cli("show", tid, env={**env, **as_("marta", 3)}).code == 0
    assert hashlib.sha256(cli.db.read_bytes()).hexdigest() == before
    assert cli("reply", tid, "-m", "Sì, ce l'abbiamo.", env={**env, **as_("luca", 4)}).code == 0
    r = cli("reply", tid, "-m", "Sì!", env={**env, **as_("marta", 5)})
    assert r.code == 4 and "answered by luca at Tue 1 Dec 09:04 UTC" in r.err, r
    # Shown again after luca's answer: recorded anew, and marta may reply.
    assert cli("show", tid, env={**env, **as_("marta", 6)}).code == 0
    assert cli("reply", tid, "-m", "Vuole che la metta da parte?",
               env={**env, **as_("marta", 7)}).code == 0
    assert len(tg.sent) == 2


def test_reply_to_a_ticket_someone_else_claimed_asks_first(
        cli: Any, telegram: tuple[TelegramServer, dict[str, str]]) -> None:
    tg, env = telegram
    [t] = cli("list", "--format", "json", env={**env, **at(1)}).json()
    tid = str(t["id"])
    assert cli("claim", tid, env={**env, **as_("luca", 2)}).code == 0
    r = cli("reply", tid, "-m", "Sì!", "--dry-run", env={**env, **as_("marta", 3)})
    assert r.code == 4 and "claimed by luca until Tue 1 Dec 09:32 UTC" in r.err, r
    r = cli("reply", tid, "-m", "Sì!", env={**env, **as_("marta", 3)})
    assert r.code == 4 and tg.sent == []
    # The claimant's own reply is not held back by their own claim.
    assert cli("reply", tid, "-m", "Sì, la 38 c'è.", env={**env, **as_("luca", 4)}).code == 0
    assert len(tg.sent) == 1


def test_reply_asks_on_a_terminal(cli: Any, telegram: tuple[TelegramServer, dict[str, str]]) -> None:
    pexpect = pytest.importorskip("pexpect")
    tg, env = telegram
    [t] = cli("list", "--format", "json", env={**env, **at(1)}).json()
    tid = str(t["id"])
    assert cli("claim", tid, env={**env, **as_("luca", 2)}).code == 0
    import os

    full = {**os.environ, **env, **as_("marta", 3)}
    for answer, sent in (("n", 0), ("y", 1)):
        child = pexpect.spawn(sys.executable, ["-m", "supportctl", "--db", str(cli.db), "reply",
                                               tid, "-m", "Sì!"], cwd=str(ROOT), env=full,
                              encoding="utf-8", timeout=60)
        child.expect(r"claimed by luca until Tue 1 Dec 09:32 UTC, since you opened it\. "
                     r"Send anyway\?")
        child.sendline(answer)
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == (4 if answer == "n" else 0)
        assert len(tg.sent) == sent
