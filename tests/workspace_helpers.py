"""A workspace of two connections on the sandbox doubles, for the Overview, picker and browser tests.

`two_connections(db, sandbox)` seeds it: the sandbox's own demo workspace seeder when there is one, else the same
shape built through the workspace API here — two connections on the two demo organisations, one Xero sign-in
shared by both, the demo setup copied from the first to the second.
"""

from __future__ import annotations

from datetime import date

from pexxero.connection import today_eastern
from pexxero.sandbox import demo, seed
from pexxero.workspace import open_workspace

FIRST, SECOND = "Outdoor", "Holdings"


def two_connections(db: str, sandbox, today: date | None = None) -> list[str]:
    try:
        from pexxero.sandbox.workspace import seed_demo_workspace
    except ImportError:
        seed_demo_workspace = None
    if seed_demo_workspace is not None:
        return seed_demo_workspace(db, sandbox)
    ws = open_workspace(db)
    ws.store.connection_id()
    ws.rename(ws.names()[0], FIRST)
    first = ws.connection(FIRST)
    first.connect_pex(demo.PEX_TOKEN)
    first.connect_xero(sandbox.xero.grant(), demo.TENANT_ID)
    first.save_setup(seed.sandbox_setup(today or today_eastern()))
    ws.add(SECOND, copy_setup_from=FIRST)
    ws.connection(SECOND).connect_pex(demo.PEX_TOKEN)
    ws.use_grant(SECOND, demo.SECOND_TENANT_ID)
    for name in (FIRST, SECOND):
        ws.remember_pex_business(name, demo.BUSINESS_NAME)
    names = ws.names()
    ws.close()
    return names
