"""The keyed hash every service uses for erased addresses (G1)."""
from __future__ import annotations

from crm_shared import gdpr


def test_key_is_stable_case_insensitive_and_depends_on_the_secret(monkeypatch):
    key = gdpr.email_key("Ann.Lee@Example.com ")
    assert key == gdpr.email_key("ann.lee@example.com") and gdpr.is_email_key(key)
    assert "ann" not in key and len(key) == len(gdpr.KEY_PREFIX) + 64
    assert key != gdpr.email_key("ann.lee@example.org")
    monkeypatch.setenv("CRM_GDPR_HASH_KEY", "another-secret")
    assert gdpr.email_key("ann.lee@example.com") != key


def test_mentions_reads_nested_values():
    assert gdpr.mentions({"a": [{"b": "Mail ANN@x.example"}]}, ["ann@x.example"])
    assert not gdpr.mentions({"a": "bob"}, ["ann@x.example", ""])
