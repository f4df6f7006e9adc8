"""Configuration: YAML → validated ``Config`` (SPEC §5, §7, §9).

Contract:
- ``load_config`` finds every problem in one pass and raises one
  ``ConfigError`` whose ``problems`` lists them, each written
  ``FILE:LINE: key.path: what is wrong`` (unknown keys at every level, with a
  suggestion; wrong types; bad durations, times, dates, zones, enum values;
  duplicate channel or agent names; a secret given two ways; a required key
  missing). ``str(error)`` is one line: the only problem, or
  ``config has N problems; first: …``. It never raises anything else for
  bad content.
- A missing file gives ``Config()`` (the store works without a config),
  unless ``required``.
- A secret key ``x`` may be written ``x``, ``x_env`` or ``x_cmd``, exactly
  one of them. ``Config.channels`` keeps them as written; ``resolve_secrets``
  turns ``_env``/``_cmd`` into values and is called only by commands that talk
  to a channel (sync, reply, ``config check --online``), never by read
  commands. No message ever contains a secret or a ``_cmd``'s output.
- The read path (``list``, ``show``, ``search``) calls only
  ``default_config_path``, ``default_data_dir``, ``store_path_fast`` and
  ``timezone_fast`` (in ``supportctl.paths``, which imports neither yaml nor
  this module); ``store_path_fast`` and ``load_config`` agree on
  ``store:`` (``~`` expanded, a relative path taken from the config file's
  directory, so cron's working directory does not matter).
- Heavy imports (yaml, jinja2, holidays, zoneinfo data, subprocess) happen
  inside the functions that need them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

from supportctl.errors import ConfigError

# Paths and the yaml-free scan of ``store:``/``timezone:`` live in
# supportctl.paths (a command that reads no config imports only that); kept
# importable from here.
from supportctl.paths import (  # noqa: F401
    _store_value,
    _xdg,
    default_config_path,
    default_data_dir,
    store_path_fast,
    timezone_fast,
)

# -- values -----------------------------------------------------------------

_DURATION = re.compile(r"\s*(\d+)\s*([smhdw])\s*")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``45s``, ``90m``, ``36h``, ``7d``, ``2w``; ``ValueError`` otherwise."""
    from supportctl.timeparse import duration

    m = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"bad duration {text!r}: write it like 90m, 36h or 7d")
    return duration(m.group(1), m.group(2), text)  # DurationTooLong (a ValueError) past 100 years


@dataclass
class BusinessHours:
    days: set[int] = field(default_factory=lambda: {0, 1, 2, 3, 4})  # Monday is 0
    start: time = time(9, 0)
    end: time = time(17, 0)
    #: weekday -> [(open, close)] when written per day (``mon-fri: ["09:00-13:00"]``);
    #: a close of 00:00 means midnight at the end of the day ("24:00").
    periods: dict[int, list[tuple[time, time]]] | None = None


@dataclass
class Holidays:
    country: str | None = None
    subdivision: str | None = None  # a region of the country's calendar (BY for DE-BY)
    dates: list[date] = field(default_factory=list)


@dataclass
class Agent:
    name: str
    email: str = ""
    groups: list[str] = field(default_factory=list)
    signature: str = ""


@dataclass
class Sla:
    first_response: timedelta | None = None
    resolution: timedelta | None = None
    #: priority -> (first_response, resolution); None keeps the general target.
    by_priority: dict[str, tuple[timedelta | None, timedelta | None]] = field(default_factory=dict)
    business_hours_only: bool = True
    name: str = ""
    #: channel, account, priority, tag, contact_tag -> accepted values
    match: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Notify:
    """A notification entry (SPEC §10): a short message to a person."""

    name: str
    via: str
    to: str
    on: list[str] = field(default_factory=list)
    at: time | None = None  # local time of the daily digest
    priority: list[str] = field(default_factory=list)
    channel: list[str] = field(default_factory=list)
    tag: list[str] = field(default_factory=list)
    outside_hours: bool | None = None


@dataclass
class Rule:
    name: str
    #: condition -> wanted value; every condition must match (SPEC §10):
    #: channel/account/language/priority/tag: text or a list (any of);
    #: from/to: an address, ``@domain``, or (the old form) a substring;
    #: subject/text: a regular expression (a plain word matches as before);
    #: new_contact/outside_hours: true or false.
    match: dict[str, Any]
    tag: list[str] = field(default_factory=list)
    assign: str | None = None
    #: ``assign: {group: billing, how: round-robin|least-open}``
    assign_group: str | None = None
    assign_how: str = "round-robin"
    priority: str | None = None
    status: str | None = None
    note: str | None = None
    reply: str | None = None
    notify: str | None = None
    stop: bool = False


@dataclass
class Template:
    body: str
    subject: str = ""
    content_sid: str | None = None  # an approved WhatsApp template (Twilio Content API)
    #: language (ISO 639-1) -> body; ``body`` is the fallback.
    languages: dict[str, str] = field(default_factory=dict)


@dataclass
class AutoReply:
    enabled: bool = False
    template: str | None = None
    #: the acknowledgement outside business hours (names when we answer)
    outside_hours_template: str | None = None
    max_per_contact: int = 3
    window: timedelta = timedelta(hours=1)
    #: Only mail that arrived this recently is acknowledged (SPEC §4).
    max_age: timedelta = timedelta(hours=4)


@dataclass
class Csat:
    enabled: bool = False
    template: str | None = None
    #: how long after solving the question goes out
    after: timedelta = timedelta(hours=1)


@dataclass
class Kb:
    """The knowledge base (SPEC §11): a folder of Markdown articles."""

    path: str | None = None  # default: kb/ beside the config file
    base_url: str | None = None  # where `kb export --html` is published
    auto_reply: int = 0  # articles an automatic reply may add (0: none)
    auto_reply_min_score: float = 0.5

    def folder(self, config: Config) -> Path:
        base = (config.path or default_config_path()).parent
        return Path(os.path.normpath(base / Path(self.path).expanduser())) if self.path \
            else base / "kb"


@dataclass
class SuggestSettings:
    """``suggest:`` (SPEC §11): ``semantic: true`` merges the optional
    extra's embeddings with full text (off unless asked: see README)."""

    semantic: bool = False


@dataclass
class Config:
    path: Path | None = None
    store: str | None = None
    timezone: str | None = None
    business_hours: BusinessHours | None = None
    holidays: Holidays = field(default_factory=Holidays)
    agents: list[Agent] = field(default_factory=list)
    channels: list[dict[str, Any]] = field(default_factory=list)
    sla: Sla | None = None  # the first (or only) policy
    sla_policies: list[Sla] = field(default_factory=list)
    notify: list[Notify] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    templates: dict[str, Template] = field(default_factory=dict)
    auto_reply: AutoReply = field(default_factory=AutoReply)
    csat: Csat = field(default_factory=Csat)
    reopen_window: timedelta = timedelta(days=7)
    close_after: timedelta = timedelta(days=4)
    outbox_max_attempts: int = 5
    kb: Kb = field(default_factory=Kb)
    suggest: SuggestSettings = field(default_factory=SuggestSettings)
    #: ``serve:`` as validated (secrets unresolved: see ``resolve_serve_secrets``).
    serve: dict[str, Any] = field(default_factory=dict)

    def channel(self, name: str) -> dict[str, Any]:
        for c in self.channels:
            if c["name"] == name:
                return c
        raise ConfigError(
            f"no channel entry named {name!r}: configured are "
            f"{', '.join(c['name'] for c in self.channels) or 'none'} (see `supportctl config check`)"
        )

    def agent_names(self) -> list[str]:
        return [a.name for a in self.agents]


# -- schema -----------------------------------------------------------------

