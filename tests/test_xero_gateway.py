"""Contract tests for the Xero gateway: the real xero-python SDK over loopback against the Xero double.

Time is a fake clock shared by the gateway and the double, so token expiry, Retry-After and the minute limit
are exercised without waiting; the gateway's `sleep` advances that clock and records what it was asked to wait.
"""

from __future__ import annotations

import threading
import time
import traceback
from datetime import date, timedelta
from decimal import Decimal

import pytest
from xero_python.api_client.oauth2 import TokenApi

from pexxero.clients.endpoints import Endpoints
from pexxero.models import AttachmentFile, Line, PlannedRecord, Tracking
from pexxero.sandbox import demo
from pexxero.sandbox.xero_double import XeroDouble
from pexxero.clients.xero import (
    MemoryTokenKeeper,
    XeroDailyLimit,
    XeroError,
    XeroGateway,
    XeroSessionFailed,
    XeroUnavailable,
)
from pexxero.clients.xero_tokens import stamp_expiry
from fakes import FakeClock

START = float(int(time.time()))  # the fake clock starts now: record dates stay clear of the demo's lock date



class RecordingKeeper(MemoryTokenKeeper):
    """Keeps every saved token set, so a test can see each rotated refresh token being persisted."""

    def __init__(self, token=None):
        super().__init__(token)
        self.saved: list[dict] = []

    def save(self, token: dict) -> None:
        self.saved.append(dict(token))
        super().save(token)


@pytest.fixture
def clock():
    return FakeClock(START)


@pytest.fixture
def double(clock):
    d = XeroDouble(seed=1, clock=clock).start()
    yield d
    d.stop()


def connect(d, clock, keeper=None, **options):
    """A gateway holding a fresh grant for the demo tenant, as after the user's consent."""
    keeper = keeper or RecordingKeeper(stamp_expiry(d.grant(), clock()))
    gateway = XeroGateway(
        d.env["XERO_CLIENT_ID"], d.env["XERO_CLIENT_SECRET"], keeper, demo.TENANT_ID,
        endpoints=Endpoints.from_env(d.env), clock=clock, sleep=clock.sleep, **options,
    )
    return gateway, keeper


@pytest.fixture
def gateway(double, clock):
    return connect(double, clock)[0]


def assert_no_secrets(error: BaseException, *tokens: dict, secret: str = demo.XERO_CLIENT_SECRET) -> None:
    text = "".join(traceback.format_exception(error)) + repr(error) + str(getattr(error, "validation", ""))
    assert secret not in text
    for token in tokens:
        for key in ("access_token", "refresh_token"):
            if token.get(key):
                assert token[key] not in text


def calls_to(d, path_part: str, method: str | None = None) -> list:
    return [r for r in d.requests if path_part in r.path and (method is None or r.method == method)]


def purchase(pex_id: int, amount: str, *, account: str = "449", day: date | None = None, lines=None,
             contact: str = "Shell") -> PlannedRecord:
    day = day or date.today() - timedelta(days=3)
    lines = lines or (Line(f"Purchase {pex_id}", Decimal(amount), account,
                           (Tracking("PROJECTS", "Alpha Site"),)),)
    return PlannedRecord(
        pex_id=pex_id, kind="purchase", record_type="BankTransaction", date=day, total=Decimal(amount),
        reference=f"PEX-{pex_id}", url=f"https://dashboard.pexcard.com/transactions/{pex_id}",
        xero_type="SPEND", bank_account_code="091", contact_name=contact, lines=tuple(lines),
    )


def transfer(pex_id: int, amount: str, day: date | None = None) -> PlannedRecord:
    return PlannedRecord(
        pex_id=pex_id, kind="transfer", record_type="BankTransfer", date=day or date.today() - timedelta(days=2),
        total=Decimal(amount), reference=f"PEX-{pex_id}", url="", from_account_code="090", to_account_code="091",
    )


# ------------------------------------------------------------------------------------------- reads


def test_tenants_lists_the_connected_organisations(double, clock):
    gateway, _ = connect(double, clock)
    tenants = {t.tenant_id: t.tenant_name for t in gateway.tenants()}
    assert tenants[demo.TENANT_ID] == demo.TENANT_NAME
    assert demo.SECOND_TENANT_ID in tenants


