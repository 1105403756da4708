"""SQLAlchemy models of the scoring service, on its own metadata."""
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass
