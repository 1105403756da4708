"""Service-layer tests of messaging run on its real PostgreSQL database (savepoint-isolated)."""
import pytest


@pytest.fixture()
def service_name() -> str:
    return "messaging"
