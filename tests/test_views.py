"""pexxero.views: the numbers and words the dashboard shows, from hand-made preview frames and run rows."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pandas as pd

from pexxero import views
from pexxero import models
from pexxero.connection import NotConnected
from pexxero.models import STATUSES
from pexxero.clients.pex import PexAuthError
from pexxero.clients.xero import XeroSessionFailed


def frame() -> pd.DataFrame:
    rows = [
        # pex_id, date, kind, amount, merchant, status, account, xero_amount, differences
        (1, date(2026, 6, 1), "purchase", Decimal("-10.10"), "Home Depot", "new", "429", None, ""),
        (2, date(2026, 6, 2), "purchase", Decimal("-0.20"), "Shell", "new", "449", None, ""),
        (3, date(2026, 6, 9), "purchase", Decimal("-5.00"), "Home Depot", "changed", "429", Decimal("10.00"),
         "amount: Xero 10.00, PEX 5.00"),
        (4, date(2026, 6, 9), "fee", Decimal("-49.00"), "PEX Platform Fee", "possible duplicate", "404", None, ""),
        (5, date(2026, 6, 9), "rebate", Decimal("3.40"), "PEX Rebate", "synced", "260", Decimal("3.40"), ""),
        (6, date(2026, 6, 9), "dispute", Decimal("1.25"), "Shell", "synced", "449", Decimal("1.25"), ""),
        # a marked Xero SPEND with no PEX transaction: the diff signs Xero's total as money out
        (None, date(2026, 6, 10), "", Decimal("-19.99"), "", "xero only", "", Decimal("19.99"), ""),
    ]
    cols = ["pex_id", "date", "kind", "amount", "merchant", "status", "account", "xero_amount", "differences"]
    f = pd.DataFrame(rows, columns=cols)
    f["pex_id"] = f["pex_id"].astype(object)
    for c in ("cardholder", "reason", "contact", "tracking", "xero_id"):
        f[c] = ""
    f.loc[0, "cardholder"] = "Maria Alvarez"
    return f


def test_status_totals_are_money_out_money_in_and_net_per_status_exact_to_the_cent():
    totals = {t["status"]: t for t in views.status_totals(frame())}
    assert list(totals) == list(STATUSES)
    new, synced = totals["new"], totals["synced"]
    assert (new["count"], new["money_out"], new["money_in"], new["net"]) == (
        2, Decimal("10.30"), Decimal("0"), Decimal("-10.30"))
    assert (synced["count"], synced["money_out"], synced["money_in"], synced["net"]) == (
        2, Decimal("0"), Decimal("4.65"), Decimal("4.65"))
    assert totals["xero only"]["net"] == Decimal("-19.99")  # Xero's amount: there is no PEX one
    assert totals["blocked"] == {"status": "blocked", "count": 0, "money_out": Decimal("0"),
                                 "money_in": Decimal("0"), "net": Decimal("0")}
    shown = views.totals_table(frame()).set_index("Status")
    assert shown.loc["new"].tolist() == [2, "10.30", "0.00", "-10.30"]
    assert "Net = money in - money out" in views.TOTALS_DEFINITION


def test_amount_by_status_draws_the_signed_net_per_status_with_its_colour():
    chart = views.amount_by_status(frame()).set_index("status")
    assert chart.loc["new", "net"] == -10.30 and chart.loc["new", "net change"] == "-10.30"
    assert (chart.loc["synced", "money out"], chart.loc["synced", "money in"]) == ("0.00", "4.65")
    assert chart.loc["changed", "colour"] == views.STATUS_COLOURS["changed"]


def test_spend_by_account_groups_purchases_by_week_and_account():
    spend = views.spend_by_account(frame())
    assert set(spend["account"]) == {"429", "449"}  # the fee is not a purchase
    week1 = spend[(spend["period"] == date(2026, 6, 1)) & (spend["account"] == "429")]
    assert week1["spend"].tolist() == [10.10]
    assert spend[spend["period"] == date(2026, 6, 8)]["spend"].tolist() == [5.0]


def test_filter_by_status_kind_and_text():
    f = frame()
    assert views.filter_rows(f, ["new"]).shape[0] == 2
    assert views.filter_rows(f, [], ["fee"])["merchant"].tolist() == ["PEX Platform Fee"]
    assert views.filter_rows(f, text="home depot")["pex_id"].tolist() == [1, 3]
    assert views.filter_rows(f, text="maria").shape[0] == 1  # cardholder
    assert views.filter_rows(f, text="xero 10.00").shape[0] == 1  # differences
    assert views.filter_rows(f, ["new"], text="shell")["pex_id"].tolist() == [2]


def test_table_marks_releases_only_on_releasable_rows():
    shown = views.table(frame().iloc[:4], {3: "update", 1: "push"})
    assert shown["released"].tolist() == ["", "", "update", ""]
    assert shown["amount"].tolist()[0] == "-10.10"
    assert views.releasable(frame())["action"].tolist() == ["update", "push"]


def test_built_ago_words():
    now = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
    assert views.built_ago(now - timedelta(seconds=20), now) == "built just now"
    assert views.built_ago(now - timedelta(minutes=1), now) == "built 1 minute ago"
    assert views.built_ago(now - timedelta(minutes=7), now) == "built 7 minutes ago"
    assert views.built_ago(now - timedelta(hours=5), now) == "built 5 hours ago"


def test_run_progress_while_running_and_after():
    run = {"status": models.RUNNING, "to_write": 10, "step": "writing to Xero", "message": ""}
    state = views.run_progress(run, {models.CREATED: 3, models.ITEM_FAILED: 1, models.PLANNED: 6, models.ITEM_SKIPPED: 4})
    assert state["fraction"] == 0.4 and state["active"] and state["waiting"] == 6
    assert state["text"] == "writing to Xero — 4 of 10 done"
    assert views.run_progress({"status": models.RUNNING, "to_write": 0, "step": ""}, {})["fraction"] == 0.0
    done = views.run_progress({"status": models.PARTIAL, "to_write": 10, "message": "1 of 10 could not be written"},
                              {models.CREATED: 9, models.ITEM_FAILED: 1})
    assert done["fraction"] == 1.0 and not done["active"] and done["text"] == "10 of 10 records done"
    assert done["alert"] == "1 of 10 could not be written"  # said once, in the alert, not in the bar as well


def test_a_cancelled_run_says_cancelled_once():
    state = views.run_progress({"status": models.CANCELLED, "to_write": 5,
                                "message": "cancelled by the user after the request in flight"},
                               {models.CREATED: 2, models.PLANNED: 3})
    said = " ".join([state["text"], state["alert"]]).casefold()
    assert said.count("cancelled") == 1  # the badge shows the status; never "Cancelled: cancelled…" and again
    assert state["text"] == "2 of 5 records done"
    assert state["alert"] == "Cancelled by the user after the request in flight"
    ok = views.run_progress({"status": models.SUCCEEDED, "to_write": 0, "message": "nothing new to write"}, {})
    assert ok["text"] == "Succeeded: nothing new to write" and ok["alert"] == ""


def test_run_progress_covers_the_receipts_after_the_records():
    # every record written, receipts still being sent: not 100%
    run = {"status": models.RUNNING, "to_write": 10, "step": "attaching receipts: 5 of 10", "message": "",
           "receipts_to_send": 10, "receipts_attached": 4, "receipts_failed": 1}
    state = views.run_progress(run, {models.CREATED: 10})
    assert state["fraction"] == 0.75
    assert state["text"] == "attaching receipts: 5 of 10 — 10 of 10 records, 5 of 10 receipts done"
    # records written, receipts not yet counted (PEX's lists being read): still not 100% while running
    reading = {"status": models.RUNNING, "to_write": 10, "step": "reading receipts in PEX: 3 of 40 records",
               "message": ""}
    assert views.run_progress(reading, {models.CREATED: 10})["fraction"] < 1.0
    done = views.run_progress({**run, "status": models.SUCCEEDED, "receipts_attached": 10, "receipts_failed": 0},
                              {models.CREATED: 10})
    assert done["fraction"] == 1.0 and done["receipts_attached"] == 10


def test_retry_failed_only_after_a_finished_run_with_failures():
    assert views.can_retry_failed({"status": models.PARTIAL}, {models.ITEM_FAILED: 2})
    assert views.can_retry_failed({"status": models.INTERRUPTED}, {models.PLANNED: 2})
    assert not views.can_retry_failed({"status": models.SUCCEEDED}, {models.CREATED: 5})
    assert not views.can_retry_failed({"status": models.RUNNING}, {models.ITEM_FAILED: 2})
    assert not views.can_retry_failed(None, {})


def test_runs_over_time_sorted_by_start():
    rows = [{"id": 2, "started_at": "2026-06-02T10:00:00+00:00", "status": "partial", "written": 3, "failed": 1},
            {"id": 1, "started_at": "2026-06-01T10:00:00+00:00", "status": "succeeded", "written": 5, "failed": 0},
            {"id": 3, "started_at": None, "queued_at": None, "status": "queued"}]
    over = views.runs_over_time(rows)
    assert over["run"].tolist() == [1, 2] and over["written"].tolist() == [5, 3]


def test_explain_speaks_plainly_and_never_leaks_the_text_of_unknown_errors():
    assert "Connect page" in views.explain(XeroSessionFailed())
    assert "PEX refused the API token" in views.explain(PexAuthError(401, "Token expired"))
    assert views.explain(NotConnected("PEX is not connected: add it")).startswith("PEX is not connected")
    secret = views.explain(RuntimeError("refresh_token=abc123"))
    assert "abc123" not in secret and "RuntimeError" in secret


def test_accounts_are_labelled_with_their_names_and_dates_narrow_the_rows():
    names = {"429": "General Expenses", "090": "Business Bank", "091": "PEX Cash"}
    assert views.account_label("429", names) == "429 · General Expenses"
    assert views.account_label("090 → 091", names) == "090 · Business Bank → 091 · PEX Cash"
    assert views.account_label("429, 999", names) == "429 · General Expenses, 999"
    frame = pd.DataFrame({"pex_id": [1, 2, 3], "date": [date(2026, 6, 1), date(2026, 6, 2), None],
                          "status": ["new"] * 3, "kind": ["purchase"] * 3})
    for column in ("merchant", "cardholder", "reason", "differences", "account", "contact", "xero_id"):
        frame[column] = ""
    narrowed = views.filter_rows(frame, dates=(date(2026, 6, 2), date(2026, 6, 30)))
    assert narrowed["pex_id"].tolist() == [2]
