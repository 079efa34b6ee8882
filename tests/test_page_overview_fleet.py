"""The Overview page in fleet mode (AppTest): a workspace kept in PostgreSQL is its own queue, and "Sync jobs"
lists its jobs with the columns of `python -m pexxero jobs`, every value as text; in embedded mode there is no
such section."""

from __future__ import annotations

import pytest
from page_helpers import ROOT, app, no_exception
from sandbox_env import PG_TEST_KEY

from pexxero.fleet import app as fleet_app
from pexxero.fleet import queue_sync
from pexxero.overview import JOB_COLUMNS
from pexxero.workspace import open_workspace

HOSTILE = "Harbour **bold** <b>x</b>"  # a name as a user may type it: shown as the characters it is made of


@pytest.fixture
def pg_page(doubles, pg_url, monkeypatch):
    """The app on a workspace in a fresh PostgreSQL database (its queue too), sandbox doubles for PEX and Xero."""
    for name, value in doubles.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PEXXERO_DB", pg_url)
    monkeypatch.setenv("PEXXERO_KEY", PG_TEST_KEY)
    monkeypatch.delenv(fleet_app.QUEUE_URL_ENV, raising=False)
    monkeypatch.chdir(ROOT)
    fleet_app.migrate(pg_url)
    with open_workspace(pg_url) as ws:
        ws.add("Outdoor")
        ws.add(HOSTILE)
    return pg_url


def _jobs_shown(at) -> list[dict]:
    frames = [d.value for d in at.dataframe]
    assert len(frames) == 1, f"{len(frames)} tables on the page"
    return frames[0].to_dict("records")


def test_a_queued_job_shows_with_its_connection_and_status_as_text(pg_page):
    at = app("overview").run()
    no_exception(at)
    assert "Sync jobs" in [s.value for s in at.subheader]
    assert "No sync jobs." in [str(t.value) for t in at.text]
    assert not at.dataframe

    queued = queue_sync(pg_page, HOSTILE)
    at = app("overview").run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    frame = at.dataframe[0].value
    assert tuple(frame.columns) == JOB_COLUMNS
    [row] = _jobs_shown(at)
    assert all(isinstance(value, str) for value in row.values()), row
    assert (row["Job"], row["Connection"], row["Status"]) == (str(queued.job_id), HOSTILE, "queued")
    assert (row["Worker"], row["Started"], row["Ended"], row["Run"], row["Run status"]) == ("", "", "", "", "")
    # a queued job keeps the page polling (the fragment's rerun when it ends depends on this)
    assert at.session_state["ov_was_running"] is True


def test_embedded_mode_shows_no_jobs(page_env):
    at = app("overview").run()
    no_exception(at)
    assert "Sync jobs" not in [s.value for s in at.subheader]
    assert not at.dataframe
    assert at.session_state["ov_was_running"] is False
