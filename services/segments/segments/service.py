"""Entrypoints of the segments service: translate, call one operation, return."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from nameko.rpc import RpcProxy
from nameko.timer import timer

from crm_shared.auth import ADMIN
from crm_shared.criteria import validate_criteria
from crm_shared.db import Database
from crm_shared.errors import ValidationFailed
from crm_shared.reliability import (
    EventOutbox,
    claim_event,
    load_idempotent_result,
    reliable_handler,
    store_idempotent_result,
)
from crm_shared.service import Context, ServiceBase, rpc
from segments import membership, operations, projection, sync
from segments.erasure import ErasureMixin

log = logging.getLogger(__name__)
REFRESH_SECONDS = float(os.environ.get("CRM_SEGMENTS_REFRESH_SECONDS", "86400"))
SAMPLE_MAX = 50


class SegmentsService(ErasureMixin, ServiceBase):
    name = "segments"

    db = Database("segments")
    outbox = EventOutbox()
    ctx = Context()
    contacts = RpcProxy("contacts")

    # -- definitions -----------------------------------------------------
    @rpc
    def list_segments(self, q: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        self.ctx.authenticate()
        return operations.list_segments(self.db, q, kind)

    @rpc
    def get_segment(self, segment_id: str) -> dict[str, Any]:
        self.ctx.authenticate()
        return operations.get_segment(self.db, segment_id)

    @rpc
    def create_segment(self, data: dict[str, Any]) -> dict[str, Any]:
        caller = self.ctx.caller
        scope = "segments.create_segment"
        stored = load_idempotent_result(self.db, self.ctx.idempotency_key, scope)
        if stored is not None:
            return stored
        segment, refresh = operations.create_segment(self.db, caller, data)
        result = {**operations.get_segment(self.db, segment.id), "refresh": refresh}
        store_idempotent_result(self.db, self.ctx.idempotency_key, scope, result)
        self.db.commit()
        return result

    @rpc
    def update_segment(self, segment_id: str, data: dict[str, Any]) -> dict[str, Any]:
        segment, refresh = operations.update_segment(self.db, self.ctx.caller, segment_id, data)
        result = {**operations.get_segment(self.db, segment.id), "refresh": refresh}
        self.db.commit()
        return result

    @rpc
    def delete_segment(self, segment_id: str) -> dict[str, Any]:
        result = operations.delete_segment(self.db, self.ctx.caller, segment_id)
        self.db.commit()
        return result

    @rpc
    def refresh_segment(self, segment_id: str) -> dict[str, Any]:
        result = operations.refresh(self.db, self.ctx.caller, segment_id)
        self.db.commit()
        return result

    @rpc
    def refresh_all(self) -> dict[str, Any]:
        """The daily refresh on demand (marketing/admin)."""
        self.ctx.caller.require(*operations.MANAGERS)
        return sync.refresh_all(self.db, min_age_seconds=0)

    @rpc
    def preview(self, criteria: dict[str, Any], sample_size: int = 10) -> dict[str, Any]:
        """Count and sample for criteria before saving; errors name the bad part of the criteria."""
        self.ctx.authenticate()
        if isinstance(sample_size, bool) or not isinstance(sample_size, int) or not 0 <= sample_size <= SAMPLE_MAX:
            raise ValidationFailed("Validation failed",
                                   {"fields": {"sample_size": [f"a whole number from 0 to {SAMPLE_MAX}"]}})
        tree = validate_criteria(criteria)
        return {**membership.preview(self.db, tree, sample_size), "criteria": tree}

    # -- templates -------------------------------------------------------
    @rpc
    def list_templates(self) -> list[dict[str, Any]]:
        self.ctx.authenticate()
        return operations.list_templates(self.db)

    @rpc
    def save_template(self, data: dict[str, Any]) -> dict[str, Any]:
        result = operations.save_template(self.db, self.ctx.caller, data)
        self.db.commit()
        return result

    @rpc
    def delete_template(self, template_id: str) -> dict[str, Any]:
        result = operations.delete_template(self.db, self.ctx.caller, template_id)
        self.db.commit()
        return result

    # -- members ---------------------------------------------------------
    @rpc
    def add_members(self, segment_id: str, contact_ids: list[str]) -> dict[str, Any]:
        """Manual additions (also the contact list's bulk "add_to_segment")."""
        caller = self.ctx.caller.require(*operations.ADDERS)
        scope = f"segments.add_members:{segment_id}"
        stored = load_idempotent_result(self.db, self.ctx.idempotency_key, scope)
        if stored is not None:
            return stored
        ids = operations.clean_ids(contact_ids)
        known = sync.ensure_known(self.db, self.contacts, ids)
        result, _ = operations.add_members(self.db, caller, segment_id, ids, known)
        store_idempotent_result(self.db, self.ctx.idempotency_key, scope, result)
        self.db.commit()
        return result

    @rpc
    def remove_members(self, segment_id: str, contact_ids: list[str]) -> dict[str, Any]:
        result, _ = operations.remove_members(self.db, self.ctx.caller, segment_id, contact_ids)
        self.db.commit()
        return result

    @rpc
    def list_members(self, segment_id: str, page: int = 1, per_page: int = 50, manual: bool | None = None,
                     qualifies: bool | None = None) -> dict[str, Any]:
        self.ctx.authenticate()
        return operations.list_members(self.db, segment_id, page, per_page, manual, qualifies)

    @rpc
    def member_ids(self, segment_id: str) -> list[str]:
        self.ctx.authenticate()
        return operations.member_ids(self.db, segment_id)

    @rpc
    def contact_memberships(self, contact_id: str) -> list[dict[str, Any]]:
        self.ctx.authenticate()
        return operations.contact_memberships(self.db, contact_id)

    @rpc
    def contact_segment_options(self, contact_id: str) -> list[dict[str, Any]]:
        self.ctx.authenticate()
        return operations.contact_segment_options(self.db, contact_id)

    # -- projection ------------------------------------------------------
    @rpc
    def rebuild_projection(self, page_size: int = 1000) -> dict[str, Any]:
        """Re-read every contact from the contacts service, drop vanished ones, refresh all segments."""
        self.ctx.caller.require(ADMIN)
        return sync.rebuild_projection(self.db, self.contacts, page_size)

    @timer(interval=REFRESH_SECONDS, eager=False)
    def daily_refresh(self) -> None:
        """Seed 000: segments update every 24 hours (time-based criteria such as "within 7 days")."""
        result = sync.refresh_all(self.db, min_age_seconds=REFRESH_SECONDS / 2)
        self.outbox.flush()
        log.info("segments refreshed", extra={"segments": len(result["segments"])})

    # -- events ----------------------------------------------------------
    def _apply(self, envelope: dict[str, Any], handler: str, apply: Callable[[dict[str, Any]], list[str]]) -> None:
        """Claim the event, apply it to the projection, re-evaluate the contacts it changed, commit once.

        The contacts go to ``evaluate_contacts`` together: a batch event's
        thousand contacts cost a few statements, not three queries each.
        """
        if not claim_event(self.db, envelope["event_id"], f"segments.{handler}"):
            return
        contact_ids = apply(envelope["data"]) or []
        changes = membership.evaluate_contacts(self.db, contact_ids) if contact_ids else []
        self.db.commit()
        if len(contact_ids) > 1:
            log.info("segments evaluated", extra={"handler": handler, "event_id": envelope["event_id"],
                                                  "contacts": len(contact_ids), "changes": len(changes)})

    @reliable_handler("contacts", "contact_created")
    def on_contact_created(self, envelope: dict[str, Any]) -> None:
        self._apply(envelope, "on_contact_created",
                    lambda data: projection.apply_snapshots(self.db, [data["contact"]]))

    @reliable_handler("contacts", "contacts_created")
    def on_contacts_created(self, envelope: dict[str, Any]) -> None:
        """An import's chunk: every snapshot upserted, then all the new contacts evaluated together."""
        self._apply(envelope, "on_contacts_created", self._batch_snapshots)

    @reliable_handler("contacts", "contact_updated")
    def on_contact_updated(self, envelope: dict[str, Any]) -> None:
        self._apply(envelope, "on_contact_updated",
                    lambda data: projection.apply_snapshots(self.db, [data["contact"]]))

    @reliable_handler("contacts", "contacts_updated")
    def on_contacts_updated(self, envelope: dict[str, Any]) -> None:
        """An import's merges: every changed snapshot upserted, then those contacts evaluated together."""
        self._apply(envelope, "on_contacts_updated", self._batch_snapshots)

    def _batch_snapshots(self, data: dict[str, Any]) -> list[str]:
        """A batch event's snapshots (``contacts_created``/``contacts_updated``) upserted together."""
        return projection.apply_snapshots(self.db, [item["contact"] for item in data["contacts"]])

    @reliable_handler("contacts", "contact_deleted")
    def on_contact_deleted(self, envelope: dict[str, Any]) -> None:
        self._apply(envelope, "on_contact_deleted", lambda data: sync.forget(self.db, [data["contact_id"]]))

    @reliable_handler("contacts", "contacts_merged")
    def on_contacts_merged(self, envelope: dict[str, Any]) -> None:
        self._apply(envelope, "on_contacts_merged", lambda data: sync.merge(self.db, data))

    @reliable_handler("contacts", "stage_changed")
    def on_stage_changed(self, envelope: dict[str, Any]) -> None:
        self._apply(envelope, "on_stage_changed",
                    lambda data: [data["contact_id"]]
                    if projection.apply_stage(self.db, data["contact_id"], data["to_stage"]) else [])

    @reliable_handler("scoring", "score_changed")
    def on_score_changed(self, envelope: dict[str, Any]) -> None:
        self._apply(envelope, "on_score_changed",
                    lambda data: [data["contact_id"]]
                    if projection.apply_score(self.db, data, envelope.get("occurred_at")) else [])

    @reliable_handler("scoring", "scores_changed")
    def on_scores_changed(self, envelope: dict[str, Any]) -> None:
        """Bulk scoring (new imports, the 4-hourly rescore): every score applied, then the contacts evaluated."""
        self._apply(envelope, "on_scores_changed",
                    lambda data: projection.apply_scores(self.db, data["changes"], envelope.get("occurred_at")))

    @reliable_handler("scoring", "engagement_recorded")
    def on_engagement_recorded(self, envelope: dict[str, Any]) -> None:
        self._apply(envelope, "on_engagement_recorded", lambda data: self._engagements([data]))

    @reliable_handler("scoring", "engagements_recorded")
    def on_engagements_recorded(self, envelope: dict[str, Any]) -> None:
        """A batch of engagement events (a send batch, a batch of opens): applied, then evaluated together."""
        self._apply(envelope, "on_engagements_recorded", lambda data: self._engagements(data["engagements"]))

    def _engagements(self, items: list[dict[str, Any]]) -> list[str]:
        return projection.apply_engagements(self.db, [(d["contact_id"], d["type"], d.get("occurred_at"))
                                                      for d in items])

    @reliable_handler("messaging", "email_opened")
    def on_email_opened(self, envelope: dict[str, Any]) -> None:
        self._apply(envelope, "on_email_opened", lambda data: self._opens([data], envelope))

    @reliable_handler("messaging", "emails_opened")
    def on_emails_opened(self, envelope: dict[str, Any]) -> None:
        """A batch of first opens (the gateway's buffered pixel loads)."""
        self._apply(envelope, "on_emails_opened", lambda data: self._opens(data["emails"], envelope))

    def _opens(self, items: list[dict[str, Any]], envelope: dict[str, Any]) -> list[str]:
        return projection.apply_engagements(self.db, [(d["contact_id"], "email_opened", envelope.get("occurred_at"))
                                                      for d in items])

    @reliable_handler("messaging", "campaign_enrolled")
    def on_campaign_enrolled(self, envelope: dict[str, Any]) -> None:
        self._apply(envelope, "on_campaign_enrolled",
                    lambda data: [data["contact_id"]]
                    if projection.apply_campaign(self.db, data["contact_id"], data["campaign_id"],
                                                 data.get("campaign_name", ""), True) else [])

    @reliable_handler("messaging", "campaign_unenrolled")
    def on_campaign_unenrolled(self, envelope: dict[str, Any]) -> None:
        self._apply(envelope, "on_campaign_unenrolled",
                    lambda data: [data["contact_id"]]
                    if projection.apply_campaign(self.db, data["contact_id"], data["campaign_id"],
                                                 data.get("campaign_name", ""), False) else [])
