"""The workspace's connections: each a PEX business paired with one Xero organisation, named for the CLI's
`--connection NAME`. Adding, renaming and removing them, and what the overview shows of all of them at once
without a network call (a few grouped queries, whatever the number of connections)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Optional

from pexxero.store.db import RowConflict, Tables

DEFAULT_NAME = "default"
# counted from a saved plan for the overview: what waits for the user (statuses as the preview words them)
WAITING_STATUSES = ("new", "possible duplicate", "changed")


class NameTaken(ValueError):
    pass


class ConnectionTables(Tables):
    def connection_rows(self) -> list[dict]:
        """Every connection: id, name, tenant_id, grant_id, pex_business, created_at; by name."""
        return self._rows("SELECT id, name, tenant_id, grant_id, pex_business, created_at FROM connections "
                          "ORDER BY name")

    def connection_named(self, name: str) -> Optional[int]:
        row = self._one("SELECT id FROM connections WHERE name = ?", (name,))
        return row[0] if row else None

    def connection_name(self, connection_id: int) -> str:
        row = self._one("SELECT name FROM connections WHERE id = ?", (connection_id,))
        return row[0] if row else ""

    def add_connection(self, name: str) -> int:
        """A new, empty connection; NameTaken when another has that name."""
        try:
            with self.transaction() as db:
                return db.execute("INSERT INTO connections (name, created_at) VALUES (?, ?) RETURNING id",
                                  (name, _now())).fetchone()[0]
        except RowConflict:
            raise NameTaken(name) from None

    def rename_connection(self, connection_id: int, name: str) -> None:
        try:
            with self.transaction() as db:
                db.execute("UPDATE connections SET name = ? WHERE id = ?", (name, connection_id))
        except RowConflict:
            raise NameTaken(name) from None

    def copy_setup(self, from_id: int, to_id: int) -> None:
        """The saved setup of one connection as another's starting point (the organisation is not copied)."""
        with self.transaction() as db:
            db.execute("INSERT INTO setup (connection_id, toml, updated_at) "
                       "SELECT ?, toml, ? FROM setup WHERE connection_id = ? ON CONFLICT (connection_id) DO UPDATE "
                       "SET toml = excluded.toml, updated_at = excluded.updated_at", (to_id, _now(), from_id))

    def set_pex_business(self, connection_id: int, name: str) -> None:
        """The PEX business's name, remembered when its token is checked (the overview makes no call)."""
        with self.transaction() as db:
            db.execute("UPDATE connections SET pex_business = ? WHERE id = ?", (name or "", connection_id))

    def remove_connection(self, connection_id: int) -> bool:
        """Delete the connection and every row of it in every table (its runs' items and receipts too, and its
        keys in meta); its grant goes when no other connection uses it. True when the grant was deleted."""
        with self.transaction() as db:
            runs = "SELECT id FROM runs WHERE connection_id = ?"
            for table in self._tables_with(db, "run_id"):
                if table != "runs" and "connection_id" not in self._columns(db, table):
                    db.execute(f"DELETE FROM {table} WHERE run_id IN ({runs})", (connection_id,))
            grant_gone = self.detach_grant(connection_id)  # type: ignore[attr-defined]
            for table in self._tables_with(db, "connection_id"):
                db.execute(f"DELETE FROM {table} WHERE connection_id = ?", (connection_id,))
            db.execute("DELETE FROM meta WHERE key LIKE ? ESCAPE '\\'", (f"%:{connection_id}",))
            db.execute("DELETE FROM connections WHERE id = ?", (connection_id,))
        return grant_gone

    def _columns(self, db, table: str) -> set[str]:
        return set(self.backend.column_names(db, table))

    def _tables_with(self, db, column: str) -> list[str]:
        tables = [t for t in db.table_names() if not t.startswith(("sqlite_", "_pexxero", "procrastinate_"))]
        return [t for t in tables if column in self._columns(db, t)]

    def rows_of(self, connection_id: int) -> dict[str, int]:
        """table -> how many rows belong to the connection (what a removal must leave at 0)."""
        with self._lock:
            db = self.db
            counts = {t: db.execute(f"SELECT count(*) FROM {t} WHERE connection_id = ?", (connection_id,)).fetchone()[0]
                      for t in self._tables_with(db, "connection_id")}
            runs = "SELECT id FROM runs WHERE connection_id = ?"
            for t in self._tables_with(db, "run_id"):
                if t != "runs" and t not in counts:
                    counts[t] = db.execute(f"SELECT count(*) FROM {t} WHERE run_id IN ({runs})",
                                           (connection_id,)).fetchone()[0]
            return counts

    # ----------------------------------------------------------------------------------------- overview

    def remembered_tenant_names(self) -> dict[str, str]:
        """Organisation names every connection has remembered (tenant id -> name), in one read of meta."""
        names: dict[str, str] = {}
        for (value,) in self._pairs("SELECT value FROM meta WHERE key LIKE 'xero\\_tenant\\_names:%' ESCAPE '\\'"):
            names.update({k: v for k, v in (json.loads(value) or {}).items() if v})
        return names

    def note_grant_tenants(self, connection_id: int, tenants) -> None:
        """The organisations the connection's grant sees, as Xero's connections list just said."""
        grant = self.grant_of(connection_id)  # type: ignore[attr-defined]
        if grant is not None:
            self.set_grant_tenants(grant, tenants)  # type: ignore[attr-defined]

    def all_runs(self, limit: int = 200) -> list[dict]:
        """Every connection's runs, newest first, each with its connection's name (`connection`)."""
        return self._rows("SELECT r.*, c.name AS connection FROM runs r JOIN connections c ON c.id = r.connection_id "
                          "ORDER BY r.id DESC LIMIT ?", [limit])

    def overview_rows(self) -> dict[int, dict]:
        """Per connection, what the overview shows, in four queries: has PEX credentials, has a setup, the last
        run (id, status, started_at, ended_at, written, to_write, failed, tenant_id), the saved plan's counts per
        status (only a plan valid for the connection's organisation), when the grant's refresh token was issued."""
        out: dict[int, dict] = {r["id"]: {**r, "pex": False, "setup": False, "last_run": None, "plan": {},
                                          "grant_updated_at": None} for r in self.connection_rows()}
        for cid, service in self._pairs("SELECT connection_id, service FROM credentials"):
            if cid in out and service == "pex":
                out[cid]["pex"] = True
        for (cid,) in self._pairs("SELECT connection_id FROM setup"):
            if cid in out:
                out[cid]["setup"] = True
        for row in self._rows(
                "SELECT r.id, r.connection_id, r.status, r.started_at, r.ended_at, r.written, r.to_write, r.failed, "
                "r.tenant_id FROM runs r JOIN (SELECT connection_id, MAX(id) AS id FROM runs GROUP BY connection_id) "
                "m ON m.id = r.id"):
            if row["connection_id"] in out:
                out[row.pop("connection_id")]["last_run"] = row
        for cid, counts in self._pairs(
                "SELECT p.connection_id, p.counts FROM plans p JOIN connections c ON c.id = p.connection_id "
                "AND c.tenant_id = p.tenant_id WHERE p.invalidated_at IS NULL"):
            if cid in out:
                out[cid]["plan"] = json.loads(counts or "{}")
        for cid, token_at in self._pairs("SELECT c.id, g.token_at FROM connections c JOIN grants g "
                                         "ON g.id = c.grant_id"):
            out[cid]["grant_updated_at"] = token_at or None
        return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()
