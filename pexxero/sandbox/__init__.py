"""The sandbox: a PEX double and a Xero double on loopback, seeded with two demo businesses (one API token each)
and three organisations (the demo sign-in sees the businesses' two; the third is a second demo user's).

`start_sandbox()` starts both in this process (tests, the dashboard's sandbox mode); `serve_forever()` is
`python -m pexxero sandbox`, which prints the URLs and the environment that points the product at them.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import date
from typing import Optional

DEFAULT_PEX_PORT = 8765
DEFAULT_XERO_PORT = 8766


@dataclass
class Sandbox:
    pex: object  # PexDouble
    xero: object  # XeroDouble

    @property
    def env(self) -> dict[str, str]:
        return {**self.pex.env, **self.xero.env}

    def apply_env(self, environ=None) -> None:
        """Point this process (and the sync processes it starts) at the doubles."""
        (os.environ if environ is None else environ).update(self.env)

    def stop(self) -> None:
        self.pex.stop()
        self.xero.stop()


def start_sandbox(seed: int = 1, today: Optional[date] = None, *, pex_port: int = 0, xero_port: int = 0) -> Sandbox:
    from pexxero.sandbox.demo import eastern_today
    from pexxero.sandbox.pex_double import PexDouble
    from pexxero.sandbox.xero_double import XeroDouble

    today = today or eastern_today()  # read once: both doubles serve the business of the same day
    pex = PexDouble(seed=seed, today=today).start(port=pex_port)
    xero = XeroDouble(seed=seed, today=today)
    # the dashboard's browser suite slows the Xero double down to catch a sync mid-run
    xero.latency = float(os.environ.get("PEXXERO_SANDBOX_LATENCY", "0") or 0)
    xero.start(port=xero_port)
    return Sandbox(pex=pex, xero=xero)


def serve_forever(pex_port: int = DEFAULT_PEX_PORT, xero_port: int = DEFAULT_XERO_PORT) -> int:
    from pexxero.sandbox import demo

    sandbox = start_sandbox(pex_port=pex_port, xero_port=xero_port)
    print("pexxero sandbox: two demo PEX businesses and their Xero organisations on loopback.")
    print(f"  PEX double:  {sandbox.pex.url}/v4   (API token: {demo.PEX_TOKEN} for {demo.BUSINESS_NAME}; "
          f"{demo.SECOND_PEX_TOKEN} for {demo.SECOND_BUSINESS_NAME})")
    print(f"  Xero double: {sandbox.xero.url}   (organisations: {demo.TENANT_NAME} and {demo.SECOND_TENANT_NAME}; "
          f"{demo.THIRD_TENANT_NAME} through \"Sign in as {demo.SECOND_XERO_USER}\" on the consent page)")
    grant = sandbox.xero.grant()  # as if the user had consented: the first refresh token of this sandbox
    print("Point pexxero at them, and connect, with:")
    for name, value in sorted(sandbox.env.items()):
        print(f"  export {name}={value}")
    print(f"  export PEX_TOKEN={demo.PEX_TOKEN}")
    print(f"  export XERO_REFRESH_TOKEN={grant['refresh_token']}")
    print("  python -m pexxero connect pex && python -m pexxero connect xero")
    print("Press Ctrl+C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0
