"""The day's budget: how many Xero calls a sync needs, how many the organisation has left today, and the sentence
that says both ("needs 1,320 calls; 980 left today: transactions first, receipts finish tomorrow").

Xero allows an organisation 5,000 calls a day (an app on the Starter tier: 1,000), 60 a minute and 5 at once.
What is left today is the smaller of Xero's own count (`X-DayLimit-Remaining` in its last answer, remembered with
its UTC day) and the app's allowance (`PEXXERO_XERO_DAILY_CALLS`) less the calls pexxero made today. A sync
writes every record first and then attaches receipts while the budget lasts, keeping `RESERVE` calls for the next
run's recovery reads; what is left waits for the next run (Paused, with the time the day's count resets).

No streamlit here and no SQL: state goes through the store's meta values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Iterable, Optional

if TYPE_CHECKING:
    from pexxero.models import SyncItem

from pexxero.clients.xero import PAGE_SIZE, WHERE_CHUNK  # records per page of a read; names per contact look-up
from pexxero.clients.xero_writes import BATCH_LIMIT as WRITE_BATCH  # elements per write request
from pexxero.clients.xero_calls import DAILY_CALLS_ENV  # noqa: F401  (what the sentences name)
from pexxero.clients.xero_calls import daily_allowance  # noqa: F401  (the one reading of the setting)

MINUTE_LIMIT = 60  # calls a minute per organisation
RESERVE = 10  # calls kept for the next run's reads of what is in flight, never spent on receipts
ALLOWANCE_HELP = ("Xero allows an organisation 60 calls a minute and 5,000 a day (an app on Xero's Starter tier: "
                  "1,000 a day; set PEXXERO_XERO_DAILY_CALLS). Records are written first; receipts that do not "
                  "fit today are attached by the next sync.")
# a sync's fixed reads, once each (the gateway keeps them for the run, the tag sync shares them): Organisation,
# Accounts, TrackingCategories, the setup's Contacts, BankTransfers; BankTransactions pages are counted apart
PLAN_READS = 5


def utc_day(now: Optional[datetime] = None) -> str:
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc).date().isoformat()


def next_reset(now: Optional[datetime] = None) -> datetime:
    """When the day's count starts again: the next midnight UTC."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return datetime(now.year, now.month, now.day, tzinfo=timezone.utc) + timedelta(days=1)


# ------------------------------------------------------------------------------------------ what is left


def _day_key(conn, tenant: str) -> str:
    return f"xero_day:{conn.connection_id}:{tenant}"


def note_calls(conn) -> dict:
    """Add the calls this connection's gateway made since the last note to today's count, and remember Xero's
    last `X-DayLimit-Remaining`; returns today's state {"day", "used", "remaining"}."""
    tenant = conn.tenant_id() or ""
    xero = conn.xero_gateway_built()
    calls = conn.xero_calls()
    seen = conn.budget_mark
    base = seen[1] if seen is not None and seen[0] is xero and seen[1] <= calls else 0
    conn.budget_mark = (xero, calls)
    remaining = conn.xero_day_remaining()
    key, today = _day_key(conn, tenant), utc_day()
    store = conn.store
    with store.transaction():
        state = store.meta(key) or {}
        if state.get("day") != today or (remaining is not None and state.get("remaining") is not None
                                          and remaining > int(state["remaining"])):
            # a new day, or Xero's count went up (it started again): today's count starts from here
            state = {"day": today, "used": 0, "remaining": None}
        state["used"] = int(state.get("used") or 0) + (calls - base)
        if remaining is not None:
            state["remaining"] = remaining
        store.set_meta(key, state)
    return state


def left_today(conn, allowance: Optional[int] = None) -> int:
    """Calls the organisation has left today: Xero's count from its last answer, within the app's allowance
    less what pexxero used today; the allowance itself before any answer today."""
    allowance = allowance or daily_allowance()
    state = note_calls(conn)
    left = allowance - int(state.get("used") or 0)
    if state.get("remaining") is not None:
        left = min(left, int(state["remaining"]))
    return max(0, left)


class Meter:
    """What is left as a run spends it: `left_today` once, then the gateway's own calls and answers, so deciding
    whether one more receipt fits costs no database work."""

    def __init__(self, conn):
        self.conn = conn
        self.start_left = left_today(conn)
        self.start_calls = conn.xero_calls()

    def left(self) -> int:
        left = self.start_left - (self.conn.xero_calls() - self.start_calls)
        header = self.conn.xero_day_remaining()
        return max(0, min(left, header) if header is not None else left)

    def fits(self, calls: int = 1) -> bool:
        """One more request of `calls` calls leaves the reserve untouched."""
        return self.left() - calls >= RESERVE


