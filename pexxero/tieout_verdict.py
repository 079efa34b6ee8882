"""Ready to lock: whether a period may be locked in Xero, and if not, what blocks it and how to clear each.

A period is ready to lock when its tie-out ties to the cent (every day and the closing balances) and nothing in
it is new, failed, waiting for a receipt, pending in PEX or held as a possible duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Optional, Sequence

from pexxero import models
from pexxero import tieout_explain as ex

if TYPE_CHECKING:
    from pexxero.connection import Connection
    from pexxero.tieout import TieOut

ZERO = ex.ZERO

# how to clear what a tie-out's items are caused by (the status blockers below say their own)
CLEAR = {
    ex.CHANGED: "update it from Preview (release: update), or put it right in Xero",
    ex.VOIDED: "release it on Preview (remove): the next sync deletes it in Xero",
    ex.XERO_ONLY: "delete it in Xero if it does not belong on PEX Cash, or add the PEX transaction's reference",
    ex.TWICE: "delete the extra record in Xero",
    ex.DATED: "give Xero's record PEX's date (or update it from Preview)",
    ex.SETTING: "switch the kind on (setup step 2) and sync, or book these in Xero by hand",
    ex.BEFORE_START: "enter the opening balance Xero needs on PEX Cash, or move the start date (setup step 2) back",
    ex.LOCKED: "do what each reason says (a lock date moved by your adviser, a tag value corrected in PEX)",
    ex.SKIPPED: "do what each reason says, then sync",
    ex.PENDING: "wait until PEX settles it (or removes it), then sync",
    ex.UNEXPLAINED: "look at these days in Xero and in PEX: something moves one side that the other does not show",
}
STATUS_CAUSES = (ex.NOT_SYNCED, ex.HELD)  # told by the status blockers, not again by the tie-out's causes


@dataclass(frozen=True)
class Blocker:
    """One thing that stops the period being locked: what, how many, how much of the difference, how to clear."""

    what: str
    count: int
    amount: Optional[Decimal]
    clear: str

    def sentence(self) -> str:
        money = f" ({ex._money(self.amount)})" if self.amount is not None else ""
        return f"{self.what}: {self.count}{money}: {self.clear}"


@dataclass(frozen=True)
class Verdict:
    ready: bool
    through: date  # the last day of the period
    blockers: tuple[Blocker, ...]

    def sentence(self) -> str:
        if self.ready:
            return f"Ready to lock up to {self.through.isoformat()}"
        count = len(self.blockers)
        return (f"Not ready to lock up to {self.through.isoformat()}: {count} "
                f"{'thing blocks' if count == 1 else 'things block'} it")


def status_blockers(rows: Sequence[tuple], failed: dict[int, str], pending: Sequence[int],
                    waiting: Sequence[int]) -> list[Blocker]:
    """`rows`: (pex_id, status, amount) of the period's PEX transactions; `failed`: pex_id -> Xero's message in the
    last sync, for those still not in Xero; `pending`, `waiting`: ids pending in PEX, with a receipt waiting."""
    found = []
    new = [(p, a) for p, s, a in rows if s == models.NEW and p not in failed]
    failing = [(p, a) for p, s, a in rows if s == models.NEW and p in failed]
    held = [(p, a) for p, s, a in rows if s == models.POSSIBLE_DUPLICATE]

    def total(pairs) -> Decimal:
        return sum((a for _, a in pairs if isinstance(a, Decimal)), ZERO)

    if new:
        found.append(Blocker("not yet synced (new)", len(new), total(new),
                             "run sync (SYNC on the Sync page, or python -m pexxero sync)"))
    if failing:
        first = next(iter(failed[p] for p, _ in failing))
        found.append(Blocker("failed in the last sync", len(failing), total(failing),
                             f"put right what Xero said (e.g. {first}), then retry the failed ones (RETRY FAILED, "
                             "or python -m pexxero sync --retry-failed)"))
    if waiting:
        found.append(Blocker("waiting for a receipt", len(waiting), None,
                             "the next sync attaches each receipt once PEX has its file (or once an unanswered "
                             "upload is confirmed)"))
    if pending:
        found.append(Blocker("pending in PEX", len(pending), None,
                             "wait until PEX settles them (usually a day or two), then sync"))
    if held:
        found.append(Blocker("held as a possible duplicate", len(held), total(held),
                             "decide on Preview: push each that is a different transaction; for one Xero already has, "
                             "add the reference PEX-<id> to Xero's record"))
    return found


def cause_blockers(tie: "TieOut") -> list[Blocker]:
    found = []
    items = [*tie.items, *tie.closing_items]
    for cause in ex.CAUSES:
        if cause in STATUS_CAUSES:
            continue
        chosen = [i for i in items if i.cause == cause]
        if chosen:
            found.append(Blocker(f"difference: {cause}", len(chosen), sum((i.amount for i in chosen), ZERO),
                                 CLEAR[cause]))
    if not tie.ties and not found and not any(i.cause in STATUS_CAUSES for i in items):
        found.append(Blocker("the tie-out differs", sum(not d.ties for d in tie.days), tie.closing.difference,
                             CLEAR[ex.UNEXPLAINED]))
    return found


def ready_to_lock(conn: "Connection", tie: "TieOut", results, frame, setup) -> Verdict:
    """The verdict for the tie-out's period, from its items and the state of each PEX transaction in it."""
    start, end = tie.start, tie.end
    count = len(results)
    rows, pending, in_period = [], [], set()
    for result, status, amount in zip(results, frame["status"][:count], frame["amount"][:count]):
        day = result.post_date or result.transaction.transaction_time.date()
        if not start <= day <= end:
            continue
        pex_id = result.transaction.transaction_id
        in_period.add(pex_id)
        rows.append((pex_id, status, amount))
        if result.transaction.is_pending and result.kind is not None:
            pending.append(pex_id)
    failed: dict[int, str] = {}
    last = conn.last_finished_run()
    if last is not None:
        failed = {int(i["pex_id"]): i.get("reason") or "no message" for i in conn.run_items(last["id"])
                  if i.get("outcome") == models.ITEM_FAILED and int(i["pex_id"]) in in_period}
    waiting = []
    if setup.purchases.attachments:
        states = conn.store.receipt_states(conn.connection_id, tenant_id=tie.tenant_id)
        waiting = sorted({pex_id for (pex_id, _), row in states.items()
                          if pex_id in in_period and row.get("status") in (models.NOT_IN_PEX, models.IN_FLIGHT)})
    blockers = status_blockers(rows, failed, pending, waiting) + cause_blockers(tie)
    return Verdict(ready=tie.ties and not blockers, through=end, blockers=tuple(blockers))
