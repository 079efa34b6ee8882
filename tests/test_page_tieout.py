"""The Tie-out page (AppTest): the empty state, the verdict with what blocks it, the metrics, both balances per day
on one chart, the explaining items with filters, the CSV download, the same figures as the engine."""

from datetime import timedelta

from page_helpers import app, button, no_exception, set_up, texts

from pexxero.connection import today_eastern
from pexxero.tieout import tie_out


def test_not_connected_then_the_sandbox_tie_out(page_env, doubles):
    at = app("tieout").run()
    no_exception(at)
    assert "connect PEX and connect Xero" in texts(at)

    conn = set_up(page_env, doubles)
    at = app("tieout").run()
    no_exception(at)
    today = today_eastern()
    last = today.replace(day=1) - timedelta(days=1)
    assert at.selectbox(key="to_month").value == f"{last:%Y-%m}"  # the last whole month, the one to lock
    tie = tie_out(conn, month=f"{last:%Y-%m}", refresh=False)
    shown = texts(at)
    assert f"Not ready to lock up to {last.isoformat()}" in shown
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Days that tie"] == f"{sum(d.ties for d in tie.days)} of {len(tie.days)}"
    assert metrics["Closing difference"] == f"{tie.closing.difference:,.2f}"
    blockers = at.dataframe[0].value
    assert "not yet synced (new)" in set(blockers["what"]) and blockers["how to clear it"].str.len().min() > 0
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart"), "the balances chart is drawn"
    assert at.get("download_button"), "the CSV download is offered"

    items = at.dataframe[1].value
    total = len(tie.items) + len(tie.closing_items)
    assert len(items) == total and f"{total} of {total} items" in shown
    at.multiselect(key="to_cause").select("not yet synced").run()
    no_exception(at)
    chosen = at.dataframe[1].value
    assert 0 < len(chosen) < total and set(chosen["cause"]) == {"not yet synced"}
    assert f"{len(chosen)} of {total} items" in texts(at)

    at.radio(key="to_mode").set_value("Range").run()
    no_exception(at)
    button(at, "Tie out").click().run()
    no_exception(at)
    assert "Not ready to lock up to" in texts(at)
