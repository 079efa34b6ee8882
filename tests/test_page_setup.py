"""The Connector Setup page (AppTest): the seven steps with BACK / NEXT / SAVE, validation naming the field,
the demo setup, TOML export."""

from dataclasses import replace

from page_helpers import app, button, connected, no_exception, progress_text, read, set_up, texts

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
    assert "required" not in texts(at) and not at.warning  # nothing touched yet: nothing is wrong yet
    button(at, "NEXT").click().run()  # NEXT checks the step: it stays, saying what is missing in the form's words
    assert progress_text(at) == "Step 4 of 7: Account Options"
    warned = [w.value for w in at.warning]
    assert "PEX cash account: required: pick the Xero bank account that stands for the PEX balance" in \
        [read(w) for w in warned]
    assert not any("enter" in w or "accounts.pex_cash" in w for w in warned)
    button(at, "BACK").click().run()
    assert progress_text(at) == "Step 3 of 7: Xero Sync Options"
    button(at, "SAVE").click().run()
    no_exception(at)
    error = read(at.error[0].value)
    assert error.startswith("Not saved") and "Step 4 · PEX cash account: required: pick" in error
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
    at.selectbox(key="s4_pex_cash").select("090").run()  # the same account as the source: refused, at once
    assert "PEX cash account: is the same account as the Source cash account" in texts(at)
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


def _go_to(at, step: int):
    from page_helpers import progress_text as bar

    while not bar(at).startswith(f"Step {step} of"):
        at.radio[0].set_value(next(o for o in at.radio[0].options if o.startswith(f"{step}."))).run()
    return at


def test_a_new_setup_starts_three_months_back_not_today(page_env, doubles):
    from pexxero.setup import default_start_date

    connected(page_env, doubles)
    at = _go_to(app("setup").run(), 2)
    no_exception(at)
    start = at.date_input(key="s2_start").value
    today = today_eastern()
    assert start == default_start_date(today) and start.day == 1 and (today - start).days >= 59


def test_contacts_are_picked_from_xero_or_created_there(page_env, doubles):
    from pexxero.sandbox import demo

    conn = set_up(page_env, doubles)
    before = len([r for r in doubles.xero.requests if r.path.endswith("/Contacts") and r.method == "GET"])
    at = _go_to(app("setup").run(), 7)
    no_exception(at)
    picker = at.selectbox(key="s7_contact")
    assert set(demo.CONTACT_NAMES) <= set(picker.options) and picker.value == conn.setup().fees.contact
    reads = [r for r in doubles.xero.requests if r.path.endswith("/Contacts") and r.method == "GET"][before:]
    assert len(reads) == 1 and "where" not in reads[0].query.lower()  # one read of the whole list, as before
    picker.set_value("New contact…" if "New contact…" in picker.options else picker.options[-1]).run()
    no_exception(at)
    at.text_input(key="s7_contact_new").input("Card Fees Ltd").run()
    button(at, "CREATE IN XERO").click().run()
    no_exception(at)
    names = [c["Name"] for c in doubles.xero.books[demo.TENANT_ID].contacts]
    assert names.count("Card Fees Ltd") == 1
    assert at.selectbox(key="s7_contact").value == "Card Fees Ltd"
    button(at, "SAVE").click().run()
    no_exception(at)
    assert conn.setup().fees.contact == "Card Fees Ltd"
    with doubles.xero._lock:  # the doubles serve the whole module: leave the demo's contacts as they were
        books = doubles.xero.books[demo.TENANT_ID]
        books.contacts[:] = [c for c in books.contacts if c["Name"] != "Card Fees Ltd"]
