"""Two agents racing `next` over 1 000 tickets (SPEC §13), on any engine:
the tests of SQLite's and PostgreSQL's team mode share it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

#: Each process claims tickets through the service `next` calls, on its own
#: connection, pausing a moment after each as a person would. Both start
#: together: each says it is ready and waits for the other.
SCRIPT = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from supportctl.services.team import hand_out\n"
    "from supportctl.store.db import open_store\n"
    "db = sys.argv[1]\n"
    "store = open_store(db if '://' in db else Path(db), create=False)\n"
    "ready = Path(sys.argv[3])\n"
    "(ready / sys.argv[2]).touch()\n"
    "while not all((ready / w).exists() for w in ('marta', 'luca')):\n"
    "    pass\n"
    "got = []\n"
    "while (tid := hand_out(store, sys.argv[2], '2026-12-01T09:00:00Z',"
    " '2026-12-02T09:00:00Z')) is not None:\n"
    "    got.append(tid)\n"
    "    time.sleep(0.0005)\n"
    "print(' '.join(map(str, got)))\n"
)


def race_next(cli: Any, db: str, ready: Path, as_agent: Callable[[str], dict[str, str]],
              n: int = 1000) -> None:
    """Import ``n`` open tickets, give each agent one through the real
    `next`, then let two processes hand out the rest at once: every ticket
    goes to exactly one agent. Nothing asserts that both got work: a write
    lock need not be fair, and a loaded machine may let one process take
    every ticket while the other waits; what must hold whatever the
    interleaving is that no ticket goes out twice."""
    body = "".join(
        json.dumps({"id": k, "status": "open", "priority": "normal", "subject": f"q{k}",
                    "channel": "phone", "created_at": "2026-12-01T08:00:00Z",
                    "updated_at": "2026-12-01T08:00:00Z", "tags": []}) + "\n"
        for k in range(1, n + 1))
    imp = cli("import", "--format", "jsonl", "-", input=body)
    assert imp.code == 0, imp
    mine = {who: cli("next", "--format", "ids", env=as_agent(who)) for who in ("marta", "luca")}
    assert all(r.code == 0 for r in mine.values()), mine
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, db, who, str(ready)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for who in ("marta", "luca")]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    handed = [int(x) for out, _ in outs for x in out.split()]
    handed += [int(r.out) for r in mine.values()]
    assert Counter(handed).most_common(1)[0][1] == 1  # nobody got a ticket twice
    assert sorted(handed) == list(range(1, n + 1))  # and every ticket went to someone
