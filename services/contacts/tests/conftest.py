"""Fixtures of the contacts service tests: ``db_session`` binds to the contacts database."""
import pytest


@pytest.fixture()
def service_name() -> str:
    return "contacts"
