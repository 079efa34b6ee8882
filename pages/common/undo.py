"""UNDO THIS RUN on the History page: what the chosen run created that is still in Xero and what cannot be removed
(each with the reason), then YES, REMOVE THEM or CANCEL. The removal is the engine's undo, a run of its own."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages.common import widgets
from pexxero import models

WHAT = {"remove": "will be removed", "keep": "kept in Xero", "gone": "not in Xero any more"}


def undo_button(conn, run: dict) -> None:
    """Offer the undo of `run` (a finished sync run); show the plan before anything is removed."""
    if run is None or run["mode"] == models.UNDO or run["status"] in (models.QUEUED, models.RUNNING):
        return
    asked, done = f"undo_asked_{run['id']}", f"undo_done_{run['id']}"
    if done in st.session_state:
        _said(st.session_state[done])
    if st.button("UNDO THIS RUN", key=f"undo_{run['id']}"):
        st.session_state[asked] = True
        st.session_state.pop(done, None)
    if not st.session_state.get(asked):
        return
    with widgets.guard():
        plan = conn.undo_plan(run["id"])
        if plan.refusal:
            st.warning(widgets.plain(plan.refusal))
            st.session_state.pop(asked, None)
            return
        st.markdown(widgets.plain(plan.summary()))
        if plan.items:
            st.dataframe(pd.DataFrame([{
                "PEX id": it.pex_id, "Date": it.date, "Amount": it.amount, "Reference": it.reference,
                "Xero id": it.xero_id, "Undo": WHAT.get(it.action, it.action),
                "Why": "" if it.action == "remove" else it.reason} for it in plan.items]),
                hide_index=True, width="stretch", column_config={"PEX id": st.column_config.NumberColumn(format="%d")})
        if not plan.removable:
            st.session_state.pop(asked, None)
            return
        st.caption(widgets.plain(f"Remove {len(plan.removable)} records from Xero? Nothing is removed until you "
                                 "confirm; the next sync writes them again."))
        yes, no = st.columns(2)
        if no.button("CANCEL", key=f"undo_cancel_{run['id']}"):
            st.session_state.pop(asked, None)
            st.rerun()
        if yes.button("YES, REMOVE THEM", key=f"undo_yes_{run['id']}", type="primary"):
            st.session_state.pop(asked, None)
            st.session_state[done] = conn.undo(run["id"])
            st.rerun()


def _said(result: dict) -> None:
    """The undo run's outcome, as the History table words it."""
    line = f"Run {result['id']}: {result['status'].title()}. {result['message']}"
    (st.success if result["status"] == models.SUCCEEDED else st.warning)(widgets.plain(line))
