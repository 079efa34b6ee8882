"""The PEX double and the demo business's PEX data, driven with plain httpx over loopback."""

from __future__ import annotations

import base64
import io
import json
import re
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from pexxero.sandbox import demo, receipts
from pexxero.sandbox.pex_double import PexDouble
from fakes import FakeClock

TODAY = date(2026, 6, 15)  # a fixed day, so the demo data is the same whatever the calendar says
AUTH = {"Authorization": f"token {demo.PEX_TOKEN}"}



def window(double: PexDouble, days: int = 180, **extra) -> dict:
    start = double.today - timedelta(days=days)
    return {"StartDate": f"{start}T00:00:00", "EndDate": f"{double.today}T23:59:59", **extra}


@pytest.fixture
def http(pex_double):
    with httpx.Client(base_url=pex_double.url, headers=AUTH) as client:
        yield client


# ------------------------------------------------------------------------------------- demo data

def test_demo_data_is_deterministic_per_seed_and_day():
    first = demo.pex_transactions(1, TODAY)
    assert first == demo.pex_transactions(1, TODAY)
    assert first != demo.pex_transactions(2, TODAY)
    assert demo.pex_attachments(1, TODAY) == demo.pex_attachments(1, TODAY)


def test_demo_cardholder_ledger_has_every_kind_of_row():
    rows = demo.pex_transactions(1, TODAY)["cardholder"]
    assert 280 <= len(rows) <= 320
    kinds = Counter((r["TransactionType"], r["TransactionTypeCategory"]) for r in rows)
    assert kinds[("Transfer", "Dispute")] == 3
    assert all(r["TransactionAmount"] > 0 for r in rows if r["TransactionTypeCategory"] == "Dispute")
    assert kinds[("Transfer", "CardFunding")] >= 10
    fees = [r for r in rows if r["TransactionTypeCategory"] == "CardAccountFee"]
    assert {"ISA Fee", "ISA Fee Adjustment"} == {r["Description"] for r in fees}
    assert all(r["TransactionAmount"] < 0 for r in fees if r["Description"] == "ISA Fee")
    refunds = [r for r in rows if r["TransactionType"] == "Network" and r["TransactionAmount"] > 0]
    assert len(refunds) >= 3
    pending = [r for r in rows if r["IsPending"]]
    assert len(pending) == 10 and all(r["SettlementTime"] is None for r in pending)
    declines = [r for r in rows if r["IsDecline"]]
    assert len(declines) == 5 and all(r["Description"].startswith("Declined") for r in declines)
    assert {r["AcctId"] for r in rows} <= {c["AccountId"] for c in demo.cardholders()}
    assert len(demo.cardholders()) == 6
    approvals = Counter(r["MetadataApprovalStatus"] for r in rows)
    assert approvals.most_common(1)[0][0] == "Approved" and len(approvals) >= 4
    names = [r for r in rows if r["TransactionType"] == "Network"]
    assert any(r["MerchantNameNormalized"] == "" for r in names)
    assert any(r["MerchantName"] == "HOME DEPOT #4521" and r["MerchantNameNormalized"] == "Home Depot" for r in names)


def test_demo_amounts_times_and_ids_are_well_formed():
    ledgers = demo.pex_transactions(1, TODAY)
    rows = ledgers["cardholder"] + ledgers["business"]
    ids = [r["TransactionId"] for r in rows]
    assert len(ids) == len(set(ids))
    assert {r["TransactionId"] for r in ledgers["cardholder"]}.isdisjoint(r["TransactionId"] for r in ledgers["business"])
    for row in rows:
        assert isinstance(row["TransactionAmount"], Decimal) and row["TransactionAmount"].as_tuple().exponent == -2
        when = datetime.strptime(row["TransactionTime"], "%Y-%m-%dT%H:%M:%S")
        assert TODAY - timedelta(days=demo.DEMO_DAYS) <= when.date() <= TODAY
        assert isinstance(row["TransactionType"], str)


