"""`python -m pexxero sandbox` runs both doubles and prints URLs and env lines that really work."""

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from pexxero.sandbox import demo

ROOT = Path(__file__).resolve().parents[1]


def test_the_sandbox_command_prints_working_urls_and_environment(tmp_path):
    scratch = tmp_path / "tmp"  # its temp directory: nothing may be left in it
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "pexxero", "sandbox", "--pex-port", "0", "--xero-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "TMPDIR": str(scratch)})
    try:
        printed = []
        for line in proc.stdout:  # wait on what it prints, not on time
            printed.append(line)
            if "Ctrl+C" in line:
                break
        text = "".join(printed)
        env = dict(re.findall(r"export (\w+)=(\S+)", text))
        assert set(env) >= {"PEX_API_URL", "XERO_API_URL", "XERO_CONNECTIONS_URL", "XERO_IDENTITY_URL",
                            "XERO_AUTHORIZE_URL", "XERO_CLIENT_ID", "XERO_CLIENT_SECRET"}
        assert all(v.startswith("http://127.0.0.1:") for k, v in env.items() if k.endswith("_URL"))
        details = httpx.get(env["PEX_API_URL"] + "/Details/AccountDetails",
                            headers={"Authorization": f"token {demo.PEX_TOKEN}"})
        assert details.status_code == 200 and details.json()["BusinessName"] == demo.BUSINESS_NAME
        assert demo.SECOND_PEX_TOKEN in text  # the second demo business, and the token that reaches it
        second = httpx.get(env["PEX_API_URL"] + "/Details/AccountDetails",
                           headers={"Authorization": f"token {demo.SECOND_PEX_TOKEN}"})
        assert second.status_code == 200 and second.json()["BusinessName"] == demo.SECOND_BUSINESS_NAME
        consent = httpx.get(env["XERO_AUTHORIZE_URL"], params={
            "response_type": "code", "client_id": env["XERO_CLIENT_ID"], "redirect_uri": "http://127.0.0.1:1/cb",
            "scope": "offline_access accounting.transactions", "state": "s",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"})
        assert consent.status_code == 200 and "Allow access" in consent.text
        assert httpx.get(env["XERO_CONNECTIONS_URL"] + "/connections").status_code == 401  # it wants a token
        # the printed tokens connect the command line, none of them typed into argv
        assert env["PEX_TOKEN"] == demo.PEX_TOKEN and env["XERO_REFRESH_TOKEN"]
        assert "python -m pexxero connect pex && python -m pexxero connect xero" in text
        child = {**os.environ, **env, "PEXXERO_KEY": Fernet.generate_key().decode(),
                 "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        db = ["--db", str(tmp_path / "books.db")]
        for service in ("pex", "xero"):
            done = subprocess.run([sys.executable, "-m", "pexxero", *db, "connect", service], env=child,
                                  cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
        assert demo.TENANT_ID in done.stdout  # two organisations: the command lists them to choose from
        done = subprocess.run([sys.executable, "-m", "pexxero", *db, "connect", "xero", "--tenant", demo.TENANT_ID],
                              env=child, cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and demo.TENANT_NAME in done.stdout, done.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert list(scratch.iterdir()) == []
