"""The workspace: many connections in one database, each with its own rows; adding, renaming and removing them;
the overview without a network call; a database of the schema before workspaces opens with its one connection,
`default`, intact."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from sandbox_env import database_at

from pexxero import models
from pexxero.connection import open_connection
from pexxero.models import PexTransaction, SyncItem
from pexxero.sandbox import demo
from pexxero.sandbox.seed import sandbox_setup
from pexxero.secrets import Cipher
from pexxero.store import Store
from pexxero.workspace import (
    BadConnectionName, ConnectionExists, ConnectionNotFound, NoConnectionChosen, open_workspace, resolve_connection_id,
    sync_all_exit_code,
)

DAY = date(2026, 6, 15)


@pytest.fixture
def key(monkeypatch, tmp_path):
    value = Fernet.generate_key()
    monkeypatch.setenv("PEXXERO_KEY", value.decode())
    monkeypatch.delenv("PEXXERO_CONNECTION", raising=False)
    monkeypatch.chdir(tmp_path)
    return value


class Revocations:
    """Stands in for the Xero gateway where only a revocation can happen (the sandbox's real one is in
    test_workspace_cli.py): records which connection's grant was revoked."""

    def __init__(self):
        self.revoked: list[int] = []

    def __call__(self, conn):
        revoked = self.revoked

        class Gateway:
            tenant_id = conn.tenant_id()

            def revoke(self):
                revoked.append(conn.connection_id)

        return Gateway()


@pytest.fixture
def revocations():
    return Revocations()


@pytest.fixture
def ws(key, tmp_path, revocations):
    with open_workspace(tmp_path / "pexxero.db", xero_factory=revocations) as workspace:
        yield workspace


def fill(store: Store, cid: int, tenant: str, seed: int) -> None:
    """A row of the connection in every table a connection has: credentials, setup, PEX copy and its reads,
    plan, run with items and receipts, intent, ledger, receipt state, release, lock, an undone record, meta."""
    store.save_credentials(cid, "pex", {"token": f"pex-{seed}"})
    store.save_credentials(cid, "xero", {"refresh_token": f"r-{seed}", "expires_at": 0})
    store.save_setup(cid, sandbox_setup(DAY))
    store.set_chosen_tenant(cid, tenant)
    tx = PexTransaction(transaction_id=seed, acct_id=500, ledger="cardholder", transaction_type="Network",
                        category="Purchase", amount=Decimal("-12.30"), transaction_time=datetime(2026, 6, 1, 10))
    store.save_pex_transactions(cid, [tx], fetched_at=datetime.now(timezone.utc), window=(DAY, DAY))
    store.save_plan(cid, tenant_id=tenant, tenant_name=f"org {seed}", built_at=datetime.now(timezone.utc),
                    start=DAY, end=DAY, items=[{"pex_id": seed, "status": models.NEW, "xero_id": "", "planned": None},
                                               {"pex_id": seed + 1, "status": models.CHANGED, "xero_id": "x",
                                                "planned": None}])
    run = store.queue_run(cid)
    store.update_run(run, status=models.PARTIAL, failed=2, written=1, to_write=3, tenant_id=tenant)
    store.add_items(run, [SyncItem(pex_id=seed, reference=f"PEX-{seed}", outcome=models.CREATED)])
    store.add_receipt(run, seed, f"att-{seed}", models.RECEIPT_ATTACHED)
    store.record_intent(f"key-{seed}", cid, run, "PUT BankTransactions", "{}", [f"PEX-{seed}"], tenant_id=tenant)
    store.add_to_ledger(cid, [(f"PEX-{seed}", "BankTransaction", f"x-{seed}")], run, tenant_id=tenant)
    store.set_receipt_state(cid, seed, f"att-{seed}", "attached", "", run, tenant_id=tenant)
    store.release(cid, seed, "push", tenant_id=tenant)
    store.db.execute("INSERT INTO sync_locks (connection_id, run_id, owner, heartbeat_at) VALUES (?, ?, 'x', 0)",
                     [cid, run])
    store.db.execute("INSERT INTO undone (connection_id, tenant_id, reference, record_type, xero_id, created_run, "
                     "undo_run, undone_at) VALUES (?, ?, ?, 'BankTransaction', ?, ?, ?, '')",
                     [cid, tenant, f"PEX-{seed}-old", f"old-{seed}", run, run])
    store.db.conn.commit()
    store.set_meta(f"xero_tenant_names:{cid}", {tenant: f"org {seed}"})


