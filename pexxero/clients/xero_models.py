"""Xero's SDK objects and our records, both ways: `pexxero.models` records into the xero-python models a write
sends, and the SDK's answers into our models. Pure conversions; the calls are in `pexxero.clients.xero`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, Sequence

from xero_python.accounting import models as xm
from xero_python.api_client.deserializer import deserialize

from pexxero.clients.xero_calls import XeroError, validation_messages
from pexxero.models import (
    Line,
    PlannedRecord,
    Tracking,
    XeroAccount,
    XeroBankTransaction,
    XeroBankTransfer,
    XeroContact,
    XeroOrganisation,
    XeroTenant,
    XeroTrackingCategory,
    XeroTrackingOption,
)


EMPTY_ID = "00000000-0000-0000-0000-000000000000"  # Xero's id on an element it did not create


@dataclass
class WriteResult:
    """One element of a batch write, in the order it was sent."""

    reference: str
    ok: bool
    xero_id: str = ""
    messages: tuple[str, ...] = ()


def sdk_model(type_name: str, data: Any, model_finder):
    """Our parsed JSON into SDK models via the SDK's own deserializer (it knows Xero's /Date()/ format)."""
    expected = type_name[5:-1] if type_name.startswith("list[") else type_name
    # an answer without the list asked for must not read as "Xero holds none": the preview would call
    # every record new and a sync would write it again
    if type_name.startswith("list[") and not isinstance(data, list):
        raise XeroError(f"Unexpected answer from Xero: not a list of {expected}")
    if not type_name.startswith("list[") and not (isinstance(data, dict) and isinstance(data.get(type_name), list)):
        raise XeroError(f"Unexpected answer from Xero: no {type_name} list in it")
    try:
        return deserialize(type_name, data, model_finder)
    except (ValueError, TypeError, AttributeError, KeyError) as error:
        raise XeroError(f"Unexpected answer from Xero ({type_name}): {type(error).__name__}") from None


# ------------------------------------------------------------------------------------ answers -> records


def tenant(c) -> XeroTenant:
    return XeroTenant(c.tenant_id, c.tenant_name or "", c.tenant_type or "ORGANISATION")


def organisation(o) -> XeroOrganisation:
    return XeroOrganisation(
        organisation_id=o.organisation_id or "",
        name=o.name or "",
        base_currency=_text(o.base_currency),
        period_lock_date=o.period_lock_date,
        end_of_year_lock_date=o.end_of_year_lock_date,
    )


def account(a) -> XeroAccount:
    return XeroAccount(
        account_id=a.account_id or "", code=a.code or "", name=a.name or "", type=_text(a.type),
        status=a.status or "ACTIVE", currency_code=_text(a.currency_code), tax_type=a.tax_type or "",
    )


def contact(c) -> XeroContact:
    return XeroContact(c.contact_id or "", c.name or "", _text(c.contact_status) or "ACTIVE")


def tracking_category(c) -> XeroTrackingCategory:
    return XeroTrackingCategory(
        category_id=c.tracking_category_id or "", name=c.name or "", status=c.status or "ACTIVE",
        options=tuple(
            XeroTrackingOption(o.tracking_option_id or "", o.name or "", o.status or "ACTIVE")
            for o in (c.options or [])
        ),
    )


def bank_transfer(t, from_account_code: str, to_account_code: str) -> XeroBankTransfer:
    """A transfer; Xero may name its accounts by id alone, so the gateway resolves their codes."""
    return XeroBankTransfer(
        bank_transfer_id=t.bank_transfer_id or "",
        date=t.date,
        amount=_money(t.amount),
        from_account_code=from_account_code,
        to_account_code=to_account_code,
        reference=t.reference or "",
        status=_text(t.status) or "AUTHORISED",
        is_reconciled=bool(t.from_is_reconciled or t.to_is_reconciled),
    )


def sdk_bank_transaction(record: PlannedRecord) -> xm.BankTransaction:
    # SDK quirk: Decimal amounts are serialized as JSON floats; for 2-decimal amounts the float's shortest
    # repr is the exact decimal text, so nothing is lost on the wire
    return xm.BankTransaction(
        type=record.xero_type,
        bank_account=xm.Account(code=record.bank_account_code),
        contact=xm.Contact(name=record.contact_name) if record.contact_name else None,
        date=record.date,
        reference=record.reference or None,
        url=record.url or None,
        line_amount_types=xm.LineAmountTypes(record.line_amount_types),
        line_items=[
            xm.LineItem(
                description=line.description,
                quantity=Decimal(1),
                unit_amount=line.amount,
                account_code=line.account_code,
                tracking=[xm.LineItemTracking(name=t.category, option=t.option) for t in line.tracking] or None,
            )
            for line in record.lines
        ],
    )


def deletion(bank_transaction_id: str) -> xm.BankTransaction:
    """`{"BankTransactionID": …, "Status": "DELETED"}`, the body Xero documents for a deletion. The SDK's model
    insists on Type, BankAccount and LineItems, which a deletion must not resend: they are built, then unset."""
    tx = xm.BankTransaction(bank_transaction_id=bank_transaction_id, status="DELETED", type="SPEND",
                            bank_account=xm.Account(), line_items=[])
    tx._type = tx._bank_account = tx._line_items = tx._has_attachments = None  # the serializer leaves out None
    return tx


def bank_transaction(t) -> XeroBankTransaction:
    return XeroBankTransaction(
        bank_transaction_id=t.bank_transaction_id or "",
        type=t.type or "",
        date=t.date,
        total=_money(t.total),
        bank_account_code=(t.bank_account.code if t.bank_account else "") or "",
        reference=t.reference or "",
        contact_name=(t.contact.name if t.contact else "") or "",
        status=t.status or "",
        is_reconciled=bool(t.is_reconciled),
        line_amount_types=_text(t.line_amount_types) or "NoTax",
        url=t.url or "",
        lines=tuple(
            Line(
                description=li.description or "",
                amount=_money(li.line_amount if li.line_amount is not None
                              else _money(li.unit_amount) * _money(li.quantity or 1)),
                account_code=li.account_code or "",
                tracking=tuple(Tracking(tr.name or "", tr.option or "") for tr in (li.tracking or [])),
            )
            for li in (t.line_items or [])
        ),
        has_attachments=bool(t.has_attachments),
    )


def is_transfer_view(transaction) -> bool:
    """Xero lists each side of a bank transfer as a SPEND-TRANSFER / RECEIVE-TRANSFER bank transaction carrying the
    transfer's Reference. They are views of the transfer, read through `bank_transfers`; counting them here would
    make every synced transfer look like a changed bank transaction."""
    kind = getattr(transaction.type, "value", transaction.type) or ""
    return str(kind).upper().endswith("-TRANSFER")


def sdk_bank_transfer(record: PlannedRecord, accounts_by_code: dict[str, XeroAccount]) -> xm.BankTransfer:
    """Xero takes a transfer's accounts by id: `accounts_by_code` is the organisation's chart of accounts."""
    return xm.BankTransfer(
        from_bank_account=xm.Account(account_id=accounts_by_code[record.from_account_code].account_id),
        to_bank_account=xm.Account(account_id=accounts_by_code[record.to_account_code].account_id),
        amount=record.total,
        date=record.date,
        reference=record.reference or None,
    )


# ------------------------------------------------------------------------------------ write answers


def element_results(references: Sequence[str], elements: Sequence, id_of) -> list[WriteResult]:
    """One result per SDK element of a write answer, in the order sent: Xero's messages, or the element's id."""
    results = []
    for ref, element in zip(references, elements):
        messages = tuple(v.message for v in (getattr(element, "validation_errors", None) or []) if v.message)
        status = getattr(element, "status_attribute_string", None) or ""  # BankTransfer has none
        failed = bool(messages) or status.upper() == "ERROR"
        xero_id = id_of(element) or ""
        if failed:
            results.append(WriteResult(ref, False, messages=messages or ("Xero refused this element",)))
        else:
            results.append(WriteResult(ref, True, xero_id=xero_id if xero_id != EMPTY_ID else ""))
    return results


def deletion_results(targets: Sequence[tuple[str, str]], elements: Sequence,
                     id_field: str = "BankTransactionID") -> list[WriteResult]:
    """The JSON elements of a deletion's answer: deleted, or Xero's messages. `targets`: (reference, id)."""
    results = []
    for (ref, xero_id), element in zip(targets, elements):
        element = element if isinstance(element, dict) else {}
        messages = validation_messages(element)
        status = str(element.get("StatusAttributeString") or "").upper()
        if messages or status == "ERROR" or str(element.get("Status") or "").upper() != "DELETED":
            results.append(WriteResult(ref, False, messages=messages or ("Xero did not delete it",)))
        else:
            results.append(WriteResult(ref, True, xero_id=str(element.get(id_field) or xero_id)))
    return results


# ---------------------------------------------------------------------------------------------- helpers


def _text(value) -> str:
    if value is None:
        return ""
    return value.value if isinstance(value, Enum) else str(value)


def _money(value) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))
