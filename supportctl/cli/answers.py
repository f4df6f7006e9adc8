"""``suggest`` and ``kb``: answers from the store's history and the
knowledge base (SPEC §11). Suggestions are printed for the agent; nothing
here sends a message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from supportctl.cli.app import Ctx, app, obj
from supportctl.errors import UsageError

kb_app = typer.Typer(help="Knowledge base: Markdown articles for customers and agents.",
                     no_args_is_help=True)
app.add_typer(kb_app, name="kb")

_FMT = typer.Option(None, "--format", "-f", help="table or json (default: table)")


def _fmt(value: str | None) -> str:
    fmt = value or "table"
    if fmt not in ("table", "json"):
        raise UsageError(f"unknown --format {fmt!r}: use table or json")
    return fmt


def _kb_folder(cx: Ctx) -> Path:
    cfg = cx.config()
    return Path(cfg.kb.folder(cfg))


def _articles(cx: Ctx) -> list[Any]:
    from supportctl.services import kb

    return kb.load(_kb_folder(cx))


@app.command()
def suggest(ctx: typer.Context,
    ticket_id: int = typer.Argument(..., metavar="ID"),
    fmt: str | None = _FMT,
    limit: int = typer.Option(3, "--limit", help="How many suggestions (default 3)."),
    semantic: bool | None = typer.Option(
        None, "--semantic/--no-semantic",
        help="Merge offline embeddings (the supportctl[semantic] extra) with full text;"
             " default: the config's suggest.semantic (off)."),
) -> None:
    """Up to 3 answers for a ticket from solved tickets and the knowledge base (never sent)."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.services import answers

    fmt = _fmt(fmt)
    store = cx.store(create=False)
    # Suggest reads two blocks of the config, kb: (folder, base URL) and
    # suggest: (semantic). Without them the articles are in kb/ beside the
    # config file and the YAML is not loaded: parsing and checking it cost
    # more than the suggestion itself.
    from supportctl.paths import mentions_fast

    path = cx.cfg_path()
    wanted = False
    if (mentions_fast(path, "kb") or mentions_fast(path, "suggest")
            or (cx.config_path and not path.exists())):
        cfg = cx.config()  # (a missing --config file is an error there)
        folder, base_url = Path(cfg.kb.folder(cfg)), cfg.kb.base_url
        wanted = cfg.suggest.semantic
    else:
        folder, base_url = path.parent / "kb", None
    articles: list[Any] = []
    if folder.is_dir():
        from supportctl.services import kb

        articles = kb.load(folder)
    index = semantic_index(cx, store, articles) if (wanted if semantic is None else semantic) else None
    found = answers.suggest(store, ticket_id, articles, limit=max(limit, 0), semantic=index)
    by_slug = {a.slug: a for a in articles}
    for s in found:
        if s.article and s.article in by_slug:
            from supportctl.services import kb

            s.url = kb.url_for(base_url, by_slug[s.article])
    if fmt == "json":
        render.write_json([s.to_json() for s in found])
        return
    if not found:
        render.info(f"no suggestions for #{ticket_id}: nothing solved before looks like it")
        return
    _print_suggestions(cx, found)


def semantic_index(cx: Ctx, store: Any, articles: list[Any]) -> Any:
    """The semantic extra's index, ready: on first use every solved ticket
    is embedded (with progress on a terminal), later only changed articles
    (``sync`` embeds newly solved tickets: looking for them costs more
    than the suggestion); None, and one line saying what to install, when
    the extra is missing."""
    from supportctl.cli import render
    from supportctl.services import semantic

    if not semantic.available():
        render.info(semantic.INSTALL_HINT)
        return None
    index = semantic.SemanticIndex(store)
    if not store.readonly:  # a reader uses the vectors there are
        with render.progress(quiet=cx.quiet) as shown:
            index.update(articles, progress=shown, tickets=not index.has_tickets())
    return index


_METHODS = {"full-text": "full text", "semantic": "meaning", "full-text+semantic": "full text + meaning"}


def _print_suggestions(cx: Ctx, found: list[Any]) -> None:
    from supportctl.safe import clean, one_line

    out = cx.stdout
    for n, s in enumerate(found, 1):
        what = f"ticket #{s.ticket_id}" if s.kind == "ticket" else f"article {s.article}"
        why = f"matched: {one_line(', '.join(s.matched), 120)}"
        if s.method is not None:  # semantic suggestions on: say which method found it
            why = f"by {_METHODS.get(s.method, s.method)}" + (
                f" (similarity {s.similarity:.2f})" if s.similarity is not None else "") + (
                f"  {why}" if s.matched else "")
        # The article's name and language come from the shop's files: cleaned too.
        out.write(clean(f"{n}. {what}  score {s.score:.2f}  [{s.language or '?'}]  {why}") + "\n")
        out.write(f"   Q: {one_line(s.question, 160)}\n")
        answer = clean(s.answer).strip().splitlines()
        for k, line in enumerate(answer[:6]):
            out.write(f"   A: {line}\n" if k == 0 else f"      {line}\n")
        if len(answer) > 6:
            out.write("      […]\n")
        if s.url:
            out.write(f"   {one_line(s.url)}\n")


