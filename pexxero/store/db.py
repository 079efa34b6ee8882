"""Opening the SQLite file, the schema's migrations, and the one way to write in a transaction.

Opening
    `open_database(path)` creates the file (0600), turns on WAL, foreign keys and a busy timeout, and brings the
    schema up to date. Another program's database, or a damaged file, is refused in words and left untouched.

Transactions
    `Tables.transaction()` is `BEGIN IMMEDIATE ... COMMIT` (a savepoint when nested): take the write lock up
    front so two processes never deadlock upgrading a read. Every write of the store goes through it.

Migrations
    `MIGRATIONS` is an ordered list, applied through `sqlite_utils.migrations.Migrations` (each recorded by name in
    `_sqlite_migrations`; `PRAGMA user_version` still says how many, and a database from before the names were
    recorded is taken to have run the first `user_version` of them). All pending migrations run inside one
    `BEGIN IMMEDIATE` transaction, so concurrent openers apply each exactly once and a failure leaves the schema
    untouched. They live in `schema.py`; never edit, reorder or
    remove one that has been committed: databases in the field have already run it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path
from typing import Callable, Iterable, Optional

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations
from pexxero.errors import PexxeroError

BUSY_TIMEOUT_SECONDS = 10.0
DAMAGED = ("SQLITE_NOTADB", "SQLITE_CORRUPT")  # SQLite's words for "not a database" and "damaged"

# What the store raises when it cannot write (disk full, read-only file, I/O error). Callers catch this name,
# never a driver's exception, so another database behind the same interface raises its own kind here.
class StoreError(PexxeroError):
    pass


class DatabaseUnreachable(StoreError):
    """PostgreSQL cannot be reached, dropped the connection, or refused the write: the store's error, in words
    (pg_backend.py raises it; its message names the database without its password)."""


DatabaseUnwritable = (sqlite3.DatabaseError, DatabaseUnreachable)


class RowConflictError(StoreError):
    """PostgreSQL refused a row for a constraint (unique, foreign key, not null): pg_backend.py raises it where
    SQLite raises sqlite3.IntegrityError."""


# catch this, never sqlite3.IntegrityError, where a constraint is expected to refuse a row (a name taken). On
# PostgreSQL the refusal ends the transaction it is in: take it in a transaction (or savepoint) of its own.
RowConflict = (sqlite3.IntegrityError, RowConflictError)


# ------------------------------------------------------------------------------------------ migrations

MIGRATIONS: list[Callable[[Database], None]] = []
MIGRATION_SET = "pexxero"  # what is applied is recorded by name in the `_sqlite_migrations` table


def migration(fn: Callable[[Database], None]) -> Callable[[Database], None]:
    """Register the next schema migration (applied in the order registered, each once, by its name)."""
    MIGRATIONS.append(fn)
    return fn


def _migration_set() -> Migrations:
    """The registered migrations, in order, as a sqlite-utils migration set."""
    applied = Migrations(MIGRATION_SET)
    for fn in MIGRATIONS:
        applied(name=fn.__name__)(fn)
    return applied


def schema_version(db: Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: Database) -> int:
    """Apply every pending migration in one transaction; returns the schema version (migrations applied).

    A database from before migrations were recorded by name says by `PRAGMA user_version` N that the first N
    ran: that is recorded once, and only the rest run."""
    target = len(MIGRATIONS)
    migrations = _migration_set()
    if schema_version(db) == target and migrations.applied(db):
        return target
    db.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(db)  # re-read under the write lock: another process may have migrated
        if current > target:
            raise StoreError(
                f"this database has schema version {current}, newer than this pexxero knows ({target}): upgrade pexxero"
            )
        if current and not migrations.applied(db):
            migrations.ensure_migrations_table(db)
            db[migrations.migrations_table].insert_all(
                {"migration_set": MIGRATION_SET, "name": fn.__name__, "applied_at": _now()} for fn in MIGRATIONS[:current]
            )
        migrations.apply(db)  # each pending one in a savepoint of this transaction
        db.execute(f"PRAGMA user_version = {target}")  # kept: what tells an older pexxero it is too old
        db.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.execute("ROLLBACK")
        raise
    return target


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat()


# ------------------------------------------------------------------------------------------------ opening


def open_database(path: Path) -> Database:
    """The database at `path`, created if needed and migrated; StoreError in words when it cannot be."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _create_private(path)  # SQLite gives the WAL and shared-memory files the database file's permissions
    except (FileExistsError, NotADirectoryError):
        raise StoreError(f"The database {path} cannot be created: {_file_in_the_way(path)} is a file, not a "
                         "folder. Choose another path with --db (or $PEXXERO_DB).") from None
    except PermissionError:
        raise StoreError(f"The database {path} cannot be created: this user may not write in {path.parent}. "
                         "Choose another path with --db (or $PEXXERO_DB), or fix the folder's permissions.") from None
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)
    try:
        db = Database(conn)
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        # before anything is changed in it: another program's database is left exactly as it is
        if schema_version(db) == 0 and db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise StoreError(not_pexxero(path, "another program's tables are in it"))
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(db)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if getattr(exc, "sqlite_errorname", "") in DAMAGED:
            raise StoreError(not_pexxero(path, str(exc))) from None
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_CANTOPEN":
            raise StoreError(f"The database {path} cannot be opened ({exc}): is it a folder, or not readable by "
                             "this user? Check --db (or $PEXXERO_DB).") from None
        raise
    except BaseException:
        conn.close()
        raise
    return db


