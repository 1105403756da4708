"""pytest fixtures: an isolated environment (own RabbitMQ vhost, own databases) and the running system.

Each test session gets a fresh vhost and database prefix, so several test runs
on one machine never consume each other's messages. In CI a missing broker or
database is a failure, not a skip. Where neither is reachable locally and a
Docker engine is, testcontainers starts them.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_shared.testing.api import ApiClient

ROOT = Path(__file__).resolve().parents[4]


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_containers() -> dict[str, str]:
    """Fallback for machines with Docker but no local services."""
    from testcontainers.postgres import PostgresContainer
    from testcontainers.rabbitmq import RabbitMqContainer

    pg = PostgresContainer("postgres:15").start()
    mq = RabbitMqContainer("rabbitmq:3.13").start()
    pg_url = pg.get_connection_url().replace("postgresql://", "postgresql+psycopg2://")
    mq_params = mq.get_connection_params()
    return {"CRM_POSTGRES_URL": pg_url,
            "CRM_AMQP_URI": f"amqp://guest:guest@{mq_params.host}:{mq_params.port}/"}


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, stdout=subprocess.DEVNULL, timeout=60)


@pytest.fixture(scope="session")
def crm_env() -> Iterator[dict[str, str]]:
    """Environment variables of an isolated test environment, applied to os.environ."""
    suffix = uuid.uuid4().hex[:8]
    env: dict[str, str] = {"CRM_DB_PREFIX": f"crmt_{suffix}_", "CRM_RATE_LIMITS": "off"}
    vhost = None
    if _reachable("127.0.0.1", 5672) and _reachable("127.0.0.1", 5432):
        if shutil.which("rabbitmqctl"):
            vhost = f"crm_test_{suffix}"
            _rabbitmqctl("add_vhost", vhost)
            _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
            env["CRM_AMQP_URI"] = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    elif shutil.which("docker") and os.environ.get("CI") != "true":
        env.update(_start_containers())
    else:
        pytest.fail("PostgreSQL (5432) and RabbitMQ (5672) are not reachable and there is no Docker engine")
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    from crm_shared.manage import migrate_all

    migrate_all()
    try:
        yield env
    finally:
        if os.environ.get("CRM_KEEP_TEST_ENV") != "1":
            from crm_shared.config import SERVICES, database_url
            from crm_shared.db import drop_database

            for service in SERVICES:
                try:
                    drop_database(database_url(service))
                except Exception as exc:  # best effort clean-up
                    print(f"could not drop {service} database: {exc}")
            if vhost:
                try:
                    _rabbitmqctl("delete_vhost", vhost)
                except Exception as exc:  # best effort clean-up
                    print(f"could not delete vhost {vhost}: {exc}")
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def crm_system(crm_env, tmp_path_factory):
    """The whole system running as local processes, with the demo users loaded."""
    from crm_shared.system import System

    run_dir = tmp_path_factory.mktemp("crm-run")
    system = System(run_dir=run_dir, env=dict(os.environ), gateway_port=_free_port(), smtp_port=_free_port())
    os.environ["CRM_SMTP_PORT"] = str(system.smtp_port)
    os.environ["CRM_PUBLIC_URL"] = system.base_url
    system.start()
    try:
        system.wait_healthy(timeout=180)
        subprocess.run([system.python, "-m", "deploy.demo", "--only", "users"], cwd=ROOT, env=os.environ,
                       check=True, timeout=120)
        yield system
    except BaseException:
        for log in sorted((run_dir / "logs").glob("*.log")):
            print(f"==== {log.name} (tail) ====\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:]))
        raise
    finally:
        system.stop()


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
