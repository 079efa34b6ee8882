"""Data shaped for the dashboard's pages: status totals, chart frames, filters, run progress and wording.

Presentation-free (no streamlit here): the pages only render what these return, so every number a page shows is
computed, and tested, in one place. Money stays Decimal; the chart frames alone carry floats, because a chart
draws bars, it does not add money up.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Iterable, Optional

import pandas as pd

from pexxero import errors, models, reconcile
from pexxero.models import CHANGED, POSSIBLE_DUPLICATE, PURCHASE, VOIDED

# one colour per preview status, the same on the metrics, the chart and the table
STATUS_COLOURS = {
    "new": "#1f77b4",
    "synced": "#2ca02c",
    "changed": "#ff7f0e",
    "voided": "#e377c2",  # booked in Xero, gone in PEX: it must stand out
    "possible duplicate": "#d62728",
    "skipped": "#7f7f7f",
    "blocked": "#9467bd",
    "xero only": "#8c564b",
}

# run status -> colour of its badge on the Sync and History pages
RUN_COLOURS = {
    models.QUEUED: "gray", models.RUNNING: "blue", models.SUCCEEDED: "green", models.PARTIAL: "orange",
    models.FAILED: "red", models.CANCELLED: "gray", models.INTERRUPTED: "orange", models.PAUSED: "violet",
}

# the only rows a user may release, and what releasing them does (the vocabulary of Connection.release)
RELEASE_ACTIONS = {POSSIBLE_DUPLICATE: "push", CHANGED: "update", VOIDED: "remove"}

TABLE_COLUMNS = ["pex_id", "date", "kind", "amount", "merchant", "cardholder", "status", "reason", "differences",
                 "account", "contact", "tracking", "xero_id", "released"]


def _decimal(value) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


# ------------------------------------------------------------------------------------------ preview


TOTALS_DEFINITION = reconcile.TOTALS_DEFINITION  # said on the Preview page as under the CLI's preview table


def status_totals(frame: pd.DataFrame) -> list[dict]:
    """Count, money out, money in and net per status, every status present (zero when none), in the product's
    status order: `reconcile.summary`, the one definition the CLI and the CSV share."""
    return [{"status": r["status"], "count": int(r["count"]), "money_out": r["money_out"],
             "money_in": r["money_in"], "net": r["net"]}
            for r in reconcile.summary(frame).to_dict("records")]


def money(value) -> str:
    """12345.5 -> '12,345.50', -3 -> '-3.00': exact, to the cent."""
    return f"{_decimal(value):,.2f}"


def totals_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The totals as shown (text, exact): Status, Count, Money out, Money in, Net."""
    return pd.DataFrame(
        [[t["status"], t["count"], money(t["money_out"]), money(t["money_in"]), money(t["net"])]
         for t in status_totals(frame)],
        columns=["Status", "Count", "Money out", "Money in", "Net"],
    )


def amount_by_status(frame: pd.DataFrame) -> pd.DataFrame:
    """status, net (signed, a float for the bar), the three totals as text (the tooltip), colour."""
    rows = [{"status": t["status"], "net": float(t["net"]), "money out": money(t["money_out"]),
             "money in": money(t["money_in"]), "net change": money(t["net"]), "colour": STATUS_COLOURS[t["status"]]}
            for t in status_totals(frame)]
    return pd.DataFrame(rows, columns=["status", "net", "money out", "money in", "net change", "colour"])


_ACCOUNT_PARTS = re.compile(r"(, | → )")


def account_label(code: str, names: dict[str, str]) -> str:
    """'429' -> '429 · General Expenses'; the codes of a split ('429, 453') or a transfer ('090 → 091') each get
    their name; a code Xero does not name stays as it is."""
    if not code or not names:
        return code or ""
    parts = _ACCOUNT_PARTS.split(str(code))
    return "".join(p if i % 2 or p not in names else f"{p} · {names[p]}" for i, p in enumerate(parts))


