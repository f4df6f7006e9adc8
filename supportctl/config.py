"""Configuration: YAML → validated ``Config`` (SPEC §7).

Contract:
- Every problem is found in one pass and reported together, each as
  ``FILE:LINE: key.path: what is wrong`` (unknown keys included, with a
  suggestion); ``ConfigError.problems`` lists them.
- A secret key ``x`` may be written ``x``, ``x_env`` or ``x_cmd``, exactly
  one of them. ``resolve_secrets`` turns ``_env``/``_cmd`` into values; only
  commands that talk to a channel call it, never read commands.
- Secrets never appear in messages: a failing ``_cmd`` is named, its output
  is not shown.
- The read path (``list``, ``show``) only calls ``store_path_fast`` and the
  default paths, which do not import yaml.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import subprocess
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

from supportctl.errors import ConfigError

# -- paths ------------------------------------------------------------------


def default_config_path() -> Path:
    env = os.environ.get("SUPPORTCTL_CONFIG")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "supportctl" / "config.yaml"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "supportctl"


_STORE_LINE = re.compile(r"^store\s*:\s*(.*?)\s*$")


def store_path_fast(config_path: Path) -> str | None:
    """The top-level ``store:`` value, read with a line scan (no yaml)."""
    try:
        with open(config_path, encoding="utf-8") as fh:
            for line in fh:
                m = _STORE_LINE.match(line)
                if not m:
                    continue
                value = m.group(1)
                if value[:1] in ("'", '"'):
                    q = value[0]
                    end = value.find(q, 1)
                    value = value[1:end] if end > 0 else value[1:]
                    if q == "'":
                        value = value.replace("''", "'")
                else:
                    value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
                    if value.startswith("#"):
                        value = ""
                if not value or value in ("~", "null"):
                    return None
                return os.path.expanduser(value)
    except (FileNotFoundError, IsADirectoryError, PermissionError, UnicodeDecodeError):
        return None
    return None


# -- values -----------------------------------------------------------------


def parse_duration(text: str) -> timedelta:
    m = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", str(text))
    if not m:
        raise ValueError(f"bad duration {text!r}: write it like 90m, 36h or 7d")
    n, unit = int(m.group(1)), m.group(2)
    return {"s": timedelta(seconds=n), "m": timedelta(minutes=n), "h": timedelta(hours=n),
            "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]


@dataclass
class BusinessHours:
    days: set[int] = field(default_factory=lambda: {0, 1, 2, 3, 4})
    start: time = time(9, 0)
    end: time = time(17, 0)


@dataclass
class Holidays:
    country: str | None = None
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
    by_priority: dict[str, tuple[timedelta | None, timedelta | None]] = field(default_factory=dict)
    business_hours_only: bool = True


@dataclass
class Rule:
    name: str
    match: dict[str, str]
    tag: list[str] = field(default_factory=list)
    assign: str | None = None
    priority: str | None = None
    status: str | None = None


@dataclass
class Template:
    body: str
    subject: str = ""
    content_sid: str | None = None


@dataclass
class AutoReply:
    enabled: bool = False
    template: str | None = None
    max_per_contact: int = 3
    window: timedelta = timedelta(hours=1)


@dataclass
class Csat:
    enabled: bool = False
    template: str | None = None


@dataclass
class Config:
    path: Path | None = None
    store: str | None = None
    timezone: str | None = None
    business_hours: BusinessHours | None = None
    holidays: Holidays = field(default_factory=Holidays)
    agents: list[Agent] = field(default_factory=list)
    channels: list[dict[str, Any]] = field(default_factory=list)
    sla: Sla | None = None
    rules: list[Rule] = field(default_factory=list)
    templates: dict[str, Template] = field(default_factory=dict)
    auto_reply: AutoReply = field(default_factory=AutoReply)
    csat: Csat = field(default_factory=Csat)
    reopen_window: timedelta = timedelta(days=7)
    close_after: timedelta = timedelta(days=4)
    outbox_max_attempts: int = 5

    def channel(self, name: str) -> dict[str, Any]:
        for c in self.channels:
            if c["name"] == name:
                return c
        raise ConfigError(
            f"no channel entry named {name!r}: configured are "
            f"{', '.join(c['name'] for c in self.channels) or 'none'}"
        )

    def agent_names(self) -> list[str]:
        return [a.name for a in self.agents]


# -- schema -----------------------------------------------------------------

TOP_KEYS = ("store", "timezone", "business_hours", "holidays", "agents", "channels", "sla",
            "rules", "templates", "auto_reply", "csat", "reopen_window", "close_after", "outbox")

#: Per channel type: key -> (kind, required, default). Kinds: str, int, bool,
#: list, secret, path, block:smtp, enum:a|b, since, url.
_TLS = {"tls_verify": ("bool", False, True), "ca_file": ("path", False, None)}
CHANNEL_KEYS: dict[str, dict[str, tuple[str, bool, Any]]] = {
    "imap": {
        "host": ("str", True, None), "port": ("int", False, None),
        "security": ("enum:ssl|starttls|none", False, "ssl"), **_TLS,
        "username": ("str", True, None), "password": ("secret", True, None),
        "folders": ("list", False, ["INBOX"]), "since": ("since", False, None),
        "addresses": ("list", False, None), "smtp": ("block:smtp", False, None),
    },
    "twilio": {
        "account_sid": ("secret", True, None), "auth_token": ("secret", True, None),
        "numbers": ("numbers", True, None),
        "api_base_url": ("url", False, "https://api.twilio.com"), **_TLS,
    },
    "telegram": {
        "token": ("secret", True, None),
        "api_base_url": ("url", False, "https://api.telegram.org"), **_TLS,
    },
    "mastodon": {
        "base_url": ("url", True, None), "access_token": ("secret", True, None),
        "since": ("since", False, None), **_TLS,
    },
    "memory": {},
}
SMTP_KEYS: dict[str, tuple[str, bool, Any]] = {
    "host": ("str", True, None), "port": ("int", False, None),
    "security": ("enum:ssl|starttls|none", False, "starttls"), **_TLS,
    "username": ("str", False, None), "password": ("secret", False, None),
    "from": ("str", False, None), "reply_to": ("str", False, None),
    "save_sent": ("str", False, None),
}
COMMON_CHANNEL_KEYS = ("name", "type", "signature")
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("new", "open", "pending", "solved", "closed")


class _Problems:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, node: Any, where: str, message: str) -> None:
        line = f":{node.start_mark.line + 1}" if node is not None and hasattr(node, "start_mark") else ""
        prefix = f"{self.path}{line}: " if self.path else ""
        self.items.append(f"{prefix}{where}: {message}" if where else f"{prefix}{message}")


def _pairs(node: Any) -> list[tuple[str, Any, Any]]:
    """(key, key node, value node) of a YAML mapping node."""
    return [(k.value, k, v) for k, v in node.value]


def _py(node: Any) -> Any:
    import yaml

    return yaml.safe_load(yaml.serialize(node)) if node is not None else None


def _is_map(node: Any) -> bool:
    import yaml

    return isinstance(node, yaml.MappingNode)


def _suggest(key: str, allowed: Any) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_keys(node: Any, allowed: Any, where: str, probs: _Problems) -> dict[str, Any]:
    """Mapping of key -> value node, with unknown and duplicate keys reported."""
    out: dict[str, Any] = {}
    for key, knode, vnode in _pairs(node):
        path = f"{where}.{key}" if where else key
        if key not in allowed:
            probs.add(knode, path, "unknown key" + _suggest(key, allowed))
            continue
        if key in out:
            probs.add(knode, path, "given twice")
        out[key] = vnode
    return out


def _allowed(spec: dict[str, tuple[str, bool, Any]], top: bool) -> list[str]:
    """Keys a block accepts: its own, ``_env``/``_cmd`` forms of secrets,
    and for a channel entry its name, type and signature."""
    allowed = list(COMMON_CHANNEL_KEYS) if top else []
    for k, (kind, _, _) in spec.items():
        allowed.append(k)
        if kind == "secret":
            allowed += [f"{k}_env", f"{k}_cmd"]
    return allowed


def _value(kind: str, node: Any, where: str, probs: _Problems) -> Any:
    value = _py(node)
    if kind in ("str", "url", "path") or kind == "secret":
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            probs.add(node, where, "must be text")
            return None
        value = str(value)
        if kind == "url" and not re.match(r"https?://", value):
            probs.add(node, where, "must be an http:// or https:// URL")
        if kind == "path":
            value = os.path.expanduser(value)
            if not Path(value).is_file():
                probs.add(node, where, f"no such file {value}")
        return value
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            probs.add(node, where, "must be a positive whole number")
            return None
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            probs.add(node, where, "must be true or false")
            return None
        return value
    if kind == "list":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            probs.add(node, where, "must be a list of text")
            return None
        return value
    if kind == "numbers":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            probs.add(node, where, "must be a list of E.164 numbers (+15551234567 or whatsapp:+…)")
            return None
        for v in value:
            if not isinstance(v, str) or not re.fullmatch(r"(whatsapp:)?\+\d{6,15}", v):
                probs.add(node, where, f"{v!r} is not an E.164 number (+15551234567 or whatsapp:+…)")
        return value
    if kind == "since":
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str):
            try:
                parse_duration(value)
                return value
            except ValueError:
                try:
                    date.fromisoformat(value)
                    return value
                except ValueError:
                    pass
        probs.add(node, where, "must be a date (2026-01-31) or a duration (30d)")
        return None
    if kind.startswith("enum:"):
        choices = kind[5:].split("|")
        if value not in choices:
            probs.add(node, where, f"must be one of {', '.join(choices)}")
            return None
        return value
    raise AssertionError(kind)


def _block(node: Any, spec: dict[str, tuple[str, bool, Any]], where: str, probs: _Problems,
           *, top: bool = True) -> dict[str, Any]:
    if not _is_map(node):
        probs.add(node, where, "must be a mapping of keys")
        return {}
    nodes = _check_keys(node, _allowed(spec, top), where, probs)
    out: dict[str, Any] = {}
    for key, (kind, required, default) in spec.items():
        forms = [f for f in (key, f"{key}_env", f"{key}_cmd") if f in nodes] if kind == "secret" else (
            [key] if key in nodes else [])
        if kind == "secret" and len(forms) > 1:
            probs.add(nodes[forms[1]], f"{where}.{forms[1]}",
                      f"give {key} one way only, not {' and '.join(forms)}")
        if not forms:
            if required:
                hint = f" (or {key}_env / {key}_cmd)" if kind == "secret" else ""
                probs.add(node, where, f"missing required key {key!r}{hint}")
            if default is not None:
                out[key] = copy.deepcopy(default)
            continue
        form = forms[0]
        if kind.startswith("block:"):
            out[key] = _block(nodes[form], SMTP_KEYS, f"{where}.{form}", probs, top=False)
            continue
        val = _value("str" if form != key else kind, nodes[form], f"{where}.{form}", probs)
        if val is not None:
            out[form] = val
    if "signature" in nodes:
        out["signature"] = str(_py(nodes["signature"]) or "")
    return out


def _duration(node: Any, where: str, probs: _Problems) -> timedelta | None:
    try:
        return parse_duration(_py(node))
    except (ValueError, TypeError):
        probs.add(node, where, "bad duration: write it like 90m, 36h or 7d")
        return None


def _time(node: Any, where: str, probs: _Problems) -> time | None:
    value = _py(node)
    if isinstance(value, int):  # YAML 1.1 reads 09:00 as a sexagesimal number
        value = f"{value // 60:02d}:{value % 60:02d}"
    try:
        return time.fromisoformat(str(value).zfill(5))
    except ValueError:
        probs.add(node, where, "must be a time like 09:00")
        return None


def load_config(path: Path | None = None, *, required: bool = False) -> Config:
    path = path or default_config_path()
    try:
        text = path.read_text(encoding="utf-8")
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
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        root = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"{where}: {problem}") from None
    cfg = Config(path=path)
    if root is None:
        return cfg
    probs = _Problems(path)
    if not _is_map(root):
        probs.add(root, "", "the config must be a mapping of keys (see config.example.yaml)")
        raise ConfigError(probs.items[0], probs.items)
    top = _check_keys(root, TOP_KEYS, "", probs)
    _load_top(cfg, top, probs)
    if probs.items:
        n = len(probs.items)
        summary = probs.items[0] if n == 1 else f"config has {n} problems; first: {probs.items[0]}"
        raise ConfigError(summary, probs.items)
    return cfg


def _load_top(cfg: Config, top: dict[str, Any], probs: _Problems) -> None:
    if "store" in top:
        cfg.store = _value("str", top["store"], "store", probs)
    if "timezone" in top:
        tz = _py(top["timezone"])
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(str(tz))
            cfg.timezone = str(tz)
        except Exception:
            probs.add(top["timezone"], "timezone", f"unknown time zone {tz!r} (use e.g. Europe/Rome)")
    for key, attr in (("reopen_window", "reopen_window"), ("close_after", "close_after")):
        if key in top:
            d = _duration(top[key], key, probs)
            if d is not None:
                setattr(cfg, attr, d)
    if "outbox" in top and _is_map(top["outbox"]):
        ob = _check_keys(top["outbox"], ("max_attempts",), "outbox", probs)
        if "max_attempts" in ob:
            cfg.outbox_max_attempts = _value("int", ob["max_attempts"], "outbox.max_attempts", probs) or 5
    if "business_hours" in top:
        cfg.business_hours = _business_hours(top["business_hours"], probs)
    if "holidays" in top:
        cfg.holidays = _holidays(top["holidays"], probs)
    if "agents" in top:
        cfg.agents = _agents(top["agents"], probs)
    if "channels" in top:
        cfg.channels = _channels(top["channels"], probs)
    if "sla" in top:
        cfg.sla = _sla(top["sla"], probs)
    if "templates" in top:
        cfg.templates = _templates(top["templates"], probs)
    if "rules" in top:
        cfg.rules = _rules(top["rules"], probs)
    for key, cls in (("auto_reply", AutoReply), ("csat", Csat)):
        if key in top:
            setattr(cfg, key, _toggle(top[key], key, cls, probs))
    for key in ("auto_reply", "csat"):
        tpl = getattr(cfg, key).template
        if tpl and cfg.templates is not None and tpl not in cfg.templates:
            probs.add(top.get(key), f"{key}.template", f"no template named {tpl!r} in templates")


def _business_hours(node: Any, probs: _Problems) -> BusinessHours | None:
    if not _is_map(node):
        probs.add(node, "business_hours", "must be a mapping: days, start, end")
        return None
    keys = _check_keys(node, ("days", "start", "end"), "business_hours", probs)
    bh = BusinessHours()
    if "days" in keys:
        days = _py(keys["days"])
        if isinstance(days, str):
            days = [d.strip() for d in days.split(",")]
        got = set()
        for d in days if isinstance(days, list) else []:
            d = str(d).lower()[:3]
            if d not in DAYS:
                probs.add(keys["days"], "business_hours.days", f"unknown day {d!r}: use mon … sun")
            else:
                got.add(DAYS.index(d))
        bh.days = got
    for k in ("start", "end"):
        if k in keys:
            t = _time(keys[k], f"business_hours.{k}", probs)
            if t is not None:
                setattr(bh, k, t)
    if bh.end <= bh.start:
        probs.add(node, "business_hours", "end must be after start")
    return bh


def _holidays(node: Any, probs: _Problems) -> Holidays:
    h = Holidays()
    if isinstance(_py(node), str):
        h.country = _py(node)
        return h
    if not _is_map(node):
        probs.add(node, "holidays", "must be a country code (IT) or a mapping: country, dates")
        return h
    keys = _check_keys(node, ("country", "dates"), "holidays", probs)
    if "country" in keys:
        h.country = str(_py(keys["country"])).upper()
        try:
            import holidays as hol

            hol.country_holidays(h.country)
        except Exception:
            probs.add(keys["country"], "holidays.country", f"unknown country code {h.country!r}")
    if "dates" in keys:
        for v in _py(keys["dates"]) or []:
            try:
                h.dates.append(v if isinstance(v, date) else date.fromisoformat(str(v)))
            except ValueError:
                probs.add(keys["dates"], "holidays.dates", f"{v!r} is not a date (2026-12-24)")
    return h


def _agents(node: Any, probs: _Problems) -> list[Agent]:
    import yaml

    out: list[Agent] = []
    if not isinstance(node, yaml.SequenceNode):
        probs.add(node, "agents", "must be a list")
        return out
    for i, item in enumerate(node.value):
        where = f"agents[{i}]"
        if isinstance(item, yaml.ScalarNode):
            out.append(Agent(name=str(item.value)))
            continue
        if not _is_map(item):
            probs.add(item, where, "must be a name or a mapping")
            continue
        keys = _check_keys(item, ("name", "email", "groups", "signature"), where, probs)
        if "name" not in keys:
            probs.add(item, where, "missing required key 'name'")
            continue
        out.append(Agent(
            name=str(_py(keys["name"])), email=str(_py(keys.get("email")) or ""),
            groups=list(_py(keys.get("groups")) or []),
            signature=str(_py(keys.get("signature")) or ""),
        ))
    return out


def _channels(node: Any, probs: _Problems) -> list[dict[str, Any]]:
    import yaml

    out: list[dict[str, Any]] = []
    if not isinstance(node, yaml.SequenceNode):
        probs.add(node, "channels", "must be a list of channel entries")
        return out
    names: set[str] = set()
    for i, item in enumerate(node.value):
        where = f"channels[{i}]"
        if not _is_map(item):
            probs.add(item, where, "must be a mapping with name and type")
            continue
        raw = {k: v for k, _, v in _pairs(item)}
        type_ = _py(raw.get("type")) if "type" in raw else None
        name = _py(raw.get("name")) if "name" in raw else None
        if type_ not in CHANNEL_KEYS:
            probs.add(raw.get("type", item), f"{where}.type",
                      f"unknown channel type {type_!r}: use imap, twilio, telegram or mastodon"
                      if type_ is not None else "missing required key 'type'")
            continue
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
            probs.add(raw.get("name", item), f"{where}.name",
                      "missing or bad name: lower-case letters, digits, - and _")
            name = f"channel-{i}"
        elif name in names:
            probs.add(raw["name"], f"{where}.name", f"duplicate channel name {name!r}")
        names.add(name)
        entry = _block(item, CHANNEL_KEYS[type_], where, probs)
        entry["name"], entry["type"] = name, type_
        if type_ == "imap":
            sec = entry.get("security", "ssl")
            entry.setdefault("port", 993 if sec == "ssl" else 143)
            if not entry.get("addresses") and "@" in str(entry.get("username", "")):
                entry["addresses"] = [str(entry["username"]).lower()]
            smtp = entry.get("smtp")
            if smtp:
                smtp.setdefault("security", "starttls")
                smtp.setdefault("port", {"ssl": 465, "starttls": 587, "none": 25}[smtp["security"]])
                has_pw = any(k in smtp for k in ("password", "password_env", "password_cmd"))
                if smtp.get("username") and not has_pw:
                    probs.add(item, f"{where}.smtp", "username is set but no password (or password_env / password_cmd)")
        out.append(entry)
    return out


def _sla(node: Any, probs: _Problems) -> Sla | None:
    if not _is_map(node):
        probs.add(node, "sla", "must be a mapping: first_response, resolution, by_priority")
        return None
    keys = _check_keys(node, ("first_response", "resolution", "by_priority", "business_hours_only"),
                       "sla", probs)
    sla = Sla()
    for k in ("first_response", "resolution"):
        if k in keys:
            setattr(sla, k, _duration(keys[k], f"sla.{k}", probs))
    if "business_hours_only" in keys:
        sla.business_hours_only = bool(_value("bool", keys["business_hours_only"],
                                              "sla.business_hours_only", probs))
    if "by_priority" in keys:
        bp = keys["by_priority"]
        if _is_map(bp):
            for prio, knode, vnode in _pairs(bp):
                where = f"sla.by_priority.{prio}"
                if prio not in PRIORITIES:
                    probs.add(knode, where, "unknown priority" + _suggest(prio, PRIORITIES))
                    continue
                if not _is_map(vnode):
                    probs.add(vnode, where, "must be a mapping: first_response, resolution")
                    continue
                pk = _check_keys(vnode, ("first_response", "resolution"), where, probs)
                sla.by_priority[prio] = (
                    _duration(pk["first_response"], f"{where}.first_response", probs)
                    if "first_response" in pk else None,
                    _duration(pk["resolution"], f"{where}.resolution", probs)
                    if "resolution" in pk else None,
                )
        else:
            probs.add(bp, "sla.by_priority", "must be a mapping of priority to targets")
    return sla


def _templates(node: Any, probs: _Problems) -> dict[str, Template]:
    out: dict[str, Template] = {}
    if not _is_map(node):
        probs.add(node, "templates", "must be a mapping of name to text")
        return out
    for name, _knode, vnode in _pairs(node):
        where = f"templates.{name}"
        if _is_map(vnode):
            keys = _check_keys(vnode, ("body", "subject", "content_sid"), where, probs)
            if "body" not in keys and "content_sid" not in keys:
                probs.add(vnode, where, "missing required key 'body'")
                continue
            t = Template(body=str(_py(keys.get("body")) or ""),
                         subject=str(_py(keys.get("subject")) or ""),
                         content_sid=_py(keys.get("content_sid")))
        else:
            t = Template(body=str(_py(vnode) or ""))
        try:
            from jinja2 import TemplateSyntaxError
            from jinja2.sandbox import ImmutableSandboxedEnvironment

            ImmutableSandboxedEnvironment().parse(t.body)
        except TemplateSyntaxError as exc:
            line = vnode.start_mark.line + (exc.lineno or 1)
            probs.items.append(f"{probs.path}:{line}: {where}: template error: {exc.message}")
            continue
        out[name] = t
    return out


RULE_MATCH = ("channel", "account", "from", "to", "subject", "text")


def _rules(node: Any, probs: _Problems) -> list[Rule]:
    import yaml

    out: list[Rule] = []
    if not isinstance(node, yaml.SequenceNode):
        probs.add(node, "rules", "must be a list of rules")
        return out
    for i, item in enumerate(node.value):
        where = f"rules[{i}]"
        if not _is_map(item):
            probs.add(item, where, "must be a mapping: name, match, and actions")
            continue
        keys = _check_keys(item, ("name", "match", "tag", "assign", "priority", "status"), where, probs)
        match: dict[str, str] = {}
        if "match" in keys and _is_map(keys["match"]):
            for k, v in _check_keys(keys["match"], RULE_MATCH, f"{where}.match", probs).items():
                match[k] = str(_py(v))
        else:
            probs.add(item, where, "missing required key 'match'")
        rule = Rule(name=str(_py(keys.get("name")) or f"rule {i + 1}"), match=match)
        if "tag" in keys:
            rule.tag = _value("list", keys["tag"], f"{where}.tag", probs) or []
        if "assign" in keys:
            rule.assign = str(_py(keys["assign"]))
        if "priority" in keys:
            rule.priority = _value("enum:" + "|".join(PRIORITIES), keys["priority"], f"{where}.priority", probs)
        if "status" in keys:
            rule.status = _value("enum:" + "|".join(STATUSES), keys["status"], f"{where}.status", probs)
        out.append(rule)
    return out


def _toggle(node: Any, where: str, cls: Any, probs: _Problems) -> Any:
    obj = cls()
    if not _is_map(node):
        probs.add(node, where, "must be a mapping")
        return obj
    allowed = ("enabled", "template") + (("max_per_contact", "window") if cls is AutoReply else ())
    keys = _check_keys(node, allowed, where, probs)
    if "enabled" in keys:
        obj.enabled = bool(_value("bool", keys["enabled"], f"{where}.enabled", probs))
    if "template" in keys:
        obj.template = str(_py(keys["template"]))
    if "max_per_contact" in keys:
        obj.max_per_contact = _value("int", keys["max_per_contact"], f"{where}.max_per_contact", probs) or 3
    if "window" in keys:
        obj.window = _duration(keys["window"], f"{where}.window", probs) or obj.window
    if obj.enabled and not obj.template:
        probs.add(node, where, "enabled without a template: name one of templates")
    return obj


# -- secrets ----------------------------------------------------------------


def _secret_keys(entry: dict[str, Any]) -> list[str]:
    spec = CHANNEL_KEYS.get(entry.get("type", ""), {})
    return [k for k, (kind, _, _) in spec.items() if kind == "secret"]


def _resolve(block: dict[str, Any], keys: list[str], where: str) -> None:
    for key in keys:
        if f"{key}_env" in block:
            var = block.pop(f"{key}_env")
            if var not in os.environ:
                raise ConfigError(f"{where}.{key}_env: environment variable {var} is not set")
            block[key] = os.environ[var]
        elif f"{key}_cmd" in block:
            cmd = block.pop(f"{key}_cmd")
            try:
                p = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30,
                                   stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                raise ConfigError(f"{where}.{key}_cmd did not finish within 30 s") from None
            if p.returncode != 0:
                raise ConfigError(f"{where}.{key}_cmd failed (exit {p.returncode}); "
                                  "run it yourself to see why") from None
            value = p.stdout.strip("\r\n")
            if not value:
                raise ConfigError(f"{where}.{key}_cmd printed nothing")
            block[key] = value


def resolve_secrets(entry: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(entry)
    name = out.get("name", "?")
    _resolve(out, _secret_keys(out), f"channels[{name}]")
    if isinstance(out.get("smtp"), dict):
        _resolve(out["smtp"], ["password"], f"channels[{name}].smtp")
    return out


def secret_warnings(config: Config) -> list[str]:
    if config.path is None:
        return []
    try:
        mode = config.path.stat().st_mode
    except OSError:
        return []
    if not mode & 0o077:
        return []
    found = []
    for entry in config.channels:
        for key in _secret_keys(entry):
            if key in entry:
                found.append(f"channels[{entry['name']}].{key}")
        smtp = entry.get("smtp") or {}
        if "password" in smtp:
            found.append(f"channels[{entry['name']}].smtp.password")
    return [
        f"{k} is in clear in {config.path}, which others can read: `chmod 600 {config.path}`, "
        f"or use {k.rsplit('.', 1)[-1]}_env / _cmd" for k in found
    ]
