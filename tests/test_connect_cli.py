"""`connect pex` and `connect xero` on the command line, against both doubles on loopback: tokens come from
standard input or the environment (never needed in argv, where every local user can read them), a PEX token is
checked with PEX before it is saved, and several Xero organisations are a choice made with the saved token."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from pexxero.sandbox import demo
from pexxero.sandbox.pex_double import PexDouble
from pexxero.sandbox.xero_double import XeroDouble
from pexxero.store import Store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def doubles():
    with PexDouble() as pex, XeroDouble() as xero:
        yield pex, xero


@pytest.fixture
def env(tmp_path, doubles):
    pex, xero = doubles
    child = {k: v for k, v in os.environ.items() if k not in ("PEX_TOKEN", "XERO_REFRESH_TOKEN", "PEXXERO_DB")}
    child.update(pex.env)
    child.update(xero.env)
    child["PEXXERO_KEY"] = Fernet.generate_key().decode()
    child["PYTHONPATH"] = str(ROOT) + os.pathsep + child.get("PYTHONPATH", "")

    class Env:
        db = tmp_path / "books.db"
        environ = child

        def cli(self, *args: str, stdin: str = "", extra: dict | None = None) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "pexxero", "--db", str(self.db), *args], input=stdin,
                                  env={**child, **(extra or {})}, cwd=str(tmp_path), capture_output=True,
                                  text=True, timeout=120)

        def stored(self, service: str):
            old = os.environ.get("PEXXERO_KEY")
            os.environ["PEXXERO_KEY"] = child["PEXXERO_KEY"]
            try:
                with Store.open(self.db) as s:
                    return s.load_credentials(s.connection_id(), service)
            finally:
                if old is None:
                    del os.environ["PEXXERO_KEY"]
                else:
                    os.environ["PEXXERO_KEY"] = old

    return Env()


# ------------------------------------------------------------------------------------------------ PEX


def test_connect_pex_reads_the_token_from_standard_input_and_checks_it_with_pex(env, doubles):
    pex, _ = doubles
    before = len(pex.requests)
    done = env.cli("connect", "pex", "--token", "-", stdin=demo.PEX_TOKEN + "\n")
    assert (done.returncode, done.stdout.strip()) == (0, "PEX token saved"), done.stderr
    assert done.stderr == ""  # no warning: the token never was in argv
    assert len(pex.requests) > before, "PEX was asked before the token was saved"
    assert env.stored("pex") == {"token": demo.PEX_TOKEN}


def test_connect_pex_takes_the_token_from_pex_token(env):
    done = env.cli("connect", "pex", extra={"PEX_TOKEN": demo.PEX_TOKEN})
    assert (done.returncode, done.stdout.strip()) == (0, "PEX token saved"), done.stderr
    assert env.stored("pex") == {"token": demo.PEX_TOKEN}


def test_connect_pex_refuses_a_token_pex_refuses_and_saves_nothing(env):
    done = env.cli("connect", "pex", "--token", "-", stdin="not-the-token-77\n")
    assert done.returncode == 1
    assert "PEX refused this API token" in done.stderr and "nothing was saved" in done.stderr
    assert "not-the-token-77" not in done.stdout + done.stderr and "Traceback" not in done.stderr
    assert not env.db.exists() or env.stored("pex") is None


def test_a_token_in_argv_still_works_but_is_warned_about(env):
    done = env.cli("connect", "pex", "--token", demo.PEX_TOKEN)
    assert done.returncode == 0, done.stderr
    assert "process list" in done.stderr and "--token -" in done.stderr and "PEX_TOKEN" in done.stderr
    assert demo.PEX_TOKEN not in done.stdout + done.stderr


def test_no_token_at_all_says_how_to_give_one(env):
    done = env.cli("connect", "pex", stdin="")
    assert done.returncode == 1 and "--token -" in done.stderr and "PEX_TOKEN" in done.stderr


# ----------------------------------------------------------------------------------------------- Xero


def test_several_organisations_keep_the_rotated_token_and_the_choice_needs_no_refresh_token(env, doubles):
    _, xero = doubles
    grant = xero.grant([demo.TENANT_ID, demo.SECOND_TENANT_ID])
    first = env.cli("connect", "xero", "--refresh-token", "-", stdin=grant["refresh_token"])
    assert first.returncode == 0, first.stderr
    assert demo.TENANT_ID in first.stdout and demo.SECOND_TENANT_ID in first.stdout
    assert demo.TENANT_NAME in first.stdout and demo.SECOND_TENANT_NAME in first.stdout
    assert f"connect xero --tenant {demo.SECOND_TENANT_ID}" in first.stdout
    saved = env.stored("xero")
    assert saved["refresh_token"] and saved["refresh_token"] != grant["refresh_token"]  # rotated, and kept

    second = env.cli("connect", "xero", "--tenant", demo.SECOND_TENANT_ID)
    assert second.returncode == 0, second.stderr
    assert f"Xero connected: {demo.SECOND_TENANT_NAME}" in second.stdout
    assert grant["refresh_token"] not in first.stdout + first.stderr + second.stdout + second.stderr


def test_a_refresh_token_in_the_environment_is_not_spent_twice(env, doubles):
    _, xero = doubles
    grant = xero.grant([demo.TENANT_ID, demo.SECOND_TENANT_ID])
    exported = {"XERO_REFRESH_TOKEN": grant["refresh_token"]}  # still exported in the shell for the second call
    assert env.cli("connect", "xero", extra=exported).returncode == 0
    second = env.cli("connect", "xero", "--tenant", demo.TENANT_ID, extra=exported)
    assert second.returncode == 0, second.stderr
    assert f"Xero connected: {demo.TENANT_NAME}" in second.stdout


def test_connect_xero_without_any_token_says_where_a_first_one_comes_from(env):
    done = env.cli("connect", "xero", "--tenant", demo.TENANT_ID)
    assert done.returncode == 1
    assert "--refresh-token -" in done.stderr and "XERO_REFRESH_TOKEN" in done.stderr
    assert "Connect page" in done.stderr and "Traceback" not in done.stderr


def test_the_hints_never_suggest_a_token_in_argv():
    from pexxero import cli
    from pexxero.connection import NotConnected
    from pexxero.clients.xero import XeroSessionFailed

    for exc in (NotConnected("PEX is not connected: add the PEX API token first"),
                NotConnected("Xero is not connected: connect Xero first"), XeroSessionFailed()):
        text = cli.explain(exc)
        assert "TOKEN" not in text and ("--token -" in text or "--refresh-token -" in text), text
