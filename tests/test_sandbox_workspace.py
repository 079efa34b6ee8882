"""The demo workspace seeder: two connections named after the two PEX businesses, each with its own token and
organisation, sharing one Xero grant."""

from __future__ import annotations

import pytest

from pexxero.sandbox import demo, start_sandbox
from pexxero.sandbox.workspace import seed_demo_workspace
from pexxero.workspace import open_workspace

NAMES = [demo.BUSINESS_NAME, demo.SECOND_BUSINESS_NAME]


@pytest.fixture(scope="module")
def sandbox():
    sb = start_sandbox()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def env(sandbox, monkeypatch):
    for name, value in sandbox.env.items():
        monkeypatch.setenv(name, value)
    return sandbox


def test_two_connections_named_after_the_businesses_one_grant(env, tmp_path):
    db = tmp_path / "workspace.db"
    assert seed_demo_workspace(db, env) == NAMES
    with open_workspace(db) as workspace:
        assert sorted(workspace.names()) == sorted(NAMES)
        (grant,) = workspace.grants()  # one sign-in, stored once
        assert {t for t, _ in grant.tenants} == {demo.TENANT_ID, demo.SECOND_TENANT_ID}
        assert sorted(grant.connections) == sorted(NAMES)
        assert sorted(s.pex_business for s in workspace.summaries()) == sorted(NAMES)
        for name, token, tenant in ((NAMES[0], demo.PEX_TOKEN, demo.TENANT_ID),
                                    (NAMES[1], demo.SECOND_PEX_TOKEN, demo.SECOND_TENANT_ID)):
            with workspace.connection(name) as conn:
                assert conn.store.load_credentials(conn.connection_id, "pex")["token"] == token
                assert conn.tenant_id() == tenant
                setup = conn.setup()
                assert (setup.accounts.pex_cash, setup.purchases.description_tag) == ("091", "ITEM NOTES")


def test_seeding_again_keeps_the_two_connections(env, tmp_path):
    db = tmp_path / "workspace.db"
    seed_demo_workspace(db, env)
    assert seed_demo_workspace(db, env) == NAMES
    with open_workspace(db) as workspace:
        assert sorted(workspace.names()) == sorted(NAMES)

def test_each_demo_connection_previews_its_own_business_only(env, tmp_path):
    sandbox = env
    db = tmp_path / "workspace.db"
    assert seed_demo_workspace(db, sandbox) == NAMES
    workspace = open_workspace(db)
    assert sorted(workspace.names()) == sorted(NAMES)
    (grant,) = workspace.grants()
    assert sorted(grant.connections) == sorted(NAMES)
    def ids(token: str) -> set[int]:
        return {r["TransactionId"] for rows in sandbox.pex.business(token).transactions.values() for r in rows}

    for name, tenant, token, other in ((NAMES[0], demo.TENANT_ID, demo.PEX_TOKEN, demo.SECOND_PEX_TOKEN),
                                       (NAMES[1], demo.SECOND_TENANT_ID, demo.SECOND_PEX_TOKEN, demo.PEX_TOKEN)):
        conn = workspace.connection(name)
        assert conn.tenant_id() == tenant
        shown = {int(p) for p in conn.preview(save_plan=False).frame["pex_id"].dropna()}
        assert shown & ids(token) and not shown & ids(other)
