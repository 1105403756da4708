"""Entrypoints of the contacts service: translate, call one operation, commit, return.

RPC names are the cross-service contracts of docs/DEVELOPING.md. Event
handlers turn the other services' facts into timeline entries (and keep
``score``, ``unsubscribed`` and ``last_contact_at`` current).
"""
from __future__ import annotations

import os
from typing import Any

from nameko.rpc import RpcProxy

from contacts import activity, audit, import_ops, notes, operations, rules, users
from contacts.erasure import ErasureMixin
from contacts.operations import ContactOps
from crm_shared.auth import ADMIN, ROLES, WRITERS
from crm_shared.db import Database
from crm_shared.errors import Unauthorized, ValidationFailed
from crm_shared.reliability import (
    EventOutbox,
    claim_event,
    load_idempotent_result,
    reliable_handler,
    store_idempotent_result,
)
from crm_shared.service import Context, ServiceBase, rpc


class ContactsService(ErasureMixin, ServiceBase):
    name = "contacts"

    db = Database("contacts")
    outbox = EventOutbox()
    ctx = Context()
    segments = RpcProxy("segments")

    # -- plumbing -------------------------------------------------------------
    def _ops(self, system: bool = False) -> ContactOps:
        caller = self.ctx.caller_or_system if system else self.ctx.caller
        return ContactOps(self.db, caller, lambda event_type, data: self.outbox.add(self.db, event_type, data),
                          segment_members=lambda segment_id: self.segments.member_ids(segment_id),
                          emit_many=lambda event_type, items: self.outbox.add_many(self.db, event_type, items))

    def _commit(self) -> None:
        self.db.commit()
        audit.reset_chain(self.db)

    def _idempotent(self, scope: str, fn) -> Any:
        """Run a creating call once per idempotency key (RELIABILITY M1)."""
        key = self.ctx.idempotency_key
        stored = load_idempotent_result(self.db, key, scope)
        if stored is not None:
            return stored
        result = fn()
        store_idempotent_result(self.db, key, scope, result)
        self._commit()
        return result

    # -- users and sign-in ----------------------------------------------
    @rpc
    def authenticate(self, email: str, password: str, source_ip: str | None = None) -> dict[str, Any]:
        """Public: the gateway's login; the only RPC that needs no token. Every attempt is audited."""
        try:
            user = users.authenticate(self.db, email, password, source_ip)
        except Unauthorized:
            self._commit()          # the failed attempt's audit record
            raise
        self._commit()
        return user

    @rpc
    def list_users(self, role: str | None = None) -> list[dict[str, Any]]:
        self.ctx.authenticate()
        return users.list_users(self.db, role)

    @rpc
    def get_user(self, user_id: str) -> dict[str, Any]:
        self.ctx.authenticate()
        return users.get_user(self.db, user_id)

    @rpc
    def upsert_user(self, email: str, name: str, role: str, password: str) -> dict[str, Any]:
        self.ctx.caller.require(ADMIN)
        result = users.upsert_user(self.db, email, name, role, password)
        self.db.commit()
        return result

    # -- contacts: reads ----------------------------------------------------
    @rpc
    def get_contact(self, contact_id: str) -> dict[str, Any]:
        self.ctx.authenticate()
        return self._ops().get(contact_id)

    @rpc
    def get_contacts(self, contact_ids: list[str]) -> list[dict[str, Any]]:
        self.ctx.authenticate()
        return self._ops().get_many(contact_ids)

    @rpc
    def list_contacts(self, filters: dict[str, Any] | None = None, page: int = 1, per_page: int = 50,
                      sort: str | None = None) -> dict[str, Any]:
        self.ctx.authenticate()
        return self._ops().list(filters, page, per_page, sort)

    @rpc
    def resolve_filter_ids(self, filters: dict[str, Any] | None = None, limit: int = 10000) -> list[str]:
        self.ctx.authenticate()
        return self._ops().resolve_ids(filters, limit)

    @rpc
    def iter_contacts(self, after_id: str | None = None, limit: int = 1000) -> dict[str, Any]:
        self.ctx.authenticate()
        return self._ops().iterate(after_id, limit)

    @rpc
    def match_candidates(self, keys: dict[str, Any], view: str = "full") -> list[dict[str, Any]]:
        self.ctx.authenticate()
        return self._ops().match_candidates(keys, view=view)

    @rpc
    def contact_kpis(self, period: str = "all") -> dict[str, Any]:
        self.ctx.authenticate()
        return self._ops().kpis(period)

    @rpc
    def list_companies(self, q: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        self.ctx.authenticate()
        return self._ops().companies(q, limit)

    @rpc
    def list_tags(self, q: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        self.ctx.authenticate()
        return self._ops().tags(q, limit)

    @rpc
    def export_contacts(self, filters: dict[str, Any] | None = None, sort: str | None = None) -> dict[str, Any]:
        self.ctx.caller.require(*ROLES)
        result = self._ops().export(filters, sort, quota=_export_quota())
        self._commit()
        return result

    # -- contacts: writes -----------------------------------------------------
    @rpc
    def create_contact(self, data: dict[str, Any]) -> dict[str, Any]:
        self.ctx.caller.require(*WRITERS)
        return self._idempotent("contacts.create_contact", lambda: self._ops().create(_obj(data)))

    @rpc
    def update_contact(self, contact_id: str, data: dict[str, Any],
                       expected_version: int | None = None) -> dict[str, Any]:
        self.ctx.caller.require(*WRITERS)
        result = self._ops().update(contact_id, _obj(data), expected_version)
        self._commit()
        return result

    @rpc
    def delete_contact(self, contact_id: str) -> dict[str, Any]:
        self.ctx.caller.require(*WRITERS)
        result = self._ops().delete(contact_id)
        self._commit()
        return result

    @rpc
    def set_stage(self, contact_id: str, stage: str) -> dict[str, Any]:
        self.ctx.caller.require(*WRITERS)
        result = self._ops().set_stage(contact_id, stage)
        self._commit()
        return result

    @rpc
    def add_tags(self, contact_ids: list[str], tags: list[str]) -> list[dict[str, Any]]:
        self.ctx.caller.require(*WRITERS)
        result = self._ops().add_tags(contact_ids, tags)
        self._commit()
        return result

    @rpc
    def remove_tags(self, contact_ids: list[str], tags: list[str]) -> list[dict[str, Any]]:
        self.ctx.caller.require(*WRITERS)
        result = self._ops().remove_tags(contact_ids, tags)
        self._commit()
        return result

    @rpc
    def assign_owner(self, contact_ids: list[str], owner_id: str) -> list[dict[str, Any]]:
        self.ctx.caller.require(*WRITERS)
        result = self._ops().assign_owner(contact_ids, owner_id)
        self._commit()
        return result

    @rpc
    def bulk_action(self, action: str, contact_ids: list[str] | None = None,
                    filters: dict[str, Any] | None = None, args: dict[str, Any] | None = None) -> dict[str, Any]:
        self.ctx.caller.require(*WRITERS)
        result = self._idempotent(f"contacts.bulk.{action}",
                                  lambda: self._ops().bulk(action, contact_ids, filters, args or {}))
        return result

    @rpc
    def check_writable(self, contact_ids: list[str], action: str) -> dict[str, Any]:
        """Which of these contacts may the caller act on (bulk actions carried out by other services)."""
        self.ctx.caller.require(*WRITERS)
        result = self._ops().check_writable(contact_ids, action)
        self._commit()
        return result

    @rpc
    def merge_contacts(self, primary_id: str, duplicate_ids: list[str],
                       fields: dict[str, str] | None = None) -> dict[str, Any]:
        self.ctx.caller.require(*WRITERS)
        return self._idempotent("contacts.merge", lambda: self._ops().merge(primary_id, duplicate_ids, fields))

    @rpc
    def add_activity(self, contact_id: str, type: str, title: str,
                     details: dict[str, Any] | None = None) -> dict[str, Any]:
        """For automation actions and other services: one timeline entry."""
        caller = self.ctx.caller.require(*WRITERS)
        ops = self._ops()
        contact = ops.load(contact_id, lock=True)
        if not type or not title or len(str(type)) > 40:
            raise ValidationFailed("Validation failed", {"fields": {"type": ["type (≤ 40) and title required"]}})
        entry = activity.add_activity(self.db, contact, str(type), str(title), details or {}, caller,
                                      source=caller.name or "api")
        self.db.flush()
        result = activity.activity_dict(entry)
        self._commit()
        return result

    # -- imports ------------------------------------------------------------
    @rpc
    def import_batch(self, import_id: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.ctx.caller.require(*WRITERS)
        result = import_ops.import_batch(self._ops(), import_id, rows)
        self._commit()
        return result

    @rpc
    def undo_import(self, import_id: str) -> dict[str, Any]:
        self.ctx.caller.require(*WRITERS)
        result = import_ops.undo_import(self._ops(), import_id)
        self._commit()
        return result

    @rpc
    def upsert_contacts(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """System only: demo and benchmark data, upserted by email."""
        result = import_ops.system_upsert(self._ops(), items)
        self._commit()
        return result

    # -- notes and activity -------------------------------------------------
    @rpc
    def list_notes(self, contact_id: str, page: int = 1, per_page: int = 20, q: str | None = None,
                   type: str | None = None, tag: str | None = None) -> dict[str, Any]:
        caller = self.ctx.authenticate()
        return notes.list_notes(self.db, caller, contact_id, page, per_page, q, type, tag)

    @rpc
    def add_note(self, contact_id: str, data: dict[str, Any]) -> dict[str, Any]:
        caller = self.ctx.caller.require(*WRITERS)
        return self._idempotent("contacts.add_note", lambda: notes.add_note(
            self.db, caller, contact_id, _obj(data), lambda t, d: self.outbox.add(self.db, t, d)))

    @rpc
    def update_note(self, note_id: str, data: dict[str, Any]) -> dict[str, Any]:
        caller = self.ctx.caller.require(*WRITERS)
        result = notes.update_note(self.db, caller, note_id, _obj(data))
        self._commit()
        return result

    @rpc
    def delete_note(self, note_id: str) -> dict[str, Any]:
        caller = self.ctx.caller.require(*WRITERS)
        result = notes.delete_note(self.db, caller, note_id)
        self._commit()
        return result

    @rpc
    def note_history(self, note_id: str) -> dict[str, Any]:
        self.ctx.authenticate()
        return notes.note_history(self.db, note_id)

    @rpc
    def list_activity(self, contact_id: str, page: int = 1, per_page: int = 20, type: str | None = None,
                      date_from: str | None = None, date_to: str | None = None,
                      user_id: str | None = None) -> dict[str, Any]:
        self.ctx.authenticate()
        start = operations._as_datetime(date_from, "from")
        end = operations._as_datetime(date_to, "to", end=True)
        return activity.list_activity(self.db, contact_id, int(page), int(per_page), type, start, end, user_id)

    @rpc
    def export_activity(self, contact_id: str, type: str | list[str] | None = None, date_from: str | None = None,
                        date_to: str | None = None, user_id: str | None = None) -> dict[str, Any]:
        self.ctx.caller.require(*ROLES)
        filters = {"type": type, "from": operations._as_datetime(date_from, "from"),
                   "to": operations._as_datetime(date_to, "to", end=True), "user_id": user_id}
        result = self._ops().export_activity(contact_id, filters, quota=_export_quota())
        self._commit()
        return result

    @rpc
    def stage_history(self, contact_id: str) -> list[dict[str, Any]]:
        self.ctx.authenticate()
        return activity.stage_history(self.db, contact_id)

    # -- audit --------------------------------------------------------------
    @rpc
    def list_audit(self, entity_id: str | None = None, action: str | None = None, actor_id: str | None = None,
                   page: int = 1, per_page: int = 50) -> dict[str, Any]:
        self.ctx.caller.require(ADMIN)
        return audit.list_entries(self.db, entity_id, action, actor_id, int(page), int(per_page))

    @rpc
    def verify_audit(self) -> dict[str, Any]:
        self.ctx.caller.require(ADMIN)
        return audit.verify(self.db)

    # -- events of the other services ---------------------------------------
    def _timeline(self, envelope: dict[str, Any], handler: str, type_: str, title: str,
                  details: dict[str, Any], email: str | None = None) -> Any:
        if not claim_event(self.db, envelope["event_id"], handler):
            return None
        data = envelope.get("data") or {}
        contact = activity.record_event(self.db, data.get("contact_id"), type_, title, details, envelope, email)
        self._commit()
        return contact

    @reliable_handler("messaging", "email_sent")
    def on_email_sent(self, envelope: dict[str, Any]) -> None:
        self._email(envelope, "contacts.on_email_sent")

    @reliable_handler("messaging", "email_delivered")
    def on_email_delivered(self, envelope: dict[str, Any]) -> None:
        self._email(envelope, "contacts.on_email_delivered")

    @reliable_handler("messaging", "email_opened")
    def on_email_opened(self, envelope: dict[str, Any]) -> None:
        self._email(envelope, "contacts.on_email_opened")

    @reliable_handler("messaging", "email_clicked")
    def on_email_clicked(self, envelope: dict[str, Any]) -> None:
        self._email(envelope, "contacts.on_email_clicked")

    @reliable_handler("messaging", "email_bounced")
    def on_email_bounced(self, envelope: dict[str, Any]) -> None:
        self._email(envelope, "contacts.on_email_bounced")

    @reliable_handler("messaging", "email_replied")
    def on_email_replied(self, envelope: dict[str, Any]) -> None:
        self._email(envelope, "contacts.on_email_replied")

    def _email(self, envelope: dict[str, Any], handler: str) -> None:
        title, details = activity.email_entry(envelope["event_type"], envelope.get("data") or {})
        self._timeline(envelope, handler, envelope["event_type"], title, details)

    @reliable_handler("messaging", "emails_sent")
    def on_emails_sent(self, envelope: dict[str, Any]) -> None:
        """A send batch (up to 1,000 ``email_sent`` bodies): the timeline entries and last contact dates
        of ``on_email_sent``, set-based in one transaction."""
        self._emails(envelope, "contacts.on_emails_sent", "email_sent")

    @reliable_handler("messaging", "emails_bounced")
    def on_emails_bounced(self, envelope: dict[str, Any]) -> None:
        self._emails(envelope, "contacts.on_emails_bounced", "email_bounced")

    @reliable_handler("messaging", "emails_opened")
    def on_emails_opened(self, envelope: dict[str, Any]) -> None:
        """A batch of first opens (the gateway's buffered pixel loads)."""
        self._emails(envelope, "contacts.on_emails_opened", "email_opened")

    def _emails(self, envelope: dict[str, Any], handler: str, event_type: str) -> None:
        if not claim_event(self.db, envelope["event_id"], handler):
            return
        entries = [(str(data.get("contact_id") or ""), *activity.email_entry(event_type, data), data.get("actor_id"))
                   for data in (envelope.get("data") or {}).get("emails") or []]
        activity.record_many(self.db, event_type, entries, envelope)
        self._commit()

    @reliable_handler("messaging", "unsubscribed")
    def on_unsubscribed(self, envelope: dict[str, Any]) -> None:
        if not claim_event(self.db, envelope["event_id"], "contacts.on_unsubscribed"):
            return
        data = envelope.get("data") or {}
        contact = activity.record_event(self.db, data.get("contact_id"), "unsubscribed", "Unsubscribed from email",
                                        {"source": data.get("source"), "email": data.get("email")}, envelope,
                                        data.get("email"))
        if contact is not None and not contact.unsubscribed:
            ops = self._ops(system=True)
            contact.unsubscribed = True
            ops.snapshot_event("contact_updated", contact, ["unsubscribed"])
            audit.append(self.db, ops.caller, "unsubscribed", "contact", contact.id, {"unsubscribed": False},
                         {"unsubscribed": True}, {"event_id": envelope["event_id"]})
        self._commit()

    @reliable_handler("messaging", "call_logged")
    def on_call_logged(self, envelope: dict[str, Any]) -> None:
        self._call(envelope, "contacts.on_call_logged", "Call")

    @reliable_handler("messaging", "call_scheduled")
    def on_call_scheduled(self, envelope: dict[str, Any]) -> None:
        self._call(envelope, "contacts.on_call_scheduled", "Call scheduled")

    def _call(self, envelope: dict[str, Any], handler: str, label: str) -> None:
        data = envelope.get("data") or {}
        title = f"{label}: {data.get('purpose', '')} ({data.get('status', '')})"
        details = {k: data.get(k) for k in ("call_id", "purpose", "status", "duration_s")}
        self._timeline(envelope, handler, envelope["event_type"], title, details)

    @reliable_handler("messaging", "campaign_enrolled")
    def on_campaign_enrolled(self, envelope: dict[str, Any]) -> None:
        data = envelope.get("data") or {}
        self._timeline(envelope, "contacts.on_campaign_enrolled", "campaign_enrolled",
                       f"Added to campaign {data.get('campaign_name', '')}",
                       {"campaign_id": data.get("campaign_id"), "campaign_name": data.get("campaign_name")})

    @reliable_handler("messaging", "campaign_unenrolled")
    def on_campaign_unenrolled(self, envelope: dict[str, Any]) -> None:
        data = envelope.get("data") or {}
        self._timeline(envelope, "contacts.on_campaign_unenrolled", "campaign_unenrolled",
                       f"Removed from campaign {data.get('campaign_name', '')}",
                       {"campaign_id": data.get("campaign_id"), "campaign_name": data.get("campaign_name")})

    @reliable_handler("segments", "segment_membership_changed")
    def on_segment_membership_changed(self, envelope: dict[str, Any]) -> None:
        data = envelope.get("data") or {}
        change = str(data.get("change", "changed"))
        reason = str(data["reason"]) if data.get("reason") else None
        self._timeline(envelope, "contacts.on_segment_membership_changed", f"segment_{change}"[:40],
                       rules.membership_title(change, str(data.get("segment_name") or ""), reason),
                       {"segment_id": data.get("segment_id"), "segment_name": data.get("segment_name"),
                        "manual": data.get("manual"), "reason": reason})

    @reliable_handler("scoring", "score_changed")
    def on_score_changed(self, envelope: dict[str, Any]) -> None:
        """Keeps ``score`` current (no contact_updated: scoring already told everyone)."""
        self._record_scores(envelope, "contacts.on_score_changed", [envelope.get("data") or {}])

    @reliable_handler("scoring", "scores_changed")
    def on_scores_changed(self, envelope: dict[str, Any]) -> None:
        """The batch form (contacts scored in bulk: an import's chunk, the 4-hourly rescore)."""
        self._record_scores(envelope, "contacts.on_scores_changed", (envelope.get("data") or {}).get("changes") or [])

    def _record_scores(self, envelope: dict[str, Any], handler: str, changes: list[dict[str, Any]]) -> None:
        if not claim_event(self.db, envelope["event_id"], handler):
            return
        if activity.record_scores(self.db, changes, envelope):
            operations.invalidate_kpis()
        self._commit()

    @reliable_handler("scoring", "hot_lead_detected")
    def on_hot_lead_detected(self, envelope: dict[str, Any]) -> None:
        """The hot-lead alert fired: the timeline shows when and why, with the urgency of the next step."""
        data = envelope.get("data") or {}
        signals = [str(signal) for signal in data.get("signals") or []][:5]
        self._timeline(envelope, "contacts.on_hot_lead_detected", "hot_lead_detected",
                       f"Hot lead detected: score {data.get('score')}, act within {data.get('urgency')}",
                       {"score": data.get("score"), "urgency": data.get("urgency"), "signals": signals})

    @reliable_handler("imports", "import_completed")
    def on_import_completed(self, envelope: dict[str, Any]) -> None:
        if not claim_event(self.db, envelope["event_id"], "contacts.on_import_completed"):
            return
        data = envelope.get("data") or {}
        activity.import_activity(self.db, envelope, data)
        self._commit()

    @reliable_handler("imports", "form_data_imported")
    def on_form_data_imported(self, envelope: dict[str, Any]) -> None:
        if not claim_event(self.db, envelope["event_id"], "contacts.on_form_data_imported"):
            return
        data = envelope.get("data") or {}
        import_ops.apply_form_tags(self._ops(system=True), data.get("contact_id"), data.get("fields") or {})
        self._commit()


def _obj(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationFailed("Validation failed", {"fields": {"data": ["must be an object"]}})
    return data


def _export_quota() -> int:
    return int(os.environ.get("CRM_EXPORT_HOURLY_QUOTA", operations.EXPORT_HOURLY_QUOTA))
