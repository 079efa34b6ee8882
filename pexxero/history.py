"""Sync History as the vendor guide shows it: Started, Ended, Duration, Status, Fields, Transactions — and each
run's items with their outcome. Shared by `python -m pexxero history` and the History page."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Optional

from pexxero import models


def _when(iso: Optional[str], zone=None) -> str:
    """'2026-06-01 10:42:07 AM EDT': the server's time zone (or `zone`), named, so a time is never ambiguous."""
    if not iso:
        return ""
    local = datetime.fromisoformat(iso).astimezone(zone)
    name = local.strftime("%Z") or local.strftime("UTC%z")
    return f"{local:%Y-%m-%d %I:%M:%S %p} {name}"


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


# What a run did with an item it wrote (or meant to), and, for one it left alone, the Preview status of its row in
# Preview's own words: "synced", "skipped", "blocked"… counted as the Preview page counts them, never one
# "skipped" for everything not written.
WRITTEN_LABELS = (("Created", (models.CREATED,)), ("Updated", (models.UPDATED,)), ("Removed", (models.REMOVED,)),
                  ("Failed", (models.ITEM_FAILED,)), ("Waiting", (models.PLANNED, models.SENDING)))
LEFT_ALONE = (models.SYNCED, models.CHANGED, models.VOIDED, models.POSSIBLE_DUPLICATE, models.SKIPPED,
              models.BLOCKED)
NOT_IN_PREVIEW = "new, not written (preview again)"  # a new row the preview the sync started from did not plan


def left_alone_word(status: str) -> str:
    """The word for an item a run did not write: its row's Preview status (older runs kept none: skipped)."""
    if status == models.NEW:
        return NOT_IN_PREVIEW
    return status if status in LEFT_ALONE else models.SKIPPED


def run_tally(tally: dict[tuple[str, str], int]) -> dict[str, list[tuple[str, int]]]:
    """A run's items counted for the Sync page and `sync`: what it wrote (Created, Updated, Removed, Failed,
    Waiting) and what it left alone, by Preview status (Synced, Changed, Voided, Possible duplicate, Skipped,
    Blocked — plus new rows a later preview must plan, when there are any). Every label is present."""
    by_outcome: dict[str, int] = {}
    left: dict[str, int] = {}
    for (outcome, status), n in tally.items():
        by_outcome[outcome] = by_outcome.get(outcome, 0) + n
        if outcome == models.ITEM_SKIPPED:
            word = left_alone_word(status)
            left[word] = left.get(word, 0) + n
    written = [(label, sum(by_outcome.get(o, 0) for o in outcomes)) for label, outcomes in WRITTEN_LABELS]
    alone = [(status[:1].upper() + status[1:], left.get(status, 0)) for status in LEFT_ALONE]
    if left.get(NOT_IN_PREVIEW):
        alone.append((NOT_IN_PREVIEW[:1].upper() + NOT_IN_PREVIEW[1:], left[NOT_IN_PREVIEW]))
    return {"written": written, "left alone": alone}


def tally_line(tally: dict[tuple[str, str], int]) -> str:
    """The counts in one line, for `sync`'s summary: the same words as the Sync page; zeros left out."""
    counts = run_tally(tally)
    written = " · ".join(f"{label} {n:,}" for label, n in counts["written"] if n) or "nothing written"
    alone = " · ".join(f"{label} {n:,}" for label, n in counts["left alone"] if n)
    return f"{written}; left alone: {alone}" if alone else written


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


def outcome_word(outcome: str, status: str = "") -> str:
    """An item's outcome as the Sync and History pages and `history --run` say it."""
    if outcome == models.ITEM_SKIPPED:
        return left_alone_word(status)
    return OUTCOME_WORDS.get(outcome, outcome)


def _money(amount) -> str:
    """'-13500.00' -> '-13,500.00', as the Preview page shows amounts."""
    try:
        return f"{Decimal(str(amount)):,.2f}"
    except (InvalidOperation, ValueError):
        return str(amount or "")


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
            "PEX id": it["pex_id"], "Date": it["date"], "Kind": it["kind"], "Amount": _money(it["amount"]),
            "Merchant": it["label"], "Outcome": outcome_word(it["outcome"], it.get("status") or ""),
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
