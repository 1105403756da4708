"""Fixtures for every test in the repository come from the shared test package."""
pytest_plugins = ["crm_shared.testing.fixtures"]
