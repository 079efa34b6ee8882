"""The dashboard's pages (routed by app.py with st.navigation); `pages.common` holds what they share."""
