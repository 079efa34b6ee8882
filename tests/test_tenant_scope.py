"""One Xero organisation per plan, ledger, intent, receipt and release: a switch of organisation (one grant that
sees both demo organisations) never writes into the old one, and writes into the new one everything it lacks,
exactly once."""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from dataclasses import replace

import pytest
from sandbox_env import database_at

from pexxero import models
from pexxero.store import sync_tables
from pexxero.models import NEW, POSSIBLE_DUPLICATE, SKIPPED
from pexxero.sandbox import demo
from pexxero.sync import run_sync

A, B = demo.TENANT_ID, demo.SECOND_TENANT_ID


@pytest.fixture
def env(sandbox):
    """The sandbox connected through one grant that sees both organisations, organisation A chosen."""
    sandbox.conn.connect_xero(sandbox.xero.grant([A, B]), A)
    return sandbox


def _no_receipts(env) -> None:
    env.setup(purchases=replace(env.conn.setup().purchases, attachments=False))


def _references(env, tenant: str) -> Counter:
    return replace(env, tenant_id=tenant).references()


def _books(env, tenant: str) -> tuple[list[dict], list[dict]]:
    return env.xero.bank_transactions(tenant), env.xero.bank_transfers(tenant)


def _requests_to(env, tenant: str, since: int) -> list:
    return [r for r in env.xero.requests[since:] if (r.tenant_id or "").lower() == tenant.lower()]


def _switch(env, tenant: str) -> None:
    """What CONFIRM on the Connect page does (and `connect xero --tenant`): another Connection on the database."""
    env.connection().choose_tenant(tenant)


def test_after_a_switch_the_new_organisation_gets_everything_once_and_the_old_one_is_not_touched(env):
    _no_receipts(env)
    first = run_sync(env.conn)
    assert first["status"] == models.SUCCEEDED and first["written"] > 0, first["message"]
    in_a = _references(env, A)
    books_a = _books(env, A)
    assert _references(env, B) == Counter()

    mark = len(env.xero.requests)
    _switch(env, B)
    assert env.conn.tenant_id() == B
    preview = env.conn.preview()
    frame = preview.frame
    assert preview.tenant_id == B and preview.tenant_name == demo.SECOND_TENANT_NAME
    expected = {f"PEX-{int(p)}" for p in frame[frame["status"] == NEW]["pex_id"]}
    # B holds none of what A has: all of it is new there (but a purchase A still books that PEX has since voided:
    # in B, where nothing was written, it is merely skipped)
    listed = {f"PEX-{int(p)}" for p in frame[frame["status"] != SKIPPED]["pex_id"].dropna()}
    assert set(in_a) & listed <= expected

    run = run_sync(env.conn, from_preview=True)
    assert run["status"] == models.SUCCEEDED, run["message"]
    in_b = _references(env, B)
    assert set(in_b) == expected and set(in_b.values()) == {1}
    assert run["written"] == len(expected)
    assert _books(env, A) == books_a and _references(env, A) == in_a
    assert _requests_to(env, A, mark) == []  # not a write, not even a read

    # a second sync in B writes nothing more; back in A, nothing more either: each ledger is its own
    assert run_sync(env.conn)["written"] == 0
    _switch(env, A)
    again = run_sync(env.conn)
    assert again["status"] == models.SUCCEEDED and again["written"] == 0, again["message"]
    assert _references(env, A) == in_a and _references(env, B) == in_b


