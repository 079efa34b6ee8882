"""The workspace's connection rows: list, add, rename and remove connections, and when a credential last changed.

A minimal version of what the workspace needs of the store (one database, several connections, each row of every
other table keyed by its connection id); a fuller one, with grants in a table of their own, replaces it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from pexxero.store.db import Tables


class ConnectionRows(Tables):
    def connection_rows(self) -> list[dict]:
        """Every connection, oldest first: id, name, tenant_id, created_at."""
        return self._rows("SELECT id, name, tenant_id, created_at FROM connections ORDER BY id")

    def add_connection(self, name: str) -> int:
        with self.transaction() as db:
            return db.execute("INSERT INTO connections (name, created_at) VALUES (?, ?)",
                              (name, datetime.now(timezone.utc).isoformat())).lastrowid

    def rename_connection(self, connection_id: int, name: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE connections SET name = ? WHERE id = ?", (name, connection_id))

    def remove_connection(self, connection_id: int) -> None:
        """The row and what hangs on it by a foreign key (credentials, setup, the local PEX copy)."""
        with self.transaction() as db:
            db.execute("DELETE FROM credentials WHERE connection_id = ?", (connection_id,))
            db.execute("DELETE FROM setup WHERE connection_id = ?", (connection_id,))
            db.execute("DELETE FROM connections WHERE id = ?", (connection_id,))

    def credentials_updated_at(self, connection_id: int, service: str) -> Optional[datetime]:
        """When the connection's credentials for `service` were last saved (a Xero refresh saves them), unread."""
        row = self._one("SELECT updated_at FROM credentials WHERE connection_id = ? AND service = ?",
                        (connection_id, service))
        return datetime.fromisoformat(row[0]) if row and row[0] else None