def plain_database(path: Path) -> Database:
    """A second connection to an opened database, without creating or migrating anything: what a heartbeat
    thread uses, and what records a run's end when the run's own connection is broken."""
    db = Database(path)
    db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
    return db


class Tables:
    """A database connection and the one way to write through it. The store's parts build on this; what
    differs between SQLite and PostgreSQL is asked of `self.backend` (sqlite_backend.py, pg_backend.py)."""

    def __init__(self, db, path, backend=None):
        from pexxero.store.sqlite_backend import SQLITE

        self.db = db
        self.path = path  # a Path on SQLite; the URL on PostgreSQL (never shown: see backend.safe_target)
        self.backend = backend or getattr(db, "backend", None) or SQLITE
        self._lock = threading.RLock()

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def transaction(self):
        """One write transaction, rolled back on any exception; a savepoint when already in one. On SQLite
        `BEGIN IMMEDIATE`; on PostgreSQL `BEGIN` with the writers' lock: either way writers queue, one at a time."""
        with self._lock:
            with self.backend.transaction(self.db) as db:
                yield db

    def _many(self, db, sql: str, rows) -> None:
        """One statement for each of `rows`, inside the open transaction `db`."""
        self.backend.executemany(db, sql, rows)

    def _rows(self, sql: str, params: Iterable = ()) -> list[dict]:
        with self._lock:
            return list(self.db.query(sql, tuple(params)))

    def _one(self, sql: str, params: Iterable = ()) -> Optional[tuple]:
        with self._lock:
            return self.db.execute(sql, tuple(params)).fetchone()

    def _pairs(self, sql: str, params: Iterable = ()) -> list[tuple]:
        with self._lock:
            return self.db.execute(sql, tuple(params)).fetchall()


# ---------------------------------------------------------------------------------------------- files


def database_error_words(exc: BaseException) -> Optional[str]:
    """A database error in words, with what to do; None when `exc` is not one. The store's errors are the only
    place that knows which database is underneath."""
    if not isinstance(exc, DatabaseUnwritable):
        return None
    message = str(exc)
    if isinstance(exc, DatabaseUnreachable):
        return (f"pexxero cannot use its database: {message}; nothing was sent to Xero. Check that PostgreSQL "
                "is running and that --db (or $PEXXERO_DB) names it, then run the command again.")
    if getattr(exc, "sqlite_errorname", "") in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
        return not_pexxero("the database", message)
    # disk full, read-only file, I/O error: before anything was sent
    return (f"pexxero cannot write its database ({message}); nothing was sent to Xero. Free disk space or make "
            "the database file writable, then run the command again.")


def not_pexxero(path: str | Path, detail: str) -> str:
    """What to say, and to do, about a file that is not a pexxero database or is damaged."""
    return (f"{path} is not a pexxero database, or it is damaged ({detail}); nothing was sent to Xero. Check that "
            "--db (or $PEXXERO_DB) names the right file. If it does, restore the file from a backup, or move it "
            "away (with its -wal and -shm files) and start again: connect, import the setup, preview. What is "
            "already in Xero is recognised by its PEX- reference, so nothing is written twice.")


def _file_in_the_way(path: Path) -> Path:
    """The nearest ancestor of `path` that exists and is not a folder."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return path.parent


def _create_private(path: Path) -> None:
    """Create `path` empty and readable by its owner alone (0600), unless it exists already."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def open_private(path: str | Path, mode: str = "w", **kwargs):
    """Open a file for writing that only its owner may read (0600): the reconciliation CSV, the sync log.
    An existing file is narrowed to 0600 too, since what is written into it is the books."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise
