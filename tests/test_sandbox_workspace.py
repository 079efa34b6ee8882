"""The demo workspace seeder: two connections named after the two PEX businesses, each with its own token and
organisation, sharing one Xero grant.

The first tests run the seeder against a small stand-in for the workspace API (`open_workspace`: add, connection,
use_grant, grants, names) whose connections are real Connections on real databases; the last one runs it against
`pexxero.workspace` itself once that module exists."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sandbox_env import make_connection

from pexxero.sandbox import demo, start_sandbox
from pexxero.sandbox.workspace import seed_demo_workspace

NAMES = [demo.BUSINESS_NAME, demo.SECOND_BUSINESS_NAME]


@pytest.fixture(scope="module")
def sandbox():
    sb = start_sandbox()
    try:
        yield sb
    finally:
        sb.stop()


@dataclass
class GrantSummary:
    id: str
    tenants: list
    connections: list


@dataclass
class StandIn:
    """The workspace contract, one database per connection; grants are remembered as they are handed out."""

    root: Path
    env: dict
    order: list = field(default_factory=list)
    shared: dict = field(default_factory=dict)  # connection name -> (tenant id, grant id) from use_grant
    open: dict = field(default_factory=dict)

    def names(self) -> list[str]:
        return list(self.order)

    def add(self, name: str, copy_setup_from=None) -> int:
        assert name not in self.order, "added twice"
        self.order.append(name)
        return len(self.order)

    def connection(self, name: str):
        if name not in self.open:
            self.open[name] = make_connection(self.root / f"{self.order.index(name) + 1}.db", self.env)
        return self.open[name]

    def use_grant(self, name: str, tenant_id: str, grant_id=None) -> None:
        self.shared[name] = (tenant_id, grant_id)

    def grants(self) -> list[GrantSummary]:
        own = [n for n in self.order if self.connection(n).xero_connected()]
        return [GrantSummary(f"grant-{n}", [(t.tenant_id, t.tenant_name) for t in self.connection(n).tenants()],
                             [n] + [m for m, (_, g) in self.shared.items() if g == f"grant-{n}"]) for n in own]


@pytest.fixture
def stand_in(sandbox, tmp_path, monkeypatch):
    for name, value in sandbox.env.items():
        monkeypatch.setenv(name, value)
    workspace = StandIn(tmp_path, sandbox.env)
    module = types.ModuleType("pexxero.workspace")
    module.open_workspace = lambda db: workspace
    monkeypatch.setitem(sys.modules, "pexxero.workspace", module)
    yield workspace
    for conn in workspace.open.values():
        conn.close()


def test_two_connections_named_after_the_businesses_one_grant(sandbox, stand_in, tmp_path):
    assert seed_demo_workspace(tmp_path / "workspace.db", sandbox) == NAMES
    first, second = (stand_in.connection(n) for n in NAMES)
    assert first.store.load_credentials(first.connection_id, "pex")["token"] == demo.PEX_TOKEN
    assert second.store.load_credentials(second.connection_id, "pex")["token"] == demo.SECOND_PEX_TOKEN
    assert first.tenant_id() == demo.TENANT_ID and second.tenant_id() == demo.SECOND_TENANT_ID
    # the grant is stored once, with the first connection, and the second uses it for its own organisation
    assert not second.xero_connected()
    assert stand_in.shared == {demo.SECOND_BUSINESS_NAME: (demo.SECOND_TENANT_ID, f"grant-{demo.BUSINESS_NAME}")}
    (grant,) = stand_in.grants()
    assert {t for t, _ in grant.tenants} == {demo.TENANT_ID, demo.SECOND_TENANT_ID}
    assert grant.connections == NAMES
    for conn in (first, second):
        setup = conn.setup()
        assert (setup.accounts.pex_cash, setup.purchases.description_tag) == ("091", "ITEM NOTES")


def test_seeding_again_keeps_the_two_connections(sandbox, stand_in, tmp_path):
    seed_demo_workspace(tmp_path / "workspace.db", sandbox)
    assert seed_demo_workspace(tmp_path / "workspace.db", sandbox) == NAMES
    assert stand_in.names() == NAMES


def test_the_real_workspace_holds_both_businesses(sandbox, tmp_path, monkeypatch):
    workspace_api = pytest.importorskip("pexxero.workspace")  # the workspace API lands with its own branch
    for name, value in sandbox.env.items():
        monkeypatch.setenv(name, value)
    db = tmp_path / "workspace.db"
    assert seed_demo_workspace(db, sandbox) == NAMES
    workspace = workspace_api.open_workspace(db)
    assert workspace.names() == NAMES
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
