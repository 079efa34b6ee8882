"""Sync History as the vendor guide shows it: Started, Ended, Duration, Status, Fields, Transactions — and each
run's items with their outcome. Shared by `python -m pexxero history` and the History page."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from pexxero import models


def _when(iso: Optional[str]) -> str:
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %I:%M:%S %p")


def duration(started: Optional[str], ended: Optional[str]) -> str:
    """'47 seconds', '2 minutes', as the vendor guide words it."""
    if not started:
        return ""
    end = datetime.fromisoformat(ended) if ended else datetime.now(timezone.utc)
    seconds = max(0, int((end - datetime.fromisoformat(started)).total_seconds()))
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def run_row(run: dict) -> dict:
    return {
        "Run": run["id"],
        "Started": _when(run["started_at"] or run["queued_at"]),
        "Ended": _when(run["ended_at"]),
        "Duration": duration(run["started_at"], run["ended_at"]),
        "Status": run["status"].title(),
        "Fields": f"{run['fields_synced']} / {run['fields_selected']}",
        "Transactions": f"{run['written']} / {run['to_write']}",
        "Receipts": str(run.get("receipts_attached") or 0),
        "Message": run["message"],
        "Mode": mode_words(run),
    }


def mode_words(run: dict) -> str:
    if run["mode"] == models.UNDO:
        return f"Undo of run {run.get('undoes')}" if run.get("undoes") else "Undo"
    return "Retry failed" if run["mode"] == "retry_failed" else "Sync"


def run_rows(conn, limit: int = 200) -> list[dict]:
    return [run_row(r) for r in conn.history(limit)]


OUTCOME_WORDS = {
    models.PLANNED: "not reached",
    models.SENDING: "in flight",
    models.CREATED: "created",
    models.UPDATED: "updated",
    models.REMOVED: "removed from Xero",
    models.KEPT: "kept in Xero",
    models.ITEM_FAILED: "failed",
    models.ITEM_SKIPPED: "skipped",
}


def item_rows(conn, run_id: int) -> Optional[list[dict]]:
    if conn.run(run_id) is None:
        return None
    rows = []
    # what needs a look first: failures, then what the run did not reach, then what it wrote, then the rest
    order = {models.ITEM_FAILED: 0, models.KEPT: 1, models.PLANNED: 2, models.SENDING: 3, models.CREATED: 4,
             models.UPDATED: 5, models.REMOVED: 6}
    for it in sorted(conn.run_items(run_id), key=lambda it: order.get(it["outcome"], 7)):
        why = it["message"] if it["outcome"] == models.ITEM_FAILED else it["reason"]
        if it["outcome"] == models.PLANNED:
            why = why or "the run ended before this item was sent"
        rows.append({
            "PEX id": it["pex_id"], "Date": it["date"], "Kind": it["kind"], "Amount": it["amount"],
            "Merchant": it["label"], "Outcome": OUTCOME_WORDS.get(it["outcome"], it["outcome"]),
            "Xero id": it["xero_id"], "Why": why,
        })
    return rows


RECEIPT_ORDER = {models.RECEIPT_FAILED: 0, models.RECEIPT_WAITING: 1, models.RECEIPT_ATTACHED: 2}


def receipt_rows(conn, run_id: int) -> Optional[list[dict]]:
    """One row per PEX receipt the run dealt with: attached, waiting (for PEX, or for the next sync to check
    what arrived) or failed, with Xero's own words. Failures first."""
    if conn.run(run_id) is None:
        return None
    rows = []
    for r in sorted(conn.run_receipts(run_id), key=lambda r: RECEIPT_ORDER.get(r["outcome"], 3)):
        rows.append({
            "PEX id": r["pex_id"], "Receipt": r["attachment_id"], "File": r["file_name"], "Outcome": r["outcome"],
            "Xero id": r["xero_parent_id"], "Why": r["message"],
        })
    return rows
