"""What a sync leaves behind in SQLite: runs, their items, write intents, the ledger of what we created, locks.

Exactly once rests on three tables here:
- `intents`: a write request (its Idempotency-Key and exact body) is committed *before* it is sent and marked
  done after Xero answered. An intent still `sending` at start-up belongs to a run that died mid-request.
- `ledger`: every record Xero confirmed, by its `PEX-<id>` reference. Nothing in the ledger is written again.
- `sync_locks`: one run per connection, with a heartbeat so a dead run's lock can be taken over.

Intents, the ledger, receipts (`attachment_items`), releases and plans belong to one Xero organisation: each row
carries its `tenant_id` and every read names the tenant it is for (a keyword every caller must give), so "already
written" only ever means "in this organisation". The tables are created by migration 2 and scoped by migration 4
of the store.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from contextlib import contextmanager
from dataclasses import fields
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Iterable, Optional

from pexxero.errors import PexxeroError
from pexxero.models import Line, PlannedRecord, Tracking

# run statuses (PRODUCT.md "Sync"), lower case in the database, title case on screen
QUEUED, RUNNING = "queued", "running"
SUCCEEDED, PARTIAL, FAILED, CANCELLED, INTERRUPTED, PAUSED = (
    "succeeded", "partial", "failed", "cancelled", "interrupted", "paused",
)
FINISHED = (SUCCEEDED, PARTIAL, FAILED, CANCELLED, INTERRUPTED, PAUSED)

# item outcomes
PLANNED, SENDING, CREATED, UPDATED, ITEM_FAILED, ITEM_SKIPPED = (
    "planned", "sending", "created", "updated", "failed", "skipped",
)
REMOVED = "removed"  # a voided record deleted in Xero (action "remove")

STALE_AFTER = 30.0  # seconds without a heartbeat before a running sync counts as dead


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def migrate(db) -> None:
    """Create the sync tables (one migration of the store)."""
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


_SCHEMA = """
        CREATE TABLE IF NOT EXISTS runs (
            id INTEGER PRIMARY KEY,
            connection_id INTEGER NOT NULL,
            mode TEXT NOT NULL DEFAULT 'sync',
            status TEXT NOT NULL,
            message TEXT NOT NULL DEFAULT '',
            step TEXT NOT NULL DEFAULT '',
            queued_at TEXT, started_at TEXT, ended_at TEXT,
            heartbeat_at REAL, pid INTEGER,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            fields_synced INTEGER NOT NULL DEFAULT 0, fields_selected INTEGER NOT NULL DEFAULT 0,
            to_write INTEGER NOT NULL DEFAULT 0, written INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0, calls INTEGER NOT NULL DEFAULT 0,
            resume_at TEXT
        );
        CREATE INDEX IF NOT EXISTS runs_by_connection ON runs (connection_id, id);
        CREATE TABLE IF NOT EXISTS run_items (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            pex_id INTEGER NOT NULL,
            kind TEXT NOT NULL, record_type TEXT NOT NULL, reference TEXT NOT NULL,
            date TEXT, amount TEXT, label TEXT NOT NULL DEFAULT '',
            action TEXT NOT NULL DEFAULT 'create',
            outcome TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
            xero_id TEXT NOT NULL DEFAULT '', message TEXT NOT NULL DEFAULT '',
            idempotency_key TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0,
            planned TEXT,
            PRIMARY KEY (run_id, pex_id)
        );
        CREATE TABLE IF NOT EXISTS intents (
            key TEXT PRIMARY KEY,
            connection_id INTEGER NOT NULL, run_id INTEGER NOT NULL,
            endpoint TEXT NOT NULL, body TEXT NOT NULL, refs TEXT NOT NULL,
            status TEXT NOT NULL, created_at TEXT NOT NULL, finished_at TEXT
        );
        CREATE INDEX IF NOT EXISTS intents_open ON intents (connection_id, status);
        CREATE TABLE IF NOT EXISTS ledger (
            connection_id INTEGER NOT NULL, reference TEXT NOT NULL,
            record_type TEXT NOT NULL, xero_id TEXT NOT NULL, run_id INTEGER, created_at TEXT NOT NULL,
            PRIMARY KEY (connection_id, reference)
        );
        CREATE TABLE IF NOT EXISTS attachment_items (
            connection_id INTEGER NOT NULL, pex_id INTEGER NOT NULL, attachment_id TEXT NOT NULL,
            xero_parent_id TEXT NOT NULL DEFAULT '', file_name TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL, message TEXT NOT NULL DEFAULT '', idempotency_key TEXT NOT NULL DEFAULT '',
            run_id INTEGER,
            PRIMARY KEY (connection_id, pex_id, attachment_id)
        );
        CREATE TABLE IF NOT EXISTS sync_locks (
            connection_id INTEGER PRIMARY KEY, run_id INTEGER, owner TEXT NOT NULL, heartbeat_at REAL NOT NULL
        );
        CREATE TABLE IF NOT EXISTS released (
            connection_id INTEGER NOT NULL, pex_id INTEGER NOT NULL, action TEXT NOT NULL, created_at TEXT NOT NULL,
            PRIMARY KEY (connection_id, pex_id)
        );
        CREATE TABLE IF NOT EXISTS plans (
            connection_id INTEGER PRIMARY KEY, built_at TEXT NOT NULL, start TEXT, end TEXT, items TEXT NOT NULL
        )
