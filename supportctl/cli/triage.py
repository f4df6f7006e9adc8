"""``triage``: a full-screen queue, most urgent first (SPEC §11).

One ticket at a time: its thread and the contact's other tickets (the very
lines ``show`` prints, so customer text passes the same ``safe`` boundary),
the SLA time left, and suggested answers. One key per action; the screen
stays on a ticket until ``j``/``k`` (or the arrows) move, so one can tag,
then note, then reply. Replies open ``$EDITOR`` on a draft (empty, a
suggestion's answer, or a rendered template) and go out through ``reply``.
prompt_toolkit is imported here only, so no other command pays for it.
"""

from __future__ import annotations

import io
import threading
from typing import Any

import typer

from supportctl.cli.app import Ctx, app, now_iso, obj
from supportctl.errors import SupportError, UsageError

KEYS = [("r", "reply"), ("1-3", "reply from suggestion"), ("m", "reply from template"),
        ("n", "note"), ("t", "tag"), ("a", "assign"), ("p", "priority"), ("z", "snooze"),
        ("s", "solve"), ("x", "spam"), ("j/→", "next"), ("k/←", "previous"),
        ("space/b", "scroll"), ("q", "quit")]
PRIORITIES = ("low", "normal", "high", "urgent")
#: How often an open screen looks for others' changes (SQLite: one PRAGMA).
POLL_SECONDS = 2.0
#: On PostgreSQL changes are announced; a poll this often besides.
LIVE_SECONDS = 60.0
#: How often a screen on PostgreSQL looks whether a change was announced.
WAKE_CHECK_SECONDS = 0.1


def sla_left(ticket: dict[str, Any], now: str) -> str:
    """The running clock: first response until answered, then resolution,
    with its due time in the shop's zone (``clock.due``)."""
    from supportctl.cli.clock import day_time, relative

    sla = ticket["sla"]
    if ticket.get("first_response_at") is None and sla.get("first_response_due"):
        what, due = "first response", sla["first_response_due"]
    elif sla.get("resolution_due") and ticket["status"] not in ("solved", "closed"):
        what, due = "resolution", sla["resolution_due"]
    else:
        return "no SLA clock running"
    left = relative(due, now=now)
    if left.endswith("overdue"):
        return f"{what} OVERDUE by {left[:-len(' overdue')]}"  # how late says it all
    return f"{what} due {day_time(due)} ({left})"


class Session:
    """The queue and the ticket on screen; every change goes through the
    same services as the one-shot commands."""

    def __init__(self, store: Any, ids: list[int], agent: str | None = None,
                 queue: tuple[list[str], str | None] | None = None) -> None:
        from supportctl.store.live import watch

        self.store = store
        self.ids = ids
        #: The queue's statuses and assignee, to find tickets that arrive
        #: while the screen is open (None: the queue stays as it began).
        self.queue = queue
        #: What tells the screen that others committed (PostgreSQL: at once).
        self.changes = watch(store)
        self._marker = self.changes.marker()
        #: SPEC §13: the ticket on screen is claimed for ``agent`` while it
        #: is there (``held``), unless someone else holds it.
        self.agent = agent
        self.held: int | None = None
        self.pos = 0
        self.ticket: dict[str, Any] | None = None
        self.lines: list[str] = []
        self.scroll = 0
        self.message = ""
        self.suggestions: dict[int, list[Any]] = {}
        self._lock = threading.Lock()

    @property
    def tid(self) -> int:
        return self.ids[self.pos]

    def load(self, *, hold: bool = True) -> None:
        """Read the ticket on screen (and, with ``hold``, claim it)."""
        from supportctl.cli import render
        from supportctl.store.read import show_json

        if hold and self.agent and not self.store.readonly:
            self.hold(self.tid)
        self.ticket = show_json(self.store, self.tid, now_iso())
        buf = io.StringIO()
        if self.ticket is not None:
            from supportctl.cli.tickets import tag_names

            # not a terminal: show's plain lines
            render.show(self.ticket, tag_names=tag_names(self.store, [self.ticket]), out=buf)
        self.lines = buf.getvalue().splitlines()

    def hold(self, tid: int | None) -> None:
        """Give back the ticket held before; hold ``tid`` (None: none)."""
        from supportctl.cli.team import lease_until
        from supportctl.errors import ClaimedByOther, NotFound
        from supportctl.services import team

        assert self.agent is not None
        if self.held is not None and self.held != tid:
            try:
                team.release(self.store, self.held, self.agent, now_iso(), log=False)
            except (ClaimedByOther, NotFound):
                pass  # taken over meanwhile, or gone
            self.held = None
        if tid is None:
            return
        try:
            team.claim(self.store, tid, self.agent, now_iso(), lease_until("30m"), log=False)
            self.held = tid
        except (ClaimedByOther, NotFound):
            pass  # the screen says who holds it
        team.opened(self.store, tid, self.agent, now_iso())

    def poll(self) -> bool:
        """Take in what others committed since the last look: tickets that
        joined the queue go at its end, and the ticket on screen is read
        again (a customer's new message, another agent's reply). True when
        the screen must be drawn again."""
        from supportctl.store.answers import triage_queue

        marker = self.changes.marker()
        if marker == self._marker:
            return False
        self._marker = marker
        said = []
        if self.queue is not None:
            known = set(self.ids)
            new = [i for i in triage_queue(self.store, self.queue[0], self.queue[1], now_iso())
                   if i not in known]
            if new:
                self.ids.extend(new)
                said.append(f"{len(new)} new ticket{'s' if len(new) > 1 else ''} at the end "
                            "of the queue")
        before = self.lines
        self.load()
        if self.lines != before:
            said.append(f"#{self.tid} changed: see below")
        if said:
            self.message = "; ".join(said)
        return True

    def move(self, step: int) -> None:
        new = self.pos + step
        if 0 <= new < len(self.ids):
            self.pos = new
            self.scroll = 0
            self.load()
            self.message = ""
        else:
            self.message = "end of the queue" if step > 0 else "first ticket of the queue"


