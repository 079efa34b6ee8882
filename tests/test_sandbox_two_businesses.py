"""The sandbox's two demo businesses and three organisations, as the doubles serve them over loopback: each PEX token
sees its own business only, the bookkeeper's one Xero grant sees the two businesses' organisations, and the third
organisation is reachable only through the second user's sign-in."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from pexxero.sandbox import demo
from pexxero.sandbox.pex_double import PexDouble
from pexxero.sandbox.xero_double import XeroDouble

T1, T2, T3 = demo.TENANT_ID, demo.SECOND_TENANT_ID, demo.THIRD_TENANT_ID
REDIRECT = "http://127.0.0.1:8501/callback"


@pytest.fixture(scope="module")
def pex():
    with PexDouble() as double:
        yield double


@pytest.fixture(scope="module")
def xero():
    with XeroDouble(seed_records=False) as double:
        yield double


def pex_get(double: PexDouble, token: str, path: str, **params) -> httpx.Response:
    return httpx.get(double.url + "/v4" + path, params=params, headers={"Authorization": f"token {token}"})


def window(double: PexDouble) -> dict:
    return {"StartDate": f"{double.today - timedelta(days=200)}T00:00:00",
            "EndDate": f"{double.today}T23:59:59"}


def ledger(double: PexDouble, token: str) -> list[dict]:
    reply = pex_get(double, token, "/Details/AllCardholderTransactions", **window(double))
    assert reply.status_code == 200
    return reply.json()["TransactionList"]


def day_key(row: dict) -> tuple:
    return row["MerchantName"], row["TransactionAmount"], row["TransactionTime"][:10]


# ------------------------------------------------------------------------------------------------ PEX


def test_each_token_sees_its_own_business(pex):
    names = {}
    for token in (demo.PEX_TOKEN, demo.SECOND_PEX_TOKEN):
        details = pex_get(pex, token, "/Details/AccountDetails").json()
        current = pex_get(pex, token, "/Token/Current").json()
        settings = pex_get(pex, token, "/Business/Settings").json()
        assert details["BusinessAccountId"] == current["BusinessAccountId"] == settings["BusinessAccountId"]
        names[token] = (details["BusinessName"], current["BusinessAccountName"], details["BusinessAccountId"])
    assert names[demo.PEX_TOKEN] == (demo.BUSINESS_NAME, demo.BUSINESS_NAME, demo.BUSINESS_ACCOUNT_ID)
    assert names[demo.SECOND_PEX_TOKEN] == (demo.SECOND_BUSINESS_NAME, demo.SECOND_BUSINESS_NAME,
                                            demo.SECOND_BUSINESS_ACCOUNT_ID)
    assert pex_get(pex, "sandbox-pex-token-unknown", "/Details/AccountDetails").status_code == 403


def test_the_two_ledgers_overlap_but_never_share_an_id(pex):
    first, second = ledger(pex, demo.PEX_TOKEN), ledger(pex, demo.SECOND_PEX_TOKEN)
    assert {r["TransactionId"] for r in first}.isdisjoint(r["TransactionId"] for r in second)
    settled = [r for r in second if r["TransactionType"] == "Network" and not r["IsPending"]]
    alike = [r for r in settled if day_key(r) in {day_key(f) for f in first}]
    # a good part is the same merchant, amount and day as in the first business; some is its own
    assert len(alike) >= 50 and len(alike) < len(settled)
    assert {r["AcctId"] for r in second}.isdisjoint(r["AcctId"] for r in first)
    holders = {c["AccountId"] for c in pex_get(pex, demo.SECOND_PEX_TOKEN, "/Details/AccountDetails")
               .json()["CHAccountList"]}
    assert {r["AcctId"] for r in second} <= holders
    business = pex_get(pex, demo.SECOND_PEX_TOKEN, "/Details/TransactionDetails", **window(pex)).json()
    fees = [r for r in business["TransactionList"] if r["Description"] == "PEX Platform Fee"]
    assert fees and all(r["AcctId"] == demo.SECOND_BUSINESS_ACCOUNT_ID for r in fees)


def test_the_first_business_is_what_it_always_was(pex):
    assert pex.first.transactions == demo.pex_transactions(1, pex.today)
    assert pex.tag_definitions == demo.pex_tag_definitions()


def test_one_business_cannot_read_the_others_receipts_tags_or_accounts(pex):
    first_tx = next(tx for tx, files in pex.attachments.items() if files[0]["UploadStatus"] == "Loaded")
    assert pex_get(pex, demo.PEX_TOKEN, f"/Transactions/{first_tx}/Attachments").status_code == 200
    assert pex_get(pex, demo.SECOND_PEX_TOKEN, f"/Transactions/{first_tx}/Attachments").status_code == 404
    tags = {t["Name"]: t["Id"] for t in pex_get(pex, demo.SECOND_PEX_TOKEN, "/Business/Configuration/Tags").json()}
    assert set(tags) == {t["Name"] for t in demo.pex_tag_definitions()}  # the same tags by name ...
    assert set(tags.values()).isdisjoint(t["Id"] for t in demo.pex_tag_definitions())  # ... under its own ids
    assert pex_get(pex, demo.SECOND_PEX_TOKEN, f"/Business/Configuration/Tag/{demo.EXPENSE_TYPE_TAG_ID}").status_code \
        == 404
    first_holder = demo.PEX_CARDHOLDERS[0][0]
    assert pex_get(pex, demo.SECOND_PEX_TOKEN, f"/Details/TransactionDetails/{first_holder}",
                   **window(pex)).status_code == 404


def test_each_business_records_only_its_own_calls(pex):
    before_first, before_second = len(pex.first.requests), len(pex.second.requests)
    pex_get(pex, demo.SECOND_PEX_TOKEN, "/Business/Balance")
    assert len(pex.first.requests) == before_first
    assert pex.second.requests[before_second:] == [("GET", "/v4/Business/Balance", {})]


def test_rate_limits_count_per_token():
    with PexDouble(rate_limits=True) as double:
        statuses = [pex_get(double, demo.PEX_TOKEN, "/Details/TransactionDetails", **window(double)).status_code
                    for _ in range(2)]
        other = pex_get(double, demo.SECOND_PEX_TOKEN, "/Details/TransactionDetails", **window(double)).status_code
    assert statuses == [200, 429] and other == 200  # one call a minute per token


# ----------------------------------------------------------------------------------------------- Xero


def connections(double: XeroDouble, token: dict) -> list[tuple[str, str]]:
    reply = httpx.get(double.url + "/connections", headers={"Authorization": f"Bearer {token['access_token']}"})
    return [(c["tenantId"], c["tenantName"]) for c in reply.json()]


def organisation(double: XeroDouble, token: dict, tenant: str) -> httpx.Response:
    return httpx.get(double.env["XERO_API_URL"] + "/Organisation",
                     headers={"Authorization": f"Bearer {token['access_token']}", "xero-tenant-id": tenant})


def test_one_grant_sees_the_two_businesses_organisations(xero):
    token = xero.grant()
    assert connections(xero, token) == [(T1, demo.TENANT_NAME), (T2, demo.SECOND_TENANT_NAME)]
    assert organisation(xero, token, T2).json()["Organisations"][0]["Name"] == demo.SECOND_TENANT_NAME
    assert organisation(xero, token, T3).status_code == 403


def test_the_third_organisation_is_the_second_users_alone(xero):
    token = xero.grant(user=demo.SECOND_XERO_USER_EMAIL)
    assert connections(xero, token) == [(T3, demo.THIRD_TENANT_NAME)]
    assert organisation(xero, token, T3).json()["Organisations"][0]["Name"] == demo.THIRD_TENANT_NAME
    assert organisation(xero, token, T1).status_code == 403
    with pytest.raises(ValueError, match="cannot see"):
        xero.grant([T3])  # the bookkeeper cannot consent to it
    with pytest.raises(ValueError, match="cannot see"):
        xero.grant([T1], user=demo.SECOND_XERO_USER_EMAIL)


def test_the_third_organisation_has_the_chart_the_setup_needs(xero):
    token = xero.grant(user=demo.SECOND_XERO_USER_EMAIL)
    reply = httpx.get(xero.env["XERO_API_URL"] + "/Accounts",
                      headers={"Authorization": f"Bearer {token['access_token']}", "xero-tenant-id": T3})
    codes = {a["Code"] for a in reply.json()["Accounts"]}
    assert {"090", "091", "260", "404", "429"} <= codes
    assert xero.contacts(T3) and xero.bank_transactions(T3) == []


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorize(challenge: str, **over) -> dict:
    return {"response_type": "code", "client_id": demo.XERO_CLIENT_ID, "redirect_uri": REDIRECT,
            "scope": "openid accounting.transactions offline_access", "state": "st-7", "code_challenge": challenge,
            "code_challenge_method": "S256", **over}


def sign_in(double: XeroDouble, tenants: list[str], **over) -> dict:
    """Consent in the browser's way (the form posted back, every listed tenant ticked) and exchange the code."""
    verifier, challenge = pkce()
    with httpx.Client(base_url=double.url) as client:
        form = {**authorize(challenge, **over), "tenant": tenants, "action": "allow"}
        reply = client.post("/identity/connect/authorize", data=form, follow_redirects=False)
        code = parse_qs(urlparse(reply.headers["location"]).query)["code"][0]
        token = client.post("/connect/token", data={"grant_type": "authorization_code", "code": code,
                                                     "redirect_uri": REDIRECT, "code_verifier": verifier},
                            auth=(demo.XERO_CLIENT_ID, demo.XERO_CLIENT_SECRET))
    return token.json()


