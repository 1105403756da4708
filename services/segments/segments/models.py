"""SQLAlchemy models of the segments service, on its own metadata."""
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass
