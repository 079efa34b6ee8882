"""The shapes every module speaks: PEX data, Xero data and the plan between them.

Parsed once at the edge (the PEX client, the Xero gateway) and immutable after that. Money is always
`Decimal`, never a binary float; PEX times are naive US Eastern wall-clock datetimes, as PEX sends them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Optional

# ---------------------------------------------------------------------------------------------- PEX


@dataclass(frozen=True)
class TagValue:
    """One tag value on a PEX transaction: `value` is raw (a dropdown holds the option's Value)."""

    field_id: str
    name: str
    value: str


@dataclass(frozen=True)
class Split:
    """One allocation split: an unsigned amount and the tags that apply to that part."""

    amount: Decimal
    tags: tuple[TagValue, ...] = ()


@dataclass(frozen=True)
class PexTransaction:
    transaction_id: int
    acct_id: int
    ledger: str  # "cardholder" (AllCardholderTransactions) or "business" (TransactionDetails)
    transaction_type: str  # "Network" | "Transfer" | "Load" (as PEX spells it, compared case-insensitively)
    category: str  # TransactionTypeCategory, e.g. "BusinessFunding", "CardAccountFee", "Dispute"
    amount: Decimal  # signed from the card's side: purchases and fees negative
    transaction_time: datetime  # naive US Eastern
    settlement_time: Optional[datetime] = None  # naive US Eastern; None while pending or declined
    description: str = ""
    merchant_name: str = ""
    merchant_name_normalized: str = ""
    is_pending: bool = False
    is_decline: bool = False
    approval_status: str = "NotReviewed"
    auth_transaction_id: Optional[int] = None
    tags: tuple[TagValue, ...] = ()  # ordinary (non-split) tags
    splits: tuple[Split, ...] = ()  # allocation splits; empty when the transaction is not split
    cardholder: str = ""  # filled from AccountDetails by AcctId
    notes: tuple[str, ...] = ()
    problem: str = ""  # why PEX's row could not be read as sent (names the field); mapping blocks it


@dataclass(frozen=True)
class TagOption:
    name: str
    value: str
    order: int = 0
    is_enabled: bool = True


@dataclass(frozen=True)
class TagDefinition:
    id: str
    name: str
    type: str  # "Text" | "YesNo" | "Dropdown" | "Decimal" | "Allocation" | ...
    is_enabled: bool = True
    is_deleted: bool = False
    is_required: bool = False
    options: tuple[TagOption, ...] = ()
    concurrency_key: str = ""
    raw: dict = field(default_factory=dict, compare=False, hash=False)  # sent back whole on PUT


@dataclass(frozen=True)
class Cardholder:
    account_id: int
    first_name: str
    last_name: str

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class PexAttachment:
    attachment_id: str
    type: str  # "Image" | "Pdf"
    upload_status: str  # only "Loaded" is usable
    size: int = 0


@dataclass(frozen=True)
class AttachmentFile:
    file_name: str
    content_type: str
    content: bytes


# --------------------------------------------------------------------------------------------- Xero


@dataclass(frozen=True)
class XeroTenant:
    tenant_id: str
    tenant_name: str
    tenant_type: str = "ORGANISATION"


@dataclass(frozen=True)
class XeroOrganisation:
    organisation_id: str
    name: str
    base_currency: str
    period_lock_date: Optional[date] = None
    end_of_year_lock_date: Optional[date] = None


@dataclass(frozen=True)
class XeroAccount:
    account_id: str
    code: str
    name: str
    type: str  # "BANK", "EXPENSE", "REVENUE", ...
    status: str = "ACTIVE"  # "ACTIVE" | "ARCHIVED"
    currency_code: str = ""
    tax_type: str = ""


@dataclass(frozen=True)
class XeroContact:
    contact_id: str
    name: str
    status: str = "ACTIVE"


@dataclass(frozen=True)
class XeroTrackingOption:
    option_id: str
    name: str
    status: str = "ACTIVE"


@dataclass(frozen=True)
class XeroTrackingCategory:
    category_id: str
    name: str
    status: str = "ACTIVE"
    options: tuple[XeroTrackingOption, ...] = ()


@dataclass(frozen=True)
class Tracking:
    """One tracking value on a line: category name and option name, as Xero takes them."""

    category: str
    option: str


@dataclass(frozen=True)
class Line:
    description: str
    amount: Decimal  # positive; the direction is the record's type
    account_code: str
    tracking: tuple[Tracking, ...] = ()


@dataclass(frozen=True)
class XeroBankTransaction:
    """A bank transaction as Xero holds it (read back for the diff and for recovery)."""

    bank_transaction_id: str
    type: str  # "SPEND" | "RECEIVE" | ...
    date: date
    total: Decimal
    bank_account_code: str
    reference: str = ""
    contact_name: str = ""
    status: str = "AUTHORISED"
    is_reconciled: bool = False
    line_amount_types: str = "NoTax"
    url: str = ""
    lines: tuple[Line, ...] = ()
    has_attachments: bool = False


@dataclass(frozen=True)
class XeroBankTransfer:
    bank_transfer_id: str
    date: date
    amount: Decimal
    from_account_code: str
    to_account_code: str
    reference: str = ""
    status: str = "AUTHORISED"  # or "DELETED" (Xero lists deleted transfers only when asked to)
    is_reconciled: bool = False  # either side matched to a bank statement line: Xero refuses to delete it


@dataclass(frozen=True)
class ReferenceData:
    """The live lists that setup is validated against and that mapping resolves names and ids with."""

    accounts: tuple[XeroAccount, ...] = ()
    contacts: tuple[XeroContact, ...] = ()
    tracking: tuple[XeroTrackingCategory, ...] = ()
    tags: tuple[TagDefinition, ...] = ()
    organisation: Optional[XeroOrganisation] = None


# ----------------------------------------------------------------------------------------- the plan

# PEX kinds, as mapping classifies them
PURCHASE = "purchase"
DISPUTE = "dispute"  # a dispute credit: a purchase-like RECEIVE
FEE = "fee"
TRANSFER = "transfer"
REBATE = "rebate"
KINDS = (PURCHASE, DISPUTE, FEE, TRANSFER, REBATE)
# what the preview calls a row nothing is booked for, so the Kind filter can pick it: PEX's card funding (money
# moved onto a card within PEX), and any other row that is none of the kinds above
CARD_FUNDING = "card funding"
OTHER_KIND = "other"
SHOWN_KINDS = KINDS + (CARD_FUNDING, OTHER_KIND)

# Preview statuses: exactly one per PEX transaction (plus `xero only` for unmatched Xero records)
NEW = "new"
SYNCED = "synced"
CHANGED = "changed"
POSSIBLE_DUPLICATE = "possible duplicate"
SKIPPED = "skipped"
BLOCKED = "blocked"
XERO_ONLY = "xero only"
VOIDED = "voided"  # written to Xero, since declined, reversed or voided in PEX: Xero still books it
STATUSES = (NEW, SYNCED, CHANGED, VOIDED, POSSIBLE_DUPLICATE, SKIPPED, BLOCKED, XERO_ONLY)


def marker(transaction_id: int | str) -> str:
    """The Reference every record we write carries: how Preview finds what was already synced."""
    return f"PEX-{transaction_id}"


@dataclass(frozen=True)
class PlannedRecord:
    """What one PEX transaction becomes in Xero. A transfer has no lines and no contact."""

    pex_id: int
    kind: str
    record_type: str  # "BankTransaction" | "BankTransfer"
    date: date
    total: Decimal  # positive
    reference: str
    url: str
    xero_type: str = ""  # "SPEND" | "RECEIVE" for a BankTransaction
    bank_account_code: str = ""  # PEX Cash, for a BankTransaction
    contact_name: str = ""
    line_amount_types: str = "NoTax"
    lines: tuple[Line, ...] = ()
    from_account_code: str = ""  # for a BankTransfer
    to_account_code: str = ""
    wants_attachments: bool = False


# ------------------------------------------------------------------------------------------ plan JSON
# A planned record as the exact text its write intent keeps and its Idempotency-Key is derived from: keys
# sorted, no spaces, so the same record is always the same text.

_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _plain(value):
    """A plan as JSON-ready values: like `dataclasses.asdict`, without its deep copies (ten times faster, and a
    preview of 10,000 rows saves a plan of as many records)."""
    if isinstance(value, (Line, PlannedRecord, Tracking)):
        names = _FIELD_NAMES.get(type(value))
        if names is None:
            names = _FIELD_NAMES[type(value)] = tuple(f.name for f in fields(value))
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def _line_plain(line: Line) -> dict:
    if type(line) is not Line or type(line.amount) is not Decimal:
        return _plain(line)
    return {"account_code": line.account_code, "amount": str(line.amount), "description": line.description,
            "tracking": [{"category": t.category, "option": t.option} if type(t) is Tracking else _plain(t)
                         for t in line.tracking]}


def planned_to_json(record: PlannedRecord) -> str:
    """The record's exact text: the same as `json.dumps(_plain(record), sort_keys=True, separators=(",", ":"))`,
    built field by field (a preview saves one per row)."""
    if type(record) is not PlannedRecord or type(record.date) is not date or type(record.total) is not Decimal:
        return _ENCODE(_plain(record))
    r = record
    return _ENCODE({
        "bank_account_code": r.bank_account_code, "contact_name": r.contact_name, "date": r.date.isoformat(),
        "from_account_code": r.from_account_code, "kind": r.kind, "line_amount_types": r.line_amount_types,
        "lines": [_line_plain(line) for line in r.lines], "pex_id": r.pex_id, "record_type": r.record_type,
        "reference": r.reference, "to_account_code": r.to_account_code, "total": str(r.total), "url": r.url,
        "wants_attachments": r.wants_attachments, "xero_type": r.xero_type,
    })


def planned_from_json(text: str) -> PlannedRecord:
    data = json.loads(text)
    data["date"] = date.fromisoformat(data["date"])
    data["total"] = Decimal(data["total"])
    data["lines"] = tuple(
        Line(
            description=line["description"],
            amount=Decimal(line["amount"]),
            account_code=line["account_code"],
            tracking=tuple(Tracking(**t) for t in line["tracking"]),
        )
        for line in data["lines"]
    )
    return PlannedRecord(**data)


# ------------------------------------------------------------------------------------------ sync runs

# run statuses, lower case in the database, title case on screen
QUEUED, RUNNING = "queued", "running"
SUCCEEDED, PARTIAL, FAILED, CANCELLED, INTERRUPTED, PAUSED = (
    "succeeded", "partial", "failed", "cancelled", "interrupted", "paused",
)
FINISHED = (SUCCEEDED, PARTIAL, FAILED, CANCELLED, INTERRUPTED, PAUSED)

# item outcomes
PLANNED, SENDING, CREATED, UPDATED, ITEM_FAILED, ITEM_SKIPPED = (
    "planned", "sending", "created", "updated", "failed", "skipped",
)
REMOVED = "removed"  # a voided record deleted in Xero (action "remove"), or a record an undo deleted
KEPT = "kept"  # an undo left it in Xero, and says why (reconciled, locked, edited since, or Xero refused)
UNDO = "undo"  # the mode of a run that removes what an earlier run created

# what happened to one PEX receipt in one run (run_receipts.outcome)
RECEIPT_ATTACHED, RECEIPT_WAITING, RECEIPT_FAILED = "attached", "waiting", "failed"

# where a receipt stands across runs (attachment_items.status):
#   attached  Xero confirmed it (or showed it)         nothing more to do, ever
#   sending   its upload left; Xero's answer unknown    the next run looks it up before resending (its intent)
#   waiting   PEX does not have the file yet            checked again by every sync
#   refused   Xero refused it (too large, too many)     reported once, not sent again
ATTACHED, IN_FLIGHT, NOT_IN_PEX, REFUSED = "attached", "sending", "waiting", "refused"


@dataclass
class SyncItem:
    """One PEX transaction in one run: what the sync decided for it and, once written, how it went. The store
    keeps it as a `run_items` row (`planned` is the record's exact JSON, the text its intent keeps)."""

    pex_id: int
    kind: str = ""
    reference: str = ""
    record_type: str = ""
    date: str = ""
    amount: str = ""
    label: str = ""
    outcome: str = ITEM_SKIPPED
    reason: str = ""
    xero_id: str = ""
    planned: Optional[str] = None
    action: str = "create"  # "create" | "update" | "remove"
    status: str = ""  # the row's Preview status (synced, skipped, blocked…): how an item left alone is counted

    def row(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}
