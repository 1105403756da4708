from crm_shared.db import run_migrations_env
from segments.models import Base

run_migrations_env(Base.metadata)
