"""Xero grants: one Xero sign-in (one OAuth grant) stored once, with the organisations it sees.

Xero rotates a grant's refresh token on every refresh, so two connections of one grant must share one stored
token set: each connection points at its grant (`connections.grant_id`) and chooses its own tenant. A refresh by
any of them is saved in the grant's row, which is every connection's copy at once (under the grant's lock, see
credentials.py `StoreTokenKeeper.lock`).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Iterable, Optional

from pexxero.secrets import CredentialsUnreadable
from pexxero.store.db import Tables

GRANT_SEAL = "xero_grant"  # what a grant's token set is sealed to (with the grant id), so rows cannot be swapped


class GrantTables(Tables):
    def grant_of(self, connection_id: int) -> Optional[int]:
        """The grant the connection uses for Xero, or None."""
        row = self._one("SELECT grant_id FROM connections WHERE id = ?", (connection_id,))
        return row[0] if row and row[0] is not None else None

    def load_grant(self, grant_id: int) -> Optional[dict]:
        row = self._one("SELECT ciphertext, seal_id, seal_service FROM grants WHERE id = ?", (grant_id,))
        if row is None:
            return None
        try:
            return self._crypt().decrypt(row[1], row[2], row[0])  # type: ignore[attr-defined]
        except CredentialsUnreadable:
            raise CredentialsUnreadable("xero") from None

    def save_grant(self, grant_id: int, value: dict) -> None:
        """Replace the grant's token set: what every connection of the grant uses from now on."""
        ciphertext = self._crypt().encrypt(grant_id, GRANT_SEAL, value)  # type: ignore[attr-defined]
        print_ = _print(value.get("refresh_token"))
        with self.transaction() as db:
            db.execute("UPDATE grants SET ciphertext = ?, seal_id = ?, seal_service = ?, updated_at = ?, "
                       "token_at = CASE WHEN token_print = ? THEN token_at ELSE ? END, token_print = ? WHERE id = ?",
                       (ciphertext, grant_id, GRANT_SEAL, _now(), print_, _now(), print_, grant_id))

    def new_grant(self, connection_id: int, value: dict) -> int:
        """A new Xero sign-in for the connection: a grant of its own (the grant it used before is deleted when no
        other connection uses it; a shared one stays with the others)."""
        with self.transaction() as db:
            grant_id = db.execute(
                "INSERT INTO grants (ciphertext, seal_id, seal_service, created_at, updated_at) VALUES ('', 0, ?, ?, ?) "
                "RETURNING id", (GRANT_SEAL, _now(), _now())).fetchone()[0]
            self._point(db, connection_id, grant_id)
            self.save_grant(grant_id, value)
        return grant_id

    def attach_grant(self, connection_id: int, grant_id: int) -> None:
        """The connection uses an authorisation the workspace already holds."""
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM grants WHERE id = ?", (grant_id,)).fetchone() is None:
                raise ValueError(f"there is no Xero authorisation {grant_id}")
            self._point(db, connection_id, grant_id)

    def detach_grant(self, connection_id: int) -> bool:
        """The connection stops using its grant; True when the grant was deleted (no other connection used it)."""
        with self.transaction() as db:
            return self._point(db, connection_id, None)

    def _point(self, db, connection_id: int, grant_id: Optional[int]) -> bool:
        before = db.execute("SELECT grant_id FROM connections WHERE id = ?", (connection_id,)).fetchone()
        db.execute("UPDATE connections SET grant_id = ? WHERE id = ?", (grant_id, connection_id))
        old = before[0] if before else None
        if old is None or old == grant_id:
            return False
        if db.execute("SELECT 1 FROM connections WHERE grant_id = ?", (old,)).fetchone() is None:
            db.execute("DELETE FROM grants WHERE id = ?", (old,))
            return True
        return False

    def grant_users(self, grant_id: int) -> list[str]:
        """The names of the connections using the grant."""
        return [r[0] for r in self._pairs("SELECT name FROM connections WHERE grant_id = ? ORDER BY name", (grant_id,))]

    def set_grant_tenants(self, grant_id: int, tenants: Iterable[tuple[str, str]]) -> None:
        """The organisations the grant sees (id, name), as Xero's connections list said last."""
        value = json.dumps([[str(t), str(n or "")] for t, n in tenants])
        with self.transaction() as db:
            db.execute("UPDATE grants SET tenants = ? WHERE id = ? AND tenants != ?", (value, grant_id, value))

    def grant_rows(self) -> list[dict]:
        """Every grant: id, tenants [(tenant id, name)], connections (names). Nothing is decrypted."""
        users: dict[int, list[str]] = {}
        for grant_id, name in self._pairs("SELECT grant_id, name FROM connections WHERE grant_id IS NOT NULL "
                                          "ORDER BY name"):
            users.setdefault(grant_id, []).append(name)
        return [{"id": gid, "tenants": [tuple(t) for t in json.loads(tenants or "[]")],
                 "connections": users.get(gid, [])}
                for gid, tenants in self._pairs("SELECT id, tenants FROM grants ORDER BY id")]

    def grants_seeing(self, tenant_id: str) -> list[int]:
        """The grants whose organisations include `tenant_id` (case-insensitive, as Xero's ids are GUIDs)."""
        wanted = tenant_id.lower()
        return [g["id"] for g in self.grant_rows() if any(t.lower() == wanted for t, _ in g["tenants"])]


def _print(refresh_token) -> str:
    """A one-way print of a refresh token (never the token): whether a save brought a new one."""
    import hashlib

    return hashlib.sha256(str(refresh_token or "").encode("utf-8")).hexdigest()[:16] if refresh_token else ""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()
