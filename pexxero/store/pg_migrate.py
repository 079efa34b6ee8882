"""Opening a PostgreSQL store, and `db migrate`: the store's schema (pg_schema.py) and procrastinate's.

Both take the migration advisory lock first, so two hosts opening or migrating one database at once apply each
migration exactly once: the second waits, then finds nothing left to do. Each migration runs in one transaction
with the record of its name, so a failure leaves the schema as it was.

procrastinate's `apply_schema` is not idempotent (it creates its tables and types unconditionally), so its schema
is applied only to a database that does not have it (`procrastinate_jobs` missing), under the same lock and in
one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from pexxero.store.backend import safe_target
from pexxero.store.db import StoreError
from pexxero.store.pg_backend import LOCK_NAMESPACE, MIGRATE_KEY, PgDatabase
from pexxero.store.pg_schema import PG_MIGRATIONS

MIGRATIONS_TABLE = "_pexxero_migrations"
_LOCK = (LOCK_NAMESPACE, MIGRATE_KEY)


def applied_migrations(db: PgDatabase) -> list[str]:
    """Names of the store's migrations applied to this database, in order ([] for a new database)."""
    if db.execute("SELECT to_regclass(?)", (MIGRATIONS_TABLE,)).fetchone()[0] is None:
        return []
    return [r[0] for r in db.execute(f"SELECT name FROM {MIGRATIONS_TABLE} ORDER BY seq").fetchall()]


def schema_version(db: PgDatabase) -> int:
    return len(applied_migrations(db))


def migrate(db: PgDatabase) -> int:
    """Apply the store's pending migrations; returns how many are applied in all (the schema version)."""
    names = [name for name, _ in PG_MIGRATIONS]
    if applied_migrations(db) == names:
        return len(names)
    with db.transaction(lock=_LOCK):
        db.execute(f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (seq BIGINT PRIMARY KEY, name TEXT NOT NULL "
                   "UNIQUE, applied_at TEXT NOT NULL)")
        done = applied_migrations(db)  # re-read under the lock: another host may have migrated meanwhile
        unknown = [name for name in done if name not in names]
        if unknown:
            raise StoreError(f"the database {safe_target(db.url)} has schema migrations this pexxero does not know "
                             f"({', '.join(unknown)}): upgrade pexxero")
        for seq, (name, sql) in enumerate(PG_MIGRATIONS, start=1):
            if name in done:
                continue
            for statement in sql.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"INSERT INTO {MIGRATIONS_TABLE} (seq, name, applied_at) VALUES (?, ?, now()::text)",
                       (seq, name))
    return len(names)


def open_database(url: str) -> PgDatabase:
    """The store's connection to the database at `url`, its schema brought up to date."""
    db = PgDatabase(url)
    try:
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db


def plain_database(url: str) -> PgDatabase:
    """A second connection, migrating nothing (a heartbeat's, or one to record a run's end)."""
    return PgDatabase(url)


# ------------------------------------------------------------------------------------------ db migrate


@dataclass(frozen=True)
class Migrated:
    """What `db migrate` did: the store's schema version, and whether procrastinate's schema was applied now
    (False: it was there already, or the database is SQLite, which has no queue)."""

    target: str
    store_version: int
    procrastinate_applied: bool
    procrastinate_present: bool


def migrate_all(url: str) -> Migrated:
    """The store's schema and procrastinate's, under the migration lock: safe twice, and from two hosts at once."""
    db = PgDatabase(url)
    try:
        version = migrate(db)
        applied = False
        if not _has_procrastinate(db):
            with db.transaction(lock=_LOCK):
                if not _has_procrastinate(db):  # re-read under the lock
                    db._conn.execute(_procrastinate_schema())  # noqa: SLF001 - one script, simple protocol
                    applied = True
        return Migrated(safe_target(url), version, applied, True)
    finally:
        db.close()


def _has_procrastinate(db: PgDatabase) -> bool:
    return db.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0] is not None


def _procrastinate_schema() -> str:
    from procrastinate.schema import SchemaManager

    return SchemaManager.get_schema()
