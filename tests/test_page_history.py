"""The History page (AppTest): empty, the Sync History table, REFRESH, the drill-down into one run's items."""

from page_helpers import app, button, connected, fake_run, no_exception, texts

from pexxero import models


def test_no_runs_yet(page_env, doubles):
    at = app("history").run()
    no_exception(at)
    assert "connect PEX" in texts(at)
    connected(page_env, doubles)
    at = app("history").run()
    no_exception(at)
    assert "No sync has run yet" in texts(at)


def test_table_refresh_and_drill_down(page_env, doubles):
    conn = connected(page_env, doubles)
    first = fake_run(conn, models.SUCCEEDED, [(11, models.CREATED), (12, models.CREATED)], to_write=2,
                     message="2 written to Xero")
    at = app("history").run()
    no_exception(at)
    table = at.dataframe[0].value
    assert list(table.columns[:7]) == ["Run", "Started", "Ended", "Duration", "Status", "Fields", "Transactions"]
    assert table.iloc[0]["Transactions"] == "2 / 2" and table.iloc[0]["Status"] == "Succeeded"

    second = fake_run(conn, models.PARTIAL, [(21, models.CREATED), (22, models.ITEM_FAILED)], to_write=2)
    button(at, "REFRESH").click().run()
    no_exception(at)
    assert at.dataframe[0].value["Run"].tolist() == [second, first]
    assert "Runs over time" in texts(at)

    at.selectbox(key="history_run").select(first).run()
    items = at.dataframe[1].value
    assert items["PEX id"].tolist() == [11, 12] and set(items["Outcome"]) == {"created"}
    at.selectbox(key="history_run").select(second).run()
    items = at.dataframe[1].value.set_index("PEX id")
    assert items.loc[22, "Outcome"] == "failed" and "not a valid code" in items.loc[22, "Why"]


def test_a_runs_receipts_are_listed_with_their_outcome_and_xeros_words_as_text(page_env, doubles):
    conn = connected(page_env, doubles)
    run_id = fake_run(conn, models.PARTIAL, [(31, models.CREATED), (32, models.ITEM_SKIPPED)], to_write=1)
    words = "Xero refused the request (HTTP 400): **A document** can have at most 10 attachments."
    with conn.store.transaction():
        conn.store.add_receipt(run_id, 31, "aaa111", models.RECEIPT_ATTACHED, file_name="aaa111.png")
        conn.store.add_receipt(run_id, 32, "bbb222", models.RECEIPT_FAILED, words)
        conn.store.add_receipt(run_id, 32, "ccc333", models.RECEIPT_WAITING, "PEX reports the receipt as NotLoaded")
    conn.store.update_run(run_id, receipts_attached=1, receipts_failed=1)
    at = app("history").run()
    no_exception(at)
    assert at.dataframe[0].value.iloc[0]["Receipts"] == "1"
    receipts = at.dataframe[2].value
    assert receipts["Outcome"].tolist() == ["failed", "waiting", "attached"]  # what needs a look first
    assert receipts.iloc[0]["Why"] == words  # Xero's own words, in a table cell: text, not markdown
    assert "1 failed" in texts(at) and "1 attached" in texts(at)


def test_times_name_their_zone_and_amounts_and_outcomes_read_as_on_preview(page_env, doubles):
    conn = connected(page_env, doubles)
    fake_run(conn, models.SUCCEEDED, [(41, models.CREATED, models.NEW), (42, models.ITEM_SKIPPED, models.SYNCED),
                                      (43, models.ITEM_SKIPPED, models.BLOCKED)], to_write=1)
    at = app("history").run()
    no_exception(at)
    row = at.dataframe[0].value.iloc[0]
    assert row["Started"].split()[-1].isalpha() and row["Ended"].split()[-1] == row["Started"].split()[-1]
    items = at.dataframe[1].value.set_index("PEX id")
    assert items.loc[41, "Amount"] == "-13,500.00"
    assert (items.loc[42, "Outcome"], items.loc[43, "Outcome"]) == ("synced", "blocked")
    assert "1 synced" in texts(at) and "1 blocked" in texts(at)
