"""Small pieces every page draws: the sandbox marker, engine errors in plain words, the "not ready yet" states."""

from __future__ import annotations

from contextlib import contextmanager

import streamlit as st

from pages.common import context
from pexxero import views

SANDBOX_LINE = ("**Sandbox mode** — a bundled demo PEX business and Xero organisation run on this computer; "
                "nothing reaches the real PEX or Xero.")


def header(title: str) -> None:
    """The top of every page: the mode (sandbox said plainly, in the sidebar and above the title), the title,
    and the Xero organisation the page works on (as plain text: a name from Xero is never read as markdown).

    Pages call it themselves rather than the router, so a page run on its own (AppTest) looks the same.
    """
    context.prepare()
    if context.is_sandbox():
        st.sidebar.markdown(":orange-badge[:material/science: Sandbox mode]")
        st.caption(SANDBOX_LINE)
    st.title(title)
    st.text(views.organisation_line(context.connection()))


@contextmanager
def guard():
    """Show an engine error as a sentence (st.error), never a traceback; the rest of the page still renders."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - Streamlit's own rerun/stop signals are BaseException, not caught
        st.error(views.explain(exc))


def need_connections(conn, *, xero: bool = True, setup: bool = True) -> bool:
    """The empty state of a page that needs PEX, Xero and a setup: says what is missing and where to do it."""
    missing = []
    if not conn.pex_connected():
        missing.append("connect PEX")
    if xero and not conn.xero_connected():
        missing.append("connect Xero")
    elif xero and not conn.tenant_id():
        missing.append("pick the Xero organisation")
    if missing:
        st.info("Nothing to show yet: first " + " and ".join(missing) + " on the Connect page.")
        st.page_link("pages/connect.py", label="Go to Connect", icon=":material/link:")
        return False
    if setup and conn.store.load_setup(conn.connection_id) is None:
        st.info("Nothing to show yet: complete the seven steps of the Connector Setup first.")
        st.page_link("pages/setup.py", label="Go to Connector Setup", icon=":material/tune:")
        return False
    return True
