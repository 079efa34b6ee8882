"""The Overview page, the sidebar's connection picker and adding a connection (AppTest) against the sandbox doubles:
a workspace of two connections on the two demo organisations sharing one Xero sign-in."""

import pytest

from page_helpers import app, button, no_exception, texts, wait_for_run
from workspace_helpers import FIRST, SECOND, two_connections

from pages.common import context
from pexxero.sandbox import demo
from pexxero.workspace import open_workspace


def _text(at) -> str:
    return "\n".join(str(t.value) for t in at.text)


def test_every_connection_has_a_row_with_its_business_organisation_sync_and_session(page_env, doubles):
    two_connections(page_env, doubles)
    at = app("overview").run()
    no_exception(at)
    shown = _text(at)
    for organisation in (demo.TENANT_NAME, demo.SECOND_TENANT_NAME):
        assert f"Xero organisation: {organisation}" in shown
    assert f"PEX business: {demo.BUSINESS_NAME}" in shown
    assert shown.count("Never synced") == 2
    assert shown.count("new 0 · possible duplicates 0 · changed 0 · failed 0") == 2
    assert shown.count("Xero session refreshed today; 60 days to its 60-day expiry") == 2
    assert {FIRST, SECOND} <= set(texts(at).replace("*", "").split("\n"))
    assert [b.label for b in at.button].count("OPEN PREVIEW") == 2
    # the header names the connection chosen (the first, until another is picked)
    assert f"Xero organisation: {demo.TENANT_NAME}" in [str(t.value) for t in at.text]


def test_open_preview_on_a_row_works_on_that_connection_only(page_env, doubles):
    two_connections(page_env, doubles)
    at = app("overview").run()
    ws = open_workspace(page_env)
    second = ws.connection(SECOND).connection_id
    button_of_second = next(b for b in at.button if b.key == f"ov_open_{second}")
    button_of_second.click().run()
    no_exception(at)
    assert at.session_state[context.CURRENT] == SECOND
    assert f"Xero organisation: {demo.SECOND_TENANT_NAME}" in [str(t.value) for t in at.text]
    assert "Preview" in [t.value for t in at.title]
    # the preview built is the second organisation's, kept for that connection alone
    kept = context._previews()["by_db"]
    assert kept[f"{page_env}#{SECOND}"].tenant_id == demo.SECOND_TENANT_ID
    assert f"{page_env}#{FIRST}" not in kept
    # the waiting counts come from that preview, on the second row only
    at = app("overview").run()
    waits = [str(t.value) for t in at.text if str(t.value).startswith("new ")]
    assert waits[0] == "new 0 · possible duplicates 0 · changed 0 · failed 0"
    assert waits[1] != waits[0]


@pytest.mark.parametrize("page", ["setup", "sync", "history"])  # Preview and Connect: in the tests below
def test_the_sidebar_picker_switches_the_connection_of_every_page(page_env, doubles, page):
    two_connections(page_env, doubles)
    at = app(page).run()
    no_exception(at)
    assert f"Xero organisation: {demo.TENANT_NAME}" in [str(t.value) for t in at.text]
    at.sidebar.selectbox(key=context.PICKER).select(SECOND).run()
    no_exception(at)
    lines = [str(t.value) for t in at.text]
    assert f"Xero organisation: {demo.SECOND_TENANT_NAME}" in lines
    assert f"Xero organisation: {demo.TENANT_NAME}" not in lines
    assert f"PEX business: {demo.BUSINESS_NAME}" in lines


def test_a_new_connection_copies_a_setup_and_offers_the_sign_in_held(page_env, doubles):
    two_connections(page_env, doubles)
    ws = open_workspace(page_env)
    ws.connection(SECOND).disconnect_xero()  # its organisation is free again: the held sign-in sees it
    at = app("overview").run()
    at.text_input(key="ov_add_name").input("Holdings two")
    at.selectbox(key="ov_add_copy").select(FIRST)
    button(at, "ADD CONNECTION").click().run()
    no_exception(at)
    assert at.session_state[context.CURRENT] == "Holdings two"
    copied = ws.connection("Holdings two").saved_setup()
    assert copied is not None and copied.accounts == ws.connection(FIRST).saved_setup().accounts
    assert copied.xero.tenant_id == ""  # the organisation is the new connection's own pick
    assert "Use a Xero sign-in held here" in texts(at)
    assert [o for o in at.selectbox(key="grant_pick").options] == [f"Sandbox Holdings Ltd (the sign-in of {FIRST})"]
    at.switch_page("pages/connect.py")  # AppTest's next run starts from its own page, not the one switched to
    button(at, "USE THIS SIGN-IN").click().run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    assert ws.connection("Holdings two").tenant_id() == demo.SECOND_TENANT_ID
    assert f"Xero organisation: {demo.SECOND_TENANT_NAME}" in [str(t.value) for t in at.text]
    assert ws.connection(FIRST).tenant_id() == demo.TENANT_ID  # the sign-in's first user keeps its organisation