# ------------------------------------------------------------------------------------------------- CRUD


def test_connections_are_added_renamed_and_named_uniquely(ws):
    assert ws.names() == []
    first = ws.add("harbour")
    ws.add("alpine")
    assert ws.names() == ["alpine", "harbour"]
    with pytest.raises(ConnectionExists):
        ws.add("alpine")
    with pytest.raises(ConnectionExists):
        ws.rename("harbour", "alpine")
    ws.rename("harbour", "harbour-co")
    assert ws.names() == ["alpine", "harbour-co"]
    assert ws.connection("harbour-co").connection_id == first
    for bad in ("", "   ", "-x", "a" * 65, "tab\there"):
        with pytest.raises(BadConnectionName):
            ws.add(bad)
    with pytest.raises(ConnectionNotFound) as missing:
        ws.rename("nope", "x")
    assert "alpine" in str(missing.value) and "harbour-co" in str(missing.value)


def test_a_new_connection_can_start_from_anothers_setup_but_not_its_organisation(ws):
    a = ws.add("a")
    ws.add("c")
    assert ws.names_with_setup() == []
    ws.store.save_setup(a, sandbox_setup(DAY))
    ws.store.set_chosen_tenant(a, demo.TENANT_ID)
    b = ws.add("b", copy_setup_from="a")
    assert ws.store.load_setup(b).accounts == ws.store.load_setup(a).accounts
    assert ws.store.chosen_tenant(b) == ""
    assert ws.names_with_setup() == ["a", "b"]  # what the Overview offers to start from: "c" has no setup


def test_with_several_connections_one_must_be_chosen(ws, monkeypatch):
    ws.add("alpine")
    assert resolve_connection_id(ws.store) == ws.store.connection_named("alpine")  # the only one
    ws.add("harbour")
    with pytest.raises(NoConnectionChosen) as none:
        resolve_connection_id(ws.store)
    assert "alpine" in str(none.value) and "harbour" in str(none.value) and "--connection" in str(none.value)
    with pytest.raises(NoConnectionChosen):
        open_connection(ws.store.path)
    assert open_connection(ws.store.path, connection="harbour").connection_id == ws.store.connection_named("harbour")
    monkeypatch.setenv("PEXXERO_CONNECTION", "alpine")
    assert ws.connection().connection_id == ws.store.connection_named("alpine")
    with pytest.raises(ConnectionNotFound):
        ws.connection("nowhere")


def test_a_new_workspace_opens_with_its_connection_named_default(key, tmp_path):
    with open_connection(tmp_path / "new.db") as conn:
        assert conn.store.connection_rows()[0]["name"] == "default"


# -------------------------------------------------------------------------------------------- isolation


