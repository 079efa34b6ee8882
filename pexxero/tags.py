"""Setup step 3: copy Xero expense accounts and tracking options into PEX dropdown tags.

The algorithm is PEX's own (`UpdateTagOptions` in PEX's SDK): options match on their Value, which holds the Xero
id; a match takes Xero's current name, a missing one is added, an option whose Xero entity is gone is disabled (never
deleted, so old transactions keep their value), a name clash gets a `*`, and at least one option stays enabled.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

from pexxero.models import TagDefinition, TagOption, XeroAccount, XeroTrackingCategory

EXPENSE_TYPES = {"EXPENSE", "DIRECTCOSTS", "OVERHEADS"}


@dataclass
class TagChange:
    tag: str
    added: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    enabled: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.added or self.renamed or self.disabled or self.enabled)


@dataclass
class TagReport:
    changes: list[TagChange] = field(default_factory=list)
    selected: int = 0

    @property
    def synced(self) -> int:
        return sum(1 for c in self.changes if not c.error)

    def lines(self) -> list[str]:
        out = []
        for c in self.changes:
            if c.error:
                out.append(f"{c.tag}: not synced: {c.error}")
                continue
            parts = [f"added {len(c.added)}", f"renamed {len(c.renamed)}", f"disabled {len(c.disabled)}"]
            if c.enabled:
                parts.append(f"re-enabled {len(c.enabled)}")
            out.append(f"{c.tag}: " + ", ".join(parts))
            out += [f"  + {n}" for n in c.added]
            out += [f"  ~ {a} -> {b}" for a, b in c.renamed]
            out += [f"  - {n}" for n in c.disabled]
            out += [f"  ^ {n}" for n in c.enabled]
        return out


def merge_options(options: Sequence[TagOption], entities: Sequence[tuple[str, str]], change: TagChange) -> list[TagOption]:
    """New option list for a dropdown mirroring `entities` (id, name). Pure; records what changed in `change`."""
    ids = [eid.casefold() for eid, _ in entities]
    if len(ids) != len(set(ids)):
        raise ValueError("the Xero list has duplicate ids")
    result = list(options)
    by_value = {o.value.casefold(): i for i, o in enumerate(result)}
    touched: list[int] = []
    for eid, name in entities:
        i = by_value.get(eid.casefold())
        if i is None:
            result.append(TagOption(name=name, value=eid, order=len(result), is_enabled=True))
            by_value[eid.casefold()] = len(result) - 1
            change.added.append(name)
            touched.append(len(result) - 1)
            continue
        option = result[i]
        if option.name.rstrip("*") != name:
            change.renamed.append((option.name, name))
            option = replace(option, name=name)
            touched.append(i)
        if not option.is_enabled:
            option = replace(option, is_enabled=True)
            change.enabled.append(name)
        result[i] = option
    # names stay unique (case-insensitively): a touched option that clashes gets a '*' until it does not
    for i in touched:
        taken = {o.name.casefold() for j, o in enumerate(result) if j != i}
        option = result[i]
        while option.name.casefold() in taken:
            option = replace(option, name=option.name + "*")
        result[i] = option
    alive = set(ids)
    for i, option in enumerate(result):
        if option.value.casefold() not in alive and option.is_enabled:
            result[i] = replace(option, is_enabled=False)
            change.disabled.append(option.name)
    if result and not any(o.is_enabled for o in result):
        # PEX needs one enabled option: the first stays enabled, so it is not reported as disabled either
        if result[0].name in change.disabled:
            change.disabled.remove(result[0].name)
        elif not (options and options[0].is_enabled):
            change.enabled.append(result[0].name)
        result[0] = replace(result[0], is_enabled=True)
    return result


def expense_entities(accounts: Sequence[XeroAccount]) -> list[tuple[str, str]]:
    return [(a.account_id, a.name) for a in accounts if a.type in EXPENSE_TYPES and a.status == "ACTIVE"]


def tracking_entities(category: XeroTrackingCategory) -> list[tuple[str, str]]:
    return [(o.option_id, o.name) for o in category.options if o.status == "ACTIVE"]


def _find_tag(definitions: Sequence[TagDefinition], name: str) -> TagDefinition:
    for d in definitions:
        if d.name.casefold() == name.casefold() and not d.is_deleted:
            if d.type.casefold() != "dropdown":
                raise ValueError(f"PEX tag '{name}' is a {d.type} tag; only dropdown tags can receive Xero fields")
            return d
    raise ValueError(f"PEX tag '{name}' does not exist (or was deleted) in PEX")


def sync_tags(conn) -> TagReport:
    """Run the tag sync for a connection's setup; one tag failing does not stop the others."""
    setup = conn.setup()
    pex, xero = conn.pex(), conn.xero()
    wanted: list[tuple[str, str]] = []  # (PEX tag name, what it mirrors)
    if setup.xero.expense_accounts_tag:
        wanted.append((setup.xero.expense_accounts_tag, ""))
    wanted += [(tag, category) for category, tag in setup.xero.tracking_tags.items()]
    report = TagReport(selected=len(wanted))
    if not wanted:
        return report
    definitions = pex.tag_definitions()
    accounts = xero.accounts() if setup.xero.expense_accounts_tag else []
    categories = {c.name.casefold(): c for c in xero.tracking_categories()} if setup.xero.tracking_tags else {}
    for tag_name, category in wanted:
        change = TagChange(tag=tag_name)
        report.changes.append(change)
        try:
            definition = _find_tag(definitions, tag_name)
            if category:
                found = categories.get(category.casefold())
                if found is None:
                    raise ValueError(f"Xero has no tracking category '{category}'")
                entities = tracking_entities(found)
            else:
                entities = expense_entities(accounts)
            options = merge_options(definition.options, entities, change)
            if change.changed:
                pex.update_dropdown_tag(definition, options)
        except Exception as exc:  # noqa: BLE001 - reported per tag, in words
            change.error = getattr(exc, "message", None) or str(exc)
    return report
