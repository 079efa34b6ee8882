"""Every page names the Xero organisation it works on (AppTest); after a switch on Connect, Preview is rebuilt for
the new organisation and Sync refuses the old organisation's plan in words."""

import pytest

from page_helpers import app, button, no_exception, set_up, texts

from pexxero.sandbox import demo


def _plain(at) -> list[str]:
    return [str(t.value) for t in at.text]


@pytest.mark.parametrize("page", ["connect", "setup", "preview", "sync", "history"])
def test_the_header_names_the_organisation_as_plain_text(page_env, doubles, page):
    set_up(page_env, doubles)
    at = app(page).run()
    no_exception(at)
    assert f"Xero organisation: {demo.TENANT_NAME}" in _plain(at)


def test_without_an_organisation_the_header_says_to_pick_one(page_env, doubles):
    at = app("connect").run()
    no_exception(at)
    assert "Xero organisation: none chosen yet (pick one on the Connect page)" in _plain(at)


def test_after_a_switch_preview_is_the_new_organisations_and_sync_refuses_the_old_plan(page_env, doubles):
    set_up(page_env, doubles)
    at = app("preview").run()  # builds and keeps the preview of the first organisation
    no_exception(at)
    assert {m.label: m.value for m in at.metric}["Synced"] != "0"

    at = app("connect").run()
    at.selectbox(key="tenant_pick").select(demo.SECOND_TENANT_ID)
    button(at, "CONFIRM").click().run()
    no_exception(at)
    assert f"Xero organisation: {demo.SECOND_TENANT_NAME}" in _plain(app("connect").run())

    at = app("sync").run()
    no_exception(at)
    assert (f"This preview was built for {demo.TENANT_NAME}; Xero is now connected to {demo.SECOND_TENANT_NAME}: "
            "preview again") in texts(at)
    assert button(at, "SYNC").disabled

    at = app("preview").run()
    no_exception(at)
    assert f"Xero organisation: {demo.SECOND_TENANT_NAME}" in _plain(at)
    assert {m.label: m.value for m in at.metric}["Synced"] == "0"  # the second organisation holds nothing yet
    at = app("sync").run()
    no_exception(at)
    assert "preview again" not in texts(at) and not button(at, "SYNC").disabled
