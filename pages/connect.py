"""Connect: the PEX API token, Xero through its consent popup (or a Xero sign-in already held for another
connection), the organisation, and both connections' status."""

import streamlit as st

from pages.common import context, widgets
from pexxero import views
from pexxero.connection import xero_app_credentials
from pexxero.clients.pex import PexAuthError
from pexxero.clients.xero import XeroSessionFailed

SCOPE = ("offline_access openid profile email accounting.transactions accounting.contacts accounting.settings "
         "accounting.attachments accounting.reports.read")

widgets.header("Connect")
conn = context.connection()


# ------------------------------------------------------------------------------------------------ PEX

st.subheader("PEX")
if conn.pex_connected():
    st.success("PEX is connected.", icon="✅")
with st.form("pex_token"):
    token = st.text_input(
        "PEX API token", value="" if conn.pex_connected() else context.default_pex_token(), type="password",
        help="From PEX: Administration → API tokens. Stored encrypted on this computer.",
    )
    if st.form_submit_button("SAVE PEX TOKEN"):
        if not token.strip():
            st.error("Enter the PEX API token first.")
        else:
            conn.connect_pex(token.strip())
            try:  # check it at once (a refused token is said here, not on Preview) and learn the business's name
                conn.store.set_pex_business(conn.connection_id, conn.pex().business_name())
            except PexAuthError as exc:
                conn.disconnect_pex()  # a refused token is not a connection
                st.error(widgets.plain(views.explain(exc)))
            except Exception as exc:  # noqa: BLE001 - PEX unreachable: keep the token, say why it is unchecked
                st.warning(widgets.plain(views.explain(exc)))
            else:
                st.toast("PEX connected")
                st.rerun()

# ----------------------------------------------------------------------------------------------- Xero


def xero_button(label: str, key: str) -> None:
    """The streamlit-oauth popup: authorization code with PKCE; the token set goes straight to the store."""
    from streamlit_oauth import StreamlitOauthError

    from pages.common.oauth import StrictOAuth2Component

    client_id, client_secret = xero_app_credentials(context.SECRETS_PATH)
    if not client_id:
        st.error("No Xero app is configured: add [xero] client_id and client_secret to .streamlit/secrets.toml.")
        return
    endpoints = conn.endpoints
    oauth = StrictOAuth2Component(
        client_id, client_secret, authorize_endpoint=endpoints.xero_authorize_url,
        token_endpoint=endpoints.xero_token_url, refresh_token_endpoint=endpoints.xero_token_url,
        revoke_token_endpoint=endpoints.xero_revocation_url,
    )
    try:
        result = oauth.authorize_button(label, redirect_uri=context.redirect_uri(), scope=SCOPE, pkce="S256",
                                        key=key, use_container_width=False)
    except StreamlitOauthError:
        st.error("Xero did not give access (the consent was cancelled or expired). Try again.")
        return
    except Exception as exc:  # noqa: BLE001 - the token exchange failed: say so plainly
        st.error(f"Xero refused the connection ({type(exc).__name__}). Try again.")
        return
    if result and result.get("token"):
        conn.connect_xero(dict(result["token"]))
        st.session_state.pop("reconnect", None)
        st.rerun()


def disconnect_button(key: str) -> None:
    """DISCONNECT, then a confirmation: revoking is not undone by a click (a new consent in Xero is)."""
    if not st.session_state.get("confirm_disconnect"):
        if st.button("DISCONNECT", key=key):
            st.session_state["confirm_disconnect"] = True
            st.rerun()
        return
    with st.container(border=True):
        st.warning("Disconnect Xero? This revokes pexxero's access at Xero: syncs stop, and connecting again "
                   "means signing in to Xero and allowing access once more.")
        yes, no = st.columns(2)
        if yes.button("YES, DISCONNECT", key=key + "_yes"):
            st.session_state.pop("confirm_disconnect", None)
            conn.disconnect_xero()
            st.session_state.pop("reconnect", None)
            st.rerun()
        if no.button("KEEP THE CONNECTION", key=key + "_no"):
            st.session_state.pop("confirm_disconnect", None)
            st.rerun()


st.subheader("Xero")
session_failed = False
tenants = []
if conn.xero_connected():
    try:
        tenants = conn.tenants()
    except XeroSessionFailed:
        session_failed = True
    except Exception as exc:  # noqa: BLE001
        st.error(widgets.plain(views.explain(exc)))


