"""The knowledge base (SPEC §11): a folder of Markdown articles, each with
YAML front matter (``title``, ``language``, ``tags``; ``draft: true`` on
one that a person has not yet reviewed), named ``SLUG.md``.

Invariants:
- a draft is never exported, suggested nor sent: ``kb from-ticket`` writes
  drafts, because the customer's words in them may carry personal data;
- the exported site is static and works offline: no remote resource, the
  search box is a small inline script over an inline index, and without
  script every article is still listed on the index page;
- Markdown is rendered with raw HTML escaped (markdown-it, ``html=False``),
  so an article cannot put a script on the site.
"""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from supportctl.errors import NotFound, UsageError

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_LANG = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")


@dataclass
class Article:
    slug: str
    title: str
    language: str | None
    tags: list[str]
    body: str
    path: Path
    draft: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self, *, body: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"slug": self.slug, "title": self.title, "language": self.language,
                               "tags": self.tags, "draft": self.draft, "path": str(self.path)}
        if body:
            out["body"] = self.body
        return out


def slugify(title: str) -> str:
    from supportctl.services.answers import fold

    slug = re.sub(r"[^a-z0-9]+", "-", fold(title)).strip("-")[:60].strip("-")
    return slug or "article"


def parse_article(path: Path) -> Article:
    """One article file; a UsageError naming the file when its front
    matter is not a YAML mapping with a title."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text: save it as UTF-8") from None
    meta: Any = {}
    body = text
    m = re.match(r"^---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(\r?\n|$)", text, re.S)
    if m:
        try:
            meta = yaml.safe_load(m.group(1)) or {}
        except yaml.YAMLError as exc:
            raise UsageError(f"{path}: front matter is not valid YAML ({exc.__class__.__name__});"
                             " fix the lines between the --- marks") from None
        body = text[m.end():]
    if not isinstance(meta, dict):
        raise UsageError(f"{path}: front matter must be keys (title, language, tags)")
    title = str(meta.get("title") or "").strip()
    if not title:
        raise UsageError(f"{path}: no title in the front matter: add `title: ...` between --- marks")
    tags = meta.get("tags") or []
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    lang = str(meta.get("language") or "").strip().lower() or None
    if lang is not None and not _LANG.match(lang):
        raise UsageError(f"{path}: language {lang!r} is not a language code: use e.g. it, en, pt-br")
    return Article(slug=path.stem, title=title, language=lang,
                   tags=[str(t) for t in tags], body=body, path=path,
                   draft=bool(meta.get("draft", False)),
                   extra={k: v for k, v in meta.items()
                          if k not in ("title", "language", "tags", "draft")})


def load(folder: Path, *, strict: bool = True) -> list[Article]:
    """Every article of the folder (none when it does not exist), by slug.
    A broken one is an error naming it, or with ``strict=False`` left out
    (an automatic reply goes out without it: `kb list` shows the error)."""
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.glob("*.md"), key=lambda p: p.stem):
        try:
            out.append(parse_article(p))
        except UsageError:
            if strict:
                raise
    return out


def find(folder: Path, slug: str) -> Article:
    path = folder / f"{slug.removesuffix('.md')}.md"
    if not _SLUG.match(path.stem) or not path.is_file():
        known = ", ".join(a.slug for a in load(folder)[:10]) or "none"
        raise NotFound(f"no article {slug!r} in {folder} (articles: {known}); see `supportctl kb list`")
    return parse_article(path)


def _front(title: str, language: str | None, tags: list[str], extra: dict[str, Any]) -> str:
    import yaml

    meta: dict[str, Any] = {"title": title, "language": language, "tags": tags, **extra}
    return "---\n" + yaml.safe_dump(meta, allow_unicode=True, sort_keys=False) + "---\n"


def write_new(folder: Path, title: str, language: str | None, tags: list[str], body: str,
              *, extra: dict[str, Any] | None = None, slug: str | None = None) -> Path:
    """Create an article file; never overwrites one (a ``-2`` suffix)."""
    if not title.strip():
        raise UsageError("an article needs a title")
    folder.mkdir(parents=True, exist_ok=True)
    base = slug or slugify(title)
    if not _SLUG.match(base):
        raise UsageError(f"bad article name {base!r}: use lower-case letters, digits and -")
    path = folder / f"{base}.md"
    n = 2
    while path.exists():
        path = folder / f"{base}-{n}.md"
        n += 1
    text = _front(title.strip(), language, tags, extra or {}) + "\n" + body.rstrip() + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def draft_from_ticket(store: Any, folder: Path, ticket_id: int, title: str | None = None) -> Path:
    """A draft article from a solved ticket's question and our final reply,
    for a person to edit (``draft: true`` until they remove it)."""
    from supportctl.services.answers import answer_text, detect_language, strip_quotes
    from supportctl.services.triage import require
    from supportctl.store.answers import question_and_answer

    require(store, ticket_id)  # NotFound names the next command
    qa = question_and_answer(store, ticket_id)
    if qa is None:
        raise UsageError(f"ticket #{ticket_id} has no customer question and agent reply to draft"
                         " from: answer it first")
    question = strip_quotes(qa["question"]).strip()
    answer = answer_text(qa["answer"])
    body = (f"{answer}\n\n<!-- Drafted from ticket #{ticket_id}. Remove names, numbers and"
            " anything personal, rewrite for every customer, then delete `draft: true`"
            " above. The customer asked:\n\n"
            + question.replace("-->", "- ->") + "\n-->\n")
    return write_new(folder, title or qa["subject"] or f"Ticket {ticket_id}",
                     detect_language(question), qa["tags"], body,
                     extra={"draft": True, "source_ticket": ticket_id})


def search(articles: list[Article], text: str) -> list[tuple[Article, float, list[str]]]:
    """Articles for a free-text question, best first (drafts included:
    this is for the team)."""
    from supportctl.services import answers

    terms = _plain_terms(text, articles)
    out = []
    for a in articles:
        s, matched = answers.score(terms, f"{a.title}\n{' '.join(a.tags)}\n{a.body}")
        if s > 0:
            out.append((a, s, matched))
    out.sort(key=lambda x: -x[1])
    return out


def _plain_terms(text: str, articles: list[Article]) -> Any:
    """Terms weighted by rarity among the articles themselves (no store)."""
    import math

    from supportctl.services import answers

    found: dict[str, str] = {}
    for w in answers.content_words(text):
        found.setdefault(answers.stem(w), w)
    docs = [{answers.stem(w) for w in answers.content_words(f"{a.title} {a.body}")}
            for a in articles]
    idf = {}
    for s in found:
        df = sum(1 for d in docs if any(x.startswith(s) for x in d))
        idf[s] = math.log(1 + (len(docs) + 1) / (df + 1))
    return answers.Terms(stems=list(found), idf=idf, words_of=found,
                         language=answers.detect_language(text))


def url_for(base_url: str | None, article: Article) -> str | None:
    if not base_url:
        return None
    return f"{base_url.rstrip('/')}/{article.language or 'und'}/{quote(article.slug)}.html"


# -- the static FAQ site ----------------------------------------------------

_CSS = """
body{font:16px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;
max-width:46rem;padding:1rem;color:#1d1d1f;background:#fff}
h1{font-size:1.6rem}a{color:#0b57d0}input{width:100%;font-size:1.1rem;padding:.5rem;
box-sizing:border-box}li{margin:.3rem 0}.tags{color:#666;font-size:.9rem}
pre{overflow:auto;background:#f4f4f4;padding:.5rem}
"""


def _page(title: str, lang: str, body: str) -> str:
    return (
        f'<!doctype html>\n<html lang="{html.escape(lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def _render_md(text: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).render(text)


_SEARCH_JS = """
(function(){var idx=JSON.parse(document.getElementById('idx').textContent);
var box=document.getElementById('q'),items=document.querySelectorAll('li[data-i]');
function fold(s){return s.toLowerCase().normalize('NFD').replace(/[\\u0300-\\u036f]/g,'');}
box.addEventListener('input',function(){var ws=fold(box.value).split(/[^\\p{L}\\p{N}]+/u)
.filter(function(w){return w.length>1;});items.forEach(function(li){var t=idx[li.dataset.i];
li.hidden=!ws.every(function(w){return t.indexOf(w)>=0;});});});})();
"""


def export_html(articles: list[Article], target: Path) -> list[Path]:
    """Write the FAQ site: ``target/index.html`` (every language, a search
    box) and ``target/LANG/SLUG.html`` per article. Drafts are left out."""
    public = [a for a in articles if not a.draft]
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    by_lang: dict[str, list[Article]] = {}
    for a in public:
        by_lang.setdefault(a.language or "und", []).append(a)
    index: list[str] = []
    sections = []
    for lang in sorted(by_lang):
        (target / lang).mkdir(exist_ok=True)
        items = []
        for a in sorted(by_lang[lang], key=lambda a: a.title.lower()):
            tags = f'<p class="tags">{html.escape(", ".join(a.tags))}</p>' if a.tags else ""
            page = _page(a.title, lang, f'<p><a href="../index.html">&larr; FAQ</a></p>'
                         f"<h1>{html.escape(a.title)}</h1>{tags}{_render_md(a.body)}")
            path = target / lang / f"{a.slug}.html"
            path.write_text(page, encoding="utf-8")
            written.append(path)
            from supportctl.services.answers import fold

            index.append(fold(f"{a.title} {' '.join(a.tags)} {a.body}"))
            href = html.escape(quote(f"{lang}/{a.slug}.html"))
            items.append(f'<li data-i="{len(index) - 1}"><a href="{href}">'
                         f"{html.escape(a.title)}</a></li>")
        sections.append(f'<h2 id="{lang}" lang="{lang}">{html.escape(lang)}</h2><ul>'
                        + "".join(items) + "</ul>")
    data = json.dumps(index, ensure_ascii=True).replace("</", "<\\/")
    body = ('<h1>FAQ</h1><label for="q">Search</label> <input id="q" type="search" '
            'autocomplete="off">' + "".join(sections)
            + f'<script type="application/json" id="idx">{data}</script>'
            + f"<script>{_SEARCH_JS}</script>")
    index_path = target / "index.html"
    index_path.write_text(_page("FAQ", "mul", body), encoding="utf-8")
    written.insert(0, index_path)
    return written


def auto_reply_articles(store: Any, config: Any, ticket_id: int) -> str:
    """Text to add to an automatic reply: the best articles for the ticket
    above ``kb.auto_reply_min_score`` (at most ``kb.auto_reply``), each with
    its URL when ``kb.base_url`` is set, else its text. Empty when off or
    when nothing is good enough."""
    from supportctl.services import answers

    kb = getattr(config, "kb", None)
    if kb is None or not kb.auto_reply:
        return ""
    terms = answers.ticket_terms(store, ticket_id)
    if terms is None:
        return ""
    articles = load(kb.folder(config), strict=False)
    found = answers.from_articles(terms, articles)
    found = [s for s in found if s.score >= kb.auto_reply_min_score
             and (terms.language is None or s.language in (None, terms.language))]
    found.sort(key=lambda s: -s.score)
    parts = []
    by_slug = {a.slug: a for a in articles}
    for s in found[: kb.auto_reply]:
        a = by_slug[s.article or ""]
        url = url_for(kb.base_url, a)
        parts.append(f"- {a.title}: {url}" if url else f"{a.title}\n\n{a.body.strip()}")
    return "\n\n".join(parts)