def _suggest_in_background(cx: Ctx, session: Session, tid: int, on_done: Any) -> None:
    """Suggestions on their own connection, so the ticket shows at once."""
    from pathlib import Path

    from supportctl.services import answers, kb

    def work() -> None:
        from supportctl.store.db import open_store

        try:
            # a PostgreSQL store's path is its URL without the password
            store = open_store(getattr(session.store, "url", None) or Path(session.store.path),
                               create=False)
            try:
                cfg = cx.config()
                found = answers.suggest(store, tid, kb.load(cfg.kb.folder(cfg)))
            finally:
                store.close()
        except Exception as exc:  # shown, never fatal: the screen still works
            found = []
            session.message = f"no suggestions: {exc}"
        with session._lock:
            session.suggestions[tid] = found
        on_done()

    threading.Thread(target=work, daemon=True).start()


def _screen_text(session: Session, height: int) -> list[tuple[str, str]]:
    from supportctl.cli.clock import day_time
    from supportctl.safe import clean, one_line

    t = session.ticket
    out: list[tuple[str, str]] = []
    if t is None:
        return [("", f"ticket #{session.tid} is gone (merged or deleted): press j or k\n")]
    claim = t.get("claim")
    # Someone else's claim first: the line is cut at the terminal's width,
    # and at 80 columns a note at its end was never seen.
    held = (f"claimed by {one_line(claim['agent'], 30)} until {day_time(claim['until'])} · "
            if claim and claim["agent"] != session.agent else "")
    head = (f" #{t['id']} ({session.pos + 1}/{len(session.ids)})  {held}{t['status']} · "
            f"{t['priority']} · {t['channel']} · {one_line(t.get('assignee') or 'unassigned')}"
            f"  SLA: {sla_left(t, now_iso())}")
    out.append(("reverse bold", head.ljust(200)[:200] + "\n"))
    body = list(session.lines)
    sugg = session.suggestions.get(session.tid)
    body.append("")
    if sugg is None:
        body.append("Suggestions: looking…")
    elif not sugg:
        body.append("Suggestions: none")
    else:
        body.append("Suggestions (press 1-3 to reply with one as the draft):")
        for n, s in enumerate(sugg, 1):
            what = f"ticket #{s.ticket_id}" if s.kind == "ticket" else f"article {s.article}"
            body.append(f" {n}. {what}  score {s.score:.2f}  matched: "
                        f"{one_line(', '.join(s.matched), 60)}")
            body.append(f"    Q: {one_line(s.question, 100)}")
            body.append(f"    A: {one_line(s.answer, 100)}")
    view = max(height - 4, 3)
    session.scroll = max(0, min(session.scroll, max(len(body) - view, 0)))
    for line in body[session.scroll: session.scroll + view]:
        out.append(("", clean(line) + "\n"))
    return out


