"""Optional dashboard sign-in: with [auth] in secrets.toml nothing of the books shows before st.login."""

import pathlib

from streamlit.testing.v1 import AppTest

APP = str(pathlib.Path(__file__).resolve().parent.parent / "app.py")

AUTH = """
[auth]
redirect_uri = "http://localhost:8501/oauth2callback"
cookie_secret = "a-long-random-cookie-secret-for-tests"
client_id = "dashboard"
client_secret = "not-a-real-secret"
server_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"
"""


def test_with_auth_configured_the_dashboard_asks_to_sign_in_first(tmp_path, monkeypatch):
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(AUTH, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PEXXERO_DB", str(tmp_path / "p.db"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert "Connect" not in [t.value for t in at.title]


def test_without_auth_the_dashboard_opens(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PEXXERO_DB", str(tmp_path / "p.db"))
    monkeypatch.setenv("XERO_CLIENT_ID", "a-client-of-its-own")
    monkeypatch.setenv("XERO_CLIENT_SECRET", "its-secret")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "Sign in" not in [b.label for b in at.button]
