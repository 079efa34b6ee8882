"""The schema, as the migrations that build it (registered in order with `@migration`; see db.py).

Never edit, reorder, rename or remove a migration that has been committed: databases in the field have already run
it, and it is recorded by its function name.
To change the schema, append a function at the end of this file, decorated with `@migration`, that uses
`db.execute` with plain SQL (it joins the open transaction).
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlite_utils import Database

from pexxero.store.db import migration


@migration
def _0001_base(db: Database) -> None:
    db.execute(
        "CREATE TABLE connections (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL)"
    )
    db.execute(
        "CREATE TABLE credentials ("
        " connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,"
        " service TEXT NOT NULL,"
        " ciphertext TEXT NOT NULL,"  # Fernet token: never the clear value
        " updated_at TEXT NOT NULL,"
        " PRIMARY KEY (connection_id, service))"
    )
    db.execute(
        "CREATE TABLE setup ("
        " connection_id INTEGER PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,"
        " toml TEXT NOT NULL,"
        " updated_at TEXT NOT NULL)"
    )
    db.execute(
        "CREATE TABLE pex_transactions ("
        " connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,"
        " transaction_id INTEGER NOT NULL,"
        " acct_id INTEGER NOT NULL,"
        " ledger TEXT NOT NULL,"
        " transaction_type TEXT NOT NULL,"
        " category TEXT NOT NULL,"
        " amount TEXT NOT NULL,"  # Decimal as text, never REAL
        " transaction_time TEXT NOT NULL,"  # naive US Eastern, ISO
        " transaction_date TEXT NOT NULL,"  # its Eastern calendar date, for range queries
        " settlement_time TEXT,"
        " settlement_date TEXT,"
        " description TEXT NOT NULL,"
        " merchant_name TEXT NOT NULL,"
        " merchant_name_normalized TEXT NOT NULL,"
        " is_pending INTEGER NOT NULL,"
        " is_decline INTEGER NOT NULL,"
        " approval_status TEXT NOT NULL,"
        " auth_transaction_id INTEGER,"
        " tags TEXT NOT NULL,"  # JSON [{field_id, name, value}]
        " splits TEXT NOT NULL,"  # JSON [{amount, tags}]
        " cardholder TEXT NOT NULL,"
        " notes TEXT NOT NULL,"  # JSON [str]
        " fetched_at TEXT NOT NULL,"
        " PRIMARY KEY (connection_id, transaction_id))"
    )
    db.execute("CREATE INDEX pex_transactions_by_date ON pex_transactions (connection_id, transaction_date)")
    db.execute("CREATE INDEX pex_transactions_by_settlement ON pex_transactions (connection_id, settlement_date)")
    db.execute(
        "CREATE TABLE pex_fetches ("
        " id INTEGER PRIMARY KEY,"
        " connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,"
        " ledger TEXT NOT NULL,"  # "" = every ledger
        " start_date TEXT NOT NULL,"
        " end_date TEXT NOT NULL,"
        " fetched_at TEXT NOT NULL,"
        " count INTEGER NOT NULL)"
    )
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")  # value: JSON


@migration
def _0002_sync(db: Database) -> None:
    """Runs, run items, write intents, the ledger of created records, locks, releases, saved plans."""
    for statement in _SYNC_SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


@migration
def _0003_pex_problem(db: Database) -> None:
    """Why a PEX row could not be read as sent ("" for a sound row): kept so the preview blocks it by name."""
    db.execute("ALTER TABLE pex_transactions ADD COLUMN problem TEXT NOT NULL DEFAULT ''")


def chosen_tenants(db: Database) -> dict[int, str]:
    """Each connection's chosen Xero organisation as it is stored without decrypting anything: the setup's
    `[xero] tenant_id` when it names one, else the pick kept in meta (`xero_tenant:<connection>`), which the
    Connect page and `connect xero --tenant` write beside the token."""
    import tomllib

    chosen: dict[int, str] = {}
    for (cid,) in db.execute("SELECT id FROM connections").fetchall():
        tenant = ""
        row = db.execute("SELECT toml FROM setup WHERE connection_id = ?", [cid]).fetchone()
        if row is not None:
            try:
                tenant = str(tomllib.loads(row[0]).get("xero", {}).get("tenant_id") or "")
            except tomllib.TOMLDecodeError:
                tenant = ""
        if not tenant:
            row = db.execute("SELECT value FROM meta WHERE key = ?", [f"xero_tenant:{cid}"]).fetchone()
            tenant = str(json.loads(row[0]) or "") if row is not None else ""
        chosen[cid] = tenant
    return chosen


@migration
def _0004_tenant_scope(db: Database) -> None:
    """Plans, the ledger, intents, receipts, releases and runs belong to one Xero organisation (tenant id): a
    switch of organisation must never find the first one's records "already written". Existing rows get the
    organisation their connection has chosen now (the only one they can have been written for)."""
    db.execute("CREATE TEMP TABLE _chosen (connection_id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL)")
    db.conn.executemany("INSERT INTO _chosen VALUES (?, ?)", list(chosen_tenants(db).items()))
    tenant_of = "COALESCE((SELECT c.tenant_id FROM _chosen c WHERE c.connection_id = t.connection_id), '')"

    # tables whose key gains the tenant: rebuilt (SQLite cannot change a primary key in place)
    db.execute(
        "CREATE TABLE ledger_scoped ("
        " connection_id INTEGER NOT NULL, tenant_id TEXT NOT NULL, reference TEXT NOT NULL,"
        " record_type TEXT NOT NULL, xero_id TEXT NOT NULL, run_id INTEGER, created_at TEXT NOT NULL,"
        " PRIMARY KEY (connection_id, tenant_id, reference))"
    )
    db.execute(
        "INSERT INTO ledger_scoped SELECT t.connection_id, " + tenant_of + ", t.reference, t.record_type, "
        "t.xero_id, t.run_id, t.created_at FROM ledger t"
    )
    db.execute(
        "CREATE TABLE released_scoped ("
        " connection_id INTEGER NOT NULL, tenant_id TEXT NOT NULL, pex_id INTEGER NOT NULL, action TEXT NOT NULL,"
        " created_at TEXT NOT NULL, PRIMARY KEY (connection_id, tenant_id, pex_id))"
    )
    db.execute(
        "INSERT INTO released_scoped SELECT t.connection_id, " + tenant_of + ", t.pex_id, t.action, t.created_at "
        "FROM released t"
    )
    db.execute(
        "CREATE TABLE attachment_items_scoped ("
        " connection_id INTEGER NOT NULL, tenant_id TEXT NOT NULL, pex_id INTEGER NOT NULL,"
        " attachment_id TEXT NOT NULL, xero_parent_id TEXT NOT NULL DEFAULT '', file_name TEXT NOT NULL DEFAULT '',"
        " status TEXT NOT NULL, message TEXT NOT NULL DEFAULT '', idempotency_key TEXT NOT NULL DEFAULT '',"
        " run_id INTEGER, PRIMARY KEY (connection_id, tenant_id, pex_id, attachment_id))"
    )
    db.execute(
        "INSERT INTO attachment_items_scoped SELECT t.connection_id, " + tenant_of + ", t.pex_id, t.attachment_id, "
        "t.xero_parent_id, t.file_name, t.status, t.message, t.idempotency_key, t.run_id FROM attachment_items t"
    )
    for table in ("ledger", "released", "attachment_items"):
        db.execute(f"DROP TABLE {table}")
        db.execute(f"ALTER TABLE {table}_scoped RENAME TO {table}")

    # tables that only gain a column: the intent's key already includes the tenant; one plan per connection,
    # stamped with the organisation it was built for (and its name, to say so) and invalidated by a switch
    for table in ("intents", "plans", "runs"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN tenant_id TEXT NOT NULL DEFAULT ''")
        db.execute(f"UPDATE {table} AS t SET tenant_id = {tenant_of}")
    db.execute("ALTER TABLE plans ADD COLUMN tenant_name TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE plans ADD COLUMN invalidated_at TEXT")
    db.execute("DROP INDEX IF EXISTS intents_open")
    db.execute("CREATE INDEX intents_open ON intents (connection_id, tenant_id, status)")
    db.execute("DROP TABLE _chosen")


@migration
def _0005_receipts(db: Database) -> None:
    """Receipt outcomes per run (attached, waiting, failed with Xero's words) and a run's receipt counts."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS run_receipts ("
        " run_id INTEGER NOT NULL, pex_id INTEGER NOT NULL, attachment_id TEXT NOT NULL,"
        " file_name TEXT NOT NULL DEFAULT '', xero_parent_id TEXT NOT NULL DEFAULT '',"
        " outcome TEXT NOT NULL, message TEXT NOT NULL DEFAULT '',"
        " PRIMARY KEY (run_id, pex_id, attachment_id))"
    )
    for column in ("receipts_to_send", "receipts_attached", "receipts_failed"):
        db.execute(f"ALTER TABLE runs ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")


