"""The connector setup: the vendor guide's seven steps as one immutable value.

Field names follow the setup TOML of PRODUCT.md section by section, so `export` then `import` is the identity.
`from_toml` / `to_toml` read and write that file; `validate` checks a setup against the live Xero and PEX lists
and names each refused field the way the TOML spells it (`accounts.pex_cash`, `fees.tracking.PROJECTS`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Iterable, Optional

import tomlkit

from pexxero.errors import PexxeroError
from pexxero.models import ReferenceData, TagDefinition, XeroAccount


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


def _enum_errors(setup: Setup) -> list[FieldError]:
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


# ---------------------------------------------------------------------------------------------- TOML

_BOOL, _TEXT, _DATE, _MAP = "a true/false value", "a text value", "a date like 2026-06-01", "a table of names"

# section -> key -> kind; the order here is the order of the exported file
_SCHEMA: dict[str, dict[str, str]] = {
    "pex": {
        "purchases": _BOOL, "approved_only": _BOOL, "fees": _BOOL, "transfers": _BOOL, "rebates": _BOOL,
        "start_date": _DATE, "end_date": _DATE, "post_date": _TEXT,
    },
    "xero": {"tenant_id": _TEXT},
    "xero_fields": {"expense_accounts": _TEXT, "tracking": _MAP},
    "accounts": {
        "source_cash": _TEXT, "pex_cash": _TEXT, "purchase_account_tag": _TEXT,
        "purchase_default_account": _TEXT, "fee_account": _TEXT, "rebate_account": _TEXT,
    },
    "purchases": {"attachments": _BOOL, "line_amounts": _TEXT, "description_tag": _TEXT, "tracking": _MAP},
    "contacts": {"mode": _TEXT, "single_contact": _TEXT, "standardize_merchant_names": _BOOL},
    "fees": {"contact": _TEXT, "tracking": _MAP},
}

# a few comments so an exported file explains itself (PRODUCT.md's own wording)
_COMMENTS = {
    ("pex", "end_date"): "empty: the day of the sync",
    ("pex", "post_date"): '"transaction" or "settlement"',
    ("purchases", "line_amounts"): '"NoTax" or "Inclusive"',
    ("purchases", "description_tag"): "PEX text tag; empty: the PEX description",
    ("purchases", "tracking"): "Xero tracking category -> PEX tag",
    ("contacts", "mode"): '"per_merchant" or "single"',
    ("fees", "tracking"): "Xero tracking category -> fixed option name",
}
_SECTION_COMMENTS = {
    "xero_fields": "Xero field -> PEX dropdown tag name; leave out what is not synced",
    "accounts": "Xero account codes",
}


def from_toml(text: str) -> Setup:
    """Parse the setup TOML of PRODUCT.md. Checks syntax, shape and enum values; `validate` checks the rest."""
    text = text.removeprefix("\ufeff")  # a byte-order mark, as Windows editors save UTF-8: not part of the TOML
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SetupError([FieldError("", f"not valid TOML: {exc}")]) from None
    errors: list[FieldError] = []
    values: dict[str, dict[str, Any]] = {}
    for section, content in data.items():
        if section not in _SCHEMA:
            errors.append(FieldError(section, f"unknown section: expected one of {', '.join(_SCHEMA)}"))
        elif not isinstance(content, dict):
            errors.append(FieldError(section, "must be a [table]"))
        else:
            values[section] = {}
            for key, value in content.items():
                name = f"{section}.{_key(key)}"
                kind = _SCHEMA[section].get(key)
                if kind is None:
                    errors.append(FieldError(name, "unknown setting: check its spelling or remove it"))
                    continue
                converted = _convert(value, kind)
                if converted is _INVALID:
                    errors.append(FieldError(name, f"expected {kind}, found {_describe(value)}"))
                else:
                    values[section][key] = converted
    if errors:
        raise SetupError(errors)
    setup = _build(values)
    errors = _enum_errors(setup)
    if errors:
        raise SetupError(errors)
    return setup


_INVALID = object()


def _convert(value: Any, kind: str) -> Any:
    if kind == _BOOL:
        return value if isinstance(value, bool) else _INVALID
    if kind == _TEXT:
        return value if isinstance(value, str) else _INVALID
    if kind == _DATE:
        if isinstance(value, datetime):  # a datetime is a date subclass: refuse the time part explicitly
            return _INVALID
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                return _INVALID
        return _INVALID
    if kind == _MAP:
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            return dict(value)
        return _INVALID
    raise AssertionError(kind)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (str, int, float, date)):
        return repr(value) if isinstance(value, str) else str(value)
    return type(value).__name__


def _build(v: dict[str, dict[str, Any]]) -> Setup:
    xero = v.get("xero", {})
    xero_fields = v.get("xero_fields", {})
    return Setup(
        pex=PexOptions(**v.get("pex", {})),
        xero=XeroOptions(
            tenant_id=xero.get("tenant_id", ""),
            expense_accounts_tag=xero_fields.get("expense_accounts", ""),
            tracking_tags=xero_fields.get("tracking", {}),
        ),
        accounts=AccountOptions(**v.get("accounts", {})),
        purchases=PurchaseOptions(**v.get("purchases", {})),
        contacts=ContactOptions(**v.get("contacts", {})),
        fees=FeeOptions(**v.get("fees", {})),
    )


def _sections(setup: Setup) -> dict[str, dict[str, Any]]:
    """The setup as TOML sections, in `_SCHEMA` order; None dates become "" (PRODUCT.md: empty = not set)."""
    p, x, a, u, c, f = setup.pex, setup.xero, setup.accounts, setup.purchases, setup.contacts, setup.fees
    return {
        "pex": {
            "purchases": p.purchases, "approved_only": p.approved_only, "fees": p.fees,
            "transfers": p.transfers, "rebates": p.rebates,
            "start_date": p.start_date or "", "end_date": p.end_date or "", "post_date": p.post_date,
        },
        "xero": {"tenant_id": x.tenant_id},
        "xero_fields": {"expense_accounts": x.expense_accounts_tag, "tracking": dict(x.tracking_tags)},
        "accounts": {
            "source_cash": a.source_cash, "pex_cash": a.pex_cash, "purchase_account_tag": a.purchase_account_tag,
            "purchase_default_account": a.purchase_default_account, "fee_account": a.fee_account,
            "rebate_account": a.rebate_account,
        },
        "purchases": {
            "attachments": u.attachments, "line_amounts": u.line_amounts,
            "description_tag": u.description_tag, "tracking": dict(u.tracking),
        },
        "contacts": {
            "mode": c.mode, "single_contact": c.single_contact,
            "standardize_merchant_names": c.standardize_merchant_names,
        },
        "fees": {"contact": f.contact, "tracking": dict(f.tracking)},
    }


def to_toml(setup: Setup) -> str:
    """The setup in PRODUCT.md's TOML format; `from_toml(to_toml(s)) == s`."""
    doc = tomlkit.document()
    for section, content in _sections(setup).items():
        table = tomlkit.table()
        if section in _SECTION_COMMENTS:
            table.comment(_SECTION_COMMENTS[section])
        for key, value in content.items():
            if isinstance(value, dict):
                item = tomlkit.inline_table()
                item.update(value)
            else:
                item = tomlkit.item(value)
            if (section, key) in _COMMENTS:
                item.comment(_COMMENTS[(section, key)])
            table.add(key, item)
        doc.add(section, table)
    return tomlkit.dumps(doc)


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    """A key as TOML would write it in a dotted path: bare when it can be, quoted otherwise."""
    return key if _BARE_KEY.match(key) else tomlkit.dumps({"k": key}).split("=", 1)[1].strip()


