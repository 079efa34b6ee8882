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
from pexxero.store.pg_schema import BASE_COVERS, PG_MIGRATIONS

MIGRATIONS_TABLE = "_pexxero_migrations"
_LOCK = (LOCK_NAMESPACE, MIGRATE_KEY)


def _exists(db: PgDatabase, table: str) -> bool:
    """Whether the table exists, read from pg_class with the statement's snapshot. Not `to_regclass`: it answers
    from the session's catalog cache, which an advisory lock does not refresh, so a process that waited on the
    lock while another created the table could still be told it is missing."""
    return db.execute("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
                      "AND tablename = ?)", (table,)).fetchone()[0]


def applied_migrations(db: PgDatabase) -> list[str]:
    """Names of the store's migrations applied to this database, in order ([] for a new database)."""
    if not _exists(db, MIGRATIONS_TABLE):
        return []
    return [r[0] for r in db.execute(f"SELECT name FROM {MIGRATIONS_TABLE} ORDER BY seq").fetchall()]


def _version(applied: int) -> int:
    """The schema version as SQLite counts it: `_0007_base` is SQLite's first seven, each later one one more."""
    return BASE_COVERS - 1 + applied if applied else 0


def schema_version(db: PgDatabase) -> int:
    return _version(len(applied_migrations(db)))


def migrate(db: PgDatabase) -> int:
    """Apply the store's pending migrations; returns the schema version (as SQLite's `user_version` counts)."""
    names = [name for name, _ in PG_MIGRATIONS]
    if applied_migrations(db) == names:
        return _version(len(names))
    with db.transaction(lock=_LOCK):
        if not _exists(db, MIGRATIONS_TABLE):  # read under the lock: another host may have made it meanwhile
            db.execute(f"CREATE TABLE {MIGRATIONS_TABLE} (seq BIGINT PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
                       "applied_at TEXT NOT NULL)")
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
    return _version(len(names))


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
    return _exists(db, "procrastinate_jobs")


def _procrastinate_schema() -> str:
    from procrastinate.schema import SchemaManager

    return SchemaManager.get_schema()
