"""`config import`, `config export` and `connect pex` on the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from pexxero import cli, commands
from pexxero.sandbox.pex_double import PexDouble
from pexxero.setup_toml import from_toml
from pexxero.store import Store
from test_setup import _by, demo_reference, sandbox_toml  # the demo business's lists, as ReferenceData

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "pex-cli-token-TOPSECRET-77"
START = date.today() - timedelta(days=30)  # well inside the 365 days, whatever the time zone
OTHER_START = START + timedelta(days=1)  # refused files differ from the stored setup even where they are valid


@pytest.fixture(scope="module")
def pex_api():
    """The PEX double, accepting TOKEN: `connect pex` checks a token with PEX before saving it."""
    with PexDouble(token=TOKEN) as pex:
        yield pex


@pytest.fixture
def env(tmp_path, monkeypatch, pex_api):
    """A working directory of its own, a fixed key, no $PEXXERO_DB, and the demo business as the live lists."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PEX_API_URL", pex_api.env["PEX_API_URL"])
    monkeypatch.setenv("PEXXERO_KEY", Fernet.generate_key().decode())
    monkeypatch.delenv("PEXXERO_DB", raising=False)
    loads = []

    def loader(store, connection_id, setup=None):
        loads.append(connection_id)
        return env.reference

    class Env:
        reference = demo_reference()
        calls = loads
        path = tmp_path
        db = tmp_path / "pexxero.db"

    env = Env()
    monkeypatch.setattr(commands, "reference_loader", loader)
    return env


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def stored(db: Path):
    """The stored setup and its raw row (TOML text and timestamp): what "unchanged" is compared on."""
    with Store.open(db) as s:
        row = list(s.db.query("SELECT toml, updated_at FROM setup"))
        return s.load_setup(s.connection_id()), row


def test_a_good_file_is_validated_and_saved(env, capsys):
    text = sandbox_toml(START)
    assert cli.main(["--db", str(env.db), "config", "import", write(env.path / "setup.toml", text)]) == 0
    assert "Setup imported" in capsys.readouterr().out
    assert env.calls == [1]  # checked against the live lists
    assert stored(env.db)[0] == from_toml(text)


