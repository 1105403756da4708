"""SQLAlchemy models of the messaging service, on its own metadata."""
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass
