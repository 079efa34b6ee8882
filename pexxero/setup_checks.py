"""A setup checked against the live Xero and PEX lists (and Xero's field lengths), each refusal naming its field
the way the setup TOML spells it and the fix."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Iterable, Optional

from pexxero.models import ReferenceData, TagDefinition, XeroAccount
from pexxero.setup import (
    ACCOUNT_CODE_MAX,
    CONTACT_NAME_MAX,
    MAX_DAYS_BACK,
    PEX_CURRENCY,
    TAG_NAME_MAX,
    TENANT_ID_MAX,
    TRACKING_NAME_MAX,
    FieldError,
    PexOptions,
    Setup,
    enum_errors,
    form_label,
    toml_key,
)

def form_problem(error: FieldError) -> str:
    """A problem as the Setup page says it: the field's label in the form, then the form's words
    ("PEX cash account: required: pick the Xero bank account that stands for the PEX balance")."""
    return f"{form_label(error.field)}: {error.form or error.message}"


def validate(setup: Setup, ref: ReferenceData, *, today: date) -> list[FieldError]:
    """Every reason `setup` cannot run against these live lists, each naming its field and the fix.

    `today` is the US Eastern date (PEX's clock). The tenant id is checked where the Xero connection is made.
    """
    too_long = length_errors(setup)  # looked up in the live lists only once every value fits
    return [
        *enum_errors(setup),
        *_check_dates(setup.pex, today),
        *(too_long or _Checker(setup, ref).errors()),
    ]


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
            name = f"{section}.{toml_key(category[:40])}"
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
            name = f"xero_fields.tracking.{toml_key(category)}"
            self.tracking_category(name, category)
            self.dropdown_tag(name, tag, required=True)
        # step 4: accounts
        self.accounts()
        # step 5: purchases
        if s.purchases.description_tag:
            self.tag("purchases.description_tag", s.purchases.description_tag, "Text", "a text tag")
        for category, tag in s.purchases.tracking.items():
            name = f"purchases.tracking.{toml_key(category)}"
            self.tracking_category(name, category)
            self.dropdown_tag(name, tag, required=True)
        # step 6: contacts
        if s.contacts.mode == "single" or s.contacts.single_contact:
            self.contact("contacts.single_contact", s.contacts.single_contact, required=s.contacts.mode == "single")
        # step 7: fees
        if s.pex.fees or s.fees.contact:
            self.contact("fees.contact", s.fees.contact, required=s.pex.fees)
        for category, option in s.fees.tracking.items():
            self.tracking_option(f"fees.tracking.{toml_key(category)}", category, option)
        return self.out

    def fail(self, field_name: str, message: str, form: str = "") -> None:
        self.out.append(FieldError(field_name, message, form))

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
                    self.fail(name, f"required: enter the code of {what}", form=f"required: pick {what}")
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
                      "bank accounts", form="is the same account as the Source cash account: transfers need two "
                      "different bank accounts")
        if a.purchase_account_tag:
            self.dropdown_tag("accounts.purchase_account_tag", a.purchase_account_tag)

    def account(self, field_name: str, code: str) -> Optional[XeroAccount]:
        matches = [x for x in self.ref.accounts if x.code == code]
        if not matches:
            self.fail(field_name, f"no Xero account has the code {code!r}: enter the code of an existing account",
                      form=f"no Xero account has the code {code!r}: pick an existing account")
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
                self.fail(field_name, "required: enter the name of a Xero contact",
                          form="required: pick a Xero contact, or create one")
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
