"""The command line: a thin skin over the services.

Each command parses, calls one service, renders. ``run`` is the one error
handler: typed errors become one line on stderr and their exit code (SPEC
§5); anything else is an internal error with a traceback only under
``-v``. Global options are accepted after the command too (``supportctl
sync -q`` in a crontab) by hoisting them before typer sees argv.

Each run has its own ``Ctx`` (options, store, config, display zone and the
streams it reads and writes), handed to commands as ``ctx.obj``; nothing
of a run is kept at module level, so ``run`` can be called many times in
one process (the tests do) and ``main`` is ``sys.exit(run(argv))``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import typer

from supportctl.errors import NotFound, SupportError, UsageError

app = typer.Typer(
    name="supportctl",
    help="A small business's help desk in one command: email, SMS, WhatsApp, Telegram and "
    "Mastodon in one local ticket store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Ctx:
    """One invocation's context (todoman's ``AppContext``, httpie's
    ``Environment``): the global options, the store and config it opened,
    the display zone, and the streams it reads and writes. ``run`` makes
    one per run and the root callback fills in the options; commands
    receive it as ``ctx.obj``. Nothing of an invocation lives at module
    level, so two runs in one process (the in-process tests) cannot see
    each other's. A plain class, as every class on the read path: a
    dataclass's generated methods cost start-up milliseconds that `list`
    and `show` must not pay."""

    def __init__(self, stdin: IO[str] | None = None, stdout: IO[str] | None = None,
                 stderr: IO[str] | None = None) -> None:
        self.stdin: IO[str] = stdin or sys.stdin
        self.stdout: IO[str] = stdout or sys.stdout
        self.stderr: IO[str] = stderr or sys.stderr
        self.db: str | None = None
        self.config_path: str | None = None
        self.actor_opt: str | None = None
        self.quiet = False
        self.verbose = False
        self._store: Any = None
        self._config: Any = None
        self._cfg_loaded = False
        #: The display zone (``clock``), resolved at most once per run.
        self._zone: list[Any] = []
        self.extras: dict[str, Any] = {}
        #: The arguments being run (global options hoisted first).
        self.args: list[str] = []
        #: The signal (SIGTERM, SIGHUP) that asked this run to stop, if any:
        #: kept because the KeyboardInterrupt it raises can be swallowed
        #: (Python clears one raised while a file object is finalized), and
        #: ``sync --watch`` must still stop at its next pass.
        self.interrupted: int | None = None

    def cfg_path(self) -> Path:
        from supportctl.paths import default_config_path

        return Path(self.config_path).expanduser() if self.config_path else default_config_path()

    def db_location(self) -> Path | str:
        """First found: --db, SUPPORTCTL_DB, ``store:`` in the config, XDG;
        a ``postgresql://`` URL is kept as given (SPEC §13)."""
        from supportctl.store.engine import is_url

        if self.db:
            return self.db if is_url(self.db) else Path(self.db).expanduser()
        from supportctl.paths import default_data_dir, store_path_fast

        found = store_path_fast(self.cfg_path())
        if found:
            return found if is_url(found) else Path(found)  # already expanded and absolute
        return default_data_dir() / "supportctl.db"

    def db_path(self) -> Path:
        """The SQLite file of the store; commands that work on the file
        itself refuse a PostgreSQL store."""
        location = self.db_location()
        if isinstance(location, str):
            from supportctl.store.engine import require_ported

            require_ported(_command_words(self.args))
            raise UsageError(f"`{_command_words(self.args)}` needs a SQLite store path, not a URL")
        return location

    def store(self, *, create: bool = False) -> Any:
        """The store; one that does not exist is an error (a typo in --db
        must not mean a new empty store) unless ``create`` (init, import,
        demo, a configured sync)."""
        if self._store is None:
            from supportctl.store.db import open_store

            self._store = open_store(self.db_location(), create=create, command=_command_words(self.args))
        return self._store

    def config(self, *, required: bool = False) -> Any:
        # A config named with --config or SUPPORTCTL_CONFIG must exist: a
        # typo must not silently mean "no channels".
        required = required or bool(self.config_path)
        if not self._cfg_loaded or (required and self._config.path is None):
            from supportctl.config import load_config

            self._config = load_config(self.cfg_path(), required=required)
            self._cfg_loaded = True
        return self._config

    def me(self) -> str:
        """Who "me" is (``assign me``, ``--assignee me``): never a guess."""
        name = self.actor_opt or os.environ.get("USER") or os.environ.get("LOGNAME")
        if not name:
            raise UsageError(
                "who is \"me\"? pass --as NAME or set SUPPORTCTL_AGENT=NAME (e.g. in your shell profile)"
            )
        return self.actor

    @property
    def actor(self) -> str:
        if self.actor_opt and self.actor_opt != os.environ.get("SUPPORTCTL_AGENT"):
            # With agents configured, the name given must be one of them (a
            # typo would assign tickets to nobody anyone looks for).
            names = self.config().agent_names() if self.config() is not None else []
            if names and self.actor_opt not in names:
                import difflib

                close = difflib.get_close_matches(self.actor_opt, names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise UsageError(
                    f"--as {self.actor_opt!r} is not one of the configured agents{hint}: "
                    f"{', '.join(names)}"
                )
        if self.actor_opt:
            return self.actor_opt
        for var in ("SUPPORTCTL_AGENT", "USER", "LOGNAME"):
            if os.environ.get(var):
                return os.environ[var]
        try:
            return os.getlogin()
        except OSError:
            return "unknown"


#: The context of the invocation running in this thread, for the few
#: helpers far below a command that take no context argument (``render``'s
#: default streams, ``clock``'s zone). Set by ``run`` for one run and put
#: back after it; commands use the one passed to them. (A thread-local
#: rather than a ContextVar: threading is loaded already, contextvars is
#: not, and ``list`` pays for every import.)
_CURRENT = threading.local()


def current() -> Ctx:
    """The running invocation's context; outside one (a library caller,
    a unit test of ``render``) a fresh default one on the process's
    streams, which holds no store and no state between calls."""
    cx: Ctx | None = getattr(_CURRENT, "cx", None)
    return cx if cx is not None else Ctx()


def obj(ctx: typer.Context) -> Ctx:
    """The invocation's ``Ctx`` from a command's click context."""
    found = ctx.find_object(Ctx)
    if found is None:  # pragma: no cover - typer always runs the root callback first
        raise RuntimeError("no supportctl context: run through supportctl.cli.app.main")
    return found


def _command_words(args: list[str]) -> str:
    """The command's first two words after the global options (``db
    info``, ``tag vip``): which command a PostgreSQL store must know."""
    at = _command_index(args)
    if at is None:
        return ""
    return " ".join(a for a in args[at:at + 2] if not a.startswith("-"))


@app.callback()
def root(
    ctx: typer.Context,
    db: str | None = typer.Option(None, "--db", envvar="SUPPORTCTL_DB", help="Store path, or a postgresql:// URL.",
                           show_envvar=True),
    config: str | None = typer.Option(None, "--config", envvar="SUPPORTCTL_CONFIG",
                               help="Config file.", show_envvar=True),
    as_: str | None = typer.Option(None, "--as", envvar="SUPPORTCTL_AGENT",
                            help="Who you are, for the audit log.", show_envvar=True),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Say nothing unless something failed."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="More detail; tracebacks."),
) -> None:
    if not isinstance(ctx.obj, Ctx):  # typer's own runner (CliRunner) gives none
        ctx.obj = Ctx()
    cx = ctx.obj
    cx.db = db or None
    cx.config_path = config or None
    cx.actor_opt = as_ or None
    cx.quiet = quiet
    cx.verbose = verbose
    # A config named with --config or SUPPORTCTL_CONFIG must exist (init
    # writes it): a typo must not silently mean "no channels, default store".
    if config and ctx.invoked_subcommand != "init" and not Path(config).expanduser().exists():
        raise UsageError(f"no config file {config}: check the path, or run `supportctl init`")


_GLOBAL_VALUED = ("--db", "--config", "--as")
_GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose")


def hoist_globals(argv: list[str]) -> list[str]:
    """Move global options found after the command in front of it."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            rest += argv[i:]
            break
        name = a.split("=", 1)[0]
        if name in _GLOBAL_VALUED:
            if "=" in a:
                front.append(a)
            elif i + 1 < len(argv):
                front += [a, argv[i + 1]]
                i += 1
            else:
                rest.append(a)
        elif a in _GLOBAL_FLAGS:
            front.append(a)
        else:
            rest.append(a)
        i += 1
    return front + rest


_SEARCH_VALUED = ("-n", "--limit", "--offset", "-f", "--format")


def protect_search_terms(args: list[str]) -> list[str]:
    """``search uhr -tag:warranty``: a negated term looks like an option to
    click. Put search's own options first and every query term after ``--``."""
    at = _command_index(args)
    if at is None or args[at] != "search" or "--" in args:
        return args
    head, rest = args[: at + 1], args[at + 1 :]
    opts: list[str] = []
    terms: list[str] = []
    i = 0
    while i < len(rest):
        a = rest[i]
        if a in _SEARCH_VALUED and i + 1 < len(rest):
            opts += [a, rest[i + 1]]
            i += 2
            continue
        if a.split("=", 1)[0] in _SEARCH_VALUED or a in ("-h", "--help"):
            opts.append(a)
        else:
            terms.append(a)
        i += 1
    return head + opts + (["--", *terms] if terms else [])


def _command_index(args: list[str]) -> int | None:
    """Where the command name is: the first word that is neither a global
    option nor its value (``list --query search`` is the list command)."""
    i = 0
    while i < len(args):
        if args[i] in _GLOBAL_VALUED:
            i += 2
            continue
        if args[i].startswith("-"):
            i += 1
            continue
        return i
    return None


def read_ids(values: list[str], stdin: IO[str]) -> list[int]:
    """Ticket ids from arguments; ``-`` reads them from ``stdin`` (the
    invocation's). Nothing on stdin is no ids, not an error: ``list --tag
    spam --format ids | close -`` in a cron job must not fail on a day
    without spam."""
    out: list[int] = []
    for v in values:
        if v == "-":
            for tok in stdin.read().split():
                out.append(_int_id(tok))
        else:
            out.append(_int_id(v))
    if not out and "-" not in values:
        raise UsageError("no ticket ids given")
    return out


#: The largest id SQLite can hold (a signed 64-bit integer). Ids, limits
#: and offsets typed at the command line are checked against it where they
#: are read (``read_ids``, and typer's ``min``/``max`` as ``**ID_RANGE``),
#: so none reaches the store as "Python int too large".
ID_MAX = 2**63 - 1
ID_RANGE: dict[str, Any] = {"min": 1, "max": ID_MAX}
COUNT_RANGE: dict[str, Any] = {"min": 0, "max": ID_MAX}


def read_id(value: str, stdin: IO[str]) -> int:
    """One ticket id (``-``: the first on stdin)."""
    ids = read_ids([value], stdin)
    if not ids:
        raise UsageError("no ticket id given (stdin was empty)")
    return ids[0]


def _int_id(tok: str) -> int:
    try:
        value = int(tok.lstrip("#"))
    except ValueError:
        raise UsageError(f"{tok!r} is not a ticket id") from None
    if not 1 <= value <= ID_MAX:
        raise UsageError(f"{tok!r} is not a ticket id: ids are whole numbers from 1 to {ID_MAX}")
    return value


def for_each(ids: list[int], action: Any) -> None:
    """Run ``action(id)`` on each id; unknown ids are reported and the rest
    still done, then exit 3 (SPEC §5)."""
    from supportctl.cli import render

    missing = 0
    for tid in ids:
        try:
            action(tid)
        except NotFound as exc:
            render.error(str(exc))
            missing += 1
    if missing:
        raise typer.Exit(3)


def now_iso() -> str:
    """Now, as the store writes times (SPEC §6); without importing models,
    which the read path does not otherwise need."""
    import os
    import time

    if os.environ.get("SUPPORTCTL_NOW"):  # the pinned clock lives in models
        from supportctl.values import iso, utcnow

        return iso(utcnow()) or ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


#: Which module defines each command. Only the module of the command being
#: run is imported (and turned into click objects by typer): building all
#: ~40 commands costs tens of milliseconds that `list` must not pay.
COMMAND_MODULES = {
    **dict.fromkeys(
        ("list", "show", "search", "new", "note", "tag", "untag", "assign", "priority", "solve",
         "close", "reopen", "snooze", "spam", "unspam", "merge", "delete", "attachments"), "tickets"),
    **dict.fromkeys(("reply", "sync", "outbox", "quarantine"), "channels"),
    **dict.fromkeys(("export", "import", "db", "demo"), "data"),
    **dict.fromkeys(("init", "config", "template"), "admin"),
    "contact": "contacts",
    "triage": "triage",
    **dict.fromkeys(("claim", "unclaim", "next"), "team"),
    "report": "report",
    **dict.fromkeys(("suggest", "kb"), "answers"),
    "notify": "notify",
    "rules": "rules",
    "serve": "serve",
}


def _register(args: list[str]) -> None:
    import importlib

    at = _command_index(args)
    command = args[at] if at is not None else None
    module = COMMAND_MODULES.get(command or "")
    # --help lists commands in this order: daily work first.
    names = [module] if module else ["tickets", "channels", "triage", "team", "answers", "contacts",
                                         "data", "report", "admin", "rules", "notify", "serve"]
    for name in names:
        importlib.import_module(f"supportctl.cli.{name}")


@contextlib.contextmanager
def _only_invoked(args: list[str]) -> Iterator[None]:
    """While the command runs, leave only it registered: typer turns every
    registered command into click objects (reading each one's signature
    and type hints) before running any, and a module such as ``tickets``
    defines eighteen. ``list`` must pay for ``list`` alone. Restored after,
    for a caller that runs the command line again in the same process."""
    from typer.main import get_command_name

    at = _command_index(args)
    command = args[at] if at is not None else ""

    def name_of(info: Any) -> str:
        if info.name:
            return str(info.name)
        return get_command_name(info.callback.__name__) if info.callback else ""

    saved = app.registered_commands[:], app.registered_groups[:]
    commands = [c for c in saved[0] if name_of(c) == command]
    groups = [g for g in saved[1] if g.name == command]
    if command in COMMAND_MODULES and (commands or groups):
        app.registered_commands[:] = commands
        app.registered_groups[:] = groups
    before = {id(c) for c in app.registered_commands} | {id(g) for g in app.registered_groups}
    try:
        yield
    finally:
        # A command may import another command module while it runs (import
        # loads cli.channels, export cli.tickets): what that registered is
        # kept, or the next run in this process would not find it.
        app.registered_commands[:] = saved[0] + [
            c for c in app.registered_commands if id(c) not in before]
        app.registered_groups[:] = saved[1] + [
            g for g in app.registered_groups if id(g) not in before]


def _click_exceptions() -> Any:
    """typer ≥ 0.22 vendors click; older ones use click itself."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - older typer
        from click import exceptions  # type: ignore[no-redef]
    return exceptions


def _interrupted(signum: int, frame: Any) -> None:
    import signal

    cx: Ctx | None = getattr(_CURRENT, "cx", None)
    if cx is not None:
        cx.interrupted = signum
    # Once is enough: a repeated SIGTERM/SIGHUP must not cut the clean-up.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


def _say_interrupted(err: IO[str]) -> None:
    try:
        err.write("interrupted: nothing half-written was kept; run the command again\n")
        err.flush()
    except OSError:  # SIGHUP: the terminal may be gone
        pass


def _refresh_sla(cx: Ctx) -> None:
    """After a command that wrote, recompute the due times its changes made
    stale (a priority, tag, channel or pending change: triggers mark them),
    so a ticket made urgent gets the urgent targets at once. Read commands
    wrote nothing and pay nothing. Without a loadable config the marks stay
    for the next ``sync``."""
    store = cx._store
    try:
        if not store.changed():
            return
        from supportctl.store.sla import any_stale

        if not any_stale(store):
            return
        from supportctl.services import sla

        with store.tx():
            sla.refresh_stale(store, cx.config())
    except Exception:  # the command itself succeeded; sync will catch up
        return


def main(argv: list[str] | None = None) -> None:
    """The ``supportctl`` program: runs the command line on the process's
    own streams and environment, and exits with its code."""
    import signal

    code = run(list(sys.argv[1:] if argv is None else argv))
    # The run is over and its code decided; what is left is the interpreter
    # closing down (a tenth of a second with the modules a sync loads). A
    # SIGTERM or SIGHUP then (cron's timeout, a closing SSH session: the
    # run's own handlers are gone) killed the process by that signal, which
    # cron and scripts read as a crash, after the work was done and said.
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    # CPython remembers a KeyboardInterrupt that ended any string exec or
    # eval (dataclasses and namedtuple build their methods that way), even
    # one caught since, and under ``python -m`` then kills itself with
    # SIGINT at exit (status -2) instead of exiting with our 130. A string
    # eval that completes clears that mark.
    exec("None")  # noqa: S102 - a constant string
    sys.exit(code)


def run(argv: list[str], *, env: Mapping[str, str] | None = None, stdin: IO[str] | None = None,
        stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    """Run one command line and return its exit code, without exiting.

    ``stdin``/``stdout``/``stderr`` default to the process's; given ones
    (a ``StringIO``) are what the command reads and writes, through its
    context, and also stand in for ``sys.std*`` during the run, because
    typer and click write help and usage errors there. ``env`` replaces
    ``os.environ`` for the run (the services read ``SUPPORTCTL_NOW``, the
    XDG paths and secrets' ``_env`` from it) and is put back after. This is
    how the tests run most commands in-process; it is not thread-safe (the
    environment and ``sys.std*`` are the process's)."""
    import signal

    cx = Ctx(stdin=stdin or sys.stdin, stdout=stdout or sys.stdout, stderr=stderr or sys.stderr)
    with contextlib.ExitStack() as stack:
        if env is not None:
            stack.enter_context(_environment(env))
        if stdin is not None:
            stack.enter_context(_swap_sys("stdin", stdin))
        if stdout is not None:
            stack.enter_context(contextlib.redirect_stdout(stdout))
        if stderr is not None:
            stack.enter_context(contextlib.redirect_stderr(stderr))
        if threading.current_thread() is threading.main_thread():
            # cron's timeout (SIGTERM) and a closed SSH session (SIGHUP) end
            # a run as Ctrl-C does: transactions roll back, temp files go,
            # locks are freed. The caller's handlers come back afterwards.
            for sig in (signal.SIGTERM, signal.SIGHUP):
                stack.callback(signal.signal, sig, signal.signal(sig, _interrupted))
        stack.callback(setattr, _CURRENT, "cx", getattr(_CURRENT, "cx", None))
        _CURRENT.cx = cx
        return _run(cx, argv)
    raise AssertionError("unreachable")  # pragma: no cover - for mypy


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    import time

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    time.tzset()  # TZ may differ: the system zone is read from it
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        time.tzset()


@contextlib.contextmanager
def _swap_sys(name: str, stream: IO[str]) -> Iterator[None]:
    saved = getattr(sys, name)
    setattr(sys, name, stream)
    try:
        yield
    finally:
        setattr(sys, name, saved)


def _run(cx: Ctx, argv: list[str]) -> int:
    cxs = _click_exceptions()
    args = protect_search_terms(hoist_globals(list(argv)))
    verbose = "-v" in args or "--verbose" in args
    cx.args = args
    code = 0
    try:
        _register(args)
        with _only_invoked(args):
            rv = app(args=args, prog_name="supportctl", standalone_mode=False, obj=cx)
        code = rv if isinstance(rv, int) else 0
        if code == 130:  # typer returns Ctrl-C (and SIGTERM, SIGHUP) as 130, silently
            _say_interrupted(cx.stderr)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        cx.stderr.write("interrupted\n")
        code = 130
    except cxs.UsageError as exc:
        # one line, as every other error (click's own is four: usage, a
        # hint, a blank line, the error)
        where = exc.ctx.command_path if exc.ctx is not None else "supportctl"
        message = exc.format_message().strip()
        if type(exc).__name__ == "NoArgsIsHelpError" or not message:
            exc.show(file=cx.stderr)  # a group with no command: its help
        else:
            from supportctl.cli import render

            render.error(f"{where}: {message} ('{where} -h' lists what it takes)", cx.stderr)
        code = 2
    except cxs.ClickException as exc:
        exc.show(file=cx.stderr)
        code = exc.exit_code
    except SupportError as exc:
        from supportctl.cli import render

        problems = getattr(exc, "problems", None)
        if problems and len(problems) > 1:
            for p in problems:
                render.error(p, cx.stderr)
        else:
            render.error(str(exc), cx.stderr)
        if verbose:
            import traceback

            traceback.print_exc(file=cx.stderr)
        code = exc.exit_code
    except KeyboardInterrupt:
        _say_interrupted(cx.stderr)
        code = 130
    except SystemExit as exc:
        if isinstance(exc.__context__, BrokenPipeError):
            # click ends a closed pipe with sys.exit(1): as below, quietly.
            _silence(cx.stdout)
            code = 0
        else:
            code = exc.code if isinstance(exc.code, int) else 1
    except BrokenPipeError:
        # `| head` closed the pipe: end quietly (and keep Python from
        # complaining while flushing stdout at exit).
        _silence(cx.stdout)
        code = 0
    except Exception as exc:  # the last line of defence: one line, no secrets
        from supportctl.cli import render

        render.error(f"internal error ({type(exc).__name__}: {exc}); run with -v for the traceback",
                     cx.stderr)
        if verbose:
            import traceback

            traceback.print_exc(file=cx.stderr)
        code = 1
    finally:
        if cx._store is not None:
            _refresh_sla(cx)
            try:
                cx._store.close()
            except BaseException:  # also a second interrupt while closing
                pass
    try:
        cx.stdout.flush()
    except BrokenPipeError:
        _silence(cx.stdout)
    return code


def _silence(out: IO[str]) -> None:
    """Point a closed pipe's descriptor at /dev/null (a real stream only)."""
    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
