"""The Sync page (AppTest): no preview, SYNC starts a background run, a run mid-way with CANCEL, RETRY FAILED."""

from page_helpers import app, button, fake_run, no_exception, progress_text, set_up, texts, wait_for_run

from pexxero import models


def test_needs_connections_then_a_preview(page_env, doubles):
    at = app("sync").run()
    no_exception(at)
    assert "connect PEX" in texts(at)
    set_up(page_env, doubles)
    at = app("sync").run()
    no_exception(at)
    assert "No preview yet" in texts(at)
    assert button(at, "SYNC").disabled and button(at, "CANCEL").disabled


def test_sync_starts_a_background_run_that_the_page_follows(page_env, doubles):
    conn = set_up(page_env, doubles)
    conn.preview()
    at = app("sync").run()
    assert "No sync has run yet." in texts(at)
    button(at, "SYNC").click().run()
    no_exception(at)
    run = conn.history()[0]
    assert run["mode"] == "sync"
    finished = wait_for_run(page_env, run["id"])
    assert finished["status"] == models.SUCCEEDED and finished["written"] > 0
    at = app("sync").run()  # a fresh session (a reload) finds the run
    no_exception(at)
    assert f"Run {run['id']}" in texts(at) and "Item outcomes" in texts(at)
    assert {m.label: m.value for m in at.metric}["Created"] == str(finished["written"])
    assert not button(at, "SYNC").disabled


def test_mid_sync_shows_progress_and_cancel_sets_the_flag(page_env, doubles):
    conn = set_up(page_env, doubles)
    conn.preview()
    run_id = fake_run(conn, models.RUNNING, [(1, models.CREATED), (2, models.CREATED), (3, models.ITEM_FAILED),
                                           (4, models.PLANNED), (5, models.SENDING)],
                      to_write=5, step="writing to Xero: 3 of 5")
    at = app("sync").run()
    no_exception(at)
    assert progress_text(at) == "writing to Xero: 3 of 5 — 3 of 5 done"
    assert {m.label: m.value for m in at.metric}["Waiting"] == "2"
    assert button(at, "SYNC").disabled and not button(at, "CANCEL").disabled
    button(at, "CANCEL").click().run()
    no_exception(at)
    assert conn.store.cancel_requested(run_id)
    assert "cancel requested" in texts(at)


def test_after_a_partial_run_retry_failed_starts_a_retry(page_env, doubles):
    conn = set_up(page_env, doubles)
    conn.preview()
    fake_run(conn, models.PARTIAL, [(1, models.CREATED), (2, models.ITEM_FAILED), (3, models.ITEM_SKIPPED)], to_write=2,
             message="1 of 2 could not be written: see each item's message from Xero")
    at = app("sync").run()
    no_exception(at)
    assert "1 of 2 could not be written" in texts(at)
    outcomes = at.dataframe[0].value
    assert outcomes.set_index("PEX id").loc[2, "Why"] == "Xero said: Account code '999' is not a valid code"
    button(at, "RETRY FAILED").click().run()
    no_exception(at)
    retry = conn.history()[0]
    assert retry["mode"] == "retry_failed"
    assert wait_for_run(page_env, retry["id"])["status"] in models.FINISHED


def test_receipt_outcomes_and_counts_are_shown_after_a_run(page_env, doubles):
    conn = set_up(page_env, doubles)
    conn.preview()
    run_id = fake_run(conn, models.PARTIAL, [(1, models.CREATED), (2, models.CREATED)], to_write=2,
                      message="2 written to Xero; receipts attached: 1, not attached: 1")
    with conn.store.transaction():
        conn.store.add_receipt(run_id, 1, "aaa111", models.RECEIPT_ATTACHED, file_name="aaa111.png")
        conn.store.add_receipt(run_id, 2, "bbb222", models.RECEIPT_FAILED,
                         "not sent: the file is 11.0 MB and Xero takes attachments up to 10 MB")
    conn.store.update_run(run_id, receipts_to_send=2, receipts_attached=1, receipts_failed=1)
    at = app("sync").run()
    no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Receipts attached"] == "1" and metrics["Receipts not attached"] == "1"
    assert "Receipt outcomes" in texts(at)
    receipts = at.dataframe[1].value.set_index("Receipt")
    assert receipts.loc["bbb222", "Outcome"] == "failed" and "10 MB" in receipts.loc["bbb222", "Why"]


def test_the_progress_bar_is_not_full_while_receipts_are_sent(page_env, doubles):
    conn = set_up(page_env, doubles)
    conn.preview()
    run_id = fake_run(conn, models.RUNNING, [(1, models.CREATED), (2, models.CREATED)], to_write=2,
                      step="attaching receipts: 1 of 4")
    conn.store.update_run(run_id, receipts_to_send=4, receipts_attached=1)
    at = app("sync").run()
    no_exception(at)
    assert progress_text(at) == "attaching receipts: 1 of 4 — 2 of 2 records, 1 of 4 receipts done"
    bars = [e for e in at if type(e).__name__ == "Progress"]
    assert bars[0].proto.value == 50  # (2 records + 1 receipt) of 6


def test_what_a_run_left_alone_is_counted_in_previews_words(page_env, doubles):
    """Not one "Skipped" for already-synced and blocked rows alike: the Preview page's statuses and counts."""
    conn = set_up(page_env, doubles)
    conn.preview()
    fake_run(conn, models.SUCCEEDED, [(1, models.CREATED, models.NEW), (2, models.ITEM_SKIPPED, models.SYNCED),
                                      (3, models.ITEM_SKIPPED, models.SYNCED), (4, models.ITEM_SKIPPED, models.SKIPPED),
                                      (5, models.ITEM_SKIPPED, models.BLOCKED)], to_write=1,
             message="1 written to Xero")
    at = app("sync").run()
    no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Created"], metrics["Synced"], metrics["Skipped"], metrics["Blocked"]) == ("1", "2", "1", "1")
    assert metrics["Possible duplicate"] == "0"
    outcomes = at.dataframe[0].value.set_index("PEX id")
    assert outcomes.loc[2, "Outcome"] == "synced" and outcomes.loc[5, "Outcome"] == "blocked"
    assert outcomes.loc[1, "Amount"] == "-13,500.00"  # as the Preview page writes amounts
    plan = conn.saved_plan()
    new = sum(1 for item in plan["items"] if item["status"] == models.NEW)
    assert f"{new:,} new to write" in texts(at) and "rows to consider" not in texts(at)


def test_a_cancelled_run_says_so_once(page_env, doubles):
    conn = set_up(page_env, doubles)
    conn.preview()
    fake_run(conn, models.CANCELLED, [(1, models.CREATED), (2, models.PLANNED)], to_write=2,
             message="cancelled by the user after the request in flight")
    at = app("sync").run()
    no_exception(at)
    assert texts(at).casefold().count("cancelled by the user") == 1
    assert "cancelled by the user" not in progress_text(at).casefold()