@kb_app.command("list")
def kb_list(ctx: typer.Context, fmt: str | None = _FMT,
            language: str | None = typer.Option(None, "--language", "-l")) -> None:
    """Articles: name, language, title, tags."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.safe import one_line

    fmt = _fmt(fmt)
    items = [a for a in _articles(cx) if not language or a.language == language]
    if fmt == "json":
        render.write_json([a.to_json() for a in items])
        return
    if not items:
        render.info(f"no articles in {_kb_folder(cx)}: `supportctl kb new TITLE` writes one")
    for a in items:
        cx.stdout.write(f"{one_line(a.slug)}\t{one_line(a.language) or '-'}\t"
                         f"{one_line(a.title, 80)}\t{one_line(','.join(a.tags))}"
                         f"{chr(9) + 'draft' if a.draft else ''}\n")


@kb_app.command("show")
def kb_show(ctx: typer.Context, name: str = typer.Argument(..., metavar="NAME"), fmt: str | None = _FMT) -> None:
    """One article."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.safe import clean
    from supportctl.services import kb

    fmt = _fmt(fmt)
    a = kb.find(_kb_folder(cx), name)
    if fmt == "json":
        render.write_json([a.to_json(body=True)])
        return
    cx.stdout.write(clean(f"{a.title}\n[{a.language or '-'}] {', '.join(a.tags)}"
                           f"{'  (draft)' if a.draft else ''}\n\n{a.body.strip()}\n"))


@kb_app.command("new")
def kb_new(ctx: typer.Context,
    title: str = typer.Argument(...),
    language: str | None = typer.Option(None, "--language", "-l", help="ISO 639-1, e.g. it"),
    tags: str = typer.Option("", "--tags", help="Comma-separated."),
    message: str | None = typer.Option(None, "--message", "-m", help="The article's text."),
) -> None:
    """Write a new article (opens $EDITOR on a terminal when no -m is given)."""
    cx = obj(ctx)
    from supportctl.services import kb

    body = message if message is not None else "Write the answer here.\n"
    path = kb.write_new(_kb_folder(cx), title, language,
                        [t.strip() for t in tags.split(",") if t.strip()], body)
    _maybe_edit(cx, path, message is None)
    cx.stdout.write(f"{path}\n")


def _maybe_edit(cx: Ctx, path: Path, wanted: bool) -> None:
    import os
    import shlex
    import subprocess

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if wanted and editor and cx.stdin.isatty() and cx.stdout.isatty():
        subprocess.run([*shlex.split(editor), str(path)], check=False)


@kb_app.command("from-ticket")
def kb_from_ticket(ctx: typer.Context, ticket_id: int = typer.Argument(..., metavar="ID"),
                   title: str | None = typer.Option(None, "--title")) -> None:
    """Draft an article from a solved ticket's question and answer, for a person to edit."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.services import kb

    path = kb.draft_from_ticket(cx.store(create=False), _kb_folder(cx), ticket_id, title)
    _maybe_edit(cx, path, True)
    cx.stdout.write(f"{path}\n")
    render.info("a draft: it is not exported or sent until you remove `draft: true`")


@kb_app.command("search")
def kb_search(ctx: typer.Context, query: list[str] = typer.Argument(..., metavar="WORDS"), fmt: str | None = _FMT
              ) -> None:
    """Articles that answer a question, best first."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.safe import one_line
    from supportctl.services import kb

    fmt = _fmt(fmt)
    found = kb.search(_articles(cx), " ".join(query))
    if fmt == "json":
        render.write_json([{**a.to_json(), "score": s, "matched": m} for a, s, m in found])
        return
    for a, s, m in found:
        cx.stdout.write(f"{one_line(a.slug)}\t{s:.2f}\t{one_line(a.language) or '-'}\t"
                         f"{one_line(a.title, 80)}\t{one_line(', '.join(m))}\n")


@kb_app.command("export")
def kb_export(ctx: typer.Context, html_dir: Path = typer.Option(..., "--html", metavar="DIR",
                                            help="Write the static FAQ site here.")) -> None:
    """Write a static FAQ site (index.html with a search box, one page per article)."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.services import kb

    written = kb.export_html(_articles(cx), html_dir)
    render.info(f"wrote {len(written) - 1} articles; open {html_dir / 'index.html'}")