def test_demo_tags_and_splits():
    rows = demo.pex_transactions(1, TODAY)["cardholder"]
    expense_values = {o["Value"] for o in demo.pex_tag_definitions()[0]["Options"]}
    archived = demo.xid("account", "477")
    purchases = [r for r in rows if r["TransactionType"] == "Network" and r["TransactionAmount"] < 0]
    tagged = [r for r in purchases if (r["TransactionTags"] or {}).get("Tags")]
    assert len(purchases) - len(tagged) >= 5  # some purchases carry no tags at all
    expense = [t["Value"] for r in tagged for t in r["TransactionTags"]["Tags"] if t["Name"] == "EXPENSE TYPE"]
    assert len(expense) > len(purchases) / 2 and set(expense) <= expense_values
    assert expense.count(archived) == 2
    assert any(t["Name"] == "PROJECTS" for r in tagged for t in r["TransactionTags"]["Tags"])
    assert any(t["Name"] == "ITEM NOTES" for r in tagged for t in r["TransactionTags"]["Tags"])
    splits = [r for r in tagged if any(t["FieldId"] == demo.SPLIT_TAG_ID for t in r["TransactionTags"]["Tags"])]
    assert len(splits) == 8
    for row in splits:
        entries = [t for t in row["TransactionTags"]["Tags"] if t["FieldId"] == demo.SPLIT_TAG_ID]
        assert 2 <= len(entries) <= 3
        docs = [json.loads(t["Value"]) for t in entries]  # JSON strings, as PEX's SDK tests send them
        assert all(isinstance(d["Amount"], str) and re.fullmatch(r"\d+\.\d\d", d["Amount"]) for d in docs)
        assert sum(Decimal(d["Amount"]) for d in docs) == -row["TransactionAmount"]
        assert all(d["Allocation"][0]["TagId"] == demo.EXPENSE_TYPE_TAG_ID for d in docs)


def test_demo_business_ledger():
    rows = demo.pex_transactions(1, TODAY)["business"]
    assert all(r["AcctId"] == demo.BUSINESS_ACCOUNT_ID for r in rows)
    funding = [r for r in rows if r["TransactionTypeCategory"] == "BusinessFunding" and "ACH" in r["Description"]]
    assert sum(r["TransactionAmount"] > 0 for r in funding) >= 10
    assert 1 <= sum(r["TransactionAmount"] < 0 for r in funding) <= 2
    assert any(r["TransactionTypeCategory"] == "BusinessAccountFee" and r["TransactionAmount"] < 0 for r in rows)
    assert any(r["TransactionTypeCategory"] == "BusinessRebate" and r["TransactionAmount"] > 0 for r in rows)
    descriptions = {r["Description"] for r in rows if r["TransactionTypeCategory"] != "BusinessRebate"}
    assert {"Rebate Credit", "Rebate Credit Reversal"} <= descriptions


def test_demo_receipts_are_real_files():
    rows = {r["TransactionId"]: r for r in demo.pex_transactions(1, TODAY)["cardholder"]}
    files = demo.pex_attachments(1, TODAY)
    purchases = [r for r in rows.values() if r["TransactionType"] == "Network" and r["TransactionAmount"] < 0
                 and not r["IsDecline"]]
    assert 0.25 <= len(files) / len(purchases) <= 0.42
    assert all(tx in rows for tx in files)
    statuses = Counter(a["UploadStatus"] for v in files.values() for a in v)
    assert statuses["Loaded"] > 40 and len(statuses) == 5
    loaded = [a for v in files.values() for a in v if a["UploadStatus"] == "Loaded"]
    magic = Counter(base64.b64decode(a["Content"])[:4] for a in loaded)
    assert set(magic) == {b"\x89PNG", b"\xff\xd8\xff\xe0", b"%PDF"}
    assert all((a["Type"] == "Pdf") == base64.b64decode(a["Content"]).startswith(b"%PDF") for a in loaded)
    assert all(a["Size"] == len(base64.b64decode(a["Content"])) for a in loaded)


