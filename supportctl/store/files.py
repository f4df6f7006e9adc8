"""Files that hold customer data, and the one way a digest becomes a path.

Contract:
- ``attachment_path`` is the only function that turns an attachment's
  SHA-256 into a path. It refuses anything but 64 lowercase hex digits and
  checks that the result resolves inside the files directory, so a digest
  from an import, a store row or a message can never name another file
  (``../../etc/passwd`` is refused, not read, not deleted).
- Customer data is private whatever the umask: files we create are 0600,
  directories we create are 0700 (``private_dir``, ``create_private``).
- ``write_new`` writes a file into a directory someone else may control
  (``attachments --save DIR``): ``O_CREAT|O_EXCL|O_NOFOLLOW``, so a planted
  symlink, dangling or not, is never followed and nothing is overwritten; a
  taken name gets ``-1``, ``-2``…; names are cut to a byte length every
  common file system takes.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from supportctl.errors import SupportError

_DIGEST = re.compile(r"[0-9a-f]{64}")
#: ext4, XFS, btrfs and APFS take 255 bytes; leave room for ``-NN`` and a
#: temporary suffix.
NAME_BYTES = 200


class UnsafePath(SupportError):
    """A digest or name read from data that must not become a path."""


def valid_digest(digest: object) -> bool:
    return isinstance(digest, str) and _DIGEST.fullmatch(digest) is not None


def attachment_path(files_dir: Path, digest: str) -> Path:
    """``files_dir/ab/cdef…`` for a SHA-256 hex digest; anything else is
    refused."""
    if not valid_digest(digest):
        raise UnsafePath(
            f"attachment digest {str(digest)[:70]!r} is not a SHA-256 (64 lowercase hex digits); "
            "the store or the import is damaged"
        )
    path = Path(os.path.join(files_dir, digest[:2], digest[2:]))
    # Below the files directory the path is its two names: when neither is
    # a symbolic link it is inside, and two lstat calls say so (resolving
    # both paths cost a dozen, per attachment stored).
    if _not_a_link(path.parent) and _not_a_link(path):
        return path
    if not path.resolve().is_relative_to(files_dir.resolve()):
        raise UnsafePath(f"attachment {digest[:12]} resolves outside {files_dir}: "
                         f"remove the symbolic link under {files_dir}")
    return path


def _not_a_link(path: Path) -> bool:
    """Whether ``path`` is not a symbolic link (a missing path is not)."""
    try:
        return not stat.S_ISLNK(os.lstat(path).st_mode)
    except FileNotFoundError:
        return True
    except OSError:
        return False  # cannot tell: resolve it


def private_dir(path: Path) -> Path:
    """``mkdir -p`` where every directory created is 0700 (existing ones
    are left as they are: a user's own ``--save ~/Downloads`` stays his)."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(d, 0o700)  # mkdir's mode is masked by the umask
    return path


def create_private(path: Path, *, exclusive: bool = True) -> int:
    """Open a new file for writing, 0600 whatever the umask, never through
    a symbolic link. Returns the descriptor."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    flags |= os.O_EXCL if exclusive else os.O_TRUNC
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return fd


def cap_name(name: str, limit: int = NAME_BYTES) -> str:
    """``name`` cut to ``limit`` bytes of UTF-8 on a character boundary,
    keeping a short extension."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext.encode("utf-8")) > 16 or not stem:
        stem, dot, ext = name, "", ""
    room = limit - len((dot + ext).encode("utf-8"))
    cut = stem.encode("utf-8")[:room].decode("utf-8", "ignore")
    return cut + dot + ext


def write_new(directory: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to a new file ``directory/name`` (or ``name-1``…):
    never follows a symbolic link, never overwrites, 0600."""
    name = cap_name(name)
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, dot, ext = name, "", ""
    for k in range(10_000):
        candidate = name if k == 0 else f"{stem}-{k}{dot}{ext}"
        path = directory / candidate
        try:
            fd = create_private(path)
        except FileExistsError:
            continue
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path
    raise UnsafePath(f"{directory} has 10000 files named like {name!r}: choose an empty directory")
