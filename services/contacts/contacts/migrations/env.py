from contacts.models import Base
from crm_shared.db import run_migrations_env

run_migrations_env(Base.metadata)
