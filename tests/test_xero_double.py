"""The Xero double, driven over loopback by httpx and by the official xero-python SDK."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from datetime import date, datetime, timezone
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import urllib3
from xero_python.accounting import (
    Account, AccountingApi, BankTransaction, BankTransactions, BankTransfer, BankTransfers, Contact, Contacts,
    LineAmountTypes, LineItem, LineItemTracking,
)
from xero_python.api_client import ApiClient, Configuration
from xero_python.api_client.oauth2 import OAuth2Token
from xero_python.exceptions import AccountingBadRequestException, HTTPStatusException
from xero_python.identity import IdentityApi

from pexxero.sandbox import demo
from pexxero.sandbox.xero_double import XeroDouble
from fakes import FakeClock

T1, T2 = demo.TENANT_ID, demo.SECOND_TENANT_ID
START = datetime(2026, 2, 10, 12, 0, tzinfo=timezone.utc).timestamp()
REDIRECT = "http://127.0.0.1:8501/callback"



@pytest.fixture
def clock():
    return FakeClock(START)


@pytest.fixture
def double(clock):
    """An empty double (no demo history), so each test sees exactly what it writes."""
    with XeroDouble(clock=clock, seed_records=False) as d:
        yield d


def bearer(token: dict, tenant: str | None = T1) -> dict:
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    if tenant:
        headers["xero-tenant-id"] = tenant
    return headers


def http(double: XeroDouble, **kw) -> httpx.Client:
    return httpx.Client(base_url=double.url, timeout=kw.pop("timeout", 10), **kw)


def sdk(double: XeroDouble, token: dict | None = None) -> AccountingApi:
    store = {"token": token or double.grant()}
    # the SDK's Configuration() copies a process-wide default and ignores constructor arguments once that
    # default exists (after the first ApiClient in the process), so the token goes on after construction
    config = Configuration()
    config.oauth2_token = OAuth2Token(client_id=demo.XERO_CLIENT_ID, client_secret=demo.XERO_CLIENT_SECRET)
    client = ApiClient(
        config,
        pool_threads=1,
        oauth2_token_getter=lambda: store["token"],
        oauth2_token_saver=lambda t: store.update(token=t),
    )
    return AccountingApi(client, base_url=double.env["XERO_API_URL"])


def spend(reference="PEX-1", amount="12.34", *, code="429", bank="091", contact=None, when="2026-01-31",
          tracking=None, **extra) -> dict:
    line = {"Description": "fuel", "LineAmount": Decimal(amount), "AccountCode": code}
    if tracking is not None:
        line["Tracking"] = tracking
    return {"Type": "SPEND", "Contact": contact or {"Name": "Shell"}, "BankAccount": {"Code": bank},
            "Date": when, "Reference": reference, "LineAmountTypes": "NoTax", "LineItems": [line], **extra}


def put(client: httpx.Client, token: dict, path: str, body: dict, *, tenant=T1, params=None, key=None):
    headers = bearer(token, tenant)
    if key:
        headers["Idempotency-Key"] = key
    from pexxero.sandbox.xero_wire import dumps

    return client.put("/api.xro/2.0" + path, content=dumps(body), headers={**headers, "Content-Type":
                                                                          "application/json"}, params=params)


def stored(double, tenant=T1, **match) -> list[dict]:
    return [r for r in double.bank_transactions(tenant) if all(r.get(k) == v for k, v in match.items())]


# ------------------------------------------------------------------------------------------------ OAuth2


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(challenge: str, **over) -> dict:
    return {"response_type": "code", "client_id": demo.XERO_CLIENT_ID, "redirect_uri": REDIRECT,
            "scope": "openid profile email accounting.transactions offline_access", "state": "st-42",
            "code_challenge": challenge, "code_challenge_method": "S256", **over}


def consent(client: httpx.Client, params: dict, action: str = "allow", tenants=(T1, T2)) -> dict:
    form = {**params, "tenant": list(tenants), "action": action}
    reply = client.post("/identity/connect/authorize", data=form, follow_redirects=False)
    assert reply.status_code == 302
    location = urlparse(reply.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def exchange(client, code, verifier, redirect=REDIRECT):
    return client.post("/connect/token", data={"grant_type": "authorization_code", "code": code,
                                               "redirect_uri": redirect, "code_verifier": verifier},
                       auth=(demo.XERO_CLIENT_ID, demo.XERO_CLIENT_SECRET))


def test_consent_page_lists_the_organisations_and_stable_buttons(double):
    _, challenge = pkce()
    with http(double) as client:
        page = client.get("/identity/connect/authorize", params=authorize_params(challenge))
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for text in ("PEX Connector wants access to:", demo.TENANT_NAME, demo.SECOND_TENANT_NAME, "Business transactions",
                 "Attachments", "Contacts", 'id="allow"', 'id="cancel"', "Allow access"):
        assert text in page.text


@pytest.mark.parametrize("change, reason", [
    ({"client_id": "someone-else"}, "unauthorized_client"),
    ({"code_challenge": ""}, "code_challenge is required"),
    ({"code_challenge_method": "plain"}, "must be S256"),
    ({"response_type": "token"}, "unsupported_response_type"),
])
def test_authorize_refuses_unknown_clients_and_missing_or_plain_pkce(double, change, reason):
    _, challenge = pkce()
    with http(double) as client:
        page = client.get("/identity/connect/authorize", params=authorize_params(challenge, **change))
    assert page.status_code == 400 and reason in page.text and 'id="allow"' not in page.text


def test_code_flow_with_pkce_issues_tokens_for_the_ticked_organisations(double):
    verifier, challenge = pkce()
    with http(double) as client:
        back = consent(client, authorize_params(challenge), tenants=[T2])
        assert back["state"] == "st-42" and back["code"]
        reply = exchange(client, back["code"], verifier)
        assert reply.status_code == 200
        token = reply.json()
        assert token["token_type"] == "Bearer" and token["expires_in"] == 1800
        assert token["refresh_token"] and token["id_token"].count(".") == 2
        connections = client.get("/connections", headers=bearer(token, None)).json()
        assert [(c["tenantId"], c["tenantName"], c["tenantType"]) for c in connections] == [
            (T2, demo.SECOND_TENANT_NAME, "ORGANISATION")]
        assert exchange(client, back["code"], verifier).json() == {"error": "invalid_grant"}  # single use


def test_a_wrong_verifier_or_redirect_uri_is_an_invalid_grant(double):
    verifier, challenge = pkce()
    with http(double) as client:
        code = consent(client, authorize_params(challenge))["code"]
        wrong = exchange(client, code, pkce()[0])
        assert (wrong.status_code, wrong.json()) == (400, {"error": "invalid_grant"})
        assert exchange(client, code, verifier).status_code == 400  # the code was spent by the failed try
        code = consent(client, authorize_params(challenge))["code"]
        assert exchange(client, code, verifier, redirect="http://127.0.0.1:9/other").json()["error"] == "invalid_grant"


def test_cancel_redirects_with_access_denied(double):
    _, challenge = pkce()
    with http(double) as client:
        back = consent(client, authorize_params(challenge), action="cancel")
    assert back == {"error": "access_denied", "state": "st-42"}


def test_no_refresh_token_without_offline_access(double):
    assert "refresh_token" not in double.grant(scope="openid accounting.transactions")


def refresh(client, refresh_token, secret=demo.XERO_CLIENT_SECRET):
    return client.post("/connect/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token,
                                               "client_id": demo.XERO_CLIENT_ID, "client_secret": secret})


def test_refresh_rotates_and_a_spent_refresh_token_is_refused(double):
    first = double.grant()
    with http(double) as client:
        second = refresh(client, first["refresh_token"]).json()
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        reused = refresh(client, first["refresh_token"])
        assert (reused.status_code, reused.json()) == (400, {"error": "invalid_grant"})
        assert refresh(client, second["refresh_token"]).status_code == 200
        bad = refresh(client, second["refresh_token"], secret="not-the-secret")
        assert bad.json() == {"error": "invalid_client"}
        assert "not-the-secret" not in bad.text


def test_revocation_ends_the_grant(double):
    token = double.grant()
    with http(double) as client:
        assert client.get("/api.xro/2.0/Organisation", headers=bearer(token)).status_code == 200
        revoked = client.post("/connect/revocation", data={"token": token["refresh_token"]},
                              auth=(demo.XERO_CLIENT_ID, demo.XERO_CLIENT_SECRET))
        assert revoked.status_code == 200
        assert refresh(client, token["refresh_token"]).json() == {"error": "invalid_grant"}
        after = client.get("/api.xro/2.0/Organisation", headers=bearer(token))
        assert after.status_code == 401 and after.json()["Detail"] == "AuthenticationUnsuccessful"


def test_access_tokens_expire_by_the_clock(double, clock):
    token = double.grant()
    with http(double) as client:
        clock.advance(1799)
        assert client.get("/api.xro/2.0/Organisation", headers=bearer(token)).status_code == 200
        clock.advance(2)
        expired = client.get("/api.xro/2.0/Organisation", headers=bearer(token))
        assert expired.status_code == 401
        body = expired.json()
        assert body["Title"] == "Unauthorized" and body["Detail"].startswith("TokenExpired: token expired at ")
        assert token["access_token"] not in expired.text
        fresh = refresh(client, token["refresh_token"]).json()
        assert client.get("/api.xro/2.0/Organisation", headers=bearer(fresh)).status_code == 200


def test_connections_can_be_deleted_and_the_tenant_then_refuses(double):
    token = double.grant()
    with http(double) as client:
        connections = client.get("/connections", headers=bearer(token, None)).json()
        assert {c["tenantId"] for c in connections} == {T1, T2}
        event = connections[0]["authEventId"]
        assert len(client.get("/connections", params={"authEventId": event}, headers=bearer(token, None)).json()) == 2
        assert client.get("/connections", params={"authEventId": "other"}, headers=bearer(token, None)).json() == []
        gone = next(c for c in connections if c["tenantId"] == T2)
        assert client.delete(f"/connections/{gone['id']}", headers=bearer(token, None)).status_code == 204
        assert client.delete(f"/connections/{gone['id']}", headers=bearer(token, None)).status_code == 404
        refused = client.get("/api.xro/2.0/Organisation", headers=bearer(token, T2))
        assert refused.status_code == 403 and refused.json()["Title"] == "Forbidden"
        assert client.get("/api.xro/2.0/Organisation", headers=bearer(token, None)).status_code == 403


def test_the_sdk_reads_connections(double):
    api = sdk(double)
    connections = IdentityApi(api.api_client, base_url=double.url).get_connections()
    assert {c.tenant_id for c in connections} == {T1, T2}


# ------------------------------------------------------------------------------------- reference data


def test_organisation_carries_lock_dates_when_set(double):
    api = sdk(double)
    org = api.get_organisations(T1).organisations[0]
    assert org.name == demo.TENANT_NAME and org.period_lock_date is None
    double.set_lock_date(T1, date(2025, 12, 31))
    double.set_end_of_year_lock_date(T1, date(2025, 6, 30))
    org = api.get_organisations(T1).organisations[0]
    assert org.period_lock_date == date(2025, 12, 31) and org.end_of_year_lock_date == date(2025, 6, 30)
    assert api.get_organisations(T2).organisations[0].name == demo.SECOND_TENANT_NAME


def test_accounts_tracking_and_contacts_through_the_sdk(double):
    api = sdk(double)
    accounts = api.get_accounts(T1).accounts
    assert {a.code for a in accounts} == {row[0] for row in demo.ACCOUNT_ROWS}
    assert next(a for a in accounts if a.code == "477").status == "ARCHIVED"
    assert [a.code for a in api.get_accounts(T1, where='Type=="BANK"').accounts] == ["090", "091", "092"]
    categories = {c.name: [o.name for o in c.options] for c in api.get_tracking_categories(T1).tracking_categories}
    assert categories == demo.TRACKING
    shell = api.get_contacts(T1, where='Name=="shell"').contacts
    assert [c.name for c in shell] == ["Shell"]
    assert len(api.get_contacts(T2).contacts) == len(demo.CONTACT_NAMES)


def test_tracking_option_edits_show_in_the_lists(double):
    api = sdk(double)
    double.rename_tracking_option(T1, "PROJECTS", "Beta Site", "Beta Yard")
    double.remove_tracking_option(T1, "FUEL", "Diesel")
    double.archive_account(T1, "453")
    categories = {c.name: [o.name for o in c.options] for c in api.get_tracking_categories(T1).tracking_categories}
    assert categories == {"PROJECTS": ["Alpha Site", "Beta Yard", "Overhead"], "FUEL": ["Unleaded"]}
    assert next(a for a in api.get_accounts(T1).accounts if a.code == "453").status == "ARCHIVED"


def test_contacts_batch_create_both_summarize_modes(double):
    api = sdk(double)
    batch = Contacts(contacts=[Contact(name="Acme Fuel"), Contact(name="shell")])
    with pytest.raises(AccountingBadRequestException) as caught:
        api.create_contacts(T1, batch)
    error = caught.value.error_data
    assert error["Type"] == "ValidationException"
    assert [e["Name"] for e in error["Elements"]] == ["shell"]
    assert "is already assigned to another contact" in error["Elements"][0]["ValidationErrors"][0]["Message"]
    assert "Acme Fuel" not in {c["Name"] for c in double.contacts(T1)}  # all or nothing
    result = api.create_contacts(T1, batch, summarize_errors=False).contacts
    assert [(c.name, c.status_attribute_string) for c in result] == [("Acme Fuel", "OK"), ("shell", "ERROR")]
    assert result[1].validation_errors[0].message.startswith("The contact name shell is already assigned")
    assert "Acme Fuel" in {c["Name"] for c in double.contacts(T1)}


def test_contacts_update_by_id(double):
    api = sdk(double)
    shell = api.get_contacts(T1, where='Name=="Shell"').contacts[0]
    api.update_or_create_contacts(T1, Contacts(contacts=[Contact(contact_id=shell.contact_id, name="Shell Oil")]))
    assert [c.name for c in api.get_contacts(T1, where=f'ContactID==guid("{shell.contact_id}")').contacts] == [
        "Shell Oil"]


# -------------------------------------------------------------------------------------- bank transactions


def sdk_spend(reference: str, amount: str, **over) -> BankTransaction:
    fields = dict(
        type="SPEND", contact=Contact(name="Acme Fuel"), bank_account=Account(code="091"), date=date(2026, 1, 31),
        reference=reference, url="https://dashboard.pexcard.com/transactions/1", line_amount_types=LineAmountTypes.NOTAX,
        line_items=[LineItem(description="Diesel", line_amount=Decimal(amount), account_code="449",
                             tracking=[LineItemTracking(name="PROJECTS", option="Alpha Site")])],
    )
    fields.update(over)
    return BankTransaction(**fields)


def test_create_and_read_back_bank_transactions_with_the_sdk(double):
    api = sdk(double)
    created = api.create_bank_transactions(T1, BankTransactions(bank_transactions=[sdk_spend("PEX-7", "10.10")]))
    txn = created.bank_transactions[0]
    assert txn.total == Decimal("10.10") and txn.date == date(2026, 1, 31) and txn.status == "AUTHORISED"
    assert txn.contact.contact_id and txn.contact.name == "Acme Fuel"  # created by name
    assert "Acme Fuel" in {c["Name"] for c in double.contacts(T1)}
    one = api.get_bank_transaction(T1, txn.bank_transaction_id).bank_transactions[0]
    assert one.line_items[0].tracking[0].option == "Alpha Site" and one.line_items[0].line_amount == Decimal("10.10")
    assert one.url == "https://dashboard.pexcard.com/transactions/1" and one.is_reconciled is False
    unpaged = api.get_bank_transactions(T1, where='Reference=="PEX-7"').bank_transactions
    assert len(unpaged) == 1 and unpaged[0].line_items == []  # Xero leaves lines out of an unpaged list
    assert [t.reference for t in api.get_bank_transactions(T1, references=["pex-7", "PEX-8"]).bank_transactions] == [
        "PEX-7"]
    paged = api.get_bank_transactions(T1, where='Reference=="PEX-7"', page=1)
    assert paged.bank_transactions[0].line_items[0].account_code == "449"
    assert (paged.pagination.page, paged.pagination.item_count) == (1, 1)
    raw = double.bank_transactions(T1)[0]
    assert raw["Date"] == "/Date(1769817600000+0000)/" and raw["Total"] == Decimal("10.10")


def test_dates_amounts_and_seeding_on_the_wire(clock, monkeypatch):
    kept_id = "11111111-2222-3333-4444-555555555555"
    seed = {
        "bank_transactions": [
            spend("PEX-OLD", "5.00", IsReconciled=True, BankTransactionID=kept_id),
            spend("PEX-FUEL", "7.00", code="477", when="/Date(1767225600000+0000)/"),  # since archived
            spend("PEX-GONE", "8.00", Status="DELETED"),
        ],
        "bank_transfers": [{"FromBankAccount": {"Code": "090"}, "ToBankAccount": {"Code": "091"},
                            "Amount": Decimal("100.00"), "Date": "2026-01-02", "Reference": "PEX-T1"}],
        "period_lock_date": date(2025, 12, 31),
    }
    seen = []
    monkeypatch.setattr(demo, "xero_seed", lambda s, today: seen.append((s, today)) or seed, raising=False)
    with XeroDouble(seed=7, today=date(2026, 2, 10), clock=clock) as d:
        assert seen == [(7, date(2026, 2, 10))]
        records = {r["Reference"]: r for r in d.bank_transactions(T1) if r["Type"] in ("SPEND", "RECEIVE")}
        assert set(records) == {"PEX-OLD", "PEX-FUEL", "PEX-GONE"}
        assert records["PEX-OLD"]["BankTransactionID"] == kept_id and records["PEX-OLD"]["IsReconciled"] is True
        assert records["PEX-FUEL"]["LineItems"][0]["AccountCode"] == "477"
        assert records["PEX-FUEL"]["DateString"] == "2026-01-01T00:00:00"
        assert records["PEX-GONE"]["Status"] == "DELETED"
        assert [t["Reference"] for t in d.bank_transfers(T1)] == ["PEX-T1"]
        assert d.bank_transactions(T2) == []
        with http(d) as client:
            body = client.get("/api.xro/2.0/Organisation", headers=bearer(d.grant())).text
        assert '"PeriodLockDate":"/Date(1767139200000+0000)/"' in body
        assert sdk(d).get_accounts(T1, where='Code=="477"').accounts[0].status == "ARCHIVED"  # still archived
    with XeroDouble(clock=clock, seed_records=False) as d:
        assert d.bank_transactions(T1) == []


def test_the_demo_history_loads_and_reads_back_through_the_sdk(xero_double):
    held = xero_double.bank_transactions(T1)
    api = sdk(xero_double)
    listed = api.get_bank_transactions(T1, page=1, page_size=1000).bank_transactions
    assert len(listed) == len(held) and {t.bank_transaction_id for t in listed} == {r["BankTransactionID"] for r in held}
    assert all(t.date is not None and t.total is not None for t in listed)


VALIDATION_CASES = [
    ("archived line account", spend(code="477"),
     "Account code '477' has been archived, or has been deleted. Each line item must reference a valid account."),
    ("unknown line account", spend(code="999"), "Account code '999' is not a valid code for this document."),
    ("missing line account", {**spend(), "LineItems": [{"Description": "x", "LineAmount": Decimal("1.00")}]},
     "Account code must be specified for each line item."),
    ("bank account not BANK", spend(bank="429"), "Account code '429' is not a bank account."),
    ("bank account missing", {k: v for k, v in spend().items() if k != "BankAccount"},
     "A valid BankAccount must be specified."),
    ("tracking category unknown", spend(tracking=[{"Name": "REGION", "Option": "North"}]),
     "The TrackingCategory 'REGION' does not exist or has been archived."),
    ("tracking option unknown", spend(tracking=[{"Name": "PROJECTS", "Option": "Gamma"}]),
     "The TrackingOption 'Gamma' does not exist for TrackingCategory 'PROJECTS'."),
    ("currency of the bank account", spend(bank="092", CurrencyCode="USD"),
     "The CurrencyCode 'USD' does not match the currency of the bank account '092' (EUR)."),
    ("contact unknown by id", spend(contact={"ContactID": "00000000-0000-0000-0000-000000000001"}),
     "The contact with ContactID '00000000-0000-0000-0000-000000000001' could not be found."),
    ("contact missing", spend(contact={"Name": ""}), "A Contact must be specified for this type of transaction"),
    ("line items missing", {**spend(), "LineItems": []}, "A Bank Transaction must have at least one line item."),
    ("zero total", spend(amount="0.00"), "The total of a bank transaction must be greater than zero."),
    ("total disagrees", spend(Total=Decimal("99.00")), "The document total does not equal the sum of the lines."),
]


@pytest.mark.parametrize("name, element, message", VALIDATION_CASES, ids=[c[0] for c in VALIDATION_CASES])
def test_validation_errors_are_worded_as_xero_words_them(double, name, element, message):
    with http(double) as client:
        reply = put(client, double.grant(), "/BankTransactions", {"BankTransactions": [element]})
    assert reply.status_code == 400
    body = reply.json()
    assert (body["ErrorNumber"], body["Type"]) == (10, "ValidationException")
    assert message in [e["Message"] for e in body["Elements"][0]["ValidationErrors"]]
    assert stored(double, Reference="PEX-1") == []


def test_lock_dates_and_archived_bank_accounts_refuse_writes(double):
    token = double.grant()
    double.set_lock_date(T1, date(2026, 1, 31))
    with http(double) as client:
        locked = put(client, token, "/BankTransactions", spend(when="2026-01-31")).json()
        assert locked["Elements"][0]["ValidationErrors"][0]["Message"] == (
            "The document date cannot be before the period lock date, currently set at 31-Jan-2026")
        assert put(client, token, "/BankTransactions", spend(when="2026-02-01")).status_code == 200
        double.archive_account(T1, "091")
        archived = put(client, token, "/BankTransactions", spend(when="2026-02-01", reference="PEX-2")).json()
        assert "has been archived" in archived["Elements"][0]["ValidationErrors"][0]["Message"]


def test_summarize_errors_false_creates_the_valid_ones(double):
    api = sdk(double)
    batch = BankTransactions(bank_transactions=[
        sdk_spend("PEX-1", "1.00"),
        sdk_spend("PEX-2", "2.00", line_items=[LineItem(description="x", line_amount=Decimal("2"), account_code="477")]),
        sdk_spend("PEX-3", "3.00"),
    ])
    with pytest.raises(AccountingBadRequestException) as caught:
        api.create_bank_transactions(T1, batch)  # summarizeErrors defaults to true: nothing written
    assert len(caught.value.error_data["Elements"]) == 1
    assert double.bank_transactions(T1) == []
    result = api.create_bank_transactions(T1, batch, summarize_errors=False).bank_transactions
    assert [(t.reference, t.status_attribute_string) for t in result] == [
        ("PEX-1", "OK"), ("PEX-2", "ERROR"), ("PEX-3", "OK")]
    assert "has been archived" in result[1].validation_errors[0].message
    assert sorted(r["Reference"] for r in double.bank_transactions(T1)) == ["PEX-1", "PEX-3"]


def test_post_updates_by_id_deleted_stay_listed_and_reconciled_refuse(double):
    api = sdk(double)
    txn = api.create_bank_transactions(T1, BankTransactions(bank_transactions=[sdk_spend("PEX-5", "5.00")]))
    txn_id = txn.bank_transactions[0].bank_transaction_id
    updated = api.update_or_create_bank_transactions(T1, BankTransactions(bank_transactions=[
        sdk_spend("PEX-5b", "5.00", bank_transaction_id=txn_id)])).bank_transactions[0]
    assert (updated.bank_transaction_id, updated.reference, updated.total) == (txn_id, "PEX-5b", Decimal("5.00"))
    with http(double) as client:  # a partial update: only the status
        client.post(f"/api.xro/2.0/BankTransactions/{txn_id}", json={"BankTransactions": [{"Status": "DELETED"}]},
                    headers=bearer(api.api_client.get_oauth2_token()))
    listed = api.get_bank_transactions(T1, where='Status=="DELETED"').bank_transactions
    assert [(t.bank_transaction_id, t.status) for t in listed] == [(txn_id, "DELETED")]

    other = api.create_bank_transactions(T1, BankTransactions(bank_transactions=[sdk_spend("PEX-6", "6.00")]))
    other_id = other.bank_transactions[0].bank_transaction_id
    double.set_reconciled(T1, other_id)
    with pytest.raises(AccountingBadRequestException) as caught:
        api.update_or_create_bank_transactions(T1, BankTransactions(bank_transactions=[
            sdk_spend("changed", "6.00", bank_transaction_id=other_id)]))
    assert caught.value.reason == ("This Bank Transaction cannot be edited as it has been reconciled with a "
                                   "Bank Statement.")
    assert stored(double, BankTransactionID=other_id)[0]["Reference"] == "PEX-6"


def test_idempotency_key_replays_and_refuses_a_different_body(double):
    token = double.grant()
    with http(double) as client:
        first = put(client, token, "/BankTransactions", spend("PEX-9"), key="k-9")
        again = put(client, token, "/BankTransactions", spend("PEX-9"), key="k-9")
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()
        assert len(stored(double, Reference="PEX-9")) == 1
        conflict = put(client, token, "/BankTransactions", spend("PEX-9", "99.00"), key="k-9")
        assert conflict.status_code == 409 and "Idempotency-Key" in conflict.json()["Message"]
        assert len(double.bank_transactions(T1)) == 1
        assert put(client, token, "/BankTransactions", spend("PEX-9"), key="k-10").status_code == 200
    assert len(stored(double, Reference="PEX-9")) == 2
    assert [r.idempotency_key for r in double.requests if r.method == "PUT"] == ["k-9", "k-9", "k-9", "k-10"]
    assert all(r.tenant_id == T1 for r in double.requests)


def test_sdk_sends_the_idempotency_key(double):
    api = sdk(double)
    batch = BankTransactions(bank_transactions=[sdk_spend("PEX-11", "11.00")])
    first = api.create_bank_transactions(T1, batch, idempotency_key="sdk-key")
    second = api.create_bank_transactions(T1, batch, idempotency_key="sdk-key")
    assert first.bank_transactions[0].bank_transaction_id == second.bank_transactions[0].bank_transaction_id
    assert len(double.bank_transactions(T1)) == 1


def test_where_order_and_paging(double):
    token = double.grant()
    elements = [spend(f"PEX-{i}", f"{i}.00", when=date(2026, 1, 1 + i % 28).isoformat()) for i in range(1, 251)]
    elements[0]["Type"] = "RECEIVE"
    with http(double) as client:
        assert put(client, token, "/BankTransactions", {"BankTransactions": elements}).status_code == 200

        def get(**params):
            reply = client.get("/api.xro/2.0/BankTransactions", params=params, headers=bearer(token))
            return reply.status_code, reply.json()

        status, body = get(page=1)
        assert len(body["BankTransactions"]) == 100
        assert body["pagination"] == {"page": 1, "pageSize": 100, "pageCount": 3, "itemCount": 250}
        assert len(get(page=3)[1]["BankTransactions"]) == 50 and get(page=4)[1]["BankTransactions"] == []
        assert len(get(page=1, pageSize=1000)[1]["BankTransactions"]) == 250
        # Xero serves at most 1,000 a page and documents no refusal above that: a larger pageSize is capped
        assert get(page=1, pageSize=5000)[1]["pagination"] == {"page": 1, "pageSize": 1000, "pageCount": 1,
                                                              "itemCount": 250}
        assert get(pageSize=120)[1]["pagination"]["pageCount"] == 3  # pageSize alone pages too
        assert len(get(page=3, pageSize=120)[1]["BankTransactions"]) == 10
        assert "pagination" not in get()[1] and len(get()[1]["BankTransactions"]) == 250

        bank = demo.xid("account", "091")
        refs = lambda body: [t["Reference"] for t in body["BankTransactions"]]  # noqa: E731
        assert refs(get(where='Reference=="PEX-1" || Reference=="pex-2"')[1]) == ["PEX-1", "PEX-2"]
        assert refs(get(where=f'(Type=="RECEIVE") AND BankAccount.AccountID==guid("{bank}")')[1]) == ["PEX-1"]
        jan_5 = get(where='Date==DateTime(2026,01,05) AND BankAccount.Code=="091"', order="Reference DESC")[1]
        assert refs(jan_5) == ["PEX-88", "PEX-60", "PEX-4", "PEX-32", "PEX-228", "PEX-200", "PEX-172", "PEX-144",
                               "PEX-116"]
        late = get(where='Date >= DateTime(2026, 01, 28) && Total > 200', order="Total")[1]
        assert refs(late) == ["PEX-223"]
        assert len(refs(get(where='Reference.StartsWith("PEX-2") AND Status!="DELETED"')[1])) == 62
        contact = demo.xid("contact", "Shell")
        assert len(refs(get(where=f'Contact.ContactID==guid("{contact}")', page=2)[1])) == 100

        for bad in ('Colour=="red"', 'Reference=="x" AND', 'Date=="2026-01-01"', 'Reference=="x" XOR Type=="y"'):
            status, body = get(where=bad)
            assert status == 400 and body["Type"] == "QueryParseException", bad
        status, body = get(order="Colour DESC")
        assert status == 400 and "Colour" in body["Message"]


def test_bank_transfers(double):
    api = sdk(double)
    transfer = BankTransfer(from_bank_account=Account(code="090"), to_bank_account=Account(code="091"),
                            amount=Decimal("500.00"), date=date(2026, 2, 1), reference="PEX-300")
    created = api.create_bank_transfer(T1, BankTransfers(bank_transfers=[transfer])).bank_transfers[0]
    assert created.amount == Decimal("500.00") and created.date == date(2026, 2, 1)
    source = demo.xid("account", "090")
    found = api.get_bank_transfers(T1, where=f'FromBankAccount.AccountID==guid("{source}")').bank_transfers
    assert [(t.bank_transfer_id, t.reference) for t in found] == [(created.bank_transfer_id, "PEX-300")]
    assert api.get_bank_transfers(T1, where='ToBankAccount.Code=="090"').bank_transfers == []
    legs = {(r["Type"], r["BankAccount"]["Code"], r["Total"]) for r in double.bank_transactions(T1)}
    assert legs == {("SPEND-TRANSFER", "090", Decimal("500.00")), ("RECEIVE-TRANSFER", "091", Decimal("500.00"))}
    assert double.bank_transfers(T1)[0]["BankTransferID"] == created.bank_transfer_id
    with pytest.raises(AccountingBadRequestException):
        api.create_bank_transfer(T1, BankTransfers(bank_transfers=[BankTransfer(
            from_bank_account=Account(code="091"), to_bank_account=Account(code="091"), amount=Decimal("1"))]))


def test_attachments(double):
    api = sdk(double)
    txn = api.create_bank_transactions(T1, BankTransactions(bank_transactions=[sdk_spend("PEX-20", "20.00")]))
    txn_id = txn.bank_transactions[0].bank_transaction_id
    receipt = b"%PDF-1.4 receipt bytes"
    made = api.create_bank_transaction_attachment_by_file_name(T1, txn_id, "receipt.pdf", receipt,
                                                               idempotency_key="att-1")
    assert made.attachments[0].file_name == "receipt.pdf" and made.attachments[0].content_length == len(receipt)
    api.create_bank_transaction_attachment_by_file_name(T1, txn_id, "receipt.pdf", receipt, idempotency_key="att-1")
    token = api.api_client.get_oauth2_token()
    with http(double) as client:
        client.post(f"/api.xro/2.0/BankTransactions/{txn_id}/Attachments/photo.jpg", content=b"\xff\xd8jpeg",
                    headers={**bearer(token), "Content-Type": "image/jpeg"})
        listed = client.get(f"/api.xro/2.0/BankTransactions/{txn_id}/Attachments", headers=bearer(token)).json()
        content = client.get(f"/api.xro/2.0/BankTransactions/{txn_id}/Attachments/photo.jpg", headers=bearer(token))
    assert [(a["FileName"], a["MimeType"]) for a in listed["Attachments"]] == [
        ("receipt.pdf", "application/octet-stream"), ("photo.jpg", "image/jpeg")]
    assert content.content == b"\xff\xd8jpeg"
    assert [a["Content"] for a in double.attachments(T1, txn_id)] == [receipt, b"\xff\xd8jpeg"]
    assert api.get_bank_transaction(T1, txn_id).bank_transactions[0].has_attachments is True


def test_attachments_over_10_mb_or_beyond_10_on_a_record_are_refused_as_xero_refuses_them(double):
    api = sdk(double)
    txn = api.create_bank_transactions(T1, BankTransactions(bank_transactions=[sdk_spend("PEX-21", "21.00")]))
    txn_id = txn.bank_transactions[0].bank_transaction_id
    token = api.api_client.get_oauth2_token()
    url = f"/api.xro/2.0/BankTransactions/{txn_id}/Attachments"
    with http(double) as client:
        big = client.put(f"{url}/big.pdf", content=b"%PDF" + b"\0" * (10 * 1024 * 1024 - 3),
                         headers={**bearer(token), "Content-Type": "application/pdf"})
        assert big.status_code == 413
        assert big.json()["Title"] == "RequestEntityTooLarge" and big.json()["Detail"] == "PayloadTooLarge"
        exactly = client.put(f"{url}/limit.pdf", content=b"%PDF" + b"\0" * (10 * 1024 * 1024 - 4),
                             headers={**bearer(token), "Content-Type": "application/pdf"})
        assert exactly.status_code == 200
        for n in range(9):
            assert client.put(f"{url}/scan-{n}.pdf", content=b"%PDF-1.4", headers=bearer(token)).status_code == 200
        eleventh = client.put(f"{url}/scan-10.pdf", content=b"%PDF-1.4", headers=bearer(token))
        again = client.put(f"{url}/scan-0.pdf", content=b"%PDF-1.5", headers=bearer(token))  # a replacement
    assert eleventh.status_code == 400
    refused = eleventh.json()
    assert refused["Type"] == "ValidationException"
    assert refused["Elements"][0]["ValidationErrors"][0]["Message"] == "A document can have at most 10 attachments."
    assert again.status_code == 200
    assert len(double.attachments(T1, txn_id)) == 10


# ----------------------------------------------------------------------------------------------- limits


def test_minute_limit_with_headers_and_recovery(clock):
    with XeroDouble(clock=clock, minute_limit=3) as d, http(d) as client:
        token = d.grant()
        remaining = []
        for _ in range(3):
            reply = client.get("/api.xro/2.0/Organisation", headers=bearer(token))
            assert reply.status_code == 200
            remaining.append(reply.headers["X-MinLimit-Remaining"])
            assert reply.headers["X-DayLimit-Remaining"] and reply.headers["X-AppMinLimit-Remaining"]
        assert remaining == ["2", "1", "0"]
        clock.advance(20)
        over = client.get("/api.xro/2.0/Organisation", headers=bearer(token))
        assert over.status_code == 429
        assert (over.headers["X-Rate-Limit-Problem"], over.headers["Retry-After"]) == ("minute", "40")
        assert client.get("/api.xro/2.0/Organisation", headers=bearer(token, T2)).status_code == 200  # per tenant
        clock.advance(40)
        assert client.get("/api.xro/2.0/Organisation", headers=bearer(token)).status_code == 200


def test_day_limit_resets_at_midnight_utc(clock):
    with XeroDouble(clock=clock, day_limit=2) as d, http(d) as client:
        token = d.grant(scope="accounting.settings offline_access")
        for expected in ("1", "0"):
            assert client.get("/api.xro/2.0/Accounts", headers=bearer(token)).headers["X-DayLimit-Remaining"] == expected
        over = client.get("/api.xro/2.0/Accounts", headers=bearer(token))
        assert over.status_code == 429 and over.headers["X-Rate-Limit-Problem"] == "day"
        assert over.headers["Retry-After"] == str(12 * 3600)  # START is noon UTC
        clock.advance(12 * 3600 + 1)
        token = refresh(client, token["refresh_token"]).json()
        assert client.get("/api.xro/2.0/Accounts", headers=bearer(token)).status_code == 200


def test_concurrent_limit(clock):
    with XeroDouble(clock=clock, concurrent_limit=1) as d, http(d) as client:
        token = d.grant()
        d.faults.timeout_seconds = 30
        d.faults.queue("timeout", path_contains="/Accounts")
        held: list[httpx.Response] = []
        worker = threading.Thread(target=lambda: held.append(
            httpx.get(d.url + "/api.xro/2.0/Accounts", headers=bearer(token), timeout=30)))
        worker.start()
        assert d.wait_for(lambda: d.limits.in_flight.get(T1) == 1)
        refused = client.get("/api.xro/2.0/Organisation", headers=bearer(token))
        assert refused.status_code == 429 and refused.headers["X-Rate-Limit-Problem"] == "concurrent"
        assert refused.headers["Retry-After"] == "1"
        d.faults.release()
        worker.join(10)
        assert held[0].status_code == 200
        assert client.get("/api.xro/2.0/Organisation", headers=bearer(token)).status_code == 200


# ----------------------------------------------------------------------------------------------- faults


@pytest.mark.parametrize("kind, status, problem_kind", [("429", 429, "minute"), ("429_day", 429, "day")])
def test_rate_limit_faults(double, kind, status, problem_kind):
    token = double.grant()
    double.faults.queue(kind, path_contains="/accounts", method="GET")
    with http(double) as client:
        assert client.get("/api.xro/2.0/Organisation", headers=bearer(token)).status_code == 200  # not matched
        reply = client.get("/api.xro/2.0/Accounts", headers=bearer(token))
        assert reply.status_code == status and reply.headers["X-Rate-Limit-Problem"] == problem_kind
        expected = "1" if kind == "429" else str(12 * 3600)
        assert reply.headers["Retry-After"] == expected
        assert client.get("/api.xro/2.0/Accounts", headers=bearer(token)).status_code == 200  # count=1 used up
    assert [r.fault for r in double.requests] == [None, kind, None]


def test_server_error_faults(double):
    token = double.grant()
    double.faults.queue("500")
    double.faults.queue("503")
    double.faults.queue("html_503", count=2)
    with http(double) as client:
        statuses = []
        for _ in range(5):
            reply = client.get("/api.xro/2.0/Accounts", headers=bearer(token))
            statuses.append((reply.status_code, reply.headers["content-type"].split(";")[0]))
    assert statuses == [(500, "application/json"), (503, "application/json"), (503, "text/html"), (503, "text/html"),
                        (200, "application/json")]


def test_truncated_json_cuts_the_body_and_writes_nothing(double):
    api = sdk(double)
    double.faults.queue("truncated_json", method="PUT")
    with pytest.raises(Exception):
        api.create_bank_transactions(T1, BankTransactions(bank_transactions=[sdk_spend("PEX-30", "3.00")]))
    assert double.bank_transactions(T1) == []
    assert double.requests[-1].status == 200
    double.faults.queue("truncated_json", path_contains="/Accounts")
    with http(double) as client:
        reply = client.get("/api.xro/2.0/Accounts", headers=bearer(api.api_client.get_oauth2_token()))
    assert reply.status_code == 200 and reply.text.startswith('{"Id"')
    with pytest.raises(ValueError):
        reply.json()


def test_commit_then_drop_writes_then_hangs_up(double):
    token = double.grant()
    double.faults.queue("commit_then_drop", path_contains="/BankTransactions", method="PUT")
    from pexxero.sandbox.xero_wire import dumps

    pool = urllib3.PoolManager(retries=False)
    with pytest.raises(urllib3.exceptions.ProtocolError) as caught:
        pool.request("PUT", double.env["XERO_API_URL"] + "/BankTransactions", body=dumps(spend("PEX-40")),
                     headers={**bearer(token), "Content-Type": "application/json", "Idempotency-Key": "drop-1"})
    assert "Remote end closed connection without response" in str(caught.value)
    assert len(stored(double, Reference="PEX-40")) == 1 and double.requests[-1].dropped
    replay = pool.request("PUT", double.env["XERO_API_URL"] + "/BankTransactions", body=dumps(spend("PEX-40")),
                          headers={**bearer(token), "Content-Type": "application/json", "Idempotency-Key": "drop-1"})
    assert replay.status == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["BankTransactions"][0]["BankTransactionID"] == stored(double, Reference="PEX-40")[0][
        "BankTransactionID"]
    assert len(stored(double, Reference="PEX-40")) == 1


def test_commit_then_drop_through_the_sdk_is_resent_by_urllib3(double):
    # the SDK's urllib3 pool retries a PUT whose connection dropped; the Idempotency-Key makes that safe
    api = sdk(double)
    double.faults.queue("commit_then_drop", path_contains="/BankTransactions", method="PUT")
    batch = BankTransactions(bank_transactions=[sdk_spend("PEX-41", "4.00")])
    result = api.create_bank_transactions(T1, batch, idempotency_key="drop-2")
    puts = [r for r in double.requests if r.method == "PUT"]
    assert [(r.dropped, r.idempotency_key) for r in puts] == [(True, "drop-2"), (False, "drop-2")]
    assert [r["BankTransactionID"] for r in stored(double, Reference="PEX-41")] == [
        result.bank_transactions[0].bank_transaction_id]


def test_expire_tokens_fault(double):
    token = double.grant()
    double.faults.queue("expire_tokens")
    with http(double) as client:
        reply = client.get("/api.xro/2.0/Organisation", headers=bearer(token))
        assert reply.status_code == 401 and reply.json()["Detail"].startswith("TokenExpired")
        fresh = refresh(client, token["refresh_token"]).json()
        assert client.get("/api.xro/2.0/Organisation", headers=bearer(fresh)).status_code == 200


def test_revoke_fault(double):
    token = double.grant()
    double.faults.queue("revoke", path_contains="/Organisation")
    with http(double) as client:
        assert client.get("/api.xro/2.0/Organisation", headers=bearer(token)).status_code == 401
        assert refresh(client, token["refresh_token"]).json() == {"error": "invalid_grant"}


def test_revoke_fault_on_the_token_endpoint(double):
    token = double.grant()
    double.faults.queue("revoke", path_contains="/connect/token")
    with http(double) as client:
        reply = refresh(client, token["refresh_token"])
    assert (reply.status_code, reply.json()) == (400, {"error": "invalid_grant"})


def test_timeout_fault_holds_then_answers(double):
    token = double.grant()
    double.faults.timeout_seconds = 30
    double.faults.queue("timeout", method="PUT")
    with http(double, timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            put(client, token, "/BankTransactions", spend("PEX-50"), key="slow")
    # the client gave up; Xero still does the work
    assert double.wait_for(lambda: double.requests[-1].status == 200)
    assert len(stored(double, Reference="PEX-50")) == 1


def test_timeout_fault_answers_normally_after_the_hold(double):
    token = double.grant()
    double.faults.timeout_seconds = 0.05
    double.faults.queue("timeout")
    with http(double) as client:
        reply = client.get("/api.xro/2.0/Organisation", headers=bearer(token))
    assert reply.status_code == 200 and double.requests[-1].fault == "timeout"


def test_faults_refuse_unknown_kinds(double):
    with pytest.raises(ValueError):
        double.faults.queue("teapot")


def test_latency_and_the_request_log(double):
    double.latency = 0.01
    token = double.grant()
    with http(double) as client:
        client.get("/api.xro/2.0/Accounts", headers=bearer(token), params={"where": 'Code=="091"'})
        client.get("/api.xro/2.0/Accounts", headers=bearer(token, None))
    first, second = double.requests
    assert (first.method, first.path, first.tenant_id, first.status) == ("GET", "/api.xro/2.0/Accounts", T1, 200)
    assert "where=" in first.query
    assert (second.tenant_id, second.status) == (None, 403)


def test_sdk_errors_do_not_leak_secrets(double):
    api = sdk(double)
    double.faults.queue("500")
    with pytest.raises(HTTPStatusException) as caught:
        api.get_accounts(T1)
    token = api.api_client.get_oauth2_token()
    assert token["access_token"] not in str(caught.value) and demo.XERO_CLIENT_SECRET not in str(caught.value)


def test_start_on_a_chosen_port_and_env(clock):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with XeroDouble(clock=clock, seed_records=False).start(port=port) as d:
        assert d.url == f"http://127.0.0.1:{port}"
        assert d.env == {
            "XERO_API_URL": d.url + "/api.xro/2.0", "XERO_CONNECTIONS_URL": d.url, "XERO_IDENTITY_URL": d.url,
            "XERO_AUTHORIZE_URL": d.url + "/identity/connect/authorize",
            "XERO_CLIENT_ID": demo.XERO_CLIENT_ID, "XERO_CLIENT_SECRET": demo.XERO_CLIENT_SECRET,
        }
        assert httpx.get(d.url + "/api.xro/2.0/Organisation").status_code == 401


def test_every_api_answer_carries_the_days_remaining_calls_of_a_set_allowance(clock):
    with XeroDouble(clock=clock, day_limit=1000) as d, http(d) as client:
        token = d.grant()
        seen = []

        def ask(path, **kwargs):
            reply = client.get(f"/api.xro/2.0/{path}", headers=bearer(token), **kwargs)
            seen.append((reply.status_code, reply.headers.get("X-DayLimit-Remaining")))

        ask("Organisation")
        ask("NoSuchThing")
        ask("BankTransactions", params={"where": "Nonsense==="})
        d.faults.queue("500", path_contains="/Accounts")
        ask("Accounts")
        d.faults.queue("429", path_contains="/Accounts")
        ask("Accounts")
        assert seen == [(200, "999"), (404, "998"), (400, "997"), (500, "997"), (429, "997")]
        assert client.get("/api.xro/2.0/Organisation", headers=bearer(token, T2)).headers[
            "X-DayLimit-Remaining"] == "999"  # per organisation
