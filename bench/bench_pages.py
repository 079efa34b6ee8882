"""Page bench: a full render of the Preview page with 10,000 rows, and of the Sync page during a 1,000-item run.

Renders through Streamlit's AppTest (the page script end to end: reading state, shaping, every element built and
serialised), against the sandbox doubles. Prints the seconds; the target is within 3 s each.

    python bench/bench_pages.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.chdir(ROOT)

from streamlit.testing.v1 import AppTest  # noqa: E402

from page_helpers import fake_run, set_up  # noqa: E402
from pexxero import runs  # noqa: E402
from pexxero.sandbox import start_sandbox  # noqa: E402

TARGET = 3.0
PREVIEW_ROWS = 10_000
SYNC_ITEMS = 1_000


def render(page: str) -> tuple[float, AppTest]:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page(f"pages/{page}.py")
    started = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - started
    assert not at.exception, [e.value for e in at.exception]
    return elapsed, at


def big_preview(preview, rows: int):
    """The demo preview repeated to `rows` rows, each with its own PEX id (what a busy program's quarter holds)."""
    frame = preview.frame
    copies = -(-rows // len(frame))
    big = pd.concat([frame] * copies, ignore_index=True).iloc[:rows].copy()
    big["pex_id"] = range(500_000_000, 500_000_000 + rows)
    return replace(preview, frame=big)


def main() -> int:
    sandbox = start_sandbox()
    sandbox.xero.limits.minute_limit = 10_000
    os.environ.update(sandbox.env)
    db = str(Path(tempfile.mkdtemp(prefix="pexxero-bench-")) / "bench.db")
    os.environ["PEXXERO_DB"] = db
    conn = set_up(db, sandbox)
    from dashboard import context

    context._previews()["by_db"][db] = big_preview(conn.preview(), PREVIEW_ROWS)
    results = {}
    render("preview")  # warm-up: imports and caches, as a server that has shown a page once
    results[f"Preview page, {PREVIEW_ROWS:,} rows"], at = render("preview")
    assert f"{PREVIEW_ROWS:,} of {PREVIEW_ROWS:,} rows" in "\n".join(c.value for c in at.caption)

    done = SYNC_ITEMS * 2 // 5
    fake_run(conn, runs.RUNNING,
             [(600_000_000 + i, runs.CREATED if i < done else runs.PLANNED) for i in range(SYNC_ITEMS)],
             to_write=SYNC_ITEMS, step=f"writing to Xero: {done} of {SYNC_ITEMS}")
    render("sync")
    results[f"Sync page, {SYNC_ITEMS:,}-item run in progress"], _ = render("sync")
    sandbox.stop()

    worst = 0.0
    for name, seconds in results.items():
        worst = max(worst, seconds)
        print(f"{name}: {seconds:.2f} s (target {TARGET:.0f} s)")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
