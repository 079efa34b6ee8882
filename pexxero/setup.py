"""The connector setup: the vendor guide's seven steps as one immutable value.

Field names follow the setup TOML (the README's example file) section by section, so `export` then `import` is
the identity. `setup_toml.from_toml` / `to_toml` read and write that file; `setup_checks.validate` checks a setup
against the live Xero and PEX lists. Both name each refused field the way the TOML spells it (`accounts.pex_cash`,
`fees.tracking.PROJECTS`, see `toml_key`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Iterable, Optional

import tomlkit

from pexxero.errors import PexxeroError


@dataclass(frozen=True)
class PexOptions:  # step 2
    purchases: bool = True
    approved_only: bool = False
    fees: bool = True
    transfers: bool = True
    rebates: bool = True
    start_date: Optional[date] = None
    end_date: Optional[date] = None  # None: the day of the sync
    post_date: str = "transaction"  # or "settlement"


@dataclass(frozen=True)
class XeroOptions:  # step 1 (the tenant) and step 3 (fields copied into PEX dropdown tags)
    tenant_id: str = ""
    expense_accounts_tag: str = ""  # PEX dropdown tag that receives the expense accounts; "" = not synced
    tracking_tags: dict[str, str] = field(default_factory=dict)  # Xero tracking category -> PEX dropdown tag


@dataclass(frozen=True)
class AccountOptions:  # step 4 (Xero account codes)
    source_cash: str = ""
    pex_cash: str = ""
    purchase_account_tag: str = ""
    purchase_default_account: str = ""
    fee_account: str = ""
    rebate_account: str = ""


@dataclass(frozen=True)
class PurchaseOptions:  # step 5
    attachments: bool = True
    line_amounts: str = "NoTax"  # or "Inclusive"
    description_tag: str = ""  # PEX text tag; "" = the PEX description
    tracking: dict[str, str] = field(default_factory=dict)  # Xero tracking category -> PEX tag


@dataclass(frozen=True)
class ContactOptions:  # step 6
    mode: str = "per_merchant"  # or "single"
    single_contact: str = ""
    standardize_merchant_names: bool = True


@dataclass(frozen=True)
class FeeOptions:  # step 7
    contact: str = ""
    tracking: dict[str, str] = field(default_factory=dict)  # Xero tracking category -> fixed option name


@dataclass(frozen=True)
class Setup:
    pex: PexOptions = field(default_factory=PexOptions)
    xero: XeroOptions = field(default_factory=XeroOptions)
    accounts: AccountOptions = field(default_factory=AccountOptions)
    purchases: PurchaseOptions = field(default_factory=PurchaseOptions)
    contacts: ContactOptions = field(default_factory=ContactOptions)
    fees: FeeOptions = field(default_factory=FeeOptions)


# ------------------------------------------------------------------------------------ the seven steps


@dataclass(frozen=True)
class Step:
    number: int
    title: str  # as the vendor guide names the step
    fields: tuple[str, ...]  # the TOML fields it holds, as FieldError names them


STEPS: tuple[Step, ...] = (
    Step(1, "Xero Connection", ("xero.tenant_id",)),
    Step(2, "PEX Sync Options", (
        "pex.purchases", "pex.approved_only", "pex.fees", "pex.transfers", "pex.rebates",
        "pex.start_date", "pex.end_date", "pex.post_date",
    )),
    Step(3, "Xero Sync Options", ("xero_fields.expense_accounts", "xero_fields.tracking")),
    Step(4, "Account Options", (
        "accounts.source_cash", "accounts.pex_cash", "accounts.purchase_account_tag",
        "accounts.purchase_default_account", "accounts.fee_account", "accounts.rebate_account",
    )),
    Step(5, "Purchase Options", (
        "purchases.attachments", "purchases.line_amounts", "purchases.description_tag", "purchases.tracking",
    )),
    Step(6, "Purchase Contact Options", (
        "contacts.mode", "contacts.single_contact", "contacts.standardize_merchant_names",
    )),
    Step(7, "Fee Options", ("fees.contact", "fees.tracking")),
)


def step(n: int) -> Step:
    """Step `n` (1 to 7) of the connector setup."""
    if not 1 <= n <= len(STEPS):
        raise ValueError(f"there are {len(STEPS)} setup steps, not {n}")
    return STEPS[n - 1]


def step_of(field_name: str) -> int:
    """The step a field (or one entry of it, like `fees.tracking.PROJECTS`) belongs to; 0 when none does."""
    for s in STEPS:
        for f in s.fields:
            if field_name == f or field_name.startswith(f + "."):
                return s.number
    return 0


# The Setup page's label of each field (the page draws its widgets with these), so a problem on the page names
# the field as the form does: "PEX cash account", not `accounts.pex_cash`.
FORM_LABELS = {
    "pex.start_date": "Start date",
    "pex.end_date": "End date",
    "pex.post_date": "Post by",
    "xero_fields.expense_accounts": "PEX dropdown tag that receives the Xero expense accounts",
    "xero_fields.tracking": "Xero tracking category copied into a PEX dropdown tag",
    "accounts.source_cash": "Source cash account (funds PEX)",
    "accounts.pex_cash": "PEX cash account",
    "accounts.purchase_account_tag": "PEX tag holding the purchase account",
    "accounts.purchase_default_account": "Default purchase account",
    "accounts.fee_account": "Fee account",
    "accounts.rebate_account": "Rebate account",
    "purchases.line_amounts": "Line amounts",
    "purchases.description_tag": "Description from the PEX text tag",
    "purchases.tracking": "Xero tracking on purchases",
    "contacts.mode": "Contact on purchases",
    "contacts.single_contact": "The one contact",
    "fees.contact": "Contact on fees",
    "fees.tracking": "Fixed tracking on fees",
}


def form_label(field_name: str) -> str:
    """The form's label of a field, with the entry of a table field after it ('Fixed tracking on fees ·
    PROJECTS'); the TOML name when the form has no label for it."""
    for name in sorted(FORM_LABELS, key=len, reverse=True):
        if field_name == name:
            return FORM_LABELS[name]
        if field_name.startswith(name + "."):
            return f"{FORM_LABELS[name]} · {field_name[len(name) + 1:].strip(chr(34))}"
    return field_name or "The setup"


