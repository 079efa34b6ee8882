"""The workspace on the command line: `--connection NAME` (before or after the command, or $PEXXERO_CONNECTION),
`connections list|add|rename|remove --yes`, `connect xero --tenant` reusing the workspace's authorisation,
`sync --all` with one line and one exit code, `history --all`. Against the sandbox doubles: `sync --all` in a child
process as cron runs it, the rest through the same `main()` in this process (quicker on a shared machine)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pexxero.sandbox import demo

A, B = demo.TENANT_ID, demo.SECOND_TENANT_ID


class Ran:
    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def cli(sandbox, capsys, monkeypatch):
    """`python -m pexxero --db DB ARGS...` through `main()`; `env` adds environment variables for the call."""
    from pexxero.cli import main

    monkeypatch.delenv("PEXXERO_CONNECTION", raising=False)

    def run(*args: str, env: dict | None = None) -> Ran:
        capsys.readouterr()
        with monkeypatch.context() as m:
            for name, value in (env or {}).items():
                m.setenv(name, value)
            code = main(["--db", str(sandbox.db_path), *args])
        out = capsys.readouterr()
        return Ran(code, out.out, out.err)

    return run


def _ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture
def two(sandbox, cli):
    """`default` on organisation A (the sandbox's), `b` added from the command line on B through the same grant."""
    sandbox.conn.connect_xero(sandbox.xero.grant([A, B]), A)
    sandbox.conn.tenants()
    sandbox.setup(purchases=replace(sandbox.conn.setup().purchases, attachments=False))  # lean: records only
    _ok(cli("connections", "add", "b", "--copy-setup-from", "default"))
    return sandbox


def test_several_connections_and_none_chosen_exits_1_naming_them(two, cli):
    result = cli("history")
    assert result.returncode == 1
    assert "b" in result.stderr and "default" in result.stderr and "--connection" in result.stderr
    assert "Traceback" not in result.stderr
    assert _ok(cli("--connection", "b", "history")).stdout.strip() == "No sync has run yet."
    _ok(cli("history", "--connection", "b"))  # after the command, like --db
    _ok(cli("history", "--connection=b"))
    _ok(cli("history", env={"PEXXERO_CONNECTION": "b"}))
    unknown = cli("--connection", "nowhere", "history")
    assert unknown.returncode == 1 and "nowhere" in unknown.stderr and "default" in unknown.stderr


def test_connections_add_rename_remove_and_list(two, cli):
    assert cli("connections", "add", "b").returncode == 1  # taken
    _ok(cli("connections", "add", "spare"))
    _ok(cli("connections", "rename", "spare", "spare-2"))
    refused = cli("connections", "remove", "spare-2")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    listed = _ok(cli("connections", "list")).stdout
    assert "spare-2" in listed and "no PEX token" in listed
    _ok(cli("connections", "remove", "spare-2", "--yes"))
    assert cli("connections", "remove", "spare-2", "--yes").returncode == 1  # gone
    listed = _ok(cli("connections", "list")).stdout
    assert "spare" not in listed
    header = listed.splitlines()[0]
    for column in ("Name", "PEX business", "Xero organisation", "Last run", "Waiting"):
        assert column in header


@pytest.mark.slow
def test_sync_all_syncs_each_connection_into_its_own_organisation_only(two, cli):
    plain = cli("--connection", "b", "connect", "xero", "--tenant", B)  # no refresh token: the grant is reused
    assert plain.returncode == 0, plain.stderr
    assert f"Xero connected: {demo.SECOND_TENANT_NAME} ({B})" in plain.stdout
    _ok(cli("connect", "pex", "--connection", "b", env={"PEX_TOKEN": demo.PEX_TOKEN}))
    _ok(cli("connections", "add", "c"))  # not set up: listed as such, not counted

    result = two.cli("sync", "--all", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split(":", 1)[0] for line in lines] == ["b", "c", "default"]
    assert lines[1] == "c: not set up (no PEX token)"
    assert demo.SECOND_TENANT_NAME in lines[0] and demo.TENANT_NAME in lines[2]
    in_a = replace(two, tenant_id=A).references()
    in_b = replace(two, tenant_id=B).references()
    assert in_b and set(in_a.values()) == set(in_b.values()) == {1}  # the same PEX business, once into each
    store, a, b = two.conn.store, two.conn.connection_id, two.conn.store.connection_named("b")
    ledger_b = store.ledger(b, tenant_id=B)
    assert set(ledger_b) == set(in_b)  # everything in B came from b (B was empty)
    assert store.ledger(b, tenant_id=A) == {} and store.ledger(a, tenant_id=B) == {}  # neither touched the other's
    assert set(store.ledger(a, tenant_id=A)) <= set(in_a)

    listed = _ok(cli("connections", "list")).stdout
    assert demo.BUSINESS_NAME in listed and demo.SECOND_TENANT_NAME in listed and "Succeeded" in listed
    everything = _ok(cli("history", "--all")).stdout
    assert "Connection" in everything.splitlines()[0]
    assert {"b", "default"} <= {line.split()[0] for line in everything.splitlines()[2:]}
    only_b = _ok(cli("--connection", "b", "history")).stdout.splitlines()[2:]
    assert len(only_b) == 1
    run_b = only_b[0].split()[0]
    run_a = next(line.split()[1] for line in everything.splitlines()[2:] if line.startswith("default"))
    assert cli("--connection", "b", "history", "--run", run_a).returncode == 1  # another connection's run
    _ok(cli("--connection", "b", "history", "--run", run_b))

    again = cli("sync", "--all")  # nothing new: still 0, nothing written twice
    assert again.returncode == 0, again.stdout + again.stderr
    assert replace(two, tenant_id=B).references() == in_b and replace(two, tenant_id=A).references() == in_a

    # one connection that fails makes the whole exit 1; the others still run
    _ok(cli("connections", "add", "d", "--copy-setup-from", "default"))
    _ok(cli("--connection", "d", "connect", "xero", "--tenant", A))
    two.conn.store.save_credentials(two.conn.store.connection_named("d"), "pex", {"token": "refused-token"})
    failed = cli("sync", "--all")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert any(line.startswith("d: ") and "Failed" in line for line in failed.stdout.splitlines()), failed.stdout

    # removing b leaves the shared authorisation with default and d
    _ok(cli("connections", "remove", "b", "--yes"))
    assert sorted(g["connections"] for g in two.conn.store.grant_rows()) == [["d", "default"]]
    assert not any(g.revoked for g in two.xero.oauth.grants.values() if g.refresh_token)


@pytest.mark.slow
def test_sync_all_in_the_background_starts_each_set_up_connection_with_a_log_of_its_own(two, cli):
    import os

    from pexxero.sync.background import sync_log_path
    from pexxero.workspace import open_workspace

    _ok(cli("--connection", "b", "connect", "xero", "--tenant", B))
    _ok(cli("connect", "pex", "--connection", "b", env={"PEX_TOKEN": demo.PEX_TOKEN}))
    _ok(cli("connections", "add", "c"))
    with open_workspace(two.db_path) as ws:
        said = ws.start_all()
        assert said["c"] == "not set up (no PEX token)"
        assert said["b"].startswith("started (run ") and said["default"].startswith("started (run ")
        runs = {name: int(words.split("run ")[1].rstrip(")")) for name, words in said.items() if name != "c"}
        for run_id in runs.values():
            os.waitid(os.P_PID, ws.store.get_run(run_id)["pid"], os.WEXITED)  # the child's end
        for name, run_id in runs.items():
            run = ws.store.get_run(run_id)
            assert run["connection_id"] == ws.store.connection_named(name)
            assert run["status"] == "succeeded", run["message"]
        logs = {name: open(sync_log_path(two.db_path, ws.store.connection_named(name)), encoding="utf-8").read()
                for name in runs}
    assert demo.SECOND_TENANT_NAME in logs["b"] and demo.SECOND_TENANT_NAME not in logs["default"]
    assert demo.TENANT_NAME in logs["default"] and demo.TENANT_NAME not in logs["b"]
