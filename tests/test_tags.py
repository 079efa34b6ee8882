"""Tag sync (setup step 3): Xero expense accounts and tracking options into PEX dropdown tags."""

from __future__ import annotations

import pytest

from pexxero.models import TagOption
from pexxero.sandbox import demo
from pexxero.tags import TagChange, merge_options


def O(name: str, value: str, enabled: bool = True) -> TagOption:  # noqa: E743 - short on purpose in tables
    return TagOption(name=name, value=value, is_enabled=enabled)


# (case, PEX options before, Xero entities (id, name), expected (name, value, enabled), expected change)
CASES = [
    ("unchanged: matched on Value",
     [O("Fuel", "V1")], [("v1", "Fuel")],
     [("Fuel", "V1", True)], {}),
    ("renamed in Xero: the option takes Xero's name",
     [O("Old name", "v1")], [("v1", "New name")],
     [("New name", "v1", True)], {"renamed": [("Old name", "New name")]}),
    ("new in Xero: added, enabled",
     [], [("v1", "A"), ("v2", "B")],
     [("A", "v1", True), ("B", "v2", True)], {"added": ["A", "B"]}),
    ("gone from Xero: disabled, not deleted",
     [O("A", "v1"), O("B", "v2")], [("v1", "A")],
     [("A", "v1", True), ("B", "v2", False)], {"disabled": ["B"]}),
    ("back in Xero: enabled again",
     [O("A", "v1", enabled=False), O("B", "v2")], [("v1", "A"), ("v2", "B")],
     [("A", "v1", True), ("B", "v2", True)], {"enabled": ["A"]}),
    ("a name match with another Value is not a match: the new one gets a '*'",
     [O("Fuel", "other")], [("v1", "Fuel")],
     [("Fuel", "other", False), ("Fuel*", "v1", True)], {"added": ["Fuel"], "disabled": ["Fuel"]}),
    ("a rename onto a name in use gets a '*'",
     [O("A", "v1"), O("B", "v2")], [("v1", "A"), ("v2", "A")],
     [("A", "v1", True), ("A*", "v2", True)], {"renamed": [("B", "A")]}),
    ("names are unique case-insensitively",
     [O("Diesel", "v1")], [("v1", "Diesel"), ("v2", "DIESEL")],
     [("Diesel", "v1", True), ("DIESEL*", "v2", True)], {"added": ["DIESEL"]}),
    ("a '*' kept for uniqueness is not a rename",
     [O("A", "v9"), O("A*", "v1")], [("v9", "A"), ("v1", "A")],
     [("A", "v9", True), ("A*", "v1", True)], {}),
    ("everything gone from Xero: one option stays enabled",
     [O("A", "v1"), O("B", "v2")], [],
     [("A", "v1", True), ("B", "v2", False)], {"disabled": ["B"]}),
    ("everything gone and the first already disabled: it is enabled again, and says so",
     [O("A", "v1", enabled=False), O("B", "v2")], [],
     [("A", "v1", True), ("B", "v2", False)], {"disabled": ["B"], "enabled": ["A"]}),
]


@pytest.mark.parametrize("options, entities, expected, change", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_merge_options(options, entities, expected, change):
    found = TagChange(tag="T")
    result = merge_options(options, entities, found)
    assert [(o.name, o.value, o.is_enabled) for o in result] == expected
    for attr in ("added", "renamed", "disabled", "enabled"):
        assert getattr(found, attr) == change.get(attr, []), attr
    assert found.changed == bool(change)
    assert any(o.is_enabled for o in result) or not result
    names = [o.name.casefold() for o in result]
    assert len(names) == len(set(names))


def test_merge_options_refuses_a_xero_list_with_duplicate_ids():
    with pytest.raises(ValueError):
        merge_options([], [("v1", "A"), ("V1", "B")], TagChange(tag="T"))


def _options(env, tag_id: str) -> dict[str, dict]:
    tag = next(t for t in env.pex.tag_definitions if t["Id"] == tag_id)
    return {o["Value"]: o for o in tag["Options"]}


def test_tags_sync_command_prints_what_it_added_renamed_and_disabled(sandbox):
    env = sandbox
    first = env.cli("tags", "sync")  # bring PEX level with Xero first
    assert first.returncode == 0, first.stdout + first.stderr
    projects = next(c for c in demo.tracking_categories() if c["Name"] == "PROJECTS")
    ids = {o["Name"]: o["TrackingOptionID"] for o in projects["Options"]}
    before = _options(env, demo.PROJECTS_TAG_ID)
    assert before[ids["Beta Site"]]["IsEnabled"]

    env.xero.rename_tracking_option(env.tenant_id, "PROJECTS", "Alpha Site", "Alpha Yard")
    env.xero.remove_tracking_option(env.tenant_id, "PROJECTS", "Beta Site")
    result = env.cli("tags", "sync")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "PROJECTS: added 0, renamed 1, disabled 1" in out
    assert "~ Alpha Site -> Alpha Yard" in out
    assert "- Beta Site" in out
    assert "EXPENSE TYPE: added 0, renamed 0, disabled 0" in out

    after = _options(env, demo.PROJECTS_TAG_ID)
    assert after[ids["Alpha Site"]]["Name"] == "Alpha Yard" and after[ids["Alpha Site"]]["IsEnabled"]
    assert ids["Beta Site"] in after and not after[ids["Beta Site"]]["IsEnabled"]  # disabled, still there
    assert after[ids["Overhead"]] == before[ids["Overhead"]]

    again = env.cli("tags", "sync")
    assert "PROJECTS: added 0, renamed 0, disabled 0" in again.stdout


def test_every_sync_syncs_tags_first_and_counts_the_fields(sandbox):
    from pexxero.sync import run_sync

    env = sandbox
    env.xero.rename_tracking_option(env.tenant_id, "PROJECTS", "Overhead", "Overheads")
    run = run_sync(env.conn)
    assert (run["fields_synced"], run["fields_selected"]) == (2, 2)
    options = _options(env, demo.PROJECTS_TAG_ID)
    assert any(o["Name"] == "Overheads" for o in options.values())