TOP_KEYS = ("store", "timezone", "business_hours", "holidays", "agents", "channels", "sla",
            "rules", "templates", "auto_reply", "csat", "reopen_window", "close_after", "outbox",
            "kb", "notify", "serve", "suggest")

#: The TLS keys every network channel accepts (as ``spec.TLS_KEYS``).
_TLS: dict[str, tuple[str, bool, Any]] = {
    "tls_verify": ("bool", False, True), "ca_file": ("file", False, None),
}


def channel_keys() -> dict[str, dict[str, tuple[str, bool, Any]]]:
    """Per channel type: key -> (kind, required, default), from each
    channel's declaration (``supportctl/channels/specs/``). Kinds are those
    of ``_value``, plus ``secret`` (also ``x_env``/``x_cmd``) and
    ``block:smtp``. Read when a config is validated, not at import."""
    from supportctl.channels import channel_specs

    return {t: dict(spec.keys) for t, spec in channel_specs().items()}


def _not_warned() -> frozenset[str]:
    """Secret-able keys that are not secret enough to warn about in clear."""
    from supportctl.channels import channel_specs

    return frozenset(k for spec in channel_specs().values() for k in spec.not_warned)


def __getattr__(name: str) -> Any:
    # ``CHANNEL_KEYS`` and ``NOT_WARNED`` as they were, computed on use.
    if name == "CHANNEL_KEYS":
        return channel_keys()
    if name == "NOT_WARNED":
        return _not_warned()
    raise AttributeError(name)


#: ``serve:`` (SPEC §12, supportctl/serve): the form's HMAC key and the
#: webhooks' secrets are secrets (also ``_env``/``_cmd``).
SERVE_KEYS: dict[str, tuple[str, bool, Any]] = {
    "public_url": ("url", False, None), "secret": ("secret", False, None),
    "language": ("enum:en|it|fr|de|es", False, "en"), "title": ("text", False, None),
    "token_ttl": ("duration", False, None), "max_size": ("int", False, 32768),
    "rate_limit": ("int", False, 5), "telegram_secret_token": ("secret", False, None),
    "meta_app_secret": ("secret", False, None), "meta_verify_token": ("secret", False, None),
}
SMTP_KEYS: dict[str, tuple[str, bool, Any]] = {
    "host": ("text", True, None), "port": ("port", False, None),
    "security": ("enum:ssl|starttls|none", False, "starttls"), **_TLS,
    "username": ("text", False, None), "password": ("secret", False, None),
    "from": ("mailbox", False, None), "reply_to": ("mailbox", False, None),
    "save_sent": ("text", False, None), "timeout": ("seconds", False, None),
}
IMAP_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
SMTP_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
COMMON_CHANNEL_KEYS = ("name", "type", "signature")
#: Secret-able keys that are not secret enough to warn about in clear.
CHANNEL_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAY_NAMES = {d: i for i, d in enumerate(DAYS)} | {
    n: i for i, n in enumerate(["monday", "tuesday", "wednesday", "thursday", "friday",
                                "saturday", "sunday"])}
PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("new", "open", "pending", "solved", "closed")
RULE_MATCH = ("channel", "account", "from", "to", "subject", "text", "language", "new_contact",
              "outside_hours", "tag", "priority")
RULE_ACTIONS = ("tag", "assign", "priority", "status", "note", "reply", "notify", "stop")
_LANGUAGE = re.compile(r"[a-z]{2}")
RESERVED_AGENTS = ("me", "none")  # `list --assignee me|none|NAME`
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_E164 = re.compile(r"(whatsapp:)?\+[1-9]\d{5,14}")
_EMAIL = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")
_CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")


class _Problems:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, node: Any, where: str, message: str, *, line: int | None = None) -> None:
        if line is None and node is not None and hasattr(node, "start_mark"):
            line = node.start_mark.line + 1
        prefix = f"{self.path}:{line}: " if line else f"{self.path}: "
        self.items.append(f"{prefix}{where}: {message}" if where else f"{prefix}{message}")


def _key(knode: Any) -> str:
    import yaml

    return str(knode.value) if isinstance(knode, yaml.ScalarNode) else "<complex key>"


def _pairs(node: Any) -> list[tuple[str, Any, Any]]:
    """(key, key node, value node) of a YAML mapping node."""
    return [(_key(k), k, v) for k, v in node.value]


_CONSTRUCTOR: Any = None


def _py(node: Any) -> Any:
    """The Python value of a node, as yaml.safe_load would build it; a
    scalar yaml cannot build (``2026-02-30``, ``!!int abc``) stays its text,
    so that the validators report it like any other bad value."""
    if node is None:
        return None
    global _CONSTRUCTOR
    if _CONSTRUCTOR is None:
        import yaml

        class Lenient(yaml.constructor.SafeConstructor):
            def construct_object(self, node: Any, deep: bool = False) -> Any:
                try:
                    return super().construct_object(node, deep=deep)
                except (ValueError, OverflowError, yaml.constructor.ConstructorError):
                    if not isinstance(node, yaml.ScalarNode):
                        raise
                    self.recursive_objects.pop(node, None)
                    return str(node.value)

        _CONSTRUCTOR = Lenient
    return _CONSTRUCTOR().construct_document(node)


def _is_map(node: Any) -> bool:
    import yaml

    return isinstance(node, yaml.MappingNode)


def _is_seq(node: Any) -> bool:
    import yaml

    return isinstance(node, yaml.SequenceNode)


