"""No token or secret appears anywhere a user or an attacker could read it after a full run.

The whole journey goes through the command line in child processes, against both doubles on loopback:
connect pex, connect xero (tokens on standard input; a refresh token from the double), config import,
preview --csv, sync, history, history --run N, tags sync; then an expired session and a revoked one, so error paths print too. Afterwards the
database file (+ WAL and shared memory), every log file, the CSV, every stdout/stderr and the in-process log
records are scanned for every secret: the PEX token, each access, refresh and id token the Xero double ever
issued (read from its OAuth state), the Xero client secret and the Fernet key.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from pexxero.connection import open_connection
from pexxero.clients.endpoints import Endpoints
from pexxero.sandbox import demo
from pexxero.sandbox.pex_double import PexDouble
from pexxero.sandbox.seed import sandbox_setup
from pexxero.sandbox.xero_double import XeroDouble
from pexxero.secrets import key_file_for
from pexxero.setup_toml import to_toml

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _child_env(doubles_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PEXXERO_KEY"}  # the key file next to the database
    env.update(doubles_env)
    env["PYTHONPATH"] = str(PROJECT_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _pex_records(xero: XeroDouble) -> int:
    return sum(1 for t in xero.bank_transactions(demo.TENANT_ID) if str(t.get("Reference", "")).startswith("PEX-"))


def _secrets(pex: PexDouble, xero: XeroDouble, db_path: Path) -> dict[str, str]:
    """Every secret by a label for the failure message; tokens read from the double's own state."""
    found = {"PEX token": demo.PEX_TOKEN, "Xero client secret": demo.XERO_CLIENT_SECRET,
             "Fernet key": key_file_for(db_path).read_text(encoding="ascii").strip()}
    with xero.oauth.lock:
        for n, token in enumerate(xero.oauth.access):
            found[f"Xero access token {n}"] = token
            found[f"Xero access token {n} signature"] = token.rsplit(".", 1)[-1]
        for n, token in enumerate(xero.oauth.refresh):
            found[f"Xero refresh token {n}"] = token
    return found


@pytest.mark.slow
def test_no_secret_is_written_printed_or_logged(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    outputs: list[tuple[str, str]] = []
    with PexDouble() as pex, XeroDouble(today=pex.today, minute_limit=100_000) as xero:
        env = _child_env({**pex.env, **xero.env})
        db_path = tmp_path / "books.db"

        def cli(*args: str, ok: bool = True, stdin: str = "") -> subprocess.CompletedProcess:
            done = subprocess.run([sys.executable, "-m", "pexxero", "--db", str(db_path), *args], env=env,
                                  cwd=str(tmp_path), capture_output=True, text=True, timeout=300, input=stdin)
            outputs.append((" ".join(args[:2]), done.stdout + done.stderr))
            if ok:  # 2 is a partial sync, and only that: for any other command it is argparse's usage error
                allowed = (0, 2) if args[0] == "sync" else (0,)
                assert done.returncode in allowed, f"{args[:2]}: {done.returncode}\n{done.stdout}\n{done.stderr}"
            return done

        grant = xero.grant([demo.TENANT_ID])
        setup = sandbox_setup(pex.today)
        setup = replace(setup, xero=replace(setup.xero, tenant_id=demo.TENANT_ID),
                        purchases=replace(setup.purchases, attachments=False))  # fewer calls: a faster run
        setup_file = tmp_path / "setup.toml"
        setup_file.write_text(to_toml(setup), encoding="utf-8")
        csv_path = tmp_path / "preview.csv"

        cli("connect", "pex", "--token", "-", stdin=demo.PEX_TOKEN)  # on standard input: never in the process list
        cli("connect", "xero", "--refresh-token", "-", "--tenant", demo.TENANT_ID, stdin=grant["refresh_token"])
        cli("config", "import", str(setup_file))
        cli("preview", "--csv", str(csv_path))
        before = _pex_records(xero)
        cli("sync")
        assert _pex_records(xero) > before, "the sync wrote records"
        cli("history")
        cli("history", "--run", "1")
        cli("tags", "sync")
        # the error paths print too: an expired session (refreshed), then a revoked one (refused)
        xero.oauth.expire_all()
        cli("preview")
        xero.oauth.revoke_all()
        refused = cli("sync", ok=False)
        assert refused.returncode != 0
        assert cli("preview", ok=False).returncode != 0

        # the same engine in this process: exceptions and Python logging
        conn = open_connection(db_path, endpoints=Endpoints.from_env({**pex.env, **xero.env}))
        errors = []
        for step in (lambda: conn.preview(force_refresh=True), lambda: conn.xero().refresh()):
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - the text of any exception is what is scanned
                errors.append(f"{type(exc).__name__}: {exc!r} {exc}")
        conn.close()
        assert errors, "the revoked session should have failed"

        secrets = _secrets(pex, xero, db_path)

    assert len([k for k in secrets if k.startswith("Xero refresh token")]) >= 3, "the refresh tokens rotated"
    assert csv_path.stat().st_size > 0
    files = [p for p in tmp_path.iterdir() if p.is_file() and not p.name.endswith(".key")]
    assert any(p.name == "books.db" for p in files)
    places = {p.name: p.read_bytes() for p in files}
    places.update({f"output of {cmd}": text.encode() for cmd, text in outputs})
    places["exceptions"] = "\n".join(errors).encode()
    places["python logging"] = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records).encode()
    leaks = [f"{label} in {where}" for where, content in places.items() for label, secret in secrets.items()
             if secret and secret.encode() in content]
    assert not leaks, leaks
    # the credentials are in the database, encrypted: the scan would have found them in the clear
    assert b"gAAAAA" in places["books.db"] or any(b"gAAAAA" in c for n, c in places.items() if "books.db" in n)
