"""Audit pseudonymization rules (G1): what is blanked, and that the chain accepts only vouched rewrites."""
from __future__ import annotations

from contacts import rules
from contacts.erasure import PII_KEYS, _blank_owned, redact
from crm_shared.gdpr import ERASED_TEXT


def chain(records: list[dict]) -> list[dict]:
    rows, prev = [], rules.GENESIS_HASH
    for i, record in enumerate(records, start=1):
        digest = rules.audit_hash(prev, record)
        rows.append({"id": i, **record, "prev_hash": prev, "hash": digest})
        prev = digest
    return rows


def record(action: str, after: dict | None, details: dict | None = None) -> dict:
    return {"at": "2026-01-01T00:00:00+00:00", "actor_id": "u1", "actor_role": "admin", "action": action,
            "entity": "contact", "entity_id": "c1", "before": None, "after": after, "details": details or {}}


def test_redact_blanks_pii_keys_and_strings_quoting_a_needle():
    value = {"email": "ann@x.example", "stage": "Lead", "details": {"q": "x"},
             "tags": ["vip", "friend of ann@x.example"], "count": 3}
    assert redact(value, ["ann@x.example"]) == {"email": ERASED_TEXT, "stage": "Lead", "details": ERASED_TEXT,
                                                "tags": ["vip", ERASED_TEXT], "count": 3}
    assert redact({"stage": "Lead"}, ["ann@x.example"]) == {"stage": "Lead"}
    assert {"email", "first_name", "phone", "notes"} <= PII_KEYS


def test_snapshots_of_the_erased_contact_keep_structure_not_values():
    blanked = _blank_owned({"id": "c1", "stage": "Lead", "company": "Acme", "position": None})
    assert blanked == {"id": "c1", "stage": "Lead", "company": ERASED_TEXT, "position": None}


def test_chain_accepts_a_rewrite_only_when_a_later_entry_vouches_for_it():
    rows = chain([record("create", {"email": "ann@x.example"}), record("update", {"stage": "Lead"})])
    assert rules.verify_chain(rows) is None
    rows[0]["after"] = {"email": ERASED_TEXT}
    assert rules.verify_chain(rows) == 1  # an unvouched change is tampering
    content = rules.audit_hash(rows[0]["prev_hash"], {k: rows[0][k] for k in
                                                        ("at", "actor_id", "actor_role", "action", "entity",
                                                         "entity_id", "before", "after", "details")})
    assert rules.verify_chain(rows, {1: content}) is None
    rows[0]["after"] = {"email": "someone-else@x.example"}
    assert rules.verify_chain(rows, {1: content}) == 1  # the voucher covers one exact content
    rows[0]["after"] = {"email": ERASED_TEXT}
    rows[1]["after"] = {"stage": "Customer"}
    assert rules.verify_chain(rows, {1: content}) == 2  # other rows are still checked
