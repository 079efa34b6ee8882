"""The Connector Setup page (AppTest): the seven steps with BACK / NEXT / SAVE, validation naming the field,
the demo setup, TOML export."""

from dataclasses import replace

from page_helpers import app, button, connected, no_exception, progress_text, set_up, texts

from pexxero.connection import open_connection, today_eastern
from pexxero.sandbox import seed


def test_needs_the_connections_first(page_env):
    at = app("setup").run()
    no_exception(at)
    assert "connect PEX and connect Xero" in texts(at)


def test_next_back_and_save_refused_with_the_fields_named(page_env, doubles):
    connected(page_env, doubles)
    at = app("setup").run()
    no_exception(at)
    assert progress_text(at) == "Step 1 of 7: Xero Connection"
    assert button(at, "BACK").disabled
    button(at, "NEXT").click().run()
    assert progress_text(at) == "Step 2 of 7: PEX Sync Options"
    button(at, "NEXT").click().run()
    button(at, "NEXT").click().run()
    assert progress_text(at) == "Step 4 of 7: Account Options"
    assert "`accounts.pex_cash`: required" in texts(at)  # this step's own checks, by TOML field name
    button(at, "BACK").click().run()
    assert progress_text(at) == "Step 3 of 7: Xero Sync Options"
    button(at, "SAVE").click().run()
    no_exception(at)
    error = at.error[0].value
    assert error.startswith("Not saved") and "Step 4 · `accounts.pex_cash`" in error
    assert open_connection(page_env).store.load_setup(open_connection(page_env).connection_id) is None


def test_demo_setup_saves_and_a_bad_edit_is_not_saved(page_env, doubles):
    connected(page_env, doubles)
    at = app("setup").run()
    button(at, "Use the demo setup").click().run()
    no_exception(at)
    conn = open_connection(page_env)
    saved = conn.setup()
    assert saved == seed.sandbox_setup(today_eastern())
    assert "The demo setup is saved." in texts(at)
    for _ in range(3):
        button(at, "NEXT").click().run()
    at.selectbox(key="s4_pex_cash").select("090").run()  # the same account as the source: refused
    assert "`accounts.pex_cash`: is the same account as accounts.source_cash" in texts(at)
    button(at, "SAVE").click().run()
    assert "Not saved" in at.error[0].value
    assert conn.setup() == saved
    at.selectbox(key="s4_pex_cash").select("091").run()
    at.selectbox(key="s4_fee").select("429").run()
    button(at, "SAVE").click().run()
    no_exception(at)
    assert "Setup saved." in texts(at)
    assert conn.setup() == replace(saved, accounts=replace(saved.accounts, fee_account="429"))


def test_step_two_edits_dates_and_the_export_round_trips(page_env, doubles):
    conn = set_up(page_env, doubles)
    at = app("setup").run()
    button(at, "NEXT").click().run()
    at.checkbox(key="s2_fees").uncheck().run()
    button(at, "SAVE").click().run()
    no_exception(at)
    assert conn.setup().pex.fees is False
    exported = [e for e in at if type(e).__name__ == "DownloadButton"]
    assert [e.proto.label for e in exported] == ["Export the setup (TOML)"]
