"""Database chores for every service: ``python -m crm_shared.manage migrate [service...]``.

Commands:
  migrate [svc...]        create missing databases, upgrade to head (all services by default) and
                          declare every subscriber queue on RabbitMQ
  makemigration svc msg   autogenerate a revision from the service's models
  drop [svc...]           drop the databases (tests and resets only)
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

from crm_shared.config import SERVICES, database_url
from crm_shared.db import create_database_if_missing, drop_database, migrate


def package_dir(service: str) -> Path:
    return Path(importlib.import_module(service).__file__).parent


def alembic_config(service: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(package_dir(service) / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url(service).replace("%", "%%"))
    return cfg


def migrate_all(services: list[str] | None = None) -> None:
    """Databases migrated, then every subscriber queue declared (the deploy-time bootstrap)."""
    from crm_shared.bootstrap import declare_subscriber_queues

    for service in services or SERVICES:
        migrate(service, package_dir(service))
    declare_subscriber_queues()


def make_migration(service: str, message: str) -> None:
    from alembic import command

    create_database_if_missing(database_url(service))
    cfg = alembic_config(service)
    command.upgrade(cfg, "head")
    command.revision(cfg, message=message, autogenerate=True)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    command, args = argv[1], argv[2:]
    if command == "migrate":
        migrate_all(args or None)
    elif command == "makemigration":
        make_migration(args[0], " ".join(args[1:]) or "change")
    elif command == "drop":
        for service in args or SERVICES:
            drop_database(database_url(service))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
