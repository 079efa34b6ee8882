"""Sync: write the last preview's plan into Xero in a background process, and follow it.

The run lives in its own process and in SQLite, not in this page: a refresh, a closed tab or another browser
finds the same run and its progress. While one is active, a fragment re-reads the run row every second.
"""

import pandas as pd
import streamlit as st

from pages.common import context, widgets
from pexxero import errors, history, models, views
from pexxero.sync import budget

POLL_SECONDS = 1.0

widgets.header("Sync")
conn = context.connection()
if not widgets.need_connections(conn):
    st.stop()


def start(retry_failed: bool) -> None:
    with widgets.guard():
        run_id = context.start_sync(retry_failed=retry_failed, from_preview=True)
        st.session_state.sync_run = run_id
        if run_id is None:  # fleet mode: a job, which a worker turns into a run
            st.toast("Queued for the workers: the run appears here when one takes it (see `python -m pexxero jobs`).")
        st.rerun()


plan = conn.saved_plan()
refusal = conn.plan_refusal() if plan is None else ""
running = conn.running()
last = running or conn.last_finished_run()

left, mid, right = st.columns([1, 1, 4])
if refusal:
    right.warning(refusal[:1].upper() + refusal[1:] + " (on the Preview page).")
elif plan is None:
    right.info("No preview yet: build one on the Preview page; Sync writes what it planned.")
else:
    right.caption(f"Syncs the preview of {plan['start']} to {plan['end']} built "
                  f"{views.built_ago(plan['built_at'])[6:]}: {views.plan_words(plan['items'], conn.releases())}.")
    right.caption(budget.plan_sentence(conn, plan["items"]), help=budget.ALLOWANCE_HELP)
if left.button("SYNC", type="primary", disabled=running is not None or plan is None, width="stretch"):
    start(retry_failed=False)
if mid.button("CANCEL", disabled=running is None, width="stretch"):
    conn.cancel_run(running["id"])
    st.toast("Cancel requested: the sync stops after the request in flight.")
    st.rerun()


@st.fragment(run_every=POLL_SECONDS if running is not None else None)
def progress(run_id: int) -> None:
    """The run's row and item counts, re-read on every tick while the run is active."""
    live = context.connection()
    run = live.run(run_id)
    if run is None:
        st.warning(f"Run {run_id} is not in this database.")
        return
    counts = live.run_counts(run_id)
    state = views.run_progress(run, counts)
    colour = views.RUN_COLOURS.get(run["status"], "gray")
    st.markdown(f"**Run {run_id}** · :{colour}-badge[{run['status'].title()}]"
                + (" · cancel requested" if run["cancel_requested"] and state["active"] else ""))
    st.progress(state["fraction"], text=widgets.plain(state["text"]))
    if state["receipt_phase"]:
        st.progress(state["receipt_fraction"], text=widgets.plain(state["receipt_text"]))
    tally = history.run_tally(live.run_tally(run_id))
    # what the run wrote, then what it left alone in the Preview page's words and counts, then receipts
    for row in (tally["written"], tally["left alone"],
                [("Receipts attached", state["receipts_attached"]),
                 ("Receipts not attached", state["receipts_not_attached"])]):
        for column, (label, n) in zip(st.columns(max(6, len(row))), row):
            column.metric(label, f"{n:,}")
    if run["status"] == models.FAILED and state["alert"]:
        st.error(widgets.plain(state["alert"]))
        if errors.is_session_failure(run["message"]):
            st.page_link("pages/connect.py", label="Re-connect Xero", icon=":material/link:")
    elif state["alert"]:
        st.warning(widgets.plain(state["alert"]))
    if running is not None and not state["active"]:
        st.rerun()  # the run just ended: redraw the whole page (buttons, outcomes)


if last is None:
    st.info("No sync has run yet.")
    st.stop()
progress(last["id"])

if running is None:
    counts = conn.run_counts(last["id"])
    if views.can_retry_failed(last, counts):
        if st.button("RETRY FAILED", help="Send again only the items the last sync could not write"):
            start(retry_failed=True)
    st.subheader("Item outcomes")
    rows = history.item_rows(conn, last["id"]) or []
    if not rows:
        st.caption("This run had no items.")
    else:
        frame = pd.DataFrame(rows)
        outcome = st.multiselect("Outcome", sorted(frame["Outcome"].unique()), key="sync_outcome")
        if outcome:
            frame = frame[frame["Outcome"].isin(outcome)]
        st.dataframe(frame, hide_index=True, width="stretch",
                     column_config={"PEX id": st.column_config.NumberColumn(format="%d")})
    receipts = history.receipt_rows(conn, last["id"]) or []
    if receipts:
        st.subheader("Receipt outcomes")
        st.dataframe(pd.DataFrame(receipts), hide_index=True, width="stretch",
                     column_config={"PEX id": st.column_config.NumberColumn(format="%d"),
                                    "Why": st.column_config.TextColumn(width="large")})