def test_tenant_selection_offers_no_organisation_another_connection_works_on(page_env, doubles):
    two_connections(page_env, doubles)
    at = app("connect").run()
    no_exception(at)
    assert at.selectbox(key="tenant_pick").options == [demo.TENANT_NAME]
    assert f"Not listed: {demo.SECOND_TENANT_NAME} (the connection {SECOND} works on it)" in texts(at)
    # the header names the connection's own organisation, and a name ending in a full stop gets no second one
    assert f"Xero organisation: {demo.TENANT_NAME}" in [str(t.value) for t in at.text]
    said = [str(s.value) for s in at.success if "Xero is connected to" in str(s.value)]
    assert said == [r"Xero is connected to **Sandbox Outdoor Co\.**"]


def test_names_from_pex_and_the_user_show_as_text(page_env, doubles):
    two_connections(page_env, doubles)
    hostile = "**bold** [link](http://example.test) <b>x</b> :red[r] $x$"
    ws = open_workspace(page_env)
    ws.store.set_pex_business(ws.store.connection_named(SECOND), hostile)
    ws.rename(SECOND, "Acme " + hostile)
    at = app("overview").run()
    no_exception(at)
    assert f"PEX business: {hostile}" in _text(at)  # a text element: shown as the characters it is made of
    names = [str(m.value) for m in at.markdown if "Acme" in str(m.value)]
    assert names and all("\\*\\*bold\\*\\*" in n and "\\[link\\]" in n for n in names), names


@pytest.mark.slow
def test_sync_all_writes_each_connection_into_its_own_organisation_once(page_env, doubles):
    two_connections(page_env, doubles)
    before = {t: _references(doubles, t) for t in (demo.TENANT_ID, demo.SECOND_TENANT_ID)}
    at = app("overview").run()
    button(at, "SYNC ALL").click().run()
    no_exception(at)
    said = [str(t.value) for t in at.text if str(t.value).startswith((FIRST + ":", SECOND + ":"))]
    assert len(said) == 2 and all("started (run " in line for line in said), said
    ws = open_workspace(page_env)
    runs = {name: ws.store.list_runs(ws.connection(name).connection_id, 1)[0]["id"] for name in (FIRST, SECOND)}
    ended = {name: wait_for_run(page_env, run_id, timeout=180.0) for name, run_id in runs.items()}
    assert {run["status"] for run in ended.values()} == {"succeeded"}
    assert {run["tenant_id"] for run in ended.values()} == {demo.TENANT_ID, demo.SECOND_TENANT_ID}
    for name, tenant in ((FIRST, demo.TENANT_ID), (SECOND, demo.SECOND_TENANT_ID)):
        after = _references(doubles, tenant)
        added = after - before[tenant]
        assert sum(added.values()) == ended[name]["written"] > 0
        assert all(after[ref] == 1 for ref in added)  # each written once, in its own organisation
        assert ws.connection(name).preview(save_plan=False).frame["status"].eq("new").sum() == 0
    at = app("overview").run()
    assert _text(at).count("Succeeded just now") == 2


def _references(doubles, tenant_id):
    from collections import Counter

    records = [t for t in doubles.xero.bank_transactions(tenant_id) if not t["Type"].endswith("-TRANSFER")]
    records += doubles.xero.bank_transfers(tenant_id)
    return Counter(r.get("Reference") for r in records if str(r.get("Reference") or "").startswith("PEX-"))


def test_the_own_sandbox_offers_the_demo_workspace_until_a_connection_is_set_up(tmp_path, monkeypatch):
    import os

    saved = dict(os.environ)
    try:
        for name in ("XERO_CLIENT_ID", "XERO_CLIENT_SECRET"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("PEXXERO_DB", str(tmp_path / "pexxero.db"))
        at = app("overview").run()
        no_exception(at)
        button(at, "LOAD THE DEMO WORKSPACE").click().run()
        no_exception(at)
        shown = _text(at)
        for business, organisation in ((demo.BUSINESS_NAME, demo.TENANT_NAME),
                                       (demo.SECOND_BUSINESS_NAME, demo.SECOND_TENANT_NAME)):
            assert f"Loaded: {business}" in shown
            assert f"PEX business: {business}" in shown and f"Xero organisation: {organisation}" in shown
        with open_workspace(tmp_path / "pexxero.db") as ws:
            assert sorted(ws.names()) == sorted([demo.BUSINESS_NAME, demo.SECOND_BUSINESS_NAME])  # no empty default
            assert all(s.set_up for s in ws.summaries())
        assert "LOAD THE DEMO WORKSPACE" not in [b.label for b in at.button]
    finally:
        os.environ.clear()
        os.environ.update(saved)
