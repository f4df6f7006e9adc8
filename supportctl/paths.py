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
