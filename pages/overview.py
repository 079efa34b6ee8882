"""Overview: every connection of the workspace at a glance, SYNC ALL, and adding a connection.

One row per connection: its PEX business and Xero organisation, its last sync (when, status, written of to
write), what waits (new, possible duplicates, changed, failed) and its Xero session's health. OPEN PREVIEW on a row
makes it the chosen connection and opens its Preview. In fleet mode (syncs queued for `pexxero worker`), "Sync
jobs" lists the queue's jobs as `python -m pexxero jobs` does. While a sync runs or a job is queued or running, the
rows and the jobs are re-read every second.
"""

import streamlit as st

from pages.common import context, widgets
from pexxero import overview, views
from pexxero.fleet.jobs import fleet_mode, list_jobs

POLL_SECONDS = 1.0
JOB_ROWS = 50  # the newest jobs; `python -m pexxero jobs --limit N` lists more
NO_COPY = "(none: fill the seven steps)"

widgets.header("Overview")
ws = context.workspace()

if context.can_load_demo_workspace():
    with st.container(border=True):
        st.text("Sandbox: load the demo workspace — two PEX businesses booking into two Xero organisations through "
                "one Xero sign-in — or connect one yourself on Connect.")
        if st.button("LOAD THE DEMO WORKSPACE", key="ov_demo"):
            with widgets.guard():
                st.session_state.ov_said = [f"Loaded: {name}" for name in context.load_demo_workspace()]
                st.rerun()

left, right = st.columns([1, 5])
if left.button("SYNC ALL", type="primary", width="stretch", key="ov_sync_all",
               help="Start every set-up connection's sync in the background; each builds its own plan"):
    with widgets.guard():
        st.session_state.ov_said = overview.sync_all_line(ws.start_all())
        st.rerun()
right.caption("SYNC ALL writes each connection's new PEX activity into its own Xero organisation, in the "
              "background: leave or reload the page and the syncs carry on.")
for line in st.session_state.get("ov_said", []):
    st.text(line)


def open_preview(name: str) -> None:
    context.choose(name)
    st.switch_page("pages/preview.py")


FLEET = fleet_mode(context.db_path())


def _jobs() -> list:
    """Fleet mode's sync jobs, newest first ([] when syncs are not queued)."""
    return list_jobs(context.db_path(), limit=JOB_ROWS) if FLEET else []


def _busy(summaries, jobs) -> bool:
    return any(overview.is_running(s.last_run) for s in summaries) or overview.jobs_active(jobs)


def _busy_now() -> bool:
    """Whether to poll: read once per page run (the fragment re-reads on each tick and reruns the page at the end)."""
    try:
        jobs = _jobs()
    except Exception:  # noqa: BLE001 - the fragment says why in words; polling just does not start
        jobs = []
    return _busy(ws.summaries(), jobs)


def _job_table(jobs) -> None:
    st.subheader("Sync jobs")
    st.caption("Fleet mode: SYNC and SYNC ALL queue one job per connection, and a `python -m pexxero worker` "
               f"runs it. The newest {JOB_ROWS}, as `python -m pexxero jobs` lists them.")
    if jobs:
        st.dataframe(overview.job_table(jobs), hide_index=True, width="stretch", key="ov_jobs")
    else:
        st.text("No sync jobs.")


@st.fragment(run_every=POLL_SECONDS if _busy_now() else None)
def rows() -> None:
    """Each connection's row, and in fleet mode the sync jobs, read afresh on every tick while a sync runs."""
    summaries = context.workspace().summaries()
    for s in summaries:
        with st.container(border=True, key=f"ov_row_{s.id}"):
            who, sync, waits, health, action = st.columns([3, 3, 3, 3, 2])
            who.markdown(f"**{widgets.plain(s.name)}**")
            who.text(views.pex_business_line(s.pex_business) + "\n"
                     f"Xero organisation: {s.xero_organisation or s.tenant_id or 'none chosen yet'}")
            sync.caption("Last sync")
            sync.text(overview.last_sync(s.last_run))
            waits.caption("Waiting")
            waits.text(overview.waiting(s.waiting))
            words, attention = overview.session(s.xero_token_age_days, s.xero_days_to_expiry)
            health.caption("Xero session")
            (health.warning if attention else health.text)(words)
            if not s.set_up:
                who.caption(f"Not set up yet: {widgets.plain(s.not_set_up)}")
            if action.button("OPEN PREVIEW", key=f"ov_open_{s.id}", width="stretch",
                             help=f"Work on {widgets.plain(s.name)} and open its Preview"):
                open_preview(s.name)
    jobs: list = []
    if FLEET:
        with widgets.guard():
            jobs = _jobs()
            _job_table(jobs)
    busy = _busy(summaries, jobs)
    if not busy and st.session_state.get("ov_was_running"):
        st.session_state.ov_was_running = False
        st.rerun()  # the last sync or job just ended: redraw the whole page (and stop polling)
    st.session_state.ov_was_running = busy


rows()

# ---------------------------------------------------------------------------------- add a connection

with st.expander("Add a connection (another PEX business and Xero organisation)"):
    st.caption("A connection pairs one PEX business with one Xero organisation. After adding it you connect PEX, "
               "then Xero (with a Xero sign-in already held here, or a new one), and fill the seven setup steps, "
               "or start from another connection's setup.")
    with st.form("ov_add", clear_on_submit=False):
        name = st.text_input("Name", key="ov_add_name", help="How the connection is listed, e.g. the client's name")
        with_setup = ws.names_with_setup()
        source = st.selectbox("Start from the setup of", [NO_COPY] + with_setup, key="ov_add_copy",
                              help="Its seven steps are copied (through the TOML export); the organisation is not")
        if st.form_submit_button("ADD CONNECTION"):
            with widgets.guard():
                copy = None if source == NO_COPY else source
                ws.add(name, copy_setup_from=copy)
                context.choose(name.strip())
                st.switch_page("pages/connect.py")
