"""`python -m pexxero history [--run N]` and `sync`'s exit codes, as a user (or cron) sees them."""

from __future__ import annotations

from dataclasses import replace

from pexxero import history, models
from pexxero.store import sync_tables
from pexxero.models import NEW

ITEM_COLUMNS = ["PEX id", "Date", "Kind", "Amount", "Outcome", "Xero id", "Why"]


def test_history_before_any_sync(sandbox):
    result = sandbox.cli("history")
    assert result.returncode == 0 and "No sync has run yet." in result.stdout


def test_sync_exit_codes_and_history_show_runs_and_each_items_outcome(sandbox):
    env = sandbox
    env.setup(purchases=replace(env.conn.setup().purchases, attachments=False))
    frame = env.conn.preview(refresh=True, save_plan=False).frame
    new = frame[frame["status"] == NEW]
    code = next(line.account_code for p in new["planned"] if p.record_type == "BankTransaction" for line in p.lines)
    to_write = len(new)

    # a partial run from the command line: an account is archived while the first batch is in flight
    partial = env.hold_then("PUT", "/BankTransactions", lambda: env.cli("sync"),
                            lambda: env.xero.archive_account(env.tenant_id, code), timeout=120)
    assert partial.returncode == 2, partial.stdout + partial.stderr
    assert partial.stdout.startswith("Run 1: Partial")

    result = env.cli("history")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["Run", "Started", "Ended", "Duration", "Status", "Fields", "Transactions", "Mode"]
    row = lines[2]
    run = env.conn.store.get_run(1)
    assert row.startswith("1 ") and "Partial" in row
    assert "2 / 2" in row  # tag fields synced / selected
    assert f"{run['written']} / {to_write}" in row
    assert "second" in row  # the duration, in words
    assert row.rstrip().endswith("Sync")  # the mode: an undo run says "Undo of run N"

    result = env.cli("history", "--run", "1")
    assert result.returncode == 0
    out = result.stdout.splitlines()
    for column in ITEM_COLUMNS:
        assert column in out[0]
    by_id = {line.split()[0]: line for line in out[2:]}
    items = env.conn.store.items(1)
    assert len(by_id) == len(items)
    failed = [it for it in items if it["outcome"] == models.ITEM_FAILED]
    created = [it for it in items if it["outcome"] == models.CREATED]
    skipped = [it for it in items if it["outcome"] == models.ITEM_SKIPPED]
    assert failed and created and skipped
    for it in failed:
        assert " failed " in by_id[str(it["pex_id"])]
        assert f"Account code '{code}' has been archived" in by_id[str(it["pex_id"])]
    for it in created:
        assert " created " in by_id[str(it["pex_id"])] and it["xero_id"] in by_id[str(it["pex_id"])]
    for it in skipped:  # said in the Preview page's word for the row (synced, skipped, blocked…)
        word = history.left_alone_word(it["status"])
        assert f" {word} " in by_id[str(it["pex_id"])] and it["reason"][:30] in by_id[str(it["pex_id"])]

    # the account is back: retry-failed pushes just those, exit 0
    with env.xero._lock:
        next(a for a in env.xero.books[env.tenant_id].accounts if a["Code"] == code)["Status"] = "ACTIVE"
    retry = env.cli("sync", "--retry-failed")
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert retry.stdout.startswith(f"Run 2: Succeeded — {len(failed)} of {len(failed)} written")
    result = env.cli("history")
    assert "Succeeded" in result.stdout.splitlines()[2] and result.stdout.splitlines()[2].startswith("2 ")

    nothing = env.cli("sync")
    assert nothing.returncode == 0 and "0 of 0 written" in nothing.stdout


def test_history_of_an_unknown_run(sandbox):
    result = sandbox.cli("history", "--run", "99")
    assert result.returncode == 1 and "There is no run 99." in result.stderr


def test_a_cancelled_or_interrupted_run_exits_1():
    from pexxero.sync import EXIT_CODES

    assert EXIT_CODES == {models.SUCCEEDED: 0, models.PARTIAL: 2, models.PAUSED: 3, models.FAILED: 1, models.CANCELLED: 1,
                          models.INTERRUPTED: 1}


def test_history_of_a_run_lists_its_receipts_with_outcome_and_xeros_words(sandbox):
    env = sandbox
    store = env.conn.store
    run_id = store.queue_run(env.conn.connection_id)
    store.update_run(run_id, status=models.PARTIAL, started_at=sync_tables.now_iso(), ended_at=sync_tables.now_iso())
    with store.transaction():
        store.add_receipt(run_id, 400000123, "aaa111", models.RECEIPT_ATTACHED, xero_parent_id="x-1")
        store.add_receipt(run_id, 400000124, "bbb222", models.RECEIPT_FAILED,
                         "Xero refused the request (HTTP 413): PayloadTooLarge")
    result = env.cli("history", "--run", str(run_id))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    start = lines.index("Receipts (2):")
    assert lines[start + 1].split() == ["PEX", "id", "Receipt", "Outcome", "Xero", "id", "Why"]
    assert "400000124" in lines[start + 3] and "failed" in lines[start + 3] and "PayloadTooLarge" in lines[start + 3]
    assert "400000123" in lines[start + 4] and "attached" in lines[start + 4]