# ------------------------------------------------------------------------------------------ what is needed


@dataclass
class Needs:
    """The Xero calls a sync needs, by kind."""

    reads: int = 0
    writes: int = 0
    receipts: int = 0

    @property
    def total(self) -> int:
        return self.reads + self.writes + self.receipts


def needs(records: Iterable[tuple[str, str, str, bool]], *, receipts: Optional[int] = None,
          receipts_left: int = 0, existing: int = 0, with_reads: bool = True) -> Needs:
    """The calls a plan needs. `records`: (action, record type, contact name, wants receipts) of each item to
    write ("create", "update" or "remove"). Receipts: `receipts` when counted, else one per new bank transaction
    that wants receipts, plus `receipts_left` that an earlier run did not reach. `existing`: Xero records the
    plan reads (its pages)."""
    bank = transfers = updates = removals = estimated = 0
    names: set[str] = set()
    for action, record_type, contact, wants in records:
        if action == "remove":
            removals += 1
        elif action == "update":
            updates += 1
            names.add(contact) if contact else None
        elif record_type == "BankTransfer":
            transfers += 1
        else:
            bank += 1
            names.add(contact) if contact else None
            estimated += int(bool(wants))
    batches = lambda n: math.ceil(n / WRITE_BATCH)  # noqa: E731
    writes = batches(bank) + batches(transfers) + updates + batches(removals)
    if names:  # looked up, and (at most) created in batches
        writes += math.ceil(len(names) / WHERE_CHUNK) + batches(len(names))
    reads = (PLAN_READS + max(1, math.ceil(existing / PAGE_SIZE))) if with_reads else 0
    return Needs(reads=reads, writes=writes,
                 receipts=(receipts if receipts is not None else estimated + receipts_left))


def from_plan_items(items: Iterable[dict], releases: dict[int, str], *, attachments: bool) -> list:
    """(action, record type, contact, wants receipts) of what a sync from this saved plan writes: the new rows and
    the released ones."""
    import json

    out = []
    for item in items:
        action = _action(item.get("status"), releases.get(int(item["pex_id"])))
        if action is None:
            continue
        planned = json.loads(item["planned"]) if item.get("planned") else {}
        out.append((action, planned.get("record_type", "BankTransaction"), planned.get("contact_name", ""),
                    attachments and bool(planned.get("wants_attachments"))))
    return out


def _action(status: str, released: Optional[str]) -> Optional[str]:
    from pexxero.models import CHANGED, NEW, POSSIBLE_DUPLICATE, VOIDED

    if status == NEW or (status == POSSIBLE_DUPLICATE and released == "push"):
        return "create"
    if status == CHANGED and released == "update":
        return "update"
    if status == VOIDED and released == "remove":
        return "remove"
    return None


def from_frame(frame, releases: dict[int, str], *, attachments: bool) -> list:
    """The same for a preview's frame (its planned records, without reading them back from JSON)."""
    out = []
    for row in frame[["pex_id", "status", "planned"]].itertuples(index=False):
        if row.pex_id is None or row.pex_id != row.pex_id:  # a Xero-only row
            continue
        action = _action(row.status, releases.get(int(row.pex_id)))
        if action is None:
            continue
        planned = row.planned
        if planned is None and action != "remove":
            continue
        out.append((action, planned.record_type if planned is not None else "BankTransaction",
                    planned.contact_name if planned is not None else "",
                    attachments and planned is not None and bool(planned.wants_attachments)))
    return out


def preview_sentence(conn, preview) -> str:
    """The budget sentence of a preview (the Preview page and `preview`): reads nothing from Xero."""
    setup = conn.saved_setup()
    attachments = bool(setup and setup.purchases.attachments)
    need = needs(from_frame(preview.frame, conn.releases(), attachments=attachments), existing=len(preview.frame),
                 receipts_left=receipts_left_over(conn) if attachments else 0)
    return f"A sync of this preview {sentence(need, left_today(conn))}."


def from_run_items(items: Iterable["SyncItem"], *, attachments: bool) -> list:
    """The same for a run's planned items."""
    import json

    from pexxero import models

    out = []
    for item in items:
        if item.outcome != models.PLANNED:
            continue
        planned = json.loads(item.planned) if item.planned else {}
        out.append((item.action, item.record_type or planned.get("record_type", ""),
                    planned.get("contact_name", ""), attachments and bool(planned.get("wants_attachments"))))
    return out