"""


# ------------------------------------------------------------------------------------------- codec


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _plain(value):
    """A plan as JSON-ready values: like `dataclasses.asdict`, without its deep copies (ten times faster, and a
    preview of 10,000 rows saves a plan of as many records)."""
    if isinstance(value, (Line, PlannedRecord, Tracking)):
        names = _FIELD_NAMES.get(type(value))
        if names is None:
            names = _FIELD_NAMES[type(value)] = tuple(f.name for f in fields(value))
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def planned_to_json(record: PlannedRecord) -> str:
    return json.dumps(_plain(record), sort_keys=True, separators=(",", ":"))


def planned_from_json(text: str) -> PlannedRecord:
    data = json.loads(text)
    data["date"] = date.fromisoformat(data["date"])
    data["total"] = Decimal(data["total"])
    data["lines"] = tuple(
        Line(
            description=line["description"],
            amount=Decimal(line["amount"]),
            account_code=line["account_code"],
            tracking=tuple(Tracking(**t) for t in line["tracking"]),
        )
        for line in data["lines"]
    )
    return PlannedRecord(**data)


# -------------------------------------------------------------------------------------------- runs


class AlreadyRunning(PexxeroError):
    def __init__(self, run_id: Optional[int]):
        super().__init__(f"a sync is already running for this connection (run {run_id})")
        self.run_id = run_id


@contextmanager
def immediate(db):
    """A write transaction taken up front (BEGIN IMMEDIATE): two processes cannot both read then write."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.conn.rollback()
        raise
    else:
        db.conn.commit()


def queue_run(db, connection_id: int, mode: str = "sync", *, pid: Optional[int] = None) -> int:
    """A run waiting for its process; `pid` is that process (this one unless said otherwise), so a run whose
    process died before it took the lock is seen as dead instead of blocking every later sync. Its `tenant_id` is set
    when it starts (the organisation it then writes into)."""
    cur = db.execute(
        "INSERT INTO runs (connection_id, mode, status, queued_at, pid) VALUES (?, ?, ?, ?, ?)",
        [connection_id, mode, QUEUED, now_iso(), os.getpid() if pid is None else pid],
    )
    db.conn.commit()
    return cur.lastrowid


