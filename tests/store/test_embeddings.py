"""The packed ticket vectors (``store/embeddings.py``): the database is
the truth; a SQLite store also keeps them as one file beside it, read
memory-mapped, that follows every change (its generation is the store's)
and is rewritten whenever it is missing, stale or damaged."""

from __future__ import annotations

import array
import os
import stat
from pathlib import Path
from typing import Any

from supportctl.services import semantic
from supportctl.store import embeddings as ev
from supportctl.store.db import Store
from tests.cli.test_suggest import HISTORY, load, ticket
from tests.services.test_semantic import StandIn, index_for
from tests.store.test_engines import mail, put

MODEL = semantic.MODEL


def as_lists(p: ev.Packed | None) -> tuple[list[int], list[float], bytes]:
    assert p is not None
    return (array.array("q", bytes(p.ids)).tolist(), array.array("f", bytes(p.scales)).tolist(),
            bytes(p.vectors))


def test_packed_vectors_round_trip_on_both_engines(any_store: Any) -> None:
    results = put(any_store, *(mail(f"m{i}", sender=f"c{i}@example.com", subject=f"Order {i}")
                               for i in range(3)))
    ids = sorted({r.ticket_id for r in results})
    assert ev.packed(any_store, MODEL) is None
    rows = [(tid, MODEL, f"d{tid}", "2026-12-02T10:00:00Z", "en", 0.5 + tid, bytes([tid]) * 8)
            for tid in ids[:2]]
    ev.put_ticket_vectors(any_store, rows)
    assert ev.pack(any_store, MODEL) == 2
    first = ev.packed(any_store, MODEL)
    assert as_lists(first) == (ids[:2], [0.5 + ids[0], 0.5 + ids[1]],
                               bytes([ids[0]]) * 8 + bytes([ids[1]]) * 8)
    assert first is not None and first.dim == 8
    # A new vector: the next read has it, whichever way it reads.
    ev.put_ticket_vectors(any_store, [(ids[2], MODEL, "d", "2026-12-02T10:00:00Z", None, 2.0,
                                       bytes([9]) * 8)])
    ev.pack(any_store, MODEL)
    assert as_lists(ev.packed(any_store, MODEL))[0] == ids
    # Only SQLite keeps a file copy; the second read of it is mapped.
    again = ev.packed(any_store, MODEL)
    assert again is not None and again.mapped == (any_store.sql.name == "sqlite")
    ev.clear(any_store)
    assert ev.packed(any_store, MODEL) is None


def embedded(cli: Any, tmp_path: Path) -> tuple[Store, semantic.SemanticIndex]:
    load(cli, tmp_path, HISTORY)
    store = Store(cli.db)
    idx = index_for(store, StandIn())
    assert idx.update([]).tickets == 4
    return store, idx


def test_the_copy_is_private_mapped_and_the_databases(cli: Any, tmp_path: Path) -> None:
    store, idx = embedded(cli, tmp_path)
    path = ev.copy_path(store, MODEL)
    assert path.parent == store.files_dir / "vectors"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    mapped = ev.packed(store, MODEL)
    assert mapped is not None and mapped.mapped
    blocks = store.conn.execute("SELECT ids, scales, vectors FROM ticket_vector_blocks"
                                " WHERE model = ? ORDER BY block", [MODEL]).fetchall()
    assert as_lists(mapped) == (array.array("q", b"".join(b[0] for b in blocks)).tolist(),
                                array.array("f", b"".join(b[1] for b in blocks)).tolist(),
                                b"".join(b[2] for b in blocks))
    assert {h.ticket_id for h in idx.similar("rimborso scarpe", [], exclude_ticket=None)} \
        == {1, 2, 6}
    store.close()


def test_the_copy_follows_new_and_changed_vectors(cli: Any, tmp_path: Path) -> None:
    store, idx = embedded(cli, tmp_path)
    path = ev.copy_path(store, MODEL)
    before = path.read_bytes()
    # A newly solved ticket: embedded, packed, and the copy has it.
    load(cli, tmp_path, [ticket(7, "solved", "Mi avete addebitato il rimborso due volte",
                                [("alice", "Abbiamo annullato il secondo rimborso.")])])
    assert idx.update([]).tickets == 1
    assert path.read_bytes() != before
    assert 7 in as_lists(ev.packed(store, MODEL))[0]
    assert 7 in {h.ticket_id for h in idx.similar("rimborso", [], exclude_ticket=None)}
    # A changed answer: as many vectors as before, other bytes, a new
    # generation; a copy of the old generation put back is not believed.
    old = path.read_bytes()
    assert cli("reopen", "2").code == 0
    store.execute("UPDATE messages SET text = 'A password reset link is on its way.'"
                  " WHERE ticket_id = 2 AND direction = 'out'")
    assert cli("solve", "2").code == 0
    assert idx.update([]).tickets == 1
    new = path.read_bytes()
    assert len(new) == len(old) and new != old
    path.write_bytes(old)
    fresh = ev.packed(store, MODEL)
    assert fresh is not None and not fresh.mapped  # read from the database…
    assert path.read_bytes() == new  # …and the copy rewritten
    assert bytes(fresh.vectors) == new[-len(fresh.vectors):]
    store.close()


def test_a_damaged_or_missing_copy_is_rewritten_from_the_database(cli: Any,
                                                                 tmp_path: Path) -> None:
    store, idx = embedded(cli, tmp_path)
    path = ev.copy_path(store, MODEL)
    good = path.read_bytes()
    want = {h.ticket_id for h in idx.similar("rimborso scarpe", [], exclude_ticket=None)}
    for damage in (good[:len(good) // 2], b"", b"\0" * len(good), None):
        if damage is None:
            path.unlink()
        else:
            path.write_bytes(damage)
        assert {h.ticket_id for h in idx.similar("rimborso scarpe", [], exclude_ticket=None)} \
            == want
        assert path.read_bytes() == good
        assert ev.packed(store, MODEL).mapped  # type: ignore[union-attr]
    # A process that died while writing it left its temporary file: gone
    # with the next write.
    dead = path.with_name(f".{path.stem}.999999999.tmp")
    dead.write_bytes(b"half")
    path.unlink()
    ev.packed(store, MODEL)
    assert not dead.exists() and path.exists()
    store.close()


def test_vectors_packed_before_generations_were_kept_get_one(cli: Any, tmp_path: Path) -> None:
    store, idx = embedded(cli, tmp_path)
    path = ev.copy_path(store, MODEL)
    store.execute("DELETE FROM service_state WHERE key LIKE 'vectors %'")
    path.unlink()
    assert not ev.packed(store, MODEL).mapped  # type: ignore[union-attr]
    assert store.scalar("SELECT count(*) FROM service_state WHERE key LIKE 'vectors %'") == 1
    assert ev.packed(store, MODEL).mapped  # type: ignore[union-attr]
    store.close()


def test_rebuild_forgets_the_copy_too(cli: Any, tmp_path: Path) -> None:
    store, idx = embedded(cli, tmp_path)
    idx.rebuild()
    assert ev.packed(store, MODEL) is None
    assert idx.similar("rimborso scarpe", [], exclude_ticket=None) == []
    assert idx.update([]).tickets == 4
    assert ev.packed(store, MODEL).mapped  # type: ignore[union-attr]
    assert os.path.exists(ev.copy_path(store, MODEL))
    store.close()
