"""The scoring service's tests use its own database (``db_session``)."""
import pytest


@pytest.fixture(scope="session")
def service_name() -> str:
    return "scoring"
