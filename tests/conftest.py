"""Shared fixtures. Each double fixture starts a real server on 127.0.0.1 and stops it after the test."""

# ----------------------------------------------------------------------------------------- pex_double
import pytest  # noqa: E402

from pexxero.sandbox.pex_double import PexDouble  # noqa: E402


@pytest.fixture
def pex_double():
    """The PEX double of the demo business (seed 1, today = today in US Eastern), on 127.0.0.1.

    Point a client at `pex_double.url + "/v4"` (or `Endpoints.from_env(pex_double.env)`), token `demo.PEX_TOKEN`.
    Rate limits are off; tests may flip `rate_limits`, queue `faults`, edit `transactions`, read `requests`.
    """
    with PexDouble() as double:
        yield double


# ---------------------------------------------------------------------------------------- xero_double
@pytest.fixture
def xero_double():
    """The Xero double of the demo organisations (default limits, real clock), on 127.0.0.1.

    Point the SDK at `xero_double.env["XERO_API_URL"]` (identity/connections at `xero_double.url`); get a token set
    with `xero_double.grant()`. Tests may set `latency`, queue `faults`, read `requests` and the stored records.
    """
    from pexxero.sandbox.xero_double import XeroDouble

    with XeroDouble() as double:
        yield double
