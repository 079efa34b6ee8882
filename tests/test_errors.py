"""One error tree, one place that words errors: what the CLI and the pages say for each kind."""

from __future__ import annotations

import sqlite3

import pytest

from pexxero import errors
from pexxero.clients.pex import PexAuthError, PexError
from pexxero.clients.xero_calls import XeroError, XeroSessionFailed
from pexxero.secrets import SecretsError
from pexxero.setup import SetupError
from pexxero.store import AlreadyRunning, StoreError


@pytest.mark.parametrize("cls", [PexError, XeroError, SecretsError, SetupError, StoreError, AlreadyRunning,
                                 errors.NotConnected])
def test_every_error_a_user_can_see_derives_from_the_one_root(cls):
    assert issubclass(cls, errors.PexxeroError)


def test_a_file_the_user_named_is_said_with_its_path():
    exc = FileNotFoundError(2, "No such file or directory", "/no/such/folder/reconciliation.csv")
    for where in (errors.CLI, errors.PAGE):
        said = errors.explain(exc, where)
        assert "/no/such/folder/reconciliation.csv" in said and "No such file" in said


def test_a_database_that_cannot_be_written_is_said_in_words_on_the_command_line():
    said = errors.explain(sqlite3.OperationalError("database or disk is full"), errors.CLI)
    assert said.startswith("pexxero cannot write its database (database or disk is full)")


def test_an_unexpected_error_is_named_by_its_type_alone():
    said = errors.explain(RuntimeError("token=secret-value"), errors.CLI)
    assert "secret-value" not in said and "RuntimeError" in said


def test_the_session_failure_sentence_lives_in_one_place():
    assert errors.is_session_failure(str(XeroSessionFailed()))
    assert errors.SESSION_FAILED in errors.explain(XeroSessionFailed(), errors.CLI)
    assert errors.explain(PexAuthError(401, "bad token"), errors.PAGE) == (
        "PEX refused the API token. Enter a current token on the Connect page.")
