"""Tokens on the command line are opaque: one that begins with "-" is still the value of `--token` or
`--refresh-token`, not another option (argparse alone refuses it with a usage error, exit code 2).

Xero's refresh tokens, like the double's, are random URL-safe text: about one in 64 begins with "-". That is how
the secrets scan once failed at `config import` ("Xero is not connected"): `connect xero` had stopped on the usage
error, which that test then took for a partial sync's exit code 2."""

from __future__ import annotations

import secrets

import pytest
from cryptography.fernet import Fernet

from pexxero import cli
from pexxero.connection import open_connection
from pexxero.sandbox import demo
from pexxero.sandbox.seed import sandbox_setup
from pexxero.setup_toml import to_toml
from pexxero.store import Store


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("PEXXERO_KEY", Fernet.generate_key().decode())


def test_a_pex_token_that_begins_with_a_dash_is_saved(tmp_path, key, capsys):
    db = tmp_path / "books.db"
    token = "-pex-token-that-looks-like-an-option"
    assert cli.main(["--db", str(db), "connect", "pex", "--token", token]) == 0
    assert token not in "".join(capsys.readouterr())
    with Store.open(db) as store:
        assert store.load_credentials(store.connection_id(), "pex") == {"token": token}


def test_a_xero_refresh_token_that_begins_with_a_dash_connects_and_config_import_follows(
        tmp_path, key, monkeypatch, pex_double, xero_double, capsys):
    for name, value in {**pex_double.env, **xero_double.env}.items():
        monkeypatch.setenv(name, value)
    urlsafe = secrets.token_urlsafe
    with monkeypatch.context() as patch:  # the double's next refresh token begins with "-", as 1 in 64 do
        patch.setattr(secrets, "token_urlsafe", lambda n=None: "-" + urlsafe(n)[1:])
        grant = xero_double.grant([demo.TENANT_ID])
    assert grant["refresh_token"].startswith("-")
    db = tmp_path / "books.db"
    setup_file = tmp_path / "setup.toml"
    setup_file.write_text(to_toml(sandbox_setup(pex_double.today)), encoding="utf-8")

    assert cli.main(["--db", str(db), "connect", "pex", "--token", demo.PEX_TOKEN]) == 0
    assert cli.main(["--db", str(db), "connect", "xero", "--refresh-token", grant["refresh_token"],
                     "--tenant", demo.TENANT_ID]) == 0
    assert cli.main(["--db", str(db), "config", "import", str(setup_file)]) == 0, capsys.readouterr().err
    out, err = capsys.readouterr()
    assert grant["refresh_token"] not in out + err
    conn = open_connection(db)
    try:
        assert conn.xero_connected() and conn.tenant_id() == demo.TENANT_ID
    finally:
        conn.close()
