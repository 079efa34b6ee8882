"""Preview: every PEX transaction in range with its status and reason, before anything is written to Xero.

Metrics and charts from `pexxero.views`; per-row release of possible duplicates (push), changed rows (update) and
voided rows (remove from Xero); the reconciliation CSV. The preview is built on request and kept for this server,
so paging around is instant. How fresh the local copy of PEX is shows under the title; RE-READ ALL OF PEX reads the
whole date range from PEX now (otherwise the first preview or sync of a day does).
"""

import altair as alt
import streamlit as st

from pages.common import context, widgets
from pexxero import views
from pexxero.models import SHOWN_KINDS, STATUSES, VOIDED
from pexxero.sync import budget

widgets.header("Preview")
conn = context.connection()
if not widgets.need_connections(conn):
    st.stop()

preview = context.last_preview()
if preview is not None and preview.tenant_id != conn.tenant_id():
    preview = None  # built for another organisation (it was switched since): never shown as this one's
    context.keep_preview(None)
top, button, whole = st.columns([4, 1, 1])
rebuild = button.button("Refresh", type="primary" if preview is None else "secondary", width="stretch",
                        help="Read PEX and Xero again and rebuild the preview (Xero is only read, never written)")
reread = whole.button("Re-read all of PEX", width="stretch", key="pv_full",
                      help="Read the whole date range from PEX now, not only the last 60 days: a late purchase or a "
                           "correction to an old one shows up (the first preview or sync of a day does this too)")
if rebuild or reread or preview is None:
    with widgets.guard(), st.spinner("Reading PEX and Xero…"):
        preview = conn.preview(force_refresh=rebuild, full_refresh=reread)
        context.keep_preview(preview)
if preview is None:
    st.stop()
frame = preview.frame
top.caption(f"{preview.start} to {preview.end} · {len(frame):,} rows · {views.built_ago(preview.built_at)}")
top.caption(views.pex_copy_text(conn.pex_freshness()))
top.caption(budget.preview_sentence(conn, preview), help=budget.ALLOWANCE_HELP)
if getattr(preview, "rejected", None):
    with st.expander(f"{len(preview.rejected)} PEX rows could not be read and are not listed — fix them in PEX",
                     icon=":material/warning:"):
        st.text("\n".join(preview.rejected))

voided = int((frame["status"] == VOIDED).sum())
if voided:
    st.warning(f"{voided:,} voided in PEX, still in Xero: Xero still books {'it' if voided == 1 else 'them'}. "
               "Release a row below (remove) and the next sync deletes it in Xero.", icon=":material/error:")

# ------------------------------------------------------------------------------------------ metrics

totals = views.status_totals(frame)
# two rows of four: eight metrics in one row leave each too narrow for "Possible duplicate"
for column, total in zip([c for _ in range(2) for c in st.columns(4)], totals):
    column.metric(total["status"].capitalize(), f"{total['count']:,}", f"net {views.money(total['net'])}",
                  delta_color="off", delta_arrow="off", border=True,
                  help=f"Money out {views.money(total['money_out'])} · money in {views.money(total['money_in'])}")
with st.expander("Money out, money in and net per status"):
    st.dataframe(views.totals_table(frame), hide_index=True, width="stretch")
st.caption(views.TOTALS_DEFINITION)

left, right = st.columns(2)
colours = alt.Scale(domain=list(views.STATUS_COLOURS), range=list(views.STATUS_COLOURS.values()))
with left:
    st.markdown("**Net change to PEX Cash by status**")
    chart = alt.Chart(views.amount_by_status(frame)).mark_bar().encode(
        x=alt.X("status:N", sort=list(STATUSES), title=None), y=alt.Y("net:Q", title="Net (money in - money out)"),
        color=alt.Color("status:N", scale=colours, legend=None),
        tooltip=["status", "money out", "money in", "net change"],
    )
    st.altair_chart(chart, width="stretch")
with right:
    st.markdown("**Purchase spend by account, per week**")
    spend = views.spend_by_account(frame, names=preview.account_names)
    if spend.empty:
        st.caption("No purchases in range.")
    else:
        # the legend under the chart, one account a line, names in full: at the right it is cut off
        chart = alt.Chart(spend).mark_bar().encode(
            x=alt.X("period:T", title="Week"), y=alt.Y("sum(spend):Q", title="Spend"),
            color=alt.Color("account:N", title="Account",
                            legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=0)),
            tooltip=["period:T", "account:N", "sum(spend):Q"],
        )
        st.altair_chart(chart, width="stretch")

# ------------------------------------------------------------------------------------ the table

