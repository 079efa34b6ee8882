"""The store on PostgreSQL (psycopg 3): the same statements as on SQLite, through a connection that speaks
enough of sqlite-utils' `Database` (`execute`, `query`, `table_names`, `close`) for the store's methods.

Transactions
    The connection runs in autocommit, so a read outside a transaction is one statement and no connection sits
    idle in an open transaction between the store's calls. `transaction()` is `BEGIN` plus a transaction-level
    advisory lock that every writer of this database takes: write transactions queue one behind the other as
    SQLite's `BEGIN IMMEDIATE` makes them, so the store's read-then-write steps (the sync lock, upserts) mean
    the same on both databases. Nested, it is a savepoint.

A dropped connection (PostgreSQL restarted, a network cut)
    A read outside a transaction, or a transaction that has not started yet, reconnects once and runs again:
    nothing was in flight. A transaction cut in the middle raises `DatabaseUnreachable` (the store's error, in
    words); it was rolled back by the server, so whatever it was to commit - an intent before a Xero call - was
    not committed, and the caller does not send.

The URL's password is never in a message: errors name the database by `safe_target`.
"""

from __future__ import annotations

import contextlib
import functools
import re
from typing import Iterable, Iterator, Optional, Sequence

import psycopg
from psycopg.rows import dict_row

from pexxero.store.backend import safe_target, scrubbed
from pexxero.store.db import DatabaseUnreachable, RowConflictError

CONNECT_TIMEOUT_SECONDS = 10
LOCK_TIMEOUT = "10s"  # as SQLite's busy timeout: a writer waits this long for another one, then says so

# advisory lock keys (two int4 keys): one namespace for pexxero, then what is locked
LOCK_NAMESPACE = 0x70657878  # "pexx"
WRITER_KEY = 1  # every write transaction of the store (transaction level)
MIGRATE_KEY = 2  # schema changes, store and procrastinate (`db migrate`, and opening a database)
TOKEN_NAMESPACE = LOCK_NAMESPACE + 1  # the Xero token keeper, one key per connection id


def _lost(exc: BaseException) -> bool:
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))


_MAPPED = (psycopg.OperationalError, psycopg.InterfaceError, psycopg.errors.ReadOnlySqlTransaction,
           psycopg.errors.InFailedSqlTransaction)


@functools.lru_cache(maxsize=512)
def to_pg(sql: str) -> str:
    """SQLite's `?` placeholders as psycopg's `%s` (and a literal `%` doubled), outside quoted text."""
    out, quote = [], ""
    for ch in sql:
        if quote:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = ""
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


def _param(p):
    if isinstance(p, bool):  # SQLite keeps Python's booleans as 0 and 1, and the schema's flags are integers
        return int(p)
    if isinstance(p, str) and "\x00" in p:  # PostgreSQL text cannot hold NUL (a bad PEX row may): U+FFFD instead
        return p.replace("\x00", "\ufffd")
    return p


def _params(params: Iterable) -> tuple:
    return tuple(_param(p) for p in params)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0].strip() if text else type(exc).__name__


def connect(url: str, *, lock_timeout: Optional[str] = LOCK_TIMEOUT) -> psycopg.Connection:
    """A new autocommit connection, or DatabaseUnreachable in words."""
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS,
                               application_name="pexxero")
    except psycopg.Error as exc:
        raise DatabaseUnreachable(
            f"the PostgreSQL database {safe_target(url)} cannot be reached ({scrubbed(_first_line(exc), url)})"
        ) from None
    if lock_timeout:
        conn.execute(f"SET lock_timeout = '{lock_timeout}'")
    return conn


