"""A run's life: its lock and heartbeat, the steps in order, its status and message at the end."""

from __future__ import annotations

import os
import threading
import time
from datetime import date
from typing import Optional

from pexxero import models
from pexxero.store import AlreadyRunning, DatabaseUnwritable, Store
from pexxero.store.sync_tables import now_iso
from pexxero.sync import budget
from pexxero.sync.base import BATCH_SIZE, DATABASE_FAILED, HEARTBEAT_SECONDS, RunState, Stop, pex_stopped
from pexxero.sync.receipts import Attaching
from pexxero.sync.removals import Removing
from pexxero.sync.select import Selecting
from pexxero.sync.undo import Undoing
from pexxero.sync.writer import Writing


class Heartbeat(threading.Thread):
    """Keeps the lock and the run's heartbeat fresh from its own database connection."""

    def __init__(self, store: Store, connection_id: int, run_id: int, owner: str):
        super().__init__(daemon=True, name=f"sync-heartbeat-{run_id}")
        self.store, self.connection_id, self.run_id, self.owner = store, connection_id, run_id, owner
        self.stopped = threading.Event()
        self.lost = False

    def run(self) -> None:
        own = self.store.second_connection()
        try:
            while not self.stopped.wait(HEARTBEAT_SECONDS):
                try:
                    if not own.heartbeat(self.connection_id, self.run_id, self.owner):
                        self.lost = True
                        return
                except Exception:  # noqa: BLE001 - a busy database skips one beat, the next one counts
                    continue
        finally:
            own.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)


class Runner(Selecting, Writing, Removing, Attaching, Undoing, RunState):
    """One sync run of one connection: choosing, writing, removing and attaching, in that order. An undo run is
    one too (sync/undo_run.py): it settles what a dead run left in flight, a dead undo's deletions included."""


def run_sync(conn, **options) -> dict:
    """Run one sync of `conn` to the end and return its run row (status, counts, message). It works on the
    organisation chosen when it starts, to its end, whatever is chosen meanwhile."""
    with conn.pinned_tenant():
        return _run_sync(conn, **options)