def test_each_connection_sees_only_its_own_rows_and_removal_leaves_the_others_intact(ws, revocations):
    a, b = ws.add("a"), ws.add("b")
    fill(ws.store, a, demo.TENANT_ID, 100)
    fill(ws.store, b, demo.SECOND_TENANT_ID, 200)
    before_b = ws.store.rows_of(b)
    assert all(n > 0 for n in ws.store.rows_of(a).values()), ws.store.rows_of(a)

    with ws.connection("a") as conn_a, ws.connection("b") as conn_b:
        [run_a], [run_b] = conn_a.history(), conn_b.history()
        assert conn_a.run(run_b["id"]) is None and conn_b.run(run_a["id"]) is None  # another's run is not seen
        assert [p.transaction_id for p in conn_a.pex_transactions(date(2026, 1, 1), DAY)] == [100]
        assert conn_a.store.ledger(a, tenant_id=demo.TENANT_ID) == {"PEX-100": "x-100"}
        assert conn_a.store.ledger(a, tenant_id=demo.SECOND_TENANT_ID) == {}
        assert conn_a.store.load_credentials(a, "pex") == {"token": "pex-100"}
        assert conn_b.store.load_credentials(b, "xero")["refresh_token"] == "r-200"

    ws.remove("a")
    assert revocations.revoked == [a]  # its grant was its own: revoked at Xero, then deleted
    assert ws.names() == ["b"]
    assert set(ws.store.rows_of(a).values()) == {0}
    assert ws.store.rows_of(b) == before_b
    assert ws.store.meta(f"xero_tenant_names:{a}") is None and ws.store.meta(f"xero_tenant_names:{b}")
    assert ws.store.load_credentials(b, "xero")["refresh_token"] == "r-200"
    assert [g.connections for g in ws.grants()] == [["b"]]  # a's own grant went with it


def test_removing_one_of_two_connections_of_a_grant_keeps_the_grant(ws):
    a, b = ws.add("a"), ws.add("b")
    ws.store.save_credentials(a, "xero", {"refresh_token": "shared"})
    ws.store.set_grant_tenants(ws.store.grant_of(a), [(demo.TENANT_ID, "A"), (demo.SECOND_TENANT_ID, "B")])
    ws.use_grant("b", demo.SECOND_TENANT_ID)
    ws.store.remove_connection(a)  # (Workspace.remove also revokes at Xero when it is the grant's last)
    assert ws.store.load_credentials(b, "xero") == {"refresh_token": "shared"}
    assert ws.grants()[0].connections == ["b"]
    ws.store.remove_connection(b)
    assert ws.grants() == [] and not ws.store.holds_credentials()


# --------------------------------------------------------------------------------------------- overview


def test_summaries_show_each_connection_without_a_network_call(ws):
    a, b = ws.add("a"), ws.add("b")
    ws.add("c")
    fill(ws.store, a, demo.TENANT_ID, 100)
    ws.store.set_pex_business(a, "Alpine Outfitters")
    ws.store.save_credentials(b, "pex", {"token": "t"})
    by_name = {s.name: s for s in ws.summaries()}
    assert list(by_name) == ["a", "b", "c"]
    sa = by_name["a"]
    assert (sa.set_up, sa.not_set_up, sa.pex_business) == (True, "", "Alpine Outfitters")
    assert (sa.tenant_id, sa.xero_organisation) == (demo.TENANT_ID, "org 100")
    assert sa.waiting == {"new": 1, "possible_duplicate": 0, "changed": 1, "failed": 2}
    assert sa.last_run["status"] == models.PARTIAL and (sa.last_run["written"], sa.last_run["to_write"]) == (1, 3)
    assert 0 <= sa.xero_token_age_days < 1 and 59 < sa.xero_days_to_expiry <= 60
    assert (by_name["b"].set_up, by_name["b"].not_set_up) == (False, "no Xero organisation")
    assert by_name["c"].not_set_up == "no PEX token" and by_name["c"].last_run is None
    assert by_name["c"].xero_token_age_days is None
    ws.store.set_chosen_tenant(a, demo.SECOND_TENANT_ID)  # a plan built for the other organisation waits no more
    assert next(s for s in ws.summaries() if s.name == "a").waiting["new"] == 0


def test_the_exit_code_of_sync_all():
    assert sync_all_exit_code([0, 0, None]) == 0
    assert sync_all_exit_code([None]) == 0
    assert sync_all_exit_code([0, 2, 3, 1]) == 1
    assert sync_all_exit_code([0, 2, 3]) == 3
    assert sync_all_exit_code([2, 0, None]) == 2


# -------------------------------------------------------------------------------------------- migration


