"""Sync History, as the vendor guide shows it, a chart of runs over time, and one run's items."""

import altair as alt
import pandas as pd
import streamlit as st

from pages.common import context, undo, widgets
from pexxero import history, views

widgets.header("Sync History")
conn = context.connection()
if not conn.pex_connected() and not conn.history(1):
    widgets.need_connections(conn)
    st.stop()

if st.button("REFRESH"):
    st.rerun()

rows = history.run_rows(conn)
if not rows:
    st.info("No sync has run yet. Start one on the Sync page.")
    st.stop()

table = pd.DataFrame(rows)
st.dataframe(table[["Run", "Started", "Ended", "Duration", "Status", "Fields", "Transactions", "Receipts", "Mode",
                    "Message"]],
             hide_index=True, width="stretch", column_config={"Message": st.column_config.TextColumn(width="large")})

over_time = views.runs_over_time(conn.history())
if len(over_time):
    st.markdown("**Runs over time** (transactions written per run)")
    # points, not bars: a bar on a time axis has no width, and a single run would not show at all
    chart = alt.Chart(over_time).mark_circle(size=140, opacity=0.9).encode(
        x=alt.X("started:T", title="Started"), y=alt.Y("written:Q", title="Written"),
        color=alt.Color("status:N", scale=alt.Scale(domain=list(views.RUN_COLOURS),
                                                    range=list(views.RUN_COLOURS.values())),
                        legend=alt.Legend(orient="bottom", labelLimit=0)),  # at the right it is cut off
        tooltip=["run", "started", "status", "written", "failed"],
    )
    st.altair_chart(chart, width="stretch")

st.subheader("Run details")
ids = [r["Run"] for r in rows]
run_id = st.selectbox("Run", ids, key="history_run",
                      format_func=lambda i: next(f"Run {i} · {r['Started']} · {r['Status']}" for r in rows
                                                 if r["Run"] == i))
undo.undo_button(conn, conn.run(run_id))
items = history.item_rows(conn, run_id)
if not items:
    st.caption("This run has no items (it stopped before planning, or had nothing to consider).")
else:
    frame = pd.DataFrame(items)
    counts = frame["Outcome"].value_counts()
    st.caption(" · ".join(f"{n} {o}" for o, n in counts.items()))
    st.dataframe(frame, hide_index=True, width="stretch",
                 column_config={"PEX id": st.column_config.NumberColumn(format="%d")})
receipts = history.receipt_rows(conn, run_id) or []
if receipts:
    st.markdown("**Receipts** (attached, waiting, or failed with Xero's words)")
    frame = pd.DataFrame(receipts)
    st.caption(" · ".join(f"{n} {o}" for o, n in frame["Outcome"].value_counts().items()))
    st.dataframe(frame, hide_index=True, width="stretch",
                 column_config={"PEX id": st.column_config.NumberColumn(format="%d"),
                                "Why": st.column_config.TextColumn(width="large")})