def test_reference_data_reads_match_the_demo_organisation(gateway):
    org = gateway.organisation()
    assert (org.name, org.base_currency) == (demo.TENANT_NAME, "USD")

    accounts = {a.code: a for a in gateway.accounts()}
    assert set(accounts) == {row[0] for row in demo.ACCOUNT_ROWS}
    assert accounts["091"].type == "BANK" and accounts["091"].currency_code == "USD"
    assert accounts["092"].currency_code == "EUR"
    assert accounts["477"].status == "ARCHIVED"
    assert accounts["091"].account_id == demo.xid("account", "091")

    categories = {c.name: c for c in gateway.tracking_categories()}
    assert {o.name for o in categories["PROJECTS"].options} == set(demo.TRACKING["PROJECTS"])

    names = {c.name for c in gateway.contacts()}
    assert set(demo.CONTACT_NAMES) <= names


def test_contacts_by_name_are_found_in_chunked_where_queries(gateway, double):
    wanted = ["Shell", "home depot", "Nobody Here"] + [f"Missing {i}" for i in range(30)]
    found = {c.name for c in gateway.contacts(wanted)}
    assert found == {"Shell", "Home Depot"}  # Xero's name match ignores case
    gets = calls_to(double, "/Contacts", "GET")
    assert len(gets) == 2  # 33 names: two OR-chunks of at most 25


def test_organisation_lock_dates_are_read(gateway, double):
    double.set_lock_date(demo.TENANT_ID, date(2026, 1, 31))
    assert gateway.organisation().period_lock_date == date(2026, 1, 31)


def test_a_gateway_without_a_tenant_can_only_list_connections(double, clock):
    gateway, _ = connect(double, clock)
    gateway.tenant_id = None
    assert gateway.tenants()
    with pytest.raises(XeroError, match="No Xero organisation chosen"):
        gateway.accounts()


# ------------------------------------------------------------------------------------------- writes


def test_bank_transactions_round_trip_with_splits_tracking_and_exact_money(gateway, double):
    split = purchase(9001, "100.01", lines=[
        Line("Diesel", Decimal("66.67"), "449", (Tracking("PROJECTS", "Alpha Site"),)),
        Line("Snacks", Decimal("33.34"), "420", (Tracking("PROJECTS", "Overhead"),)),
    ])
    plain = purchase(9002, "0.10", contact="Brand New Merchant")
    results = gateway.create_bank_transactions([split, plain], "key-roundtrip")
    assert [(r.reference, r.ok) for r in results] == [("PEX-9001", True), ("PEX-9002", True)]
    assert all(r.xero_id for r in results)

    back = {t.reference: t for t in gateway.bank_transactions_by_reference(["PEX-9001", "PEX-9002", "PEX-404"])}
    assert set(back) == {"PEX-9001", "PEX-9002"}
    got = back["PEX-9001"]
    assert got.bank_transaction_id == results[0].xero_id
    assert (got.type, got.total, got.bank_account_code, got.contact_name) == ("SPEND", Decimal("100.01"), "091",
                                                                              "Shell")
    assert got.date == split.date and got.url == split.url and got.line_amount_types == "NoTax"
    assert [(li.description, li.amount, li.account_code, li.tracking) for li in got.lines] == [
        ("Diesel", Decimal("66.67"), "449", (Tracking("PROJECTS", "Alpha Site"),)),
        ("Snacks", Decimal("33.34"), "420", (Tracking("PROJECTS", "Overhead"),)),
    ]
    assert back["PEX-9002"].total == Decimal("0.10")
    assert all(isinstance(li.amount, Decimal) for t in back.values() for li in t.lines)

    in_range = gateway.bank_transactions("091", split.date, split.date)
    assert {"PEX-9001", "PEX-9002"} <= {t.reference for t in in_range}
    assert all(t.bank_account_code == "091" and t.date == split.date for t in in_range)


