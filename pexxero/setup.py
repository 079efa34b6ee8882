"""The connector setup: the vendor guide's seven steps as one immutable value.

Field names follow the setup TOML of PRODUCT.md section by section, so `export` then `import` is the identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Optional


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
