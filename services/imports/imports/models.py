"""SQLAlchemy models of the imports service, on its own metadata."""
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass
