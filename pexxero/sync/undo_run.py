"""An undo's life: a run of its own (mode "undo", naming the run it undoes), under the same lock as a sync, so a
sync and an undo of one connection never run at once. It first settles what any dead run left in flight (a sync's
writes, an undo's deletions), then plans afresh from Xero, so a rerun after a crash removes each record once and
names what an earlier attempt removed already."""

from __future__ import annotations

import os
import time
from typing import Optional

from pexxero import models
from pexxero.store import AlreadyRunning, DatabaseUnwritable
from pexxero.store.sync_tables import now_iso
from pexxero.sync import budget
from pexxero.sync.base import DATABASE_FAILED, Stop
from pexxero.sync.undo import plan_undo


def run_undo(conn, undo_of: int, *, run_id: Optional[int] = None) -> dict:
    """Remove from Xero what run `undo_of` created and Xero lets go; returns the undo run's row. Status
    Succeeded when nothing is left in Xero of it, Partial when some records were kept (each item says why)."""
    with conn.pinned_tenant():
        return _run_undo(conn, undo_of, run_id)


def _run_undo(conn, undo_of: int, run_id: Optional[int]) -> dict:
    from pexxero.clients.xero import XeroError
    from pexxero.sync.runner import Heartbeat, Runner, _record_end

    store = conn.store
    if run_id is None:
        run_id = store.queue_run(conn.connection_id, models.UNDO)
    store.update_run(run_id, undoes=undo_of)
    try:
        owner = store.acquire_lock(conn.connection_id, run_id)
    except AlreadyRunning as exc:
        store.update_run(run_id, status=models.FAILED, ended_at=now_iso(), message=f"not started: {exc}")
        raise
    tenant = conn.tenant_id()
    store.update_run(run_id, status=models.RUNNING, mode=models.UNDO, started_at=now_iso(), pid=os.getpid(),
                     heartbeat_at=time.time(), tenant_id=tenant)
    calls_before = conn.xero_calls()
    beat = Heartbeat(store, conn.connection_id, run_id, owner)
    beat.start()
    runner = Runner(conn, run_id, mode=models.UNDO, heartbeat=beat, tenant=tenant)
    status, message = models.SUCCEEDED, ""
    try:
        runner.recover()  # a dead run's requests first: their records are then in the ledger, or undone
        runner.checkpoint("reading what the run created from Xero")
        plan = plan_undo(conn, undo_of)
        if plan.refusal:
            raise Stop(models.FAILED, plan.refusal)
        store.add_items(run_id, [it.sync_item() for it in plan.items])
        store.update_run(run_id, to_write=len(plan.removable))
        runner.undo(plan)
        status, message = _outcome(runner, plan)
    except Stop as stop:
        status, message = stop.status, stop.message
    except XeroError as exc:
        stop = Runner._stop_for(exc)
        status, message = stop.status, stop.message
    except DatabaseUnwritable as exc:
        status, message = models.FAILED, DATABASE_FAILED.format(error=exc)
    except Exception as exc:  # noqa: BLE001 - the run must end with a status and words, never a hang
        from pexxero.connection import NotConnected

        status = models.FAILED
        message = str(exc) if isinstance(exc, NotConnected) else \
            f"the undo stopped on an unexpected error: {type(exc).__name__}: {exc}"
    finally:
        beat.stop()
        budget.note_run_end(conn)
        end = dict(status=status, message=message, ended_at=now_iso(), written=runner.removed, failed=runner.failed,
                   calls=conn.xero_calls() - calls_before, step="")
        recorded = _record_end(conn, run_id, owner, end)
    if not recorded:
        return {"id": run_id, "to_write": 0, "undoes": undo_of, **end}
    return store.get_run(run_id)


def _outcome(runner, plan) -> tuple[str, str]:
    """The undo run's status and its message in words."""
    parts = [f"{runner.removed} removed from Xero"]
    hand_deleted = [it for it in plan.gone if it.undone_by is None]
    earlier = sorted({it.undone_by for it in plan.gone if it.undone_by is not None})
    if hand_deleted:
        parts.append(f"{len(hand_deleted)} already deleted in Xero")
    if earlier:
        runs = ", ".join(str(r) for r in earlier)
        count = sum(1 for it in plan.gone if it.undone_by is not None)
        parts.append(f"{count} removed already by undo run {runs}")
    if plan.kept:
        parts.append(f"{len(plan.kept)} kept in Xero (reconciled, locked or edited since: see each item)")
    if runner.failed:
        parts.append(f"{runner.failed} refused by Xero (see each item's message)")
    if runner.recovered:
        parts.append(f"{runner.recovered} settled finishing what an interrupted run left in flight")
    if runner.waiting:
        parts.append(runner.waiting)
    status = models.PARTIAL if plan.kept or runner.failed else models.SUCCEEDED
    return status, f"undo of run {plan.run_id}: " + "; ".join(parts)
