"""``triage`` driven in a real terminal (tmux): keystrokes in, the screen
and the store checked (SPEC §11)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_suggest import ticket
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
NOW = "2026-09-12T12:00:00Z"


class Screen:
    """A command in a detached tmux session of its own server."""

    def __init__(self, tmp_path: Path, args: list[str], env: dict[str, str],
                 columns: int = 150) -> None:
        self.sock = f"supportctl-test-{os.getpid()}-{tmp_path.name}"
        self.raw = tmp_path / "raw.out"
        self.env = {**os.environ, **env}
        cmd = (f"sleep 0.3; cd {shlex.quote(str(ROOT))} && "
               + " ".join(shlex.quote(a) for a in [sys.executable, "-m", "supportctl", *args])
               + "; echo EXITED $?; sleep 120")
        self.tmux("new-session", "-d", "-x", str(columns), "-y", "45", cmd)
        self.tmux("pipe-pane", "-o", f"cat >> {shlex.quote(str(self.raw))}")

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.sock, *args], env=self.env, check=True,
                              capture_output=True, text=True).stdout

    def text(self) -> str:
        return self.tmux("capture-pane", "-p")

    def wait(self, needle: str, timeout: float = 30) -> str:
        end = time.monotonic() + timeout
        while True:
            screen = self.text()
            if needle in screen:
                return screen
            if time.monotonic() > end:
                raise AssertionError(f"{needle!r} never showed; the screen:\n{screen}")
            time.sleep(0.1)

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", *(["-l"] if literal else []), *keys)
        time.sleep(0.3)

    def type(self, text: str) -> None:
        self.keys(text, literal=True)
        self.keys("Enter")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], env=self.env,
                       capture_output=True)


def with_sla(t: dict[str, Any], first_due: str | None, resolution_due: str | None = None,
             priority: str = "normal") -> dict[str, Any]:
    t["sla"] = {"first_response_due": first_due, "resolution_due": resolution_due}
    t["priority"] = priority
    return t


QUEUE = [
    # A solved ticket whose answer is the suggestion for #12.
    ticket(10, "solved", "Il pacco non è arrivato, il tracciamento è fermo da giorni.",
           [("alice", "Il corriere ha avuto un ritardo: il pacco arriva domani.")],
           subject="Pacco in ritardo"),
    # Urgent but due later: after the overdue one.
    with_sla(ticket(11, "open", "Please call me about the invoice", [], subject="Invoice"),
             "2026-09-12T18:00:00Z", priority="urgent"),
    # Overdue first response: first in the queue.
    with_sla(ticket(12, "new", "Il mio pacco non è ancora arrivato, tracciamento fermo."
                    " \x1b]0;pwned\x07\x1b[31mrosso\x1b[0m", [], subject="Pacco"),
             "2026-09-12T10:00:00Z"),
    # No clock: last.
    with_sla(ticket(13, "new", "A question without any deadline", [], subject="Later"), None),
]


@pytest.fixture
def queue(cli: Any, tmp_path: Path) -> Iterator[Any]:
    src = tmp_path / "q.jsonl"
    src.write_text("".join(json.dumps(t) + "\n" for t in QUEUE))
    assert cli("import", str(src), "--format", "jsonl").code == 0
    screens: list[Screen] = []

    def start(*args: str, env: dict[str, str] | None = None, columns: int = 150) -> Screen:
        s = Screen(tmp_path, ["--db", str(cli.db), "triage", *args],
                   {"SUPPORTCTL_NOW": NOW, **(env or {})}, columns)
        screens.append(s)
        return s

    yield start
    for s in screens:
        s.close()


def show(cli: Any, tid: int) -> dict[str, Any]:
    r = cli("show", str(tid), "--format", "json")
    assert r.code == 0, r
    return r.json()  # type: ignore[no-any-return]


def test_queue_by_sla_actions_stay_on_the_ticket_and_keys_are_shown(cli: Any, queue: Any) -> None:
    s = queue()
    screen = s.wait("#12 (1/3)")
    # How late, in words (the due time itself, in the shop's zone, when still ahead).
    assert "first response OVERDUE by 2 h" in screen
    for label in ("r reply", "n note", "t tag", "a assign", "p priority", "z snooze", "s solve",
                  "x spam", "j/→ next", "k/← previous", "q quit"):
        assert label in screen
    s.wait("1. ticket #10")  # the suggestion, with its answer
    assert "Il corriere ha avuto un ritardo" in s.text()

    s.keys("t")
    s.wait("Tags")
    s.type("shipping")
    s.keys("n")
    s.wait("Note")
    s.type("asked the courier")
    s.keys("p")
    s.type("high")
    s.keys("a")
    s.type("me")
    # The keys are taken in order: the last action's message on screen says
    # all four are stored (the note's text may show while the priority and
    # assignment still wait their turn on a loaded machine).
    screen = s.wait("assigned to tester")
    assert "asked the courier" in screen
    assert "#12 (1/3)" in screen  # still on the same ticket after four actions
    t = show(cli, 12)
    assert t["tags"] == ["shipping"] and t["priority"] == "high" and t["assignee"] == "tester"
    assert [m["text"] for m in t["messages"] if m["direction"] == "note"] == ["asked the courier"]

    s.keys("p")
    s.type("bogus")
    s.wait("unknown priority 'bogus'")
    assert show(cli, 12)["priority"] == "high"

    s.keys("j")
    s.wait("#11 (2/3)")
    s.keys("j")
    s.wait("#13 (3/3)")
    s.keys("j")
    s.wait("end of the queue")
    s.keys("k")
    s.keys("k")
    s.wait("#12 (1/3)")
    s.keys("unknown-key-?" [0])  # an unknown key does nothing
    s.keys("s")
    s.wait("#12 solved")
    assert "#12 (1/3)" in s.text()
    assert show(cli, 12)["status"] == "solved"

    s.keys("x")
    s.type("n")
    s.wait("not marked as spam")
    s.keys("j")
    s.keys("z")
    s.type("2h")
    s.wait("snoozed until Sat 12 Sep 14:00 UTC")
    assert show(cli, 11)["snoozed_until"] == "2026-09-12T14:00:00Z"
    s.keys("q")
    s.wait("EXITED 0")


def test_customer_text_never_reaches_the_terminal_raw(cli: Any, queue: Any) -> None:
    s = queue()
    screen = s.wait("rosso")
    s.keys("q")
    s.wait("EXITED 0")
    raw = s.raw.read_bytes()
    assert b"pwned" not in raw  # the OSC title sequence was removed with its payload
    assert b"\x1b[31mrosso" not in raw
    assert "pwned" not in screen


def test_reply_with_a_suggestion_as_the_draft(cli: Any, tmp_path: Path) -> None:
    from tests.social.twilio_server import SHOP, SID, TOKEN, TwilioServer

    with TwilioServer() as tw:
        cfg = tmp_path / "config.yaml"
        cfg.write_text(f"channels:\n  - name: shop-sms\n    type: twilio\n    account_sid: {SID}\n"
                       f"    auth_token_env: TW_TOKEN\n    numbers: ['{SHOP}']\n"
                       f"    api_base_url: {tw.url}\n")
        env = {"SUPPORTCTL_CONFIG": str(cfg), "TW_TOKEN": TOKEN}
        src = tmp_path / "h.jsonl"
        src.write_text(json.dumps(QUEUE[0]) + "\n")
        assert cli("import", str(src), "--format", "jsonl", env=env).code == 0
        tw.inbound("+15550123456", "Pacco non arrivato, tracciamento fermo")
        assert cli("sync", env=env).code == 0
        # The editor keeps the draft as it is: the suggestion's answer.
        s = Screen(tmp_path, ["--db", str(cli.db), "triage"], {**env, "EDITOR": "true"})
        try:
            s.wait("1. ticket #10")
            s.keys("1")
            screen = s.wait("sent")
            assert [c["Body"] for c in tw.created] == [
                "Il corriere ha avuto un ritardo: il pacco arriva domani."], screen
            s.keys("r")  # an empty draft sends nothing
            s.wait("empty draft: nothing sent")
            assert len(tw.created) == 1
            s.keys("q")
            s.wait("EXITED 0")
        finally:
            s.close()


def test_triage_needs_a_terminal(cli: Any) -> None:
    r = cli("triage")
    assert r.code == 2 and "needs a terminal" in r.err


def test_the_ticket_on_screen_is_held_for_you_and_given_back(cli: Any, queue: Any) -> None:
    """SPEC §13: triage claims the ticket it shows, says who else holds one,
    and gives the last one back when it ends."""

    def held(cli: Any, tid: int) -> dict[str, Any]:
        r = cli("show", str(tid), "--format", "json", env={"SUPPORTCTL_NOW": NOW})
        assert r.code == 0, r
        return r.json()  # type: ignore[no-any-return]

    assert cli("claim", "11", env={"SUPPORTCTL_NOW": NOW, "SUPPORTCTL_AGENT": "luca"}).code == 0
    s = queue(env={"SUPPORTCTL_AGENT": "marta"})
    s.wait("#12 (1/3)")
    # The first ticket is painted before it is claimed (the claim must not
    # delay the first paint), so the claim lands a moment after it shows.
    end = time.monotonic() + 30
    while held(cli, 12)["claim"] is None and time.monotonic() < end:
        time.sleep(0.1)
    assert held(cli, 12)["claim"] == {"agent": "marta", "until": "2026-09-12T12:30:00Z"}
    s.keys("j")
    screen = s.wait("#11 (2/3)")
    assert "claimed by luca until Sat 12 Sep 12:30 UTC" in screen
    assert held(cli, 12)["claim"] is None  # moved on: back in the queue
    assert held(cli, 11)["claim"]["agent"] == "luca"  # someone else's stays theirs
    s.keys("j")
    s.wait("#13 (3/3)")
    assert held(cli, 13)["claim"]["agent"] == "marta"
    s.keys("q")
    s.wait("EXITED 0")
    assert held(cli, 13)["claim"] is None
    # Holding a ticket on screen is not an event per key press.
    assert [e for e in held(cli, 12)["events"] if e["action"] in ("claim", "unclaim")] == []


def test_someone_elses_claim_shows_at_80_columns(cli: Any, queue: Any) -> None:
    # The note ended the header line, past column 80: cut off on a
    # standard terminal, so nothing said that luca held the ticket.
    assert cli("claim", "12", env={"SUPPORTCTL_NOW": NOW, "SUPPORTCTL_AGENT": "luca"}).code == 0
    s = queue(env={"SUPPORTCTL_AGENT": "marta"}, columns=80)
    screen = s.wait("#12 (1/3)")
    head = next(line for line in screen.splitlines() if "#12 (1/3)" in line)
    assert "claimed by luca until Sat 12 Sep 12:30 UTC" in head, screen
    s.keys("q")
    s.wait("EXITED 0")


def test_an_open_screen_learns_of_new_tickets_and_replies(cli: Any, queue: Any) -> None:
    """SPEC §13: a triage screen left open takes in what others commit (a
    ticket that arrives, another agent's note on the ticket on screen)
    within seconds, without a key press (on SQLite it polls)."""
    s = queue(env={"SUPPORTCTL_AGENT": "marta"})
    s.wait("#12 (1/3)")
    env = {"SUPPORTCTL_NOW": NOW, "SUPPORTCTL_AGENT": "luca"}
    r = cli("new", "--channel", "phone", "--to", "+390612345678", "--subject", "Reso",
            "-m", "Vorrei restituire le scarpe", env=env)
    assert r.code == 0, r
    screen = s.wait("1 new ticket at the end of the queue", timeout=20)
    assert "#12 (1/4)" in screen
    assert cli("note", "12", "-m", "Ho chiamato il corriere", env=env).code == 0
    screen = s.wait("Ho chiamato il corriere", timeout=20)
    assert "#12 changed" in screen
    s.keys("j")
    s.keys("j")
    s.keys("j")
    s.wait("#14 (4/4)")
    assert "Vorrei restituire le scarpe" in s.text()
