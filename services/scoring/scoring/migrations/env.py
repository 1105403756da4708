from crm_shared.db import run_migrations_env
from scoring.models import Base

run_migrations_env(Base.metadata)