class PgDatabase:
    """One PostgreSQL connection of the store, standing where sqlite-utils' `Database` stands on SQLite."""

    def __init__(self, url: str):
        self.url = url
        self._conn = connect(url)
        self._depth = 0  # transaction nesting: 0 outside one
        self._savepoints = 0

    # ---------------------------------------------------------------------------------- connection

    def _words(self, exc: BaseException, during: str) -> DatabaseUnreachable:
        return DatabaseUnreachable(f"the PostgreSQL database {safe_target(self.url)} {during} "
                                   f"({scrubbed(_first_line(exc), self.url)})")

    def _cut(self, exc: BaseException) -> DatabaseUnreachable:
        """A transaction that cannot go on (the server rolls it back)."""
        what = "lost the connection" if _lost(exc) else "refused a statement"
        return self._words(exc, f"{what} in the middle of a transaction, which was not committed")

    def _reconnect(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()
        self._conn = connect(self.url)

    def _ready(self) -> None:
        """Outside a transaction nothing is in flight: a connection known to be broken is replaced."""
        if self._conn.closed or self._conn.broken:
            self._reconnect()

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()

    # ------------------------------------------------------------------------------------ statements

    def _run(self, sql: str, params: Sequence, *, rows=None):
        cursor = self._conn.cursor(row_factory=rows) if rows else self._conn.cursor()
        try:
            cursor.execute(to_pg(sql), _params(params))
        except psycopg.IntegrityError as exc:  # the store's name for it, as sqlite3.IntegrityError is on SQLite
            raise RowConflictError(scrubbed(_first_line(exc), self.url)) from None
        return cursor

    def execute(self, sql: str, params: Iterable = (), *, rows=None):
        """Run one statement; its cursor (rows as tuples, `rowcount`), like sqlite3's."""
        params = tuple(params)
        if self._depth:
            try:
                return self._run(sql, params, rows=rows)
            except _MAPPED as exc:
                raise self._cut(exc) from None
        self._ready()
        try:
            return self._run(sql, params, rows=rows)
        except _MAPPED as exc:
            # only a read is run again: a write outside a transaction may have happened before the cut
            if not (_lost(exc) and (self._conn.broken or self._conn.closed) and _is_read(sql)):
                raise self._words(exc, "refused the statement") from None
        self._reconnect()
        try:
            return self._run(sql, params, rows=rows)
        except _MAPPED as exc:
            raise self._words(exc, "cannot be reached") from None

    def query(self, sql: str, params: Iterable = ()) -> list[dict]:
        """The rows as dicts, like sqlite-utils' `Database.query`."""
        return self.execute(sql, params, rows=dict_row).fetchall()

    def executemany(self, sql: str, rows: Iterable[Sequence]) -> None:
        try:
            self._conn.cursor().executemany(to_pg(sql), [_params(r) for r in rows])
        except _MAPPED as exc:
            raise self._cut(exc) from None

    def table_names(self) -> list[str]:
        return [r[0] for r in self.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE' ORDER BY table_name").fetchall()]

    def columns(self, table: str) -> list[tuple[str, str]]:
        """(name, type) of the table's columns, in order: what the schema test compares with SQLite's."""
        return [(r[0], r[1]) for r in self.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ? ORDER BY ordinal_position", (table,)).fetchall()]

    # ---------------------------------------------------------------------------------- transactions

    @contextlib.contextmanager
    def transaction(self, *, lock: tuple[int, int] = (LOCK_NAMESPACE, WRITER_KEY)) -> Iterator["PgDatabase"]:
        """BEGIN ... COMMIT holding the writers' advisory lock (a savepoint when nested); rolled back on any
        exception."""
        if self._depth:
            yield from self._savepoint()
            return
        self._begin(lock)
        self._depth = 1
        try:
            yield self
        except BaseException:
            self._depth = 0
            if not (self._conn.broken or self._conn.closed):
                with contextlib.suppress(Exception):
                    self._conn.execute("ROLLBACK")
            raise
        self._depth = 0
        try:
            self._conn.execute("COMMIT")
        except _MAPPED as exc:
            raise self._words(exc, "lost the connection while committing; the transaction may not have been "
                                   "committed") from None

    def _begin(self, lock: tuple[int, int]) -> None:
        for attempt in range(2):  # a connection found dead at BEGIN had nothing in flight: once more, fresh
            self._ready()
            try:
                self._conn.execute("BEGIN")
                self._conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", lock)
                return
            except _MAPPED as exc:
                if attempt == 0 and _lost(exc) and (self._conn.broken or self._conn.closed):
                    continue
                with contextlib.suppress(Exception):
                    self._conn.execute("ROLLBACK")
                raise self._words(exc, "cannot start a transaction") from None

    def _savepoint(self) -> Iterator["PgDatabase"]:
        self._savepoints += 1
        name = f"sp_{self._savepoints}"
        self.execute(f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield self
        except BaseException:
            self._depth -= 1
            with contextlib.suppress(Exception):
                self._conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                self._conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        self._depth -= 1
        self.execute(f"RELEASE SAVEPOINT {name}")


class PgBackend:
    """What differs on PostgreSQL, asked by the store's `Tables` (the SQLite one: sqlite_backend.py)."""

    kind = "postgresql"

    def transaction(self, db: PgDatabase):
        return db.transaction()

    def executemany(self, db: PgDatabase, sql: str, rows: Iterable[Sequence]) -> None:
        db.executemany(sql, rows)

    def not_in_json_list(self, column: str) -> str:
        return f"{column} NOT IN (SELECT value::bigint FROM json_array_elements_text(?::json))"

    def column_names(self, db: PgDatabase, table: str) -> list[str]:
        return [name for name, _ in db.columns(table)]

    def plain(self, target: str) -> PgDatabase:
        return PgDatabase(target)


PG = PgBackend()
PgDatabase.backend = PG


_READ = re.compile(r"^\s*(SELECT|WITH|SHOW)\b", re.IGNORECASE)


def _is_read(sql: str) -> bool:
    return bool(_READ.match(sql))
