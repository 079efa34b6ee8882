"""What an undo leaves behind: the records it deleted in Xero (`undone`), and how many times each reference was
undone (its generation, which a re-creation's Idempotency-Key includes: Xero replays the first answer to a key it
has seen, which would be the deleted record)."""

from __future__ import annotations

from typing import Iterable, Sequence

from pexxero.models import ITEM_FAILED, REMOVED
from pexxero.store.db import Tables
from pexxero.store.sync_tables import now_iso


class UndoTables(Tables):
    def undone(self, connection_id: int, *, tenant_id: str) -> dict[tuple[str, str], int]:
        """(reference, Xero id) -> the undo run that deleted it, for every record undone in the organisation."""
        return {(ref, xid): run for ref, xid, run in self._pairs(
            "SELECT reference, xero_id, undo_run FROM undone WHERE connection_id = ? AND tenant_id = ?",
            [connection_id, tenant_id])}

    def generations(self, connection_id: int, references: Iterable[str], *, tenant_id: str) -> dict[str, int]:
        """reference -> how many of its records were undone (only references undone at least once)."""
        wanted = sorted(set(references))
        found: dict[str, int] = {}
        for i in range(0, len(wanted), 500):  # SQLite's limit on parameters
            chunk = wanted[i:i + 500]
            found.update(self._pairs(
                f"SELECT reference, COUNT(*) FROM undone WHERE connection_id = ? AND tenant_id = ? "
                f"AND reference IN ({','.join('?' * len(chunk))}) GROUP BY reference",
                [connection_id, tenant_id, *chunk]))
        return found

    def settle_undo(self, key: str, run_id: int, connection_id: int, *, tenant_id: str,
                    undone: Sequence[dict], failed: Sequence[tuple[int, str]]) -> None:
        """Xero's answer to one undo request, in one transaction: each deleted record leaves the ledger (the next
        sync may write it again) for `undone`, its receipts' states go (they were on the deleted record), the undo
        run's item says removed; refused ones fail with Xero's words; the intent is done.
        `undone`: {pex_id, reference, record_type, xero_id, created_run, reason}."""
        with self.transaction() as db:
            for u in undone:
                db.execute("INSERT INTO undone (connection_id, tenant_id, reference, record_type, xero_id, "
                           "created_run, undo_run, undone_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                           [connection_id, tenant_id, u["reference"], u["record_type"], u["xero_id"],
                            u.get("created_run"), run_id, now_iso()])
                db.execute("DELETE FROM ledger WHERE connection_id = ? AND tenant_id = ? AND reference = ? "
                           "AND xero_id = ?", [connection_id, tenant_id, u["reference"], u["xero_id"]])
                db.execute("DELETE FROM attachment_items WHERE connection_id = ? AND tenant_id = ? AND pex_id = ? "
                           "AND xero_parent_id IN (?, '')", [connection_id, tenant_id, u["pex_id"], u["xero_id"]])
                db.execute("UPDATE run_items SET outcome = ?, message = '', reason = ? WHERE run_id = ? AND pex_id = ?",
                           [REMOVED, u["reason"], run_id, u["pex_id"]])
            for pex_id, message in failed:
                db.execute("UPDATE run_items SET outcome = ?, message = ? WHERE run_id = ? AND pex_id = ?",
                           [ITEM_FAILED, message, run_id, pex_id])
            db.execute("UPDATE intents SET status = 'done', finished_at = ? WHERE key = ?", [now_iso(), key])