def test_the_consent_page_shows_the_signed_in_users_organisations(xero):
    _, challenge = pkce()
    first = httpx.get(xero.url + "/identity/connect/authorize", params=authorize(challenge)).text
    assert demo.TENANT_NAME in first and demo.SECOND_TENANT_NAME in first and demo.THIRD_TENANT_NAME not in first
    assert f"Sign in as {demo.SECOND_XERO_USER}" in first
    second = httpx.get(xero.url + "/identity/connect/authorize",
                       params=authorize(challenge, login_hint=demo.SECOND_XERO_USER_EMAIL)).text
    assert demo.THIRD_TENANT_NAME in second and demo.TENANT_NAME not in second
    assert f'<p id="user">{demo.SECOND_XERO_USER}</p>' in second
    unknown = httpx.get(xero.url + "/identity/connect/authorize",
                        params=authorize(challenge, login_hint="nobody@example.com"))
    assert unknown.status_code == 400 and 'id="allow"' not in unknown.text


def test_a_sign_in_reaches_only_its_users_organisations_whatever_the_form_says(xero):
    bookkeeper = sign_in(xero, [T1, T2, T3])  # a forged form ticking the third organisation too
    assert [t for t, _ in connections(xero, bookkeeper)] == [T1, T2]
    partner = sign_in(xero, [T1, T3], login_hint=demo.SECOND_XERO_USER_EMAIL)
    assert [t for t, _ in connections(xero, partner)] == [T3]