_SYNC_SCHEMA = """
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




@migration
def _0006_chosen_tenant(db: Database) -> None:
    """The chosen Xero organisation is kept in one place, the connection's row: it was in the setup's
    `[xero] tenant_id`, in meta (`xero_tenant:<connection>`) and in the Xero credentials. The setup and meta
    carry it no more; the credentials' copy (encrypted, so left as it is) is no longer read."""
    db.execute("ALTER TABLE connections ADD COLUMN tenant_id TEXT NOT NULL DEFAULT ''")
    db.conn.executemany("UPDATE connections SET tenant_id = ? WHERE id = ?",
                        [(tenant, cid) for cid, tenant in chosen_tenants(db).items()])
    db.execute("DELETE FROM meta WHERE key LIKE 'xero\\_tenant:%' ESCAPE '\\'")


@migration
def _0007_pex_reads(db: Database) -> None:
    """One record of PEX reads, `pex_fetches`: each read says whether it was a whole-range read (and PEX's day
    then) and whether it is expired; the copy of that state in meta (`pex_cache:<connection>`) goes."""
    db.execute("ALTER TABLE pex_fetches ADD COLUMN whole INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE pex_fetches ADD COLUMN pex_day TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE pex_fetches ADD COLUMN stale INTEGER NOT NULL DEFAULT 0")
    for key, value in db.execute("SELECT key, value FROM meta WHERE key LIKE 'pex\\_cache:%' ESCAPE '\\'").fetchall():
        state = json.loads(value) or {}
        cid = key.split(":", 1)[1]
        if state.get("full_at"):
            db.execute("UPDATE pex_fetches SET whole = 1, pex_day = ? WHERE connection_id = ? AND fetched_at = ?",
                       [state.get("full_day") or "", cid, state["full_at"]])
        # a last read older than the reads recorded was set back to have the next refresh read PEX: keep that
        last = db.execute("SELECT MAX(fetched_at) FROM pex_fetches WHERE connection_id = ?", [cid]).fetchone()[0]
        if last and state.get("fetched_at") and datetime.fromisoformat(state["fetched_at"]) < datetime.fromisoformat(last):
            db.execute("UPDATE pex_fetches SET stale = 1 WHERE connection_id = ?", [cid])
    db.execute("DELETE FROM meta WHERE key LIKE 'pex\\_cache:%' ESCAPE '\\'")


