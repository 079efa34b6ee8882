"""The Connect page (AppTest) against the sandbox doubles: PEX token, Tenant Selection, Xero Session Failure."""

from page_helpers import app, button, connected, no_exception, texts

from pexxero.connection import open_connection
from pexxero.sandbox import demo


def test_not_connected_prefills_the_demo_token_and_saves_it(page_env):
    at = app("connect").run()
    no_exception(at)
    assert "**Sandbox mode**" in texts(at)
    assert {m.label: m.value for m in at.metric} == {"PEX": "Not connected", "Xero": "Not connected"}
    assert at.text_input[0].value == demo.PEX_TOKEN
    button(at, "SAVE PEX TOKEN").click().run()
    no_exception(at)
    assert open_connection(page_env).pex_connected()
    assert "PEX is connected." in texts(at)


def test_a_refused_pex_token_is_said_and_not_kept(page_env):
    at = app("connect").run()
    at.text_input[0].set_value("not-a-token")
    button(at, "SAVE PEX TOKEN").click().run()
    no_exception(at)
    assert "PEX refused the API token" in texts(at)
    assert not open_connection(page_env).pex_connected()


def test_tenant_selection_confirms_the_picked_organisation(page_env, doubles):
    conn = open_connection(page_env)
    conn.connect_pex(demo.PEX_TOKEN)
    conn.connect_xero(doubles.xero.grant())  # consented, no organisation chosen yet
    at = app("connect").run()
    no_exception(at)
    assert "Tenant Selection" in texts(at)
    assert {m.label: m.value for m in at.metric}["Xero"] == "Pick the organisation"
    at.selectbox(key="tenant_pick").select(demo.SECOND_TENANT_ID)
    button(at, "CONFIRM").click().run()
    no_exception(at)
    assert open_connection(page_env).tenant_id() == demo.SECOND_TENANT_ID
    assert f"Xero is connected to **{demo.SECOND_TENANT_NAME}**" in texts(at)


def test_session_failure_box_and_disconnect_revokes(page_env, doubles):
    conn = connected(page_env, doubles)
    doubles.xero.oauth.revoke_all()  # Xero forgets the grant: the refresh is refused
    conn.store.save_credentials(conn.connection_id, "xero",
                                {**conn.store.load_credentials(conn.connection_id, "xero"), "expires_at": 0})
    at = app("connect").run()
    no_exception(at)
    assert "Xero Session Failure" in texts(at)
    assert {m.label: m.value for m in at.metric}["Xero"] == "Session failed"
    assert any(b.label == "DISCONNECT" for b in at.button)
    button(at, "DISCONNECT").click().run()
    no_exception(at)
    assert open_connection(page_env).xero_connected()  # not yet: revoking asks first
    assert "Disconnect Xero? This revokes" in texts(at)
    button(at, "YES, DISCONNECT").click().run()
    no_exception(at)
    assert not open_connection(page_env).xero_connected()
    assert {m.label: m.value for m in at.metric}["Xero"] == "Not connected"


def test_the_picked_organisation_survives_a_token_refresh(page_env, doubles):
    """A refresh saves Xero's new token set over the stored one; the organisation picked must not go with it."""
    conn = connected(page_env, doubles)
    conn.xero().refresh()
    assert "tenant_id" not in conn.store.load_credentials(conn.connection_id, "xero")
    assert open_connection(page_env).tenant_id() == demo.TENANT_ID
    at = app("connect").run()
    assert {m.label: m.value for m in at.metric}["Xero"] == "Connected"
    conn.disconnect_xero()
    assert open_connection(page_env).tenant_id() == ""


def test_disconnect_asks_first_and_can_be_called_off(page_env, doubles):
    connected(page_env, doubles)
    at = app("connect").run()
    button(at, "DISCONNECT").click().run()
    no_exception(at)
    assert open_connection(page_env).xero_connected()
    button(at, "KEEP THE CONNECTION").click().run()
    no_exception(at)
    assert open_connection(page_env).xero_connected()
    assert {m.label: m.value for m in at.metric}["Xero"] == "Connected"
    assert not any(b.label == "YES, DISCONNECT" for b in at.button)