# ---------------------------------------------------------------------------------------- validation


def validate(setup: Setup, ref: ReferenceData, *, today: date) -> list[FieldError]:
    """Every reason `setup` cannot run against these live lists, each naming its field and the fix.

    `today` is the US Eastern date (PEX's clock). The tenant id is checked where the Xero connection is made.
    """
    too_long = length_errors(setup)  # looked up in the live lists only once every value fits
    return [
        *_enum_errors(setup),
        *_check_dates(setup.pex, today),
        *(too_long or _Checker(setup, ref).errors()),
    ]


# Xero's maximum lengths (its OpenAPI spec): what is longer is refused by Xero, or by the web server in front of it
# when the value travels in a `where` filter or a header, before Xero could name the field
CONTACT_NAME_MAX = 255
ACCOUNT_CODE_MAX = 10
TRACKING_NAME_MAX = 100
TENANT_ID_MAX = 36  # a Xero tenant id is a GUID
TAG_NAME_MAX = 255


def length_errors(setup: Setup) -> list[FieldError]:
    """Values longer than Xero (or PEX) accepts, each naming its field. Checked without calling anyone, so a
    100,000-character value is refused here instead of being sent."""
    s, a = setup, setup.accounts
    fields: list[tuple[str, str, int, str]] = [
        ("xero.tenant_id", s.xero.tenant_id, TENANT_ID_MAX, "a Xero tenant id"),
        ("xero_fields.expense_accounts", s.xero.expense_accounts_tag, TAG_NAME_MAX, "a PEX tag name"),
        ("accounts.purchase_account_tag", a.purchase_account_tag, TAG_NAME_MAX, "a PEX tag name"),
        ("purchases.description_tag", s.purchases.description_tag, TAG_NAME_MAX, "a PEX tag name"),
        ("contacts.single_contact", s.contacts.single_contact, CONTACT_NAME_MAX, "a Xero contact name"),
        ("fees.contact", s.fees.contact, CONTACT_NAME_MAX, "a Xero contact name"),
    ]
    fields += [(f"accounts.{name}", getattr(a, name), ACCOUNT_CODE_MAX, "a Xero account code")
               for name in ("source_cash", "pex_cash", "purchase_default_account", "fee_account", "rebate_account")]
    for section, mapping, value_max, value_what in (
            ("xero_fields.tracking", s.xero.tracking_tags, TAG_NAME_MAX, "a PEX tag name"),
            ("purchases.tracking", s.purchases.tracking, TAG_NAME_MAX, "a PEX tag name"),
            ("fees.tracking", s.fees.tracking, TRACKING_NAME_MAX, "a Xero tracking option name")):
        for category, value in mapping.items():
            name = f"{section}.{_key(category[:40])}"
            fields.append((name, category, TRACKING_NAME_MAX, "a Xero tracking category name"))
            fields.append((name, value, value_max, value_what))
    out, seen = [], set()
    for name, value, limit, what in fields:
        if isinstance(value, str) and len(value) > limit and name not in seen:
            seen.add(name)
            out.append(FieldError(name, f"is {len(value):,} characters long ({_shown(value)}); {what} is at most "
                                        f"{limit} characters: shorten it"))
    return out