released = conn.releases()
f1, f2, f3, f4 = st.columns([2, 2, 2, 3])
statuses = f1.multiselect("Status", STATUSES, key="pv_status")
kinds = f2.multiselect("Kind", SHOWN_KINDS, key="pv_kind")
# narrows the rows shown within the preview's range; a wider range is a setup change (step 2)
picked = f3.date_input("Dates", (preview.start, preview.end), min_value=preview.start, max_value=preview.end,
                       key=f"pv_dates_{preview.start}_{preview.end}", format="YYYY-MM-DD")
dates = tuple(picked) if isinstance(picked, (tuple, list)) and len(picked) == 2 else None
text = f4.text_input("Search (merchant, cardholder, reason, id…)", key="pv_text")
shown = views.filter_rows(frame, statuses, kinds, text, dates=dates)
st.caption(f"{len(shown):,} of {len(frame):,} rows")
st.dataframe(
    views.table(shown, released, preview.account_names), hide_index=True, width="stretch", height=420,
    column_config={
        "pex_id": st.column_config.NumberColumn("PEX id", format="%d"),
        "reason": st.column_config.TextColumn("Reason", width="large"),
        "differences": st.column_config.TextColumn("Differences from Xero", width="medium"),
        "released": st.column_config.TextColumn("Released"),
    },
)

# ------------------------------------------------------------------------------------------ release

candidates = views.releasable(shown)
with st.expander(f"Release rows Sync leaves alone ({len(candidates)} in view, {len(released)} released)"):
    st.caption("A possible duplicate is pushed only if you release it; a changed record is updated in Xero only "
               "if you release it; a voided record is deleted in Xero only if you release it. Releases are kept "
               "until you undo them.")
    if candidates.empty:
        st.write("No possible duplicates, changed or voided rows in this view.")
    else:
        # several rows at once: narrow the view with the filters above, then release all or some of it
        actions = dict(zip(candidates["pex_id"].astype(int), candidates["action"]))
        waiting = [p for p in actions if p not in released]
        done = [p for p in actions if p in released]
        short = {int(r.pex_id): f"{r.pex_id} · {r.status} · {r.date} · {r.merchant} · {views.money(r.amount)}"
                 for r in candidates.itertuples()}
        every = st.checkbox(f"All {len(waiting):,} unreleased rows in this view", key="pv_release_all",
                            disabled=not waiting)
        chosen = waiting if every else st.multiselect("Rows to release", waiting, format_func=short.get,
                                                      key="pv_release_many")
        if st.button(f"RELEASE {len(chosen):,} SELECTED", key="pv_release_selected", disabled=not chosen,
                     help="Each is released with its own action: a possible duplicate is pushed, a changed row "
                          "updated, a voided row removed from Xero"):
            conn.release_many({p: actions[p] for p in chosen})
            for key in ("pv_release_many", "pv_release_all"):  # the choice is spent: start the next one empty
                st.session_state.pop(key, None)
            st.rerun()
        if done and st.button(f"UNDO ALL {len(done):,} RELEASES IN THIS VIEW", key="pv_unrelease_all"):
            for p in done:
                conn.unrelease(p)
            st.rerun()
        st.divider()
        st.caption("One row, with its reason and differences:")
        pex_id = st.selectbox("Row", list(short), format_func=short.get, key="pv_release_row")
        row = candidates[candidates["pex_id"] == pex_id].iloc[0]
        st.markdown("**Why**")
        st.text(row["reason"])
        if row["differences"]:
            st.markdown("**Differences from Xero**")
            st.text(row["differences"])
        action = actions[pex_id]
        verb = {"push": "push it to Xero as a new record", "update": "update the Xero record to match PEX",
                "remove": "delete its record in Xero (Status DELETED)"}[action]
        if pex_id in released:
            st.info(f"Released: the next sync will {verb}.")
            if st.button("UNDO RELEASE", key="pv_unrelease"):
                conn.unrelease(pex_id)
                st.rerun()
        elif st.button(f"RELEASE ({action})", key="pv_release", help=f"The next sync will {verb}"):
            conn.release(pex_id, action)
            st.rerun()

# ---------------------------------------------------------------------------------------------- CSV

def reconciliation_csv(preview=preview) -> bytes:
    """Made when the button is pressed, not on every rerun: 10,000 rows take a third of a second. UTF-8 with a
    byte-order mark, ASCII in pexxero's own words: Excel opens it as written."""
    return preview.csv_bytes()


st.download_button("Download the reconciliation (CSV)", reconciliation_csv, mime="text/csv", key="pv_csv",
                   file_name=f"pexxero-preview-{preview.start}-{preview.end}.csv")
st.page_link("pages/sync.py", label="Next: Sync what this preview plans", icon=":material/arrow_forward:")
