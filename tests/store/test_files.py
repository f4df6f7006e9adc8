"""A digest from data becomes a path only when it is a SHA-256 inside the
files directory; files written into a directory someone else may control
never follow a planted link; customer files are private whatever the
umask."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportctl.store.db import Store
from supportctl.store.files import (
    NAME_BYTES,
    UnsafePath,
    attachment_path,
    cap_name,
    private_dir,
    write_new,
)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p, follow_symlinks=False).st_mode)


@pytest.mark.parametrize("digest", [
    "../../etc/passwd",
    ".." + "/etc/passwd".ljust(62, "x"),             # 64 characters, old code made it absolute
    "../" * 21 + "a",                                 # 64 characters of traversal
    "A" * 64,                                         # upper case is not what we write
    "a" * 63, "a" * 65, "", "a" * 63 + "\n", "ab/" + "c" * 61,
])
def test_attachment_path_refuses_what_is_not_a_digest(tmp_path: Path, digest: str) -> None:
    with pytest.raises(UnsafePath):
        attachment_path(tmp_path / "files", digest)


@given(st.text(max_size=80))
def test_only_64_lowercase_hex_becomes_a_path(s: str) -> None:
    root = Path("/nonexistent/store.files")
    ok = len(s) == 64 and all(c in "0123456789abcdef" for c in s)
    try:
        p = attachment_path(root, s)
    except UnsafePath:
        assert not ok
    else:
        assert ok and p.parent.parent == root and p.name == s[2:]


def test_attachment_path_refuses_a_symlink_out_of_the_files_dir(tmp_path: Path) -> None:
    files = tmp_path / "store.files"
    files.mkdir()
    (files / "ab").symlink_to(tmp_path)
    with pytest.raises(UnsafePath, match="outside"):
        attachment_path(files, "ab" + "c" * 62)


def test_attachment_path_refuses_a_file_linked_out_of_the_files_dir(tmp_path: Path) -> None:
    files = tmp_path / "store.files"
    (files / "ab").mkdir(parents=True)
    (tmp_path / "secret").write_text("x")
    (files / "ab" / ("c" * 62)).symlink_to(tmp_path / "secret")
    with pytest.raises(UnsafePath, match="outside"):
        attachment_path(files, "ab" + "c" * 62)
    # A link that stays inside (a store copied with its links) is followed.
    (files / "cd").mkdir()
    (files / "cd" / ("e" * 62)).write_text("y")
    (files / "ab" / ("d" * 62)).symlink_to(files / "cd" / ("e" * 62))
    assert attachment_path(files, "ab" + "d" * 62).read_text() == "y"
    # A files directory reached through a link is still itself.
    (tmp_path / "elsewhere").symlink_to(files)
    assert attachment_path(tmp_path / "elsewhere", "cd" + "e" * 62).read_text() == "y"


def test_write_new_never_follows_a_planted_symlink(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (target / "a.pdf").symlink_to(tmp_path / "dangling")
    (target / "a-1.pdf").symlink_to(victim)
    p = write_new(target, "a.pdf", b"new")
    assert p.name == "a-2.pdf" and p.read_bytes() == b"new"
    assert not (tmp_path / "dangling").exists() and victim.read_text() == "keep"


@given(st.text(min_size=1, max_size=400))
def test_cap_name_fits_in_bytes_and_keeps_a_prefix(name: str) -> None:
    out = cap_name(name)
    assert len(out.encode("utf-8")) <= NAME_BYTES
    if len(name.encode("utf-8")) <= NAME_BYTES:
        assert out == name


def test_emoji_names_are_cut_in_bytes_keeping_the_extension() -> None:
    out = cap_name("😀" * 150 + ".pdf")
    assert out.endswith(".pdf") and len(out.encode()) <= NAME_BYTES and out.startswith("😀")


def test_store_files_and_dirs_are_private_whatever_the_umask(tmp_path: Path, umask_022: None) -> None:
    store = Store(tmp_path / "new" / "s.db")
    digest = store.put_file(b"customer invoice")
    store.execute("INSERT INTO events (actor, action, detail, at) VALUES ('t', 'x', '{}', 'now')")
    assert digest == hashlib.sha256(b"customer invoice").hexdigest()
    assert mode(tmp_path / "new") == 0o700
    for p in (store.path, Path(f"{store.path}-wal"), Path(f"{store.path}-shm"),
              store.file_path(digest)):
        assert mode(p) == 0o600, p
    assert mode(store.files_dir) == 0o700 and mode(store.file_path(digest).parent) == 0o700
    store.close()


def test_an_old_world_readable_store_is_tightened_on_opening(tmp_path: Path) -> None:
    Store(tmp_path / "s.db").close()
    os.chmod(tmp_path / "s.db", 0o644)
    (tmp_path / "s.files").mkdir()
    os.chmod(tmp_path / "s.files", 0o755)
    Store(tmp_path / "s.db").close()
    assert mode(tmp_path / "s.db") == 0o600 and mode(tmp_path / "s.files") == 0o700


def test_private_dir_leaves_existing_directories_alone(tmp_path: Path, umask_022: None) -> None:
    os.chmod(tmp_path, 0o755)
    private_dir(tmp_path / "a" / "b")
    assert mode(tmp_path) == 0o755
    assert mode(tmp_path / "a") == 0o700 and mode(tmp_path / "a" / "b") == 0o700
