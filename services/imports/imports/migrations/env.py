from crm_shared.db import run_migrations_env
from imports.models import Base

run_migrations_env(Base.metadata)