def test_a_preview_built_for_one_organisation_is_refused_after_a_switch(env):
    _no_receipts(env)
    env.conn.preview()
    assert env.conn.saved_plan() is not None
    mark = len(env.xero.requests)
    _switch(env, B)

    assert env.conn.saved_plan() is None
    reason = (f"this preview was built for {demo.TENANT_NAME}; Xero is now connected to "
              f"{demo.SECOND_TENANT_NAME}: preview again")
    assert env.conn.plan_refusal() == reason
    run = run_sync(env.conn, from_preview=True)
    assert run["status"] == models.FAILED and run["message"] == reason
    assert run["to_write"] == 0 and env.conn.store.items(run["id"]) == []
    writes = [r for r in env.xero.requests[mark:] if r.method in ("PUT", "POST") and "/api.xro/" in r.path]
    assert writes == [] and _references(env, B) == Counter()

    # coming back does not revive it: a switch invalidates the plan for good
    _switch(env, A)
    assert env.conn.saved_plan() is None and env.conn.plan_refusal()
    # a preview in the organisation now connected is what the sync writes
    env.conn.preview()
    assert env.conn.saved_plan() is not None and env.conn.plan_refusal() == ""
    assert run_sync(env.conn, from_preview=True)["status"] == models.SUCCEEDED


def test_a_switch_made_elsewhere_is_also_refused_in_words(env):
    """The organisation can change without `choose_tenant` (an imported setup names another one)."""
    _no_receipts(env)
    env.conn.preview()
    other = env.connection()
    other.save_setup(replace(other.setup(), xero=replace(other.setup().xero, tenant_id=B)))
    run = run_sync(env.conn, from_preview=True)
    assert run["status"] == models.FAILED
    assert run["message"] == (f"this preview was built for {demo.TENANT_NAME}; Xero is now connected to "
                              f"{demo.SECOND_TENANT_NAME}: preview again")
    assert _references(env, B) == Counter()


def _plant_possible_duplicate(env, tenant: str, pex_id: int, source_id: str) -> None:
    """Copy organisation A's unmarked bank-feed line that looks like `pex_id` into `tenant`'s books."""
    record = copy.deepcopy(env.xero.books[A].bank_transactions[source_id.lower()])
    record["BankTransactionID"] = str(uuid.uuid4())
    with env.xero._lock:
        env.xero.books[tenant].bank_transactions[record["BankTransactionID"].lower()] = record


def test_a_release_made_for_one_organisation_does_not_apply_in_another(env):
    _no_receipts(env)
    frame = env.conn.preview().frame
    row = frame[frame["status"] == POSSIBLE_DUPLICATE].iloc[0]
    pex_id, candidate = int(row["pex_id"]), row["xero_id"]
    env.conn.release(pex_id, "push")
    assert env.conn.releases() == {pex_id: "push"}

    _switch(env, B)
    _plant_possible_duplicate(env, B, pex_id, candidate)
    assert env.conn.releases() == {}
    frame_b = env.conn.preview().frame
    assert frame_b.loc[frame_b["pex_id"] == pex_id, "status"].item() == POSSIBLE_DUPLICATE
    run = run_sync(env.conn, from_preview=True)
    assert run["status"] == models.SUCCEEDED, run["message"]
    item = next(it for it in env.conn.store.items(run["id"]) if it["pex_id"] == pex_id)
    assert item["outcome"] == models.ITEM_SKIPPED and "released" in item["reason"]
    assert _references(env, B)[f"PEX-{pex_id}"] == 0

    # in A the release still holds, and is pushed there
    _switch(env, A)
    assert env.conn.releases() == {pex_id: "push"}
    env.conn.preview()
    run = run_sync(env.conn, from_preview=True)
    assert run["status"] == models.SUCCEEDED, run["message"]
    assert _references(env, A)[f"PEX-{pex_id}"] == 1


def test_open_intents_of_another_organisation_wait_for_it(env):
    """A run into A died with a request in flight; B is chosen before the next run. That request is A's: it is
    neither resent into B nor looked up in A, and the run says it waits; back in A, the next run settles it."""
    _no_receipts(env)
    frame = env.conn.preview(save_plan=False).frame
    record = next(r.planned for r in frame[frame["status"] == NEW].itertuples()
                  if r.planned is not None and r.planned.record_type == "BankTransaction")
    # what a run killed after committing its intent leaves behind (the request never reached Xero)
    run_id = env.conn.store.queue_run(env.conn.connection_id)
    from pexxero.sync import _body, idempotency_key

    body = _body([record])
    key = idempotency_key(A, "bank_transactions", body)
    env.conn.store.record_intent(key, env.conn.connection_id, run_id, "bank_transactions", body,
                       [record.reference], tenant_id=A)
    env.conn.store.update_run(run_id, status=models.INTERRUPTED, ended_at=sync_tables.now_iso())

    _switch(env, B)
    mark = len(env.xero.requests)
    run = run_sync(env.conn)
    assert run["status"] == models.SUCCEEDED, run["message"]
    assert f"wait until {demo.TENANT_NAME} is connected again" in run["message"]
    assert _requests_to(env, A, mark) == []
    assert [i["key"] for i in env.conn.store.open_intents(env.conn.connection_id, tenant_id=A)] == [key]
    assert env.conn.store.open_intents(env.conn.connection_id, tenant_id=B) == []
    assert _references(env, B)[record.reference] == 1  # B's own plan wrote it into B, under B's key

    _switch(env, A)
    back = run_sync(env.conn)
    assert back["status"] == models.SUCCEEDED, back["message"]
    assert env.conn.store.open_intents(env.conn.connection_id, tenant_id=A) == []
    assert _references(env, A)[record.reference] == 1 and env.duplicates() == {}


def test_receipts_are_attached_in_the_new_organisation_too(env):
    first = run_sync(env.conn)
    assert first["status"] == models.SUCCEEDED, first["message"]
    with_receipts_a = {t["Reference"] for t in env.xero.bank_transactions(A)
                       if env.xero.attachments(A, t["BankTransactionID"])}
    assert with_receipts_a
    _switch(env, B)
    run = run_sync(env.conn)
    assert run["status"] == models.SUCCEEDED, run["message"]
    with_receipts_b = Counter()
    for t in env.xero.bank_transactions(B):
        with_receipts_b[t["Reference"]] += len(env.xero.attachments(B, t["BankTransactionID"]))
    assert with_receipts_a <= set(with_receipts_b)
    counts_a = {t["Reference"]: len(env.xero.attachments(A, t["BankTransactionID"]))
                for t in env.xero.bank_transactions(A) if t["Reference"] in with_receipts_a}
    assert all(with_receipts_b[ref] == n for ref, n in counts_a.items())  # each receipt once in B, as in A


def test_the_cli_names_the_organisation_it_works_on(env):
    _no_receipts(env)
    preview = env.cli("preview")
    assert preview.returncode == 0, preview.stderr
    assert f"Xero organisation: {demo.TENANT_NAME} ({A})" in preview.stdout
    grant = env.xero.grant([A, B])
    switched = env.cli("connect", "xero", "--refresh-token", grant["refresh_token"], "--tenant", B)
    assert switched.returncode == 0, switched.stderr
    sync = env.cli("sync")
    assert sync.returncode == 0, sync.stdout + sync.stderr
    assert f"Xero organisation: {demo.SECOND_TENANT_NAME} ({B})" in sync.stdout
    assert _references(env, B) and not env.duplicates()


# ------------------------------------------------------------------------------------------- migration


def _two_connections_choosing_a_in_setup(path, version: int):
    """An older database (its first `version` migrations) with connections 1 and 2; connection 1's setup names A."""
    from datetime import date

    db = database_at(path, version)
    toml = demo.SANDBOX_SETUP_TOML.format(start_date=date(2026, 6, 1).isoformat(), tenant_id=A)
    with db.conn:
        db.execute("INSERT INTO connections (id, name, created_at) VALUES (1, 'default', 'x'), (2, 'other', 'x')")
        db.execute("INSERT INTO setup (connection_id, toml, updated_at) VALUES (1, ?, 'x')", [toml])
    return db