def test_bank_transactions_read_every_page(gateway, double, monkeypatch):
    import pexxero.clients.xero as xero_module

    monkeypatch.setattr(xero_module, "PAGE_SIZE", 100)  # pages of 100, so 150 records need two
    day = date.today() - timedelta(days=1)
    for batch in range(3):  # 150 records on one day
        records = [purchase(880000 + batch * 50 + i, "1.00", day=day) for i in range(50)]
        assert all(r.ok for r in gateway.create_bank_transactions(records, f"key-pages-{batch}"))
    found = gateway.bank_transactions("091", day, day)
    assert len({t.reference for t in found if t.reference.startswith("PEX-88")}) == 150
    pages = [r for r in calls_to(double, "/BankTransactions", "GET")]
    assert len(pages) >= 2


def test_paged_lists_ask_for_pages_of_1000_so_a_busy_range_is_one_call(gateway, double):
    day = date.today() - timedelta(days=1)
    for batch in range(3):
        records = [purchase(881000 + batch * 50 + i, "1.00", day=day) for i in range(50)]
        assert all(r.ok for r in gateway.create_bank_transactions(records, f"key-big-page-{batch}"))
    found = gateway.bank_transactions("091", day, day)
    assert len({t.reference for t in found if t.reference.startswith("PEX-881")}) == 150
    gateway.contacts()
    gateway.contacts(["Shell"])
    for path in ("/BankTransactions", "/Contacts"):
        reads = calls_to(double, path, "GET")
        assert reads and all("pageSize=1000" in r.query for r in reads), path
    assert len(calls_to(double, "/BankTransactions", "GET")) == 1  # 150 records, one page


def test_one_invalid_element_fails_alone_with_xeros_message(gateway, double):
    good, bad, also_good = purchase(9101, "5.00"), purchase(9102, "6.00", account="999"), purchase(9103, "7.00")
    results = gateway.create_bank_transactions([good, bad, also_good], "key-mixed")
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].reference == "PEX-9102" and not results[1].xero_id
    assert any("999" in m for m in results[1].messages)  # Xero's own words name the bad code
    held = {t["Reference"] for t in double.bank_transactions(demo.TENANT_ID)}
    assert {"PEX-9101", "PEX-9103"} <= held and "PEX-9102" not in held
    assert "summarizeErrors=false" in calls_to(double, "/BankTransactions", "PUT")[0].query.replace("False", "false")


def test_update_bank_transaction_rewrites_the_record(gateway):
    created = gateway.create_bank_transactions([purchase(9201, "12.00")], "key-upd-1")[0]
    changed = purchase(9201, "15.50", account="453")
    result = gateway.update_bank_transaction(created.xero_id, changed, "key-upd-2")
    assert result.ok and result.xero_id == created.xero_id
    (back,) = gateway.bank_transactions_by_reference(["PEX-9201"])
    assert back.total == Decimal("15.50") and back.lines[0].account_code == "453"


def test_updating_a_reconciled_record_is_refused_with_xeros_message(gateway, double):
    created = gateway.create_bank_transactions([purchase(9211, "12.00")], "key-rec-1")[0]
    double.set_reconciled(demo.TENANT_ID, created.xero_id)
    result = gateway.update_bank_transaction(created.xero_id, purchase(9211, "13.00"), "key-rec-2")
    assert not result.ok and result.reference == "PEX-9211" and result.messages
    (back,) = gateway.bank_transactions_by_reference(["PEX-9211"])
    assert back.total == Decimal("12.00") and back.is_reconciled


def test_a_record_dated_inside_the_lock_date_fails_alone(gateway, double):
    double.set_lock_date(demo.TENANT_ID, date.today() - timedelta(days=10))
    old, fresh = purchase(9221, "3.00", day=date.today() - timedelta(days=20)), purchase(9222, "4.00")
    results = gateway.create_bank_transactions([old, fresh], "key-lock")
    assert [r.ok for r in results] == [False, True]
    assert any("lock" in m.lower() for m in results[0].messages)


@pytest.mark.parametrize("fault", ["503", "truncated_json"])
def test_a_failed_write_is_resent_with_the_same_key_and_written_once(gateway, double, fault):
    double.faults.queue(fault, path_contains="/BankTransactions", method="PUT")
    results = gateway.create_bank_transactions([purchase(9231, "8.00")], "key-resend")
    assert results[0].ok
    puts = calls_to(double, "/BankTransactions", "PUT")
    assert [p.idempotency_key for p in puts] == ["key-resend", "key-resend"]
    assert [t["Reference"] for t in double.bank_transactions(demo.TENANT_ID)].count("PEX-9231") == 1


