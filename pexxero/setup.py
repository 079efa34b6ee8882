"""The connector setup: the vendor guide's seven steps as one immutable value.

Field names follow the setup TOML (the README's example file) section by section, so `export` then `import` is
the identity. `setup_toml.from_toml` / `to_toml` read and write that file; `setup_checks.validate` checks a setup
against the live Xero and PEX lists. Both name each refused field the way the TOML spells it (`accounts.pex_cash`,
`fees.tracking.PROJECTS`, see `toml_key`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
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


# ------------------------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class FieldError:
    field: str  # "accounts.pex_cash", "fees.tracking.PROJECTS"; "" for the file as a whole
    message: str  # says what is wrong and what to do about it

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

