"""The store: schema migrations, credentials encrypted at rest, the token lock, the local PEX copy. What the
engine relies on (transactions, credentials, the token lock, the PEX copy) runs on SQLite and PostgreSQL; what is
about the SQLite file itself (its bytes, modes, key file, migrations by user_version) on SQLite."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandbox_env import PG_TEST_KEY, database_at

import pexxero.store.db as store_module
from pexxero.models import PexTransaction, Split, TagValue
from pexxero.secrets import CredentialsUnreadable, InvalidKey, find_key, key_file_for
from pexxero.setup import PexOptions, Setup
from pexxero.store import LockBusy, Store, StoreError

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "pex-token-SUPERSECRET-4242"


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No key from the environment or a stray secrets.toml: the key file next to the database is used."""
    monkeypatch.delenv("PEXXERO_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def target(isolated, store_target, monkeypatch):
    """The database on each store (the store's own behaviour, which the engine relies on, holds on both). A
    PostgreSQL database takes its key from PEXXERO_KEY (there is no file to keep one beside)."""
    if isinstance(store_target, str):
        monkeypatch.setenv("PEXXERO_KEY", PG_TEST_KEY)
    return store_target


@pytest.fixture
def store(target):
    s = Store.open(target)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(isolated):
    """For what is about the SQLite file itself (its bytes, its key file)."""
    s = Store.open(isolated / "pexxero.db")
    yield s
    s.close()


def raw_bytes(db_path: Path) -> bytes:
    """Every byte SQLite keeps for the database: the file, its WAL and shared memory."""
    return b"".join(p.read_bytes() for p in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")) if p.exists())


# ------------------------------------------------------------------------------------ opening, schema


def test_open_creates_the_file_with_wal_foreign_keys_and_the_schema(isolated):
    path = isolated / "sub" / "dir" / "p.db"
    s = Store.open(path)
    assert path.exists()
    assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert s.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert s.db.execute("PRAGMA user_version").fetchone()[0] == len(store_module.MIGRATIONS)
    assert {"connections", "credentials", "setup", "pex_transactions", "pex_fetches", "meta"} <= set(s.db.table_names())
    with pytest.raises(sqlite3.IntegrityError):  # foreign keys are enforced
        s.db.execute("INSERT INTO setup (connection_id, toml, updated_at) VALUES (99, '', '')")


@pytest.fixture
def umask_022():
    """The usual umask, under which a plain open() makes files every local user can read (0644)."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_the_database_its_wal_and_shm_and_the_csv_are_readable_by_their_owner_alone(isolated, umask_022):
    import pandas as pd

    from pexxero import reconcile_report
    from pexxero.connection import Preview

    path = isolated / "p.db"
    with Store.open(path) as s:
        s.save_credentials(s.connection_id(), "pex", {"token": TOKEN})
        s.set_meta("a", 1)
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {f.name: "0o600" for f in files}

    csv_path = isolated / "reconciliation.csv"
    csv_path.write_text("old", encoding="utf-8")
    csv_path.chmod(0o644)  # an earlier export: narrowed when written again
    preview = Preview(pd.DataFrame(columns=reconcile_report.COLUMNS), datetime.now(timezone.utc), date(2026, 6, 1),
                      date(2026, 6, 30))
    for target in (csv_path, isolated / "new.csv"):
        preview.to_csv(target)
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert target.read_text(encoding="utf-8").startswith(",".join(reconcile_report.COLUMNS[:2]))


def test_a_file_that_is_not_a_pexxero_database_is_named_with_what_to_do(isolated, capsys):
    import sqlite3 as sqlite

    from pexxero import cli, views

    damaged = isolated / "books.db"
    damaged.write_bytes(b"this is a spreadsheet, not a database " * 200)
    other = isolated / "other.db"
    with sqlite.connect(other) as c:
        c.execute("CREATE TABLE invoices (id INTEGER)")
    for path in (damaged, other):
        before = path.read_bytes()
        with pytest.raises(StoreError) as caught:
            Store.open(path)
        assert f"{path} is not a pexxero database, or it is damaged" in str(caught.value)
        assert "restore the file from a backup" in str(caught.value) and "move it away" in str(caught.value)
        assert "free disk space" not in str(caught.value).lower()
        assert views.explain(caught.value) == str(caught.value)
        assert path.read_bytes() == before  # nothing added to someone else's file

        assert cli.main(["--db", str(path), "preview"]) == 1
        err = capsys.readouterr().err
        assert "is not a pexxero database" in err and "Free disk space" not in err and "Traceback" not in err


def test_a_db_path_under_a_file_is_said_in_words(isolated, capsys):
    from pexxero import cli

    (isolated / "notes.txt").write_text("x", encoding="utf-8")
    for path in (isolated / "notes.txt" / "p.db", isolated / "notes.txt" / "deeper" / "p.db"):
        with pytest.raises(StoreError) as caught:
            Store.open(path)
        assert str(caught.value).startswith(f"The database {path} cannot be created: {isolated / 'notes.txt'} is a "
                                            "file, not a folder")
        assert cli.main(["--db", str(path), "history"]) == 1
        err = capsys.readouterr().err
        assert "is a file, not a folder" in err and "FileExistsError" not in err and "NotADirectoryError" not in err


def test_reopening_keeps_data_and_runs_no_migration_twice(isolated, monkeypatch):
    calls = []
    monkeypatch.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS, lambda db: calls.append(1) or
                                                     db.execute("CREATE TABLE extra (x)")])
    path = isolated / "p.db"
    with Store.open(path) as s:
        s.set_meta("kept", 1)
    with Store.open(path) as s:
        assert s.meta("kept") == 1
        assert "extra" in s.db.table_names()
    assert calls == [1]


def test_a_failing_migration_leaves_the_schema_as_it_was(isolated, monkeypatch):
    path = isolated / "p.db"
    Store.open(path).close()
    version = len(store_module.MIGRATIONS)

    def half_done(db):
        db.execute("CREATE TABLE half (x)")
        raise RuntimeError("boom")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS, half_done])
    with pytest.raises(RuntimeError):
        Store.open(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == version
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half'").fetchone()[0] == 0


def test_a_database_from_a_newer_version_is_refused(isolated):
    path = isolated / "p.db"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(store_module.MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StoreError, match="upgrade pexxero"):
        Store.open(path)


def test_the_migration_decorator_appends_in_order(monkeypatch):
    monkeypatch.setattr(store_module, "MIGRATIONS", list(store_module.MIGRATIONS))
    before = len(store_module.MIGRATIONS)

    @store_module.migration
    def _later(db):
        pass

    assert store_module.MIGRATIONS[before:] == [_later]


def test_transaction_rolls_back_on_error(store):
    with pytest.raises(ZeroDivisionError):
        with store.transaction() as db:
            db.execute("INSERT INTO meta (key, value) VALUES ('x', '1')")
            1 / 0
    assert store.meta("x") is None
    with store.transaction():
        with store.transaction() as db:  # nested: a savepoint, committed with the outer one
            db.execute("INSERT INTO meta (key, value) VALUES ('y', '2')")
    assert store.meta("y") == 2


def test_there_is_one_default_connection(store):
    assert store.connection_id() == store.connection_id()
    assert store.db.execute("SELECT count(*) FROM connections").fetchone()[0] == 1


# ---------------------------------------------------------------------------------------- credentials


def test_credentials_round_trip_and_are_never_stored_in_clear(sqlite_store):
    store = sqlite_store
    cid = store.connection_id()
    store.save_credentials(cid, "pex", {"token": TOKEN})
    xero_token = {"access_token": "ACCESS-" + "a" * 40, "refresh_token": "REFRESH-zz-9911", "expires_at": 1.5}
    store.save_credentials(cid, "xero", xero_token)
    assert store.load_credentials(cid, "pex") == {"token": TOKEN}
    assert store.load_credentials(cid, "xero") == xero_token
    raw = raw_bytes(store.path)
    assert len(raw) > 0
    for secret in (TOKEN, "REFRESH-zz-9911", xero_token["access_token"]):
        assert secret.encode() not in raw
    # and not after a checkpoint either (WAL copied into the main file)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert TOKEN.encode() not in raw_bytes(store.path)


def test_missing_and_deleted_credentials_read_as_none(store):
    cid = store.connection_id()
    assert store.load_credentials(cid, "xero") is None
    assert store.load_credentials(cid, "pex") is None
    store.save_credentials(cid, "pex", {"token": TOKEN})
    assert store.load_credentials(cid, "pex") is not None
    store.delete_credentials(cid, "pex")
    assert store.load_credentials(cid, "pex") is None
    with pytest.raises(ValueError, match="unknown service"):
        store.save_credentials(cid, "stripe", {})


def test_a_wrong_key_is_a_clear_error_that_asks_for_a_reconnect(isolated, monkeypatch):
    path = isolated / "p.db"
    with Store.open(path) as s:
        s.save_credentials(s.connection_id(), "pex", {"token": TOKEN})
    monkeypatch.setenv("PEXXERO_KEY", Fernet.generate_key().decode())
    with Store.open(path) as s:
        with pytest.raises(CredentialsUnreadable) as caught:
            s.load_credentials(s.connection_id(), "pex")
    assert str(caught.value) == "the stored pex credentials cannot be read with this key: re-connect"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no Fernet internals chained


def test_a_row_copied_to_another_service_does_not_decrypt(store):
    cid = store.connection_id()
    store.save_credentials(cid, "pex", {"token": TOKEN})
    store.db.execute("INSERT INTO credentials SELECT connection_id, 'xero', ciphertext, updated_at FROM credentials")
    with pytest.raises(CredentialsUnreadable):
        store.load_credentials(cid, "xero")


def test_the_key_file_is_created_once_next_to_the_database_owner_only(isolated):
    path = isolated / "p.db"
    with Store.open(path) as s:
        s.save_credentials(s.connection_id(), "pex", {"token": TOKEN})
        assert s.key_source().origin == "key file"
    key_file = key_file_for(path)
    assert key_file == isolated / "p.db.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first = key_file.read_bytes()
    with Store.open(path) as s:  # reopened: the same key reads the same token
        assert s.load_credentials(s.connection_id(), "pex") == {"token": TOKEN}
    assert key_file.read_bytes() == first


def test_no_key_file_is_made_until_a_credential_is_touched(isolated):
    path = isolated / "p.db"
    with Store.open(path) as s:
        s.set_meta("a", 1)
    assert not key_file_for(path).exists()


def test_a_missing_key_file_with_stored_credentials_refuses_to_start_and_makes_no_new_key(isolated, capsys):
    from pexxero import cli
    from pexxero.connection import open_connection
    from pexxero.secrets import KeyFileMissing

    path = isolated / "p.db"
    with Store.open(path) as s:
        s.save_credentials(s.connection_id(), "pex", {"token": TOKEN})
    key_file = key_file_for(path)
    key_file.unlink()  # lost: a restore without it, a clean-up that went too far

    with Store.open(path) as s:
        with pytest.raises(KeyFileMissing) as caught:
            s.load_credentials(s.connection_id(), "pex")
        with pytest.raises(KeyFileMissing):
            s.save_credentials(s.connection_id(), "xero", {"refresh_token": "x"})  # never a second key
    with pytest.raises(KeyFileMissing):
        open_connection(path)  # the dashboard and every command refuse at the start
    message = str(caught.value)
    assert str(key_file) in message and "is missing" in message
    assert "Put the key file back" in message and "PEXXERO_KEY" in message
    assert f"python -m pexxero --db {path} connect forget" in message and "move" in message
    assert not key_file.exists()

    assert cli.main(["--db", str(path), "preview"]) == 1
    err = capsys.readouterr().err
    assert str(key_file) in err and "Traceback" not in err
    assert not key_file.exists()

    # starting over keeps the setup and history, and only then is a new key made
    assert cli.main(["--db", str(path), "connect", "forget"]) == 0
    assert "deleted" in capsys.readouterr().out
    with Store.open(path) as s:
        assert s.load_credentials(s.connection_id(), "pex") is None
        s.save_credentials(s.connection_id(), "pex", {"token": TOKEN})
        assert s.load_credentials(s.connection_id(), "pex") == {"token": TOKEN}
    assert key_file.exists()


def test_the_environment_key_wins_then_secrets_toml_then_the_key_file(isolated):
    env_key = Fernet.generate_key().decode()
    toml_key = Fernet.generate_key().decode()
    secrets = isolated / ".streamlit" / "secrets.toml"
    db = isolated / "p.db"
    assert find_key(db, env={}, secrets_file=secrets).origin == "key file"
    secrets.parent.mkdir()
    secrets.write_text(f'[xero]\nclient_id = "x"\n\n[pexxero]\nencryption_key = "{toml_key}"\n')
    found = find_key(db, env={}, secrets_file=secrets)
    assert (found.origin, found.key) == ("secrets.toml", toml_key.encode())
    found = find_key(db, env={"PEXXERO_KEY": env_key}, secrets_file=secrets)
    assert (found.origin, found.key) == ("env", env_key.encode())
    # the default secrets file is .streamlit/secrets.toml in the working directory
    assert find_key(db, env={}).origin == "secrets.toml"


def test_an_invalid_key_is_refused_without_echoing_it(isolated):
    with pytest.raises(InvalidKey) as caught:
        find_key(isolated / "p.db", env={"PEXXERO_KEY": "not-a-key-hunter2"})
    assert "PEXXERO_KEY" in str(caught.value)
    assert "hunter2" not in str(caught.value)


# ---------------------------------------------------------------------------------------------- setup


def test_setup_round_trips(store):
    cid = store.connection_id()
    assert store.load_setup(cid) is None
    setup = Setup(pex=PexOptions(start_date=date(2026, 6, 1), post_date="settlement"))
    store.save_setup(cid, setup)
    assert store.load_setup(cid) == setup
    store.save_setup(cid, Setup())
    assert store.load_setup(cid) == Setup()


# -------------------------------------------------------------------------------- the local PEX copy


def _tx(tid: int, when: datetime, **kw) -> PexTransaction:
    base = dict(transaction_id=tid, acct_id=500, ledger="cardholder", transaction_type="Network",
                category="Purchase", amount=Decimal("-12.30"), transaction_time=when)
    return PexTransaction(**{**base, **kw})


tag_values = st.builds(TagValue, field_id=st.text(max_size=8), name=st.text(max_size=8), value=st.text(max_size=30))
money = st.decimals(min_value=Decimal("-100000"), max_value=Decimal("100000"), allow_nan=False,
                    allow_infinity=False, places=2) | st.sampled_from([Decimal("-1.10"), Decimal("0"), Decimal("5.000")])
times = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31))
transactions = st.builds(
    PexTransaction,
    transaction_id=st.integers(min_value=1, max_value=2**62),
    acct_id=st.integers(min_value=0, max_value=2**40),
    ledger=st.sampled_from(["cardholder", "business"]),
    transaction_type=st.sampled_from(["Network", "Transfer", "Load"]),
    category=st.text(max_size=20),
    amount=money,
    transaction_time=times,
    settlement_time=st.none() | times,
    description=st.text(max_size=40),
    merchant_name=st.text(max_size=20),
    merchant_name_normalized=st.text(max_size=20),
    is_pending=st.booleans(),
    is_decline=st.booleans(),
    approval_status=st.sampled_from(["NotReviewed", "Approved", "Rejected"]),
    auth_transaction_id=st.none() | st.integers(min_value=1, max_value=2**62),
    tags=st.lists(tag_values, max_size=3).map(tuple),
    splits=st.lists(st.builds(Split, amount=money, tags=st.lists(tag_values, max_size=2).map(tuple)), max_size=3).map(tuple),
    cardholder=st.text(max_size=20),
    notes=st.lists(st.text(max_size=20), max_size=2).map(tuple),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(transactions)
def test_a_pex_transaction_round_trips_exactly(sqlite_store, t):
    store = sqlite_store  # the encoding is the store's, the same on both; PostgreSQL: the test below
    cid = store.connection_id()
    day = t.transaction_time.date()
    store.save_pex_transactions(cid, [t], fetched_at=datetime.now(timezone.utc), window=(day, day))
    back = [x for x in store.pex_transactions(cid, day, day) if x.transaction_id == t.transaction_id]
    assert back == [t]
    assert str(back[0].amount) == str(t.amount)  # the exponent too: "-1.10" stays "-1.10"
    assert all(isinstance(s.amount, Decimal) for s in back[0].splits)


def test_edge_values_round_trip_on_each_store_and_a_nul_is_kept_out_of_postgresql_text(store):
    when = datetime(2026, 3, 8, 2, 30)
    cases = [
        _tx(2**62, when, amount=Decimal("-1.10"), acct_id=2**40, auth_transaction_id=2**62 - 1,
            settlement_time=when + timedelta(days=1), merchant_name="Zoë's 'café' ? % 100%", is_pending=True,
            tags=(TagValue("f1", "PROJECTS", "a\u0000b"),), splits=(Split(Decimal("5.000"), ()),), notes=("n ?",)),
        _tx(7, when, description="x" * 5000, cardholder="李小龍", category="", amount=Decimal("0")),
    ]
    cid = store.connection_id()
    store.save_pex_transactions(cid, cases, fetched_at=datetime.now(timezone.utc), window=(when.date(), when.date()))
    assert store.pex_transactions(cid, when.date(), when.date() + timedelta(days=1)) == sorted(
        cases, key=lambda t: t.transaction_id)
    nul = _tx(8, when, merchant_name="bad\u0000name")
    store.save_pex_transactions(cid, [nul], fetched_at=datetime.now(timezone.utc), window=(when.date(), when.date()))
    (back,) = [t for t in store.pex_transactions(cid, when.date(), when.date()) if t.transaction_id == 8]
    assert back.merchant_name == ("bad\ufffdname" if isinstance(store.path, str) else "bad\u0000name")


def test_saving_again_updates_by_transaction_id(store):
    cid = store.connection_id()
    when = datetime(2026, 5, 3, 23, 30)
    window = (date(2026, 5, 1), date(2026, 5, 31))
    store.save_pex_transactions(cid, [_tx(7, when, is_pending=True)], fetched_at=datetime(2026, 5, 4), window=window)
    settled = _tx(7, when, settlement_time=datetime(2026, 5, 5, 1, 0), tags=(TagValue("f", "PROJECTS", "x"),))
    store.save_pex_transactions(cid, [settled], fetched_at=datetime(2026, 5, 6), window=window)
    assert store.pex_transactions(cid, *window) == [settled]


def test_the_range_is_eastern_calendar_dates_and_includes_settlement_dates(store):
    cid = store.connection_id()
    rows = [
        _tx(1, datetime(2026, 4, 30, 23, 59)),  # before the range
        _tx(2, datetime(2026, 5, 1, 0, 0)),
        _tx(3, datetime(2026, 5, 31, 23, 59, 59)),
        _tx(4, datetime(2026, 6, 1, 0, 0)),  # after
        _tx(5, datetime(2026, 4, 29, 12, 0), settlement_time=datetime(2026, 5, 2, 3, 0)),  # settles inside
    ]
    store.save_pex_transactions(cid, rows, fetched_at=datetime(2026, 6, 2), window=(date(2026, 4, 1), date(2026, 6, 30)))
    got = store.pex_transactions(cid, date(2026, 5, 1), date(2026, 5, 31))
    assert [t.transaction_id for t in got] == [5, 2, 3]  # ordered by transaction time


def test_a_ledger_fetch_replaces_that_ledgers_window_only(store):
    cid = store.connection_id()
    window = (date(2026, 5, 1), date(2026, 5, 31))
    store.save_pex_transactions(cid, [
        _tx(1, datetime(2026, 5, 2, 9), is_pending=True),  # an authorisation PEX later drops
        _tx(2, datetime(2026, 5, 3, 9)),
        _tx(3, datetime(2026, 4, 20, 9)),  # outside the window: kept
        _tx(4, datetime(2026, 5, 4, 9), ledger="business", transaction_type="Transfer"),  # other ledger: kept
    ], fetched_at=datetime(2026, 5, 10), window=(date(2026, 4, 1), date(2026, 5, 31)))
    store.save_pex_transactions(cid, [_tx(2, datetime(2026, 5, 3, 9)), _tx(5, datetime(2026, 5, 6, 9))],
                                fetched_at=datetime(2026, 5, 11), window=window, ledger="cardholder")
    ids = [t.transaction_id for t in store.pex_transactions(cid, date(2026, 4, 1), date(2026, 5, 31))]
    assert ids == [3, 2, 4, 5]
    with pytest.raises(ValueError, match="another ledger"):
        store.save_pex_transactions(cid, [_tx(9, datetime(2026, 5, 6), ledger="business")],
                                    fetched_at=datetime(2026, 5, 11), window=window, ledger="cardholder")


def test_fetch_state_lists_windows_newest_first_and_their_union(store):
    cid = store.connection_id()
    assert store.pex_fetch_state(cid) == {"windows": [], "last_fetched_at": None, "covered": [], "transactions": 0}
    t1 = datetime(2026, 5, 10, 12, tzinfo=timezone.utc)
    t2 = t1 + timedelta(hours=1)
    store.save_pex_transactions(cid, [_tx(1, datetime(2026, 5, 2))], fetched_at=t1, window=(date(2026, 5, 1), date(2026, 5, 9)))
    store.save_pex_transactions(cid, [], fetched_at=t2, window=(date(2026, 5, 10), date(2026, 5, 20)), ledger="business")
    store.save_pex_transactions(cid, [], fetched_at=t2, window=(date(2026, 6, 1), date(2026, 6, 5)))
    state = store.pex_fetch_state(cid)
    assert state["last_fetched_at"] == t2
    assert [(w["ledger"], w["start"], w["count"]) for w in state["windows"]] == [
        ("", date(2026, 6, 1), 0), ("business", date(2026, 5, 10), 0), ("", date(2026, 5, 1), 1),
    ]
    assert state["covered"] == [(date(2026, 5, 1), date(2026, 5, 20)), (date(2026, 6, 1), date(2026, 6, 5))]
    assert state["transactions"] == 1
    with pytest.raises(ValueError):
        store.save_pex_transactions(cid, [], fetched_at=t2, window=(date(2026, 6, 5), date(2026, 6, 1)))


def test_meta_holds_json_values(store):
    assert store.meta("missing", "d") == "d"
    store.set_meta("cursor", {"since": "2026-05-01", "n": 3})
    assert store.meta("cursor") == {"since": "2026-05-01", "n": 3}
    store.set_meta("cursor", None)
    assert store.meta("cursor") is None


# ------------------------------------------------------------------------------------- token keeper


def test_the_token_keeper_saves_and_loads_the_xero_token_set(store):
    keeper = store.token_keeper(store.connection_id())
    assert keeper.load() is None
    keeper.save({"refresh_token": "r1", "access_token": "a1"})
    assert keeper.load() == {"refresh_token": "r1", "access_token": "a1"}
    assert store.load_credentials(store.connection_id(), "xero") == keeper.load()
    store.delete_credentials(store.connection_id(), "xero")
    assert keeper.load() is None


def _python(code: str, db: Path | str, env_key: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PEXXERO_KEY": env_key}
    cwd = db.parent if isinstance(db, Path) else None
    return subprocess.Popen([sys.executable, "-c", code, str(db)], cwd=cwd, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


HOLD_LOCK = """
import sys
from pexxero.store import Store
s = Store.open(sys.argv[1])
with s.token_keeper(s.connection_id()).lock():
    print("locked", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


def test_the_lock_excludes_another_process_until_it_lets_go(target, monkeypatch):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("PEXXERO_KEY", key)
    db = target
    s = Store.open(db)
    keeper = s.token_keeper(s.connection_id())
    holder = _python(HOLD_LOCK, db, key)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockBusy):
            with keeper.lock(blocking=False):
                pass
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        with keeper.lock(blocking=False):  # free now
            with keeper.lock(blocking=False):  # and re-entrant in one thread
                pass
    finally:
        holder.kill()
        holder.wait()


ROTATE = """
import json, secrets, sys
from pexxero.store import Store
s = Store.open(sys.argv[1])
keeper = s.token_keeper(s.connection_id())
print("ready", flush=True)
sys.stdin.readline()
spent = []
for _ in range(40):
    with keeper.lock():
        token = keeper.load()
        spent.append(token["refresh_token"])
        keeper.save({"refresh_token": secrets.token_hex(8), "n": token["n"] + 1})
print(json.dumps(spent), flush=True)
"""


def test_two_processes_rotating_under_the_lock_never_spend_a_refresh_token_twice(target, monkeypatch):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("PEXXERO_KEY", key)
    db = target
    with Store.open(db) as s:
        s.token_keeper(s.connection_id()).save({"refresh_token": "first", "n": 0})
    workers = [_python(ROTATE, db, key) for _ in range(2)]
    try:
        for w in workers:
            assert w.stdout.readline().strip() == "ready"
        for w in workers:  # release both together so their refreshes overlap
            w.stdin.write("go\n")
            w.stdin.flush()
        outputs = [w.communicate(timeout=60) for w in workers]
    finally:
        for w in workers:
            w.kill()
    spent = [token for out, _ in outputs for token in json.loads(out)]
    assert len(spent) == 80
    assert len(set(spent)) == 80, "a refresh token was spent twice"
    with Store.open(db) as s:
        assert s.token_keeper(s.connection_id()).load()["n"] == 80


def test_the_lock_excludes_other_threads(store):
    cid = store.connection_id()
    store.token_keeper(cid).save({"n": 0})
    errors = []

    def bump():
        mine = Store.open(store.path)  # one Store per thread, as a background sync would
        keeper = mine.token_keeper(cid)
        try:
            for _ in range(25):
                with keeper.lock():
                    keeper.save({"n": keeper.load()["n"] + 1})
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            mine.close()

    threads = [threading.Thread(target=bump) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.token_keeper(cid).load() == {"n": 75}


def test_a_token_saved_on_another_thread_is_not_folded_into_an_open_transaction(store):
    """A sync sends from worker threads, so the gateway may save a rotated token while the run's own thread is inside
    a transaction on the store's connection. The token must be committed on its own, whatever that transaction does."""
    keeper = store.token_keeper(store.connection_id())
    keeper.save({"refresh_token": "first"})
    store.db.execute("BEGIN")
    store.db.execute("SELECT COUNT(*) FROM credentials").fetchall()  # the run's thread is mid-transaction
    saver = threading.Thread(target=keeper.save, args=({"refresh_token": "rotated"},))
    saver.start()
    saver.join()
    store.db.execute("ROLLBACK")  # that transaction fails; the rotated token must not go with it
    assert keeper.load() == {"refresh_token": "rotated"}
    assert store.load_credentials(store.connection_id(), "xero") == {"refresh_token": "rotated"}


def test_the_record_of_pex_reads_moves_out_of_meta(tmp_path, monkeypatch):
    """A database from before `pex_fetches` was the one record of PEX reads: the whole read kept in meta
    (`pex_cache:<connection>`) is marked on its rows, and meta no longer holds it."""
    import json



    monkeypatch.delenv("PEXXERO_KEY", raising=False)
    path = tmp_path / "old.db"
    db = database_at(path, 6)
    whole, later = "2026-06-01T12:00:00+00:00", "2026-06-01T13:00:00+00:00"
    with db.conn:
        db.execute("INSERT INTO connections (id, name, created_at) VALUES (1, 'default', 'x')")
        for ledger, start, at in (("cardholder", "2026-01-01", whole), ("business", "2026-01-01", whole),
                                  ("cardholder", "2026-04-01", later), ("business", "2026-04-01", later)):
            db.execute("INSERT INTO pex_fetches (connection_id, ledger, start_date, end_date, fetched_at, count) "
                       "VALUES (1, ?, ?, '2026-06-01', ?, 0)", [ledger, start, at])
        db.execute("INSERT INTO meta (key, value) VALUES ('pex_cache:1', ?)", [json.dumps(
            {"start": "2026-01-01", "end": "2026-06-01", "fetched_at": later, "full_day": "2026-06-01",
             "full_at": whole})])
    db.close()

    with Store.open(path) as store:
        assert store.meta("pex_cache:1") is None
        state = store.pex_refresh_state(1)
        assert (state["start"], state["end"]) == (date(2026, 1, 1), date(2026, 6, 1))
        assert state["read_at"] == state["due_from"] == datetime.fromisoformat(later)
        assert state["full_at"] == datetime.fromisoformat(whole) and state["full_day"] == "2026-06-01"
        store.expire_pex_reads(1)
        assert store.pex_refresh_state(1)["due_from"] is None


def test_a_database_numbered_by_user_version_records_its_migrations_by_name_once(isolated):
    """Before migrations were recorded by name, `user_version` N said the first N ran: they are recorded as
    applied (not run again) and only the rest run."""
    from sqlite_utils.migrations import Migrations

    path = isolated / "old.db"
    db = database_at(path, 3)
    db.close()
    with Store.open(path) as s:
        names = [m.name for m in Migrations(store_module.MIGRATION_SET).applied(s.db)]
        assert names == [fn.__name__ for fn in store_module.MIGRATIONS]
        assert s.db.execute("PRAGMA user_version").fetchone()[0] == len(store_module.MIGRATIONS)
    with Store.open(path) as s:  # reopening records nothing again
        assert len(Migrations(store_module.MIGRATION_SET).applied(s.db)) == len(store_module.MIGRATIONS)
