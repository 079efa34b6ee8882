"""Deleting bank transfers, as Xero's current API does it: `POST /BankTransfers` with `Status: DELETED` per element
(its operation `deleteBankTransfers`). Xero keeps the transfer, with Status DELETED, and lists it only when asked
(`includeDeleted=true`); its two bank transaction lines are deleted with it. A reconciled transfer (either side)
and one dated on or before a lock date are refused, each with its own message."""

from __future__ import annotations

import copy

from pexxero.sandbox.xero_books import Books, Plan
from pexxero.sandbox.xero_wire import parse_date

MSG_TRANSFER_RECONCILED = "This Bank Transfer cannot be deleted as it has been reconciled with a Bank Statement."
MSG_TRANSFER_NOT_FOUND = "The BankTransfer with the specified BankTransferID could not be found."


def plan_transfer_deletion(books: Books, element: dict) -> Plan:
    plan = Plan(element)
    if not isinstance(element, dict):
        plan.errors.append("Each element must be a BankTransfer object.")
        return plan
    existing = books.bank_transfers.get(str(element.get("BankTransferID") or "").lower())
    if existing is None:
        plan.errors.append(MSG_TRANSFER_NOT_FOUND)
        return plan
    if str(element.get("Status") or "").upper() != "DELETED":
        plan.errors.append("Bank transfers cannot be updated; only Status DELETED may be set.")
        return plan
    plan.existing_id = existing["BankTransferID"]
    if existing.get("FromIsReconciled") or existing.get("ToIsReconciled"):
        plan.errors.append(MSG_TRANSFER_RECONCILED)
    plan.errors.extend(books._lock_errors(parse_date(existing["Date"])))
    if not plan.errors:
        plan.record = {**copy.deepcopy(existing), "Status": "DELETED"}
    return plan


def commit_transfer_deletion(books: Books, plan: Plan) -> dict:
    record = plan.record
    books.bank_transfers[record["BankTransferID"]] = record
    stamp = books.stamp()
    for side in ("FromBankTransactionID", "ToBankTransactionID"):
        line = books.bank_transactions.get(str(record.get(side) or "").lower())
        if line is not None:
            line.update(Status="DELETED", UpdatedDateUTC=stamp)
    return copy.deepcopy(record)