def test_more_than_fifty_records_per_request_is_refused_before_sending(gateway, double):
    before = len(double.requests)
    with pytest.raises(ValueError):
        gateway.create_bank_transactions([purchase(30000 + i, "1.00") for i in range(51)], "key-too-many")
    assert len(double.requests) == before


def test_create_contacts_in_batches_of_fifty(gateway, double):
    names = [f"Merchant {i:03d}" for i in range(60)] + ["Shell"]  # Shell exists: Xero refuses that one
    results = gateway.create_contacts(names, "key-contacts")
    assert len(results) == 61 and [r.reference for r in results] == names
    assert all(r.ok and r.xero_id for r in results[:60])
    assert not results[60].ok and results[60].messages
    puts = calls_to(double, "/Contacts", "PUT")
    assert [p.idempotency_key for p in puts] == ["key-contacts", "key-contacts-1"]
    held = {c["Name"] for c in double.contacts(demo.TENANT_ID)}
    assert {f"Merchant {i:03d}" for i in range(60)} <= held


def test_bank_transfers_create_list_and_find_by_reference(gateway):
    day = date.today() - timedelta(days=2)
    results = gateway.create_bank_transfers([transfer(9301, "500.00", day), transfer(9302, "25.25", day)],
                                            "key-transfers")
    assert [r.ok for r in results] == [True, True] and all(r.xero_id for r in results)
    found = {t.reference: t for t in gateway.bank_transfers(day, day)}
    assert found["PEX-9301"].amount == Decimal("500.00")
    assert (found["PEX-9301"].from_account_code, found["PEX-9301"].to_account_code) == ("090", "091")
    by_ref = gateway.bank_transfers_by_reference(["PEX-9302"])
    assert [(t.reference, t.amount, t.bank_transfer_id) for t in by_ref] == [("PEX-9302", Decimal("25.25"),
                                                                              results[1].xero_id)]


def test_transfers_do_not_show_up_again_as_bank_transactions(gateway):
    """Xero lists each side of a transfer as a SPEND-/RECEIVE-TRANSFER bank transaction with its Reference."""
    day = date.today() - timedelta(days=3)
    gateway.create_bank_transfers([transfer(9321, "75.00", day)], "key-transfer-view")
    assert [t.reference for t in gateway.bank_transfers_by_reference(["PEX-9321"])] == ["PEX-9321"]
    assert gateway.bank_transactions_by_reference(["PEX-9321"]) == []
    assert all(t.reference != "PEX-9321" for t in gateway.bank_transactions("091", day, day))


def test_a_transfer_to_an_unknown_account_fails_alone_without_a_request(gateway, double):
    bad = PlannedRecord(pex_id=9311, kind="transfer", record_type="BankTransfer", date=date.today(),
                        total=Decimal("1.00"), reference="PEX-9311", url="", from_account_code="090",
                        to_account_code="999")
    results = gateway.create_bank_transfers([bad, transfer(9312, "2.00")], "key-transfer-mixed")
    assert not results[0].ok and "999" in results[0].messages[0]
    assert results[1].ok


