from crm_shared.db import run_migrations_env
from messaging.models import Base

run_migrations_env(Base.metadata)
