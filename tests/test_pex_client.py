"""Contract tests: the real PexClient over loopback against the PEX double."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from pexxero.models import TagOption
from pexxero.clients.pex import PexAuthError, PexClient, PexError, PexRateLimited, PexUnavailable
from pexxero.clients.pex_rows import parse_transaction
from pexxero.sandbox import demo
from pexxero.sandbox.pex_double import PexDouble
from fakes import FakeClock

# a row in PEX's own documented shape: -1.01 split two ways on a dropdown tag, one Tags entry per split
EXAMPLE_ROW = r"""
{"TransactionId":419086499,"AcctId":7378,"TransactionType":"Network",
 "TransactionAmount":-1.01,"TransactionTime":"2026-03-02T14:05:11",
 "SettlementTime":"2026-03-04T02:00:00","IsPending":false,"IsDecline":false,
 "MerchantName":"ACME HARDWARE #12","MCCCode":"5251","MetadataApprovalStatus":"Approved",
 "TransactionTags":{"State":"Selected","FieldsVersion":"5e9dbf59aa53831e5050a927","Tags":[
  {"FieldId":"5e95c111aa538301d0062869","Name":"Split",
   "Value":"{\"TagId\":\"5e95c111aa538301d0062869\",\"Allocation\":[{\"TagId\":\"5de64845aa53810dc4b3541b\",\"Value\":\"10\"}],\"Amount\":\"0.50\"}"},
  {"FieldId":"5e95c111aa538301d0062869","Name":"Split",
   "Value":"{\"TagId\":\"5e95c111aa538301d0062869\",\"Allocation\":[{\"TagId\":\"5de64845aa53810dc4b3541b\",\"Value\":\"7\"}],\"Amount\":\"0.51\"}"}]}}
"""



class RecordingTransport(httpx.HTTPTransport):
    """The real transport, keeping each request so tests can read the headers that went out."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return super().handle_request(request)


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def client(pex_double, waits):
    with PexClient(demo.PEX_TOKEN, pex_double.url + "/v4", sleep=waits.append) as pex:
        yield pex


def last_days(double: PexDouble, days: int = demo.DEMO_DAYS) -> tuple[date, date]:
    return double.today - timedelta(days=days), double.today


def settled_row(double: PexDouble) -> dict:
    return next(r for r in double.transactions["cardholder"] if not (r["IsPending"] or r["IsDecline"]))


# ------------------------------------------------------------------------------------ transactions

def test_cardholder_transactions_are_parsed_exactly(pex_double, client):
    rows = {r["TransactionId"]: r for r in pex_double.transactions["cardholder"]}
    got = client.cardholder_transactions(*last_days(pex_double))
    assert {t.transaction_id for t in got} == set(rows)  # pendings and declines included by default
    for tx in got:
        row = rows[tx.transaction_id]
        assert isinstance(tx.amount, Decimal) and tx.amount == row["TransactionAmount"]
        assert str(tx.amount) == str(row["TransactionAmount"])  # exact to the cent, no float on the way
        assert tx.transaction_time == datetime.fromisoformat(row["TransactionTime"]) and tx.transaction_time.tzinfo is None
        assert tx.ledger == "cardholder" and tx.cardholder == "" and tx.acct_id == row["AcctId"]
        assert tx.is_pending == row["IsPending"] and (tx.settlement_time is None) == (row["SettlementTime"] is None)
    assert sum(t.is_pending for t in got) == 10 and sum(t.is_decline for t in got) == 5
    query = pex_double.requests[-1][2]
    start, end = last_days(pex_double)
    assert query["StartDate"] == f"{start}T00:00:00" and query["EndDate"] == f"{end}T23:59:59"
    assert query["IncludePendings"] == "True" and query["IncludeDeclines"] == "True"


def test_pendings_and_declines_can_be_left_out(pex_double, client):
    got = client.cardholder_transactions(*last_days(pex_double), include_pendings=False, include_declines=False)
    assert got and not any(t.is_pending or t.is_decline for t in got)
    assert pex_double.requests[-1][2]["IncludePendings"] == "False"