def test_attachments_are_added_and_listed(gateway, double):
    created = gateway.create_bank_transactions([purchase(9401, "9.99")], "key-att-1")[0]
    png = AttachmentFile("receipt-9401.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    attachment_id = gateway.add_attachment(created.xero_id, png, "key-att-2")
    assert attachment_id
    assert gateway.attachments(created.xero_id) == ["receipt-9401.png"]
    held = double.attachments(demo.TENANT_ID, created.xero_id)
    assert len(held) == 1


def test_an_attachment_over_xeros_size_limit_is_refused_in_xeros_words_not_retried(gateway, double):
    created = gateway.create_bank_transactions([purchase(9402, "9.99")], "key-att-3")[0]
    big = AttachmentFile("scan-9402.pdf", "application/pdf", b"%PDF" + b"\0" * (10 * 1024 * 1024))
    with pytest.raises(XeroError) as caught:
        gateway.add_attachment(created.xero_id, big, "key-att-4")
    assert caught.value.status == 413 and "PayloadTooLarge" in caught.value.message
    assert len(calls_to(double, "/Attachments/", "PUT")) == 1


def test_idempotency_key_reused_for_a_different_body_is_an_error(gateway, double):
    gateway.create_bank_transactions([purchase(9501, "1.00")], "key-reused")
    with pytest.raises(XeroError) as caught:
        gateway.create_bank_transactions([purchase(9502, "2.00")], "key-reused")
    assert caught.value.status and 400 <= caught.value.status < 500
    assert "PEX-9502" not in {t["Reference"] for t in double.bank_transactions(demo.TENANT_ID)}


# ------------------------------------------------------------------------------------------- tokens


def test_access_token_is_refreshed_ahead_of_expiry_and_each_rotation_persisted(double, clock):
    gateway, keeper = connect(double, clock)
    first = keeper.load()
    gateway.accounts()
    assert gateway.refreshes == 0

    clock.advance(first["expires_at"] - clock() - 30)  # inside the 60 s margin
    gateway.fresh()  # the accounts are read again, not served from the memo
    gateway.accounts()
    assert gateway.refreshes == 1
    second = keeper.load()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["expires_at"] > clock() + 1000

    clock.advance(second["expires_at"] - clock() - 10)
    gateway.organisation()
    third = keeper.load()
    assert gateway.refreshes == 2
    rotated = [s["refresh_token"] for s in keeper.saved]
    assert rotated[-2:] == [second["refresh_token"], third["refresh_token"]]
    assert len(set(rotated)) == len(rotated)
    assert not any(r.status == 401 for r in double.requests)  # refreshed before Xero had to refuse


def test_a_refresh_done_by_another_process_is_adopted_not_repeated(double, clock):
    gateway, keeper = connect(double, clock)
    other, _ = connect(double, clock, keeper=keeper)  # a second process sharing the stored token set
    gateway.accounts()
    clock.advance(1000)
    other.refresh()
    clock.advance(760)  # our cached token is now inside the margin; the other's is fresh
    gateway.accounts()
    assert gateway.refreshes == 0  # it re-read the keeper inside the lock and used the fresh set
    assert other.refreshes == 1 and len(calls_to(double, "/connect/token")) == 1


def test_token_expired_mid_call_refreshes_once_and_resends(double, clock):
    gateway, keeper = connect(double, clock)
    before = keeper.load()["refresh_token"]
    double.faults.queue("expire_tokens")
    assert gateway.accounts()
    assert gateway.refreshes == 1 and keeper.load()["refresh_token"] != before
    statuses = [r.status for r in calls_to(double, "/Accounts")]
    assert statuses == [401, 200]


def test_refresh_refused_is_a_session_failure(double, clock):
    gateway, keeper = connect(double, clock)
    token = keeper.load()
    double.faults.queue("revoke")
    with pytest.raises(XeroSessionFailed) as caught:
        gateway.accounts()
    assert str(caught.value) == "Xero session failed: re-connect Xero"
    assert_no_secrets(caught.value, token, keeper.load() or {})


def test_refresh_with_an_expired_token_and_a_revoked_grant_fails_without_calling_the_api(double, clock):
    gateway, keeper = connect(double, clock)
    double.faults.queue("revoke")
    clock.advance(3600)
    with pytest.raises(XeroSessionFailed):
        gateway.organisation()
    assert not calls_to(double, "/Organisation")


def test_a_new_grant_saved_after_a_session_failure_is_picked_up(double, clock):
    gateway, keeper = connect(double, clock)
    double.faults.queue("revoke")
    with pytest.raises(XeroSessionFailed):
        gateway.accounts()
    keeper.save(stamp_expiry(double.grant(), clock()))  # the user re-connects; the same gateway carries on
    assert gateway.accounts()
    assert gateway.refreshes == 1  # only the refused attempt: the new grant's token was adopted as it is


def test_revoke_disconnects(double, clock):
    gateway, keeper = connect(double, clock)
    token = keeper.load()
    gateway.revoke()
    assert keeper.load() is None
    with pytest.raises(XeroSessionFailed):
        gateway.accounts()
    # the grant is dead at Xero too: its refresh token no longer works
    again = XeroGateway(double.env["XERO_CLIENT_ID"], double.env["XERO_CLIENT_SECRET"], MemoryTokenKeeper(token),
                        demo.TENANT_ID, endpoints=Endpoints.from_env(double.env), clock=clock, sleep=clock.sleep)
    with pytest.raises(XeroSessionFailed):
        again.refresh()


def test_token_urls_follow_the_identity_endpoint_without_touching_the_sdk_class(double, clock):
    gateway, _ = connect(double, clock)
    gateway.refresh()
    assert calls_to(double, "/connect/token")
    assert TokenApi.refresh_token_url == "https://identity.xero.com/connect/token"
    assert TokenApi.revoke_token_url == "https://identity.xero.com/connect/revocation"


# ------------------------------------------------------------------------------------------- limits


def test_429_waits_retry_after_then_succeeds(gateway, double, clock):
    double.faults.queue("429", path_contains="/Accounts")
    assert gateway.accounts()
    statuses = [r.status for r in calls_to(double, "/Accounts")]
    assert statuses == [429, 200]
    assert clock.slept and clock.slept[0] >= 1  # the Retry-After the double sent
    assert gateway.calls == 2


def test_a_storm_of_minute_limit_429s_is_waited_out_within_the_call(gateway, double, clock):
    """15 answers of 429 (Retry-After: 1, the minute limit) and a 503: more than the retries of failures, but a
    minute limit passes by itself, so the call waits it out on the (fake) clock instead of giving up."""
    double.faults.queue("429", path_contains="/Accounts", count=15)
    double.faults.queue("503", path_contains="/Accounts")
    assert gateway.accounts()
    statuses = [r.status for r in calls_to(double, "/Accounts")]
    assert statuses == [429] * 15 + [503, 200]
    assert clock.slept.count(1.0) >= 15


def test_minute_limit_429s_beyond_the_waiting_budget_end_as_unavailable(double, clock):
    gateway, _ = connect(double, clock, max_rate_wait=5)
    double.faults.queue("429", path_contains="/Accounts", count=50)
    with pytest.raises(XeroUnavailable) as caught:
        gateway.accounts()
    assert "rate limit" in caught.value.message
    assert len(calls_to(double, "/Accounts")) == 6  # five waits of 1 s, then the budget is spent


def test_the_daily_limit_stops_at_once(gateway, double, clock):
    double.faults.queue("429_day")
    with pytest.raises(XeroDailyLimit) as caught:
        gateway.accounts()
    error = caught.value
    assert error.retry_after > 0 and error.status == 429
    assert error.resets_at.timestamp() == pytest.approx(clock() + error.retry_after, abs=1)
    assert len(calls_to(double, "/Accounts")) == 1 and not clock.slept


@pytest.mark.parametrize("fault", ["500", "503", "html_503", "truncated_json"])
def test_server_failures_and_unreadable_bodies_are_retried(gateway, double, clock, fault):
    double.faults.queue(fault, path_contains="/Accounts", count=2)
    accounts = gateway.accounts()
    assert {a.code for a in accounts} == {row[0] for row in demo.ACCOUNT_ROWS}
    assert len(calls_to(double, "/Accounts")) == 3
    assert len(clock.slept) == 2


def test_persistent_failures_end_as_unavailable(double, clock):
    gateway, keeper = connect(double, clock, max_retries=2)
    double.faults.queue("html_503", count=5)
    with pytest.raises(XeroUnavailable) as caught:
        gateway.accounts()
    assert caught.value.status == 503
    assert "<" not in str(caught.value)  # no HTML page in the message
    assert_no_secrets(caught.value, keeper.load())


def test_a_timeout_is_retried(double, clock):
    gateway, _ = connect(double, clock, timeout=0.5)
    double.faults.queue("timeout", path_contains="/Accounts")
    assert gateway.accounts()
    assert len(calls_to(double, "/Accounts")) >= 1
    assert gateway.calls == 2


def test_a_create_dropped_after_commit_is_resent_with_the_same_key_and_written_once(gateway, double):
    double.faults.queue("commit_then_drop", path_contains="/BankTransactions", method="PUT")
    results = gateway.create_bank_transactions([purchase(9601, "42.00")], "key-drop")
    assert results[0].ok and results[0].xero_id
    puts = calls_to(double, "/BankTransactions", "PUT")
    assert len(puts) == 2 and {p.idempotency_key for p in puts} == {"key-drop"}
    held = [t for t in double.bank_transactions(demo.TENANT_ID) if t["Reference"] == "PEX-9601"]
    assert len(held) == 1 and held[0]["BankTransactionID"] == results[0].xero_id


def test_the_limiter_keeps_a_burst_within_the_minute_limit(clock):
    d = XeroDouble(seed=1, minute_limit=10, clock=clock).start()
    try:
        gateway, _ = connect(d, clock, minute_limit=10)
        for _ in range(25):
            gateway.fresh()  # each read goes to Xero
            gateway.accounts()
        api_calls = [r for r in d.requests if "/Accounts" in r.path]
        assert len(api_calls) == 25 and all(r.status == 200 for r in api_calls)  # the double never said 429
        assert gateway.calls == 25
        assert clock() - START >= 120  # 25 calls at 10 a minute needed two more windows
    finally:
        d.stop()


def test_the_limiter_holds_concurrent_calls_to_the_limit(clock):
    d = XeroDouble(seed=1, concurrent_limit=2, clock=clock).start()
    d.latency = 0.05
    try:
        gateway, _ = connect(d, clock, concurrent_limit=2)
        errors = []

        def work():
            try:
                gateway.accounts()
            except Exception as error:  # collected and asserted below
                errors.append(error)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert [r.status for r in d.requests if "/Accounts" in r.path] == [200] * 8
    finally:
        d.stop()


def test_limit_headers_are_kept(gateway):
    gateway.accounts()
    assert gateway.limits.get("X-DayLimit-Remaining", -1) >= 0
    assert gateway.limits.get("X-MinLimit-Remaining", -1) >= 0


def test_no_token_or_secret_in_any_error_text(double, clock):
    gateway, keeper = connect(double, clock, max_retries=1)
    token = keeper.load()
    errors: list[BaseException] = []
    for fault, count in (("429_day", 1), ("500", 2)):
        double.faults.queue(fault, count=count)
        try:
            gateway.accounts()
        except XeroError as error:
            errors.append(error)
    try:
        gateway.create_bank_transactions([purchase(9701, "1.00")], "key-secret")
        gateway.create_bank_transactions([purchase(9702, "1.00")], "key-secret")
    except XeroError as error:
        errors.append(error)
    double.faults.queue("revoke")
    try:
        gateway.refresh()
    except XeroError as error:
        errors.append(error)
    assert len(errors) == 4
    for error in errors:
        assert_no_secrets(error, token, keeper.load() or {})


# ------------------------------------------------------------------------------------------- the memo


def test_reference_lists_are_read_once_until_fresh(gateway, double):
    for _ in range(3):
        assert gateway.organisation().name
        assert gateway.accounts()
        assert gateway.tracking_categories()
        assert gateway.tenants()
    for path in ("/Organisation", "/Accounts", "/TrackingCategories", "/Connections"):
        assert len(calls_to(double, path, "GET")) == 1, path
    gateway.fresh()
    gateway.organisation(), gateway.accounts(), gateway.tracking_categories(), gateway.tenants()
    for path in ("/Organisation", "/Accounts", "/TrackingCategories", "/Connections"):
        assert len(calls_to(double, path, "GET")) == 2, path


def test_a_list_changed_in_xero_is_seen_after_fresh(gateway, double):
    assert {a.status for a in gateway.accounts() if a.code == "449"} == {"ACTIVE"}
    double.archive_account(demo.TENANT_ID, "449")
    assert {a.status for a in gateway.accounts() if a.code == "449"} == {"ACTIVE"}  # the memo, until fresh()
    gateway.fresh()
    assert {a.status for a in gateway.accounts() if a.code == "449"} == {"ARCHIVED"}


def test_contacts_by_name_are_asked_once_and_created_ones_come_from_xeros_answer(gateway, double):
    assert {c.name for c in gateway.contacts(["Shell", "Nobody Yet"])} == {"Shell"}
    assert {c.name for c in gateway.contacts(["shell", "Nobody Yet", "Home Depot"])} == {"Shell", "Home Depot"}
    gets = calls_to(double, "/Contacts", "GET")
    assert len(gets) == 2 and "Shell" not in gets[1].query and "Nobody" not in gets[1].query  # only Home Depot
    results = gateway.create_contacts(["Nobody Yet"], "key-memo-contacts")
    assert results[0].ok
    found = gateway.contacts(["Nobody Yet", "Shell"])
    assert {(c.name, c.contact_id) for c in found} >= {("Nobody Yet", results[0].xero_id)}
    assert len(calls_to(double, "/Contacts", "GET")) == 2  # no read after the write: Xero's answer is kept
    gateway.fresh()
    assert {c.name for c in gateway.contacts(["Nobody Yet"])} == {"Nobody Yet"}
    assert len(calls_to(double, "/Contacts", "GET")) == 3


def test_a_failed_read_is_not_kept(gateway, double):
    double.faults.queue("429_day")
    with pytest.raises(XeroDailyLimit):
        gateway.accounts()
    assert gateway.accounts()
    assert len(calls_to(double, "/Accounts", "GET")) == 2


# ------------------------------------------------------------------------------------------- the day's budget


def test_day_and_minute_remaining_are_what_xero_last_said_for_the_organisation(clock):
    d = XeroDouble(seed=1, clock=clock, day_limit=1000).start()
    try:
        gateway, _ = connect(d, clock)
        assert gateway.day_remaining() is None and gateway.minute_remaining() is None  # nothing asked yet
        gateway.tenants()  # /connections carries no organisation's limits
        assert gateway.day_remaining() is None
        gateway.accounts()
        assert gateway.day_remaining() == 999 and gateway.minute_remaining() == 59
        gateway.organisation()
        gateway.tracking_categories()
        assert gateway.day_remaining() == 997
        d.faults.queue("500", path_contains="/BankTransfers")  # an error answer carries the headers too
        gateway.bank_transfers(date.today() - timedelta(days=3), date.today())
        assert gateway.day_remaining() == 996  # the 500 was refused before it counted; the resend counted
    finally:
        d.stop()


def test_the_daily_allowance_defaults_to_5000_and_is_read_from_the_environment():
    from pexxero.clients.xero import DAILY_CALLS, STARTER_DAILY_CALLS, daily_allowance
    from pexxero.errors import PexxeroError

    assert DAILY_CALLS == 5000 and STARTER_DAILY_CALLS == 1000
    assert daily_allowance({}) == 5000
    assert daily_allowance({"PEXXERO_XERO_DAILY_CALLS": " 1000 "}) == 1000
    assert daily_allowance({"PEXXERO_XERO_DAILY_CALLS": ""}) == 5000
    for bad in ("lots", "0", "-5", "1.5"):
        with pytest.raises(PexxeroError) as caught:
            daily_allowance({"PEXXERO_XERO_DAILY_CALLS": bad})
        assert "PEXXERO_XERO_DAILY_CALLS" in str(caught.value)


def test_the_limiter_leaves_a_second_for_calls_that_reach_xero_late(clock):
    """Xero counts a call when it arrives, a moment after the limiter stamped it. With the first minute's 60 calls
    arriving 0.9 s late and the next on time, the 61st call must still find Xero's rolling minute with room."""
    requests: list = []  # the double's request log, once it exists

    def late() -> float:
        return 0.9 if sum(1 for r in requests if "/api.xro/" in r.path) <= 60 else 0.0

    d = XeroDouble(seed=1, clock=lambda: clock() + late())
    requests = d.requests
    d.start()
    try:
        gateway, _ = connect(d, clock)
        for _ in range(130):
            gateway.bank_transfers(date.today() - timedelta(days=3), date.today())
        reads = calls_to(d, "/BankTransfers", "GET")
        assert len(reads) == 130 and {r.status for r in reads} == {200}
        assert clock() - START >= 2 * 60  # two more windows were waited for, on the fake clock
    finally:
        d.stop()
