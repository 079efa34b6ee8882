"""pexxero dashboard: a short router; each page reads state, calls pexxero, renders."""

import streamlit as st

st.set_page_config(page_title="pexxero", layout="wide")

pages = [
    st.Page("pages/home.py", title="Home", default=True),
]
st.navigation(pages).run()
