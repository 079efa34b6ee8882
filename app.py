"""pexxero dashboard: a short router; each page reads state, calls pexxero, renders.

Run with `streamlit run app.py`. With no Xero app configured it runs in sandbox mode (see pages/common/context.py).
"""

import streamlit as st

from pages.common import context

st.set_page_config(page_title="pexxero: PEX to Xero", page_icon="🔁", layout="wide")
context.require_sign_in()
context.prepare()

pages = [
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("pages/connect.py", title="Connect", icon=":material/link:"),
    st.Page("pages/setup.py", title="Setup", icon=":material/tune:"),
    st.Page("pages/preview.py", title="Preview", icon=":material/fact_check:"),
    st.Page("pages/sync.py", title="Sync", icon=":material/sync:"),
    st.Page("pages/history.py", title="History", icon=":material/history:"),
    st.Page("pages/tieout.py", title="Tie-out", icon=":material/balance:"),
]
page = st.navigation(pages)
page.run()
