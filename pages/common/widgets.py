"""Small pieces every page draws: the sandbox marker, engine errors in plain words, the "not ready yet" states."""

from __future__ import annotations

import re
from contextlib import contextmanager

import streamlit as st

from pages.common import context
from pexxero import views

SANDBOX_LINE = ("**Sandbox mode** — a bundled demo PEX business and Xero organisation run on this computer; "
                "nothing reaches the real PEX or Xero.")


_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def plain(text: object) -> str:
    """Text from PEX or Xero (a name, a description, an error message) for an element that renders markdown
    (st.markdown, st.caption, st.error, st.toast, a progress text…): every ASCII punctuation character is
    backslash-escaped, so a link, `**bold**`, HTML, `:red[…]` or `$…$` shows as the characters it is made of.
    Where a value can stand alone, prefer a text element (st.text, st.code, a dataframe cell)."""
    return _PUNCTUATION.sub(r"\\\1", str(text))


def code(text: object) -> str:
    """`text` as inline code in markdown, literal whatever it holds: the fence of backticks is longer than any run
    of backticks in it, so nothing inside can end the span early."""
    text = str(text).replace("\n", " ")
    if "`" not in text:
        return f"`{text}`"
    fence = "`" * (max(map(len, re.findall("`+", text))) + 1)
    return f"{fence} {text} {fence}"  # the spaces let the text start or end with a backtick


def header(title: str) -> None:
    """The top of every page: the mode (sandbox said plainly, in the sidebar and above the title), the connection
    picker in the sidebar, the title, and the PEX business and Xero organisation the page works on (as plain text:
    a name from PEX or Xero is never read as markdown).

    Pages call it themselves rather than the router, so a page run on its own (AppTest) looks the same.
    """
    context.prepare()
    if context.is_sandbox():
        st.sidebar.markdown(":orange-badge[:material/science: Sandbox mode]")
        st.caption(SANDBOX_LINE)
    context.picker()
    st.title(title)
    st.text(views.pex_business_line(context.pex_business()))
    st.text(views.organisation_line(context.connection()))


@contextmanager
def guard():
    """Show an engine error as a sentence (st.error), never a traceback; the rest of the page still renders."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - Streamlit's own rerun/stop signals are BaseException, not caught
        st.error(plain(views.explain(exc)))


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
    if setup and conn.saved_setup() is None:
        st.info("Nothing to show yet: complete the seven steps of the Connector Setup first.")
        st.page_link("pages/setup.py", label="Go to Connector Setup", icon=":material/tune:")
        return False
    return True
