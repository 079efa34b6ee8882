"""What a sync leaves behind: runs, their items, write intents, the ledger of what we created, locks, releases,
saved plans, and receipts (`attachment_items` across runs, `run_receipts` per run).

Exactly once rests on three tables here:
- `intents`: a write request (its Idempotency-Key and exact body) is committed *before* it is sent and marked
  done after Xero answered. An intent still `sending` at start-up belongs to a run that died mid-request.
- `ledger`: every record Xero confirmed, by its `PEX-<id>` reference. Nothing in the ledger is written again.
- `sync_locks`: one run per connection, with a heartbeat so a dead run's lock can be taken over.

Intents, the ledger, receipts, releases and plans belong to one Xero organisation: each row carries its
`tenant_id` and every read names the tenant it is for (a keyword every caller must give), so "already written"
only ever means "in this organisation".
"""

from __future__ import annotations

import json
import os
import time
from datetime import date, datetime, timezone
from typing import Iterable, Optional, Sequence

from pexxero.models import (
    CREATED, INTERRUPTED, ITEM_FAILED, QUEUED, REMOVED, RUNNING, SENDING, UPDATED, SyncItem,
)
from pexxero.store.db import DatabaseUnwritable, Tables
from pexxero.store.processes import holder_is_gone, lock_owner, never_started
from pexxero.errors import PexxeroError

STALE_AFTER = 30.0  # seconds without a heartbeat before a running sync counts as dead
NEVER_STARTED = ("the sync process ended before it started (it was stopped or could not start); nothing was "
                 "sent to Xero: start the sync again")
_DIED = ("the sync process stopped without finishing (closed, killed or crashed); "
         "the next sync picked up where it stopped")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


_ITEM_COLUMNS = ("pex_id", "kind", "record_type", "reference", "date", "amount", "label", "action", "outcome", "reason",
                 "xero_id", "planned")


class AlreadyRunning(PexxeroError):
    def __init__(self, run_id: Optional[int]):
        super().__init__(f"a sync is already running for this connection (run {run_id})")
        self.run_id = run_id


