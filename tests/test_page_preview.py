"""The Preview page (AppTest): empty states, metrics per status, filters, per-row release, the CSV download, the
same totals as the CLI and the CSV, how fresh the PEX copy is and the whole-range re-read."""

import os
import re
import subprocess
import sys
from decimal import Decimal

import pandas as pd
from page_helpers import ROOT, app, button, connected, no_exception, set_up, texts

from pages.common import context
from pexxero import views
from pexxero.models import STATUSES


def test_not_connected_and_not_set_up(page_env, doubles):
    at = app("preview").run()
    no_exception(at)
    assert "connect PEX and connect Xero" in texts(at)
    connected(page_env, doubles)
    at = app("preview").run()
    assert "Connector Setup" in texts(at)


def test_preview_metrics_filters_release_and_csv(page_env, doubles):
    conn = set_up(page_env, doubles)
    at = app("preview").run()
    no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert list(metrics) == ["New", "Synced", "Changed", "Voided", "Possible duplicate", "Skipped", "Blocked",
                             "Xero only"]
    assert int(metrics["Possible duplicate"]) > 0 and int(metrics["New"]) > 0
    total = sum(int(v.replace(",", "")) for v in metrics.values())
    assert f"{total} of {total} rows" in texts(at)
    assert at.get("download_button"), "the CSV download is offered"

    at.multiselect(key="pv_status").select("possible duplicate").run()
    no_exception(at)
    duplicates = int(metrics["Possible duplicate"])
    assert f"{duplicates} of {total} rows" in texts(at)

    row = at.selectbox(key="pv_release_row").value
    button(at, "RELEASE (push)").click().run()
    no_exception(at)
    assert conn.releases() == {row: "push"}
    assert "Released: the next sync will push it" in texts(at)
    button(at, "UNDO RELEASE").click().run()
    assert conn.releases() == {}


def test_changed_rows_release_as_updates_and_text_search(page_env, doubles):
    conn = set_up(page_env, doubles)
    at = app("preview").run()
    at.multiselect(key="pv_status").select("changed").run()
    at.text_input(key="pv_text").input("xero").run()  # every changed row names what differs from Xero
    no_exception(at)
    row = at.selectbox(key="pv_release_row").value
    button(at, "RELEASE (update)").click().run()
    assert conn.releases() == {row: "update"}


def test_refresh_rebuilds_and_a_kept_preview_is_reused(page_env, doubles):
    set_up(page_env, doubles)
    at = app("preview").run()
    first = context._previews()["by_db"][f"{page_env}#default"].built_at
    at = app("preview").run()  # a new session (a reload) finds the kept preview
    assert context._previews()["by_db"][f"{page_env}#default"].built_at == first
    button(at, "Refresh").click().run()
    no_exception(at)
    assert context._previews()["by_db"][f"{page_env}#default"].built_at > first


def _cli_totals(stdout: str) -> dict[str, tuple[int, Decimal, Decimal, Decimal]]:
    rows = {}
    for line in stdout.splitlines():
        match = re.fullmatch(r"([a-z ]+?)\s{2,}(\d+)\s+(-?[\d,]+\.\d\d)\s+(-?[\d,]+\.\d\d)\s+(-?[\d,]+\.\d\d)", line)
        if match:
            status, count, *money = match.groups()
            rows[status] = (int(count), *(Decimal(m.replace(",", "")) for m in money))
    return rows


