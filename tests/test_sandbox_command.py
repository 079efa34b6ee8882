"""`python -m pexxero sandbox` runs both doubles and prints URLs and env lines that really work."""

import re
import subprocess
import sys

import httpx

from pexxero.sandbox import demo


def test_the_sandbox_command_prints_working_urls_and_environment():
    proc = subprocess.Popen([sys.executable, "-m", "pexxero", "sandbox", "--pex-port", "0", "--xero-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
        consent = httpx.get(env["XERO_AUTHORIZE_URL"], params={
            "response_type": "code", "client_id": env["XERO_CLIENT_ID"], "redirect_uri": "http://127.0.0.1:1/cb",
            "scope": "offline_access accounting.transactions", "state": "s",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"})
        assert consent.status_code == 200 and "Allow access" in consent.text
        assert httpx.get(env["XERO_CONNECTIONS_URL"] + "/connections").status_code == 401  # it wants a token
    finally:
        proc.terminate()
        proc.wait(timeout=20)
