"""The setup as a TOML file (`config import` / `config export`, the Setup page's sidebar): `from_toml` checks
syntax, shape and enum values, `to_toml` writes a file that `from_toml` reads back as the same setup."""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from typing import Any

import tomlkit

from pexxero.setup import AccountOptions, ContactOptions, FeeOptions, FieldError, PexOptions, PurchaseOptions
from pexxero.setup import Setup, SetupError, XeroOptions, enum_errors, toml_key


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

# a few comments so an exported file explains itself (the wording of the README's example file)
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
    """Parse the setup TOML. Checks syntax, shape and enum values; `validate` checks the rest."""
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
                name = f"{section}.{toml_key(key)}"
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
    errors = enum_errors(setup)
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
    """The setup as TOML sections, in `_SCHEMA` order; None dates become "" (an empty date means not set)."""
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
    """The setup in the TOML format of `config import` / `config export`; `from_toml(to_toml(s)) == s`."""
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