def account_labels(values: Iterable, names: dict[str, str]) -> list[str]:
    """account_label for a column: each distinct text worked out once."""
    seen: dict = {}
    out = []
    for value in values:
        if value not in seen:
            seen[value] = account_label(value, names)
        out.append(seen[value])
    return out


def spend_by_account(frame: pd.DataFrame, freq: str = "W", names: Optional[dict[str, str]] = None) -> pd.DataFrame:
    """Purchase spend per Xero account per week: columns period (a date), account ("429 · General Expenses"
    when `names` has it), spend (positive)."""
    purchases = frame[(frame["kind"] == PURCHASE) & frame["account"].astype(bool)]
    if purchases.empty:
        return pd.DataFrame(columns=["period", "account", "spend"])
    periods = pd.to_datetime(purchases["date"]).dt.to_period(freq).dt.start_time.dt.date
    spend = [-_decimal(a) for a in purchases["amount"]]
    grouped: dict[tuple[date, str], Decimal] = {}
    for period, account, amount in zip(periods, purchases["account"], spend):
        grouped[(period, account)] = grouped.get((period, account), Decimal("0")) + amount
    rows = [{"period": p, "account": account_label(a, names or {}), "spend": float(s)}
            for (p, a), s in sorted(grouped.items())]
    return pd.DataFrame(rows, columns=["period", "account", "spend"])


def filter_rows(frame: pd.DataFrame, statuses: Optional[Iterable[str]] = None,
                kinds: Optional[Iterable[str]] = None, text: str = "",
                dates: Optional[tuple[date, date]] = None) -> pd.DataFrame:
    """The rows with one of `statuses` and `kinds` (None or empty: all), dated within `dates` (first and last day,
    inclusive; None: all), whose id, merchant, cardholder, reason, differences, account or contact contain `text`
    (case-insensitive)."""
    mask = pd.Series(True, index=frame.index)
    if dates is not None:
        first, last = dates
        mask &= frame["date"].map(lambda d: d is not None and not pd.isna(d) and first <= d <= last).astype(bool)
    statuses, kinds = list(statuses or []), list(kinds or [])
    if statuses:
        mask &= frame["status"].isin(statuses)
    if kinds:
        mask &= frame["kind"].isin(kinds)
    text = text.strip().casefold()
    if text:
        searched = frame["pex_id"].astype(str)
        for column in ("merchant", "cardholder", "reason", "differences", "account", "contact", "xero_id"):
            searched = searched + "\u0001" + frame[column].fillna("").astype(str)
        mask &= searched.str.casefold().str.contains(text, regex=False)
    return frame[mask]


def table(frame: pd.DataFrame, released: dict[int, str], account_names: Optional[dict[str, str]] = None
          ) -> pd.DataFrame:
    """The reconciliation table as shown: display columns only, amounts as text (exact), accounts with their
    names ("429 · General Expenses"), the release state."""
    shown = frame.reindex(columns=[c for c in TABLE_COLUMNS if c != "released"]).copy()
    shown["account"] = account_labels(shown["account"].fillna(""), account_names or {})
    shown["amount"] = [f"{_decimal(a):,.2f}" for a in shown["amount"]]
    shown["date"] = shown["date"].astype(str)
    shown["xero_id"] = shown["xero_id"].fillna("")
    shown["released"] = [
        released.get(int(p), "") if released.get(int(p)) == RELEASE_ACTIONS.get(s) else ""
        for p, s in zip(shown["pex_id"], shown["status"])
    ]
    return shown.reset_index(drop=True)