def test_a_database_of_the_schema_before_workspaces_opens_with_its_connection_named_default(key, tmp_path):
    path = tmp_path / "old.db"
    db = database_at(path, 7)
    cipher = Cipher(key)
    token = {"refresh_token": "r-old", "access_token": "a-old", "expires_at": 0}
    with db.conn:
        db.execute("INSERT INTO connections (id, name, created_at, tenant_id) VALUES (1, 'default', 'x', ?)",
                   [demo.TENANT_ID])
        for service, value in (("pex", {"token": "pex-old"}), ("xero", token)):
            db.execute("INSERT INTO credentials VALUES (1, ?, ?, ?)",
                       [service, cipher.encrypt(1, service, value), datetime.now(timezone.utc).isoformat()])
        db.execute("INSERT INTO meta (key, value) VALUES ('xero_tenant_names:1', ?)",
                   [json.dumps({demo.TENANT_ID: demo.TENANT_NAME})])
        db.execute("INSERT INTO runs (connection_id, status, tenant_id) VALUES (1, 'succeeded', ?)", [demo.TENANT_ID])
        items = [{"pex_id": n, "status": status, "xero_id": "", "planned": None}
                 for n, status in enumerate([models.NEW, models.NEW, models.POSSIBLE_DUPLICATE])]
        db.execute("INSERT INTO plans (connection_id, built_at, start, end, items, tenant_id) "
                   "VALUES (1, 'x', '2026-06-01', '2026-06-15', ?, ?)", [json.dumps(items), demo.TENANT_ID])
    db.close()

    with open_workspace(path) as ws:
        assert ws.names() == ["default"]
        store = ws.store
        assert store.load_credentials(1, "xero") == token and store.load_credentials(1, "pex") == {"token": "pex-old"}
        [grant] = ws.grants()
        assert (grant.id, grant.tenants, grant.connections) == (1, [(demo.TENANT_ID, demo.TENANT_NAME)], ["default"])
        assert not store._rows("SELECT 1 FROM credentials WHERE service = 'xero'")
        [summary] = ws.summaries()
        assert (summary.xero_organisation, summary.last_run["status"]) == (demo.TENANT_NAME, "succeeded")
        assert summary.waiting == {"new": 2, "possible_duplicate": 1, "changed": 0, "failed": 0}
        store.save_credentials(1, "xero", {**token, "refresh_token": "r-new"})  # resealed to the grant
        assert store.load_credentials(1, "xero")["refresh_token"] == "r-new"
        with ws.connection() as conn:  # the only one, by default
            assert conn.connection_id == 1 and conn.tenant_id() == demo.TENANT_ID


def test_listing_and_removing_need_no_key(ws, monkeypatch, capsys):
    from pexxero.cli import main

    a = ws.add("a")
    ws.add("b")
    ws.store.save_credentials(a, "pex", {"token": "t"})
    ws.store.save_credentials(a, "xero", {"refresh_token": "r"})
    monkeypatch.delenv("PEXXERO_KEY")  # the key is lost: nothing can be decrypted
    db = str(ws.store.path)
    assert main(["--db", db, "--connection", "a", "history"]) == 1  # what needs the key refuses, in words
    assert "key" in capsys.readouterr().err
    assert main(["--db", db, "connections", "list"]) == 0
    assert main(["--db", db, "connections", "remove", "a", "--yes"]) == 0
    assert ws.names() == ["b"] and not ws.store.holds_credentials()


def test_the_xero_token_age_counts_from_the_refresh_token_issued_last(ws):
    a = ws.add("a")
    ws.store.save_credentials(a, "xero", {"refresh_token": "r1", "access_token": "x"})
    with ws.store.transaction() as db:
        db.execute("UPDATE grants SET token_at = '2026-01-01T00:00:00+00:00'")
    ws.store.save_credentials(a, "xero", {"refresh_token": "r1", "access_token": "x", "expires_at": 5})  # a stamp
    [summary] = ws.summaries()
    assert summary.xero_token_age_days > 100 and summary.xero_days_to_expiry < 0
    ws.store.save_credentials(a, "xero", {"refresh_token": "r2", "access_token": "y"})  # a refresh: a new token
    [summary] = ws.summaries()
    assert summary.xero_token_age_days < 1