def _run_sync(conn, *, run_id: Optional[int] = None, retry_failed: bool = False, from_preview: bool = False,
              today: Optional[date] = None, batch_size: int = BATCH_SIZE, full_refresh: bool = False) -> dict:
    from pexxero.clients.pex import PexError
    from pexxero.clients.xero import XeroError

    store = conn.store
    mode = "retry_failed" if retry_failed else "sync"
    if run_id is None:
        run_id = store.queue_run(conn.connection_id, mode)
    try:
        owner = store.acquire_lock(conn.connection_id, run_id)
    except AlreadyRunning as exc:
        store.update_run(run_id, status=models.FAILED, ended_at=now_iso(),
                        message=f"not started: {exc}")
        raise
    store.update_run(run_id, status=models.RUNNING, mode=mode, started_at=now_iso(), pid=os.getpid(),
                    heartbeat_at=time.time(), tenant_id=conn.tenant_id())
    calls_before = _calls(conn)  # the gateway counts for its lifetime; a run reports its own calls
    beat = Heartbeat(store, conn.connection_id, run_id, owner)
    beat.start()
    runner = Runner(conn, run_id, mode=mode, from_preview=from_preview, today=today, batch_size=batch_size,
                    heartbeat=beat, tenant=conn.tenant_id(), full_refresh=full_refresh)
    status, message, resume_at = models.SUCCEEDED, "", None
    try:
        runner.refuse_foreign_plan()
        runner.recover()
        synced, selected = _sync_tags(conn)
        store.update_run(run_id, fields_synced=synced, fields_selected=selected)
        items = runner.plan()
        store.add_items(run_id, items)
        to_write = sum(1 for it in items if it.outcome == models.PLANNED)
        store.update_run(run_id, to_write=to_write)
        budget.plan_run(runner, items)
        runner.write(items)
        runner.remove(items)
        runner.attach()
        if runner.failed:
            status = models.PARTIAL
            message = f"{runner.failed} of {to_write} could not be written: see each item's message from Xero"
        elif runner.attachment_failures:
            status = models.PARTIAL
            message = "; ".join(dict.fromkeys(runner.notes)) or \
                f"{runner.attachment_failures} receipts could not be attached: see each receipt's message"
        else:
            message = f"{runner.written} written to Xero" if to_write else "nothing new to write"
        if runner.removed:
            removed = f"{runner.removed} voided in PEX removed from Xero"
            message = removed if message == "0 written to Xero" else f"{message}; {removed}"
        if runner.recovered:
            message += f"; {runner.recovered} written to Xero finishing what an interrupted run left in flight"
        message += f"; {_receipts_said(runner)}" if _receipts_said(runner) else ""
        if runner.waiting:
            message += f"; {runner.waiting}"
    except Stop as stop:
        status, message, resume_at = stop.status, stop.message, stop.resume_at
    except XeroError as exc:  # a read outside the runner's own calls (the plan's reads) ends the run the same way
        stop = Runner._stop_for(exc)
        status, message, resume_at = stop.status, stop.message, stop.resume_at
    except DatabaseUnwritable as exc:  # disk full, read-only, I/O error: no intent can be committed now
        status, message = models.FAILED, DATABASE_FAILED.format(error=exc)
    except PexError as exc:
        status, message = models.FAILED, pex_stopped(exc)
    except Exception as exc:  # noqa: BLE001 - the run must end with a status and words, never a hang
        from pexxero.connection import NotConnected

        status = models.FAILED
        message = str(exc) if isinstance(exc, NotConnected) else f"the sync stopped on an unexpected error: {type(exc).__name__}: {exc}"
    finally:
        beat.stop()
        budget.note_run_end(conn)
        end = dict(status=status, message=message, ended_at=now_iso(), written=runner.written,
                   failed=runner.failed, resume_at=resume_at, calls=_calls(conn) - calls_before, step="",
                   receipts_attached=runner.attached, receipts_failed=runner.attachment_failures)
        recorded = _record_end(conn, run_id, owner, end)
    if not recorded:
        # the database would not take the run's end: say it anyway; the next sync finds the lock of a finished
        # process and marks this run Interrupted
        return {**(_read_run(store, run_id) or {"id": run_id, "to_write": 0}), **end}
    return store.get_run(run_id)


def _receipts_said(runner: Runner) -> str:
    """How many receipts the run attached, and what is left ("" when it had none to deal with)."""
    counts = runner.store.receipt_counts(runner.run_id)
    waiting = counts.get(models.RECEIPT_WAITING, 0)
    if not (runner.attached or runner.attachment_failures or waiting or runner.receipts_to_send):
        return ""
    parts = [f"receipts attached: {runner.attached}"]
    if runner.attachment_failures:
        parts.append(f"not attached: {runner.attachment_failures}")
    if waiting:
        parts.append(f"waiting for PEX to have the file: {waiting}")
    return ", ".join(parts)


def _record_end(conn, run_id: int, owner: str, end: dict) -> bool:
    """Write the run's end and free its lock; through a fresh connection when the run's own one is broken.
    False when neither could write (the disk is full or the file read-only)."""
    for attempt in range(2):
        store = conn.store if attempt == 0 else conn.store.second_connection()
        try:
            store.update_run(run_id, **end)
            store.release_lock(conn.connection_id, owner)
            return True
        except DatabaseUnwritable:
            continue
        finally:
            if attempt:
                store.close()
    return False


def _read_run(store: Store, run_id: int) -> Optional[dict]:
    try:
        return store.get_run(run_id)
    except DatabaseUnwritable:
        return None


def _calls(conn) -> int:
    """Xero calls the connection's gateway made so far (0 before it exists: building it calls nothing)."""
    return conn.xero_calls()


def _sync_tags(conn) -> tuple[int, int]:
    """Tag sync is the first step of every sync; it never stops the transactions from syncing."""
    from pexxero import tags

    try:
        report = tags.sync_tags(conn)
    except Exception:  # noqa: BLE001 - counted as fields not synced; the message is in the tag report
        setup = conn.setup()
        selected = int(bool(setup.xero.expense_accounts_tag)) + len(setup.xero.tracking_tags)
        return 0, selected
    return report.synced, report.selected
