"""The test session's PostgreSQL cluster: reachable on 127.0.0.1, one fresh database per test."""

import psycopg


def test_each_test_gets_an_empty_database_on_loopback(pg_url):
    assert "@127.0.0.1:" in pg_url
    with psycopg.connect(pg_url) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
    assert tables == 0