@migration
def _0008_workspace(db: Database) -> None:
    """One workspace, many connections. A Xero sign-in (one OAuth grant, one rotating refresh token) can see several
    organisations, so its token set is stored once, in `grants`, with the organisations it sees; each connection
    points at a grant and picks its tenant. Two connections holding copies of one grant's refresh token would spend
    each other's token at the first refresh. Connections get unique names (the CLI's `--connection NAME`) and the
    PEX business name, remembered so the overview needs no network.

    Existing Xero credentials move unread (their key may not be at hand during a migration): the ciphertext keeps
    the binding it was sealed with (`seal_id`, `seal_service`) until the next save seals it to the grant."""
    db.execute(
        "CREATE TABLE grants ("
        " id INTEGER PRIMARY KEY,"
        " ciphertext TEXT NOT NULL,"  # Fernet token: never the clear value
        " seal_id INTEGER NOT NULL, seal_service TEXT NOT NULL,"
        " tenants TEXT NOT NULL DEFAULT '[]',"  # JSON [[tenant_id, organisation name]]
        " token_print TEXT NOT NULL DEFAULT '',"  # a one-way print of the refresh token: tells a rotation apart
        " token_at TEXT NOT NULL DEFAULT '',"  # when the refresh token held now was issued (its 60-day life)
        " created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
    )
    db.execute("ALTER TABLE connections ADD COLUMN grant_id INTEGER REFERENCES grants(id) ON DELETE SET NULL")
    db.execute("ALTER TABLE connections ADD COLUMN pex_business TEXT NOT NULL DEFAULT ''")
    # names were never shown before: make them unique ("default" stays "default")
    seen: set[str] = set()
    for cid, name in db.execute("SELECT id, name FROM connections ORDER BY id").fetchall():
        unique = name or "default"
        if unique in seen:
            unique = f"{unique}-{cid}"
        seen.add(unique)
        if unique != name:
            db.execute("UPDATE connections SET name = ? WHERE id = ?", [unique, cid])
    db.execute("CREATE UNIQUE INDEX connections_by_name ON connections (name)")
    rows = db.execute("SELECT connection_id, ciphertext, updated_at FROM credentials WHERE service = 'xero' "
                      "ORDER BY connection_id").fetchall()
    for cid, ciphertext, updated_at in rows:
        names_row = db.execute("SELECT value FROM meta WHERE key = ?", [f"xero_tenant_names:{cid}"]).fetchone()
        names = json.loads(names_row[0]) if names_row is not None else {}
        tenants = [[tid, str(name or "")] for tid, name in sorted((names or {}).items())]
        grant = db.execute(
            "INSERT INTO grants (ciphertext, seal_id, seal_service, tenants, token_at, created_at, updated_at) "
            "VALUES (?, ?, 'xero', ?, ?, ?, ?)", [ciphertext, cid, json.dumps(tenants), updated_at, updated_at, updated_at]
        ).lastrowid
        db.execute("UPDATE connections SET grant_id = ? WHERE id = ?", [grant, cid])
    db.execute("DELETE FROM credentials WHERE service = 'xero'")
    # a plan's rows per status, kept beside it: the overview of many connections reads these, not every plan
    db.execute("ALTER TABLE plans ADD COLUMN counts TEXT NOT NULL DEFAULT '{}'")
    for cid, items in db.execute("SELECT connection_id, items FROM plans").fetchall():
        db.execute("UPDATE plans SET counts = ? WHERE connection_id = ?", [json.dumps(plan_counts(json.loads(items))), cid])


