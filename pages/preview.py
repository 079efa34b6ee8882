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
from pexxero.models import KINDS, STATUSES, VOIDED
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
for column, total in zip(st.columns(len(totals)), totals):
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
    spend = views.spend_by_account(frame)
    if spend.empty:
        st.caption("No purchases in range.")
    else:
        st.bar_chart(spend, x="period", y="spend", color="account", x_label="Week", y_label="Spend")

# ------------------------------------------------------------------------------------ the table

released = conn.releases()
f1, f2, f3 = st.columns([2, 2, 3])
statuses = f1.multiselect("Status", STATUSES, key="pv_status")
kinds = f2.multiselect("Kind", KINDS, key="pv_kind")
text = f3.text_input("Search (merchant, cardholder, reason, id…)", key="pv_text")
shown = views.filter_rows(frame, statuses, kinds, text)
st.caption(f"{len(shown):,} of {len(frame):,} rows")
st.dataframe(
    views.table(shown, released), hide_index=True, width="stretch", height=420,
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
        labels = {int(r.pex_id): f"{r.pex_id} · {r.status} · {r.date} · {r.merchant} · {r.amount:,.2f}"
                  for r in candidates.itertuples()}
        actions = dict(zip(candidates["pex_id"].astype(int), candidates["action"]))
        pex_id = st.selectbox("Row", list(labels), format_func=labels.get, key="pv_release_row")
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
