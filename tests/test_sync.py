"""The sync runner against both doubles over loopback: exactly once, per-item outcomes, retry-failed, cancel, lock.
Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pexxero import models
from pexxero.models import NEW
from pexxero.sync import run_sync


@pytest.fixture
def sandbox(sandbox_on_both):
    return sandbox_on_both


def _new_refs(env) -> set[str]:
    """References the preview marks `new` (what a sync must write), read without writing anything."""
    frame = env.conn.preview(refresh=True, save_plan=False).frame
    return {f"PEX-{int(p)}" for p in frame[frame["status"] == NEW]["pex_id"]}


def _no_receipts(env) -> None:
    env.setup(purchases=replace(env.conn.setup().purchases, attachments=False))


def test_a_sync_then_a_second_sync_writes_nothing(sandbox):
    env = sandbox
    _no_receipts(env)
    before = env.references()
    expected = _new_refs(env)
    assert expected and not expected & set(before)

    first = run_sync(env.conn)
    assert first["status"] == models.SUCCEEDED, first["message"]
    assert first["to_write"] == len(expected) == first["written"]
    after = env.references()
    assert set(after) - set(before) == expected
    assert all(after[ref] == 1 for ref in expected)
    counts = env.conn.store.item_counts(first["id"])
    assert counts.get(models.CREATED) == len(expected) and models.ITEM_FAILED not in counts
    assert all(it["xero_id"] for it in env.conn.store.items(first["id"]) if it["outcome"] == models.CREATED)

    writes = env.writes()
    second = run_sync(env.conn)
    assert second["status"] == models.SUCCEEDED
    assert second["to_write"] == 0 and second["written"] == 0
    assert env.writes() == writes
    assert env.references() == after
    # the second run's calls are its own (the reads of its plan), not the connection's running total
    assert 0 < second["calls"] < first["calls"]


def _code_on_some(env) -> tuple[str, set[str]]:
    """An expense account code used by some, not all, of the purchases a sync will write."""
    frame = env.conn.preview(refresh=True, save_plan=False).frame
    by_code: dict[str, set[str]] = {}
    new = frame[frame["status"] == NEW]
    for row in new.itertuples():
        if row.planned is not None and row.planned.record_type == "BankTransaction":
            for line in row.planned.lines:
                by_code.setdefault(line.account_code, set()).add(f"PEX-{int(row.pex_id)}")
    code, refs = max(((c, r) for c, r in by_code.items() if len(r) < len(new)), key=lambda cr: len(cr[1]))
    return code, refs


def _set_account_status(env, code: str, status: str) -> None:
    with env.xero._lock:
        next(a for a in env.xero.books[env.tenant_id].accounts if a["Code"] == code)["Status"] = status


def test_validation_errors_give_partial_with_xeros_message_then_retry_failed_pushes_only_those(sandbox):
    env = sandbox
    _no_receipts(env)
    code, doomed = _code_on_some(env)
    expected = _new_refs(env)

    # the account is archived in Xero after the sync planned, while its first batch is in flight
    run = env.hold_then("PUT", "/BankTransactions", lambda: run_sync(env.connection()),
                        lambda: _set_account_status(env, code, "ARCHIVED"))
    assert run["status"] == models.PARTIAL
    assert run["failed"] == len(doomed) and run["written"] == len(expected) - len(doomed)
    failed = {it["reference"]: it for it in env.conn.store.items(run["id"]) if it["outcome"] == models.ITEM_FAILED}
    assert set(failed) == doomed
    for it in failed.values():
        assert f"Account code '{code}' has been archived" in it["message"]
    assert set(env.references()) & expected == expected - doomed

    from pexxero.history import item_rows

    rows = {f"PEX-{r['PEX id']}": r for r in item_rows(env.conn, run["id"])}
    assert all(rows[ref]["Outcome"] == "failed" and "archived" in rows[ref]["Why"] for ref in doomed)

    # the bookkeeper restores the account; meanwhile a new card purchase happened
    _set_account_status(env, code, "ACTIVE")
    new_id = env.add_pex_purchase()
    env.expire_pex_cache()
    writes = env.writes()
    retry = run_sync(env.conn, retry_failed=True)
    assert retry["status"] == models.SUCCEEDED, retry["message"]
    assert retry["mode"] == "retry_failed"
    assert retry["to_write"] == len(doomed) == retry["written"]
    assert env.writes() == writes + 1  # one batch: only the failed ones
    refs = env.references()
    assert all(refs[ref] == 1 for ref in expected)
    assert f"PEX-{new_id}" not in refs
    assert {it["reference"] for it in env.conn.store.items(retry["id"])} == doomed

    plain = run_sync(env.conn)
    assert plain["status"] == models.SUCCEEDED and plain["written"] == 1
    refs = env.references()
    assert refs[f"PEX-{new_id}"] == 1 and all(refs[ref] == 1 for ref in expected)


def test_a_lock_date_moved_after_planning_fails_the_items_before_it(sandbox):
    env = sandbox
    _no_receipts(env)
    expected = _new_refs(env)
    frame = env.conn.preview(refresh=False, save_plan=False).frame
    dates = sorted(frame[frame["status"] == NEW]["date"])
    lock = dates[len(dates) // 2]
    new = list(frame[frame["status"] == NEW].itertuples())
    doomed = {f"PEX-{int(r.pex_id)}" for r in new if r.date <= lock}
    transfers = {f"PEX-{int(r.pex_id)}" for r in new if r.planned.record_type == "BankTransfer"}
    if doomed & transfers:  # Xero takes bank transfers all or none: one before the lock date fails its batch
        doomed |= transfers

    run = env.hold_then("PUT", "/BankTransactions", lambda: run_sync(env.connection()),
                        lambda: env.xero.set_lock_date(env.tenant_id, lock))
    assert run["status"] == models.PARTIAL, run["message"]
    failed = {it["reference"]: it["message"] for it in env.conn.store.items(run["id"])
              if it["outcome"] == models.ITEM_FAILED}
    assert set(failed) == doomed
    assert all("lock date" in message for message in failed.values())
    assert set(env.references()) & expected == expected - doomed


def _reads(env, since: int) -> dict[str, int]:
    """GETs per accounting list the Xero double answered since request number `since`."""
    from collections import Counter

    return Counter(r.path.split("/api.xro/2.0/", 1)[1].split("/")[0] for r in env.xero.requests[since:]
                   if r.method == "GET" and "/api.xro/" in r.path)


def test_a_sync_reads_each_reference_list_once_and_a_later_preview_reads_them_again(sandbox):
    """The tag sync, the plan and the contact check share one read of Organisation, Accounts, TrackingCategories
    and of each contact name; fresh uploads of receipts list nothing on the records this run wrote."""
    from urllib.parse import unquote_plus

    env = sandbox
    before = len(env.xero.requests)
    run = run_sync(env.conn)
    assert run["status"] == models.SUCCEEDED, run["message"]
    reads = _reads(env, before)
    assert (reads["Organisation"], reads["Accounts"], reads["TrackingCategories"]) == (1, 1, 1)
    asked = [name for r in env.xero.requests[before:] if r.method == "GET" and r.path.endswith("/Contacts")
             for name in unquote_plus(r.query).split('Name=="')[1:]]
    assert asked and len(asked) == len(set(asked))  # no contact name looked up twice
    written = {it["xero_id"].lower() for it in env.conn.store.items(run["id"]) if it["outcome"] == models.CREATED}
    listed = {r.path.split("/")[-2].lower() for r in env.xero.requests[before:]
              if r.method == "GET" and r.path.endswith("/Attachments")}
    assert written and not listed & written

    env.xero.archive_account(env.tenant_id, "404")  # changed in Xero after the sync
    before = len(env.xero.requests)
    env.conn.preview(refresh=False, save_plan=False)
    again = _reads(env, before)
    assert (again["Organisation"], again["Accounts"], again["TrackingCategories"]) == (1, 1, 1)
    assert {a.status for a in env.conn.reference().accounts if a.code == "404"} == {"ARCHIVED"}