# ------------------------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class FieldError:
    field: str  # "accounts.pex_cash", "fees.tracking.PROJECTS"; "" for the file as a whole
    message: str  # says what is wrong and what to do about it, in the words of the TOML file
    form: str = ""  # the same in the words of the Setup page's form, where they differ ("pick" for a dropdown)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class SetupError(PexxeroError):
    def __init__(self, errors: Iterable[FieldError]):
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


# --------------------------------------------------------------------------------------------- enums

POST_DATES = ("transaction", "settlement")
LINE_AMOUNTS = ("NoTax", "Inclusive")
CONTACT_MODES = ("per_merchant", "single")
PEX_CURRENCY = "USD"
MAX_DAYS_BACK = 365


def default_start_date(today: date, earliest_activity: Optional[date] = None) -> date:
    """Where a new setup starts (step 2): the first PEX activity within the last year when it is known, so the
    first preview holds the business's history; else the first of the month three months back. Never today,
    which left an almost empty first preview."""
    floor = today - timedelta(days=MAX_DAYS_BACK)
    if earliest_activity is not None and floor <= earliest_activity <= today:
        return earliest_activity
    month = today.month - 3
    year = today.year + (month - 1) // 12
    return date(year, (month - 1) % 12 + 1, 1)


def enum_errors(setup: Setup) -> list[FieldError]:
    checks = (
        ("pex.post_date", setup.pex.post_date, POST_DATES),
        ("purchases.line_amounts", setup.purchases.line_amounts, LINE_AMOUNTS),
        ("contacts.mode", setup.contacts.mode, CONTACT_MODES),
    )
    return [
        FieldError(name, f"{value!r} is not one of {', '.join(repr(c) for c in choices)}")
        for name, value, choices in checks
        if value not in choices
    ]


# Xero's maximum lengths (its OpenAPI spec): what is longer is refused by Xero, or by the web server in front of it
# when the value travels in a `where` filter or a header, before Xero could name the field
CONTACT_NAME_MAX = 255
ACCOUNT_CODE_MAX = 10
TRACKING_NAME_MAX = 100
TENANT_ID_MAX = 36  # a Xero tenant id is a GUID
TAG_NAME_MAX = 255


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_key(key: str) -> str:
    """A key as TOML would write it in a dotted path: bare when it can be, quoted otherwise."""
    return key if _BARE_KEY.match(key) else tomlkit.dumps({"k": key}).split("=", 1)[1].strip()