def test_receipt_images_decode_and_pdf_xref_is_exact():
    image = pytest.importorskip("PIL.Image")
    png = image.open(io.BytesIO(receipts.png_receipt(lines=4)))
    png.load()
    assert png.format == "PNG" and png.size == (24, 32) and png.getpixel((5, 3)) == (60, 60, 60)
    jpeg = image.open(io.BytesIO(receipts.JPEG_RECEIPT))
    jpeg.load()
    assert jpeg.format == "JPEG" and jpeg.size == (16, 16)
    pdf = receipts.pdf_receipt(["SHELL (OIL) 57442", "TOTAL USD 12.50"])
    assert pdf.startswith(b"%PDF-1.4") and pdf.endswith(b"%%EOF\n")
    xref_at = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert pdf[xref_at:].startswith(b"xref\n")
    offsets = re.findall(rb"(\d{10}) 00000 n ", pdf)
    for number, offset in enumerate(offsets, start=1):
        assert pdf[int(offset):].startswith(b"%d 0 obj" % number)
    assert b"(SHELL \\(OIL\\) 57442) Tj" in pdf


# ----------------------------------------------------------------------------------- auth, paths

def test_paths_are_case_insensitive_and_both_token_schemes_work(pex_double):
    for path, scheme in (("/v4/Details/AccountDetails", "token"), ("/V4/DETAILS/accountdetails", "Token")):
        answer = httpx.get(pex_double.url + path, headers={"Authorization": f"{scheme} {demo.PEX_TOKEN}"})
        assert answer.status_code == 200
        assert answer.json()["BusinessAccountId"] == demo.BUSINESS_ACCOUNT_ID


def test_missing_and_unknown_tokens_are_refused_with_a_message(pex_double):
    missing = httpx.get(pex_double.url + "/v4/Business/Settings")
    assert missing.status_code == 401 and missing.json()["Message"]
    wrong = httpx.get(pex_double.url + "/v4/Business/Settings", headers={"Authorization": "token nope"})
    assert wrong.status_code == 403 and wrong.json() == {"Message": "Token expired or does not exist"}
    assert httpx.get(pex_double.url + "/v4/Ping").status_code == 200  # no auth needed
    current = httpx.get(pex_double.url + "/v4/Token/Current", headers=AUTH).json()
    assert current["BusinessAccountId"] == demo.BUSINESS_ACCOUNT_ID and current["UserType"] == "Admin"


# ------------------------------------------------------------------------------------ transactions

def test_window_rules_and_boolean_parsing(pex_double, http):
    old = {"StartDate": f"{pex_double.today - timedelta(days=366)}T00:00:00", "EndDate": f"{pex_double.today}T00:00:00"}
    answer = http.get("/v4/Details/AllCardholderTransactions", params=old)
    assert answer.status_code == 400 and "12 months" in answer.json()["Message"]
    assert http.get("/v4/Details/AllCardholderTransactions").status_code == 400
    bad = http.get("/v4/Details/AllCardholderTransactions", params=window(pex_double, IncludePendings="maybe"))
    assert bad.status_code == 400
    plain = http.get("/v4/Details/AllCardholderTransactions", params=window(pex_double)).json()["TransactionList"]
    assert not any(r["IsPending"] or r["IsDecline"] for r in plain)  # PEX's defaults: both off
    for yes in ("True", "true", "1"):
        rows = http.get("/v4/Details/AllCardholderTransactions",
                        params=window(pex_double, IncludePendings=yes, IncludeDeclines=yes)).json()["TransactionList"]
        assert sum(r["IsPending"] for r in rows) == 10 and sum(r["IsDecline"] for r in rows) == 5
    count = http.get("/v4/Details/AllCardholderTransactionCount", params=window(pex_double)).json()
    assert count == len(plain)


def test_amounts_go_out_as_exact_json_numbers(pex_double, http):
    settled = next(r for r in pex_double.transactions["cardholder"] if not (r["IsPending"] or r["IsDecline"]))
    row = dict(settled, TransactionId=499999999, TransactionAmount=Decimal("0.10"))
    pex_double.transactions["cardholder"].append(row)
    text = http.get("/v4/Details/AllCardholderTransactions", params=window(pex_double)).text
    assert '"TransactionId":499999999' in text
    assert re.search(r'"TransactionId":499999999,[^}]*"TransactionAmount":0\.10,', text)