def test_the_migration_keeps_every_row_and_gives_it_the_chosen_organisation(tmp_path, monkeypatch):
    """A database of the schema before tenant scoping: connection 1 chose A (in its setup), connection 2 chose B
    (only in meta, as `connect xero --tenant` leaves it before a setup exists)."""
    import json


    import pexxero.store as store_module
    from pexxero.store import Store

    monkeypatch.delenv("PEXXERO_KEY", raising=False)
    path = tmp_path / "old.db"
    db = _two_connections_choosing_a_in_setup(path, 3)
    with db.conn:
        db.execute("INSERT INTO meta (key, value) VALUES ('xero_tenant:1', ?), ('xero_tenant:2', ?)",
                   [json.dumps(B), json.dumps(B)])  # the setup's pick is the one that counts for connection 1
        for cid in (1, 2):
            db.execute("INSERT INTO runs (connection_id, status) VALUES (?, 'succeeded')", [cid])
            db.execute("INSERT INTO ledger VALUES (?, 'PEX-1', 'BankTransaction', ?, 1, 'x')", [cid, f"x{cid}"])
            db.execute("INSERT INTO released VALUES (?, 7, 'push', 'x')", [cid])
            db.execute("INSERT INTO plans VALUES (?, '2026-06-02T00:00:00+00:00', '2026-06-01', '2026-06-02', '[]')",
                       [cid])
            db.execute("INSERT INTO intents (key, connection_id, run_id, endpoint, body, refs, status, created_at) "
                       "VALUES (?, ?, 1, 'bank_transactions', '[]', '[]', 'sending', 'x')", [f"k{cid}", cid])
            db.execute("INSERT INTO attachment_items (connection_id, pex_id, attachment_id, status) "
                       "VALUES (?, 1, 'a', 'attached')", [cid])
    db.close()

    with Store.open(path) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(store_module.MIGRATIONS)
        for table in ("ledger", "released", "plans", "intents", "attachment_items", "runs"):
            rows = {(r["connection_id"], r["tenant_id"]) for r in store.db.query(f"SELECT * FROM {table}")}
            assert rows == {(1, A), (2, B)}, table
        assert store.ledger(1, tenant_id=A) == {"PEX-1": "x1"}
        assert store.ledger(1, tenant_id=B) == {}
        assert store.releases(2, tenant_id=B) == {7: "push"}
        assert [i["key"] for i in store.open_intents(1, tenant_id=A)] == ["k1"]
        # the same reference may now be in the ledger once per organisation
        store.add_to_ledger(1, [("PEX-1", "BankTransaction", "y1")], None, tenant_id=B)
        assert store.ledger(1, tenant_id=B) == {"PEX-1": "y1"}
        assert store.ledger(1, tenant_id=A) == {"PEX-1": "x1"}


def test_the_chosen_organisation_moves_to_one_place(tmp_path, monkeypatch):
    """A database from before the organisation was kept on the connection: connection 1 chose A in its setup,
    connection 2 chose B only in meta. After the upgrade each connection's row holds its pick, meta none, and the
    setup names the organisation chosen now."""
    import json


    from pexxero.store import Store

    monkeypatch.delenv("PEXXERO_KEY", raising=False)
    path = tmp_path / "old.db"
    db = _two_connections_choosing_a_in_setup(path, 5)
    with db.conn:
        db.execute("INSERT INTO meta (key, value) VALUES ('xero_tenant:1', ?), ('xero_tenant:2', ?), "
                   "('xero_tenant_names:1', ?)", [json.dumps(A), json.dumps(B), json.dumps({A: "A Ltd"})])
    db.close()

    with Store.open(path) as store:
        assert store.chosen_tenant(1) == A and store.chosen_tenant(2) == B
        assert store.meta("xero_tenant:1") is None and store.meta("xero_tenant:2") is None
        assert store.meta("xero_tenant_names:1") == {A: "A Ltd"}  # the names are not the pick: kept
        assert store.load_setup(1).xero.tenant_id == A
        store.set_chosen_tenant(1, B)
        assert store.load_setup(1).xero.tenant_id == B  # the setup follows the one place
        setup = store.load_setup(1)
        store.save_setup(1, replace(setup, xero=replace(setup.xero, tenant_id=A)))  # an import sets it
        assert store.chosen_tenant(1) == A
