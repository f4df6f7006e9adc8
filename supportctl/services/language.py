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
(``paths.default_cache_dir``) and mapped from there after the first time
(``_read_unpacked``). A normalised probability below
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
#: The same without its address branch, for the 98 % of texts with no "@"
#: (that branch is tried at every position of the text: half the cost).
_NOISE_NO_AT = re.compile(r"https?://\S+|[\d#]+")
_identifier: Any = None
_languages: tuple[str, ...] = ()


def _model(languages: tuple[str, ...]) -> Any:
    global _identifier, _languages
    if _identifier is None:
        _identifier = _load_identifier()
    if languages != _languages:
        known = set(_identifier.labels)
        _identifier.set_languages([lang for lang in languages if lang in known] or list(DEFAULT_LANGUAGES))
        # The chosen languages' columns, laid out as py3langid's own loader
        # leaves them (the same sums in the same order: the same scores).
        import numpy as np

        _identifier.nb_ptc = np.ascontiguousarray(_identifier.nb_ptc)
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
    cached = default_cache_dir() / f"langid-{st.st_size}-{st.st_mtime_ns}.{_FORMAT}"
    arrays = _read_unpacked(cached)
    if arrays is None:
        arrays = _unpack(source, cached)
    ptc, pc, classes, nextmove, row, output = arrays
    return LanguageIdentifier(ptc, pc, classes, nextmove, output, norm_probs=True, tk_row=row)


#: The unpacked copy's layout: a magic line, the length of a JSON header,
#: the header (each array's dtype, shape and offset), then the arrays, each
#: at a multiple of 64 bytes. It is mapped, not read: a parsing worker or a
#: ``sync`` touches only the pages its texts walk (the transition table is
#: 39 MB; reading the whole model cost 0.13-0.16 s a process), and processes
#: share the pages. The class table is kept one row per language, so the
#: five languages a shop serves are read, not all 142.
_FORMAT = "lid1"
_MAGIC = b"supportctl langid 1\n"
#: The arrays and, for each, how the copy keeps it (see ``_write_unpacked``).
_ARRAYS = ("ptc_by_class", "pc", "classes", "nextmove", "nextmove_row", "out_feat")


def _read_unpacked(path: Any) -> tuple[Any, ...] | None:
    """The model's arrays from an unpacked copy (``path``: a file name or
    an open binary file), as py3langid's own loader hands them to
    ``LanguageIdentifier``; None when the copy is missing or damaged (a
    damaged copy is removed, to be written again). The size of every part
    is checked, not its bytes: the copy is ours, private, written whole."""
    import json
    import mmap

    import numpy as np

    try:
        f = path if hasattr(path, "fileno") else open(path, "rb")  # noqa: SIM115
    except OSError:
        return None
    try:
        with f:
            whole = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if whole[:len(_MAGIC)] != _MAGIC:
            raise ValueError("not an unpacked model")
        at = len(_MAGIC)
        size = int.from_bytes(whole[at:at + 8], "little")
        header = json.loads(whole[at + 8:at + 8 + size])
        views: dict[str, Any] = {}
        for name in _ARRAYS:
            dtype, shape, offset = header[name]
            count = int(np.prod(shape))
            if offset + count * np.dtype(dtype).itemsize > len(whole):
                raise ValueError("the copy is cut short")
            views[name] = np.frombuffer(whole, dtype=dtype, count=count, offset=offset).reshape(shape)
        # The transition table as memoryviews of Python ints: py3langid
        # walks it element by element, several times cheaper on a
        # memoryview (or an ``array``) than on a numpy array.
        return (views["ptc_by_class"].T, np.array(views["pc"]), views["classes"].tolist(),
                memoryview(views["nextmove"]), memoryview(views["nextmove_row"]),
                views["out_feat"].tolist())
    except Exception:  # noqa: BLE001 - any damage: unpack again
        if hasattr(path, "unlink"):
            try:
                path.unlink()
            except OSError:
                pass
        return None


def _write_unpacked(source: Any, out: Any) -> None:
    """The package's model (``source``, xz-compressed numpy arrays) in the
    layout ``_read_unpacked`` maps, written to the binary file ``out``."""
    import io
    import json
    import lzma

    import numpy as np

    with lzma.open(source) as src:
        data = np.load(io.BytesIO(src.read()), allow_pickle=False)
        arrays = {
            "ptc_by_class": np.ascontiguousarray(data["ptc"].T), "pc": data["pc"],
            "classes": data["classes"], "nextmove": data["nextmove"],
            "nextmove_row": data["nextmove_row"], "out_feat": data["out_feat"],
        }
    header: dict[str, Any] = {}
    offset = 0
    # Offsets first (the header's length depends on them), then the bytes.
    for _ in range(2):
        size = len(json.dumps(header).encode())
        offset = -(-(len(_MAGIC) + 8 + size + 64) // 64) * 64
        for name in _ARRAYS:
            arr = arrays[name]
            header[name] = [arr.dtype.str, list(arr.shape), offset]
            offset = -(-(offset + arr.nbytes) // 64) * 64
    blob = json.dumps(header).encode()
    out.write(_MAGIC + len(blob).to_bytes(8, "little") + blob)
    for name in _ARRAYS:
        out.write(b"\0" * (header[name][2] - out.tell()))
        out.write(np.ascontiguousarray(arrays[name]).tobytes())


def _unpack(source: Any, target: Any) -> tuple[Any, ...]:
    """Unpack the package's model into ``target`` and map it. Atomic (a
    temporary file renamed), so a concurrent sync reads a whole copy or
    none; copies for older releases of the package are removed. A cache
    directory that cannot be written (read-only home, a full disk) only
    costs the speed: the model is unpacked into a temporary file."""
    import os
    import tempfile

    tmp = None
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".langid-", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as out:
            _write_unpacked(source, out)
        os.replace(tmp, target)
        tmp = None
        for old in target.parent.glob("langid-*"):
            if old.name != target.name:
                old.unlink(missing_ok=True)
        arrays = _read_unpacked(target)
    except OSError:
        spare = tempfile.TemporaryFile(suffix=".lid")  # noqa: SIM115 - closed by _read_unpacked
        _write_unpacked(source, spare)
        spare.flush()
        arrays = _read_unpacked(spare)
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    if arrays is None:
        raise RuntimeError(f"the language model in {source} cannot be read: reinstall py3langid")
    return arrays


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
    sample = _QUOTE.sub("", text[:SAMPLE])
    sample = (_NOISE if "@" in sample else _NOISE_NO_AT).sub(" ", sample)
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