def releasable(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows a user may release (possible duplicates to push, changed rows to update, voided rows to remove from
    Xero), with their action."""
    rows = frame[frame["status"].isin(list(RELEASE_ACTIONS))]
    return rows.assign(action=rows["status"].map(RELEASE_ACTIONS))


def built_ago(built_at: datetime, now: Optional[datetime] = None) -> str:
    """'built just now', 'built 1 minute ago', 'built 3 hours ago'."""
    now = now or datetime.now(timezone.utc)
    minutes = max(0, int((now - built_at).total_seconds() // 60))
    if minutes < 1:
        return "built just now"
    if minutes < 120:
        return f"built {minutes} minute{'s' if minutes != 1 else ''} ago"
    return f"built {minutes // 60} hours ago"


def pex_copy_text(freshness: dict, now: Optional[datetime] = None) -> str:
    """How fresh the local copy of PEX is, on PEX's clock (US Eastern):
    'PEX copy read 10:42 (whole range: today 02:15), US Eastern time'."""
    from pexxero.clients.pex_rows import EASTERN

    read_at, full_at = freshness.get("read_at"), freshness.get("full_at")
    if read_at is None:
        return "PEX copy not read yet"
    today = (now or datetime.now(timezone.utc)).astimezone(EASTERN).date()

    def moment(when: datetime) -> str:
        local = when.astimezone(EASTERN)
        day = "today" if local.date() == today else local.date().isoformat()
        return f"{day} {local:%H:%M}"

    read = moment(read_at).removeprefix("today ")
    whole = moment(full_at) if full_at is not None else "not read yet"
    return f"PEX copy read {read} (whole range: {whole}), US Eastern time"


# -------------------------------------------------------------------------------------------- sync


# a finished run whose message the Sync page shows in an alert (error or warning): the bar's text does not repeat it
ALERT_STATUSES = (models.FAILED, models.PARTIAL, models.PAUSED, models.INTERRUPTED, models.CANCELLED)


def run_progress(run: dict, counts: dict[str, int]) -> dict:
    """Where a run stands: fraction done (0..1), a sentence, and the counts by outcome.

    Progress counts records and receipts: a run's receipts are sent after its records, so the bar does not
    stand at 100% while they are. Before the plan is written (`to_write` still 0 while running) the fraction
    is 0 and the sentence is the step; while the run is active it never shows 100%.
    """
    to_write = int(run.get("to_write") or 0)
    done = int(counts.get(models.CREATED, 0)) + int(counts.get(models.UPDATED, 0)) + int(counts.get(models.ITEM_FAILED, 0)) \
        + int(counts.get(models.REMOVED, 0))
    receipts_total = int(run.get("receipts_to_send") or 0)
    attached, not_attached = int(run.get("receipts_attached") or 0), int(run.get("receipts_failed") or 0)
    receipts_done = min(receipts_total, attached + not_attached)
    active = run["status"] in (models.QUEUED, models.RUNNING)
    total = to_write + receipts_total
    if total:
        fraction = min(1.0, (min(done, to_write) + receipts_done) / total)
    else:
        fraction = 0.0 if active else 1.0
    if active:
        fraction = min(fraction, 0.99)  # records written, receipts still to read or send: not done yet
    if run["status"] == models.QUEUED:
        text = "Waiting for the sync to start"
    elif active:
        text = run.get("step") or "Starting"
        if receipts_total:
            text = f"{text} — {done} of {to_write} records, {receipts_done} of {receipts_total} receipts done"
        elif to_write:
            text = f"{text} — {done} of {to_write} done"
    else:
        # the status is on the badge beside the bar, and the message of a run that did not succeed in an alert
        # under it: the bar says only how far the run got, so neither is said twice
        text = f"{min(done, to_write)} of {to_write} records done" if to_write else "Nothing to write"
        if receipts_total:
            text += f", {receipts_done} of {receipts_total} receipts"
        if run["status"] not in ALERT_STATUSES and run.get("message"):
            text = f"{run['status'].title()}: {run['message']}"  # no alert carries it: said here, once
    # the receipt phase (records written, receipts being sent) has its own bar and an estimate of the time left
    receipt_phase = active and receipts_total > 0 and str(run.get("step") or "").startswith("attaching receipts")
    receipt_text = ""
    if receipt_phase:
        from pexxero.sync.budget import receipt_eta

        receipt_text = (f"Receipts: {receipts_done:,} of {receipts_total:,} done; "
                        f"{receipt_eta(receipts_total - receipts_done)}")
    message = str(run.get("message") or "") if run["status"] in ALERT_STATUSES and not active else ""
    return {
        "alert": message[:1].upper() + message[1:],
        "receipt_phase": receipt_phase, "receipt_text": receipt_text,
        "receipt_fraction": (receipts_done / receipts_total) if receipts_total else 0.0,
        "fraction": fraction, "text": text, "active": active, "done": done, "to_write": to_write,
        "created": int(counts.get(models.CREATED, 0)), "updated": int(counts.get(models.UPDATED, 0)),
        "failed": int(counts.get(models.ITEM_FAILED, 0)), "skipped": int(counts.get(models.ITEM_SKIPPED, 0)),
        "waiting": int(counts.get(models.PLANNED, 0)) + int(counts.get(models.SENDING, 0)),
        "receipts_attached": attached, "receipts_not_attached": not_attached, "receipts_to_send": receipts_total,
    }


def plan_words(items: list[dict], released: dict[int, str]) -> str:
    """What a sync of the saved plan will do, in Preview's words and counts: '85 new to write; 1 changed,
    2 possible duplicates written only if released (1 released)'."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    new = counts.get(models.NEW, 0)
    said = f"{new:,} new to write"
    held = [(status, counts.get(status, 0)) for status in (CHANGED, POSSIBLE_DUPLICATE, VOIDED)]
    held = [(status, n) for status, n in held if n]
    if held:
        names = ", ".join(f"{n:,} {status}{'s' if n != 1 and status == POSSIBLE_DUPLICATE else ''}"
                          for status, n in held)
        out = sum(1 for item in items if released.get(int(item["pex_id"])) == RELEASE_ACTIONS.get(item["status"]))
        said += f"; {names} written only if released ({out:,} released)"
    return said


def can_retry_failed(run: Optional[dict], counts: dict[str, int]) -> bool:
    """RETRY FAILED makes sense after a finished run that left failed or unsent items."""
    if run is None or run["status"] in (models.QUEUED, models.RUNNING):
        return False
    return bool(counts.get(models.ITEM_FAILED, 0) or counts.get(models.PLANNED, 0) or counts.get(models.SENDING, 0))


# ----------------------------------------------------------------------------------------- history


def runs_over_time(run_list: list[dict]) -> pd.DataFrame:
    """One row per started run: started (datetime, UTC), status, written, failed — for a chart of runs."""
    rows = []
    for run in run_list:
        when = run.get("started_at") or run.get("queued_at")
        if not when:
            continue
        rows.append({"started": datetime.fromisoformat(when), "run": run["id"], "status": run["status"],
                     "written": int(run.get("written") or 0), "failed": int(run.get("failed") or 0)})
    frame = pd.DataFrame(rows, columns=["started", "run", "status", "written", "failed"])
    return frame.sort_values("started").reset_index(drop=True)


# ------------------------------------------------------------------------------------------ errors


def organisation_line(conn) -> str:
    """The line at the top of every page: the Xero organisation the page reads and a sync writes into."""
    try:
        tenant_id = conn.tenant_id()
        if not tenant_id:
            return "Xero organisation: none chosen yet (pick one on the Connect page)"
        return f"Xero organisation: {conn.tenant_name(tenant_id) or tenant_id}"
    except Exception:  # noqa: BLE001 - credentials that cannot be read: the page itself says why
        return "Xero organisation: unknown (the stored Xero connection cannot be read)"


def pex_business_line(pex_business: str) -> str:
    """The header's line above the organisation's: the PEX business the page reads, by name."""
    return f"PEX business: {pex_business or 'not read from PEX yet'}"


def full_stop(name: str) -> str:
    """The full stop after a sentence ending in `name`: none when the name ends with one ("… Outdoor Co.")."""
    return "" if str(name).rstrip().endswith((".", "!", "?")) else "."


def explain(exc: BaseException) -> str:
    """An engine error in words a bookkeeper understands, saying what to do next on the dashboard."""
    return errors.explain(exc, errors.PAGE)