def test_csv_cli_and_page_give_the_same_totals_to_the_cent(page_env, doubles, tmp_path):
    set_up(page_env, doubles)
    csv_path = tmp_path / "reconciliation.csv"
    env = {**os.environ, **doubles.env, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "pexxero", "--db", page_env, "preview", "--csv", str(csv_path)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert views.TOTALS_DEFINITION in done.stdout
    cli = _cli_totals(done.stdout)
    assert list(cli) == list(STATUSES)

    csv = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    from_csv = {}
    for status in STATUSES:
        amounts = [Decimal(a) for a in csv.loc[csv["status"] == status, "amount"]]
        from_csv[status] = (len(amounts), sum((-a for a in amounts if a < 0), Decimal("0")),
                            sum((a for a in amounts if a > 0), Decimal("0")), sum(amounts, Decimal("0")))
    assert cli == from_csv
    assert cli["xero only"][0] > 0 and cli["new"][2] > 0 and cli["new"][1] > 0  # both directions are exercised

    at = app("preview").run()
    no_exception(at)
    assert views.TOTALS_DEFINITION in texts(at)
    for metric in at.metric:
        count, out, money_in, net = cli[metric.label.lower()]
        assert (metric.value, metric.proto.delta) == (f"{count:,}", f"net {net:,.2f}")
        assert metric.proto.help == f"Money out {out:,.2f} · money in {money_in:,.2f}"
    shown = next(d.value for d in at.dataframe if "Money out" in d.value.columns).set_index("Status")
    for status, (count, out, money_in, net) in cli.items():
        assert shown.loc[status].tolist() == [count, f"{out:,.2f}", f"{money_in:,.2f}", f"{net:,.2f}"]

    at.multiselect(key="pv_status").select("xero only").run()  # a xero only row shows Xero's amount, signed
    table = at.dataframe[-1].value
    assert set(table["status"]) == {"xero only"}
    assert sum(Decimal(a.replace(",", "")) for a in table["amount"]) == cli["xero only"][3] != 0


def test_the_freshness_of_the_pex_copy_and_the_whole_range_re_read(page_env, doubles):
    conn = set_up(page_env, doubles)
    at = app("preview").run()
    no_exception(at)
    assert "PEX copy read " in texts(at) and "(whole range: today " in texts(at)
    first = conn.pex_freshness()["full_at"]
    reads = sum(1 for r in doubles.pex.requests if "allcardholdertransactions" in r[1].lower())
    button(at, "Re-read all of PEX").click().run()
    no_exception(at)
    assert conn.pex_freshness()["full_at"] > first
    assert sum(1 for r in doubles.pex.requests if "allcardholdertransactions" in r[1].lower()) == reads + 1
    assert context._previews()["by_db"][f"{page_env}#default"].built_at > first


def test_a_voided_row_stands_out_and_is_released_for_removal(page_env, doubles):
    conn = set_up(page_env, doubles)
    at = app("preview").run()
    no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Voided"]) >= 1
    assert any("voided in PEX, still in Xero" in str(w.value) for w in at.warning)
    at.multiselect(key="pv_status").select("voided").run()
    no_exception(at)
    row = at.selectbox(key="pv_release_row").value
    assert any(str(t.value).startswith("voided in PEX, still in Xero") for t in at.text)
    button(at, "RELEASE (remove)").click().run()
    no_exception(at)
    assert conn.releases() == {row: "remove"}
    assert "Released: the next sync will delete its record in Xero" in texts(at)


def _metric_rows(node) -> list[int]:
    """How many columns each row of columns holding metrics has, top to bottom."""
    from streamlit.testing.v1.element_tree import Column

    children = list(getattr(node, "children", {}).values())
    if children and all(isinstance(c, Column) for c in children):
        if any(True for c in children for _ in c.metric):
            return [len(children)]
        return []
    return [n for c in children for n in _metric_rows(c)]


def test_metrics_fit_charts_name_accounts_and_every_row_has_a_kind(page_env, doubles):
    from pexxero.models import SHOWN_KINDS

    set_up(page_env, doubles)
    at = app("preview").run()
    no_exception(at)
    # eight metrics in two rows of four, so "Possible duplicate" is not cut to "Possible dup…"
    assert _metric_rows(at.main) == [4, 4]
    table = at.dataframe[-1].value
    assert "" not in set(table.loc[table["status"] != "xero only", "kind"])  # card funding is named too
    assert "card funding" in set(table["kind"])
    at.multiselect(key="pv_kind").select("card funding").run()
    no_exception(at)
    assert set(at.dataframe[-1].value["kind"]) == {"card funding"} and "card funding" in SHOWN_KINDS
    purchase = table[(table["kind"] == "purchase") & (table["account"] != "")].iloc[0]
    assert re.fullmatch(r"\w+ · .+", purchase["account"].split(", ")[0]), purchase["account"]


def test_the_date_range_narrows_without_going_back_to_setup(page_env, doubles):
    set_up(page_env, doubles)
    at = app("preview").run()
    preview = context._previews()["by_db"][f"{page_env}#default"]
    day = sorted(d for d in preview.frame["date"] if d is not None)[len(preview.frame) // 2]
    key = next(d.key for d in at.date_input if d.key and d.key.startswith("pv_dates_"))
    at.date_input(key=key).set_value((day, day)).run()
    no_exception(at)
    table = at.dataframe[-1].value
    assert len(table) and set(table["date"]) == {str(day)}
    assert f"{len(table):,} of {len(preview.frame):,} rows" in texts(at)


def test_several_rows_are_released_at_once(page_env, doubles):
    conn = set_up(page_env, doubles)
    at = app("preview").run()
    at.multiselect(key="pv_status").select("possible duplicate").select("changed").run()
    no_exception(at)
    shown = at.dataframe[-1].value
    expected = {int(p): {"possible duplicate": "push", "changed": "update"}[s]
                for p, s in zip(shown["pex_id"], shown["status"])}
    assert len(expected) >= 2
    at.checkbox(key="pv_release_all").check().run()
    button(at, f"RELEASE {len(expected):,} SELECTED").click().run()
    no_exception(at)
    assert conn.releases() == expected
    button(at, f"UNDO ALL {len(expected):,} RELEASES IN THIS VIEW").click().run()
    no_exception(at)
    assert conn.releases() == {}
    two = sorted(expected)[:2]
    at.multiselect(key="pv_release_many").select(two[0]).select(two[1]).run()
    button(at, "RELEASE 2 SELECTED").click().run()
    no_exception(at)
    assert conn.releases() == {p: expected[p] for p in two}


def test_the_csv_download_is_utf8_with_a_byte_order_mark(page_env, doubles):
    set_up(page_env, doubles)
    no_exception(app("preview").run())
    preview = context._previews()["by_db"][f"{page_env}#default"]
    data = preview.csv_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and "→".encode() not in data
