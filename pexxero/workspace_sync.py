"""Every connection's sync at once: `sync --all` and the dashboard's SYNC ALL.

Xero's limits are per organisation (60 calls a minute, 5 at once, the day's allowance), so connections on
different organisations run side by side, each on a thread and a store of its own, while connections on one
organisation run one after another and never share its minute. Each sync is the same `run_sync` as `sync`: its
own lock, ledger and organisation; nothing of one connection is read or written by another's run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from pexxero import errors

if TYPE_CHECKING:
    from pexxero.workspace import Workspace

SIDE_BY_SIDE = 4  # organisations synced at once: the work is waiting on Xero, not the cores


@dataclass(frozen=True)
class AllSyncLine:
    name: str
    exit_code: Optional[int]  # None: not set up, not run
    line: str  # one line for the terminal, starting with the connection's name


def sync_all(workspace: "Workspace", *, retry_failed: bool = False, full_refresh: bool = False,
             side_by_side: int = SIDE_BY_SIDE, **options) -> list[AllSyncLine]:
    """Run every set-up connection's sync; one line per connection, in name order. `options` go to `run_sync`
    (e.g. `today`)."""
    lines: dict[str, AllSyncLine] = {}
    queues: dict[str, list[str]] = {}
    for summary in workspace.summaries():
        if not summary.set_up:
            lines[summary.name] = AllSyncLine(summary.name, None, f"{summary.name}: not set up ({summary.not_set_up})")
        else:
            queues.setdefault(summary.tenant_id.lower(), []).append(summary.name)

    def one_organisation(names: list[str]) -> None:
        for name in names:
            lines[name] = _sync_one(workspace, name, retry_failed=retry_failed, full_refresh=full_refresh, **options)

    pending = list(queues.values())
    guard = threading.Lock()

    def worker() -> None:
        while True:
            with guard:
                if not pending:
                    return
                names = pending.pop(0)
            one_organisation(names)

    threads = [threading.Thread(target=worker, name=f"sync-all-{i}", daemon=True)
               for i in range(max(1, min(side_by_side, len(pending))))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [lines[name] for name in sorted(lines)]


def _sync_one(workspace: "Workspace", name: str, **options) -> AllSyncLine:
    from pexxero.store import AlreadyRunning
    from pexxero.sync import EXIT_CODES, run_sync

    try:
        with workspace.connection(name) as conn:
            run = run_sync(conn, **options)
            organisation = conn.organisation_label(run.get("tenant_id") or None, lookup=False)
    except AlreadyRunning as exc:
        return AllSyncLine(name, 1, f"{name}: not started: {exc}")
    except Exception as exc:  # noqa: BLE001 - one connection's failure is its line, never the others' end
        return AllSyncLine(name, 1, f"{name}: failed: {errors.explain(exc, errors.CLI)}")
    code = EXIT_CODES.get(run["status"], 1)
    into = f" into {organisation}" if organisation else ""
    said = run.get("message") or ""
    plain = (f"{run['written']} written to Xero", "nothing new to write")  # what the counts already say
    message = f" {said}" if said and said not in plain else ""
    return AllSyncLine(name, code, f"{name}: run {run['id']} {run['status'].title()} — {run['written']} of "
                                   f"{run['to_write']} written{into}.{message}")


def start_all(workspace: "Workspace") -> dict[str, str]:
    """Every set-up connection's sync from its saved preview (the dashboard's SYNC ALL): a detached background
    process each (the same `python -m pexxero sync` cron runs), or in fleet mode a job each for the workers;
    name -> what happened, in words."""
    from pexxero.store import AlreadyRunning
    from pexxero.sync import start_sync

    said: dict[str, str] = {}
    for summary in workspace.summaries():
        if not summary.set_up:
            said[summary.name] = f"not set up ({summary.not_set_up})"
            continue
        try:
            started = start_sync(workspace.store.path, connection=summary.name, from_preview=False)
        except AlreadyRunning as exc:
            said[summary.name] = f"already running (run {exc.run_id})" if getattr(exc, "run_id", None) else str(exc)
        except Exception as exc:  # noqa: BLE001 - one that cannot start leaves the others started
            said[summary.name] = f"not started: {errors.explain(exc)}"
        else:
            if started.job_id is not None:
                said[summary.name] = (f"already queued (job {started.job_id})" if started.already
                                      else f"queued (job {started.job_id})")
            else:
                said[summary.name] = f"started (run {started.run_id})"
    return said