def _shown(value: str, limit: int = 40) -> str:
    """The start of a long value, enough to recognise it without filling the screen."""
    return repr(value) if len(value) <= limit else repr(value[:limit]) + "…"


def _check_dates(pex: PexOptions, today: date) -> list[FieldError]:
    earliest = today - timedelta(days=MAX_DAYS_BACK)
    if pex.start_date is None:
        return [FieldError("pex.start_date", f"required: pick the first day to sync, {earliest} or later")]
    errors = []
    if pex.start_date > today:  # nothing could be synced, and every preview would fail on an empty range
        errors.append(FieldError(
            "pex.start_date", f"{pex.start_date} is after today ({today}): pick today or an earlier day",
        ))
    elif pex.start_date < earliest:
        errors.append(FieldError(
            "pex.start_date",
            f"{pex.start_date} is more than {MAX_DAYS_BACK} days before today: pick {earliest} or later",
        ))
    if pex.end_date is not None and pex.end_date < pex.start_date:
        errors.append(FieldError(
            "pex.end_date", f"{pex.end_date} is before the start date {pex.start_date}: pick a later end date or leave it empty"
        ))
    return errors


class _Checker:
    """Looks names and codes up in the live lists; one method per kind of reference."""

    def __init__(self, setup: Setup, ref: ReferenceData):
        self.setup = setup
        self.ref = ref
        self.out: list[FieldError] = []

    def errors(self) -> list[FieldError]:
        s = self.setup
        # step 3: Xero fields copied into PEX dropdown tags
        if s.xero.expense_accounts_tag:
            self.dropdown_tag("xero_fields.expense_accounts", s.xero.expense_accounts_tag)
        for category, tag in s.xero.tracking_tags.items():
            name = f"xero_fields.tracking.{_key(category)}"
            self.tracking_category(name, category)
            self.dropdown_tag(name, tag, required=True)
        # step 4: accounts
        self.accounts()
        # step 5: purchases
        if s.purchases.description_tag:
            self.tag("purchases.description_tag", s.purchases.description_tag, "Text", "a text tag")
        for category, tag in s.purchases.tracking.items():
            name = f"purchases.tracking.{_key(category)}"
            self.tracking_category(name, category)
            self.dropdown_tag(name, tag, required=True)
        # step 6: contacts
        if s.contacts.mode == "single" or s.contacts.single_contact:
            self.contact("contacts.single_contact", s.contacts.single_contact, required=s.contacts.mode == "single")
        # step 7: fees
        if s.pex.fees or s.fees.contact:
            self.contact("fees.contact", s.fees.contact, required=s.pex.fees)
        for category, option in s.fees.tracking.items():
            self.tracking_option(f"fees.tracking.{_key(category)}", category, option)
        return self.out

    def fail(self, field_name: str, message: str) -> None:
        self.out.append(FieldError(field_name, message))

    # ----- accounts

    def accounts(self) -> None:
        s, a = self.setup, self.setup.accounts
        wanted = (
            ("accounts.pex_cash", a.pex_cash, True, "the Xero bank account that stands for the PEX balance"),
            ("accounts.source_cash", a.source_cash, s.pex.transfers, "the Xero bank account that funds PEX"),
            ("accounts.purchase_default_account", a.purchase_default_account, s.pex.purchases,
             "the expense account for purchases without an account tag"),
            ("accounts.fee_account", a.fee_account, s.pex.fees, "the expense account for PEX fees"),
            ("accounts.rebate_account", a.rebate_account, s.pex.rebates, "the account credited by rebates"),
        )
        found: dict[str, XeroAccount] = {}
        for name, code, required, what in wanted:
            if not code:
                if required:
                    self.fail(name, f"required: enter the code of {what}")
                continue
            account = self.account(name, code)
            if account is not None:
                found[name] = account
        for name in ("accounts.source_cash", "accounts.pex_cash"):
            account = found.get(name)
            if account is not None and account.type != "BANK":
                self.fail(name, f"Xero account {_account(account)} is a {account.type} account: pick a bank account")
        for name, role in (("accounts.purchase_default_account", "an expense account for purchases"),
                           ("accounts.fee_account", "an expense account for fees"),
                           ("accounts.rebate_account", "an income or other non-bank account for rebates")):
            account = found.get(name)
            if account is not None and account.type == "BANK":
                itself = " (PEX Cash itself)" if account.code == a.pex_cash else ""
                self.fail(name, f"Xero account {_account(account)} is a bank account{itself}: a bank account cannot "
                          f"be a line's account; pick {role}")
        pex_cash = found.get("accounts.pex_cash")
        if pex_cash is not None and pex_cash.type == "BANK":
            currency = pex_cash.currency_code or (self.ref.organisation.base_currency if self.ref.organisation else "")
            if currency and currency != PEX_CURRENCY:
                self.fail("accounts.pex_cash", f"Xero account {_account(pex_cash)} is in {currency}: PEX Cash must be a "
                          f"{PEX_CURRENCY} bank account")
        if a.pex_cash and a.pex_cash == a.source_cash:
            self.fail("accounts.pex_cash", "is the same account as accounts.source_cash: transfers need two different "
                      "bank accounts")
        if a.purchase_account_tag:
            self.dropdown_tag("accounts.purchase_account_tag", a.purchase_account_tag)

    def account(self, field_name: str, code: str) -> Optional[XeroAccount]:
        matches = [x for x in self.ref.accounts if x.code == code]
        if not matches:
            self.fail(field_name, f"no Xero account has the code {code!r}: enter the code of an existing account")
            return None
        active = [x for x in matches if x.status == "ACTIVE"]
        if not active:
            self.fail(field_name, f"Xero account {_account(matches[0])} is archived: pick an active account or "
                      "restore it in Xero")
            return None
        return active[0]

    # ----- PEX tags

    def tag(self, field_name: str, tag_name: str, wanted_type: str, what: str,
            required: bool = False) -> Optional[TagDefinition]:
        if not tag_name:
            if required:
                self.fail(field_name, f"required: name {what} in PEX")
            return None
        named = [t for t in self.ref.tags if t.name == tag_name]
        live = [t for t in named if not t.is_deleted]
        if not live:
            if named:
                self.fail(field_name, f"PEX tag {tag_name!r} is deleted: pick another tag or create it again in PEX")
            else:
                hint = _did_you_mean(tag_name, [t.name for t in self.ref.tags if not t.is_deleted])
                self.fail(field_name, f"no PEX tag is named {tag_name!r}{hint}: pick an existing tag")
            return None
        tag = live[0]
        if tag.type.lower() != wanted_type.lower():
            self.fail(field_name, f"PEX tag {tag_name!r} is a {tag.type} tag: this field needs {what}")
            return None
        return tag

    def dropdown_tag(self, field_name: str, tag_name: str, required: bool = False) -> None:
        self.tag(field_name, tag_name, "Dropdown", "a dropdown tag", required=required)

    # ----- Xero contacts and tracking

    def contact(self, field_name: str, name: str, required: bool) -> None:
        if not name:
            if required:
                self.fail(field_name, "required: enter the name of a Xero contact")
            return
        named = [c for c in self.ref.contacts if c.name == name]
        if not named:
            hint = _did_you_mean(name, [c.name for c in self.ref.contacts])
            self.fail(field_name, f"no Xero contact is named {name!r}{hint}: create it in Xero or pick another")
        elif not any(c.status == "ACTIVE" for c in named):
            self.fail(field_name, f"Xero contact {name!r} is archived: restore it in Xero or pick another")

    def tracking_category(self, field_name: str, name: str):
        named = [c for c in self.ref.tracking if c.name == name]
        if not named:
            hint = _did_you_mean(name, [c.name for c in self.ref.tracking])
            self.fail(field_name, f"no Xero tracking category is named {name!r}{hint}: use an existing category")
            return None
        active = [c for c in named if c.status == "ACTIVE"]
        if not active:
            self.fail(field_name, f"Xero tracking category {name!r} is archived: restore it in Xero or remove this entry")
            return None
        return active[0]

    def tracking_option(self, field_name: str, category_name: str, option: str) -> None:
        category = self.tracking_category(field_name, category_name)
        if category is None:
            return
        options = [o for o in category.options if o.name == option]
        if not any(o.status == "ACTIVE" for o in options):
            state = "archived" if options else "not an option"
            choices = ", ".join(o.name for o in category.options if o.status == "ACTIVE")
            self.fail(field_name, f"{option!r} is {state} of Xero tracking category {category_name!r}: pick one of {choices}")


def _account(account: XeroAccount) -> str:
    return f"{account.code} ({account.name})"


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A hint when the name differs only in case or surrounding spaces, the usual slip when typing a TOML."""
    folded = name.strip().casefold()
    for c in candidates:
        if c.strip().casefold() == folded:
            return f" (did you mean {c!r}?)"
    return ""
