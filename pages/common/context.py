"""What every page needs from the server: the mode (sandbox or real), the database, a connection, the preview.

Sandbox mode is when no Xero app of the user's own is configured (no XERO_CLIENT_ID and no `.streamlit/secrets.toml`
[xero]), or when the configured one is the sandbox's own demo app. With nothing configured the server starts the
two doubles once per process and points this process (and every sync process it starts) at them.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Optional

import streamlit as st

from pexxero import views
from pexxero.connection import Connection, Preview, open_connection, xero_app_credentials
from pexxero.sandbox import demo
from pexxero.secrets import SecretsError, read_secrets_file
from pexxero.store import StoreError, default_db_path

SECRETS_PATH = Path(".streamlit/secrets.toml")


def _secrets() -> dict:
    return read_secrets_file(SECRETS_PATH)


@st.cache_resource(show_spinner="Starting the sandbox PEX and Xero…")
def _own_sandbox():
    """Both doubles, once per server process; PEXXERO_SANDBOX_LATENCY slows the Xero API (to watch a sync)."""
    from pexxero.sandbox import start_sandbox

    sandbox = start_sandbox()
    sandbox.xero.latency = float(os.environ.get("PEXXERO_SANDBOX_LATENCY") or 0)
    return sandbox


@st.cache_resource
def _sandbox_db() -> str:
    """A fresh database per server process: the sandbox starts from nothing each time. It lives in the user's one
    sandbox folder in the temp directory and is removed when the server exits (or by the next start, if killed)."""
    from pexxero.sandbox.scratch import sandbox_database

    return str(sandbox_database())


def is_sandbox() -> bool:
    client_id, _ = xero_app_credentials(SECRETS_PATH)
    return not client_id or client_id == demo.XERO_CLIENT_ID


def prepare() -> None:
    """Run once per script run, before the page: start the sandbox if that is the mode and nothing runs yet."""
    client_id, _ = xero_app_credentials(SECRETS_PATH)
    if not client_id:
        _own_sandbox().apply_env()  # os.environ: the sync child processes inherit it


def db_path() -> str:
    if os.environ.get("PEXXERO_DB") or not is_sandbox():
        return default_db_path()
    return _sandbox_db()


def connection() -> Connection:
    """A connection for this script run (opening one costs about a millisecond; SQLite keeps the state)."""
    try:
        return open_connection(db_path())
    except (SecretsError, StoreError) as exc:  # a missing key file, a damaged database: say so, and stop
        st.error(views.explain(exc))
        st.stop()


def redirect_uri() -> str:
    """Where Xero sends the browser back: the streamlit-oauth component's own address on this server.

    The component's popup watches for its own origin to read the code, so in sandbox mode it is the address the
    page was opened on; in real mode the one registered with the Xero app (secrets.toml [xero] redirect_uri).
    """
    configured = _secrets().get("xero", {}).get("redirect_uri") or os.environ.get("XERO_REDIRECT_URI", "")
    if configured and not is_sandbox():
        return configured
    url = ""
    try:
        url = st.context.url or ""
    except Exception:  # noqa: BLE001 - no browser context (tests): the default local address
        url = ""
    origin = "/".join(url.split("/")[:3]) if url.startswith("http") else "http://localhost:8501"
    return f"{origin}/component/streamlit_oauth.authorize_button"


def default_pex_token() -> str:
    if is_sandbox():
        return demo.PEX_TOKEN
    return _secrets().get("pex", {}).get("token", "")


# ------------------------------------------------------------------------------------- the preview


@st.cache_resource
def _previews() -> dict:
    """The last preview built per database, shared by the sessions of this server: a reload keeps it."""
    return {"lock": threading.Lock(), "by_db": {}}


def last_preview() -> Optional[Preview]:
    return _previews()["by_db"].get(db_path())


def keep_preview(preview: Optional[Preview]) -> None:
    store = _previews()
    with store["lock"]:
        if preview is None:
            store["by_db"].pop(db_path(), None)
        else:
            store["by_db"][db_path()] = preview


def require_sign_in() -> None:
    """Optional sign-in with Streamlit's `st.login` (any OIDC provider) when secrets.toml has an [auth] section.

    `[pexxero] allowed_emails = [...]` narrows it to named people. Without [auth] the dashboard is open, as a local
    tool run by its own user is; see docs/security.md.
    """
    secrets = _secrets()
    if "auth" not in secrets:
        return
    if not st.user.is_logged_in:
        st.title("pexxero")
        st.write("Sign in to reach the connector and its history.")
        st.button("Sign in", on_click=st.login, type="primary")
        st.stop()
    allowed = secrets.get("pexxero", {}).get("allowed_emails")
    if allowed and st.user.get("email") not in allowed:
        st.error("This account may not use the dashboard. Sign in with another one.")
        st.button("Log out", on_click=st.logout)
        st.stop()
