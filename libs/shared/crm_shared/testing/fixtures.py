"""pytest fixtures: an isolated environment (own RabbitMQ vhost, own databases) and the running system.

Each test session gets a fresh vhost and database prefix, so several test runs
on one machine never consume each other's messages. In CI a missing broker or
database is a failure, not a skip. Where neither is reachable locally and a
Docker engine is, testcontainers starts them.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_shared.testing.api import ApiClient
from crm_shared.testing.environment import EnvironmentUnavailable, isolated_environment, running_system


@pytest.fixture(scope="session")
def crm_env() -> Iterator[dict[str, str]]:
    """Environment variables of an isolated test environment, applied to os.environ."""
    try:
        with isolated_environment() as env:
            yield env
    except EnvironmentUnavailable as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def crm_system(crm_env, tmp_path_factory):
    """The whole system running as local processes, with the demo users loaded."""
    with running_system(tmp_path_factory.mktemp("crm-run")) as system:
        yield system


@pytest.fixture(scope="session")
def api(crm_system) -> ApiClient:
    """An anonymous client of the gateway; ``api.as_role('sales')`` signs in."""
    return ApiClient(crm_system.base_url)


@pytest.fixture(scope="session")
def rpc_client(crm_env):
    from crm_shared.rpc import RpcClient

    client = RpcClient()
    yield client
    client.close()


@pytest.fixture()
def db_session(request):
    """A session on this service's test database, rolled back after the test (savepoint isolation).

    Use inside a service's tests: ``@pytest.mark.parametrize`` is not needed, set
    ``CRM_SERVICE`` via the ``service_name`` fixture the service's conftest defines.
    """
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from crm_shared.config import database_url

    request.getfixturevalue("crm_env")
    service = request.getfixturevalue("service_name")
    engine = sa.create_engine(database_url(service), poolclass=sa.pool.NullPool)
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()
        engine.dispose()


def _signed_in_as(role: str):
    @pytest.fixture(scope="module", name=role)
    def fixture(api: ApiClient) -> ApiClient:
        return api.as_role(role)

    fixture.__doc__ = f"A client signed in as the demo {role} user (per test module: tokens live 15 minutes)."
    return fixture


admin = _signed_in_as("admin")
marketing = _signed_in_as("marketing")
sales = _signed_in_as("sales")
sales2 = _signed_in_as("sales2")
executive = _signed_in_as("executive")
