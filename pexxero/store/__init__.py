"""The local database: the one interface to every table and every SQL statement of pexxero.

`Store.open(target)` opens (creating and migrating) the SQLite file, or the PostgreSQL database a
`postgresql://` URL names; its methods are the only way the engine, the pages and the command line read or
write it, and run the same on either database.

    db.py             opening SQLite, its migrations (sqlite-utils `Migrations`), the one transaction helper
    schema.py         the migrations (the schema)
    backend.py        which database a target names; the target without its password
    sqlite_backend.py what differs on SQLite (transactions, batches); pg_backend.py the same on PostgreSQL
    pg_schema.py      the PostgreSQL schema (kept in step with schema.py by tests/test_pg_schema.py)
    pg_migrate.py     opening PostgreSQL, its migrations and procrastinate's (`db migrate`), under a lock
    credentials.py  encrypted credentials and the Xero token keeper (its cross-process lock)
    pex_copy.py     the local copy of PEX transactions
    sync_tables.py  runs, items, intents, ledger, locks, releases, plans, receipts
    processes.py    whether the process behind a lock or a queued run is still there

A `Store` may be handed between threads (Streamlit reruns), and its own methods serialise on an internal lock,
but code that runs long transactions in two threads at once should open one Store each.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from pexxero.secrets import KeySource
from pexxero.setup import Setup
from pexxero.setup_toml import from_toml, to_toml
from pexxero.store import schema as _schema  # noqa: F401 - registers the migrations
from pexxero.store.backend import is_postgres, safe_target
from pexxero.store.credentials import SERVICES, CredentialTables, LockBusy, StoreTokenKeeper
from pexxero.store.db import (
    BUSY_TIMEOUT_SECONDS,
    DAMAGED,
    MIGRATIONS,
    DatabaseUnreachable,
    DatabaseUnwritable,
    RowConflict,
    StoreError,
    migrate,
    not_pexxero,
    open_database,
    open_private,
    schema_version,
)
from pexxero.store.pex_copy import PexCopyTables
from pexxero.store.sync_tables import AlreadyRunning, SyncTables

__all__ = [
    "BUSY_TIMEOUT_SECONDS", "DAMAGED", "MIGRATIONS", "SERVICES", "AlreadyRunning", "DatabaseUnreachable", "DatabaseUnwritable", "LockBusy", "RowConflict",
    "Store", "StoreError", "StoreTokenKeeper", "default_db_path", "migrate", "migrate_database", "not_pexxero", "open_private",
    "schema_version",
]

DEFAULT_CONNECTION_ID = 1
DEFAULT_DB = "pexxero.db"


def default_db_path() -> str:
    """The database when none is named: `$PEXXERO_DB` (a file path, or a postgresql:// URL), else pexxero.db in
    the working directory."""
    import os

    return os.environ.get("PEXXERO_DB") or DEFAULT_DB


def migrate_database(target: str | Path):
    """Create or upgrade the schema at `target` and say what was done (`pg_migrate.Migrated`): on PostgreSQL the
    store's and procrastinate's, under an advisory lock; a SQLite file is migrated as opening it does."""
    from pexxero.store.pg_migrate import Migrated, migrate_all

    if is_postgres(target):
        return migrate_all(str(target))
    with Store.open(target) as store:
        return Migrated(safe_target(target), schema_version(store.db), False, False)


class Store(CredentialTables, PexCopyTables, SyncTables):
    def __init__(self, db, path: Path | str, *, key: Optional[KeySource] = None):
        super().__init__(db, path)
        self._key = key
        self._cipher = None

    @classmethod
    def open(cls, path: str | Path, *, key: Optional[KeySource] = None) -> "Store":
        """Open (creating if needed) the database at `path` and bring its schema up to date: a SQLite file, or a
        PostgreSQL database when `path` is a `postgresql://` (or `postgres://`) URL. `key` overrides the key
        lookup of secrets.py."""
        if is_postgres(path):
            from pexxero.store.pg_migrate import open_database as open_pg

            return cls(open_pg(str(path)), str(path), key=key)
        path = Path(path)
        return cls(open_database(path), path, key=key)

    @property
    def target(self) -> str:
        """The database as it may be shown: the file path, or the URL without its password."""
        return safe_target(self.path)

    @property
    def on_postgres(self) -> bool:
        return self.backend.kind == "postgresql"

    def second_connection(self) -> "Store":
        """Another connection to this database, opened without creating or migrating anything: for a thread
        of its own (the heartbeat), or to record a run's end when this connection is broken."""
        return type(self)(self.backend.plain(self.path), self.path, key=self._key)

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------------------------- connections

    def connection_id(self) -> int:
        """The default connection, created on first use. One per database for now."""
        if self._rows("SELECT 1 FROM connections WHERE id = ?", (DEFAULT_CONNECTION_ID,)):
            return DEFAULT_CONNECTION_ID  # no write lock needed (a running sync may hold it)
        with self.transaction() as db:
            db.execute(
                "INSERT INTO connections (id, name, created_at) VALUES (?, 'default', ?) ON CONFLICT DO NOTHING",
                (DEFAULT_CONNECTION_ID, _now()),
            )
        return DEFAULT_CONNECTION_ID

    def chosen_tenant(self, connection_id: int) -> str:
        """The Xero organisation (tenant id) the connection works on; "" when none is chosen. Kept in one place,
        the `connections` row: the setup's `[xero] tenant_id` is filled from it and sets it on import."""
        row = self._one("SELECT tenant_id FROM connections WHERE id = ?", (connection_id,))
        return (row[0] or "") if row else ""

    def set_chosen_tenant(self, connection_id: int, tenant_id: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE connections SET tenant_id = ? WHERE id = ?", (tenant_id or "", connection_id))

    # ------------------------------------------------------------------------------------------- setup

    def save_setup(self, connection_id: int, setup: Setup) -> None:
        """Save the setup; a `[xero] tenant_id` it names becomes the chosen organisation (kept on the connection,
        not in the stored setup)."""
        from dataclasses import replace

        # stored in the export format: readable, and one code path for both
        text = to_toml(replace(setup, xero=replace(setup.xero, tenant_id="")))
        with self.transaction() as db:
            db.execute(
                "INSERT INTO setup (connection_id, toml, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (connection_id) DO UPDATE SET toml = excluded.toml, updated_at = excluded.updated_at",
                (connection_id, text, _now()),
            )
            if setup.xero.tenant_id:
                db.execute("UPDATE connections SET tenant_id = ? WHERE id = ?", (setup.xero.tenant_id, connection_id))

    def load_setup(self, connection_id: int) -> Setup | None:
        """The saved setup, its `[xero] tenant_id` the organisation chosen now."""
        from dataclasses import replace

        rows = self._rows("SELECT toml FROM setup WHERE connection_id = ?", (connection_id,))
        if not rows:
            return None
        setup = from_toml(rows[0]["toml"])
        return replace(setup, xero=replace(setup.xero, tenant_id=self.chosen_tenant(connection_id)))

    # -------------------------------------------------------------------------------------------- meta

    def meta(self, key: str, default=None):
        rows = self._rows("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0]["value"]) if rows else default

    def set_meta(self, key: str, value) -> None:
        """Store any JSON-serialisable value under `key`; None removes it."""
        with self.transaction() as db:
            if value is None:
                db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                db.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, json.dumps(value)),
                )

    # ------------------------------------------------------------------------------------ inspection

    def table_names(self) -> list[str]:
        """The tables of the schema (what an upgrade test checks)."""
        return self.db.table_names()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()
