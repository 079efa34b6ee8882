"""pexxero: move PEX card activity into Xero, exactly once, after showing what will change.

The Python API a notebook uses (the command line and the dashboard use the same):

    import pexxero
    conn = pexxero.open_connection("pexxero.db")   # the database the CLI and dashboard use
    conn.refresh_pex()                              # bring the local copy of PEX up to date (PEX limits respected)
    preview = conn.preview()                        # reads PEX and Xero, writes nothing
    preview.frame                                   # one row per PEX transaction: status, reason, differences...
    preview.summary()                               # count, money out, money in and net per status
    preview.to_csv("reconciliation.csv")            # the reconciliation CSV, formula cells neutralised
"""

__version__ = "0.1.0"
__all__ = ["open_connection", "start_sandbox"]


def __getattr__(name: str):
    # imported on first use, so `python -m pexxero --help` stays quick
    if name == "open_connection":
        from pexxero.connection import open_connection

        return open_connection
    if name == "start_sandbox":
        from pexxero.sandbox import start_sandbox

        return start_sandbox
    raise AttributeError(name)
