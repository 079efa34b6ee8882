"""The demo workspace: both demo businesses as two connections of one workspace, so a newcomer sees it at once.

Each connection has its own PEX token and its own organisation, and both go through one Xero sign-in (the
bookkeeper's grant, which sees the two organisations meant for the two businesses), as a practice that keeps
several clients' books under one login would have it. The third organisation, behind the second user's sign-in,
is left for the newcomer to connect.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pexxero.sandbox import demo

# (PEX token, the organisation its business books into), in the order the workspace lists them
DEMO_CONNECTIONS = (
    (demo.PEX_TOKEN, demo.TENANT_ID),
    (demo.SECOND_PEX_TOKEN, demo.SECOND_TENANT_ID),
)


def seed_demo_workspace(db: str | Path, sandbox) -> list[str]:
    """Two connections in the workspace at `db`, named after the sandbox's two PEX businesses, each with its PEX
    token, the one shared Xero grant with its own organisation chosen, and the sandbox setup; their names.

    `sandbox` is a started `Sandbox` (`start_sandbox()`). Seeding again keeps the connections and refreshes them.
    """
    from pexxero.sandbox.seed import sandbox_setup
    from pexxero.workspace import open_workspace

    with open_workspace(db) as workspace:
        return _seed(workspace, sandbox, sandbox_setup)


def _seed(workspace, sandbox, sandbox_setup) -> list[str]:
    token_set = sandbox.xero.grant([tenant for _, tenant in DEMO_CONNECTIONS])  # one consent for both
    names: list[str] = []
    grant_id = None
    _take_over_the_empty_default(workspace, sandbox.pex.business(DEMO_CONNECTIONS[0][0]).name)
    for pex_token, tenant_id in DEMO_CONNECTIONS:
        name = sandbox.pex.business(pex_token).name
        if name not in workspace.names():
            workspace.add(name)
        with workspace.connection(name) as conn:
            conn.connect_pex(pex_token)
            conn.store.set_pex_business(conn.connection_id, name)  # the overview reads it without calling PEX
            if grant_id is None:
                conn.connect_xero(token_set, tenant_id)  # the grant is stored once, with the first connection
                conn.tenants()  # records the organisations the grant sees (one call to Xero's /connections)
                grant_id = next(g.id for g in workspace.grants() if name in g.connections)
            else:
                workspace.use_grant(name, tenant_id, grant_id)
            setup = sandbox_setup(sandbox.pex.today)
            conn.save_setup(replace(setup, xero=replace(setup.xero, tenant_id=tenant_id)))
        names.append(name)
    return names


def _take_over_the_empty_default(workspace, name: str) -> None:
    """A fresh database holds one empty connection, `default`: it becomes the first demo business rather than
    staying beside the two as a third, empty one."""
    summaries = workspace.summaries()
    if [s.name for s in summaries] == ["default"] and summaries[0].not_set_up and summaries[0].last_run is None:
        workspace.rename("default", name)
