"""The local database (SQLite through sqlite-utils): connections, encrypted credentials, the setup, the local
copy of PEX transactions, and small key/value state. Later work adds runs, run items and intents here.

Opening
    `Store.open(path)` creates the file, turns on WAL, foreign keys and a busy timeout, and brings the schema
    up to date. A `Store` may be handed between threads (Streamlit reruns), and its own methods serialise on an
    internal lock, but code that runs long transactions in two threads at once should open one Store each.

Transactions
    `with store.transaction():` is `BEGIN IMMEDIATE ... COMMIT` (a savepoint when nested): take the write lock
    up front so two processes never deadlock upgrading a read. sqlite-utils' own helpers (`db[...].insert`,
    `db.execute`) join an open transaction and commit on their own otherwise.

Migrations
    `MIGRATIONS` is an ordered list; migration N (1-based) brings the schema from `PRAGMA user_version` N-1 to
    N. All pending migrations run inside one `BEGIN IMMEDIATE` transaction, so concurrent openers apply each
    exactly once and a failure leaves the schema untouched. To add one, append a function at the end of this
    file, decorated with `@migration`:

        @migration
        def _0002_runs(db: Database) -> None:
            db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, ...)")

    Use `db.execute` with plain SQL (it joins the open transaction). Never edit, reorder or remove a migration
    that has been committed: databases in the field have already run it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

from sqlite_utils import Database

from pexxero.errors import PexxeroError
from pexxero.models import PexTransaction, Split, TagValue
from pexxero.secrets import Cipher, KeySource, find_key
from pexxero.setup import Setup
from pexxero.setup_toml import from_toml, to_toml

SERVICES = ("pex", "xero")
BUSY_TIMEOUT_SECONDS = 10.0
DEFAULT_CONNECTION_ID = 1


class StoreError(PexxeroError):
    pass


# ------------------------------------------------------------------------------------------ migrations

MIGRATIONS: list[Callable[[Database], None]] = []


def migration(fn: Callable[[Database], None]) -> Callable[[Database], None]:
    """Register the next schema migration (its version is its position in the list)."""
    MIGRATIONS.append(fn)
    return fn


def schema_version(db: Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: Database) -> int:
    """Apply every pending migration in one transaction; returns the schema version."""
    target = len(MIGRATIONS)
    if schema_version(db) == target:
        return target
    db.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(db)  # re-read under the write lock: another process may have migrated
        if current > target:
            raise StoreError(
                f"this database has schema version {current}, newer than this pexxero knows ({target}): upgrade pexxero"
            )
        for fn in MIGRATIONS[current:]:
            fn(db)
        db.execute(f"PRAGMA user_version = {target}")
        db.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.execute("ROLLBACK")
        raise
    return target


# ------------------------------------------------------------------------------------------------ Store


class Store:
    def __init__(self, db: Database, path: Path, *, key: Optional[KeySource] = None):
        self.db = db
        self.path = path
        self._key = key
        self._cipher: Optional[Cipher] = None
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: str | Path, *, key: Optional[KeySource] = None) -> "Store":
        """Open (creating if needed) the database at `path`. `key` overrides the key lookup of secrets.py."""
        path = Path(path)
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
        return cls(db, path, key=key)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Database]:
        """`BEGIN IMMEDIATE ... COMMIT`, rolled back on any exception; a savepoint when already in one."""
        with self._lock:
            if self.db.conn.in_transaction:
                with self.db.atomic():
                    yield self.db
                return
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                if self.db.conn.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def _rows(self, sql: str, params: tuple = ()) -> list[dict]:
        with self._lock:
            return list(self.db.query(sql, params))

    # ------------------------------------------------------------------------------------- connections

    def connection_id(self) -> int:
        """The default connection, created on first use. One per database for now."""
        if self._rows("SELECT 1 FROM connections WHERE id = ?", (DEFAULT_CONNECTION_ID,)):
            return DEFAULT_CONNECTION_ID  # no write lock needed (a running sync may hold it)
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO connections (id, name, created_at) VALUES (?, 'default', ?)",
                (DEFAULT_CONNECTION_ID, _now()),
            )
        return DEFAULT_CONNECTION_ID

    # ------------------------------------------------------------------------------------- credentials

    def key_source(self) -> KeySource:
        """Where the encryption key comes from (env, secrets.toml or the key file); found on first use."""
        if self._key is None:
            self._key = find_key(self.path, holds_secrets=self.holds_credentials)
        return self._key

    def holds_credentials(self) -> bool:
        """Whether any credentials are stored (encrypted with some key): then no new key may be generated."""
        return bool(self._rows("SELECT 1 FROM credentials LIMIT 1"))

    def forget_credentials(self, connection_id: int) -> int:
        """Delete every stored credential of the connection without reading them (for a lost key); returns how
        many were deleted."""
        with self.transaction() as db:
            return db.execute("DELETE FROM credentials WHERE connection_id = ?", (connection_id,)).rowcount

    def _crypt(self) -> Cipher:
        if self._cipher is None:
            self._cipher = Cipher(self.key_source().key)
        return self._cipher

    def save_credentials(self, connection_id: int, service: str, value: dict) -> None:
        _check_service(service)
        ciphertext = self._crypt().encrypt(connection_id, service, value)
        with self.transaction() as db:
            db.execute(
                "INSERT INTO credentials (connection_id, service, ciphertext, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (connection_id, service) DO UPDATE SET "
                "ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
                (connection_id, service, ciphertext, _now()),
            )

    def load_credentials(self, connection_id: int, service: str) -> dict | None:
        """The stored value, or None. Raises `secrets.CredentialsUnreadable` when the key does not fit."""
        _check_service(service)
        rows = self._rows(
            "SELECT ciphertext FROM credentials WHERE connection_id = ? AND service = ?", (connection_id, service)
        )
        if not rows:
            return None
        return self._crypt().decrypt(connection_id, service, rows[0]["ciphertext"])

    def has_credentials(self, connection_id: int, service: str) -> bool:
        """Whether something is stored, without decrypting it (for status displays)."""
        _check_service(service)
        return bool(
            self._rows("SELECT 1 FROM credentials WHERE connection_id = ? AND service = ?", (connection_id, service))
        )

    def delete_credentials(self, connection_id: int, service: str) -> None:
        _check_service(service)
        with self.transaction() as db:
            db.execute("DELETE FROM credentials WHERE connection_id = ? AND service = ?", (connection_id, service))

    def token_keeper(self, connection_id: int) -> "StoreTokenKeeper":
        return StoreTokenKeeper(self, connection_id)

    # ------------------------------------------------------------------------------------------- setup

    def save_setup(self, connection_id: int, setup: Setup) -> None:
        text = to_toml(setup)  # stored in the export format: readable, and one code path for both
        with self.transaction() as db:
            db.execute(
                "INSERT INTO setup (connection_id, toml, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (connection_id) DO UPDATE SET toml = excluded.toml, updated_at = excluded.updated_at",
                (connection_id, text, _now()),
            )

    def load_setup(self, connection_id: int) -> Setup | None:
        rows = self._rows("SELECT toml FROM setup WHERE connection_id = ?", (connection_id,))
        return from_toml(rows[0]["toml"]) if rows else None

    # ---------------------------------------------------------------------------- local PEX transactions

    def save_pex_transactions(
        self,
        connection_id: int,
        transactions: Iterable[PexTransaction],
        *,
        fetched_at: datetime,
        window: tuple[date, date],
        ledger: Optional[str] = None,
    ) -> int:
        """Upsert by TransactionId and record the fetched window; returns how many rows were written.

        With `ledger` ("cardholder" or "business") the batch is that ledger's whole content for the window:
        its rows inside the window (by transaction date) that PEX no longer returns are removed, so an
        authorisation that PEX dropped does not linger in the preview.
        """
        start, end = window
        if end < start:
            raise ValueError(f"window ends ({end}) before it starts ({start})")
        rows = [_row_from(connection_id, t, fetched_at) for t in transactions]
        if ledger is not None and any(r["ledger"] != ledger for r in rows):
            raise ValueError(f"a batch saved for ledger {ledger!r} holds transactions of another ledger")
        columns = list(rows[0]) if rows else []
        with self.transaction() as db:
            if ledger is not None:
                kept = [r["transaction_id"] for r in rows]
                db.execute(
                    "DELETE FROM pex_transactions WHERE connection_id = ? AND ledger = ? "
                    "AND transaction_date BETWEEN ? AND ? "
                    "AND transaction_id NOT IN (SELECT value FROM json_each(?))",
                    (connection_id, ledger, start.isoformat(), end.isoformat(), json.dumps(kept)),
                )
            if rows:
                updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in ("connection_id", "transaction_id"))
                db.conn.executemany(
                    f"INSERT INTO pex_transactions ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
                    f"ON CONFLICT (connection_id, transaction_id) DO UPDATE SET {updates}",
                    [tuple(r[c] for c in columns) for r in rows],
                )
            db.execute(
                "INSERT INTO pex_fetches (connection_id, ledger, start_date, end_date, fetched_at, count) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (connection_id, ledger or "", start.isoformat(), end.isoformat(), fetched_at.isoformat(), len(rows)),
            )
        return len(rows)

    def pex_transactions(self, connection_id: int, start: date, end: date) -> list[PexTransaction]:
        """Transactions whose transaction date or settlement date (US Eastern) falls in [start, end].

        Both dates, because the setup may post by either: mapping decides which applies and skips the rest.
        """
        rows = self._rows(
            "SELECT * FROM pex_transactions WHERE connection_id = ? "
            "AND (transaction_date BETWEEN ? AND ? OR settlement_date BETWEEN ? AND ?) "
            "ORDER BY transaction_time, transaction_id",
            (connection_id, start.isoformat(), end.isoformat(), start.isoformat(), end.isoformat()),
        )
        return [_transaction_from(r) for r in rows]

    def pex_fetch_state(self, connection_id: int) -> dict:
        """What was fetched from PEX and when, for incremental refresh.

        {"windows": [{"ledger", "start", "end", "fetched_at", "count"}, ...] newest first ("" ledger = all),
         "last_fetched_at": datetime | None, "covered": [(start, end), ...] merged, "transactions": int}
        """
        windows = [
            {
                "ledger": r["ledger"],
                "start": date.fromisoformat(r["start_date"]),
                "end": date.fromisoformat(r["end_date"]),
                "fetched_at": datetime.fromisoformat(r["fetched_at"]),
                "count": r["count"],
            }
            for r in self._rows(
                "SELECT * FROM pex_fetches WHERE connection_id = ? ORDER BY id DESC", (connection_id,)
            )
        ]
        count = self._rows(
            "SELECT count(*) AS n FROM pex_transactions WHERE connection_id = ?", (connection_id,)
        )[0]["n"]
        return {
            "windows": windows,
            "last_fetched_at": windows[0]["fetched_at"] if windows else None,
            "covered": _merged((w["start"], w["end"]) for w in windows),
            "transactions": count,
        }

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


# ---------------------------------------------------------------------------------------- token keeper


class StoreTokenKeeper:
    """The Xero token set for one connection: what the Xero gateway loads, saves and refreshes under.

    The gateway refreshes like this, so two processes never spend the same refresh token:

        with keeper.lock():
            token = keeper.load()          # re-read: another process may have rotated it already
            if still_expired(token):
                keeper.save(refresh(token)) # committed at once, before anything else can fail
    """

    service = "xero"

    def __init__(self, store: Store, connection_id: int):
        self.store = store
        self.connection_id = connection_id

    @contextlib.contextmanager
    def _own(self) -> Iterator[Store]:
        """A short-lived connection of the keeper's own. The gateway refreshes on whichever thread makes the call
        (a sync sends from worker threads) while another thread may hold a transaction open on the store's
        connection; sharing that connection would fold the token's save into someone else's transaction."""
        own = Store.open(self.store.path, key=self.store.key_source())
        try:
            yield own
        finally:
            own.close()

    def load(self) -> dict | None:
        with self._own() as own:
            return own.load_credentials(self.connection_id, self.service)

    def save(self, token: dict) -> None:
        with self._own() as own:
            own.save_credentials(self.connection_id, self.service, token)

    def clear(self) -> None:
        with self._own() as own:
            own.delete_credentials(self.connection_id, self.service)

    def lock(self, *, blocking: bool = True) -> contextlib.AbstractContextManager[None]:
        """Exclusive across processes and threads, re-entrant in one thread. `blocking=False` raises
        `LockBusy` at once instead of waiting."""
        return _file_lock(self.store.path.with_name(f"{self.store.path.name}.{self.connection_id}.lock")).hold(
            blocking=blocking
        )


class LockBusy(PexxeroError):
    pass


try:  # POSIX
    import fcntl

    def _lock_fd(fd: int, blocking: bool) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            return True
        except BlockingIOError:
            return False

    def _unlock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # Windows: byte-range lock on the first byte
    import msvcrt

    def _lock_fd(fd: int, blocking: bool) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK if not blocking else msvcrt.LK_LOCK, 1)
                return True
            except OSError:
                if not blocking:
                    return False  # LK_LOCK has already retried for about ten seconds: keep waiting

    def _unlock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


class _FileLock:
    """An OS file lock (released by the kernel if the holder dies) plus a thread lock for this process."""

    def __init__(self, path: Path):
        self.path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: Optional[int] = None

    @contextlib.contextmanager
    def hold(self, *, blocking: bool = True) -> Iterator[None]:
        if not self._thread_lock.acquire(blocking=blocking):
            raise LockBusy(f"{self.path.name} is held by another thread")
        try:
            if self._depth == 0:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                if not _lock_fd(fd, blocking):
                    os.close(fd)
                    raise LockBusy(f"{self.path.name} is held by another process")
                self._fd = fd
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    _unlock_fd(self._fd)
                    os.close(self._fd)
                    self._fd = None
        finally:
            self._thread_lock.release()


_FILE_LOCKS: dict[str, _FileLock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _file_lock(path: Path) -> _FileLock:
    """One _FileLock per lock file per process, so threads of one process queue on the same thread lock."""
    key = str(path.resolve())
    with _FILE_LOCKS_GUARD:
        if key not in _FILE_LOCKS:
            _FILE_LOCKS[key] = _FileLock(Path(key))
        return _FILE_LOCKS[key]


# ---------------------------------------------------------------------------------------------- helpers


DAMAGED = ("SQLITE_NOTADB", "SQLITE_CORRUPT")  # SQLite's words for "not a database" and "damaged"


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


def _check_service(service: str) -> None:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}: expected one of {', '.join(SERVICES)}")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _tags_json(tags: Iterable[TagValue]) -> list[dict]:
    return [{"field_id": t.field_id, "name": t.name, "value": t.value} for t in tags]


def _tags_from(items: list[dict]) -> tuple[TagValue, ...]:
    return tuple(TagValue(i["field_id"], i["name"], i["value"]) for i in items)


def _row_from(connection_id: int, t: PexTransaction, fetched_at: datetime) -> dict:
    return {
        "connection_id": connection_id,
        "transaction_id": t.transaction_id,
        "acct_id": t.acct_id,
        "ledger": t.ledger,
        "transaction_type": t.transaction_type,
        "category": t.category,
        "amount": str(t.amount),  # TEXT: exact, exponent kept ("-1.10" stays "-1.10")
        "transaction_time": t.transaction_time.isoformat(),
        "transaction_date": t.transaction_time.date().isoformat(),
        "settlement_time": t.settlement_time.isoformat() if t.settlement_time else None,
        "settlement_date": t.settlement_time.date().isoformat() if t.settlement_time else None,
        "description": t.description,
        "merchant_name": t.merchant_name,
        "merchant_name_normalized": t.merchant_name_normalized,
        "is_pending": int(t.is_pending),
        "is_decline": int(t.is_decline),
        "approval_status": t.approval_status,
        "auth_transaction_id": t.auth_transaction_id,
        "tags": json.dumps(_tags_json(t.tags)),
        "splits": json.dumps([{"amount": str(s.amount), "tags": _tags_json(s.tags)} for s in t.splits]),
        "cardholder": t.cardholder,
        "notes": json.dumps(list(t.notes)),
        "fetched_at": fetched_at.isoformat(),
        "problem": t.problem,
    }


def _transaction_from(r: dict) -> PexTransaction:
    return PexTransaction(
        transaction_id=r["transaction_id"],
        acct_id=r["acct_id"],
        ledger=r["ledger"],
        transaction_type=r["transaction_type"],
        category=r["category"],
        amount=Decimal(r["amount"]),
        transaction_time=datetime.fromisoformat(r["transaction_time"]),
        settlement_time=datetime.fromisoformat(r["settlement_time"]) if r["settlement_time"] else None,
        description=r["description"],
        merchant_name=r["merchant_name"],
        merchant_name_normalized=r["merchant_name_normalized"],
        is_pending=bool(r["is_pending"]),
        is_decline=bool(r["is_decline"]),
        approval_status=r["approval_status"],
        auth_transaction_id=r["auth_transaction_id"],
        tags=_tags_from(json.loads(r["tags"])),
        splits=tuple(Split(Decimal(s["amount"]), _tags_from(s["tags"])) for s in json.loads(r["splits"])),
        cardholder=r["cardholder"],
        notes=tuple(json.loads(r["notes"])),
        problem=r.get("problem") or "",
    )


def _merged(ranges: Iterable[tuple[date, date]]) -> list[tuple[date, date]]:
    """Union of inclusive date ranges; ranges that touch (end + 1 day = next start) join."""
    out: list[tuple[date, date]] = []
    for start, end in sorted(ranges):
        if out and start.toordinal() <= out[-1][1].toordinal() + 1:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


# ------------------------------------------------------------------------------------------- the schema


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
    from pexxero import runs

    runs.migrate(db)


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
    from pexxero import runs

    runs.migrate_receipts(db)