def test_business_transactions(pex_double, client):
    got = client.business_transactions(*last_days(pex_double))
    assert len(got) == len(pex_double.transactions["business"])
    assert all(t.ledger == "business" and t.acct_id == demo.BUSINESS_ACCOUNT_ID for t in got)
    assert {"BusinessFunding", "BusinessAccountFee", "BusinessRebate"} <= {t.category for t in got}
    method, path, query = pex_double.requests[-1]
    assert path == "/v4/Details/TransactionDetails" and query["IncludePendings"] == "False"


def test_every_request_carries_token_accept_and_a_fresh_correlation_id(pex_double):
    transport = RecordingTransport()
    with PexClient(demo.PEX_TOKEN, pex_double.url + "/v4", transport=transport) as pex:
        pex.business_settings()
        pex.cardholders()
    assert len(transport.sent) == 2
    for request in transport.sent:
        assert request.headers["Authorization"] == f"token {demo.PEX_TOKEN}"
        assert request.headers["Accept"] == "application/json"
        uuid.UUID(request.headers["X-CORRELATION-ID"])
    assert transport.sent[0].headers["X-CORRELATION-ID"] != transport.sent[1].headers["X-CORRELATION-ID"]


def test_paging_follows_last_time_retrieved_and_drops_the_repeated_row():
    with PexDouble(page_size=7) as double, PexClient(demo.PEX_TOKEN, double.url + "/v4") as pex:
        got = pex.cardholder_transactions(*last_days(double))
        calls = [q for m, p, q in double.requests if p.endswith("AllCardholderTransactions")]
    ids = [t.transaction_id for t in got]
    assert len(ids) == len(set(ids)) and set(ids) == {r["TransactionId"] for r in double.transactions["cardholder"]}
    total = len(ids)
    assert len(calls) == 1 + -(-(total - 7) // 6)  # each later page repeats one row
    ordered = sorted(double.transactions["cardholder"], key=lambda r: (r["TransactionTime"], r["TransactionId"]))
    assert calls[1]["StartDate"] == ordered[6]["TransactionTime"] and calls[1]["EndDate"] == calls[0]["EndDate"]


def test_paging_that_makes_no_progress_is_an_error():
    with PexDouble(page_size=2) as double, PexClient(demo.PEX_TOKEN, double.url + "/v4") as pex:
        base = settled_row(double)
        same_second = [dict(base, TransactionId=499000000 + n, TransactionTime=f"{double.today}T12:00:00")
                       for n in range(3)]
        double.transactions["cardholder"][:] = same_second
        with pytest.raises(PexError, match="no progress"):
            pex.cardholder_transactions(double.today, double.today)


def test_amounts_stay_exact_decimals(pex_double, client):
    base = settled_row(pex_double)
    amounts = [Decimal("0.1"), Decimal("-1234567.89"), Decimal("-0.01"), 5]
    for n, amount in enumerate(amounts):
        pex_double.transactions["cardholder"].append(dict(base, TransactionId=499100000 + n, TransactionAmount=amount))
    got = {t.transaction_id: t.amount for t in client.cardholder_transactions(*last_days(pex_double))}
    assert [got[499100000 + n] for n in range(4)] == [Decimal("0.1"), Decimal("-1234567.89"), Decimal("-0.01"),
                                                      Decimal("5")]
    assert str(got[499100000]) == "0.1" and all(isinstance(v, Decimal) for v in got.values())


# ---------------------------------------------------------------------------------- tags and splits

def test_the_reference_split_example_over_the_wire():
    row = json.loads(EXAMPLE_ROW, parse_float=Decimal)
    day = date(2026, 3, 10)
    with PexDouble(today=day) as double, PexClient(demo.PEX_TOKEN, double.url + "/v4", today=lambda: day) as pex:
        double.transactions["cardholder"].append(row)
        got = [t for t in pex.cardholder_transactions(date(2026, 3, 1), date(2026, 3, 5)) if t.transaction_id == 419086499]
    assert len(got) == 1
    tx = got[0]
    assert tx.amount == Decimal("-1.01") and tx.merchant_name == "ACME HARDWARE #12" and tx.acct_id == 7378
    assert tx.transaction_time == datetime(2026, 3, 2, 14, 5, 11) and tx.settlement_time == datetime(2026, 3, 4, 2)
    assert [s.amount for s in tx.splits] == [Decimal("0.50"), Decimal("0.51")]
    assert sum(s.amount for s in tx.splits) == -tx.amount
    assert [[(v.field_id, v.value) for v in s.tags] for s in tx.splits] == [
        [("5de64845aa53810dc4b3541b", "10")], [("5de64845aa53810dc4b3541b", "7")]]
    assert tx.tags == () and tx.approval_status == "Approved"
    assert parse_transaction(row, "cardholder") == tx


def test_split_values_as_objects_with_numeric_amounts_and_other_tag_kinds():
    row = json.loads(EXAMPLE_ROW, parse_float=Decimal)
    row["TransactionType"] = 2  # the SDK's integer enum
    row["MetadataApprovalStatus"] = "Not Reviewed"  # as the docs' prose spells it
    row["TransactionAmount"] = Decimal("-30.00")
    row["TransactionTags"]["Tags"] = [
        {"FieldId": "s", "Name": "Split", "Value": {"TagId": "s", "Amount": Decimal("-10.5"),
                                                    "Allocation": [{"TagId": "e", "Value": "acct-1"}]}},
        {"FieldId": "s", "Name": "Split", "Value": {"tagId": "s", "amount": 19.5,
                                                    "allocation": [{"tagId": "e", "value": "acct-2"}]}},
        {"FieldId": "y", "Name": "RECEIPT OK", "Value": True},
        {"FieldId": "d", "Name": "MILES", "Value": Decimal("12.5")},
        {"FieldId": "t", "Name": "ITEM NOTES", "Value": "{not json"},
    ]
    tx = parse_transaction(row, "cardholder")
    assert tx.transaction_type == "Network" and tx.approval_status == "NotReviewed"
    assert [s.amount for s in tx.splits] == [Decimal("10.5"), Decimal("19.5")]  # unsigned
    assert [s.tags[0].value for s in tx.splits] == ["acct-1", "acct-2"]
    assert [(t.name, t.value) for t in tx.tags] == [("RECEIPT OK", "true"), ("MILES", "12.5"), ("ITEM NOTES", "{not json")]


def test_demo_tags_and_splits_come_through(pex_double, client):
    got = {t.transaction_id: t for t in client.cardholder_transactions(*last_days(pex_double))}
    split_rows = [r for r in pex_double.transactions["cardholder"] if demo._is_split(r)]
    assert len(split_rows) == 8
    for row in split_rows:
        tx = got[row["TransactionId"]]
        assert 2 <= len(tx.splits) <= 3 and sum(s.amount for s in tx.splits) == -tx.amount
        assert all(s.tags[0].field_id == demo.EXPENSE_TYPE_TAG_ID for s in tx.splits)
    tagged = [t for t in got.values() if t.tags and not t.splits]
    assert any(v.name == "EXPENSE TYPE" and v.field_id == demo.EXPENSE_TYPE_TAG_ID for t in tagged for v in t.tags)
    assert any(v.name == "RECEIPT OK" and v.value == "true" for t in tagged for v in t.tags)
    with_notes = [t for t in got.values() if t.notes]
    assert {n for t in with_notes for n in t.notes} == set(demo.USER_NOTES)


def test_tag_definitions(pex_double, client):
    pex_double.tag_definitions[1]["Type"] = 2  # the SDK's integer for Dropdown
    defs = {d.name: d for d in client.tag_definitions()}
    assert defs["PROJECTS"].type == "Dropdown" and defs["Split"].type == "Allocation" and defs["ITEM NOTES"].type == "Text"
    expense = defs["EXPENSE TYPE"]
    assert expense.id == demo.EXPENSE_TYPE_TAG_ID and len(expense.options) == len(demo.EXPENSE_TAG_ACCOUNT_CODES)
    assert expense.options[0].value == demo.xid("account", demo.EXPENSE_TAG_ACCOUNT_CODES[0])
    assert expense.concurrency_key and expense.raw["Id"] == expense.id


def test_tags_switched_off_is_a_403_not_an_auth_problem(pex_double, client):
    pex_double.tags_enabled = False
    with pytest.raises(PexError) as caught:
        client.tag_definitions()
    assert caught.value.status == 403 and not isinstance(caught.value, PexAuthError)
    assert "not enabled" in caught.value.message


def test_dropdown_update_round_trip(pex_double, client):
    fuel = next(d for d in client.tag_definitions() if d.name == "FUEL")
    unleaded = demo.xid("tracking", "FUEL", "Unleaded")
    options = fuel.options + (TagOption("Unleaded", unleaded, 1, True),)
    updated = client.update_dropdown_tag(fuel, options)
    assert [(o.name, o.value) for o in updated.options] == [(o.name, o.value) for o in options]
    assert updated.concurrency_key != fuel.concurrency_key
    again = next(d for d in client.tag_definitions() if d.name == "FUEL")
    assert again.options == updated.options
    method, path, _ = next(r for r in pex_double.requests if r[0] == "PUT")
    assert path == f"/v4/Business/Configuration/Tag/Dropdown/{demo.FUEL_TAG_ID}"


@pytest.mark.parametrize("options", [
    (TagOption("Diesel", "a"), TagOption("DIESEL", "b")),
    (TagOption("Diesel", "a"), TagOption("Petrol", "A")),
    (TagOption("Diesel", "a", is_enabled=False),),
    (),
])
def test_dropdown_update_refuses_bad_options_before_sending(pex_double, client, options):
    fuel = next(d for d in client.tag_definitions() if d.name == "FUEL")
    with pytest.raises(ValueError):
        client.update_dropdown_tag(fuel, options)
    assert not any(method == "PUT" for method, _, _ in pex_double.requests)


def test_the_tag_put_is_retried_but_a_post_is_not(pex_double, client, waits):
    fuel = next(d for d in client.tag_definitions() if d.name == "FUEL")
    pex_double.faults.queue("503", path_contains="Tag/Dropdown")
    client.update_dropdown_tag(fuel, fuel.options + (TagOption("Unleaded", "u-1", 1),))
    assert waits == [0.5] and sum(m == "PUT" for m, _, _ in pex_double.requests) == 2

    row = pex_double.transactions["business"][0]
    pex_double.faults.queue("503", path_contains="/Note")
    with pytest.raises(PexUnavailable):
        client.add_note(row["TransactionId"], "PEX-1")
    assert sum(m == "POST" for m, _, _ in pex_double.requests) == 1 and row["TransactionNotes"] == []
    assert client.add_note(row["TransactionId"], "PEX-1")
    got = next(t for t in client.business_transactions(*last_days(pex_double)) if t.transaction_id == row["TransactionId"])
    assert got.notes == ("PEX-1",)


# ------------------------------------------------------------------------------ accounts, settings

def test_cardholders_and_settings(pex_double, client):
    holders = client.cardholders()
    assert len(holders) == 6 and holders[71001].name == "Maria Alvarez"
    assert client.business_settings()["FundingSource"] == "Prepaid"
    pex_double.funding_source = "Credit"
    assert client.business_settings()["FundingSource"] == "Credit"


def test_base_url_defaults_to_the_environment(pex_double, monkeypatch):
    monkeypatch.setenv("PEX_API_URL", pex_double.env["PEX_API_URL"])
    with PexClient(demo.PEX_TOKEN) as pex:
        assert pex.business_settings()["BusinessAccountId"] == demo.BUSINESS_ACCOUNT_ID


# ------------------------------------------------------------------------------------- attachments

def _receipt_of_kind(double: PexDouble, magic: bytes) -> tuple[int, dict]:
    for tx_id, files in double.attachments.items():
        for a in files:
            if a["Content"] and base64.b64decode(a["Content"]).startswith(magic):
                return tx_id, a
    raise AssertionError(f"no {magic!r} receipt in the demo data")


@pytest.mark.parametrize("magic, content_type, suffix", [
    (b"\x89PNG", "image/png", ".png"), (b"\xff\xd8", "image/jpeg", ".jpg"), (b"%PDF", "application/pdf", ".pdf"),
])
def test_download_each_kind_of_receipt(pex_double, client, magic, content_type, suffix):
    tx_id, attachment = _receipt_of_kind(pex_double, magic)
    listed = client.attachments(tx_id)
    assert attachment["AttachmentId"] in [a.attachment_id for a in listed]
    file = client.download_attachment(tx_id, attachment["AttachmentId"])
    assert file.content == base64.b64decode(attachment["Content"]) and file.content.startswith(magic)
    assert file.content_type == content_type and file.file_name == attachment["AttachmentId"] + suffix
    assert pex_double.requests[-1][2] == {"AttachmentLinkType": "Full"}


def test_attachment_lists_and_missing_receipts(pex_double, client):
    tx_id, files = next((k, v) for k, v in pex_double.attachments.items() if v[0]["UploadStatus"] != "Loaded")
    listed = client.attachments(tx_id)
    assert listed[0].upload_status == files[0]["UploadStatus"] and listed[0].type in ("Image", "Pdf")
    with pytest.raises(PexError, match=files[0]["UploadStatus"]):
        client.download_attachment(tx_id, files[0]["AttachmentId"])
    with pytest.raises(PexError) as missing:
        client.download_attachment(tx_id, "ffffffffffffffffffffffff")
    assert missing.value.status == 404
    bare = next(r["TransactionId"] for r in pex_double.transactions["cardholder"]
                if r["TransactionId"] not in pex_double.attachments)
    assert client.attachments(bare) == [] and client.attachments(1) == []  # PEX's 404s
    pex_double.attachments_404_when_none = False
    assert client.attachments(bare) == []


# ------------------------------------------------------------------------------- the 365-day rule

def test_windows_older_than_365_days_are_refused_before_calling(pex_double):
    today = demo.eastern_today()
    # the client counts from the same day (its own reading of the clock could be the next day, past midnight)
    with PexClient(demo.PEX_TOKEN, pex_double.url + "/v4", today=lambda: today) as client:
        with pytest.raises(ValueError, match="365 days"):
            client.cardholder_transactions(today - timedelta(days=366), today)
        with pytest.raises(ValueError, match="before the start"):
            client.business_transactions(today, today - timedelta(days=1))
        assert pex_double.requests == []
        client.business_transactions(today - timedelta(days=365), today)  # the boundary itself is allowed


# ------------------------------------------------------------------------------ retries and errors

def test_429_then_success_honours_retry_after(pex_double, client, waits):
    pex_double.faults.queue("429", retry_after=3)
    assert client.business_settings()["FundingSource"] == "Prepaid"
    assert waits == [3.0]


def test_429_without_retry_after_backs_off_exponentially(pex_double, client, waits):
    pex_double.faults.queue("429", count=2)
    client.cardholders()
    assert waits == [0.5, 1.0]


def test_429_after_the_retries_is_rate_limited(pex_double, client, waits):
    pex_double.faults.queue("429", count=5, retry_after=7)
    with pytest.raises(PexRateLimited) as caught:
        client.business_settings()
    assert caught.value.status == 429 and caught.value.message == "Usage Limits Exceeded"
    assert caught.value.retry_after == 7.0 and waits == [7.0] * 4 and len(pex_double.requests) == 5


def test_a_long_retry_after_is_handed_back_not_slept(pex_double, client, waits):
    pex_double.faults.queue("429", retry_after=3600)
    with pytest.raises(PexRateLimited) as caught:
        client.business_settings()
    assert caught.value.retry_after == 3600.0 and waits == []


@pytest.mark.parametrize("kind", ["500", "503", "504", "html_500", "drop", "truncated_json"])
def test_transient_failures_are_retried(pex_double, client, waits, kind):
    pex_double.faults.queue(kind, count=2)
    assert client.cardholders()[71002].name == "James Okafor"
    assert waits == [0.5, 1.0]


def test_5xx_after_the_retries_is_unavailable(pex_double, client, waits):
    pex_double.faults.outage = True
    with pytest.raises(PexUnavailable) as caught:
        client.business_settings()
    assert caught.value.status == 503 and caught.value.message == "The service is unavailable."
    assert waits == [0.5, 1.0, 2.0, 4.0] and len(pex_double.requests) == 5


def test_non_json_and_cut_off_error_bodies_give_the_reason_phrase(pex_double, client):
    pex_double.faults.queue("html_500", count=5)
    with pytest.raises(PexUnavailable) as page:
        client.business_settings()
    assert page.value.message == "Internal Server Error" and "<" not in str(page.value)
    pex_double.faults.queue("truncated_json", count=5, status=502)
    with pytest.raises(PexUnavailable) as cut:
        client.business_settings()
    assert cut.value.status == 502 and cut.value.message == "Bad Gateway"
    pex_double.faults.queue("truncated_json", count=5)
    with pytest.raises(PexUnavailable, match="not valid JSON"):
        client.business_settings()


def test_dropped_connections_and_a_dead_server_are_unavailable(pex_double, waits):
    with PexClient(demo.PEX_TOKEN, pex_double.url + "/v4", max_retries=1, sleep=waits.append) as pex:
        pex_double.faults.queue("drop", count=2)
        with pytest.raises(PexUnavailable) as dropped:
            pex.business_settings()
        assert dropped.value.status is None and waits == [0.5]
    gone = PexDouble().start()
    gone.stop()
    with PexClient(demo.PEX_TOKEN, gone.url + "/v4", max_retries=2, sleep=waits.append) as pex:
        with pytest.raises(PexUnavailable, match="could not reach PEX"):
            pex.business_settings()


def test_a_refused_token_is_an_auth_error_without_the_token(pex_double, waits, caplog):
    secret = "s3cret-token-value-123"
    with caplog.at_level(logging.DEBUG):
        with PexClient(secret, pex_double.url + "/v4", sleep=waits.append) as pex:
            assert secret not in repr(pex)
            with pytest.raises(PexAuthError) as caught:
                pex.cardholders()
            pex_double.faults.queue("503")
            with pytest.raises(PexAuthError):
                pex.business_settings()  # the retry after the 503 is refused too
    assert caught.value.status == 403 and caught.value.message == "Token expired or does not exist"
    assert secret not in str(caught.value) and secret not in repr(caught.value)
    assert secret not in caplog.text and "503" in caplog.text
    assert len(pex_double.requests) == 3 and waits == [0.5]  # refused calls are not retried


def test_rate_limit_switch_with_a_fake_clock():
    clock = FakeClock()
    with PexDouble(rate_limits=True, clock=clock) as double:
        start, end = last_days(double)
        with PexClient(demo.PEX_TOKEN, double.url + "/v4", max_retries=0) as impatient:
            impatient.business_transactions(start, end)
            with pytest.raises(PexRateLimited, match="Usage Limits Exceeded"):
                impatient.business_transactions(start, end)
            clock.advance(60)
            assert impatient.business_transactions(start, end)
        # a client whose sleep moves the same clock gets through once the minute has passed
        with PexClient(demo.PEX_TOKEN, double.url + "/v4", backoff=20, sleep=clock.advance) as patient:
            before = clock.now
            assert patient.business_transactions(start, end)
            assert clock.now - before == 20 + 40
