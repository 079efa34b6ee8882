"""The local copy of PEX: its transactions (upserted by TransactionId) and the windows read from PEX.

PEX allows about ten reads of the card ledger an hour, so Preview and Sync read this copy and the connection
refreshes it sparingly (see `Connection.refresh_pex`).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Iterable, Optional

from pexxero.models import PexTransaction, Split, TagValue
from pexxero.store.db import Tables


class PexCopyTables(Tables):
    def save_pex_transactions(
        self,
        connection_id: int,
        transactions: Iterable[PexTransaction],
        *,
        fetched_at: datetime,
        window: tuple[date, date],
        ledger: Optional[str] = None,
        whole: bool = False,
        pex_day: Optional[date] = None,
    ) -> int:
        """Upsert by TransactionId and record the fetched window; returns how many rows were written.

        `whole`: the window is the whole configured range (the daily re-read), read on `pex_day` of PEX's clock.

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
                    f"AND {self.backend.not_in_json_list('transaction_id')}",
                    (connection_id, ledger, start.isoformat(), end.isoformat(), json.dumps(kept)),
                )
            if rows:
                updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in ("connection_id", "transaction_id"))
                self._many(
                    db, f"INSERT INTO pex_transactions ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
                    f"ON CONFLICT (connection_id, transaction_id) DO UPDATE SET {updates}",
                    [tuple(r[c] for c in columns) for r in rows],
                )
            db.execute(
                "INSERT INTO pex_fetches (connection_id, ledger, start_date, end_date, fetched_at, count, whole, "
                "pex_day) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (connection_id, ledger or "", start.isoformat(), end.isoformat(), fetched_at.isoformat(), len(rows),
                 int(whole), pex_day.isoformat() if pex_day else ""),
            )
        return len(rows)

    def pex_transactions(self, connection_id: int, start: date, end: date) -> list[PexTransaction]:
        """Transactions whose transaction date or settlement date (US Eastern) falls in [start, end].

        Both dates, because the setup may post by either: mapping decides which applies and skips the rest.
        """
        rows = self._pairs(
            f"SELECT {', '.join(_COLUMNS)} FROM pex_transactions WHERE connection_id = ? "
            "AND (transaction_date BETWEEN ? AND ? OR settlement_date BETWEEN ? AND ?) "
            "ORDER BY transaction_time, transaction_id",
            (connection_id, start.isoformat(), end.isoformat(), start.isoformat(), end.isoformat()),
        )
        decode = _Decoder()
        return [decode(r) for r in rows]

    def pex_refresh_state(self, connection_id: int) -> Optional[dict]:
        """What the refresh decides by, from the record of PEX reads: None before the first read, else
        {"start", "end": the range read so far (dates), "read_at": the last read, "due_from": the last read that
        still counts against the refresh interval (None once `expire_pex_reads`), "full_day": PEX's day of the
        last whole-range read ("" if none), "full_at": its moment (None if none)} (aware UTC datetimes)."""
        row = self._one(
            "SELECT MIN(start_date), MAX(end_date), MAX(fetched_at), MAX(CASE WHEN stale = 0 THEN fetched_at END) "
            "FROM pex_fetches WHERE connection_id = ?", (connection_id,))
        if row is None or row[0] is None:
            return None
        full = self._one("SELECT pex_day, fetched_at FROM pex_fetches WHERE connection_id = ? AND whole = 1 "
                         "ORDER BY id DESC LIMIT 1", (connection_id,))
        return {
            "start": date.fromisoformat(row[0]), "end": date.fromisoformat(row[1]),
            "read_at": datetime.fromisoformat(row[2]),
            "due_from": datetime.fromisoformat(row[3]) if row[3] else None,
            "full_day": full[0] if full else "", "full_at": datetime.fromisoformat(full[1]) if full else None,
        }

    def expire_pex_reads(self, connection_id: int) -> None:
        """Let the next refresh read PEX again even within the refresh interval."""
        with self.transaction() as db:
            db.execute("UPDATE pex_fetches SET stale = 1 WHERE connection_id = ?", (connection_id,))

    def forget_pex_reads(self, connection_id: int) -> None:
        """Forget when PEX was read (the copy stays): the next refresh reads the whole range, as a first one does."""
        with self.transaction() as db:
            db.execute("DELETE FROM pex_fetches WHERE connection_id = ?", (connection_id,))

    def pex_fetch_state(self, connection_id: int) -> dict:
        """What was fetched from PEX and when, for incremental refresh (the one record of PEX reads; `pex_refresh_state` is what the refresh decides by).

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


_COLUMNS = (
    "transaction_id", "acct_id", "ledger", "transaction_type", "category", "amount", "transaction_time",
    "settlement_time", "description", "merchant_name", "merchant_name_normalized", "is_pending", "is_decline",
    "approval_status", "auth_transaction_id", "tags", "splits", "cardholder", "notes", "problem",
)


class _Decoder:
    """Rows of `_COLUMNS` -> PexTransaction, the inverse of `_row_from`. The JSON columns
    repeat across rows (the same tags, no splits, no notes): each distinct text is decoded once (the values are
    immutable, so rows share them)."""

    def __init__(self):
        self.tags: dict[str, tuple[TagValue, ...]] = {}
        self.splits: dict[str, tuple[Split, ...]] = {}
        self.notes: dict[str, tuple[str, ...]] = {}

    def __call__(self, row: tuple) -> PexTransaction:
        (transaction_id, acct_id, ledger, transaction_type, category, amount, transaction_time, settlement_time,
         description, merchant_name, merchant_name_normalized, is_pending, is_decline, approval_status,
         auth_transaction_id, tags, splits, cardholder, notes, problem) = row
        tag_values = self.tags.get(tags)
        if tag_values is None:
            tag_values = self.tags[tags] = _tags_from(json.loads(tags))
        split_values = self.splits.get(splits)
        if split_values is None:
            split_values = self.splits[splits] = tuple(
                Split(Decimal(s["amount"]), _tags_from(s["tags"])) for s in json.loads(splits))
        note_values = self.notes.get(notes)
        if note_values is None:
            note_values = self.notes[notes] = tuple(json.loads(notes))
        return PexTransaction(
            transaction_id=transaction_id,
            acct_id=acct_id,
            ledger=ledger,
            transaction_type=transaction_type,
            category=category,
            amount=Decimal(amount),
            transaction_time=datetime.fromisoformat(transaction_time),
            settlement_time=datetime.fromisoformat(settlement_time) if settlement_time else None,
            description=description,
            merchant_name=merchant_name,
            merchant_name_normalized=merchant_name_normalized,
            is_pending=bool(is_pending),
            is_decline=bool(is_decline),
            approval_status=approval_status,
            auth_transaction_id=auth_transaction_id,
            tags=tag_values,
            splits=split_values,
            cardholder=cardholder,
            notes=note_values,
            problem=problem or "",
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