def test_business_and_single_account_ledgers(pex_double, http):
    business = http.get("/v4/Details/TransactionDetails", params=window(pex_double)).json()["TransactionList"]
    assert business and all(r["AcctId"] == demo.BUSINESS_ACCOUNT_ID for r in business)
    one = http.get("/v4/Details/TransactionDetails/71003", params=window(pex_double, IncludePendings="1")).json()
    assert one["TransactionList"] and {r["AcctId"] for r in one["TransactionList"]} == {71003}
    assert http.get("/v4/Details/TransactionDetails/12345", params=window(pex_double)).status_code == 404
    detail = http.get("/v4/Details/AccountDetails/71001").json()
    assert detail["ProfileAddress"]["ContactName"] == "Maria Alvarez"


def test_paging_repeats_the_boundary_row():
    with PexDouble(today=TODAY, page_size=5) as double, httpx.Client(base_url=double.url, headers=AUTH) as http:
        first = http.get("/v4/Details/TransactionDetails", params=window(double)).json()
        total = len(double.transactions["business"])
        assert len(first["TransactionList"]) == 5
        assert first["Pages"] == {"PageSize": 5, "TotalRecords": total, "NumberOfPages": -(-total // 5),
                                  "LastTimeRetrieved": first["TransactionList"][-1]["TransactionTime"]}
        following = dict(window(double), StartDate=first["Pages"]["LastTimeRetrieved"])
        second = http.get("/v4/Details/TransactionDetails", params=following).json()
        assert second["TransactionList"][0] == first["TransactionList"][-1]
        assert second["Pages"]["TotalRecords"] == total - 4


# -------------------------------------------------------------------------------------- rate limits

def test_rate_limits_per_endpoint_and_overall_on_a_fake_clock():
    clock = FakeClock()
    with PexDouble(today=TODAY, rate_limits=True, clock=clock) as double, \
            httpx.Client(base_url=double.url, headers=AUTH) as http:
        assert http.get("/v4/Details/TransactionDetails", params=window(double)).status_code == 200
        limited = http.get("/v4/Details/TransactionDetails", params=window(double))
        assert limited.status_code == 429 and limited.json() == {"Message": "Usage Limits Exceeded"}
        clock.advance(60)
        assert http.get("/v4/Details/TransactionDetails", params=window(double)).status_code == 200

        for _ in range(10):
            assert http.get("/v4/Details/AccountDetails").status_code == 200
        assert http.get("/v4/Details/AccountDetails").status_code == 429
        assert http.get("/v4/Business/Settings").status_code == 200  # other endpoints are not blocked
        clock.advance(3600)
        assert http.get("/v4/Details/AccountDetails").status_code == 200

        for _ in range(9):
            assert http.get("/v4/Details/AllCardholderTransactions", params=window(double)).status_code == 200
        assert http.get("/v4/Details/AllCardholderTransactionCount", params=window(double)).status_code == 200
        assert http.get("/v4/Details/AllCardholderTransactions", params=window(double)).status_code == 200
        assert http.get("/v4/Details/AllCardholderTransactions", params=window(double)).status_code == 429

        clock.advance(3600)
        statuses = Counter(http.get("/v4/Business/Settings").status_code for _ in range(121))
        assert statuses == {200: 120, 429: 1}  # 120 calls a minute overall
        clock.advance(61)
        assert http.get("/v4/Business/Settings").status_code == 200


def test_rate_limits_are_off_unless_switched_on(pex_double, http):
    for _ in range(3):
        assert http.get("/v4/Details/TransactionDetails", params=window(pex_double)).status_code == 200


# --------------------------------------------------------------------------------------------- tags

def test_tag_definitions_and_the_tags_off_switch(pex_double, http):
    tags = http.get("/v4/Business/Configuration/Tags").json()
    assert [t["Type"] for t in tags] == ["Dropdown", "Dropdown", "Dropdown", "Text", "YesNo", "Allocation"]
    one = http.get(f"/v4/Business/Configuration/Tag/{demo.FUEL_TAG_ID}", params={"OverrideRestrictions": "true"})
    assert one.json()["Name"] == "FUEL"
    assert http.get("/v4/Business/Configuration/Tag/000000000000000000000000").status_code == 404
    pex_double.tags_enabled = False
    off = http.get("/v4/Business/Configuration/Tags")
    assert off.status_code == 403 and "not enabled" in off.json()["Message"]
    assert http.get("/v4/Business/Settings").json()["TagsEnabled"] is False


def test_dropdown_put_replaces_options_and_renews_the_key(pex_double, http):
    path = f"/v4/Business/Configuration/Tag/Dropdown/{demo.FUEL_TAG_ID}"
    stored = http.get(path).json()
    body = dict(stored, Type=2, CreatedBy={"AdminId": 1, "UserId": None}, Extra="ignored")  # SDK style: int Type
    body["Options"] = stored["Options"] + [{"Name": "Unleaded", "Value": "u-1", "Order": 1, "IsEnabled": True}]
    answer = http.put(path, json=body)
    assert answer.status_code == 200
    updated = answer.json()
    assert [o["Name"] for o in updated["Options"]] == ["Diesel", "Unleaded"]
    assert updated["ConcurrencyKey"] != stored["ConcurrencyKey"] and updated["Type"] == "Dropdown"
    assert http.get(path).json() == updated


@pytest.mark.parametrize("options, why", [
    ([{"Name": "A", "Value": "1", "IsEnabled": True}, {"Name": "a", "Value": "2", "IsEnabled": True}], "names"),
    ([{"Name": "A", "Value": "x", "IsEnabled": True}, {"Name": "B", "Value": "X", "IsEnabled": True}], "values"),
    ([{"Name": "A", "Value": "1", "IsEnabled": False}], "enabled"),
])
def test_dropdown_put_refuses_invalid_options(pex_double, http, options, why):
    path = f"/v4/Business/Configuration/Tag/Dropdown/{demo.FUEL_TAG_ID}"
    before = http.get(path).json()
    answer = http.put(path, json=dict(before, Options=options))
    assert answer.status_code == 400 and why in answer.json()["Message"]
    assert http.get(path).json() == before
    assert http.put(path, json=dict(before, Type="Text")).status_code == 400
    assert http.put("/v4/Business/Configuration/Tag/Dropdown/" + demo.NOTES_TAG_ID, json=before).status_code == 404


# -------------------------------------------------------------------------------------- attachments

def test_attachment_list_and_fetch(pex_double, http):
    tx_id, files = next((k, v) for k, v in pex_double.attachments.items() if v[0]["UploadStatus"] == "Loaded")
    listed = http.get(f"/v4/Transactions/{tx_id}/Attachments").json()
    assert [a["AttachmentId"] for a in listed["Attachments"]] == [a["AttachmentId"] for a in files]
    assert "Content" not in listed["Attachments"][0]
    link = listed["Attachments"][0]["Link"]["related"]
    assert link.startswith(pex_double.url) and link.endswith(files[0]["AttachmentId"])
    full = http.get(f"/v4/Transactions/{tx_id}/Attachment/{files[0]['AttachmentId']}",
                    params={"AttachmentLinkType": "Full"}).json()
    assert full["Content"] == files[0]["Content"] and full["Type"] == files[0]["Type"]
    by_link = http.get(f"/v4/Transactions/{tx_id}/Attachment/{files[0]['AttachmentId']}").json()
    assert by_link["Content"].startswith("http")  # LinkUrl is the default: a link, not the bytes
    broken_tx, broken = next((k, v) for k, v in pex_double.attachments.items() if v[0]["UploadStatus"] != "Loaded")
    fetched = http.get(f"/v4/Transactions/{broken_tx}/Attachment/{broken[0]['AttachmentId']}",
                       params={"AttachmentLinkType": "Full"}).json()
    assert fetched["Content"] is None and fetched["UploadStatus"] == broken[0]["UploadStatus"]
    assert http.get(f"/v4/Transactions/{tx_id}/Attachment/ffffffffffffffffffffffff").status_code == 404


def test_attachments_none_is_404_or_empty_as_switched(pex_double, http):
    bare = next(r["TransactionId"] for r in pex_double.transactions["cardholder"]
                if r["TransactionId"] not in pex_double.attachments)
    assert http.get(f"/v4/Transactions/{bare}/Attachments").status_code == 404
    pex_double.attachments_404_when_none = False
    assert http.get(f"/v4/Transactions/{bare}/Attachments").json()["Attachments"] == []
    assert http.get("/v4/Transactions/1/Attachments").status_code == 404  # unknown transaction: always 404


# -------------------------------------------------------------------------------------------- notes

def test_notes_show_in_the_transaction_list(pex_double, http):
    row = pex_double.transactions["business"][0]
    created = http.post("/v4/Note", json={"TransactionId": row["TransactionId"], "NoteText": "PEX-marker",
                                          "Pending": False, "VisibleToCardholder": False, "SystemGenerated": True})
    assert created.status_code == 201
    listed = http.get("/v4/Details/TransactionDetails", params=window(pex_double)).json()["TransactionList"]
    notes = next(r["TransactionNotes"] for r in listed if r["TransactionId"] == row["TransactionId"])
    assert [n["NoteText"] for n in notes] == ["PEX-marker"] and notes[0]["NoteId"] == created.json()["NoteId"]
    assert http.put(f"/v4/Note/{created.json()['NoteId']}", json={"NoteText": "edited"}).status_code == 200
    assert row["TransactionNotes"][0]["NoteText"] == "edited"
    assert http.request("DELETE", f"/v4/Note/{created.json()['NoteId']}", json={"Pending": False}).status_code == 200
    assert row["TransactionNotes"] == []
    assert http.post("/v4/Note", json={"TransactionId": 1, "NoteText": "x"}).status_code == 404


# ------------------------------------------------------------------------------------------- faults

def test_fault_switchboard(pex_double, http):
    faults = pex_double.faults
    faults.queue("429", path_contains="settings", retry_after=7)
    assert http.get("/v4/Details/AccountDetails").status_code == 200  # path did not match
    limited = http.get("/v4/Business/Settings")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    for kind in ("500", "503", "504"):
        faults.queue(kind)
        answer = http.get("/v4/Business/Settings")
        assert answer.status_code == int(kind) and answer.json()["Message"]
    faults.queue("html_500", count=2)
    for _ in range(2):
        page = http.get("/v4/Business/Settings")
        assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert http.get("/v4/Business/Settings").status_code == 200
    faults.queue("truncated_json")
    cut = http.get("/v4/Business/Settings")
    assert cut.status_code == 200 and cut.headers["content-type"].startswith("application/json")
    with pytest.raises(ValueError):
        cut.json()
    faults.queue("truncated_json", status=500)
    assert http.get("/v4/Business/Settings").status_code == 500
    faults.queue("drop")
    with pytest.raises(httpx.RemoteProtocolError):
        http.get("/v4/Business/Settings")
    assert http.get("/v4/Business/Settings").status_code == 200  # the next call is served again
    faults.outage = True
    assert http.get("/v4/Ping").status_code == 503
    faults.outage = False
    assert faults.pending == 0
    with pytest.raises(ValueError):
        faults.queue("teapot")


def test_requests_are_recorded_with_their_query(pex_double, http):
    http.get("/V4/Details/TransactionDetails", params=window(pex_double, IncludePendings="False"))
    method, path, query = pex_double.requests[-1]
    assert (method, path) == ("GET", "/V4/Details/TransactionDetails")
    assert query["IncludePendings"] == "False" and query["EndDate"] == f"{pex_double.today}T23:59:59"
    assert pex_double.env == {"PEX_API_URL": pex_double.url + "/v4"}