def _is_null(node: Any) -> bool:
    import yaml

    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _suggest(key: str, allowed: Any) -> str:
    import difflib

    close = difflib.get_close_matches(key, [str(a) for a in allowed], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where and key else where or key


def _check_keys(node: Any, allowed: Any, where: str, probs: _Problems) -> dict[str, Any]:
    """Mapping of key -> value node, with unknown and repeated keys reported."""
    out: dict[str, Any] = {}
    for key, knode, vnode in _pairs(node):
        path = _join(where, key)
        if key not in allowed:
            probs.add(knode, path, "unknown key" + _suggest(key, allowed))
            continue
        if key in out:
            probs.add(knode, path, "given twice")
        out[key] = vnode
    return out


def _mapping(node: Any, where: str, what: str, probs: _Problems) -> bool:
    if _is_map(node):
        return True
    probs.add(node, where, f"must be a mapping of {what}")
    return False


def _allowed(spec: dict[str, tuple[str, bool, Any]], top: bool) -> list[str]:
    """Keys a block accepts: its own, ``_env``/``_cmd`` forms of secrets,
    and for a channel entry its name, type and signature."""
    allowed = list(COMMON_CHANNEL_KEYS) if top else []
    for k, (kind, _, _) in spec.items():
        allowed.append(k)
        if kind == "secret":
            allowed += [f"{k}_env", f"{k}_cmd"]
    return allowed


def _text(value: Any) -> str | None:
    """Text as YAML gives it; numbers count (a port-like host, a numeric
    password), booleans, dates and collections do not."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return str(value)


def _value(kind: str, node: Any, where: str, probs: _Problems) -> Any:
    """The validated value of ``node``, or None after reporting a problem."""
    value = _py(node)
    if kind in ("str", "text", "secret", "url", "file", "mailbox", "env", "cmd"):
        text = _text(value)
        if text is None:
            probs.add(node, where, "must be text")
            return None
        if kind != "str" and not text.strip():
            probs.add(node, where, "must not be empty")
            return None
        if kind == "url":
            if not re.match(r"https?://[^/\s]+", text):
                probs.add(node, where, "must be an http:// or https:// URL")
                return None
            return text.rstrip("/")
        if kind == "file":
            p = Path(text).expanduser()
            if not p.is_absolute():
                p = probs.path.parent / p
            if not p.is_file():
                probs.add(node, where, f"no such file {p}")
                return None
            return str(p)
        if kind == "mailbox":
            from email.utils import parseaddr

            if not _EMAIL.fullmatch(parseaddr(text)[1]):
                probs.add(node, where, f"{text!r} is not an email address (Name <addr@example.com>)")
                return None
        if kind == "env" and not _ENV_NAME.fullmatch(text):
            hint = ": write the variable's name without $" if text.startswith("$") else ""
            probs.add(node, where, f"{text!r} is not an environment variable name{hint}")
            return None
        return text
    if kind in ("int", "port", "count"):
        # Counts past a million are typos (and past 2**63 SQLite cannot bind them).
        low, high = {"int": (1, 10**6), "port": (1, 65535), "count": (0, 10**6)}[kind]
        if (not isinstance(value, int) or isinstance(value, bool) or value < low
                or (high is not None and value > high)):
            probs.add(node, where, "must be a port number (1-65535)" if kind == "port"
                      else f"must be a whole number of at least {low}" if
                      isinstance(value, int) and value < low
                      else f"must be a whole number from {low} to {high}")
            return None
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            probs.add(node, where, "must be true or false")
            return None
        return value
    if kind in ("list", "emails"):
        if isinstance(value, str):
            value = [value]
        if (not isinstance(value, list) or not value
                or not all(isinstance(v, str) and v.strip() for v in value)):
            probs.add(node, where, "must be a list of text")
            return None
        if kind == "emails":
            bad = [v for v in value if not _EMAIL.fullmatch(v)]
            if bad:
                probs.add(node, where, f"{bad[0]!r} is not an email address")
                return None
            return [v.lower() for v in value]
        return value
    if kind == "numbers":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            probs.add(node, where, "must be a list of E.164 numbers (+15551234567 or whatsapp:+…)")
            return None
        bad = [v for v in value if not isinstance(v, str) or not _E164.fullmatch(v)]
        for v in bad:
            probs.add(node, where, f"{v!r} is not an E.164 number (+15551234567 or whatsapp:+…)")
        return None if bad else value
    if kind == "since":
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str):
            try:
                parse_duration(value)
                return value.strip()
            except ValueError as exc:
                from supportctl.timeparse import DurationTooLong

                if isinstance(exc, DurationTooLong):
                    probs.add(node, where, str(exc))
                    return None
                try:
                    return date.fromisoformat(value.strip()).isoformat()
                except ValueError:
                    pass
        probs.add(node, where, "must be a date (2026-01-31) or a duration (30d)")
        return None
    if kind == "seconds":  # a duration (30s, 2m), given to the channel in seconds
        try:
            seconds = parse_duration(value).total_seconds() if isinstance(value, str) else 0
        except ValueError as exc:
            probs.add(node, where, str(exc))
            return None
        if not 0 < seconds <= 3600:
            probs.add(node, where, "must be a duration from 1s to 1h, like 30s or 2m")
            return None
        return seconds
    if kind == "forms":
        from supportctl.channels.web import check_rules

        rules, why = check_rules(value)
        if rules is None:
            probs.add(node, where, why)
        return rules
    if kind == "duration":
        try:
            if isinstance(value, str):
                return parse_duration(value)
        except ValueError as exc:
            probs.add(node, where, str(exc))
            return None
        probs.add(node, where, "must be a duration like 90m, 2h or 1d")
        return None
    if kind.startswith("enum:"):
        choices = kind[5:].split("|")
        if not isinstance(value, str) or value not in choices:
            hint = _suggest(value, choices) if isinstance(value, str) else ""
            probs.add(node, where, f"must be one of {', '.join(choices)}{hint}")
            return None
        return value
    raise AssertionError(kind)


def _block(node: Any, spec: dict[str, tuple[str, bool, Any]], where: str, probs: _Problems,
           *, top: bool = True) -> dict[str, Any]:
    if not _mapping(node, where, "keys", probs):
        return {}
    nodes = _check_keys(node, _allowed(spec, top), where, probs)
    out: dict[str, Any] = {}
    for key, (kind, required, default) in spec.items():
        if kind == "secret":
            forms = [f for f in (key, f"{key}_env", f"{key}_cmd") if f in nodes]
        else:
            forms = [key] if key in nodes else []
        if len(forms) > 1:
            probs.add(nodes[forms[1]], _join(where, forms[1]),
                      f"give {key} one way only, not {' and '.join(forms)}")
        if not forms:
            if required:
                hint = f" (or {key}_env / {key}_cmd)" if kind == "secret" else ""
                probs.add(node, where, f"missing required key {key!r}{hint}")
            if default is not None:
                out[key] = list(default) if isinstance(default, list) else default
            continue
        form = forms[0]
        if kind.startswith("block:"):
            out[key] = _block(nodes[form], SMTP_KEYS, _join(where, form), probs, top=False)
            continue
        if form.endswith("_env"):
            kind = "env"
        elif form.endswith("_cmd"):
            kind = "cmd"
        val = _value(kind, nodes[form], _join(where, form), probs)
        if val is not None:
            out[form] = val
        elif default is not None:
            out[key] = default
    if top and "signature" in nodes:
        sig = _value("str", nodes["signature"], _join(where, "signature"), probs)
        out["signature"] = sig or ""
    return out


def _duration(node: Any, where: str, probs: _Problems) -> timedelta | None:
    from supportctl.timeparse import DurationTooLong

    try:
        return parse_duration(_py(node))
    except DurationTooLong as exc:
        probs.add(node, where, str(exc))
        return None
    except ValueError:
        probs.add(node, where, "bad duration: write it like 45s, 90m, 36h, 7d or 2w")
        return None


def _time(node: Any, where: str, probs: _Problems) -> time | None:
    value = _py(node)
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 09:00 as the sexagesimal number 540.
        value = f"{value // 60:02d}:{value % 60:02d}"
    try:
        return time.fromisoformat(str(value).zfill(5))
    except ValueError:
        probs.add(node, where, "must be a time like \"09:00\"")
        return None


# -- loading ----------------------------------------------------------------


def load_config(path: Path | None = None, *, required: bool = False) -> Config:
    """The validated config at ``path`` (default: ``default_config_path()``).

    A missing file gives ``Config()``, or with ``required`` a ConfigError
    naming ``supportctl init``. Any problem raises one ConfigError listing all.
    """
    path = Path(path) if path is not None else default_config_path()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        if required:
            raise ConfigError(f"no config at {path}: run `supportctl init`") from None
        return Config()
    except IsADirectoryError:
        raise ConfigError(f"config {path} is a directory, not a file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config {path} is not UTF-8 text") from None
    except PermissionError:
        raise ConfigError(f"cannot read config {path}: permission denied") from None
    import yaml

    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"{where}: {problem} (the file is not valid YAML)") from None
    cfg = Config(path=path)
    if root is None or _is_null(root):
        return cfg
    probs = _Problems(path)
    if not _is_map(root):
        probs.add(root, "", "the config must be a mapping of keys (see config.example.yaml)")
    else:
        top = {k: v for k, v in _check_keys(root, TOP_KEYS, "", probs).items() if not _is_null(v)}
        try:
            _load_top(cfg, top, probs)
        except yaml.YAMLError as exc:  # a value yaml cannot build (e.g. a bad !!tag)
            mark = getattr(exc, "problem_mark", None)
            probs.add(None, "", getattr(exc, "problem", None) or str(exc),
                      line=mark.line + 1 if mark else None)
    if probs.items:
        n = len(probs.items)
        summary = probs.items[0] if n == 1 else f"config has {n} problems; first: {probs.items[0]}"
        raise ConfigError(summary, probs.items)
    return cfg


def _load_top(cfg: Config, top: dict[str, Any], probs: _Problems) -> None:
    if "store" in top:
        store = _value("text", top["store"], "store", probs)
        cfg.store = _store_value(store, probs.path) if store else None
    if "timezone" in top:
        cfg.timezone = _timezone(top["timezone"], probs)
    for key in ("reopen_window", "close_after"):
        if key in top:
            d = _duration(top[key], key, probs)
            if d is not None:
                setattr(cfg, key, d)
    if "outbox" in top and _mapping(top["outbox"], "outbox", "keys: max_attempts", probs):
        ob = _check_keys(top["outbox"], ("max_attempts",), "outbox", probs)
        if "max_attempts" in ob:
            cfg.outbox_max_attempts = (
                _value("int", ob["max_attempts"], "outbox.max_attempts", probs) or 5)
    if "business_hours" in top:
        cfg.business_hours = _business_hours(top["business_hours"], probs)
    if "holidays" in top:
        cfg.holidays = _holidays(top["holidays"], probs)
    if "agents" in top:
        cfg.agents = _agents(top["agents"], probs)
    if "channels" in top:
        cfg.channels = _channels(top["channels"], probs)
    if "sla" in top:
        cfg.sla_policies = _sla_policies(top["sla"], probs)
        cfg.sla = cfg.sla_policies[0] if cfg.sla_policies else None
    if "templates" in top:
        cfg.templates = _templates(top["templates"], probs)
    if "rules" in top:
        cfg.rules = _rules(top["rules"], cfg.agent_names(),
                           {g for a in cfg.agents for g in a.groups}, cfg.templates, probs)
    if "auto_reply" in top:
        cfg.auto_reply = _auto_reply(top["auto_reply"], cfg.templates, probs)
    if "csat" in top:
        cfg.csat = _csat(top["csat"], cfg.templates, probs)
    if "kb" in top:
        cfg.kb = _kb(top["kb"], probs)
    if "notify" in top:
        cfg.notify = _notify(top["notify"], cfg.channels, probs,
                             {a.name for a in cfg.agents if a.email})
    if "suggest" in top:
        cfg.suggest = _suggest_settings(top["suggest"], probs)
    if "serve" in top:
        cfg.serve = _block(top["serve"], SERVE_KEYS, "serve", probs, top=False)


def _timezone(node: Any, probs: _Problems) -> str | None:
    tz = _py(node)
    if isinstance(tz, str) and tz.strip():
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(tz)
            return tz
        except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
            pass
        from zoneinfo import available_timezones

        hint = _suggest(tz, available_timezones())
    else:
        hint = ""
    probs.add(node, "timezone", f"unknown time zone {tz!r}{hint or ' (use e.g. Europe/Rome)'}")
    return None


def _days(node: Any, probs: _Problems, where: str = "business_hours.days") -> set[int] | None:
    value = _py(node)
    if isinstance(value, str):
        value = [d.strip() for d in value.split(",")]
    if not isinstance(value, list) or not value:
        probs.add(node, where, "must be a list of days like [mon, tue, wed]")
        return None
    got: set[int] = set()
    for item in value:
        parts = str(item).strip().lower().split("-")
        if len(parts) > 2 or any(p not in _DAY_NAMES for p in parts):
            probs.add(node, where, f"unknown day {item!r}: use mon … sun, or a range like mon-fri")
            continue
        first, last = _DAY_NAMES[parts[0]], _DAY_NAMES[parts[-1]]
        got.update(range(first, last + 1) if first <= last else [*range(first, 7), *range(last + 1)])
    return got


def _business_hours(node: Any, probs: _Problems) -> BusinessHours | None:
    if not _mapping(node, "business_hours", "days to periods (mon-fri: [\"09:00-13:00\"]) "
                    "or keys: days, start, end", probs):
        return None
    if not any(k in ("days", "start", "end") for k, _, _ in _pairs(node)):
        return _business_periods(node, probs)
    keys = _check_keys(node, ("days", "start", "end"), "business_hours", probs)
    bh = BusinessHours()
    if "days" in keys:
        bh.days = _days(keys["days"], probs) or bh.days
    for k in ("start", "end"):
        if k in keys:
            t = _time(keys[k], f"business_hours.{k}", probs)
            if t is not None:
                setattr(bh, k, t)
    if bh.end <= bh.start:
        probs.add(keys.get("end", node), "business_hours.end", "must be after start")
    return bh


_PERIOD = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")


def _business_periods(node: Any, probs: _Problems) -> BusinessHours | None:
    """``mon-fri: ["09:00-13:00", "14:00-18:00"]``, ``sat: ["09:00-12:00"]``."""
    periods: dict[int, list[tuple[time, time]]] = {}
    for key, knode, vnode in _pairs(node):
        where = f"business_hours.{key}"
        days = _days(knode, probs, where)
        if days is None:
            continue
        value = _py(vnode)
        if isinstance(value, str):
            value = [value]
        if value is None:
            value = []  # `sun: []` or `sun:`: closed
        if not isinstance(value, list):
            probs.add(vnode, where, 'must be a list of periods like ["09:00-13:00", "14:00-18:00"]')
            continue
        spans: list[tuple[time, time]] = []
        for item in value:
            m = _PERIOD.fullmatch(str(item))
            bad = m is None
            if m:
                h1, m1, h2, m2 = (int(g) for g in m.groups())
                a, b = h1 * 60 + m1, h2 * 60 + m2
                bad = h1 > 23 or m1 > 59 or m2 > 59 or b > 1440 or a >= b
            if bad or m is None:
                probs.add(vnode, where, f"{item!r} is not a period like \"09:00-13:00\" "
                          "(start before end, 24:00 at most)")
                continue
            spans.append((time(h1, m1), time(0) if b == 1440 else time(h2, m2)))
        for d in days:
            if d in periods:
                probs.add(knode, where, f"{DAYS[d]} is given twice")
            periods[d] = sorted(periods.get(d, []) + spans)
    periods = {d: p for d, p in periods.items() if p}
    if not periods:
        probs.add(node, "business_hours", "no working period on any day")
        return None
    first = min(periods)
    return BusinessHours(days=set(periods), start=periods[first][0][0],
                         end=periods[first][-1][1], periods=periods)


def _holidays(node: Any, probs: _Problems) -> Holidays:
    h = Holidays()
    if _is_map(node):
        keys = _check_keys(node, ("country", "subdivision", "dates"), "holidays", probs)
    elif isinstance(_py(node), str):
        keys = {"country": node}
    else:
        probs.add(node, "holidays", "must be a country code (IT) or a mapping: country, dates")
        return h
    if "country" in keys:
        code = _py(keys["country"])
        sub = _py(keys["subdivision"]) if "subdivision" in keys else None
        if isinstance(code, str) and "-" in code and sub is None:
            code, _, sub = code.partition("-")  # DE-BY: ISO 3166-2
        where = _join("holidays", "country" if _is_map(node) else "")
        if not isinstance(code, str) or not _country_known(code.upper()):
            probs.add(keys["country"], where,
                      f"{code!r} is not a country the holidays calendar knows "
                      "(an ISO 3166 code such as IT, DE, US)")
        elif sub is not None and not _subdivision_known(code.upper(), str(sub).upper()):
            probs.add(keys.get("subdivision", keys["country"]), "holidays.subdivision",
                      f"{sub!r} is not a subdivision of {code.upper()} the holidays calendar "
                      "knows (e.g. BY for DE-BY, RM for Rome)")
        else:
            h.country = code.upper()
            h.subdivision = str(sub).upper() if sub is not None else None
    elif "subdivision" in keys and not _is_null(keys["subdivision"]):
        probs.add(keys["subdivision"], "holidays.subdivision", "needs a country")
    if "dates" in keys:
        value = _py(keys["dates"])
        if not isinstance(value, list):
            value = [value]
        for v in value:
            if isinstance(v, date):
                h.dates.append(v)
                continue
            try:
                h.dates.append(date.fromisoformat(str(v)))
            except ValueError:
                probs.add(keys["dates"], "holidays.dates", f"{v!r} is not a date (2026-12-24)")
    return h


def _subdivision_known(code: str, sub: str) -> bool:
    import holidays

    try:
        holidays.country_holidays(code, subdiv=sub)
    except NotImplementedError:
        return False
    return True


def _country_known(code: str) -> bool:
    if not re.fullmatch(r"[A-Z]{2,3}", code):
        return False
    import holidays

    try:
        holidays.country_holidays(code)
    except NotImplementedError:
        return False
    return True


def _agents(node: Any, probs: _Problems) -> list[Agent]:
    out: list[Agent] = []
    if not _is_seq(node):
        probs.add(node, "agents", "must be a list of names or of mappings (name, email, groups, signature)")
        return out
    seen: set[str] = set()
    for i, item in enumerate(node.value):
        where = f"agents[{i}]"
        if _is_map(item):
            keys = _check_keys(item, ("name", "email", "groups", "signature"), where, probs)
        else:
            keys = {"name": item}
        if "name" not in keys:
            probs.add(item, where, "missing required key 'name'")
            continue
        name_where = f"{where}.name" if _is_map(item) else where
        name = _value("text", keys["name"], name_where, probs)
        if name is None:
            continue
        name = name.strip()
        if name.lower() in RESERVED_AGENTS:
            probs.add(keys["name"], name_where, f"{name!r} is reserved (`--assignee me|none`)")
            continue
        if name in seen:
            probs.add(keys["name"], name_where, f"duplicate agent name {name!r}")
        seen.add(name)
        agent = Agent(name=name)
        if "email" in keys:
            agent.email = _value("mailbox", keys["email"], f"{where}.email", probs) or ""
        if "groups" in keys:
            agent.groups = _value("list", keys["groups"], f"{where}.groups", probs) or []
        if "signature" in keys:
            agent.signature = _value("str", keys["signature"], f"{where}.signature", probs) or ""
        out.append(agent)
    return out


def _channels(node: Any, probs: _Problems) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not _is_seq(node):
        probs.add(node, "channels", "must be a list of channel entries")
        return out
    names: set[str] = set()
    from supportctl.channels import channel_specs

    keys_of = channel_keys()
    types = [t for t, spec in channel_specs().items() if spec.public]
    for i, item in enumerate(node.value):
        where = f"channels[{i}]"
        if not _is_map(item):
            probs.add(item, where, "must be a mapping with name and type")
            continue
        raw = {k: v for k, _, v in _pairs(item)}
        if "type" not in raw:
            probs.add(item, where, f"missing required key 'type' ({', '.join(types)})")
            continue
        type_ = _py(raw["type"])
        if not isinstance(type_, str) or type_ not in keys_of:
            hint = _suggest(type_, types) if isinstance(type_, str) else ""
            probs.add(raw["type"], f"{where}.type",
                      f"unknown channel type {type_!r}{hint}: use {', '.join(types)}")
            continue
        name = _py(raw["name"]) if "name" in raw else None
        if "name" not in raw:
            probs.add(item, where, "missing required key 'name'")
        elif not isinstance(name, str) or not CHANNEL_NAME.fullmatch(name):
            probs.add(raw["name"], f"{where}.name",
                      f"bad name {name!r}: lower-case letters, digits, - and _, "
                      "starting with a letter or digit")
        elif name in names:
            probs.add(raw["name"], f"{where}.name", f"duplicate channel name {name!r}")
        if isinstance(name, str):
            names.add(name)
        entry = _block(item, keys_of[type_], where, probs)
        entry["name"] = name if isinstance(name, str) else f"channel-{i}"
        entry["type"] = type_
        if type_ == "imap":
            _imap_defaults(entry, item, raw, where, probs)
        out.append(entry)
    return out


def _imap_defaults(entry: dict[str, Any], item: Any, raw: dict[str, Any], where: str,
                   probs: _Problems) -> None:
    entry.setdefault("port", IMAP_PORTS[entry.get("security", "ssl")])
    username = str(entry.get("username", ""))
    if "addresses" not in entry and _EMAIL.fullmatch(username):
        entry["addresses"] = [username.lower()]
    smtp = entry.get("smtp")
    if "smtp" in raw and isinstance(smtp, dict) and _is_map(raw["smtp"]):
        smtp.setdefault("security", "starttls")
        smtp.setdefault("port", SMTP_PORTS[smtp["security"]])
        has_pw = any(k in smtp for k in ("password", "password_env", "password_cmd"))
        has_pw_key = any(_key(k) in ("password", "password_env", "password_cmd")
                         for k, _ in raw["smtp"].value)
        has_user = any(_key(k) == "username" for k, _ in raw["smtp"].value)
        if has_user and not has_pw_key:
            probs.add(raw["smtp"], f"{where}.smtp",
                      "username is set but no password (or password_env / password_cmd)")
        elif has_pw and not has_user:
            probs.add(raw["smtp"], f"{where}.smtp",
                      "a password without username: SMTP logs in only when username is set")


SLA_MATCH = ("channel", "account", "priority", "tag", "contact_tag")
SLA_KEYS = ("first_response", "resolution", "by_priority", "business_hours_only")


def _sla_policies(node: Any, probs: _Problems) -> list[Sla]:
    """``sla`` is one policy (a mapping, the old form) or a list of named
    policies with ``match``; the first that matches a ticket applies."""
    if not _is_seq(node):
        one = _sla(node, probs, "sla", SLA_KEYS)
        return [one] if one is not None else []
    out: list[Sla] = []
    names: set[str] = set()
    for i, item in enumerate(node.value):
        where = f"sla[{i}]"
        pol = _sla(item, probs, where, ("name", "match", *SLA_KEYS))
        if pol is None:
            continue
        pol.name = pol.name or f"policy-{i + 1}"
        if pol.name in names:
            probs.add(item, f"{where}.name", f"duplicate policy name {pol.name!r}")
        names.add(pol.name)
        out.append(pol)
    return out


def _sla(node: Any, probs: _Problems, top: str = "sla", allowed: tuple[str, ...] = SLA_KEYS
         ) -> Sla | None:
    if not _mapping(node, top, "keys: " + ", ".join(allowed), probs):
        return None
    keys = _check_keys(node, allowed, top, probs)
    sla = Sla()
    if "name" in keys:
        sla.name = _value("text", keys["name"], f"{top}.name", probs) or ""
    if "match" in keys and _mapping(keys["match"], f"{top}.match",
                                    "conditions: " + ", ".join(SLA_MATCH), probs):
        for k, v in _check_keys(keys["match"], SLA_MATCH, f"{top}.match", probs).items():
            want = _value("list", v, f"{top}.match.{k}", probs)
            if want is None:
                continue
            if k == "priority":
                for p in want:
                    if p not in PRIORITIES:
                        probs.add(v, f"{top}.match.priority",
                                  f"unknown priority {p!r}: use {', '.join(PRIORITIES)}")
            if k == "channel":
                from supportctl.channels import media_names

                MEDIA = media_names()

                for c in want:
                    if c not in MEDIA:
                        probs.add(v, f"{top}.match.channel",
                                  f"unknown channel {c!r}: use a medium ({', '.join(MEDIA)})")
            sla.match[k] = [str(w) for w in want]
    for k in ("first_response", "resolution"):
        if k in keys and not _is_null(keys[k]):
            setattr(sla, k, _duration(keys[k], f"{top}.{k}", probs))
    if "business_hours_only" in keys:
        flag = _value("bool", keys["business_hours_only"], f"{top}.business_hours_only", probs)
        sla.business_hours_only = True if flag is None else flag
    if "by_priority" in keys:
        bp = keys["by_priority"]
        if _mapping(bp, f"{top}.by_priority", "priority to targets (urgent: {first_response: 1h})",
                    probs):
            for prio, knode, vnode in _pairs(bp):
                where = f"{top}.by_priority.{prio}"
                if prio not in PRIORITIES:
                    probs.add(knode, where, f"unknown priority{_suggest(prio, PRIORITIES)}: use "
                              + ", ".join(PRIORITIES))
                    continue
                if not _mapping(vnode, where, "keys: first_response, resolution", probs):
                    continue
                pk = _check_keys(vnode, ("first_response", "resolution"), where, probs)
                fr, res = (_duration(pk[k], f"{where}.{k}", probs) if k in pk else None
                           for k in ("first_response", "resolution"))
                sla.by_priority[prio] = (fr, res)
    return sla


NOTIFY_EVENTS = ("new", "due-soon", "breached", "assigned", "customer-replied", "sync-failed",
                 "digest")
#: ``notify[].to`` for the ticket's assignee, at their ``agents[].email``.
NOTIFY_ASSIGNEE = "assignee"
NOTIFY_KEYS = ("name", "via", "to", "on", "at", "priority", "channel", "tag", "outside_hours")
_TELEGRAM_CHAT = re.compile(r"-?\d+|@[A-Za-z][A-Za-z0-9_]{4,}")


def _notify(node: Any, channels: list[dict[str, Any]], probs: _Problems,
            reachable: set[str] | None = None) -> list[Notify]:
    """``reachable``: the agents with an ``email`` (``to: assignee`` mails them)."""
    out: list[Notify] = []
    if not _is_seq(node):
        probs.add(node, "notify", "must be a list of entries (name, via, to, on)")
        return out
    by_name = {c["name"]: c for c in channels}
    seen: set[str] = set()
    for i, item in enumerate(node.value):
        where = f"notify[{i}]"
        if not _mapping(item, where, "keys: " + ", ".join(NOTIFY_KEYS), probs):
            continue
        keys = _check_keys(item, NOTIFY_KEYS, where, probs)
        missing = [k for k in ("name", "via", "to", "on") if k not in keys]
        if missing:
            probs.add(item, where, f"missing required key {missing[0]!r}")
            continue
        name = _value("text", keys["name"], f"{where}.name", probs) or f"notify-{i + 1}"
        if name in seen:
            probs.add(keys["name"], f"{where}.name", f"duplicate notify name {name!r}")
        seen.add(name)
        via = _value("text", keys["via"], f"{where}.via", probs) or ""
        to = _value("text", keys["to"], f"{where}.to", probs) or ""
        entry = Notify(name=name, via=via, to=to)
        target = by_name.get(via)
        if via and target is None:
            probs.add(keys["via"], f"{where}.via", f"no channel entry named {via!r}"
                      + _suggest(via, by_name))
        elif target is not None:
            kind = target["type"]
            if kind == "imap" and not target.get("smtp"):
                probs.add(keys["via"], f"{where}.via",
                          f"channel {via!r} has no smtp block to send email with")
            elif to == NOTIFY_ASSIGNEE:
                if kind not in ("imap", "memory"):
                    probs.add(keys["to"], f"{where}.to",
                              f"to: {NOTIFY_ASSIGNEE} mails the ticket's assignee (agents[].email):"
                              f" channel {via!r} ({kind}) cannot; use an imap entry as via")
                elif not reachable:
                    probs.add(keys["to"], f"{where}.to",
                              f"to: {NOTIFY_ASSIGNEE} mails the ticket's assignee, but no agent has"
                              " an email: add email to agents")
            elif kind == "imap" and to and not _EMAIL.fullmatch(to):
                probs.add(keys["to"], f"{where}.to", f"{to!r} is not an email address")
            elif kind == "twilio" and to and not _E164.fullmatch(to):
                probs.add(keys["to"], f"{where}.to",
                          f"{to!r} is not an E.164 number (+393331112222 or whatsapp:+…)")
            elif kind == "telegram" and to and not _TELEGRAM_CHAT.fullmatch(to):
                probs.add(keys["to"], f"{where}.to",
                          f"{to!r} is not a Telegram chat id (a number; ask the bot's getUpdates)")
            elif kind not in ("imap", "twilio", "telegram", "memory"):
                probs.add(keys["via"], f"{where}.via",
                          f"channel {via!r} ({kind}) cannot notify: use an imap (its smtp), "
                          "twilio or telegram entry")
        on = _value("list", keys["on"], f"{where}.on", probs) or []
        for ev in on:
            if ev not in NOTIFY_EVENTS:
                probs.add(keys["on"], f"{where}.on", f"unknown event {ev!r}{_suggest(ev, NOTIFY_EVENTS)}: "
                          f"use {', '.join(NOTIFY_EVENTS)}")
        entry.on = [e for e in on if e in NOTIFY_EVENTS]
        if to == NOTIFY_ASSIGNEE:
            for ev in ("digest", "sync-failed"):
                if ev in entry.on:
                    probs.add(keys["on"], f"{where}.on",
                              f"{ev} is about no ticket, so it has no assignee: give it an"
                              " entry of its own with an address in to")
        if "at" in keys:
            entry.at = _time(keys["at"], f"{where}.at", probs)
            if "digest" not in on:
                probs.add(keys["at"], f"{where}.at", "only a digest has a time: add digest to on")
        elif "digest" in on:
            probs.add(item, where, 'a digest needs at: the local time to send it ("08:30")')
        for k, choices in (("priority", PRIORITIES), ("channel", None), ("tag", None)):
            if k in keys:
                values = _value("list", keys[k], f"{where}.{k}", probs) or []
                if choices:
                    for v in values:
                        if v not in choices:
                            probs.add(keys[k], f"{where}.{k}",
                                      f"unknown priority {v!r}: use {', '.join(choices)}")
                setattr(entry, k, values)
        if "outside_hours" in keys:
            entry.outside_hours = _value("bool", keys["outside_hours"], f"{where}.outside_hours", probs)
        out.append(entry)
    return out


def _templates(node: Any, probs: _Problems) -> dict[str, Template]:
    out: dict[str, Template] = {}
    if not _mapping(node, "templates", "name to text (or to subject/body)", probs):
        return out
    for name, knode, vnode in _pairs(node):
        where = f"templates.{name}"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            probs.add(knode, where, "a template name is letters, digits, -, _ and .")
            continue
        body_node: Any = vnode
        if _is_map(vnode):
            keys = _check_keys(vnode, ("body", "subject", "content_sid", "languages"), where, probs)
            if "body" not in keys and "content_sid" not in keys:
                probs.add(vnode, where, "missing required key 'body'")
                continue
            body_node = keys.get("body")
            t = Template(body="")
            if "subject" in keys:
                t.subject = _value("str", keys["subject"], f"{where}.subject", probs) or ""
            if "content_sid" in keys:
                sid = _value("text", keys["content_sid"], f"{where}.content_sid", probs)
                if sid is not None and not _CONTENT_SID.fullmatch(sid):
                    probs.add(keys["content_sid"], f"{where}.content_sid",
                              "must be a Twilio Content SID (HX and 32 hex digits)")
                t.content_sid = sid
            if "languages" in keys:
                t.languages = _template_languages(keys["languages"], f"{where}.languages", probs)
            body_where = f"{where}.body"
        else:
            t = Template(body="")
            body_where = where
        if body_node is not None:
            body = _value("text", body_node, body_where, probs)
            if body is None:
                continue
            t.body = body
            _check_jinja(body, body_node, body_where, probs)
        out[name] = t
    return out


def _template_languages(node: Any, where: str, probs: _Problems) -> dict[str, str]:
    out: dict[str, str] = {}
    if not _mapping(node, where, "language code (it, fr, ...) to text", probs):
        return out
    for lang, knode, vnode in _pairs(node):
        if not _LANGUAGE.fullmatch(lang):
            probs.add(knode, f"{where}.{lang}", "a language is a two-letter ISO 639-1 code (it, fr, de)")
            continue
        body = _value("text", vnode, f"{where}.{lang}", probs)
        if body is not None:
            _check_jinja(body, vnode, f"{where}.{lang}", probs)
            out[lang] = body
    return out


def _check_jinja(body: str, node: Any, where: str, probs: _Problems) -> None:
    from jinja2 import TemplateSyntaxError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    try:
        ImmutableSandboxedEnvironment().parse(body)
    except TemplateSyntaxError as exc:
        # A block scalar (| or >) starts its text on the line after the key.
        first = node.start_mark.line + (2 if getattr(node, "style", None) in ("|", ">") else 1)
        probs.add(None, where, f"template error: {exc.message}",
                  line=first + (exc.lineno or 1) - 1)


def _rules(node: Any, agents: list[str], groups: set[str], templates: dict[str, Template],
           probs: _Problems) -> list[Rule]:
    out: list[Rule] = []
    if not _is_seq(node):
        probs.add(node, "rules", "must be a list of rules")
        return out
    for i, item in enumerate(node.value):
        where = f"rules[{i}]"
        if not _mapping(item, where, "keys: name, match, and actions (" + ", ".join(RULE_ACTIONS) + ")",
                        probs):
            continue
        keys = _check_keys(item, ("name", "match", *RULE_ACTIONS), where, probs)
        name = _value("text", keys["name"], f"{where}.name", probs) if "name" in keys else None
        rule = Rule(name=name or f"rule {i + 1}", match={})
        if "match" not in keys:
            probs.add(item, where, f"missing required key 'match' ({', '.join(RULE_MATCH)})")
        elif _mapping(keys["match"], f"{where}.match", "conditions: " + ", ".join(RULE_MATCH),
                      probs):
            conds = _check_keys(keys["match"], RULE_MATCH, f"{where}.match", probs)
            for k, v in conds.items():
                want = _rule_condition(k, v, f"{where}.match.{k}", probs)
                if want is not None:
                    rule.match[k] = want
            if not conds:
                probs.add(keys["match"], f"{where}.match", "needs at least one condition")
        if "tag" in keys:
            rule.tag = _value("list", keys["tag"], f"{where}.tag", probs) or []
        if "assign" in keys:
            _rule_assign(rule, keys["assign"], f"{where}.assign", agents, groups, probs)
        if "priority" in keys:
            rule.priority = _value("enum:" + "|".join(PRIORITIES), keys["priority"],
                                   f"{where}.priority", probs)
        if "status" in keys:
            rule.status = _value("enum:" + "|".join(STATUSES), keys["status"],
                                 f"{where}.status", probs)
        if "note" in keys:
            rule.note = _value("text", keys["note"], f"{where}.note", probs)
        if "reply" in keys:
            rule.reply = _template_ref(keys["reply"], f"{where}.reply", templates, probs)
        if "notify" in keys:
            rule.notify = _value("text", keys["notify"], f"{where}.notify", probs)
        if "stop" in keys:
            rule.stop = bool(_value("bool", keys["stop"], f"{where}.stop", probs))
        if not any(k in keys for k in RULE_ACTIONS):
            probs.add(item, where, f"does nothing: give at least one of {', '.join(RULE_ACTIONS)}")
        out.append(rule)
    return out


def _rule_condition(key: str, node: Any, where: str, probs: _Problems) -> Any:
    if key in ("new_contact", "outside_hours"):
        return _value("bool", node, where, probs)
    if key in ("channel", "account", "language", "tag", "priority"):
        values = _value("list", node, where, probs)
        if values is None:
            return None
        if key == "language":
            for v in values:
                if not _LANGUAGE.fullmatch(v):
                    probs.add(node, where, f"{v!r} is not a two-letter ISO 639-1 code (it, fr, de)")
                    return None
        if key == "priority":
            for v in values:
                if v not in PRIORITIES:
                    probs.add(node, where, f"must be one of {', '.join(PRIORITIES)}{_suggest(v, PRIORITIES)}")
                    return None
        return values[0] if len(values) == 1 and isinstance(_py(node), str) else values
    want = _value("text", node, where, probs)
    if want is not None and key in ("subject", "text"):
        import regex

        try:
            regex.compile(want, regex.IGNORECASE | regex.V0)
        except regex.error as exc:
            probs.add(node, where, f"not a regular expression ({exc}): escape special "
                      "characters with \\ or quote the text")
            return None
    return want


def _rule_assign(rule: Rule, node: Any, where: str, agents: list[str], groups: set[str],
                 probs: _Problems) -> None:
    if _is_map(node):
        keys = _check_keys(node, ("group", "how"), where, probs)
        if "group" not in keys:
            probs.add(node, where, "missing required key 'group' (a group of agents)")
            return
        group = _value("text", keys["group"], f"{where}.group", probs)
        if group is not None and group not in groups:
            probs.add(keys["group"], f"{where}.group",
                      f"no agent is in group {group!r}{_suggest(group, sorted(groups))}"
                      " (agents: - {name: ..., groups: [...]})")
            return
        rule.assign_group = group
        if "how" in keys:
            rule.assign_how = _value("enum:round-robin|least-open", keys["how"], f"{where}.how",
                                     probs) or rule.assign_how
        return
    rule.assign = _value("text", node, where, probs)
    if rule.assign and agents and rule.assign not in agents:
        probs.add(node, where,
                  f"{rule.assign!r} is not one of agents{_suggest(rule.assign, agents)}")


def _template_ref(node: Any, where: str, templates: dict[str, Template],
                  probs: _Problems) -> str | None:
    name = _value("text", node, where, probs)
    if name is not None and name not in templates:
        probs.add(node, where, f"no template named {name!r} in templates"
                  + _suggest(name, templates))
    return name


def _auto_reply(node: Any, templates: dict[str, Template], probs: _Problems) -> AutoReply:
    ar = AutoReply()
    if not _mapping(node, "auto_reply", "keys: enabled, template, outside_hours_template, "
                    "max_per_contact, window, max_age", probs):
        return ar
    keys = _check_keys(node, ("enabled", "template", "outside_hours_template", "max_per_contact",
                              "window", "max_age"), "auto_reply", probs)
    if "enabled" in keys:
        ar.enabled = bool(_value("bool", keys["enabled"], "auto_reply.enabled", probs))
    if "template" in keys:
        ar.template = _template_ref(keys["template"], "auto_reply.template", templates, probs)
    if "outside_hours_template" in keys:
        ar.outside_hours_template = _template_ref(keys["outside_hours_template"],
                                                  "auto_reply.outside_hours_template", templates, probs)
    if "max_per_contact" in keys:
        count = _value("int", keys["max_per_contact"], "auto_reply.max_per_contact", probs)
        ar.max_per_contact = ar.max_per_contact if count is None else count
    if "window" in keys:
        ar.window = _duration(keys["window"], "auto_reply.window", probs) or ar.window
    if "max_age" in keys:
        age = _duration(keys["max_age"], "auto_reply.max_age", probs)
        if age is not None and age <= timedelta(0):
            probs.add(keys["max_age"], "auto_reply.max_age",
                      "must be longer than 0 (to send none, set enabled: false)")
        elif age is not None:
            ar.max_age = age
    if ar.enabled and "template" not in keys:
        probs.add(node, "auto_reply", "enabled without a template: name one of templates")
    return ar


def _csat(node: Any, templates: dict[str, Template], probs: _Problems) -> Csat:
    cs = Csat()
    if not _mapping(node, "csat", "keys: enabled, template, after", probs):
        return cs
    keys = _check_keys(node, ("enabled", "template", "after"), "csat", probs)
    if "after" in keys:
        cs.after = _duration(keys["after"], "csat.after", probs) or cs.after
    if "enabled" in keys:
        cs.enabled = bool(_value("bool", keys["enabled"], "csat.enabled", probs))
    if "template" in keys:
        cs.template = _template_ref(keys["template"], "csat.template", templates, probs)
    if cs.enabled and "template" not in keys:
        probs.add(node, "csat", "enabled without a template: name one of templates")
    return cs


def _kb(node: Any, probs: _Problems) -> Kb:
    kb = Kb()
    if not _mapping(node, "kb", "keys: path, base_url, auto_reply, auto_reply_min_score", probs):
        return kb
    keys = _check_keys(node, ("path", "base_url", "auto_reply", "auto_reply_min_score"), "kb",
                       probs)
    if "path" in keys:
        kb.path = _value("text", keys["path"], "kb.path", probs)
    if "base_url" in keys:
        kb.base_url = _value("url", keys["base_url"], "kb.base_url", probs)
    if "auto_reply" in keys:
        n = _value("count", keys["auto_reply"], "kb.auto_reply", probs)  # 0: none
        kb.auto_reply = n if n is not None else 0
    if "auto_reply_min_score" in keys:
        v = _py(keys["auto_reply_min_score"])
        if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1:
            kb.auto_reply_min_score = float(v)
        else:
            probs.add(keys["auto_reply_min_score"], "kb.auto_reply_min_score",
                      "must be a number from 0 to 1 (a suggestion's score)")
    return kb


def _suggest_settings(node: Any, probs: _Problems) -> SuggestSettings:
    out = SuggestSettings()
    if not _mapping(node, "suggest", "keys: semantic", probs):
        return out
    keys = _check_keys(node, ("semantic",), "suggest", probs)
    if "semantic" in keys:
        out.semantic = bool(_value("bool", keys["semantic"], "suggest.semantic", probs))
    return out


# -- secrets ----------------------------------------------------------------

#: How long an ``x_cmd`` may take (a password manager may prompt on a terminal).
SECRET_CMD_TIMEOUT = 30.0


def _secret_keys(spec: dict[str, tuple[str, bool, Any]]) -> list[str]:
    return [k for k, (kind, _, _) in spec.items() if kind == "secret"]


def _run_secret_cmd(cmd: str, where: str) -> str:
    import subprocess

    # stdin is not the user's: `reply 3 -` may be reading it. stdout and
    # stderr are captured and never shown (either may hold the secret).
    try:
        proc = subprocess.Popen(cmd, shell=True, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        raise ConfigError(f"{where} could not be started ({exc.strerror})") from None
    try:
        out, _ = proc.communicate(timeout=SECRET_CMD_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        # A grandchild may still hold the pipes: do not wait to read them.
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        raise ConfigError(f"{where} did not finish within {SECRET_CMD_TIMEOUT:g} s: "
                          "run it yourself to see why") from None
    if proc.returncode != 0:
        how = (f"was killed by signal {-proc.returncode}" if proc.returncode < 0
               else f"failed (exit {proc.returncode})")
        raise ConfigError(f"{where} {how}: run it yourself to see why")
    # Like `pass show`, the secret is the first line of the output.
    lines = out.decode("utf-8", "replace").strip().splitlines()
    if not lines or not lines[0].strip():
        raise ConfigError(f"{where} printed nothing: it must print the secret")
    return lines[0].strip()


def _resolve(block: dict[str, Any], keys: list[str], where: str) -> None:
    for key in keys:
        if f"{key}_env" in block:
            var = block.pop(f"{key}_env")
            value = os.environ.get(var)
            if value is None:
                raise ConfigError(f"{where}.{key}_env: environment variable {var} is not set")
            if not value.strip():
                raise ConfigError(f"{where}.{key}_env: environment variable {var} is empty")
            block[key] = value
        elif f"{key}_cmd" in block:
            block[key] = _run_secret_cmd(block.pop(f"{key}_cmd"), f"{where}.{key}_cmd")


def resolve_secrets(entry: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a channel entry (and its smtp block) with every
    ``x_env`` / ``x_cmd`` replaced by ``x``; ConfigError naming the key (and
    the variable), never the value or the command's output."""
    import copy

    out = copy.deepcopy(entry)
    where = f"channels[{out.get('name', '?')}]"
    _resolve(out, _secret_keys(channel_keys().get(out.get("type", ""), {})), where)
    if isinstance(out.get("smtp"), dict):
        _resolve(out["smtp"], _secret_keys(SMTP_KEYS), f"{where}.smtp")
    return out


def resolve_serve_secrets(block: dict[str, Any]) -> dict[str, Any]:
    """A copy of the ``serve`` block with its ``x_env``/``x_cmd`` resolved."""
    import copy

    out = copy.deepcopy(block)
    _resolve(out, _secret_keys(SERVE_KEYS), "serve")
    return out


def secret_warnings(config: Config) -> list[str]:
    """One warning per secret written in clear in a config file that group
    or others may read. The secret itself is never part of the text."""
    if config.path is None:
        return []
    try:
        mode = config.path.stat().st_mode
    except OSError:
        return []
    if not mode & 0o077:
        return []
    found: list[tuple[str, str]] = []
    for entry in config.channels:
        where = f"channels[{entry['name']}]"
        for key in _secret_keys(channel_keys().get(entry["type"], {})):
            if key in entry and key not in _not_warned():
                found.append((f"{where}.{key}", key))
        smtp = entry.get("smtp")
        if isinstance(smtp, dict):
            found += [(f"{where}.smtp.{k}", k) for k in _secret_keys(SMTP_KEYS) if k in smtp]
    found += [(f"serve.{k}", k) for k in _secret_keys(SERVE_KEYS) if k in config.serve]
    return [
        f"{where} is in clear in {config.path}, which other users can read: "
        f"run `chmod 600 {config.path}`, or use {key}_env / {key}_cmd"
        for where, key in found
    ]


def secret_source_warnings(config: Config) -> list[str]:
    """Offline checks of where secrets come from (``config check`` without
    ``--online``): an ``x_env`` whose variable is unset or empty, an
    ``x_cmd`` whose program is not found. Commands are not run (a password
    manager may prompt); names the key and variable, never a value."""
    import shlex
    import shutil

    out: list[str] = []

    def check(block: dict[str, Any], keys: list[str], where: str, user: str = "sync") -> None:
        for key in keys:
            var = block.get(f"{key}_env")
            if var is not None and not os.environ.get(str(var), "").strip():
                state = "is not set" if os.environ.get(str(var)) is None else "is empty"
                out.append(f"{where}.{key}_env: environment variable {var} {state} here: "
                           f"set it where supportctl runs (cron, systemd), or {user} will fail")
            cmd = block.get(f"{key}_cmd")
            if cmd is not None:
                try:
                    program = shlex.split(str(cmd))[0] if str(cmd).strip() else ""
                except ValueError:
                    program = str(cmd).split()[0] if str(cmd).split() else ""
                if not program or (shutil.which(program) is None
                                   and not (os.sep in program and os.access(program, os.X_OK))):
                    out.append(f"{where}.{key}_cmd: program {program or '(none)'!r} is not found "
                               "on PATH: install it or give its full path")

    for entry in config.channels:
        where = f"channels[{entry['name']}]"
        check(entry, _secret_keys(channel_keys().get(entry["type"], {})), where)
        if isinstance(entry.get("smtp"), dict):
            check(entry["smtp"], _secret_keys(SMTP_KEYS), f"{where}.smtp")
    check(config.serve, _secret_keys(SERVE_KEYS), "serve", "serve")
    return out
