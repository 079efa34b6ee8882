"""What every page needs from the server: the mode (sandbox or real), the database, the workspace and the connection
chosen in the sidebar, the preview.

The chosen connection is kept in `st.session_state` (one browser tab, one choice); every page gets its Connection
from `connection()`, and what a page keeps for a connection (the preview, the setup draft) is kept under `scope()`,
so no page shows another connection's data.

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
from pexxero.connection import Connection, Preview, xero_app_credentials
from pexxero.errors import PexxeroError
from pexxero.sandbox import demo
from pexxero.secrets import SecretsError, read_secrets_file
from pexxero.store import StoreError, default_db_path
from pexxero.sync import start_sync as start_sync_in
from pexxero.workspace import Workspace, open_workspace

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


_OWN_SANDBOX: dict = {}  # the env of the doubles this server started itself, once it has


def can_load_demo_workspace() -> bool:
    """In the dashboard's own sandbox (no Xero app configured), until a connection is set up: the two demo
    businesses can be loaded."""
    own = _OWN_SANDBOX.get("env")
    if not own or any(os.environ.get(k) != v for k, v in own.items()):
        return False  # a configured Xero app, or doubles started by someone else (tests, `pexxero sandbox`)
    return not any(s.set_up for s in workspace().summaries())


def load_demo_workspace() -> list[str]:
    """Both demo businesses as two set-up connections sharing one Xero sign-in; their names."""
    from pexxero.sandbox.workspace import seed_demo_workspace

    names = seed_demo_workspace(db_path(), _own_sandbox())
    choose(names[0])
    return names


def is_sandbox() -> bool:
    client_id, _ = xero_app_credentials(SECRETS_PATH)
    return not client_id or client_id == demo.XERO_CLIENT_ID


def prepare() -> None:
    """Run once per script run, before the page: start the sandbox if that is the mode and nothing runs yet."""
    client_id, _ = xero_app_credentials(SECRETS_PATH)
    if not client_id:
        sandbox = _own_sandbox()
        sandbox.apply_env()  # os.environ: the sync child processes inherit it
        _OWN_SANDBOX["env"] = dict(sandbox.env)


def db_path() -> str:
    if os.environ.get("PEXXERO_DB") or not is_sandbox():
        return default_db_path()
    return _sandbox_db()


@st.cache_resource(show_spinner=False)
def _workspace(path: str) -> Workspace:
    """One workspace per database for the server: its store serialises its own statements, and each connection
    it hands out opens a store of its own."""
    return open_workspace(path)


def workspace() -> Workspace:
    """The workspace of this server's database (a missing key file, a damaged database: said, and the page stops)."""
    try:
        return _workspace(db_path())
    except (SecretsError, StoreError) as exc:
        st.error(views.explain(exc))
        st.stop()


CURRENT = "pexxero_connection"  # the chosen connection's name, in this session
PICKER = "pexxero_connection_picker"  # the sidebar picker's own key (a widget's state is dropped with its page)


def current_name(ws: Optional[Workspace] = None) -> str:
    """The connection this session works on: the one chosen, else the first (a removed one falls back too)."""
    ws = ws or workspace()
    names = ws.names()
    if not names:  # a new database: its first connection, as the command line makes it
        ws.connection().close()
        names = ws.names()
    chosen = st.session_state.get(CURRENT)
    if chosen not in names:
        chosen = names[0]
        st.session_state[CURRENT] = chosen
    return chosen


def choose(name: str) -> None:
    """Work on connection `name` from now on; the picker shows it from the next script run (it follows the choice
    each time it is drawn, so it may not be set once drawn)."""
    st.session_state[CURRENT] = name


def _picked() -> None:
    st.session_state[CURRENT] = st.session_state[PICKER]


def picker() -> str:
    """The connection picker in the sidebar, on every page; returns the connection chosen."""
    ws = workspace()
    st.session_state[PICKER] = current_name(ws)  # first: a new database gets its first connection here
    names = ws.names()
    st.sidebar.selectbox("Connection", names, key=PICKER, on_change=_picked,
                         help="The PEX business and Xero organisation every page works on")
    return st.session_state[CURRENT]


def scope() -> str:
    """What a page keeps for the chosen connection is kept under this key: the database and the connection."""
    return f"{db_path()}#{current_name()}"


def connection() -> Connection:
    """The chosen connection, for this script run."""
    ws = workspace()
    try:
        return ws.connection(current_name(ws))
    except (SecretsError, StoreError, PexxeroError) as exc:
        st.error(views.explain(exc))
        st.stop()


def pex_business() -> str:
    """The chosen connection's PEX business name ("" while it is not known), as PEX gave it when the token was
    saved."""
    ws = workspace()
    name = current_name(ws)
    return next((s.pex_business for s in ws.summaries() if s.name == name), "")


def start_sync(*, retry_failed: bool = False, from_preview: bool = True) -> Optional[int]:
    """The chosen connection's sync: a detached background process (the `python -m pexxero sync` cron runs), its
    run id; in fleet mode a job for the workers (None: the run appears when a worker takes the job)."""
    return start_sync_in(db_path(), connection=current_name(), retry_failed=retry_failed,
                         from_preview=from_preview).run_id


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
    """The last preview built per connection, shared by the sessions of this server: a reload keeps it."""
    return {"lock": threading.Lock(), "by_db": {}}


def last_preview() -> Optional[Preview]:
    return _previews()["by_db"].get(scope())


def keep_preview(preview: Optional[Preview]) -> None:
    store = _previews()
    with store["lock"]:
        if preview is None:
            store["by_db"].pop(scope(), None)
        else:
            store["by_db"][scope()] = preview


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