def plan_counts(items: list[dict]) -> dict[str, int]:
    """status -> how many of a saved plan's rows have it."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item.get("status", "")] = counts.get(item.get("status", ""), 0) + 1
    return counts


@migration
def _0009_undo(db: Database) -> None:
    """Undo of a run: `undone` keeps every record an undo deleted (its reference, Xero id, the run that created it
    and the undo run), so a record created again after an undo is sent under a new Idempotency-Key (its
    generation: how many times that reference was undone) and an undone record is never counted as written.
    `runs.undoes` names the run an undo run removed records of. Depends on no table of a migration after 7."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS undone ("
        " connection_id INTEGER NOT NULL, tenant_id TEXT NOT NULL, reference TEXT NOT NULL,"
        " record_type TEXT NOT NULL, xero_id TEXT NOT NULL, created_run INTEGER, undo_run INTEGER NOT NULL,"
        " undone_at TEXT NOT NULL, PRIMARY KEY (connection_id, tenant_id, reference, xero_id))"
    )
    db.execute("ALTER TABLE runs ADD COLUMN undoes INTEGER")


@migration
def _0010_run_item_status(db: Database) -> None:
    """Each run item keeps the Preview status of its row (`synced`, `skipped`, `blocked`…), so the Sync and History
    pages count what a run left alone in Preview's words instead of one "skipped" for all of it. Items of older
    runs keep '' (counted as skipped, as they were shown)."""
    db.execute("ALTER TABLE run_items ADD COLUMN status TEXT NOT NULL DEFAULT ''")
