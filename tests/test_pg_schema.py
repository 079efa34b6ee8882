"""The PostgreSQL schema cannot drift from SQLite's: after every migration of each list, both databases hold the
same tables with the same columns (names, order-free, and types), and every SQLite migration after the ones
`_0007_base` stands for has a PostgreSQL twin of the same name, in the same order.

When this fails after a SQLite migration was added to pexxero/store/schema.py: append its twin (same function
name, PostgreSQL's SQL) to PG_MIGRATIONS in pexxero/store/pg_schema.py."""

from __future__ import annotations

import pytest

from pexxero.store import Store
from pexxero.store import db as sqlite_db
from pexxero.store.pg_schema import BASE_COVERS, PG_MIGRATIONS

pytestmark = pytest.mark.postgresql

TYPES = {"INTEGER": "bigint", "TEXT": "text", "REAL": "double precision"}  # SQLite declared type -> PostgreSQL's
BOOKKEEPING = {"_sqlite_migrations", "_pexxero_migrations"}  # each database's record of applied migrations


def _sqlite_schema(path) -> dict[str, dict[str, str]]:
    with Store.open(path) as store:
        return {table: {row[1]: TYPES.get(row[2].upper(), row[2]) for row in
                        store.db.execute(f'PRAGMA table_info("{table}")').fetchall()}
                for table in store.db.table_names() if table not in BOOKKEEPING}


def _pg_schema(url) -> dict[str, dict[str, str]]:
    with Store.open(url) as store:
        return {table: dict(store.db.columns(table)) for table in store.db.table_names() if table not in BOOKKEEPING}


def test_every_sqlite_migration_after_the_base_has_a_postgresql_twin_in_order():
    later = [fn.__name__ for fn in sqlite_db.MIGRATIONS[BASE_COVERS:]]
    twins = [name for name, _ in PG_MIGRATIONS[1:]]
    missing = [name for name in later if name not in twins]
    assert not missing, (f"SQLite migrations without a PostgreSQL twin in pexxero/store/pg_schema.py "
                         f"PG_MIGRATIONS: {missing}")
    assert twins == later, "PG_MIGRATIONS must follow schema.py's migrations in the same order, one for one"


def test_both_databases_end_with_the_same_tables_and_columns(tmp_path, pg_url):
    sqlite, pg = _sqlite_schema(tmp_path / "pexxero.db"), _pg_schema(pg_url)
    assert sorted(pg) == sorted(sqlite), "the two schemas hold different tables"
    differ = {table: {"sqlite": sqlite[table], "postgresql": pg[table]}
              for table in sqlite if sqlite[table] != pg[table]}
    assert differ == {}
