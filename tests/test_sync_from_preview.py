"""The dashboard's sync: it writes exactly the plan the last preview showed, re-reading Xero first, and the
rows the user released on the Preview page."""

from __future__ import annotations

from dataclasses import replace

from pexxero import models
from pexxero.models import CHANGED, NEW, POSSIBLE_DUPLICATE
from pexxero.sync import run_sync


def _no_receipts(env) -> None:
    env.setup(purchases=replace(env.conn.setup().purchases, attachments=False))


def test_a_transaction_that_arrives_after_the_preview_waits_for_the_next_preview(sandbox):
    env = sandbox
    _no_receipts(env)
    shown = env.conn.preview()
    shown_new = {f"PEX-{int(p)}" for p in shown.frame[shown.frame["status"] == NEW]["pex_id"]}
    late = env.add_pex_purchase("-13.37", "Late Cafe")
    env.expire_pex_cache()

    run = run_sync(env.conn, from_preview=True)
    assert run["status"] == models.SUCCEEDED, run["message"]
    written = {ref for ref, n in env.references().items() if n}
    assert shown_new <= written
    assert f"PEX-{late}" not in written
    assert late not in {it["pex_id"] for it in env.conn.store.items(run["id"])}
    # the next preview shows it, and the sync after that writes it
    again = env.conn.preview(force_refresh=True).frame
    assert again.loc[again["pex_id"] == late, "status"].item() == NEW
    assert run_sync(env.conn, from_preview=True)["written"] == 1
    assert env.references()[f"PEX-{late}"] == 1


def test_a_record_that_appears_in_xero_after_the_preview_is_not_written_twice(sandbox):
    env = sandbox
    _no_receipts(env)
    shown = env.conn.preview()
    new_rows = shown.frame[shown.frame["status"] == NEW]
    first = next(r for r in new_rows.itertuples() if r.planned.record_type == "BankTransaction")
    # someone (another tool, a colleague) writes it into Xero between the preview and the sync
    env.conn.xero().create_bank_transactions([first.planned], "written-elsewhere")

    run = run_sync(env.conn, from_preview=True)
    assert run["status"] == models.SUCCEEDED, run["message"]
    assert env.references()[first.planned.reference] == 1
    assert env.duplicates() == {}
    item = next(it for it in env.conn.store.items(run["id"]) if it["pex_id"] == int(first.pex_id))
    assert item["outcome"] == models.ITEM_SKIPPED and "since the preview" in item["reason"]


def test_released_rows_are_pushed_and_unreleased_ones_left_alone(sandbox):
    env = sandbox
    _no_receipts(env)
    frame = env.conn.preview().frame
    duplicates = frame[frame["status"] == POSSIBLE_DUPLICATE]
    changed = frame[frame["status"] == CHANGED]
    assert len(duplicates) >= 2 and len(changed) >= 1
    pushed, left = int(duplicates.iloc[0]["pex_id"]), int(duplicates.iloc[1]["pex_id"])
    env.conn.release(pushed, "push")

    run = run_sync(env.conn, from_preview=True)
    assert run["status"] == models.SUCCEEDED, run["message"]
    refs = env.references()
    assert refs[f"PEX-{pushed}"] == 1
    assert refs[f"PEX-{left}"] == 0
    untouched = int(changed.iloc[0]["pex_id"])
    item = next(it for it in env.conn.store.items(run["id"]) if it["pex_id"] == untouched)
    assert item["outcome"] == models.ITEM_SKIPPED and "released" in item["reason"]


def test_a_changed_record_released_for_update_is_updated_in_place(sandbox):
    env = sandbox
    _no_receipts(env)
    frame = env.conn.preview().frame
    row = frame[(frame["status"] == CHANGED) & frame["differences"].str.contains("amount")].iloc[0]
    pex_id = int(row["pex_id"])
    env.conn.release(pex_id, "update")

    run = run_sync(env.conn, from_preview=True)
    assert run["status"] == models.SUCCEEDED, run["message"]
    item = next(it for it in env.conn.store.items(run["id"]) if it["pex_id"] == pex_id)
    assert item["outcome"] == models.UPDATED
    assert env.references()[f"PEX-{pex_id}"] == 1
    after = env.conn.preview(refresh=False, save_plan=False).frame
    assert after.loc[after["pex_id"] == pex_id, "status"].item() == "synced"


def test_a_setup_change_after_the_preview_holds_back_what_it_would_change(sandbox):
    env = sandbox
    _no_receipts(env)
    shown = env.conn.preview()
    fees = shown.frame[(shown.frame["status"] == NEW) & (shown.frame["kind"] == "fee")]
    purchases = shown.frame[(shown.frame["status"] == NEW) & (shown.frame["kind"] == "purchase")]
    assert len(fees) and len(purchases)
    # the bookkeeper changes the fee account after looking at the preview, and syncs without looking again
    env.setup(accounts=replace(env.conn.setup().accounts, fee_account="429"))

    run = run_sync(env.conn, from_preview=True)
    assert run["status"] == models.SUCCEEDED, run["message"]
    refs = env.references()
    assert all(refs[f"PEX-{int(p)}"] == 0 for p in fees["pex_id"])  # not written with an account never shown
    assert all(refs[f"PEX-{int(p)}"] == 1 for p in purchases["pex_id"])
    items = {it["pex_id"]: it for it in env.conn.store.items(run["id"])}
    assert all("preview again" in items[int(p)]["reason"] for p in fees["pex_id"])


def test_each_item_keeps_its_rows_preview_status_and_the_summary_says_them(sandbox):
    from pexxero.history import run_tally, tally_line

    preview = sandbox.conn.preview()
    shown = dict(zip(preview.frame["pex_id"].dropna().astype(int), preview.frame["status"]))
    run = run_sync(sandbox.conn)
    items = sandbox.conn.run_items(run["id"])
    left = [it for it in items if it["outcome"] == models.ITEM_SKIPPED]
    assert left and all(it["status"] == shown[it["pex_id"]] for it in left)
    counts = dict(run_tally(sandbox.conn.run_tally(run["id"]))["left alone"])
    for status in (models.SKIPPED, models.BLOCKED):
        assert counts[status[:1].upper() + status[1:]] == sum(1 for s in shown.values() if s == status)
    assert f"Skipped {counts['Skipped']:,}" in tally_line(sandbox.conn.run_tally(run["id"]))
