"""The Xero consent popup: streamlit-oauth's component, made strict about `state`.

streamlit-oauth 0.1.14 compares the callback's `state` only when the callback carries one, so a callback with a
code and no state would be exchanged. This component refuses it: the callback must carry exactly the state this
session issued. (PKCE already makes an injected code useless; this closes the gap where it happens.)
"""

from __future__ import annotations

import asyncio

import streamlit as st
import streamlit_oauth as library
from streamlit_oauth import StreamlitOauthError


class StrictOAuth2Component(library.OAuth2Component):
    def authorize_button(self, name, redirect_uri, scope, height=800, width=600, key=None, pkce=None,
                         extras_params=None, icon=None, use_container_width=False, auto_click=False):
        state = library._generate_state(key)
        extras = dict(extras_params or {})
        verifier = None
        if pkce:
            verifier, challenge = library._generate_pkce_pair(pkce, key)
            extras.update(code_challenge=challenge, code_challenge_method=pkce)
        url = asyncio.run(self.client.get_authorization_url(redirect_uri=redirect_uri, scope=scope.split(" "),
                                                            state=state, extras_params=extras))
        result = library._authorize_button(authorization_url=url, name=name, popup_height=height, popup_width=width,
                                           key=key, icon=icon, use_container_width=use_container_width,
                                           auto_click=auto_click)
        if not result:
            return result
        # one state and one verifier per attempt, whatever its outcome: a replayed callback finds neither
        st.session_state.pop(f"state-{key}", None)
        st.session_state.pop(f"pkce-{key}", None)
        if "error" in result:
            raise StreamlitOauthError(result)
        if result.get("state") != state:
            raise StreamlitOauthError("STATE missing or not the one this session issued: the callback is refused")
        if "code" in result:
            args = {"code": result["code"], "redirect_uri": redirect_uri}
            if verifier:
                args["code_verifier"] = verifier
            result["token"] = asyncio.run(self.client.get_access_token(**args))
        return result
