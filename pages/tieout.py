"""Tie-out: PEX against Xero's PEX Cash, day by day and at the closing balance, every difference explained, and
whether the period is ready to lock. Reads PEX and Xero; writes nothing. The page only renders what
`pexxero.tieout` and `pexxero.tieout_views` return; every PEX or Xero value is shown as text.
"""

import io

import altair as alt
import streamlit as st

from pages.common import context, widgets
from pexxero import tieout_views as tv
from pexxero.connection import today_eastern
from pexxero.tieout import tie_out
from pexxero.tieout_explain import CAUSES

widgets.header("Tie-out")
conn = context.connection()
if not widgets.need_connections(conn):
    st.stop()

today = today_eastern()
first, last = conn.date_range(conn.setup(), today)
choices = tv.month_choices(first, min(last, today))
pick, month_box, range_box, button = st.columns([1, 2, 2, 1])
mode = pick.radio("Period", ["Month", "Range"], key="to_mode", horizontal=False)
if mode == "Month":
    default = tv.default_month(today, choices)
    month = month_box.selectbox("Month", choices, index=choices.index(default) if default else 0, key="to_month")
    period = {"month": month}
else:
    chosen = range_box.date_input("From and to", (first, min(last, today)), key="to_range")
    period = {"start": chosen[0], "end": chosen[-1]} if chosen else {}
run = button.button("Tie out", type="primary", width="stretch", key="to_run",
                    help="Read PEX (and its balances) and Xero's PEX Cash with its Bank Summary; nothing is written")

key = (conn.tenant_id(), tuple(sorted((k, str(v)) for k, v in period.items())))
kept = st.session_state.get("tieout")
tie = kept[1] if kept and kept[0] == key else None
if run or tie is None:
    with widgets.guard(), st.spinner("Reading PEX and Xero…"):
        tie = tie_out(conn, **period)
        st.session_state["tieout"] = (key, tie)
if tie is None:
    st.stop()

st.caption(f"{tie.start} to {tie.end} · PEX against Xero's PEX Cash account ({widgets.plain(tie.pex_cash)})")
verdict = tie.verdict
if verdict.ready:
    st.success(widgets.plain(verdict.sentence()), icon=":material/lock:")
else:
    st.warning(widgets.plain(verdict.sentence()), icon=":material/lock_open:")
    st.dataframe(tv.blockers_table(tie), hide_index=True, width="stretch",
                 column_config={"how to clear it": st.column_config.TextColumn(width="large")})

for column, (label, value) in zip(st.columns(4), tv.summary_metrics(tie)):
    column.metric(label, value, border=True)
st.text("\n".join(tie.sentences()[:-1]))

# ------------------------------------------------------------------------------------------ the chart

lines = tv.balance_lines(tie)
st.markdown("**PEX and Xero's PEX Cash, each day** (a red mark: the day does not tie)")
base = alt.Chart(lines).encode(x=alt.X("date:T", title=None))
drawn = base.mark_line().encode(
    y=alt.Y("balance:Q", title="Balance", scale=alt.Scale(zero=False)), color=alt.Color("side:N", title=None),
    tooltip=[alt.Tooltip("date:T"), "side", alt.Tooltip("shown", title="balance"), "difference"])
marks = base.transform_filter(alt.datum.differs).mark_point(color="#d62728", size=60, filled=True).encode(
    y="balance:Q", tooltip=[alt.Tooltip("date:T"), "side", alt.Tooltip("shown", title="balance"), "difference"])
st.altair_chart(drawn + marks, width="stretch")

# ------------------------------------------------------------------------------------------ the items

table = tv.items_table(tie)
st.markdown("**What makes the difference**")
f1, f2, f3 = st.columns([2, 2, 3])
causes = f1.multiselect("Cause", [c for c in CAUSES if c in set(table["cause"])], key="to_cause")
statuses = f2.multiselect("Status", sorted(set(table["status"])), key="to_status")
text = f3.text_input("Search (id, date, reason…)", key="to_text")
shown = tv.filter_items(table, causes, statuses, text)
st.caption(f"{len(shown):,} of {len(table):,} items")
st.dataframe(shown, hide_index=True, width="stretch", height=380,
             column_config={"reason": st.column_config.TextColumn("Reason", width="large"),
                            "pex_id": st.column_config.TextColumn("PEX id"),
                            "xero_id": st.column_config.TextColumn("Xero id")})
with st.expander("Every day"):
    st.dataframe(tie.day_rows(), hide_index=True, width="stretch")


def tieout_csv(tie=tie) -> str:
    buffer = io.StringIO()
    tie.to_csv(buffer)
    return buffer.getvalue()


st.download_button("Download the tie-out (CSV)", tieout_csv, mime="text/csv", key="to_csv",
                   file_name=f"pexxero-tieout-{tie.start}-{tie.end}.csv")
