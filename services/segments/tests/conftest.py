"""The segments service's tests use the shared fixtures with its own database."""
import pytest


@pytest.fixture(scope="session")
def service_name() -> str:
    return "segments"