def acquire_lock(db, connection_id: int, run_id: int, *, clock=time.time, stale_after: float = STALE_AFTER) -> str:
    """Take the connection's sync lock for `run_id`, or raise AlreadyRunning.

    A lock whose heartbeat is older than `stale_after` belongs to a dead run: it is taken over and that run is
    marked Interrupted, so History says what happened to it.
    """
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
    with immediate(db):
        row = db.execute(
            "SELECT run_id, heartbeat_at, owner FROM sync_locks WHERE connection_id = ?", [connection_id]
        ).fetchone()
        if row is not None:
            held_by, heartbeat, holder = row
            if clock() - heartbeat < stale_after and not _holder_is_gone(holder):
                raise AlreadyRunning(held_by)
            db.execute(
                "UPDATE runs SET status = ?, ended_at = COALESCE(ended_at, ?), "
                "message = 'the sync process stopped without finishing (closed, killed or crashed); "
                "the next sync picked up where it stopped' WHERE id = ? AND status IN (?, ?)",
                [INTERRUPTED, now_iso(), held_by, RUNNING, QUEUED],
            )
        db.execute(
            "INSERT OR REPLACE INTO sync_locks (connection_id, run_id, owner, heartbeat_at) VALUES (?, ?, ?, ?)",
            [connection_id, run_id, owner, clock()],
        )
        # any other run still marked running has no lock: it died
        db.execute(
            "UPDATE runs SET status = ?, ended_at = COALESCE(ended_at, ?), "
            "message = 'the sync process stopped without finishing (closed, killed or crashed); "
            "the next sync picked up where it stopped' "
            "WHERE connection_id = ? AND id != ? AND status = ?",
            [INTERRUPTED, now_iso(), connection_id, run_id, RUNNING],
        )
    return owner


NEVER_STARTED = ("the sync process ended before it started (it was stopped or could not start); nothing was "
                 "sent to Xero: start the sync again")


def process_is_gone(pid: Optional[int]) -> bool:
    """Process `pid` of this machine has exited. A child of this process that exited is reaped here (until then it
    is a zombie, which still answers a signal check); a process we cannot check counts as alive."""
    if not pid:
        return False
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return True
    except ChildProcessError:  # not our child: ask the kernel whether it exists
        pass
    except (OSError, AttributeError):  # no waitpid (Windows)
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process: it exists
        return False
    return False


def _holder_is_gone(owner: str) -> bool:
    """The lock's process ran on this machine and has exited (killed, crashed): no need to wait for its
    heartbeat to go stale. A process elsewhere, or one we cannot check, counts as alive."""
    parts = owner.split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process: it exists
        return False
    return False


def heartbeat(db, connection_id: int, run_id: int, owner: str, *, clock=time.time) -> bool:
    """Refresh the lock and the run's heartbeat; False when the lock was lost (taken over as stale)."""
    t = clock()
    with db.atomic():
        cur = db.execute(
            "UPDATE sync_locks SET heartbeat_at = ? WHERE connection_id = ? AND owner = ?", [t, connection_id, owner]
        )
        db.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", [t, run_id])
    return cur.rowcount == 1


def release_lock(db, connection_id: int, owner: str) -> None:
    with db.atomic():
        db.execute("DELETE FROM sync_locks WHERE connection_id = ? AND owner = ?", [connection_id, owner])


def running_run(db, connection_id: int, *, clock=time.time, stale_after: float = STALE_AFTER) -> Optional[dict]:
    """The run in progress for this connection (queued, or running with a live heartbeat), or None."""
    rows = list(
        db.query(
            "SELECT * FROM runs WHERE connection_id = ? AND status IN (?, ?) ORDER BY id DESC",
            [connection_id, QUEUED, RUNNING],
        )
    )
    for row in rows:
        if row["status"] == QUEUED:
            if _never_started(row, clock(), stale_after):
                _mark_never_started(db, row["id"])
                continue
            return row
        if row["heartbeat_at"] and clock() - row["heartbeat_at"] < stale_after:
            return row
    return None


