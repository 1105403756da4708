"""Every service's models and its Alembic migrations agree (STYLE convention 8)."""
import importlib

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from crm_shared.config import SERVICES, database_url
from crm_shared.reliability import metadata as reliability_metadata


@pytest.mark.parametrize("service", SERVICES)
def test_models_match_migrations(crm_env, service):
    models = importlib.import_module(f"{service}.models")
    engine = sa.create_engine(database_url(service))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, [models.Base.metadata, reliability_metadata])
    finally:
        engine.dispose()
    assert diff == [], f"{service}: models and migrations differ; run crm_shared.manage makemigration: {diff}"
