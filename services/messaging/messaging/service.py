"""Entrypoints of the messaging service: translate, call one operation, return.

RPCs check the caller and commit; the rules live in ``templates``, ``sending``,
``tracking``, ``campaigns``, ``calls`` and ``history``. Timers do the
background work (sending, campaign steps, follow-up reminders); every one of
them claims its rows with ``SKIP LOCKED`` so several replicas can run.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import eventlet
from nameko.rpc import RpcProxy
from nameko.timer import timer

from crm_shared.auth import ADMIN, MARKETING, SALES
from crm_shared.config import public_base_url, smtp_settings
from crm_shared.db import Database
from crm_shared.errors import NotFound
from crm_shared.events import validate_event_data
from crm_shared.reliability import (
    EventOutbox,
    claim_event,
    load_idempotent_result,
    make_envelope,
    reliable_handler,
    store_idempotent_result,
)
from crm_shared.reliability import outbox as outbox_table
from crm_shared.service import Context, ServiceBase, rpc
from messaging import calls, campaigns, history, limits, sending, templates, tracking
from messaging.erasure import ErasureMixin
from messaging.inputs import parse_datetimes

log = logging.getLogger(__name__)

WRITERS = (ADMIN, MARKETING, SALES)
MARKETERS = (ADMIN, MARKETING)
SEND_BUDGET_S = 20.0


class MessagingService(ErasureMixin, ServiceBase):
    name = "messaging"

    db = Database("messaging", pool_size=20)
    outbox = EventOutbox()
    ctx = Context()
    contacts = RpcProxy("contacts")

    # -- helpers ----------------------------------------------------------------
    def _emit(self, event_type: str, data: dict[str, Any]) -> None:
        self.outbox.add(self.db, event_type, data)

    def _emit_many(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Many events in one INSERT (a bulk send emits one per recipient)."""
        if events:
            rows = []
            for event_type, data in events:
                envelope = make_envelope(self.name, event_type, validate_event_data(self.name, event_type, data))
                rows.append({"event_id": envelope["event_id"], "source": self.name, "event_type": event_type,
                             "envelope": envelope})
            self.db.execute(outbox_table.insert(), rows)

    def _once(self, scope: str, action: Callable[[], Any]) -> Any:
        """Run a mutating action at most once per idempotency key (RELIABILITY M1)."""
        key = self.ctx.idempotency_key
        stored = load_idempotent_result(self.db, key, f"messaging.{scope}")
        if stored is not None:
            return stored
        result = action()
        store_idempotent_result(self.db, key, f"messaging.{scope}", result)
        self.db.commit()
        return result

    def _contact(self, contact_id: str) -> dict[str, Any]:
        found = self.contacts.get_contacts([contact_id]) or []
        if not found:
            raise NotFound("contact not found", {"contact_id": contact_id})
        return found[0]

    # -- templates --------------------------------------------------------------
    @rpc
    def list_templates(self, filters: dict | None = None, page: int = 1, per_page: int = 50) -> dict[str, Any]:
        self.ctx.authenticate()
        filters = filters or {}
        return templates.list_templates(self.db, filters.get("category"), filters.get("q"), page, per_page)

    @rpc
    def get_template(self, template_id: str) -> dict[str, Any]:
        self.ctx.authenticate()
        return templates.read(self.db, template_id)

    @rpc
    def create_template(self, data: dict[str, Any]) -> dict[str, Any]:
        caller = self.ctx.caller.require(*MARKETERS)
        return self._once("create_template", lambda: templates.create(self.db, caller, data))

    @rpc
    def update_template(self, template_id: str, data: dict[str, Any]) -> dict[str, Any]:
        self.ctx.caller.require(*MARKETERS)
        result = templates.update(self.db, template_id, data)
        self.db.commit()
        return result

    @rpc
    def delete_template(self, template_id: str) -> None:
        self.ctx.caller.require(*MARKETERS)
        templates.delete(self.db, template_id)
        self.db.commit()

    @rpc
    def preview_template(self, template_id: str, contact_id: str, subject: str | None = None,
                         body: str | None = None) -> dict[str, Any]:
        caller = self.ctx.authenticate()
        template = templates.get(self.db, template_id)
        contact = self._contact(contact_id)
        result = templates.preview(template.subject, template.body, contact, caller.name, caller.email,
                                   subject, body)
        result["unsubscribed"] = result["unsubscribed"] or bool(
            sending.suppressed(self.db, [contact.get("email") or ""], [contact_id]))
        result["template_id"] = template.id
        return result

    # -- sending ----------------------------------------------------------------
    @rpc
    def send_emails(self, data: dict[str, Any]) -> dict[str, Any]:
        """Single or bulk send: queued at once, sent by the sender timer (202 at the gateway)."""
        caller = self.ctx.caller.require(*WRITERS)
        data = parse_datetimes(data, ("send_at",))
        return self._once("send_emails", lambda: sending.enqueue(self.db, caller, self.contacts, data))

    @rpc
    def send_template_email(self, template_id: str, contact_ids: list[str]) -> dict[str, Any]:
        """For automation rules and bulk actions: send a template to contacts."""
        caller = self.ctx.caller.require(*WRITERS)
        data = {"template_id": template_id, "contact_ids": contact_ids}
        return self._once("send_template_email", lambda: sending.enqueue(self.db, caller, self.contacts, data))

    @rpc
    def get_send_job(self, job_id: str) -> dict[str, Any]:
        self.ctx.authenticate()
        return sending.job_status(self.db, job_id)

    @rpc
    def send_cap(self) -> dict[str, Any]:
        """The daily send cap and what is left of it today (RELIABILITY A7)."""
        self.ctx.authenticate()
        return limits.status(self.db)

    @rpc
    def set_send_cap(self, cap: int | None) -> dict[str, Any]:
        """Admins change the organisation's daily send cap (None: back to CRM_DAILY_SEND_CAP)."""
        caller = self.ctx.caller.require(ADMIN)
        result = limits.set_cap(self.db, cap, caller.user_id)
        self.db.commit()
        return result

    # -- tracking (public endpoints; the token is the authorisation) ---------------
    @rpc
    def track_opens(self, tokens: list[str]) -> int:
        """Open-pixel loads, batched by the gateway; returns how many messages they matched."""
        matched = tracking.record_opens(self.db, list(tokens)[:5000], self._emit_many)
        self.db.commit()
        if matched:
            self.outbox.flush()
        return matched

    @rpc
    def track_click(self, token: str) -> str | None:
        url = tracking.record_click(self.db, token, self._emit)
        self.db.commit()
        return url

    @rpc
    def unsubscribe_page(self, token: str) -> dict[str, Any]:
        return tracking.unsubscribe_page(self.db, token)

    @rpc
    def unsubscribe(self, token: str, source: str = "one_click") -> dict[str, Any]:
        result = tracking.unsubscribe(self.db, token, self._emit, source=source)
        self.db.commit()
        return result

    @rpc
    def unsubscribe_contact(self, contact_id: str, source: str = "manual") -> dict[str, Any]:
        """A user records that a contact asked to stop receiving email (phone, letter...)."""
        caller = self.ctx.caller.require(*WRITERS)
        contact = self._contact(contact_id)
        caller.require_owner(contact.get("owner_id"))
        if not contact.get("email"):
            raise NotFound("the contact has no email address")
        first = tracking.unsubscribe_address(self.db, contact["email"], contact_id, source, self._emit,
                                             actor_id=caller.user_id)
        self.db.commit()
        return {"contact_id": contact_id, "unsubscribed": True, "already": not first}

    @rpc
    def list_consents(self, contact_id: str) -> list[dict[str, Any]]:
        self.ctx.authenticate()
        return sending.consents_of(self.db, contact_id)

    @rpc
    def record_consent(self, contact_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """A consent given or withdrawn, with its source and consent-text version (G2)."""
        caller = self.ctx.caller.require(*WRITERS)
        contact = self._contact(contact_id)
        caller.require_owner(contact.get("owner_id"))
        return self._once("record_consent", lambda: tracking.record_consent(
            self.db, contact, data, self._emit, caller.user_id))

    @rpc
    def inbound(self, data: dict[str, Any]) -> dict[str, Any]:
        self.ctx.caller.require(*WRITERS)
        data = parse_datetimes(data, ("received_at",))
        return self._once("inbound", lambda: tracking.inbound(self.db, data, self._emit))

    @rpc
    def record_email(self, data: dict[str, Any]) -> dict[str, Any]:
        """Log an email exchanged outside the CRM (admins, the demo loader); nothing is sent."""
        self.ctx.caller.require(ADMIN)
        data = parse_datetimes(data, ("occurred_at",))
        return self._once("record_email", lambda: history.record_email(self.db, data))

    # -- campaigns --------------------------------------------------------------
    @rpc
    def list_campaigns(self, filters: dict | None = None, page: int = 1, per_page: int = 50) -> dict[str, Any]:
        self.ctx.authenticate()
        return campaigns.list_campaigns(self.db, filters or {}, page, per_page)

    @rpc
    def get_campaign(self, campaign_id: str) -> dict[str, Any]:
        self.ctx.authenticate()
        return campaigns.read(self.db, campaign_id)

    @rpc
    def create_campaign(self, data: dict[str, Any]) -> dict[str, Any]:
        caller = self.ctx.caller.require(*MARKETERS)
        data = parse_datetimes(data, (), dates=("start_date", "end_date"))
        return self._once("create_campaign", lambda: campaigns.create(self.db, caller, data))

    @rpc
    def update_campaign(self, campaign_id: str, data: dict[str, Any]) -> dict[str, Any]:
        caller = self.ctx.caller.require(*MARKETERS)
        data = parse_datetimes(data, (), dates=("start_date", "end_date"))
        result = campaigns.update(self.db, caller, campaign_id, data)
        self.db.commit()
        return result

    @rpc
    def enroll(self, campaign_id: str, contact_ids: list[str] | None = None,
               filter: dict | None = None) -> dict[str, Any]:  # noqa: A002 (the API's name)
        caller = self.ctx.caller.require(*WRITERS)
        ids = list(contact_ids or [])
        if not ids and filter is not None:
            ids = self.contacts.resolve_filter_ids(filter, limit=campaigns.MAX_ENROLL)
        return self._once(f"enroll:{campaign_id}", lambda: campaigns.enroll(
            self.db, caller, self.contacts, campaign_id, ids, self._emit))

    @rpc
    def unenroll(self, campaign_id: str, contact_ids: list[str]) -> dict[str, Any]:
        caller = self.ctx.caller.require(*MARKETERS)
        result = campaigns.unenroll(self.db, caller, campaign_id, contact_ids, self._emit)
        self.db.commit()
        return result

    @rpc
    def list_enrollments(self, campaign_id: str, page: int = 1, per_page: int = 50) -> dict[str, Any]:
        self.ctx.authenticate()
        return campaigns.list_enrollments(self.db, campaign_id, page, per_page)

    @rpc
    def contact_campaigns(self, contact_id: str) -> list[dict[str, Any]]:
        self.ctx.authenticate()
        return campaigns.contact_campaigns(self.db, contact_id)

    # -- calls and follow-ups ------------------------------------------------------
    @rpc
    def call_purposes(self) -> list[dict[str, Any]]:
        self.ctx.authenticate()
        return calls.purposes()

    @rpc
    def log_call(self, data: dict[str, Any]) -> dict[str, Any]:
        caller = self.ctx.caller.require(*WRITERS)
        data = parse_datetimes(data, ("scheduled_at", "occurred_at"), nested={"follow_up": ("due_at",)})
        contact = self._contact(str(data.get("contact_id") or ""))
        return self._once("log_call", lambda: calls.log_call(self.db, caller, contact, data, self._emit))

    @rpc
    def update_call(self, call_id: str, data: dict[str, Any]) -> dict[str, Any]:
        caller = self.ctx.caller.require(*WRITERS)
        data = parse_datetimes(data, ("scheduled_at", "occurred_at"), nested={"follow_up": ("due_at",)})
        contact = self._contact(calls.get_call(self.db, call_id).contact_id)
        result = calls.update_call(self.db, caller, contact, call_id, data, self._emit)
        self.db.commit()
        return result

    @rpc
    def list_calls(self, contact_id: str | None = None, status: str | None = None, page: int = 1,
                   per_page: int = 50) -> dict[str, Any]:
        self.ctx.authenticate()
        return calls.list_calls(self.db, contact_id, status, page, per_page)

    @rpc
    def create_follow_up(self, data: dict[str, Any]) -> dict[str, Any]:
        caller = self.ctx.caller.require(*WRITERS)
        data = parse_datetimes(data, ("due_at",))
        contact = self._contact(str(data["contact_id"])) if data.get("contact_id") else None
        return self._once("create_follow_up", lambda: calls.create_follow_up(self.db, caller, contact, data))

    @rpc
    def update_follow_up(self, follow_up_id: str, data: dict[str, Any]) -> dict[str, Any]:
        caller = self.ctx.caller.require(*WRITERS)
        data = parse_datetimes(data, ("due_at",))
        result = calls.update_follow_up(self.db, caller, follow_up_id, data)
        self.db.commit()
        return result

    @rpc
    def list_follow_ups(self, filters: dict | None = None, page: int = 1, per_page: int = 50) -> dict[str, Any]:
        caller = self.ctx.authenticate()
        return calls.list_follow_ups(self.db, caller, filters or {}, page, per_page)

    @rpc
    def contact_follow_ups(self, contact_id: str) -> list[dict[str, Any]]:
        caller = self.ctx.authenticate()
        return calls.list_follow_ups(self.db, caller, {"contact_id": contact_id}, 1, 200)["items"]

    # -- history ---------------------------------------------------------------
    @rpc
    def list_communications(self, contact_id: str, page: int = 1, per_page: int = 25, type: str | None = None,
                            q: str | None = None, filters: dict | None = None) -> dict[str, Any]:  # noqa: A002
        self.ctx.authenticate()
        filters = parse_datetimes(filters or {}, ("from", "to"))
        return history.list_communications(self.db, contact_id, page, per_page, type, q, filters)

    # -- facts from contacts ------------------------------------------------------
    @reliable_handler("contacts", "contact_deleted")
    def on_contact_deleted(self, envelope: dict[str, Any]) -> None:
        if not claim_event(self.db, envelope["event_id"], "messaging.on_contact_deleted"):
            return
        tracking.forget_contact(self.db, envelope["data"]["contact_id"])
        self.db.commit()

    @reliable_handler("contacts", "contacts_merged")
    def on_contacts_merged(self, envelope: dict[str, Any]) -> None:
        if not claim_event(self.db, envelope["event_id"], "messaging.on_contacts_merged"):
            return
        data = envelope["data"]
        tracking.merge_contacts(self.db, data["primary_id"], list(data.get("merged_ids") or []))
        self.db.commit()

    # -- background work ---------------------------------------------------------
    @timer(interval=0.5)
    def send_queued(self) -> None:
        """Send whatever is due, for up to SEND_BUDGET_S, four SMTP connections at a time."""
        started = time.monotonic()
        pool = eventlet.GreenPool(4)
        settings, base_url = smtp_settings(), public_base_url()
        while time.monotonic() - started < SEND_BUDGET_S:
            handled = sending.process_batch(self.db, self.contacts, settings, base_url, self._emit_many,
                                            limit=400, chunk=100, map_fn=pool.imap)
            if handled:
                eventlet.spawn_n(self.outbox.flush)  # publish while the next batch is sent
            if handled < 400:
                break

    @timer(interval=1)
    def run_campaign_steps(self) -> None:
        if campaigns.run_due_steps(self.db):
            self.outbox.flush()

    @timer(interval=1)
    def follow_up_reminders(self) -> None:
        if calls.send_due_reminders(self.db, self._emit):
            self.outbox.flush()

    @timer(interval=60)
    def expire_stuck_sends(self) -> None:
        if sending.expire_stuck(self.db):
            log.warning("messages left mid-send by a crash were marked failed (not re-sent)")
