"""An isolated CRM environment (own RabbitMQ vhost, own databases) and the system running in it.

Used by the pytest fixtures and by the benchmarks, so both measure exactly
what users run, without touching a developer's running instance.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]


class EnvironmentUnavailable(RuntimeError):
    pass


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
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
    params = mq.get_connection_params()
    return {"CRM_POSTGRES_URL": pg_url, "CRM_AMQP_URI": f"amqp://guest:guest@{params.host}:{params.port}/"}


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, stdout=subprocess.DEVNULL, timeout=60)


@contextlib.contextmanager
def isolated_environment(keep: bool = False, extra: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
    """Apply a fresh vhost + database prefix to os.environ, migrate, and clean up afterwards."""
    suffix = uuid.uuid4().hex[:8]
    env: dict[str, str] = {"CRM_DB_PREFIX": f"crmt_{suffix}_", "CRM_RATE_LIMITS": "off", **(extra or {})}
    vhost = None
    if reachable("127.0.0.1", 5672) and reachable("127.0.0.1", 5432):
        if shutil.which("rabbitmqctl"):
            vhost = f"crm_test_{suffix}"
            _rabbitmqctl("add_vhost", vhost)
            _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
            env["CRM_AMQP_URI"] = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    elif shutil.which("docker") and os.environ.get("CI") != "true":
        env.update(_start_containers())
    else:
        raise EnvironmentUnavailable(
            "PostgreSQL (5432) and RabbitMQ (5672) are not reachable and there is no Docker engine")
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        from crm_shared.manage import migrate_all

        migrate_all()
        yield env
    finally:
        if not keep and os.environ.get("CRM_KEEP_TEST_ENV") != "1":
            _clean_up(vhost)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _clean_up(vhost: str | None) -> None:
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


@contextlib.contextmanager
def running_system(run_dir: Path | None = None, demo_parts: str = "users", import_workers: int = 1):
    """The whole system on free ports in the current (isolated) environment, stopped afterwards."""
    from crm_shared.system import System

    run_dir = Path(run_dir or tempfile.mkdtemp(prefix="crm-run-"))
    system = System(run_dir=run_dir, env=dict(os.environ), gateway_port=free_port(), smtp_port=free_port(),
                    import_workers=import_workers)
    os.environ["CRM_SMTP_PORT"] = str(system.smtp_port)
    os.environ["CRM_PUBLIC_URL"] = system.base_url
    system.start()
    try:
        system.wait_healthy(timeout=180)
        if demo_parts:
            args = [] if demo_parts == "all" else ["--only", demo_parts]
            subprocess.run([system.python, "-m", "deploy.demo", *args], cwd=ROOT, env=os.environ, check=True,
                           timeout=600)
        yield system
    except BaseException:
        for log in sorted((run_dir / "logs").glob("*.log")):
            print(f"==== {log.name} (tail) ====\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:]))
        raise
    finally:
        system.stop()
