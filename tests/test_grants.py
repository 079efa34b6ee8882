"""One Xero sign-in, several organisations: the grant's token set is stored once and each connection of it points
at it, so a refresh by one (its refresh token rotates at Xero) is every connection's token at once."""

from __future__ import annotations

import threading

import pytest

from pexxero.clients.endpoints import Endpoints
from pexxero.sandbox import demo
from pexxero.store import LockBusy
from pexxero.workspace import open_workspace

A, B = demo.TENANT_ID, demo.SECOND_TENANT_ID


@pytest.fixture
def two(sandbox):
    """`default` on organisation A and `b` on organisation B, both through the one grant that sees A and B."""
    sandbox.conn.connect_xero(sandbox.xero.grant([A, B]), A)
    sandbox.conn.tenants()  # Xero's connections list: the grant's organisations are recorded with it
    ws = open_workspace(sandbox.db_path, endpoints=Endpoints.from_env(sandbox.env))
    ws.add("b")
    ws.use_grant("b", B)
    b = ws.connection("b")
    yield sandbox, ws, b
    b.close()
    b.store.close()
    ws.close()


def test_the_grant_is_held_once_with_its_organisations(two):
    sandbox, ws, b = two
    store = ws.store
    assert store.grant_of(sandbox.conn.connection_id) == store.grant_of(b.connection_id) is not None
    [grant] = ws.grants()
    assert sorted(grant.tenants) == sorted([(A, demo.TENANT_NAME), (B, demo.SECOND_TENANT_NAME)])
    assert grant.connections == ["b", "default"]
    assert b.tenant_id() == B and sandbox.conn.tenant_id() == A
    assert not store._rows("SELECT 1 FROM credentials WHERE service = 'xero'")  # no second copy anywhere


def test_two_connections_refreshing_alternately_never_break_each_other(two):
    sandbox, ws, b = two
    a = sandbox.conn
    gw_a, gw_b = a.xero(), b.xero()
    before = gw_a.refreshes, gw_b.refreshes
    issued = []
    for _ in range(3):
        for gw in (gw_a, gw_b):
            gw.refresh()  # spends the grant's refresh token: the other one must pick up the rotated one
            issued.append(a.store.load_credentials(a.connection_id, "xero")["refresh_token"])
            assert b.store.load_credentials(b.connection_id, "xero") == \
                a.store.load_credentials(a.connection_id, "xero")
    assert len(set(issued)) == 6  # every refresh rotated the token at Xero, and each one was persisted for both
    assert (gw_a.refreshes - before[0], gw_b.refreshes - before[1]) == (3, 3)
    for conn, name in ((a, demo.TENANT_NAME), (b, demo.SECOND_TENANT_NAME)):
        conn.reset_clients()  # a new process: only what is stored
        assert conn.xero().organisation().name == name


def test_the_lock_is_the_grants_so_its_connections_refresh_one_at_a_time(two):
    sandbox, ws, b = two
    keeper_a = sandbox.conn.store.token_keeper(sandbox.conn.connection_id)
    keeper_b = b.store.token_keeper(b.connection_id)
    refused = []

    def other_thread():
        try:
            with keeper_b.lock(blocking=False):
                pass
        except LockBusy:
            refused.append(True)

    with keeper_a.lock():
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert refused == [True]
    with keeper_b.lock(blocking=False):  # free again
        pass


def test_disconnecting_one_leaves_the_shared_grant_working_for_the_other(two):
    sandbox, ws, b = two
    sandbox.conn.disconnect_xero()  # not revoked at Xero: b still uses it
    assert not sandbox.conn.xero_connected()
    assert ws.grants()[0].connections == ["b"]
    b.reset_clients()
    b.xero().refresh()
    assert b.xero().organisation().name == demo.SECOND_TENANT_NAME
    held = b.store.load_credentials(b.connection_id, "xero")["refresh_token"]
    b.disconnect_xero()  # the last one: revoked at Xero and deleted here
    assert ws.grants() == []
    assert sandbox.xero.oauth.grants[sandbox.xero.oauth.refresh[held]].revoked


def test_a_new_sign_in_for_one_connection_gets_a_grant_of_its_own(two):
    sandbox, ws, b = two
    b.connect_xero(sandbox.xero.grant([B]), B)
    grants = ws.grants()
    assert sorted(g.connections for g in grants) == [["b"], ["default"]]
    sandbox.conn.reset_clients()
    sandbox.conn.xero().refresh()  # the first grant still works for `default`
    assert sandbox.conn.xero().organisation().name == demo.TENANT_NAME