def _never_started(row: dict, now: float, stale_after: float) -> bool:
    """A queued run whose process is gone. A row from before pids were recorded counts as gone once it has
    waited longer than a heartbeat may be late."""
    if row.get("pid"):
        return process_is_gone(row["pid"])
    try:
        queued = datetime.fromisoformat(row["queued_at"]).timestamp()
    except (TypeError, ValueError):
        return True
    return now - queued > stale_after


def _mark_never_started(db, run_id: int) -> None:
    import sqlite3

    try:
        with db.atomic():
            db.execute("UPDATE runs SET status = ?, ended_at = COALESCE(ended_at, ?), message = ? "
                       "WHERE id = ? AND status = ?", [INTERRUPTED, now_iso(), NEVER_STARTED, run_id, QUEUED])
    except sqlite3.DatabaseError:  # a read-only or full database: the run still does not count as running
        pass


def update_run(db, run_id: int, **fields) -> None:
    if not fields:
        return
    sets = ", ".join(f"{name} = ?" for name in fields)
    with db.atomic():
        db.execute(f"UPDATE runs SET {sets} WHERE id = ?", [*fields.values(), run_id])


def request_cancel(db, run_id: int) -> None:
    update_run(db, run_id, cancel_requested=1)


def cancel_requested(db, run_id: int) -> bool:
    row = db.execute("SELECT cancel_requested FROM runs WHERE id = ?", [run_id]).fetchone()
    return bool(row and row[0])