class SyncTables(Tables):
    # ------------------------------------------------------------------------------------------- runs

    def queue_run(self, connection_id: int, mode: str = "sync", *, pid: Optional[int] = None) -> int:
        """A run waiting for its process; `pid` is that process (this one unless said otherwise), so a run whose
        process died before it took the lock is seen as dead instead of blocking every later sync. Its
        `tenant_id` is set when it starts (the organisation it then writes into)."""
        with self.transaction() as db:
            return db.execute(
                "INSERT INTO runs (connection_id, mode, status, queued_at, pid) VALUES (?, ?, ?, ?, ?) RETURNING id",
                [connection_id, mode, QUEUED, now_iso(), os.getpid() if pid is None else pid],
            ).fetchone()[0]

    def hand_queued_run_to(self, run_id: int, pid: int) -> None:
        """The queued run belongs to process `pid` from now on: if it dies before it takes the lock, the run is
        seen as interrupted."""
        with self.transaction() as db:
            db.execute("UPDATE runs SET pid = ? WHERE id = ? AND status = ?", [pid, run_id, QUEUED])

    def acquire_lock(self, connection_id: int, run_id: int, *, clock=time.time,
                     stale_after: float = STALE_AFTER) -> str:
        """Take the connection's sync lock for `run_id`, or raise AlreadyRunning.

        A lock whose heartbeat is older than `stale_after` belongs to a dead run: it is taken over and that run is
        marked Interrupted, so History says what happened to it.
        """
        owner = lock_owner()
        with self.transaction() as db:
            row = db.execute(
                "SELECT run_id, heartbeat_at, owner FROM sync_locks WHERE connection_id = ?", [connection_id]
            ).fetchone()
            if row is not None:
                held_by, heartbeat, holder = row
                if clock() - heartbeat < stale_after and not holder_is_gone(holder):
                    raise AlreadyRunning(held_by)
                db.execute(
                    "UPDATE runs SET status = ?, ended_at = COALESCE(ended_at, ?), message = ? "
                    "WHERE id = ? AND status IN (?, ?)",
                    [INTERRUPTED, now_iso(), _DIED, held_by, RUNNING, QUEUED],
                )
            db.execute(
                "INSERT INTO sync_locks (connection_id, run_id, owner, heartbeat_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (connection_id) DO UPDATE SET run_id = excluded.run_id, owner = excluded.owner, "
                "heartbeat_at = excluded.heartbeat_at",
                [connection_id, run_id, owner, clock()],
            )
            # any other run still marked running has no lock: it died
            db.execute(
                "UPDATE runs SET status = ?, ended_at = COALESCE(ended_at, ?), message = ? "
                "WHERE connection_id = ? AND id != ? AND status = ?",
                [INTERRUPTED, now_iso(), _DIED, connection_id, run_id, RUNNING],
            )
        return owner

    def heartbeat(self, connection_id: int, run_id: int, owner: str, *, clock=time.time) -> bool:
        """Refresh the lock and the run's heartbeat; False when the lock was lost (taken over as stale)."""
        t = clock()
        with self.transaction() as db:
            cur = db.execute("UPDATE sync_locks SET heartbeat_at = ? WHERE connection_id = ? AND owner = ?",
                             [t, connection_id, owner])
            db.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", [t, run_id])
        return cur.rowcount == 1

    def release_lock(self, connection_id: int, owner: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM sync_locks WHERE connection_id = ? AND owner = ?", [connection_id, owner])

    def running_run(self, connection_id: int, *, clock=time.time, stale_after: float = STALE_AFTER) -> Optional[dict]:
        """The run in progress for this connection (queued, or running with a live heartbeat), or None."""
        rows = self._rows("SELECT * FROM runs WHERE connection_id = ? AND status IN (?, ?) ORDER BY id DESC",
                          [connection_id, QUEUED, RUNNING])
        for row in rows:
            if row["status"] == QUEUED:
                if never_started(row, clock(), stale_after, local=self.backend.kind == "sqlite"):
                    self._mark_never_started(row["id"])
                    continue
                return row
            if row["heartbeat_at"] and clock() - row["heartbeat_at"] < stale_after:
                return row
        return None

    def _mark_never_started(self, run_id: int) -> None:
        try:
            with self.transaction() as db:
                db.execute("UPDATE runs SET status = ?, ended_at = COALESCE(ended_at, ?), message = ? "
                           "WHERE id = ? AND status = ?", [INTERRUPTED, now_iso(), NEVER_STARTED, run_id, QUEUED])
        except DatabaseUnwritable:  # a read-only or full database: the run still does not count as running
            pass

    def update_run(self, run_id: int, **fields) -> None:
        if not fields:
            return
        sets = ", ".join(f"{name} = ?" for name in fields)
        with self.transaction() as db:
            db.execute(f"UPDATE runs SET {sets} WHERE id = ?", [*fields.values(), run_id])

    def request_cancel(self, run_id: int) -> None:
        self.update_run(run_id, cancel_requested=1)

    def cancel_requested(self, run_id: int) -> bool:
        row = self._one("SELECT cancel_requested FROM runs WHERE id = ?", [run_id])
        return bool(row and row[0])

    def get_run(self, run_id: int) -> Optional[dict]:
        rows = self._rows("SELECT * FROM runs WHERE id = ?", [run_id])
        return rows[0] if rows else None

    def list_runs(self, connection_id: int, limit: int = 200) -> list[dict]:
        return self._rows("SELECT * FROM runs WHERE connection_id = ? ORDER BY id DESC LIMIT ?", [connection_id, limit])

    def last_finished_run(self, connection_id: int, mode: Optional[str] = None, *,
                          tenant_id: Optional[str] = None) -> Optional[dict]:
        """The connection's last finished run; with `tenant_id`, its last one into that organisation."""
        sql = "SELECT * FROM runs WHERE connection_id = ? AND status NOT IN (?, ?)"
        params: list = [connection_id, QUEUED, RUNNING]
        if tenant_id is not None:
            sql += " AND tenant_id = ?"
            params.append(tenant_id)
        if mode:
            sql += " AND mode = ?"
            params.append(mode)
        rows = self._rows(sql + " ORDER BY id DESC LIMIT 1", params)
        return rows[0] if rows else None

    # ------------------------------------------------------------------------------------------ items

    def add_items(self, run_id: int, items: Iterable[SyncItem]) -> None:
        """A run's items (`SyncItem`), one `run_items` row each."""
        with self.transaction() as db:
            # a replaced row starts again: its message, key and attempts back to their defaults
            self._many(
                db,
                f"INSERT INTO run_items (run_id, {', '.join(_ITEM_COLUMNS)}) VALUES (?{', ?' * len(_ITEM_COLUMNS)}) "
                "ON CONFLICT (run_id, pex_id) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in _ITEM_COLUMNS if c != "pex_id")
                + ", message = '', idempotency_key = '', attempts = 0",
                [(run_id, *(row[c] for c in _ITEM_COLUMNS)) for row in (item.row() for item in items)],
            )

    def set_items(self, run_id: int, pex_ids: Iterable[int], **fields) -> None:
        sets = ", ".join(f"{name} = ?" for name in fields)
        with self.transaction() as db:
            self._many(
                db, f"UPDATE run_items SET {sets} WHERE run_id = ? AND pex_id = ?",
                [[*fields.values(), run_id, pex_id] for pex_id in pex_ids],
            )

    def items(self, run_id: int) -> list[dict]:
        return self._rows("SELECT * FROM run_items WHERE run_id = ? ORDER BY date, pex_id", [run_id])

    def item_counts(self, run_id: int) -> dict[str, int]:
        return dict(self._pairs("SELECT outcome, COUNT(*) FROM run_items WHERE run_id = ? GROUP BY outcome", [run_id]))

    # ---------------------------------------------------------------------------------- intents/ledger

    def record_intent(self, key: str, connection_id: int, run_id: int, endpoint: str, body: str, refs: list[str], *,
                      tenant_id: str) -> None:
        """Commit the intent before the request leaves: a crash after this is recoverable (in its organisation)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO intents (key, connection_id, tenant_id, run_id, endpoint, body, refs, status, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'sending', ?) ON CONFLICT(key) DO UPDATE SET status = 'sending', run_id = ?",
                [key, connection_id, tenant_id, run_id, endpoint, body, json.dumps(refs), now_iso(), run_id],
            )

    def mark_sending(self, key: str, run_id: int, pex_ids: Iterable[int]) -> None:
        """The run's items go out under `key` (one more attempt each)."""
        with self.transaction() as db:
            self._many(
                db, "UPDATE run_items SET outcome = ?, idempotency_key = ?, attempts = attempts + 1 "
                "WHERE run_id = ? AND pex_id = ?", [(SENDING, key, run_id, pex_id) for pex_id in pex_ids])

    def finish_intent(self, key: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE intents SET status = 'done', finished_at = ? WHERE key = ?", [now_iso(), key])

    def open_intents(self, connection_id: int, *, tenant_id: str) -> list[dict]:
        """Requests a run left in flight to this organisation (another organisation's wait for it to be connected)."""
        return self._rows("SELECT * FROM intents WHERE connection_id = ? AND tenant_id = ? AND status = 'sending' "
                          "ORDER BY created_at", [connection_id, tenant_id])

    def open_intents_elsewhere(self, connection_id: int, *, tenant_id: str) -> dict[str, int]:
        """tenant id -> how many requests were left in flight to an organisation other than `tenant_id`."""
        return dict(self._pairs(
            "SELECT tenant_id, COUNT(*) FROM intents WHERE connection_id = ? AND tenant_id != ? AND status = 'sending' "
            "GROUP BY tenant_id", [connection_id, tenant_id]))

    def add_to_ledger(self, connection_id: int, entries: Iterable[tuple[str, str, str]], run_id: Optional[int], *,
                      tenant_id: str) -> None:
        """entries: (reference, record_type, xero_id), confirmed by the organisation `tenant_id`."""
        with self.transaction() as db:
            self._many(
                db, "INSERT INTO ledger (connection_id, tenant_id, reference, record_type, xero_id, run_id, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(connection_id, tenant_id, ref, rtype, xid, run_id, now_iso()) for ref, rtype, xid in entries],
            )

    def settle_request(self, key: str, run_id: int, created: Sequence[tuple[int, str]],
                       failed: Sequence[tuple[int, str]]) -> None:
        """Xero's answer to one write request: created items (pex id, Xero id), failed ones (pex id, message),
        and the intent done, in one transaction."""
        with self.transaction() as db:
            for pex_id, xero_id in created:
                db.execute("UPDATE run_items SET outcome = CASE WHEN action = 'update' THEN ? ELSE ? END, "
                           "xero_id = ?, message = '' WHERE run_id = ? AND pex_id = ?",
                           [UPDATED, CREATED, xero_id, run_id, pex_id])
            for pex_id, message in failed:
                db.execute("UPDATE run_items SET outcome = ?, message = ? WHERE run_id = ? AND pex_id = ?",
                           [ITEM_FAILED, message, run_id, pex_id])
            self.finish_intent(key)

    def settle_removal(self, key: str, run_id: int, connection_id: int, *, tenant_id: str,
                       removed: Sequence[tuple[int, str]], failed: Sequence[tuple[int, str]]) -> None:
        """Xero's answer to one removal request: removed items (pex id, reason) with their release used up,
        failed ones (pex id, message), and the intent done, in one transaction."""
        with self.transaction() as db:
            for pex_id, reason in removed:
                db.execute("UPDATE run_items SET outcome = ?, message = '', reason = ? WHERE run_id = ? AND pex_id = ?",
                           [REMOVED, reason, run_id, pex_id])
                db.execute("DELETE FROM released WHERE connection_id = ? AND tenant_id = ? AND pex_id = ?",
                           [connection_id, tenant_id, pex_id])
            for pex_id, message in failed:
                db.execute("UPDATE run_items SET outcome = ?, message = ? WHERE run_id = ? AND pex_id = ?",
                           [ITEM_FAILED, message, run_id, pex_id])
            self.finish_intent(key)

    def ledger(self, connection_id: int, *, tenant_id: str) -> dict[str, str]:
        """reference -> Xero id of every record this database saw the organisation `tenant_id` confirm."""
        return dict(self._pairs("SELECT reference, xero_id FROM ledger WHERE connection_id = ? AND tenant_id = ?",
                                [connection_id, tenant_id]))

    def ledger_types(self, connection_id: int, *, tenant_id: str) -> dict[str, tuple[str, str]]:
        """reference -> (record type, Xero id) of every record the organisation's ledger saw Xero confirm."""
        return {row[0]: (row[1], row[2]) for row in self._pairs(
            "SELECT reference, record_type, xero_id FROM ledger WHERE connection_id = ? AND tenant_id = ?",
            [connection_id, tenant_id])}

    # --------------------------------------------------------------------------------------- releases

    def release(self, connection_id: int, pex_id: int, action: str, *, tenant_id: str) -> None:
        """The user chose to push a `possible duplicate` ('push'), update a `changed` row ('update') or remove a
        `voided` row's record from Xero ('remove'), in the organisation `tenant_id`: what looks like a duplicate
        in one organisation says nothing about another."""
        with self.transaction() as db:
            db.execute("INSERT INTO released (connection_id, tenant_id, pex_id, action, created_at) "
                       "VALUES (?, ?, ?, ?, ?) ON CONFLICT (connection_id, tenant_id, pex_id) DO UPDATE SET "
                       "action = excluded.action, created_at = excluded.created_at",
                       [connection_id, tenant_id, pex_id, action, now_iso()])

    def unrelease(self, connection_id: int, pex_id: int, *, tenant_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM released WHERE connection_id = ? AND tenant_id = ? AND pex_id = ?",
                       [connection_id, tenant_id, pex_id])

    def releases(self, connection_id: int, *, tenant_id: str) -> dict[int, str]:
        return dict(self._pairs("SELECT pex_id, action FROM released WHERE connection_id = ? AND tenant_id = ?",
                                [connection_id, tenant_id]))

    # ------------------------------------------------------------------------------------------ plans

    def save_plan(self, connection_id: int, *, tenant_id: str, tenant_name: str, built_at: datetime,
                  start: date, end: date, items: list[dict]) -> None:
        """The plan the user was shown (one per connection), stamped with the organisation it was built for."""
        with self.transaction() as db:
            db.execute(
                'INSERT INTO plans (connection_id, tenant_id, tenant_name, built_at, start, "end", items, '
                "invalidated_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (connection_id) DO UPDATE SET "
                "tenant_id = excluded.tenant_id, tenant_name = excluded.tenant_name, built_at = excluded.built_at, "
                'start = excluded.start, "end" = excluded."end", items = excluded.items, invalidated_at = NULL',
                [connection_id, tenant_id, tenant_name, built_at.isoformat(), start.isoformat(), end.isoformat(),
                 json.dumps(items)],
            )

    def saved_plan(self, connection_id: int, *, tenant_id: str) -> Optional[dict]:
        """The saved plan if it was built for `tenant_id` and not invalidated since."""
        row = self._one('SELECT built_at, start, "end", items, tenant_id, tenant_name FROM plans '
                        "WHERE connection_id = ? AND tenant_id = ? AND invalidated_at IS NULL", [connection_id, tenant_id])
        if row is None:
            return None
        return {"built_at": datetime.fromisoformat(row[0]), "start": date.fromisoformat(row[1]),
                "end": date.fromisoformat(row[2]), "items": json.loads(row[3]), "tenant_id": row[4],
                "tenant_name": row[5]}

    def plan_stamp(self, connection_id: int) -> Optional[tuple[str, str, bool]]:
        """(tenant id, tenant name, invalidated) of the saved plan, or None when there is none."""
        row = self._one("SELECT tenant_id, tenant_name, invalidated_at FROM plans WHERE connection_id = ?",
                        [connection_id])
        return None if row is None else (row[0], row[1], row[2] is not None)

    def invalidate_plans(self, connection_id: int) -> None:
        """Another organisation was chosen: the saved plan was built against the previous one's records."""
        with self.transaction() as db:
            db.execute("UPDATE plans SET invalidated_at = ? WHERE connection_id = ? AND invalidated_at IS NULL",
                       [datetime.now(timezone.utc).isoformat(), connection_id])

    # --------------------------------------------------------------------------------------- receipts

    def receipt_states(self, connection_id: int, *, tenant_id: str) -> dict[tuple[int, str], dict]:
        """(pex_id, attachment_id) -> the attachment_items row of every receipt this database knows of in the
        organisation."""
        return {(row["pex_id"], row["attachment_id"]): row for row in self._rows(
            "SELECT * FROM attachment_items WHERE connection_id = ? AND tenant_id = ? AND attachment_id != ''",
            [connection_id, tenant_id])}

    def set_receipt_state(self, connection_id: int, pex_id: int, attachment_id: str, status: str, message: str,
                          run_id: int, *, tenant_id: str, xero_parent_id: str = "", file_name: str = "",
                          key: str = "") -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO attachment_items (connection_id, tenant_id, pex_id, attachment_id, status, message, "
                "run_id, xero_parent_id, file_name, idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(connection_id, tenant_id, pex_id, attachment_id) DO UPDATE SET status = excluded.status, "
                "message = excluded.message, run_id = excluded.run_id, "
                "xero_parent_id = CASE WHEN excluded.xero_parent_id != '' THEN excluded.xero_parent_id "
                "ELSE attachment_items.xero_parent_id END, "
                "file_name = CASE WHEN excluded.file_name != '' THEN excluded.file_name "
                "ELSE attachment_items.file_name END, "
                "idempotency_key = CASE WHEN excluded.idempotency_key != '' THEN excluded.idempotency_key "
                "ELSE attachment_items.idempotency_key END",
                [connection_id, tenant_id, pex_id, attachment_id, status, message, run_id, xero_parent_id, file_name,
                 key],
            )

    def add_receipt(self, run_id: int, pex_id: int, attachment_id: str, outcome: str, message: str = "", *,
                    file_name: str = "", xero_parent_id: str = "") -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO run_receipts (run_id, pex_id, attachment_id, file_name, xero_parent_id, "
                "outcome, message) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, pex_id, attachment_id) DO UPDATE "
                "SET file_name = excluded.file_name, xero_parent_id = excluded.xero_parent_id, "
                "outcome = excluded.outcome, message = excluded.message",
                [run_id, pex_id, attachment_id, file_name, xero_parent_id, outcome, message],
            )

    def receipts(self, run_id: int) -> list[dict]:
        return self._rows("SELECT * FROM run_receipts WHERE run_id = ? ORDER BY pex_id, attachment_id", [run_id])

    def receipt_counts(self, run_id: int) -> dict[str, int]:
        return dict(self._pairs("SELECT outcome, COUNT(*) FROM run_receipts WHERE run_id = ? GROUP BY outcome",
                                [run_id]))
