"""An in-memory contacts service honouring the docs/DEVELOPING.md contracts the pipeline uses."""
from __future__ import annotations

import uuid
from typing import Any

from crm_shared import validators as v
from imports import matching


class FakeContacts:
    def __init__(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}
        self.applied: dict[tuple[str, int], dict[str, Any]] = {}
        self.batch_calls = 0
        self.fail_next_batch = False

    def add(self, **fields: Any) -> str:
        contact_id = str(uuid.uuid4())
        self.contacts[contact_id] = {"id": contact_id, **fields}
        return contact_id

    def match_candidates(self, keys: dict[str, list[str]]) -> list[dict[str, Any]]:
        found = []
        for contact in self.contacts.values():
            record = matching.record_from(contact["id"], contact)
            if (set(record.emails) & set(keys["emails"]) or set(record.phones) & set(keys["phones"])
                    or record.name in keys["name_keys"] or (record.company and record.company in keys["company_keys"])):
                found.append(dict(contact))
        return found

    def import_batch(self, import_id: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.batch_calls += 1
        if self.fail_next_batch:
            self.fail_next_batch = False
            raise ConnectionError("contacts unavailable")
        results = []
        for row in rows:
            key = (import_id, row["row"])
            if key in self.applied:
                results.append(self.applied[key])
                continue
            if row["action"] == "merge":
                contact = self.contacts[row["contact_id"]]
                changes, conflicts = {}, {}
                for name, value in row["fields"].items():
                    if contact.get(name) in (None, "", []):
                        changes[name] = {"before": contact.get(name), "after": value}
                        contact[name] = value
                    elif contact[name] != value:
                        conflicts[name] = {"existing": contact[name], "incoming": value}
                result = {"row": row["row"], "contact_id": contact["id"], "outcome": "merged",
                          "changes": changes, "conflicts": conflicts, "error": None}
            elif v.normalize_email(row["fields"]["email"]) in {c.get("email") for c in self.contacts.values()}:
                result = {"row": row["row"], "contact_id": None, "outcome": "failed", "changes": {},
                          "conflicts": {}, "error": "email already exists"}
            else:
                contact_id = self.add(**row["fields"], import_id=import_id)
                result = {"row": row["row"], "contact_id": contact_id, "outcome": "created", "changes": {},
                          "conflicts": {}, "error": None}
            self.applied[key] = result
            results.append(result)
        return results

    def iter_contacts(self, after_id: str | None, limit: int) -> dict[str, Any]:
        ids = sorted(self.contacts)
        if after_id:
            ids = [i for i in ids if i > after_id]
        page = ids[:limit]
        return {"items": [self.contacts[i] for i in page],
                "next_after_id": page[-1] if len(page) == limit else None}