def _edit(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


def _delete_expense_tag(data):
    _by(data["tags"], "Name", "EXPENSE TYPE").update(IsDeleted=True)


@pytest.mark.parametrize(
    "make_text, edit_reference, field_name, fragment",
    [
        (lambda t: _edit(t, "[accounts]\n", "[accounts\n"), None, "", "line 18"),
        (lambda t: _edit(t, 'fee_account = "404"', 'fee_account = "477"'), None, "accounts.fee_account", "archived"),
        (lambda t: t, _delete_expense_tag, "accounts.purchase_account_tag", "'EXPENSE TYPE' is deleted"),
        (lambda t: _edit(t, 'contact = "PEX TX FEES"', 'contact = "PEX FEES"'), None, "fees.contact",
         "no Xero contact is named 'PEX FEES'"),
        (lambda t: _edit(t, f"start_date = {OTHER_START}", f"start_date = {date.today() - timedelta(days=400)}"), None,
         "pex.start_date", "more than 365 days before today"),
    ],
    ids=["malformed", "archived-account", "deleted-tag", "missing-contact", "old-start-date"],
)
def test_a_refused_file_names_the_field_and_leaves_the_stored_setup_unchanged(
    env, capsys, make_text, edit_reference, field_name, fragment
):
    cli.main(["--db", str(env.db), "config", "import", write(env.path / "good.toml", sandbox_toml(START))])
    before = stored(env.db)
    capsys.readouterr()
    if edit_reference is not None:
        env.reference = demo_reference(edit_reference)
    bad = write(env.path / "bad.toml", make_text(sandbox_toml(OTHER_START)))

    assert cli.main(["--db", str(env.db), "config", "import", bad]) == 1

    out, err = capsys.readouterr()
    assert "Setup imported" not in out
    assert "was not imported; the stored setup is unchanged" in err
    assert f"{field_name}: " in err if field_name else "not valid TOML" in err
    assert fragment in err
    assert stored(env.db) == before


def test_a_file_that_cannot_be_checked_is_refused(env, capsys, monkeypatch):
    def unreachable(store, connection_id, setup=None):
        raise RuntimeError("Xero is not connected: run `connect xero`")

    monkeypatch.setattr(commands, "reference_loader", unreachable)
    assert cli.main(["--db", str(env.db), "config", "import", write(env.path / "s.toml", sandbox_toml(START))]) == 1
    assert "could not be checked against Xero and PEX: Xero is not connected" in capsys.readouterr().err
    assert stored(env.db) == (None, [])


def test_export_then_import_gives_back_the_same_setup(env, capsys):
    cli.main(["--db", str(env.db), "config", "import", write(env.path / "s.toml", sandbox_toml(START))])
    capsys.readouterr()
    assert cli.main(["--db", str(env.db), "config", "export"]) == 0
    exported = capsys.readouterr().out
    assert exported.startswith("[pex]\n")
    assert cli.main(["--db", str(env.db), "config", "export", str(env.path / "out.toml")]) == 0
    assert (env.path / "out.toml").read_text(encoding="utf-8") == exported

    other = env.path / "other.db"
    assert cli.main(["--db", str(other), "config", "import", str(env.path / "out.toml")]) == 0
    assert stored(other)[0] == stored(env.db)[0] == from_toml(sandbox_toml(START))


def test_export_without_a_setup_or_a_database_fails_plainly(env, capsys):
    missing = env.path / "nowhere.db"
    assert cli.main(["--db", str(missing), "config", "export"]) == 1
    assert "There is no database at" in capsys.readouterr().err
    assert not missing.exists()  # a mistyped --db leaves nothing behind
    Store.open(env.db).close()
    assert cli.main(["--db", str(env.db), "config", "export"]) == 1
    assert "No setup is stored yet" in capsys.readouterr().err


def test_the_database_comes_from_db_then_pexxero_db_then_the_default(env, monkeypatch):
    setup_file = write(env.path / "s.toml", sandbox_toml(START))
    assert cli.main(["config", "import", setup_file]) == 0
    assert stored(env.path / "pexxero.db")[0] is not None  # the default, in the working directory

    monkeypatch.setenv("PEXXERO_DB", str(env.path / "from_env.db"))
    assert cli.main(["config", "import", setup_file]) == 0
    assert stored(env.path / "from_env.db")[0] is not None

    assert cli.main(["--db", str(env.path / "flag.db"), "config", "import", setup_file]) == 0
    assert stored(env.path / "flag.db")[0] is not None
    assert [p.name for p in sorted(env.path.glob("*.db"))] == ["flag.db", "from_env.db", "pexxero.db"]


def test_connect_pex_saves_the_token_encrypted_and_never_prints_it(env, capsys):
    assert cli.main(["--db", str(env.db), "connect", "pex", "--token", TOKEN]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "PEX token saved"
    assert TOKEN not in out + err
    with Store.open(env.db) as s:
        assert s.load_credentials(s.connection_id(), "pex") == {"token": TOKEN}
    raw = b"".join(p.read_bytes() for p in env.path.glob("pexxero.db*"))
    assert TOKEN.encode() not in raw


def test_connect_pex_refuses_an_empty_token(env, capsys):
    assert cli.main(["--db", str(env.db), "connect", "pex", "--token", "  "]) == 1
    assert "empty" in capsys.readouterr().err


def test_python_m_pexxero_connect_pex_uses_pexxero_db(tmp_path, monkeypatch, pex_api):
    db = tmp_path / "nightly.db"
    key = Fernet.generate_key().decode()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PEXXERO_DB": str(db), "PEXXERO_KEY": key, **pex_api.env}
    done = subprocess.run([sys.executable, "-m", "pexxero", "connect", "pex", "--token", TOKEN],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "PEX token saved"), done.stderr
    assert TOKEN not in done.stdout + done.stderr
    monkeypatch.setenv("PEXXERO_KEY", key)
    with Store.open(db) as s:
        assert s.load_credentials(s.connection_id(), "pex") == {"token": TOKEN}


def test_a_wrong_key_is_reported_plainly(env, capsys, monkeypatch):
    monkeypatch.setenv("PEXXERO_KEY", "hunter2-not-a-key")
    assert cli.main(["--db", str(env.db), "connect", "pex", "--token", TOKEN]) == 1
    err = capsys.readouterr().err
    assert "PEXXERO_KEY is not a valid encryption key" in err
    assert "hunter2" not in err and TOKEN not in err


def test_a_100000_character_value_is_refused_naming_the_field_before_anything_is_sent(env, capsys):
    text = _edit(sandbox_toml(START), 'contact = "PEX TX FEES"', f'contact = "{"X" * 100_000}"')
    assert cli.main(["--db", str(env.db), "config", "import", write(env.path / "long.toml", text)]) == 1
    err = capsys.readouterr().err
    assert "fees.contact: is 100,000 characters long" in err and "at most 255 characters" in err
    assert len(err) < 1000 and "HTTP 400" not in err
    assert env.calls == []  # neither Xero nor PEX was asked
    assert stored(env.db) == (None, [])
