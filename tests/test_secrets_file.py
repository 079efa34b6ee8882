"""One reader of .streamlit/secrets.toml for the engine, the command line and the dashboard."""

import pytest

from pexxero.connection import xero_app_credentials
from pexxero.secrets import SecretsFileUnreadable, read_secrets_file


def test_the_xero_app_comes_from_the_environment_first_then_the_secrets_file(tmp_path, monkeypatch):
    path = tmp_path / "secrets.toml"
    path.write_text('[xero]\nclient_id = "from-file"\nclient_secret = "file-secret"\n', encoding="utf-8")
    monkeypatch.delenv("XERO_CLIENT_ID", raising=False)
    monkeypatch.delenv("XERO_CLIENT_SECRET", raising=False)
    assert xero_app_credentials(path) == ("from-file", "file-secret")
    monkeypatch.setenv("XERO_CLIENT_ID", "from-env")
    assert xero_app_credentials(path) == ("from-env", "file-secret")
    assert xero_app_credentials(tmp_path / "none.toml") == ("from-env", "")


def test_a_missing_file_is_empty_and_a_broken_one_is_refused_without_its_contents(tmp_path):
    assert read_secrets_file(tmp_path / "none.toml") == {}
    broken = tmp_path / "secrets.toml"
    broken.write_text('[xero]\nclient_secret = "s3cret-value\n', encoding="utf-8")
    with pytest.raises(SecretsFileUnreadable) as raised:
        read_secrets_file(broken)
    assert "s3cret-value" not in str(raised.value)
