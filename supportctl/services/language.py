"""Language of a customer's text (SPEC §10), offline.

py3langid (a naive Bayes over byte n-grams, numpy only) restricted to the
languages the shop serves: measured on the short support messages in
``bench/lang_samples.py`` (it/fr/de/es/en, SMS-length included) it named
75 of 75 right at 0.2 ms a message, against lingua's 74 of 75 at 1.3 ms
(low-accuracy mode; its high-accuracy mode loads 100 MB of models).
Its model loads once per process, lazily, on the first inbound text: never
on the ``list``/``show`` path. The package ships it xz-compressed (4.5 MB
unpacking to 68 MB: 0.45 s of CPU in every ``sync`` process, as much as
ingesting 500 messages); the unpacked copy is kept in the cache directory
(``paths.default_cache_dir``) and read from there after the first time. A normalised probability below
``CONFIDENT`` means unsure (``None``): "ok", "5", "👍" or an order number
carry no language, and a wrong guess would pick the wrong template.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

#: The languages detected unless the config names others (template variants,
#: rule conditions, CSAT words).
DEFAULT_LANGUAGES = ("en", "it", "fr", "de", "es")
#: Normalised probability at or above which a guess counts (0.7 keeps
#: every sample right while "hola", "thanks" or "Order 1042" stay unsure).
CONFIDENT = 0.7
#: Characters of text looked at: the customer's first words say enough
#: (the cost is linear in them: 2 000 cost 12 ms here, 400 about 3),
#: and a 1 MB message must cost no more than a short one.
SAMPLE = 400

_QUOTE = re.compile(r"^\s*>.*$", re.M)
_NOISE = re.compile(r"https?://\S+|\S+@\S+|[\d#]+")
_identifier: Any = None
_languages: tuple[str, ...] = ()


def _model(languages: tuple[str, ...]) -> Any:
    global _identifier, _languages
    if _identifier is None:
        _identifier = _load_identifier()
    if languages != _languages:
        known = set(_identifier.labels)
        _identifier.set_languages([lang for lang in languages if lang in known] or list(DEFAULT_LANGUAGES))
        _languages = languages
    return _identifier


def _load_identifier() -> Any:
    """py3langid's model, from the unpacked copy in the cache directory
    when there is a good one; else unpacked from the package (and the copy
    written for next time, when the cache directory is writable)."""
    from pathlib import Path

    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    from supportctl.paths import default_cache_dir

    source = Path(MODEL_DIR) / MODEL_FILE
    st = source.stat()
    # A new release of the package brings a new file: another name.
    cached = default_cache_dir() / f"langid-{st.st_size}-{st.st_mtime_ns}.npz"
    arrays = _read_unpacked(cached)
    if arrays is None:
        arrays = _unpack(source, cached)
    ptc, pc, classes, nextmove, row, output = arrays
    return LanguageIdentifier(ptc, pc, classes, nextmove, output, norm_probs=True, tk_row=row)


def _read_unpacked(path: Any) -> tuple[Any, ...] | None:
    """The model's arrays from an unpacked copy, as py3langid's own loader
    hands them to ``LanguageIdentifier``; None when the copy is missing or
    unreadable (a damaged copy is removed, to be written again)."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            return (data["ptc"], data["pc"], data["classes"].tolist(), _uint_array(data["nextmove"]),
                    _uint_array(data["nextmove_row"]), data["out_feat"].tolist())
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - any damage: unpack again
        try:
            path.unlink()
        except OSError:
            pass
        return None


def _unpack(source: Any, target: Any) -> tuple[Any, ...]:
    """Unpack the package's model into ``target`` and read it. Atomic (a
    temporary file renamed), so a concurrent sync reads a whole copy or
    none. A cache directory that cannot be written (read-only home, a full
    disk) only costs the speed: the model is unpacked into a temporary file."""
    import lzma
    import os
    import shutil
    import tempfile

    tmp = None
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".langid-", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as out, lzma.open(source) as src:
            shutil.copyfileobj(src, out, length=1 << 20)
        os.replace(tmp, target)
        tmp = None
        arrays = _read_unpacked(target)
    except OSError:
        with tempfile.TemporaryFile(suffix=".npz") as out:
            with lzma.open(source) as src:
                shutil.copyfileobj(src, out, length=1 << 20)
            out.seek(0)
            arrays = _read_unpacked(out)
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    if arrays is None:
        raise RuntimeError(f"the language model in {source} cannot be read: reinstall py3langid")
    return arrays


def _uint_array(arr: Any) -> Any:
    """A numpy array of unsigned integers as the stdlib ``array`` py3langid
    walks (its loader's conversion: per-element access to an ``array`` is
    several times cheaper than to a numpy array)."""
    from array import array

    import numpy as np

    out = array({2: "H", 4: "I", 8: "L"}[arr.dtype.itemsize])
    out.frombytes(np.ascontiguousarray(arr).data.cast("B"))
    return out


_configured: dict[int, tuple[Any, tuple[str, ...]]] = {}


def languages_of(config: Any) -> tuple[str, ...]:
    """The languages to tell apart: the defaults plus every language the
    config names (template variants, rule conditions). Once per config."""
    cached = _configured.get(id(config))
    if cached is None or cached[0] is not config:
        cached = _configured[id(config)] = (config, _languages_in(config))
    return cached[1]


def _languages_in(config: Any) -> tuple[str, ...]:
    found = set(DEFAULT_LANGUAGES)
    for tpl in (getattr(config, "templates", None) or {}).values():
        found.update(getattr(tpl, "languages", None) or {})
    for rule in getattr(config, "rules", None) or []:
        want = (getattr(rule, "match", None) or {}).get("language")
        if isinstance(want, str):
            found.add(want)
        elif isinstance(want, list):
            found.update(want)
    return tuple(sorted(found))


def detect(text: str, languages: Iterable[str] = DEFAULT_LANGUAGES) -> str | None:
    """ISO 639-1 code of ``text``, or None when unsure."""
    sample = _NOISE.sub(" ", _QUOTE.sub("", text[:SAMPLE]))
    letters = 0
    for ch in sample:  # three letters at least; most texts show them at once
        if ch.isalpha():
            letters += 1
            if letters == 3:
                break
    else:
        return None
    lang, prob = _model(tuple(languages)).classify(sample)
    return str(lang) if prob >= CONFIDENT else None
