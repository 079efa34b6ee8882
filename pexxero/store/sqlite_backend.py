"""What differs between the databases, on SQLite: the store's `Tables` asks its backend (this, or
pg_backend.PG) for a transaction, a batch of one statement, a list-membership test, a table's column names
(`db.table_names()` lists the tables on both) and a second connection.

The other backend is `pg_backend.PG`; both take the SQL in SQLite's spelling with `?` placeholders, written so
it also reads the same on PostgreSQL (`ON CONFLICT ... DO UPDATE/NOTHING`, `RETURNING id`, `"end"` quoted).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from sqlite_utils import Database


class SqliteBackend:
    kind = "sqlite"

    @contextlib.contextmanager
    def transaction(self, db: Database) -> Iterator[Database]:
        """`BEGIN IMMEDIATE ... COMMIT` (the write lock up front, so two processes never deadlock upgrading a
        read), rolled back on any exception; a savepoint when already in one."""
        if db.conn.in_transaction:
            with db.atomic():
                yield db
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if db.conn.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def executemany(self, db: Database, sql: str, rows: Iterable[Sequence]) -> None:
        db.conn.executemany(sql, rows)

    def not_in_json_list(self, column: str) -> str:
        """`column` is not among the ids of a JSON list passed as one parameter."""
        return f"{column} NOT IN (SELECT value FROM json_each(?))"

    def column_names(self, db: Database, table: str) -> list[str]:
        """The table's columns, in order (PRAGMA table_info's names)."""
        return [r[1] for r in db.execute(f'PRAGMA table_info("{table}")').fetchall()]

    def plain(self, target: Path) -> Database:
        from pexxero.store.db import plain_database

        return plain_database(target)


SQLITE = SqliteBackend()
