import streamlit as st

st.title("pexxero")
st.info("Sandbox mode: a bundled PEX and Xero run on loopback. The dashboard pages arrive with the next issues.")
