"""OAuth: what the Xero double (as Xero) refuses, and what the dashboard's OAuth component checks on the callback.

The consent runs over real httpx against the double: GET the authorize page, POST "Allow", follow nothing (the
302's Location carries the code and the state), then POST the code to the token endpoint as the dashboard does.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from pexxero.sandbox import demo
from pexxero.sandbox.xero_oauth import DEFAULT_SCOPE

REDIRECT = "http://localhost:8501/component/streamlit_oauth.authorize_button"


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _authorize(xero, *, verifier: str, state: str = "s-123", redirect_uri: str = REDIRECT, **overrides) -> dict:
    """Consent through the double's pages; returns the callback's query (code, state, scope) or the refusal."""
    params = {"response_type": "code", "client_id": demo.XERO_CLIENT_ID, "redirect_uri": redirect_uri,
              "scope": DEFAULT_SCOPE, "state": state, "code_challenge": _challenge(verifier),
              "code_challenge_method": "S256", **overrides}
    params = {k: v for k, v in params.items() if v is not None}
    with httpx.Client(base_url=xero.url) as http:
        page = http.get("/identity/connect/authorize", params=params)
        if page.status_code != 200:
            return {"status": page.status_code, "page": page.text}
        answer = http.post("/identity/connect/authorize",
                           data={**params, "tenant": demo.TENANT_ID, "action": "allow"})
    assert answer.status_code == 302
    location = urlparse(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def _exchange(xero, code: str, verifier: str | None, redirect_uri: str = REDIRECT,
              secret: str = demo.XERO_CLIENT_SECRET) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        form["code_verifier"] = verifier
    return httpx.post(xero.url + "/connect/token", data=form, auth=(demo.XERO_CLIENT_ID, secret))


def test_the_right_code_verifier_and_redirect_get_a_token_and_the_state_comes_back(xero_double):
    verifier = secrets.token_urlsafe(48)
    callback = _authorize(xero_double, verifier=verifier, state="state-abc")
    assert callback["state"] == "state-abc"
    answer = _exchange(xero_double, callback["code"], verifier)
    assert answer.status_code == 200 and answer.json()["refresh_token"]


def test_a_replayed_code_is_refused(xero_double):
    verifier = secrets.token_urlsafe(48)
    code = _authorize(xero_double, verifier=verifier)["code"]
    assert _exchange(xero_double, code, verifier).status_code == 200
    replay = _exchange(xero_double, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("wrong", ["another-verifier-" + "x" * 40, "", None], ids=["other", "empty", "missing"])
def test_a_wrong_code_verifier_is_refused_and_spends_the_code(xero_double, wrong):
    verifier = secrets.token_urlsafe(48)
    code = _authorize(xero_double, verifier=verifier)["code"]
    refused = _exchange(xero_double, code, wrong)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    # a stolen code cannot be tried again with the right verifier either: it is single use
    assert _exchange(xero_double, code, verifier).status_code == 400


@pytest.mark.parametrize("other", ["http://localhost:8501/elsewhere", "http://evil.example/callback",
                                   REDIRECT + "/"], ids=["path", "host", "trailing-slash"])
def test_a_redirect_uri_unlike_the_authorize_request_is_refused(xero_double, other):
    verifier = secrets.token_urlsafe(48)
    code = _authorize(xero_double, verifier=verifier)["code"]
    refused = _exchange(xero_double, code, verifier, redirect_uri=other)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("overrides,reason", [
    ({"code_challenge": None}, "code_challenge is required"),
    ({"code_challenge_method": "plain"}, "code_challenge_method must be S256"),
    ({"client_id": "someone-else"}, "unauthorized_client"),
    ({"redirect_uri": ""}, "redirect_uri is required"),
])
def test_authorize_requests_without_pkce_or_from_an_unknown_app_are_refused(xero_double, overrides, reason):
    refused = _authorize(xero_double, verifier="v" * 50, **overrides)
    assert refused["status"] == 400 and reason in refused["page"]


def test_a_wrong_client_secret_is_refused_without_echoing_it(xero_double):
    verifier = secrets.token_urlsafe(48)
    code = _authorize(xero_double, verifier=verifier)["code"]
    refused = _exchange(xero_double, code, verifier, secret="not-the-secret-0123456789")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_client"
    assert "not-the-secret" not in refused.text and demo.XERO_CLIENT_SECRET not in refused.text


def test_a_spent_refresh_token_is_refused(xero_double):
    first = xero_double.grant([demo.TENANT_ID])
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    auth = (demo.XERO_CLIENT_ID, demo.XERO_CLIENT_SECRET)
    rotated = httpx.post(xero_double.url + "/connect/token", data=form, auth=auth)
    assert rotated.status_code == 200 and rotated.json()["refresh_token"] != first["refresh_token"]
    replay = httpx.post(xero_double.url + "/connect/token", data=form, auth=auth)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


# ------------------------------------------------------------ the dashboard's side: streamlit-oauth's callback

@pytest.fixture
def oauth_component(xero_double, monkeypatch):
    """The dashboard's OAuth component (streamlit-oauth) pointed at the double; `callback` stands in for the
    browser popup (the JavaScript part), whatever it returns is what the redirect delivered."""
    streamlit_oauth = pytest.importorskip("streamlit_oauth")
    delivered: dict = {}
    monkeypatch.setattr(streamlit_oauth, "_authorize_button", lambda **kwargs: dict(delivered))
    from pages.common.oauth import StrictOAuth2Component  # streamlit-oauth 0.1.14 lets a callback without state through

    component = StrictOAuth2Component(
        demo.XERO_CLIENT_ID, demo.XERO_CLIENT_SECRET,
        authorize_endpoint=xero_double.url + "/identity/connect/authorize",
        token_endpoint=xero_double.url + "/connect/token")
    return streamlit_oauth, component, delivered


def test_a_callback_whose_state_does_not_match_is_refused(oauth_component):
    streamlit_oauth, component, delivered = oauth_component
    delivered.update({"code": "any-code", "state": "an-attackers-state"})
    with pytest.raises(streamlit_oauth.StreamlitOauthError, match="STATE"):
        component.authorize_button("Connect Xero", REDIRECT, DEFAULT_SCOPE, key="xero-test", pkce="S256")


def test_a_callback_without_state_is_refused(oauth_component):
    streamlit_oauth, component, delivered = oauth_component
    delivered.update({"code": "an-injected-code"})
    with pytest.raises(streamlit_oauth.StreamlitOauthError):
        component.authorize_button("Connect Xero", REDIRECT, DEFAULT_SCOPE, key="xero-test", pkce="S256")


def test_an_injected_code_with_the_right_state_still_gets_no_token(oauth_component, xero_double):
    """PKCE too: a code issued to someone else's challenge is refused even when the state matches."""
    streamlit_oauth, component, delivered = oauth_component
    attackers_code = _authorize(xero_double, verifier=secrets.token_urlsafe(48))["code"]
    delivered.update({"code": attackers_code, "state": streamlit_oauth._generate_state("xero-test")})
    with pytest.raises(Exception) as raised:
        component.authorize_button("Connect Xero", REDIRECT, DEFAULT_SCOPE, key="xero-test", pkce="S256")
    assert not isinstance(raised.value, AssertionError)
    assert "invalid_grant" in str(raised.value) or "400" in str(raised.value)
