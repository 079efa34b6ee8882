"""Every remote address, read from the environment and defaulting to the real service.

The same code runs against production, the sandbox doubles and the test doubles; only these change.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULTS = {
    "PEX_API_URL": "https://coreapi.pexcard.com/v4",
    "XERO_API_URL": "https://api.xero.com/api.xro/2.0",
    "XERO_CONNECTIONS_URL": "https://api.xero.com",
    "XERO_IDENTITY_URL": "https://identity.xero.com",
    "XERO_AUTHORIZE_URL": "https://login.xero.com/identity/connect/authorize",
}


@dataclass(frozen=True)
class Endpoints:
    pex_api_url: str
    xero_api_url: str
    xero_connections_url: str
    xero_identity_url: str
    xero_authorize_url: str

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Endpoints":
        env = os.environ if env is None else env
        get = lambda name: (env.get(name) or DEFAULTS[name]).rstrip("/")  # noqa: E731
        return cls(
            pex_api_url=get("PEX_API_URL"),
            xero_api_url=get("XERO_API_URL"),
            xero_connections_url=get("XERO_CONNECTIONS_URL"),
            xero_identity_url=get("XERO_IDENTITY_URL"),
            xero_authorize_url=get("XERO_AUTHORIZE_URL"),
        )

    @property
    def xero_token_url(self) -> str:
        return f"{self.xero_identity_url}/connect/token"

    @property
    def xero_revocation_url(self) -> str:
        return f"{self.xero_identity_url}/connect/revocation"
