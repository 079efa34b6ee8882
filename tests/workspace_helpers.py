"""A workspace of two connections on the sandbox doubles, for the Overview, picker and browser tests.

`two_connections(db, sandbox)` seeds it through the workspace API: two connections on the demo business's two
organisations, one Xero sign-in shared by both, the demo setup copied from the first to the second. (The sandbox's
own `seed_demo_workspace` makes two businesses; these tests want names and organisations fixed here.)
"""

from __future__ import annotations

from datetime import date

from pexxero.connection import today_eastern
from pexxero.sandbox import demo, seed
from pexxero.workspace import open_workspace

FIRST, SECOND = "Outdoor", "Sandbox Holdings"  # in name order, as the workspace lists them


def two_connections(db: str, sandbox, today: date | None = None) -> list[str]:
    ws = open_workspace(db)
    ws.connection().close()  # a new database: its first connection
    ws.rename(ws.names()[0], FIRST)
    first = ws.connection(FIRST)
    first.connect_pex(demo.PEX_TOKEN)
    first.connect_xero(sandbox.xero.grant(), demo.TENANT_ID)
    first.save_setup(seed.sandbox_setup(today or today_eastern()))
    first.tenants()  # the organisations the sign-in sees, noted on it (the Connect page lists them the same way)
    first.close()
    ws.add(SECOND, copy_setup_from=FIRST)
    ws.connection(SECOND).connect_pex(demo.PEX_TOKEN)
    ws.use_grant(SECOND, demo.SECOND_TENANT_ID)
    for name in (FIRST, SECOND):  # what saving the PEX token remembers
        ws.store.set_pex_business(ws.store.connection_named(name), demo.BUSINESS_NAME)
    names = ws.names()
    ws.close()
    return names