def get_run(db, run_id: int) -> Optional[dict]:
    rows = list(db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
    return rows[0] if rows else None


def list_runs(db, connection_id: int, limit: int = 200) -> list[dict]:
    return list(
        db.query("SELECT * FROM runs WHERE connection_id = ? ORDER BY id DESC LIMIT ?", [connection_id, limit])
    )


def last_finished_run(db, connection_id: int, mode: Optional[str] = None, *,
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
    rows = list(db.query(sql + " ORDER BY id DESC LIMIT 1", params))
    return rows[0] if rows else None


# ------------------------------------------------------------------------------------------- items


def add_items(db, run_id: int, items: Iterable[dict]) -> None:
    with db.atomic():
        db.conn.executemany(
            "INSERT OR REPLACE INTO run_items (run_id, pex_id, kind, record_type, reference, date, amount, label, "
            "action, outcome, reason, xero_id, planned) VALUES (:run_id, :pex_id, :kind, :record_type, :reference, "
            ":date, :amount, :label, :action, :outcome, :reason, :xero_id, :planned)",
            [{"run_id": run_id, "reason": "", "xero_id": "", "planned": None, "action": "create", **item} for item in items],
        )


def set_items(db, run_id: int, pex_ids: Iterable[int], **fields) -> None:
    sets = ", ".join(f"{name} = ?" for name in fields)
    with db.atomic():
        db.conn.executemany(
            f"UPDATE run_items SET {sets} WHERE run_id = ? AND pex_id = ?",
            [[*fields.values(), run_id, pex_id] for pex_id in pex_ids],
        )


def items(db, run_id: int) -> list[dict]:
    return list(db.query("SELECT * FROM run_items WHERE run_id = ? ORDER BY date, pex_id", [run_id]))


def item_counts(db, run_id: int) -> dict[str, int]:
    return {row[0]: row[1] for row in db.execute(
        "SELECT outcome, COUNT(*) FROM run_items WHERE run_id = ? GROUP BY outcome", [run_id]
    ).fetchall()}


# ----------------------------------------------------------------------------------- intents/ledger


def record_intent(db, key: str, connection_id: int, run_id: int, endpoint: str, body: str, refs: list[str], *,
                  tenant_id: str) -> None:
    """Commit the intent before the request leaves: a crash after this line is recoverable (in its organisation)."""
    with db.atomic():
        db.execute(
            "INSERT INTO intents (key, connection_id, tenant_id, run_id, endpoint, body, refs, status, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'sending', ?) ON CONFLICT(key) DO UPDATE SET status = 'sending', run_id = ?",
            [key, connection_id, tenant_id, run_id, endpoint, body, json.dumps(refs), now_iso(), run_id],
        )


def finish_intent(db, key: str) -> None:
    with db.atomic():
        db.execute("UPDATE intents SET status = 'done', finished_at = ? WHERE key = ?", [now_iso(), key])


def open_intents(db, connection_id: int, *, tenant_id: str) -> list[dict]:
    """Requests a run left in flight to this organisation (another organisation's wait for it to be connected)."""
    return list(
        db.query(
            "SELECT * FROM intents WHERE connection_id = ? AND tenant_id = ? AND status = 'sending' "
            "ORDER BY created_at", [connection_id, tenant_id]
        )
    )


def open_intents_elsewhere(db, connection_id: int, *, tenant_id: str) -> dict[str, int]:
    """tenant id -> how many requests were left in flight to an organisation other than `tenant_id`."""
    return {row[0]: row[1] for row in db.execute(
        "SELECT tenant_id, COUNT(*) FROM intents WHERE connection_id = ? AND tenant_id != ? AND status = 'sending' "
        "GROUP BY tenant_id", [connection_id, tenant_id]).fetchall()}


def add_to_ledger(db, connection_id: int, entries: Iterable[tuple[str, str, str]], run_id: Optional[int], *,
                  tenant_id: str) -> None:
    """entries: (reference, record_type, xero_id), confirmed by the organisation `tenant_id`."""
    with db.atomic():
        db.conn.executemany(
            "INSERT OR IGNORE INTO ledger (connection_id, tenant_id, reference, record_type, xero_id, run_id, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(connection_id, tenant_id, ref, rtype, xid, run_id, now_iso()) for ref, rtype, xid in entries],
        )


def ledger(db, connection_id: int, *, tenant_id: str) -> dict[str, str]:
    """reference -> Xero id of every record this database saw the organisation `tenant_id` confirm."""
    return {
        row[0]: row[1]
        for row in db.execute("SELECT reference, xero_id FROM ledger WHERE connection_id = ? AND tenant_id = ?",
                              [connection_id, tenant_id])
    }


def ledger_types(db, connection_id: int, *, tenant_id: str) -> dict[str, tuple[str, str]]:
    """reference -> (record type, Xero id) of every record the organisation's ledger saw Xero confirm."""
    return {row[0]: (row[1], row[2]) for row in db.execute(
        "SELECT reference, record_type, xero_id FROM ledger WHERE connection_id = ? AND tenant_id = ?",
        [connection_id, tenant_id])}


# ---------------------------------------------------------------------------------------- releases


def release(db, connection_id: int, pex_id: int, action: str, *, tenant_id: str) -> None:
    """The user chose to push a `possible duplicate` ('push'), update a `changed` row ('update') or remove a
    `voided` row's record from Xero ('remove'), in the organisation `tenant_id`: what looks like a duplicate in
    one organisation says nothing about another."""
    with db.atomic():
        db.execute(
            "INSERT OR REPLACE INTO released (connection_id, tenant_id, pex_id, action, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [connection_id, tenant_id, pex_id, action, now_iso()],
        )


def unrelease(db, connection_id: int, pex_id: int, *, tenant_id: str) -> None:
    with db.atomic():
        db.execute("DELETE FROM released WHERE connection_id = ? AND tenant_id = ? AND pex_id = ?",
                   [connection_id, tenant_id, pex_id])


def releases(db, connection_id: int, *, tenant_id: str) -> dict[int, str]:
    return {
        row[0]: row[1]
        for row in db.execute("SELECT pex_id, action FROM released WHERE connection_id = ? AND tenant_id = ?",
                              [connection_id, tenant_id])
    }


# ---------------------------------------------------------------------------------------- receipts

# what happened to one PEX receipt in one run (run_receipts.outcome)
RECEIPT_ATTACHED, RECEIPT_WAITING, RECEIPT_FAILED = "attached", "waiting", "failed"

# where a receipt stands across runs (attachment_items.status):
#   attached  Xero confirmed it (or showed it)         nothing more to do, ever
#   sending   its upload left; Xero's answer unknown    the next run looks it up before resending (its intent)
#   waiting   PEX does not have the file yet            checked again by every sync
#   refused   Xero refused it (too large, too many)     reported once, not sent again
ATTACHED, IN_FLIGHT, NOT_IN_PEX, REFUSED = "attached", "sending", "waiting", "refused"


def migrate_receipts(db) -> None:
    """Receipt outcomes per run, and the receipt counts a run's progress and summary need."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS run_receipts ("
        " run_id INTEGER NOT NULL, pex_id INTEGER NOT NULL, attachment_id TEXT NOT NULL,"
        " file_name TEXT NOT NULL DEFAULT '', xero_parent_id TEXT NOT NULL DEFAULT '',"
        " outcome TEXT NOT NULL, message TEXT NOT NULL DEFAULT '',"
        " PRIMARY KEY (run_id, pex_id, attachment_id))"
    )
    for column in ("receipts_to_send", "receipts_attached", "receipts_failed"):
        db.execute(f"ALTER TABLE runs ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")


def receipt_states(db, connection_id: int, *, tenant_id: str) -> dict[tuple[int, str], dict]:
    """(pex_id, attachment_id) -> the attachment_items row of every receipt this database knows of in the
    organisation."""
    return {(row["pex_id"], row["attachment_id"]): row for row in db.query(
        "SELECT * FROM attachment_items WHERE connection_id = ? AND tenant_id = ? AND attachment_id != ''",
        [connection_id, tenant_id])}


def set_receipt_state(db, connection_id: int, pex_id: int, attachment_id: str, status: str, message: str,
                      run_id: int, *, tenant_id: str, xero_parent_id: str = "", file_name: str = "",
                      key: str = "") -> None:
    db.execute(
        "INSERT INTO attachment_items (connection_id, tenant_id, pex_id, attachment_id, status, message, run_id, "
        "xero_parent_id, file_name, idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(connection_id, tenant_id, pex_id, attachment_id) DO UPDATE SET status = excluded.status, "
        "message = excluded.message, run_id = excluded.run_id, "
        "xero_parent_id = CASE WHEN excluded.xero_parent_id != '' THEN excluded.xero_parent_id ELSE xero_parent_id END, "
        "file_name = CASE WHEN excluded.file_name != '' THEN excluded.file_name ELSE file_name END, "
        "idempotency_key = CASE WHEN excluded.idempotency_key != '' THEN excluded.idempotency_key "
        "ELSE idempotency_key END",
        [connection_id, tenant_id, pex_id, attachment_id, status, message, run_id, xero_parent_id, file_name, key],
    )


def add_receipt(db, run_id: int, pex_id: int, attachment_id: str, outcome: str, message: str = "", *,
                file_name: str = "", xero_parent_id: str = "") -> None:
    db.execute(
        "INSERT OR REPLACE INTO run_receipts (run_id, pex_id, attachment_id, file_name, xero_parent_id, outcome, "
        "message) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [run_id, pex_id, attachment_id, file_name, xero_parent_id, outcome, message],
    )


def receipts(db, run_id: int) -> list[dict]:
    return list(db.query("SELECT * FROM run_receipts WHERE run_id = ? ORDER BY pex_id, attachment_id", [run_id]))


def receipt_counts(db, run_id: int) -> dict[str, int]:
    return {row[0]: row[1] for row in db.execute(
        "SELECT outcome, COUNT(*) FROM run_receipts WHERE run_id = ? GROUP BY outcome", [run_id]).fetchall()}