def receipts_left_over(conn) -> int:
    """Receipts the last run counted but did not reach (a paused run's rest)."""
    value = conn.store.meta(f"receipts_left:{conn.connection_id}:{conn.tenant_id() or ''}")
    return int(value or 0)


def remember_receipts_left(conn, tenant: str, left: int) -> None:
    conn.store.set_meta(f"receipts_left:{conn.connection_id}:{tenant}", int(left) or None)


# ------------------------------------------------------------------------------------------ words


def sentence(need: Needs, left: int) -> str:
    """'needs 240 calls; 4,760 left today', or with what gives way when it does not fit."""
    text = f"needs {need.total:,} call{'s' if need.total != 1 else ''}; {left:,} left today"
    if need.total + RESERVE <= left:
        return text
    if need.reads + need.writes + RESERVE <= left:
        return f"{text}: transactions first, receipts finish tomorrow"
    return f"{text}: not all of it fits today; what is written stays, the next run after the reset carries on"


def plan_sentence(conn, items: Iterable[dict]) -> str:
    """The budget sentence of a saved plan's items (the Preview and Sync pages): reads nothing from Xero."""
    setup = conn.saved_setup()
    attachments = bool(setup and setup.purchases.attachments)
    need = needs(from_plan_items(items, conn.releases(), attachments=attachments),
                 receipts_left=receipts_left_over(conn) if attachments else 0)
    return f"This sync {sentence(need, left_today(conn))}."


def paused_message(attached: int, left: int, reset: datetime) -> str:
    """A run stopped before Xero's daily limit, with receipts still to attach."""
    return (f"every record is written; {attached:,} receipt{'s' if attached != 1 else ''} attached, {left:,} left "
            f"for the next run: today's Xero calls for this organisation are used up (the day's count resets at "
            f"{reset:%Y-%m-%d %H:%M} UTC). Run sync again after that: it attaches the rest, once.")


def receipt_eta(left: int, other_per_minute: int = 0) -> str:
    """Time left for `left` receipts at the rate the limiter allows (60 a minute less what else is used)."""
    rate = max(1, MINUTE_LIMIT - max(0, other_per_minute))
    minutes = math.ceil(left / rate)
    when = "under a minute" if minutes <= 1 else f"about {minutes} min"
    return f"{left:,} receipt{'s' if left != 1 else ''} left, {when} at {rate} a minute"


# ------------------------------------------------------------------------------------------ a run's hooks


def plan_run(runner, items: list[dict]) -> str:
    """After the plan: what it needs against what is left, said in the run's step and kept for `sync` to print;
    the run then spends from `runner.meter`."""
    conn = runner.conn
    setup = conn.saved_setup()
    attachments = bool(setup and setup.purchases.attachments)
    runner.meter = Meter(conn)
    need = needs(from_run_items(items, attachments=attachments), with_reads=False,
                 receipts_left=receipts_left_over(conn) if attachments else 0)
    runner.budget_line = f"This sync {sentence(need, runner.meter.start_left)}."
    conn.store.set_meta(f"run_budget:{conn.connection_id}", {"run_id": runner.run_id, "sentence": runner.budget_line})
    runner.checkpoint(runner.budget_line)
    return runner.budget_line


def run_sentence(conn, run_id: int) -> str:
    """The budget sentence a run said after its plan ("" when it did not get that far)."""
    saved = conn.store.meta(f"run_budget:{conn.connection_id}") or {}
    return saved.get("sentence", "") if saved.get("run_id") == run_id else ""


def note_run_end(conn) -> None:
    """The run's calls counted into today's (a database that takes nothing more loses only this count)."""
    try:
        note_calls(conn)
    except Exception:  # noqa: BLE001 - the run's end matters more than the day's count
        pass


def receipt_stop(runner, sent: int, left: int):
    """The planned pause before the day's limit: the receipts not sent wait for the next run. Returns the Stop to
    raise (nothing is in flight: the next receipt's intent was not committed)."""
    from pexxero import models
    from pexxero.sync.base import Stop

    reset = next_reset()
    remember_receipts_left(runner.conn, runner.tenant, left)
    return Stop(models.PAUSED, paused_message(runner.attached, left, reset), resume_at=reset.isoformat())
