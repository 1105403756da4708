"""Test support: fixtures that start what a test needs, and an API client for the gateway."""
