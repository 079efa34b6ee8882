"""Preview end to end: the real PEX client and Xero gateway against the doubles, the local PEX copy, the CLI
and the CSV. Preview reads; it never writes to Xero."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest

from pexxero import cli, reconcile_report
from pexxero.connection import open_connection, today_eastern
from pexxero.models import STATUSES
from pexxero.sandbox import demo, seed
from pexxero.sandbox.pex_double import PexDouble
from pexxero.sandbox.xero_double import API_PREFIX, XeroDouble
from pexxero.setup_toml import to_toml


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """Both doubles, their env applied, and a database connected to them with the demo setup."""
    with PexDouble() as pex, XeroDouble(today=pex.today) as xero:  # one today for both doubles and the setup
        for name, value in {**pex.env, **xero.env}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("PEXXERO_KEY", "x" * 43 + "=")
        db = tmp_path / "pexxero.db"
        conn = open_connection(db)
        conn.connect_pex(demo.PEX_TOKEN)
        conn.connect_xero(xero.grant(), demo.TENANT_ID)
        conn.save_setup(seed.sandbox_setup(pex.today))

        class Sandbox:
            pass

        box = Sandbox()
        box.pex, box.xero, box.db, box.conn = pex, xero, db, conn
        yield box
        conn.close()


@pytest.fixture(autouse=True)
def fernet_key(monkeypatch):
    from cryptography.fernet import Fernet

    monkeypatch.setenv("PEXXERO_KEY", Fernet.generate_key().decode())


def test_the_demo_business_shows_every_status_with_a_reason(sandbox):
    frame = sandbox.conn.preview().frame
    assert set(frame["status"]) == set(STATUSES)
    assert frame["reason"].map(bool).all()
    pex_rows = frame[frame["status"] != "xero only"]
    assert pex_rows["pex_id"].is_unique


def test_preview_sends_no_write_request_to_xero(sandbox):
    sandbox.conn.preview()
    api_calls = [r for r in sandbox.xero.requests if r.path.startswith(API_PREFIX)]
    assert api_calls, "preview read nothing from Xero"
    assert {r.method for r in api_calls} == {"GET"}
    assert not any(r.idempotency_key for r in api_calls)


def test_the_net_per_status_adds_up_to_the_pex_amounts_and_xero_onlys(sandbox):
    preview = sandbox.conn.preview()
    start, end = preview.start, preview.end
    in_range = {t.transaction_id: t.amount for t in sandbox.conn.pex_transactions(start, end)}
    summary = preview.summary().set_index("status")
    frame = preview.frame
    listed = frame[frame["status"] != "xero only"]
    orphans = frame[frame["status"] == "xero only"]
    assert list(listed["amount"]) == [in_range[int(i)] for i in listed["pex_id"]]  # PEX's signed amounts
    assert len(orphans) and all(orphans["amount"] == -orphans["xero_amount"])  # the sandbox's are SPENDs
    assert sum(summary["net"]) == sum(listed["amount"]) + sum(orphans["amount"])
    assert all(summary["net"] == summary["money_in"] - summary["money_out"])


def test_the_local_pex_copy_spares_pex_calls(sandbox):
    def ledger_reads():
        return sum(1 for r in sandbox.pex.requests if "allcardholdertransactions" in r[1].lower())

    sandbox.conn.preview()
    first = ledger_reads()
    sandbox.conn.preview()
    assert ledger_reads() == first  # inside the refresh interval: served from the local copy
    sandbox.conn.preview(force_refresh=True)
    assert ledger_reads() == first + 1  # a forced refresh rereads the look-back window once


def test_pex_limits_on_and_two_previews_still_work(tmp_path, monkeypatch):
    with PexDouble(rate_limits=True) as pex, XeroDouble(today=pex.today) as xero:
        for name, value in {**pex.env, **xero.env}.items():
            monkeypatch.setenv(name, value)
        conn = open_connection(tmp_path / "p.db")
        conn.connect_pex(demo.PEX_TOKEN)
        conn.connect_xero(xero.grant(), demo.TENANT_ID)
        conn.save_setup(seed.sandbox_setup(pex.today))
        first = conn.preview().frame
        second = conn.preview().frame  # the business ledger allows 1 call a minute: a refetch would be refused
        assert len(first) == len(second) > 100


def test_cli_preview_prints_the_summary_and_writes_the_csv(sandbox, capsys, tmp_path):
    out = tmp_path / "reconciliation.csv"
    assert cli.main(["--db", str(sandbox.db), "preview", "--csv", str(out)]) == 0
    printed = capsys.readouterr().out
    for status in STATUSES:
        assert status in printed
    assert "nothing was written to Xero" in printed
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # the byte-order mark: Excel then reads UTF-8
    with out.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == reconcile_report.COLUMNS
    frame = sandbox.conn.preview(refresh=False).frame
    assert len(rows) - 1 == len(frame)


def test_csv_neutralises_formula_merchants(sandbox, tmp_path):
    row = max((r for r in sandbox.pex.transactions["cardholder"] if r["TransactionType"] == "Network"),
              key=lambda r: r["TransactionTime"])
    row["MerchantName"] = '=HYPERLINK("http://evil.example","x")'
    row["MerchantNameNormalized"] = ""
    sandbox.conn.preview(force_refresh=True).to_csv(tmp_path / "r.csv")
    text = (tmp_path / "r.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text
    assert ',=HYPERLINK' not in text and '"=HYPERLINK' not in text


def test_config_import_checks_the_file_against_live_xero_and_pex(sandbox, tmp_path, capsys):
    setup = seed.sandbox_setup(today_eastern())
    good = tmp_path / "good.toml"
    good.write_text(to_toml(setup), encoding="utf-8")
    assert cli.main(["--db", str(sandbox.db), "config", "import", str(good)]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(to_toml(setup).replace('fee_account = "404"', 'fee_account = "477"'), encoding="utf-8")
    assert cli.main(["--db", str(sandbox.db), "config", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "accounts.fee_account" in err and "archived" in err.lower()


def test_without_credentials_preview_says_what_to_connect(tmp_path, capsys, monkeypatch):
    db = tmp_path / "empty.db"
    conn = open_connection(db)
    conn.save_setup(seed.sandbox_setup(today_eastern()))
    assert cli.main(["--db", str(db), "preview"]) == 1
    err = capsys.readouterr().err
    assert "connect" in err and "Traceback" not in err


def test_summary_amounts_are_exact_decimals(sandbox):
    summary = sandbox.conn.preview().summary()
    for column in ("money_out", "money_in", "net", "xero_amount"):
        assert all(isinstance(a, Decimal) for a in summary[column]), column
