"""Where supportctl keeps its config and data (XDG), and a cheap look into
the config file: what a command that reads no config, or only one optional
block of it, needs without importing the config module and yaml (together
more than a ``suggest`` costs on its own)."""

from __future__ import annotations

import os
import re
from pathlib import Path


def default_config_path() -> Path:
    """``$SUPPORTCTL_CONFIG``, else ``$XDG_CONFIG_HOME/supportctl/config.yaml``."""
    env = os.environ.get("SUPPORTCTL_CONFIG")
    if env:
        return Path(env).expanduser()
    return _xdg("XDG_CONFIG_HOME", ".config") / "supportctl" / "config.yaml"


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/supportctl`` (default ``~/.local/share/supportctl``)."""
    return _xdg("XDG_DATA_HOME", ".local/share") / "supportctl"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/supportctl`` (default ``~/.cache/supportctl``):
    files rebuilt from what is installed, never customer data."""
    return _xdg("XDG_CACHE_HOME", ".cache") / "supportctl"


def _xdg(var: str, fallback: str) -> Path:
    # The XDG spec says a relative value is invalid and must be ignored.
    value = os.environ.get(var, "")
    return Path(value) if os.path.isabs(value) else Path.home() / fallback


_TOP_KEY = re.compile(r"""^["']?([A-Za-z_][A-Za-z0-9_]*)["']?[ \t]*:""")


def mentions_fast(config_path: Path, key: str) -> bool:
    """Whether the config file may set the top-level ``key``, by a line scan
    that does not import yaml: False only when the file is missing or no
    line starts with ``key:``; a document that is not in block style
    (``{...}``), an anchor or a merge key answers True (read it with yaml).
    A command whose only use of the config is one optional block skips the
    YAML when that block is absent (``suggest`` and ``kb:``)."""
    try:
        with open(config_path, encoding="utf-8-sig") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError):
        return False
    for line in text.splitlines():
        if line.startswith(("{", "<<", "&", "*", "? ")):
            return True
        m = _TOP_KEY.match(line)
        if m and m.group(1) == key:
            return True
    return False


# -- the store and timezone values, without yaml (list, show) ----------------


def _store_value(value: str, config_path: Path) -> str:
    """``~`` expanded; a relative path is relative to the config's directory;
    a ``postgresql://`` URL as written (SPEC §13)."""
    if value.lower().startswith(("postgresql://", "postgres://")):
        return value
    try:
        p = Path(value).expanduser()
    except RuntimeError:  # "~user" for a user that does not exist: keep it literal
        p = Path(value)
    if not p.is_absolute():
        p = config_path.parent / p
    return str(p)


_STORE_LINE = re.compile(r"""^(?:store|"store"|'store')[ \t]*:(?:[ \t]+(.*?))?[ \t]*$""")
_NULLS = ("", "~", "null", "Null", "NULL")
_DQ_ESCAPES = {"\\": "\\", '"': '"', "/": "/", " ": " ", "t": "\t", "\t": "\t",
               "n": "\n", "r": "\r", "0": "\0", "a": "\a", "b": "\b", "e": "\x1b",
               "f": "\f", "v": "\v", "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029"}


class _Unusual(Exception):
    """The scan met YAML it does not handle; the caller asks yaml."""


def store_path_fast(config_path: Path) -> str | None:
    """The top-level ``store:`` value, by a line scan that does not import yaml
    (see ``_top_scalar_fast``); ``~`` expanded, relative to the config."""
    value = _top_scalar_fast(config_path, "store", _STORE_LINE)
    return _store_value(value, config_path) if value is not None else None


_TZ_LINE = re.compile(r"""^(?:timezone|"timezone"|'timezone')[ \t]*:(?:[ \t]+(.*?))?[ \t]*$""")


def timezone_fast(config_path: Path) -> str | None:
    """The top-level ``timezone:`` value without importing yaml: every time
    ``list`` and ``show`` print is in it (unvalidated: the caller falls back
    to the system's zone when it names none)."""
    return _top_scalar_fast(config_path, "timezone", _TZ_LINE)


def _top_scalar_fast(config_path: Path, key: str, pattern: re.Pattern[str]) -> str | None:
    """A top-level scalar, by a line scan that does not import yaml.

    Handles plain, single- and double-quoted scalars and trailing comments;
    ``None`` when absent, null, or the file is missing or unreadable.
    A shape the scan does not handle (a block scalar, an anchor, a tag, a
    value on the next line, a flow-style document) is read with yaml instead,
    so the answer always equals what ``load_config`` reads for ``key``."""
    try:
        with open(config_path, encoding="utf-8-sig") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    try:
        for i, line in enumerate(lines):
            if line.startswith("{"):
                raise _Unusual
            m = pattern.match(line)
            if not m:
                continue
            raw = m.group(1) or ""
            if raw.startswith("#"):
                raw = ""
            if not raw:
                nxt = next((ln for ln in lines[i + 1:] if ln.strip() and not ln.lstrip().startswith("#")), "")
                if nxt[:1] in (" ", "\t"):
                    raise _Unusual  # the value continues on the next line
                return None
            return _scalar(raw)
    except _Unusual:
        return _top_slow(config_path, key)
    return None


def _scalar(raw: str) -> str | None:
    if raw[0] == "'":
        end = 1
        while True:
            end = raw.find("'", end)
            if end < 0:
                raise _Unusual  # continues on the next line
            if raw[end + 1:end + 2] == "'":
                end += 2
                continue
            break
        _only_comment_after(raw[end + 1:])
        return raw[1:end].replace("''", "'")
    if raw[0] == '"':
        out: list[str] = []
        i = 1
        while i < len(raw):
            c = raw[i]
            if c == '"':
                _only_comment_after(raw[i + 1:])
                return "".join(out)
            if c == "\\":
                i += 1
                e = raw[i:i + 1]
                if e in _DQ_ESCAPES:
                    out.append(_DQ_ESCAPES[e])
                elif e in ("x", "u", "U"):
                    n = {"x": 2, "u": 4, "U": 8}[e]
                    digits = raw[i + 1:i + 1 + n]
                    if len(digits) != n or not all(d in "0123456789abcdefABCDEF" for d in digits):
                        raise _Unusual
                    out.append(chr(int(digits, 16)))
                    i += n
                else:
                    raise _Unusual
            else:
                out.append(c)
            i += 1
        raise _Unusual  # continues on the next line
    if raw[0] in "|>&*!%@`[{":
        raise _Unusual
    value = re.split(r"[ \t]#", raw, maxsplit=1)[0].rstrip()
    if re.fullmatch(r"[-+.]?[0-9][0-9_.:eE+-]*|(?i:y|n|yes|no|on|off|true|false|\.inf|\.nan)", value):
        raise _Unusual  # YAML reads it as a number, a boolean or a date
    return None if value in _NULLS else value


def _only_comment_after(rest: str) -> None:
    rest = rest.strip()
    if rest and not rest.startswith("#"):
        raise _Unusual


def _top_slow(config_path: Path, key: str) -> str | None:
    import yaml

    try:
        data = yaml.load(config_path.read_text(encoding="utf-8-sig"),
                         Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    value = data.get(key) if isinstance(data, dict) else None
    if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value):
        return str(value)
    return None
