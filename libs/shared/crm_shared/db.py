"""Database helpers: one PostgreSQL database per service, session per nameko worker.

The provider is our own (nameko-sqlalchemy predates SQLAlchemy 2). Inside a
nameko process psycopg2 is made cooperative with psycogreen before the engine
exists, so a slow query never blocks the eventlet hub (RELIABILITY M6).
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from nameko.extensions import DependencyProvider
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from crm_shared.config import database_url, postgres_server_url

log = logging.getLogger(__name__)


def create_database_if_missing(url: str) -> bool:
    """Create the database named in ``url``; True when it was created."""
    target = make_url(url)
    server = make_url(postgres_server_url())
    admin = server.set(database="postgres")
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                  {"n": target.database}).scalar()
            if exists:
                return False
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
            log.info("database created", extra={"database": target.database})
            return True
    finally:
        engine.dispose()


def drop_database(url: str) -> None:
    target = make_url(url)
    engine = sa.create_engine(make_url(postgres_server_url()).set(database="postgres"),
                              isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": target.database})
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}"'))
    finally:
        engine.dispose()


def make_engine(url: str, pool_size: int = 10, **kwargs) -> Engine:
    """A pooled engine; ORM flushes of many changed rows send their UPDATEs in pages, not one round trip each."""
    if make_url(url).get_backend_name() == "postgresql":
        kwargs.setdefault("executemany_mode", "values_plus_batch")
    return sa.create_engine(url, pool_size=pool_size, max_overflow=8, pool_pre_ping=True,
                            pool_recycle=1800, **kwargs)


def ping(session: Session) -> bool:
    return session.execute(sa.text("SELECT 1")).scalar() == 1


def migrate(service: str, package_dir: Path, url: str | None = None, revision: str = "head") -> None:
    """Create the service's database if missing and run its Alembic migrations."""
    from alembic import command
    from alembic.config import Config

    url = url or database_url(service)
    create_database_if_missing(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(package_dir / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["service"] = service
    command.upgrade(cfg, revision)


def run_migrations_env(metadata: sa.MetaData) -> None:
    """The body of every service's ``migrations/env.py`` (online mode, one database).

    The shared reliability tables (outbox, processed events, idempotency keys,
    dead letters) live in every service database, so they join its metadata.
    """
    from alembic import context

    from crm_shared.reliability import metadata as reliability_metadata

    url = context.config.get_main_option("sqlalchemy.url")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=[metadata, reliability_metadata], compare_type=True,
                          transaction_per_migration=False)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


class Database(DependencyProvider):
    """Hands each nameko worker a ``DatabaseSession`` bound to the service's own database."""

    def __init__(self, service: str, pool_size: int = 4):
        self.service = service
        self.pool_size = pool_size
        self.engine: Engine | None = None
        self.sessionmaker: sessionmaker | None = None
        self.sessions: dict = {}

    def setup(self) -> None:
        from psycogreen.eventlet import patch_psycopg

        patch_psycopg()
        self.engine = make_engine(database_url(self.service), pool_size=self.pool_size)
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.dispose()

    def get_dependency(self, worker_ctx):
        session = self.sessionmaker()
        self.sessions[worker_ctx] = session
        return session

    def worker_teardown(self, worker_ctx) -> None:
        session = self.sessions.pop(worker_ctx, None)
        if session is not None:
            session.close()

    @contextlib.contextmanager
    def session_scope(self) -> Iterator[Session]:
        """A session outside any worker (timers of the provider itself)."""
        session = self.sessionmaker()
        try:
            yield session
        finally:
            session.close()