def _keys_text() -> str:
    return "  ".join(f"{k} {what}" for k, what in KEYS)


def run_screen(cx: Ctx, session: Session) -> None:
    from prompt_toolkit.application import Application, run_in_terminal
    from prompt_toolkit.buffer import Buffer
    from prompt_toolkit.filters import Condition
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.layout import ConditionalContainer, HSplit, Layout, Window
    from prompt_toolkit.layout.controls import BufferControl, FormattedTextControl

    from supportctl.services import triage as svc

    state: dict[str, Any] = {"ask": None}  # (label, callback) while a line is asked for
    asking = Condition(lambda: state["ask"] is not None)
    app_ref: dict[str, Any] = {}

    def refresh() -> None:
        a = app_ref.get("app")
        if a is not None:
            a.invalidate()

    def size() -> int:
        a = app_ref.get("app")
        return a.output.get_size().rows if a is not None else 24

    def want_suggestions() -> None:
        if session.ticket is not None and session.tid not in session.suggestions:
            _suggest_in_background(cx, session, session.tid, refresh)

    main = Window(FormattedTextControl(lambda: _screen_text(session, size())), wrap_lines=False)
    status = Window(FormattedTextControl(lambda: [("bold", session.message)]), height=1)
    keys = Window(FormattedTextControl(lambda: [("reverse", _keys_text())]), height=2,
                  wrap_lines=True)
    line = Buffer(multiline=False)
    prompt = ConditionalContainer(
        HSplit([Window(FormattedTextControl(lambda: [("bold", (state["ask"] or ("",))[0])]),
                       height=1),
                Window(BufferControl(buffer=line), height=1)]),
        filter=asking)
    kb = KeyBindings()

    def act(what: str, fn: Any) -> None:
        try:
            fn()
            session.message = what
        except SupportError as exc:
            session.message = f"not done: {exc}"
        session.load()

    def ask(label: str, callback: Any) -> None:
        state["ask"] = (label, callback)
        line.reset()
        app_ref["app"].layout.focus(line)

    @kb.add("enter", filter=asking)
    def _(event: Any) -> None:
        label, callback = state["ask"]
        state["ask"] = None
        event.app.layout.focus(main)
        text = line.text.strip()
        if text:
            callback(text)
        else:
            session.message = "cancelled"

    @kb.add("escape", filter=asking, eager=True)
    @kb.add("c-g", filter=asking)
    def _(event: Any) -> None:
        state["ask"] = None
        event.app.layout.focus(main)
        session.message = "cancelled"

    normal = ~asking

    @kb.add("q", filter=normal)
    @kb.add("c-c")
    def _(event: Any) -> None:
        event.app.exit()

    @kb.add("j", filter=normal)
    @kb.add("right", filter=normal)
    def _(event: Any) -> None:
        session.move(1)
        want_suggestions()

    @kb.add("k", filter=normal)
    @kb.add("left", filter=normal)
    def _(event: Any) -> None:
        session.move(-1)
        want_suggestions()

    @kb.add(" ", filter=normal)
    @kb.add("pagedown", filter=normal)
    def _(event: Any) -> None:
        session.scroll += max(size() - 8, 1)

    @kb.add("b", filter=normal)
    @kb.add("pageup", filter=normal)
    def _(event: Any) -> None:
        session.scroll = max(session.scroll - max(size() - 8, 1), 0)

    def actor() -> str:
        return cx.actor

    @kb.add("s", filter=normal)
    def _(event: Any) -> None:
        act(f"#{session.tid} solved", lambda: svc.solve(session.store, session.tid, actor(),
                                                          now_iso()))

    @kb.add("x", filter=normal)
    def _(event: Any) -> None:
        def yes(text: str) -> None:
            if text.lower() in ("y", "yes"):
                from supportctl.services.tickets import mark_spam

                act(f"#{session.tid} marked spam and closed",
                    lambda: mark_spam(session.store, session.tid, actor(), now_iso()))
            else:
                session.message = "not marked as spam"
        ask("Spam? This closes the ticket and files the sender's mail as spam. y/n:", yes)

    @kb.add("n", filter=normal)
    def _(event: Any) -> None:
        from supportctl.services.tickets import add_note

        ask("Note (Enter saves, Esc cancels):",
            lambda text: act("note added", lambda: add_note(session.store, session.tid, text,
                                                            actor(), now_iso())))

    @kb.add("t", filter=normal)
    def _(event: Any) -> None:
        def tags(text: str) -> None:
            words = [w.strip() for w in text.replace(",", " ").split() if w.strip()]
            add = [w.lstrip("+") for w in words if not w.startswith("-")]
            rem = [w[1:] for w in words if w.startswith("-") and len(w) > 1]

            def do() -> None:
                if add:
                    svc.tag(session.store, session.tid, add, actor(), now_iso())
                if rem:
                    svc.tag(session.store, session.tid, rem, actor(), now_iso(), remove=True)
            act("tags changed", do)
        ask("Tags (space or comma separated; -tag removes):", tags)

    @kb.add("a", filter=normal)
    def _(event: Any) -> None:
        def assign(text: str) -> None:
            name = actor() if text == "me" else (None if text in ("none", "-") else text)
            agents = cx.config().agent_names()
            if name and agents and name not in agents:
                session.message = f"unknown agent {name!r}: one of {', '.join(agents)}"
                return
            act(f"assigned to {name or 'nobody'}",
                lambda: svc.assign(session.store, session.tid, name, actor(), now_iso()))
        ask("Assign to (a name, me, or none):", assign)

    @kb.add("p", filter=normal)
    def _(event: Any) -> None:
        def prio(text: str) -> None:
            if text not in PRIORITIES:
                session.message = f"unknown priority {text!r}: one of {', '.join(PRIORITIES)}"
                return
            act(f"priority {text}",
                lambda: svc.priority(session.store, session.tid, text, actor(), now_iso()))
        ask(f"Priority ({'/'.join(PRIORITIES)}):", prio)

    @kb.add("z", filter=normal)
    def _(event: Any) -> None:
        def snooze(text: str) -> None:
            from supportctl.cli.tickets import _tz
            from supportctl.timeparse import parse_when
            from supportctl.values import iso, utcnow

            try:
                until = iso(parse_when(text, utcnow(), _tz(cx)))
            except (ValueError, UsageError) as exc:
                session.message = f"not snoozed: {exc}"
                return
            from supportctl.cli.clock import day_time

            act(f"snoozed until {day_time(until)}",
                lambda: svc.snooze(session.store, session.tid, until, actor(), now_iso()))
        ask("Snooze until (2h, 3d, tomorrow 9:00, ISO 8601):", snooze)

    def reply_with(draft: str) -> None:
        from supportctl.cli.channels import _editor_text, send_reply

        def run() -> None:
            try:
                text = _editor_text(session.store, session.tid, draft)
                if not text.strip():
                    session.message = "empty draft: nothing sent"
                    return
                send_reply(cx, ticket_id=str(session.tid), source=None, message=text, file=None,
                      template=None, via=None, account=None, attach=[], cc=[], status=None,
                      dry_run=False, yes=False, no_cc=False, force=False, human_agent=False)
                session.message = f"reply to #{session.tid} sent"
            except (SupportError, typer.Exit) as exc:
                session.message = f"reply not sent: {exc}"
            session.load()

        run_in_terminal(run)

    @kb.add("r", filter=normal)
    def _(event: Any) -> None:
        reply_with("")

    for digit in "123":
        @kb.add(digit, filter=normal)
        def _(event: Any, n: int = int(digit)) -> None:
            found = session.suggestions.get(session.tid) or []
            if n > len(found):
                session.message = f"no suggestion {n}"
                return
            reply_with(found[n - 1].answer)

    @kb.add("m", filter=normal)
    def _(event: Any) -> None:
        def template(name: str) -> None:
            from supportctl.services.templates import render_template

            try:
                text, _meta = render_template(cx.config(), name, session.store, session.tid,
                                              actor())
            except SupportError as exc:
                session.message = f"template: {exc}"
                return
            reply_with(text)
        names = ", ".join(cx.config().templates) or "none configured"
        ask(f"Template ({names}):", template)

    root = HSplit([main, status, prompt, keys])
    async def watch() -> None:
        # On the screen's own loop (and so its thread and connection).
        import asyncio

        # PostgreSQL announces others' commits (store/live.py): the
        # screen looks at once (a flag the listening thread sets, read
        # every tenth of a second: asyncio.wait_for on an event can
        # swallow the cancellation that ends the screen), and polls only
        # now and then besides. SQLite polls.
        woken = threading.Event()
        session.changes.on_change(woken.set)
        if session.changes.instant:
            woken.set()  # what was announced before the screen's loop began
        while True:
            if not session.changes.instant:
                await asyncio.sleep(POLL_SECONDS)
            else:
                waited = 0.0
                while not woken.is_set() and waited < (
                        LIVE_SECONDS if state["ask"] is None else POLL_SECONDS):
                    await asyncio.sleep(WAKE_CHECK_SECONDS)
                    waited += WAKE_CHECK_SECONDS
                woken.clear()
            if state["ask"] is None and session.poll():
                refresh()

    application: Any = Application(layout=Layout(root, focused_element=main), key_bindings=kb,
                                   full_screen=True, mouse_support=False)
    app_ref["app"] = application
    want_suggestions()
    application.run(pre_run=lambda: application.create_background_task(watch()))


