"""The mapping's reference lookups: Xero's accounts, tracking categories and PEX's tag definitions indexed once per
plan, and the rules that resolve a setup field or a tag value to a Xero entity, or block the item naming the fix."""

from __future__ import annotations

from typing import Iterable, Optional

from .models import ReferenceData, TagDefinition, TagValue, Tracking, XeroAccount


class Blocked(Exception):
    """A transaction that cannot be mapped as the setup stands; the message names the fix."""


class Lookup:
    """ReferenceData indexed once per plan() call, and the resolution rules on top of it."""

    def __init__(self, ref: ReferenceData):
        self.by_code = {a.code.strip().lower(): a for a in ref.accounts if a.code}
        self.by_id = {a.account_id.lower(): a for a in ref.accounts}
        self.by_name = {a.name.strip().lower(): a for a in ref.accounts}
        live_tags = [t for t in ref.tags if not t.is_deleted]
        self.tag_by_name = {t.name.strip().lower(): t for t in live_tags}
        self.tag_by_id = {t.id.lower(): t for t in ref.tags}
        self.categories = {c.name.strip().lower(): c for c in ref.tracking}
        # answers already given in this plan: every one depends only on ReferenceData and its arguments, and
        # 10,000 rows ask the same few questions
        self._tags: dict[str, Optional[TagDefinition]] = {}
        self._wanted: dict[str, tuple[Optional[str], str]] = {}
        self._required: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._resolved: dict[tuple, object] = {}

    def _memo(self, key: tuple, resolve):
        """resolve() once per key: its value, or the same Blocked again (a new exception, the same words)."""
        try:
            found = self._resolved[key]
        except KeyError:
            try:
                found = resolve()
            except Blocked as blocked:
                found = blocked
            self._resolved[key] = found
        if isinstance(found, Blocked):
            raise Blocked(str(found))
        return found

    # --- tags
    def tag(self, name: str) -> Optional[TagDefinition]:
        try:
            return self._tags[name]
        except KeyError:
            found = self._tags[name] = self.tag_by_name.get(name.strip().lower())
            return found

    def required_tags(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """Those of `names` (setup fields naming PEX tags, "" when unset) that PEX marks required, in order."""
        try:
            return self._required[names]
        except KeyError:
            found = self._required[names] = tuple(
                name for name in names if name and (t := self.tag(name)) is not None and t.is_required)
            return found

    def tag_value(self, tags: Iterable[TagValue], name: str) -> str:
        """The raw value of the tag called `name` ("" when absent). Matched on the definition id, else the name."""
        try:
            wanted_id, folded = self._wanted[name]
        except KeyError:
            definition = self.tag(name)
            wanted_id, folded = self._wanted[name] = (definition.id.lower() if definition else None,
                                                      name.strip().lower())
        if wanted_id:
            for value in tags:
                if value.field_id.lower() == wanted_id:
                    return str(value.value).strip()
        for value in tags:
            known = self.tag_by_id.get(value.field_id.lower())
            label = value.name or (known.name if known else "")
            if label.strip().lower() == folded:
                return str(value.value).strip()
        return ""

    def option_name(self, tag_name: str, raw: str) -> str:
        """The display name of a dropdown option whose Value is `raw` ("" when none)."""
        definition = self.tag(tag_name)
        for option in definition.options if definition else ():
            if option.value.strip().lower() == raw.lower():
                return option.name.strip()
        return ""

    # --- accounts
    def account(self, code: str) -> Optional[XeroAccount]:
        return self.by_code.get(code.strip().lower())

    def usable_account(self, code: str, role: str, setting: str) -> XeroAccount:
        """The account a setup field names, or Blocked naming the field to change."""
        return self._memo(("usable_account", code, role, setting), lambda: self._usable_account(code, role, setting))

    def _usable_account(self, code: str, role: str, setting: str) -> XeroAccount:
        if not code.strip():
            raise Blocked(f"no {role} account is set: choose one in setup step 4 ({setting})")
        account = self.account(code)
        if account is None:
            raise Blocked(f"{role} account {code} is not in Xero's chart of accounts: fix setup step 4 ({setting})")
        if account.status.upper() == "ARCHIVED":
            raise Blocked(
                f"{role} account {account.code} {account.name} is archived in Xero: "
                f"un-archive it or pick another in setup step 4 ({setting})"
            )
        return account

    def account_from_tag(self, tag_name: str, raw: str) -> XeroAccount:
        """FindMatchingEntity order: id == option Value › code › account name == option Name › name == Value."""
        return self._memo(("account_from_tag", tag_name, raw), lambda: self._account_from_tag(tag_name, raw))

    def _account_from_tag(self, tag_name: str, raw: str) -> XeroAccount:
        option = self.option_name(tag_name, raw)
        account = (
            self.by_id.get(raw.lower())
            or self.by_code.get(raw.lower())
            or (self.by_name.get(option.lower()) if option else None)
            or self.by_name.get(raw.lower())
        )
        if account is None:
            shown = option or raw
            raise Blocked(
                f"{tag_name} points at {shown}, which is not an account in Xero: "
                "pick another option or run tags sync"
            )
        if account.status.upper() == "ARCHIVED":
            raise Blocked(
                f"{tag_name} points at account {account.code} {account.name}, which is archived in Xero: "
                "pick another option or un-archive it"
            )
        return account

    # --- tracking
    def tracking(self, category_name: str, raw: str, source: str, tag_name: str = "") -> Tracking:
        """A tracking value from an option id or name; `source` says where it came from for the reason."""
        return self._memo(("tracking", category_name, raw, source, tag_name),
                          lambda: self._tracking(category_name, raw, source, tag_name))

    def _tracking(self, category_name: str, raw: str, source: str, tag_name: str) -> Tracking:
        category = self.categories.get(category_name.strip().lower())
        if category is None or category.status.upper() != "ACTIVE":
            raise Blocked(
                f"tracking category {category_name} is not active in Xero: fix the tracking mapping in {source}"
            )
        option_label = self.option_name(tag_name, raw) if tag_name else ""
        wanted = {raw.lower(), option_label.lower()} - {""}
        for option in category.options:
            if option.option_id.lower() in wanted or option.name.strip().lower() in wanted:
                if option.status.upper() != "ACTIVE":
                    raise Blocked(
                        f"{source} gives {category.name} option {option.name}, which is archived in Xero: "
                        "pick another option or restore it in Xero"
                    )
                return Tracking(category.name, option.name)
        raise Blocked(
            f"{source} gives {category.name} option {option_label or raw}, which is not in Xero: "
            "pick another option or run tags sync"
        )
