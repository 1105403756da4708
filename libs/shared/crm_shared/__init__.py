"""Shared contracts of the CRM services (config, events, validators, auth, db helpers)."""