@app.command()
def triage(ctx: typer.Context,
    status: str = typer.Option("new,open", "--status", "-s"),
    assignee: str | None = typer.Option(None, "--assignee", "-a", help="NAME, me or none"),
) -> None:
    """Work through the queue, most urgent SLA first, on a full screen with one-key actions."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.store.answers import triage_queue

    if not (cx.stdin.isatty() and render.is_tty()):
        raise UsageError("triage needs a terminal; scripts use list/tag/close instead")
    store = cx.store()
    ids = triage_queue(store, status.split(","), cx.me() if assignee == "me" else assignee,
                       now_iso())
    if not ids:
        render.info("nothing to triage")
        return
    session = Session(store, ids, agent=None if store.readonly else cx.actor,
                      queue=(status.split(","), cx.me() if assignee == "me" else assignee))
    # The first ticket is claimed once it is on screen: the claim's two
    # writes (and the team modules) need not delay the first paint. The
    # screen shows only others' claims, which show_json reads either way.
    session.load(hold=False)
    import termios

    saved = termios.tcgetattr(cx.stdin.fileno())
    try:
        _first_paint(cx, session)
        if session.agent:
            session.hold(session.tid)
        # prompt_toolkit (a quarter of a second to import) loads after the
        # first ticket is on screen: importing it meanwhile in a thread held
        # the GIL against the queue and the first paint (+0.69 s against
        # +0.28 s over the bare typer app in bench/triage_open.py). Keys
        # typed in the meantime wait, unechoed, for the screen.
        _import_screen()
        run_screen(cx, session)
    finally:
        termios.tcsetattr(cx.stdin.fileno(), termios.TCSADRAIN, saved)
        if session.agent:
            session.hold(None)  # the ticket left on screen goes back to the queue
        session.changes.close()


def _first_paint(cx: Ctx, session: Session) -> None:
    """Draw the first ticket at once, plainly, on the alternate screen, while
    the screen library is still loading (it repaints the same lines). Keys
    typed meanwhile wait unechoed for it."""
    import os
    import tty

    tty.setcbreak(cx.stdin.fileno())
    try:
        cols, rows = os.get_terminal_size(cx.stdout.fileno())
    except OSError:
        cols, rows = 80, 24
    text = "".join(part for _, part in _screen_text(session, rows - 3))
    lines = [line[:cols] for line in text.splitlines()][: max(rows - 3, 1)]
    cx.stdout.write("\x1b[?1049h\x1b[H\x1b[2J" + "\r\n".join(lines) + "\r\n\r\n"
                     + _keys_text()[: cols * 2])
    cx.stdout.flush()


def _import_screen() -> None:
    import prompt_toolkit.application  # noqa: F401
    import prompt_toolkit.layout  # noqa: F401