def existing_sign_ins() -> bool:
    """The organisations that Xero sign-ins already held here see, and no other connection works on: one of them
    connects this connection without a new consent. Returns whether any was offered."""
    ws = context.workspace()
    here = context.current_name(ws)
    taken = {s.tenant_id for s in ws.summaries() if s.tenant_id and s.name != here}
    offers = {f"{grant.id}:{tenant_id}": (grant, tenant_id, name) for grant in ws.grants()
              for tenant_id, name in grant.tenants if tenant_id not in taken}
    if not offers:
        return False
    with st.container(border=True):
        st.markdown("#### Use a Xero sign-in held here")
        st.write("These organisations are reachable through a Xero sign-in this dashboard already holds.")
        pick = st.selectbox("Organisation", list(offers), key="grant_pick",
                            format_func=lambda k: f"{offers[k][2] or offers[k][1]} (the sign-in of "
                                                  f"{', '.join(offers[k][0].connections)})")
        if st.button("USE THIS SIGN-IN", type="primary", key="grant_use"):
            with widgets.guard():
                grant, tenant_id, name = offers[pick]
                ws.use_grant(here, tenant_id, grant.id)
                context.keep_preview(None)
                st.toast(f"Organisation set: {widgets.plain(name or tenant_id)}")
                st.rerun()
    return True


if not conn.xero_connected():
    if existing_sign_ins():
        st.write("Or connect another Xero sign-in: a Xero window opens, you sign in and allow access to your "
                 "organisation.")
    else:
        st.write("Connect Xero: a Xero window opens, you sign in and allow access to your organisation.")
    xero_button("CONNECT TO XERO", "xero_connect")
elif session_failed or st.session_state.get("reconnect"):
    with st.container(border=True):
        st.markdown("#### Xero Session Failure")
        st.write("Xero no longer accepts this connection (it was disconnected in Xero, or has been unused too long). "
                 "Re-connect to continue syncing, or disconnect.")
        left, right = st.columns(2)
        with left:
            xero_button("RE-CONNECT", "xero_reconnect")
        with right:
            disconnect_button("xero_disconnect")
else:
    chosen = conn.tenant_id()
    names = {t.tenant_id: t.tenant_name for t in tenants}
    if chosen and chosen in names:
        st.success(f"Xero is connected to **{widgets.plain(names[chosen])}**{views.full_stop(names[chosen])}",
                   icon="✅")
    with st.container(border=True):
        st.markdown("#### Tenant Selection")
        if not tenants:
            st.warning("This Xero connection gives access to no organisation. Re-connect and tick one.")
        else:
            # one connection per organisation: those another connection works on are not offered here
            taken = {s.tenant_id: s.name for s in context.workspace().summaries()
                     if s.tenant_id and s.name != context.current_name()}
            ids = [t for t in names if t not in taken]
            if taken.keys() & names.keys():
                st.caption("Not listed: " + "; ".join(f"{widgets.plain(names[t])} (the connection "
                                                       f"{widgets.plain(n)} works on it)"
                                                       for t, n in taken.items() if t in names))
            if not ids:
                st.info("Every organisation this Xero sign-in reaches has its own connection already.")
            else:
                pick = st.selectbox("Organisation", ids, index=ids.index(chosen) if chosen in ids else 0,
                                    format_func=names.get, key="tenant_pick")
                if st.button("CONFIRM", type="primary", key="tenant_confirm"):
                    with widgets.guard():
                        if pick != chosen:
                            context.keep_preview(None)  # built against the other organisation's records
                        conn.choose_tenant(pick)
                        st.toast(f"Organisation set: {widgets.plain(names[pick])}")
                        st.rerun()
    with st.expander("Disconnect or re-connect Xero", expanded=bool(st.session_state.get("confirm_disconnect"))):
        st.write("Disconnecting revokes pexxero's access at Xero. Syncs stop until you connect again.")
        disconnect_button("xero_disconnect_ok")
        if st.button("RE-CONNECT", key="xero_reconnect_ok"):
            st.session_state["reconnect"] = True
            st.rerun()

# ----------------------------------------------------------------------------------------------- status

st.subheader("Status")
left, right = st.columns(2)
left.metric("PEX", "Connected" if conn.pex_connected() else "Not connected")
if not conn.xero_connected():
    xero_state = "Not connected"
elif session_failed:
    xero_state = "Session failed"
elif not conn.tenant_id():
    xero_state = "Pick the organisation"
else:
    xero_state = "Connected"
right.metric("Xero", xero_state)
if conn.pex_connected() and xero_state == "Connected":
    st.page_link("pages/setup.py", label="Next: Connector Setup", icon=":material/arrow_forward:")
