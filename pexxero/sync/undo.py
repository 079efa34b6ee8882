"""Undo of a sync run: what run N created that is still in Xero, what of it cannot be removed and why (the plan,
which writes nothing), and the removal itself, by the same path as every write (intent first, an interrupted
request looked up before it is sent again).

Kept, each with its reason: a record reconciled in Xero, one dated on or before Xero's lock date (Xero refuses to
delete either), and one edited in Xero since pexxero wrote it (someone worked on it: removing it would lose that).
A removed record leaves the ledger for `undone`, so Preview shows its PEX transaction as `new` again and the next
sync writes it once more, under an Idempotency-Key of its new generation (writer.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Optional

from pexxero import models
from pexxero.models import PlannedRecord, XeroBankTransfer, planned_from_json
from pexxero.sync.base import RunState, WholeRequestRefused, _chunks, idempotency_key

REMOVE, KEEP, GONE = "remove", "keep", "gone"  # what the undo does with one record
RECONCILED = "reconciled in Xero, which refuses to delete it: un-reconcile it in Xero first, or remove it by hand"
REMOVED_REASON = "removed from Xero (Status DELETED) by this undo; the next sync writes it again"
DELETED_ALREADY = "already deleted in Xero (Status DELETED); the next sync writes it again"


@dataclass(frozen=True)
class UndoItem:
    """One record run N created, and what an undo does with it (`action`) and why."""

    pex_id: int
    reference: str
    record_type: str  # "BankTransaction" | "BankTransfer"
    xero_id: str
    action: str  # REMOVE | KEEP | GONE
    reason: str
    kind: str = ""
    date: str = ""
    amount: str = ""
    label: str = ""
    created_run: Optional[int] = None
    undone_by: Optional[int] = None  # the undo run that removed it already

    def target(self) -> dict:
        return {"pex_id": self.pex_id, "reference": self.reference, "record_type": self.record_type,
                "xero_id": self.xero_id, "created_run": self.created_run}

    def sync_item(self) -> models.SyncItem:
        outcome = models.PLANNED if self.action == REMOVE else models.KEPT if self.action == KEEP \
            else models.ITEM_SKIPPED
        return models.SyncItem(pex_id=self.pex_id, kind=self.kind, reference=self.reference,
                               record_type=self.record_type, date=self.date, amount=self.amount, label=self.label,
                               outcome=outcome, reason="" if self.action == REMOVE else self.reason,
                               xero_id=self.xero_id, action="remove")


@dataclass(frozen=True)
class UndoPlan:
    """What undoing run `run_id` would do in the organisation `tenant_id`; `refusal` says why it cannot at all."""

    run_id: int
    tenant_id: str = ""
    items: tuple[UndoItem, ...] = ()
    refusal: str = ""

    def _with(self, action: str) -> list[UndoItem]:
        return [it for it in self.items if it.action == action]

    @property
    def removable(self) -> list[UndoItem]:
        return self._with(REMOVE)

    @property
    def kept(self) -> list[UndoItem]:
        return self._with(KEEP)

    @property
    def gone(self) -> list[UndoItem]:
        return self._with(GONE)

    def summary(self) -> str:
        if self.refusal:
            return self.refusal
        still = len(self.removable) + len(self.kept)
        if not still:
            return f"Nothing of run {self.run_id} is left in Xero to remove."
        kept = f"; {len(self.kept)} cannot be removed and stay (each with the reason)" if self.kept else ""
        return (f"Run {self.run_id} created {still} record{'s' if still != 1 else ''} still in Xero: "
                f"{len(self.removable)} can be removed{kept}.")


def plan_undo(conn, run_id: int) -> UndoPlan:
    """What undoing run `run_id` would remove from Xero and what it must keep, read from Xero now; writes nothing."""
    store = conn.store
    tenant = conn.tenant_id()
    run = store.get_run(run_id)
    if run is None or run["connection_id"] != conn.connection_id:
        return UndoPlan(run_id, tenant, refusal=f"There is no run {run_id}.")
    if run["mode"] == models.UNDO:
        return UndoPlan(run_id, tenant, refusal=f"Run {run_id} is an undo itself: what it removed is written again "
                                                "by the next sync.")
    if run["status"] in (models.QUEUED, models.RUNNING):
        return UndoPlan(run_id, tenant, refusal=f"Run {run_id} has not finished yet: undo it when it has.")
    if (run.get("tenant_id") or "") != tenant:
        theirs = conn.organisation_label(run.get("tenant_id") or "", lookup=False) or "another organisation"
        return UndoPlan(run_id, tenant, refusal=f"Run {run_id} wrote into {theirs}, not the Xero organisation "
                                                "chosen now: connect that one to undo it.")
    created = [it for it in store.items(run_id) if it["outcome"] == models.CREATED and it["action"] == "create"
               and it["xero_id"]]
    undone = store.undone(conn.connection_id, tenant_id=tenant)
    xero = conn.xero()
    bank_ids = [it["xero_id"] for it in created if it["record_type"] != "BankTransfer"
                and (it["reference"], it["xero_id"]) not in undone]
    transfer_ids = [it["xero_id"] for it in created if it["record_type"] == "BankTransfer"
                    and (it["reference"], it["xero_id"]) not in undone]
    live: dict[str, object] = {}
    if bank_ids:
        live.update((r.bank_transaction_id.lower(), r) for r in xero.bank_transactions_by_id(bank_ids))
    if transfer_ids:
        live.update((r.bank_transfer_id.lower(), r) for r in xero.bank_transfers_by_id(transfer_ids))
    lock = _lock_date(xero)
    items = []
    for it in created:
        common = dict(pex_id=it["pex_id"], reference=it["reference"], record_type=it["record_type"],
                      xero_id=it["xero_id"], kind=it["kind"], date=it["date"] or "", amount=it["amount"] or "",
                      label=it["label"], created_run=run_id)
        by = undone.get((it["reference"], it["xero_id"]))
        if by is not None:
            items.append(UndoItem(action=GONE, reason=f"already removed from Xero by undo run {by}", undone_by=by,
                                  **common))
            continue
        action, reason = _decide(live.get(it["xero_id"].lower()), it["planned"], lock)
        items.append(UndoItem(action=action, reason=reason, **common))
    return UndoPlan(run_id, tenant, tuple(items))


def _lock_date(xero) -> Optional[date]:
    org = xero.organisation()
    locks = [d for d in (org.period_lock_date, org.end_of_year_lock_date) if d]
    return max(locks) if locks else None


def _decide(record, planned: Optional[str], lock: Optional[date]) -> tuple[str, str]:
    if record is None or _text(record.status).upper() in ("DELETED", "VOIDED"):
        return GONE, DELETED_ALREADY
    if record.is_reconciled:
        return KEEP, RECONCILED
    if lock is not None and record.date <= lock:
        return KEEP, (f"dated {record.date.isoformat()}, on or before Xero's lock date {lock.isoformat()}, so Xero "
                      "refuses to delete it: ask your adviser to move the lock date, or remove it by hand")
    edits = edited(planned_from_json(planned), record) if planned else ""
    if edits:
        return KEEP, (f"edited in Xero since pexxero wrote it ({edits}): removing it would lose that work; remove it "
                      "by hand in Xero if it should go")
    return REMOVE, "created by this run and unchanged in Xero since"


def edited(planned: PlannedRecord, record) -> str:
    """What differs between the record as pexxero wrote it and as Xero holds it now ("" when nothing does)."""
    ours: dict[str, object] = {"amount": _money(planned.total), "date": planned.date.isoformat(),
                               "reference": planned.reference}
    if isinstance(record, XeroBankTransfer):
        theirs: dict[str, object] = {"amount": _money(record.amount), "date": record.date.isoformat(),
                                     "reference": record.reference}
        ours["accounts"] = f"{planned.from_account_code} → {planned.to_account_code}"
        theirs["accounts"] = f"{record.from_account_code} → {record.to_account_code}"
    else:
        theirs = {"amount": _money(record.total), "date": record.date.isoformat(), "reference": record.reference}
        ours.update(type=planned.xero_type, **{"bank account": planned.bank_account_code},
                    contact=planned.contact_name.strip(), lines=_lines(planned.lines))
        theirs.update(type=_text(record.type).upper(), **{"bank account": record.bank_account_code},
                      contact=record.contact_name.strip(), lines=_lines(record.lines))
    parts = []
    for name, value in ours.items():
        other = theirs[name]
        if not _same(name, value, other):
            parts.append(f"{name}: Xero {other or '(none)'}, written {value or '(none)'}")
    return "; ".join(parts)


def _lines(lines) -> str:
    """The lines as comparable text: account, amount, tracking and description of each, in a stable order (case
    aside: Xero may hold an option or a description in its own case)."""
    shown = sorted(
        f"{line.account_code} {_money(line.amount)}"
        + "".join(f" [{t.category}: {t.option}]" for t in sorted(line.tracking, key=lambda t: t.category.casefold()))
        + (f" {line.description.strip()!r}" if line.description.strip() else "")
        for line in lines)
    return "; ".join(shown)


def _same(name: str, ours, theirs) -> bool:
    if name in ("contact", "lines"):
        return str(ours).casefold() == str(theirs).casefold()
    return ours == theirs


def _money(value) -> str:
    return f"{Decimal(str(value)):.2f}"


def _text(value) -> str:
    return str(getattr(value, "value", value) or "")


class Undoing(RunState):
    """Removes in Xero what an undo plan says may go, and settles removals a dead undo left in flight."""

    def undo(self, plan: UndoPlan) -> None:
        """Delete the plan's removable records, ≤50 a request per record type; a record already deleted in Xero
        leaves the ledger without a request. Like every write, each request's intent is committed first."""
        gone = [it for it in plan.gone if it.undone_by is None]
        if gone:
            self.store.settle_undo("", self.run_id, self.cid, tenant_id=self.tenant, failed=[],
                                   undone=[{**it.target(), "reason": DELETED_ALREADY} for it in gone])
        todo = plan.removable
        for record_type in ("BankTransaction", "BankTransfer"):
            for chunk in _chunks([it for it in todo if it.record_type == record_type], self.batch_size):
                self.checkpoint(f"removing from Xero: {self.removed} of {len(todo)}")
                self._send_undo([it.target() for it in chunk])
        self.checkpoint(f"removed {self.removed} of {len(todo)} from Xero")

    def _send_undo(self, targets: list[dict], *, key: Optional[str] = None, body: Optional[str] = None,
                   run_id: Optional[int] = None) -> None:
        from pexxero.clients.xero import WriteResult

        run_id = run_id or self.run_id
        body = body or json.dumps(targets, sort_keys=True)
        # the undo run is part of the key: a later undo that asks again (after Xero refused, say) must not be
        # answered with the replay of this one's answer
        key = key or idempotency_key(self.tenant, "undo", f"{run_id}|{body}")
        self.store.record_intent(key, self.cid, run_id, "undo", body, [t["reference"] for t in targets],
                                 tenant_id=self.tenant)
        self.store.mark_sending(key, run_id, [t["pex_id"] for t in targets])
        xero = self.conn.xero()
        delete = xero.delete_bank_transfers if targets[0]["record_type"] == "BankTransfer" \
            else xero.delete_bank_transactions
        try:
            results = self._xero_call(delete, [(t["reference"], t["xero_id"]) for t in targets], key, refusable=True)
        except WholeRequestRefused as refused:
            results = [WriteResult(t["reference"], False, messages=(refused.message,)) for t in targets]
        self._settle_undo(key, run_id, targets, {r.reference: (r.ok, tuple(r.messages)) for r in results})

    def _settle_undo(self, key: str, run_id: int, targets: list[dict], outcome: dict[str, tuple[bool, tuple]]) -> None:
        removed, failed = [], []
        for t in targets:
            ok, messages = outcome.get(t["reference"], (False, ("Xero gave no answer for it",)))
            if ok:
                removed.append({**t, "reason": REMOVED_REASON})
            else:
                failed.append((t["pex_id"], "Xero refused to delete it: " + "; ".join(messages)))
        self.store.settle_undo(key, run_id, self.cid, tenant_id=self.tenant, undone=removed, failed=failed)
        if run_id == self.run_id:
            self.removed += len(removed)
            self.failed += len(failed)
        else:
            self.recovered += len(removed)

    def _recover_undo(self, intent: dict) -> None:
        """An undo request left in flight: what Xero shows deleted arrived; if none did, the same request is resent
        with its key (Xero replays its answer if it had arrived); the rest are asked for again."""
        targets = json.loads(intent["body"])
        xero = self.conn.xero()
        ids = [t["xero_id"] for t in targets]
        lookup = xero.bank_transfers_by_id if targets[0]["record_type"] == "BankTransfer" \
            else xero.bank_transactions_by_id
        found = {getattr(r, "bank_transfer_id", None) or r.bank_transaction_id: r
                 for r in self._xero_call(lookup, ids)}
        found = {k.lower(): v for k, v in found.items()}
        done = [t for t in targets if t["xero_id"].lower() not in found
                or _text(found[t["xero_id"].lower()].status).upper() in ("DELETED", "VOIDED")]
        if not done:
            self._send_undo(targets, key=intent["key"], body=intent["body"], run_id=intent["run_id"])
            return
        self._settle_undo(intent["key"], intent["run_id"], done, {t["reference"]: (True, ()) for t in done})
        rest = [t for t in targets if t not in done]
        if rest:
            self._send_undo(rest, run_id=intent["run_id"])
