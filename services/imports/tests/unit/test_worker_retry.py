"""The import worker's retry policy: a database or broker gone away retries, bad data fails the job (RELIABILITY I3)."""
from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc

from crm_shared.errors import ServiceUnavailable
from crm_shared.rpc import RemoteError
from imports import pipeline, worker


class _Retry(Exception):
    """Stands in for celery's Retry: the task asked to run again later."""


def _lost_connection() -> sa_exc.OperationalError:
    return sa_exc.OperationalError("SELECT imports.id FROM imports", {},
                                   Exception("server closed the connection unexpectedly"))


@pytest.mark.parametrize("error", [
    _lost_connection(),
    sa_exc.InterfaceError("SELECT 1", {}, Exception("connection already closed")),
    sa_exc.DBAPIError("SELECT 1", {}, Exception("terminating connection"), connection_invalidated=True),
    RemoteError("OperationalError", "the contacts database restarted"),
    ServiceUnavailable("contacts did not answer"),
    ConnectionResetError("broker went away"),
])
def test_gone_away_errors_are_transient(error):
    assert worker.is_transient(error)


@pytest.mark.parametrize("error", [
    sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key")),
    sa_exc.DataError("INSERT", {}, Exception("value too long")),
    RemoteError("KeyError", "'email'"),
    ValueError("bad row"),
])
def test_bad_data_is_not_transient(error):
    assert not worker.is_transient(error)


@pytest.fixture()
def task(monkeypatch):
    calls: dict[str, list] = {"retry": [], "fail": []}

    def retry(exc=None, countdown=None, **_):
        calls["retry"].append((type(exc).__name__, countdown))
        return _Retry()

    monkeypatch.setattr(worker.advance_task, "retry", retry)
    monkeypatch.setattr(worker, "_fail", lambda import_id, message: calls["fail"].append((import_id, message)))
    monkeypatch.setattr(worker, "session_factory", lambda: _NoSession())
    return calls


class _NoSession:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_database_restart_mid_step_retries_with_backoff_and_never_fails_the_job(task, monkeypatch):
    def restarted(*args, **kwargs):
        raise _lost_connection()

    monkeypatch.setattr(pipeline, "advance", restarted)
    for _ in range(6):   # however often it happens: more than the three tries bad data gets
        with pytest.raises(_Retry):
            worker.advance_task.run("imp-1", "token")
    assert task["fail"] == []
    assert all(name == "OperationalError" and countdown >= 10 for name, countdown in task["retry"])


def test_bad_data_fails_the_job_after_three_quick_retries(task, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("a row no validation caught")

    monkeypatch.setattr(pipeline, "advance", broken)
    with pytest.raises(_Retry):
        worker.advance_task.run("imp-2", "token")
    assert task["retry"] == [("ValueError", 1)] and task["fail"] == []
    monkeypatch.setattr(type(worker.advance_task.request), "retries", 3, raising=False)
    assert worker.advance_task.run("imp-2", "token") == "failed"
    assert task["fail"] and "a row no validation caught" in task["fail"][0][1]
