"""Entrypoints of the scoring service: translate, call one operation, return.

Rules are evaluated only in event handlers and timers, so their actions run
with the system's identity, never with the rights of whoever caused them.
"""
from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import eventlet
import sqlalchemy as sa
from nameko.rpc import RpcProxy
from nameko.timer import timer

from crm_shared.auth import ADMIN, ROLES, WRITERS
from crm_shared.criteria import to_datetime
from crm_shared.db import Database
from crm_shared.errors import CrmError, NotFound, ValidationFailed
from crm_shared.events import BATCH_EVENT_LIMIT
from crm_shared.reliability import (
    EventOutbox,
    claim_event,
    load_idempotent_result,
    reliable_handler,
    store_idempotent_result,
)
from crm_shared.service import Context, ServiceBase, rpc
from scoring import automation, bulk, operations
from scoring.erasure import ErasureMixin
from scoring.models import ContactProfile, JobRun, Rule
from scoring.signals import HOT_STAGE

log = logging.getLogger(__name__)

RULE_TICK_SECONDS = float(os.environ.get("CRM_SCORING_RULE_TICK_SECONDS", "10"))
TIME_SWEEP_SECONDS = float(os.environ.get("CRM_SCORING_TIME_SWEEP_SECONDS", "30"))
RESCORE_CHECK_SECONDS = float(os.environ.get("CRM_SCORING_RESCORE_CHECK_SECONDS", "60"))
ACTION_TIMEOUT = 15
HOT_DETAIL_LIMIT = 1000
BATCH_MAX = 1000
RESCORE_LOCK = 0x5C0_2E  # pg advisory lock: one full rescore at a time across instances
RULES_LOCK = 0x5C0_2F

# messaging facts that are engagement (type here, type there)
MESSAGING_EVENTS = {"email_opened": "email_opened", "email_clicked": "email_clicked",
                    "email_replied": "email_replied", "email_sent": "email_sent",
                    "unsubscribed": "unsubscribed", "call_logged": "call_logged",
                    "campaign_enrolled": "campaign_enrolled"}
FORM_FLAGS = {"subscribed": "subscribed", "newsletter": "subscribed", "schedule_demo": "demo_scheduled",
              "demo": "demo_requested", "demo_requested": "demo_requested", "request_demo": "demo_requested"}


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("yes", "true", "1", "y", "x", "subscribed")


def _failed(result: Any) -> str | None:
    """Bulk RPCs answer per id; find a refusal inside an otherwise successful answer."""
    items = result if isinstance(result, list) else (result.get("results") or result.get("items") or [result]
                                                      if isinstance(result, dict) else [])
    for item in items:
        if isinstance(item, dict):
            if item.get("ok") is False or item.get("error") or \
                    str(item.get("outcome") or item.get("status") or "").lower() in ("failed", "refused", "error"):
                return str(item.get("error") or item.get("reason") or item.get("outcome") or "refused")
    return None


class ScoringService(ErasureMixin, ServiceBase):
    name = "scoring"

    db = Database("scoring")
    outbox = EventOutbox()
    ctx = Context()
    contacts = RpcProxy("contacts")
    messaging = RpcProxy("messaging")

    # -- helpers ----------------------------------------------------------------------------
    def _publish(self, event_type: str, data: dict[str, Any]) -> None:
        self.outbox.add(self.db, event_type, data)

    def _profile(self, contact_id: str) -> ContactProfile:
        """The projected contact; fetched from contacts when an event has not arrived yet."""
        profile = operations.profile_or_none(self.db, str(contact_id))
        if profile is not None:
            return profile
        try:
            with eventlet.Timeout(5):
                contact = self.contacts.get_contact(str(contact_id))
        except NotFound as exc:
            raise NotFound("no such contact", {"contact_id": contact_id}) from exc
        except eventlet.Timeout as exc:
            raise NotFound("contact not known to scoring yet", {"contact_id": contact_id}) from exc
        profile = operations.upsert_profile(self.db, contact)
        if profile is None:
            raise NotFound("no such contact", {"contact_id": contact_id})
        return profile

    def _profile_by_email(self, email: str) -> ContactProfile:
        """By email from the projection, else from contacts (a contact created a moment ago)."""
        profile = operations.find_by_email(self.db, email)
        if profile is not None:
            return profile
        with eventlet.Timeout(5, False):
            wanted = email.strip().lower()
            for contact in self.contacts.match_candidates({"emails": [wanted]}):
                if str(contact.get("email") or "").strip().lower() == wanted:
                    profile = operations.upsert_profile(self.db, contact)
                    if profile is not None:
                        return profile
        raise NotFound("no contact with this email", {"fields": {"email": ["no contact with this email"]}})

    def _execute(self, action: dict[str, Any], profile: ContactProfile, rule: dict[str, Any]) -> dict[str, Any]:
        """Carry out one rule action by RPC to the owning service; the outcome goes into the run log."""
        from scoring.rules import describe_action

        cid = profile.contact_id
        kind = action["type"]
        entry = {"type": kind, "description": describe_action(action), "outcome": "ok", "error": None}
        try:
            with eventlet.Timeout(ACTION_TIMEOUT):
                result = self._call_action(kind, action, cid, profile, rule)
            problem = _failed(result)
            if problem:
                entry.update(outcome="failed", error=problem[:300])
        except eventlet.Timeout:
            entry.update(outcome="failed", error="the owning service did not answer in time")
        except CrmError as exc:
            entry.update(outcome="failed", error=f"{exc.code}: {exc.message}"[:300])
        except Exception as exc:  # a remote bug must not stop the other actions; it is logged in the run
            entry.update(outcome="failed", error=f"{type(exc).__name__}: {exc}"[:300])
        return entry

    def _call_action(self, kind: str, action: dict[str, Any], cid: str, profile: ContactProfile,
                     rule: dict[str, Any]) -> Any:
        note = f"Automation rule '{rule['name']}'"
        if kind == "set_stage":
            return self.contacts.set_stage(cid, action["stage"])
        if kind == "add_tag":
            return self.contacts.add_tags([cid], action["tags"])
        if kind == "remove_tag":
            return self.contacts.remove_tags([cid], action["tags"])
        if kind == "assign_owner":
            return self.contacts.assign_owner([cid], action["owner_id"])
        if kind == "send_template_email":
            return self.messaging.send_template_email(action["template_id"], [cid])
        if kind == "enroll_campaign":
            return self.messaging.enroll(action["campaign_id"], [cid])
        due = datetime.now(UTC) + timedelta(hours=action.get("due_in_hours", 24 if kind == "create_follow_up" else 0))
        if kind == "create_follow_up":
            return self.messaging.create_follow_up({
                "contact_id": cid, "type": action.get("follow_up_type", "task"), "title": action["title"],
                "description": note, "priority": action.get("priority", "medium"), "due_at": due.isoformat(),
                "assigned_to": profile.owner_id})
        # notify_owner: a timeline entry plus a reminder in the owner's follow-ups
        if not profile.owner_id:
            return {"ok": False, "error": "contact has no owner to notify"}
        self.contacts.add_activity(cid, "notification", action["message"],
                                   {"rule_id": rule["id"], "rule": rule["name"], "owner_id": profile.owner_id})
        return self.messaging.create_follow_up({
            "contact_id": cid, "type": "reminder", "title": action["message"][:200], "description": note,
            "priority": "high", "due_at": due.isoformat(), "assigned_to": profile.owner_id})

    def _rescore(self, profile: ContactProfile, reason: str, model: tuple[int, dict[str, Any]] | None = None
                 ) -> dict[str, Any]:
        """Rescore one contact (``score_changed``); ``model`` is ``current_model`` when already read."""
        model = model or operations.current_model(self.db)
        computed = operations.rescore(self.db, self._publish, profile, reason, model=model)
        if computed["changed"]:
            self._maybe_hot(profile, computed, model[1])
        return computed

    def _maybe_hot(self, profile: ContactProfile, computed: dict[str, Any], model: dict[str, Any] | None = None
                   ) -> None:
        """``hot_lead_detected`` when the score just crossed the threshold (pass ``model`` in loops)."""
        if model is None:
            _, model = operations.current_model(self.db)
        result, previous = computed["result"], computed["previous"]
        threshold = model["hot_threshold"]
        if result["score"] >= threshold and (previous is None or previous < threshold):
            from scoring import signals

            found = signals.buying_signals(computed["events"], computed["agg"], model,
                                           result["engagement_level"], datetime.now(UTC))
            alert = signals.hot_lead_alert(result, profile.stage, found, computed["events"],
                                           computed["agg"].last_active_at, model, datetime.now(UTC))
            self._publish("hot_lead_detected", {"contact_id": profile.contact_id, "score": result["score"],
                                                "urgency": alert["urgency"] if alert else "48h",
                                                "signals": [s["label"] for s in found]})

    # -- scores ------------------------------------------------------------------------------
    @rpc
    def get_score(self, contact_id: str) -> dict[str, Any]:
        self.ctx.authenticate()
        view = operations.score_view(self.db, self._publish, self._profile(contact_id))
        self.db.commit()
        return view

    @rpc
    def get_hot_lead_alert(self, contact_id: str) -> dict[str, Any] | None:
        self.ctx.authenticate()
        alert = operations.hot_lead_view(self.db, self._publish, self._profile(contact_id))
        self.db.commit()
        return alert

    @rpc
    def get_scores(self, contact_ids: list[str]) -> list[dict[str, Any]]:
        """Stored scores of many contacts at once (lists, dashboards)."""
        self.ctx.authenticate()
        from scoring.models import Score

        rows = self.db.execute(sa.select(Score).where(Score.contact_id.in_([str(c) for c in contact_ids][:1000])))
        return [{"contact_id": s.contact_id, "score": s.score, "fit": s.fit, "engagement": s.engagement,
                 "engagement_level": s.engagement_level} for s in rows.scalars()]

    @rpc
    def list_engagement_events(self, contact_id: str, page: int = 1, per_page: int = 50) -> dict[str, Any]:
        self.ctx.authenticate()
        self._profile(contact_id)
        return operations.contact_events_page(self.db, str(contact_id), page, per_page)

    @rpc
    def record_engagement(self, data: dict[str, Any]) -> dict[str, Any]:
        """An engagement event from the API or website tracking; a significant one rescores at once."""
        caller = self.ctx.caller.require(*WRITERS)
        key = self.ctx.idempotency_key
        done = load_idempotent_result(self.db, key, "record_engagement")
        if done is not None:
            return done
        now = datetime.now(UTC)
        versioned = operations.current_model(self.db)  # read once per request (it was three times)
        model = versioned[1]
        profile, event = self._record_one(data, model, now, caller.user_id)
        result = operations.event_view(event)
        if operations.affects_score(model, event.type):
            computed = self._rescore(profile, f"{event.type} recorded", versioned)
            r = computed["result"]
            result["score"] = {"score": r["score"], "fit": r["fit"], "engagement": r["engagement"],
                               "engagement_level": r["engagement_level"], "changed": computed["changed"]}
        store_idempotent_result(self.db, key, "record_engagement", result)
        self.db.commit()
        return result

    def _record_one(self, data: dict[str, Any], model: dict[str, Any], now: datetime, user_id: str
                    ) -> tuple[ContactProfile, Any]:
        body = operations.validate_event_body(data, model, now)
        if body["contact_id"]:
            profile = self._profile(body["contact_id"])
        else:
            profile = self._profile_by_email(str(body["email"]))
        event = operations.add_event(self.db, profile.contact_id, body["type"], body["occurred_at"],
                                     body["properties"], "website" if user_id == "api-key" else "api", None, model)
        self._publish("engagement_recorded", operations.engagement_body(event))
        return profile, event

    @rpc
    def record_engagement_batch(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Many events at once (tracking backlogs, demo data): the touched contacts are rescored together at
        the end (``rescore_many``: a few statements for the batch), their changes published as
        ``scores_changed`` chunks instead of a ``score_changed`` each."""
        caller = self.ctx.caller.require(*WRITERS)
        key = self.ctx.idempotency_key
        done = load_idempotent_result(self.db, key, "record_engagement_batch")
        if done is not None:
            return done
        if not isinstance(events, list) or not 1 <= len(events) <= BATCH_MAX:
            raise ValidationFailed("Validation failed", {"fields": {"events": [f"1 to {BATCH_MAX} events"]}})
        now = datetime.now(UTC)
        versioned = operations.current_model(self.db)
        model = versioned[1]
        results: list[dict[str, Any]] = []
        touched: dict[str, ContactProfile] = {}
        for index, data in enumerate(events):
            try:  # both errors come before anything is written
                profile, event = self._record_one(data, model, now, caller.user_id)
            except (ValidationFailed, NotFound) as exc:
                results.append({"index": index, "error": exc.to_dict()})
                continue
            results.append({"index": index, **operations.event_view(event)})
            if operations.affects_score(model, event.type):
                touched[profile.contact_id] = profile
        computed = operations.rescore_many(self.db, self._publish, list(touched.values()), "engagement recorded",
                                           model=versioned)
        for profile in touched.values():
            if computed[profile.contact_id]["changed"]:
                self._maybe_hot(profile, computed[profile.contact_id], model)
        result = {"recorded": sum(1 for r in results if "error" not in r), "rescored": len(touched),
                  "results": results}
        store_idempotent_result(self.db, key, "record_engagement_batch", result)
        self.db.commit()
        return result

    # -- the model ----------------------------------------------------------------------------
    @rpc
    def get_model(self) -> dict[str, Any]:
        self.ctx.authenticate()
        view = operations.model_view(self.db)
        self.db.commit()
        return view

    @rpc
    def update_model(self, change: dict[str, Any]) -> dict[str, Any]:
        caller = self.ctx.caller.require(ADMIN)
        view = operations.change_model(self.db, caller.user_id, change)
        self._publish("model_changed", {"version": view["version"], "active_model": view["active_model"],
                                        "actor_id": caller.user_id})
        self.db.commit()
        view["rescore"] = "queued"
        return view

    @rpc
    def model_history(self) -> list[dict[str, Any]]:
        self.ctx.caller.require(*ROLES)
        return operations.model_history(self.db)

    @rpc
    def rescore_all(self, reason: str = "manual full rescore") -> dict[str, Any]:
        """Admin: rescore everyone now (the timer does the same every ``rescore_interval_hours``)."""
        self.ctx.caller.require(ADMIN)
        return self._rescore_all(reason)

    def _rescore_all(self, reason: str) -> dict[str, Any]:
        got = self.db.execute(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": RESCORE_LOCK}).scalar()
        if not got:
            self.db.rollback()
            return {"skipped": "another full rescore is running"}
        crossed: list[tuple[str, int]] = []
        threshold = operations.current_model(self.db)[1]["hot_threshold"]
        result = bulk.rescore_all(self.db, reason, on_changed=lambda rows: crossed.extend(
            (r["contact_id"], r["score"]) for r in rows if (r["previous"] or 0) < threshold <= r["score"]))
        self.db.merge(JobRun(name="rescore_all", last_run_at=datetime.now(UTC), result=result))
        self.db.commit()
        model = operations.current_model(self.db)[1]
        detailed = crossed[:HOT_DETAIL_LIMIT]
        profiles = {p.contact_id: p for p in self.db.execute(sa.select(ContactProfile).where(
            ContactProfile.contact_id.in_([cid for cid, _ in detailed]))).scalars()} if detailed else {}
        computed_all = operations.compute_many(self.db, list(profiles.values()), model, datetime.now(UTC))
        for contact_id, _ in detailed:
            if contact_id in profiles:
                computed = {**computed_all[contact_id], "previous": None}
                self._maybe_hot(profiles[contact_id], computed, model)
        for contact_id, new_score in crossed[HOT_DETAIL_LIMIT:]:
            # a mass crossing (e.g. a new model): the alert's signals are computed when it is read
            if operations.profile_or_none(self.db, contact_id) is not None:
                self._publish("hot_lead_detected", {"contact_id": contact_id, "score": new_score, "urgency": "48h",
                                                    "signals": []})
        self.db.commit()
        started = time.monotonic()
        while self.outbox.flush():
            pass
        result["publish_seconds"] = round(time.monotonic() - started, 2)
        return result

    @timer(interval=RESCORE_CHECK_SECONDS)
    def periodic_rescore(self) -> None:
        """Seed 000: "AI score updates every 4 hours", so events that aged out of the window stop counting."""
        _, model = operations.current_model(self.db)
        last = self.db.get(JobRun, "rescore_all")
        self.db.commit()
        due = last is None or datetime.now(UTC) - last.last_run_at >= timedelta(hours=model["rescore_interval_hours"])
        if due:
            result = self._rescore_all("periodic rescore")
            log.info("periodic rescore", extra=result)

    @rpc
    def rebuild_projection(self) -> dict[str, Any]:
        """Admin: reload every contact from contacts.iter_contacts and rescore (repairs a lost event)."""
        self.ctx.caller.require(ADMIN)
        after, seen, ids = None, 0, set()
        while True:
            page = self.contacts.iter_contacts(after_id=after, limit=1000)
            for contact in page["items"]:
                operations.upsert_profile(self.db, contact)
                ids.add(str(contact["id"]))
                seen += 1
            self.db.commit()
            after = page.get("next_after_id")
            if not after:
                break
        stale = [cid for cid in self.db.execute(sa.select(ContactProfile.contact_id)).scalars() if cid not in ids]
        for cid in stale:
            operations.delete_contact(self.db, cid)
        self.db.commit()
        result = self._rescore_all("projection rebuilt")
        return {"contacts": seen, "removed": len(stale), "rescore": result}

    # -- rules -----------------------------------------------------------------------------------
    _defaults_done = False

    def _defaults(self) -> None:
        """The default rule is written once per process (it can be switched off, never deleted)."""
        if ScoringService._defaults_done:
            return
        if self.db.get(Rule, automation.DEFAULT_RULE_ID) is None:
            automation.ensure_default_rule(self.db)  # committed with the caller's work
        else:
            ScoringService._defaults_done = True

    @rpc
    def list_rules(self, page: int = 1, per_page: int = 50) -> dict[str, Any]:
        self.ctx.authenticate()
        self._defaults()
        result = automation.list_rules(self.db, page, per_page)
        self.db.commit()
        return result

    @rpc
    def get_rule(self, rule_id: str) -> dict[str, Any]:
        self.ctx.authenticate()
        self._defaults()
        rule = automation.get_rule(self.db, rule_id)
        view = automation.rule_view(rule, automation.performance(self.db, rule_id))
        view["pending_sweeps"] = automation.pending_sweeps(self.db, rule_id)
        self.db.commit()
        return view

    @rpc
    def create_rule(self, data: dict[str, Any]) -> dict[str, Any]:
        caller = self.ctx.caller.require(ADMIN)
        done = load_idempotent_result(self.db, self.ctx.idempotency_key, "create_rule")
        if done is not None:
            return done
        result = automation.create_rule(self.db, caller.user_id, data)
        store_idempotent_result(self.db, self.ctx.idempotency_key, "create_rule", result)
        self.db.commit()
        return result

    @rpc
    def update_rule(self, rule_id: str, data: dict[str, Any]) -> dict[str, Any]:
        self.ctx.caller.require(ADMIN)
        self._defaults()
        result = automation.update_rule(self.db, rule_id, data)
        self.db.commit()
        return result

    @rpc
    def delete_rule(self, rule_id: str) -> dict[str, Any]:
        self.ctx.caller.require(ADMIN)
        self._defaults()
        automation.delete_rule(self.db, rule_id)
        self.db.commit()
        return {"id": rule_id, "deleted": True}

    @rpc
    def preview_rule(self, data: dict[str, Any], days: int = 30, sample_size: int = 1000) -> dict[str, Any]:
        self.ctx.authenticate()
        result = automation.preview(self.db, data, days, sample_size)
        self.db.rollback()
        return result

    @rpc
    def rule_runs(self, rule_id: str, page: int = 1, per_page: int = 50, outcome: str | None = None
                  ) -> dict[str, Any]:
        self.ctx.authenticate()
        self._defaults()
        return automation.runs_page(self.db, rule_id, page, per_page, outcome)

    @rpc
    def run_rule(self, rule_id: str) -> dict[str, Any]:
        """Admin "run now" (the scheduler does this for time-based rules on its own)."""
        self.ctx.caller.require(ADMIN)
        self._defaults()
        result = automation.run_now(self.db, rule_id, self._execute)
        self.db.commit()
        return result

    @timer(interval=RULE_TICK_SECONDS)
    def rule_scheduler(self) -> None:
        """Time-since-event rules ("untouched > 24 h"), due schedules and in-cycle steps."""
        got = self.db.execute(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": RULES_LOCK}).scalar()
        if not got:
            self.db.rollback()
            return
        self._defaults()
        counts = automation.run_due(self.db, self._execute, time_sweep_every=timedelta(seconds=TIME_SWEEP_SECONDS))
        self.db.commit()
        if counts["unfinished"] or counts["cycle_left"] or any(
                counts[k] for k in ("time_since_event", "schedule", "run_now", "cycle")):
            log.info("rule scheduler tick", extra=counts)

    def _evaluate(self, contact_id: str, occurrence: dict[str, Any]) -> None:
        self._evaluate_many([(contact_id, occurrence)])

    def _evaluate_many(self, occurrences: list[tuple[str, dict[str, Any]]],
                       before_acting: Callable[[], bool] | None = None) -> None:
        """Rules over occurrences; the profile is read only when a live rule is triggered."""
        self._defaults()
        automation.evaluate_many(self.db, occurrences, self._execute, before_acting=before_acting)

    def _evaluate_event(self, envelope: dict[str, Any], handler: str,
                        occurrences: list[tuple[str, dict[str, Any]]]) -> None:
        """Rules for one of our own events, claimed only when a rule is about to act.

        Most engagement and score changes trigger nothing or match no criteria: then nothing is
        written (no claim row, no commit to wait for), and a redelivery can do no more than this
        delivery did. When a rule acts, the claim comes first in the same transaction as before.
        """
        try:
            self._evaluate_many(occurrences, before_acting=lambda: claim_event(self.db, envelope["event_id"],
                                                                               handler))
        except automation.NotFirstDelivery:
            self.db.rollback()
            return
        self.db.commit()

    # -- contacts events: the projection ----------------------------------------------------------
    @reliable_handler("contacts", "contact_created")
    def on_contact_created(self, envelope: dict[str, Any]) -> None:
        if not claim_event(self.db, envelope["event_id"], "scoring.on_contact_created"):
            return
        profile = operations.upsert_profile(self.db, envelope["data"]["contact"])
        if profile is not None:   # None: deleted before this event arrived
            self._rescore(profile, "contact created")
        self.db.commit()

    @reliable_handler("contacts", "contacts_created")
    def on_contacts_created(self, envelope: dict[str, Any]) -> None:
        """An import's chunk of new contacts (up to 1,000): projected and scored set-based in one
        transaction, answered with ``scores_changed`` chunks instead of one ``score_changed`` each."""
        if not claim_event(self.db, envelope["event_id"], "scoring.on_contacts_created"):
            return
        data = envelope["data"]
        snapshots = [item["contact"] if item["contact"].get("id") else {**item["contact"], "id": item["contact_id"]}
                     for item in data["contacts"]]
        profiles = operations.upsert_profiles(self.db, snapshots)
        computed = operations.rescore_many(self.db, self._publish, profiles, "contact created")
        _, model = operations.current_model(self.db)
        changed = 0
        for profile in profiles:
            if computed[profile.contact_id]["changed"]:
                changed += 1
                self._maybe_hot(profile, computed[profile.contact_id], model)
        self.db.commit()
        log.info("contacts created batch scored", extra={"event_id": envelope["event_id"],
                                                          "import_id": data.get("import_id"),
                                                          "contacts": len(profiles), "changed": changed})

    @reliable_handler("contacts", "contact_updated")
    def on_contact_updated(self, envelope: dict[str, Any]) -> None:
        if not claim_event(self.db, envelope["event_id"], "scoring.on_contact_updated"):
            return
        data = envelope["data"]
        profile = operations.upsert_profile(self.db, data["contact"])
        if profile is None:   # deleted before this event arrived
            self.db.commit()
            return
        changed = [f for f in data.get("changed", []) if f != "score"]
        at = to_datetime(envelope.get("occurred_at")) or datetime.now(UTC)
        operations.record_field_change(self.db, profile.contact_id, changed, at)
        if changed:
            self._rescore(profile, f"contact updated ({', '.join(sorted(changed))})"[:200])
            self._evaluate(profile.contact_id, {"kind": "field_change", "fields": changed})
        self.db.commit()

    @reliable_handler("contacts", "contacts_updated")
    def on_contacts_updated(self, envelope: dict[str, Any]) -> None:
        """An import's merges (up to 1,000 ``contact_updated`` bodies): what ``on_contact_updated`` does for
        one, set-based in one transaction, answered with ``scores_changed`` chunks."""
        if not claim_event(self.db, envelope["event_id"], "scoring.on_contacts_updated"):
            return
        data = envelope["data"]
        at = to_datetime(envelope.get("occurred_at")) or datetime.now(UTC)
        changed_by_id: dict[str, list[str]] = {}
        for item in data["contacts"]:
            changed_by_id[str(item["contact_id"])] = [f for f in item.get("changed", []) if f != "score"]
        profiles = operations.upsert_profiles(self.db, [{**item["contact"], "id": item["contact_id"]}
                                                        for item in data["contacts"]])   # tombstoned ones left out
        touched = [p for p in profiles if changed_by_id[p.contact_id]]
        operations.record_field_changes(self.db, [(p.contact_id, changed_by_id[p.contact_id]) for p in touched], at)
        reasons = {p.contact_id: f"contact updated ({', '.join(sorted(changed_by_id[p.contact_id]))})"
                   for p in touched}
        versioned = operations.current_model(self.db)
        computed = operations.rescore_many(self.db, self._publish, touched, reasons, model=versioned)
        model = versioned[1]
        for profile in touched:
            if computed[profile.contact_id]["changed"]:
                self._maybe_hot(profile, computed[profile.contact_id], model)
        self._evaluate_many([(p.contact_id, {"kind": "field_change", "fields": changed_by_id[p.contact_id]})
                             for p in touched])
        self.db.commit()
        log.info("contacts updated batch scored", extra={"event_id": envelope["event_id"],
                                                          "import_id": data.get("import_id"),
                                                          "contacts": len(profiles), "touched": len(touched)})

    @reliable_handler("contacts", "stage_changed")
    def on_stage_changed(self, envelope: dict[str, Any]) -> None:
        if not claim_event(self.db, envelope["event_id"], "scoring.on_stage_changed"):
            return
        data = envelope["data"]
        at = to_datetime(envelope.get("occurred_at")) or datetime.now(UTC)
        operations.set_stage(self.db, data["contact_id"], data["to_stage"], data.get("from_stage"), at)
        self._evaluate(data["contact_id"], {"kind": "stage_change", "from": data.get("from_stage"),
                                            "to": data["to_stage"]})
        self.db.commit()

    @reliable_handler("contacts", "contact_deleted")
    def on_contact_deleted(self, envelope: dict[str, Any]) -> None:
        if not claim_event(self.db, envelope["event_id"], "scoring.on_contact_deleted"):
            return
        operations.delete_contact(self.db, envelope["data"]["contact_id"])
        self.db.commit()

    @reliable_handler("contacts", "contacts_merged")
    def on_contacts_merged(self, envelope: dict[str, Any]) -> None:
        if not claim_event(self.db, envelope["event_id"], "scoring.on_contacts_merged"):
            return
        data = envelope["data"]
        operations.merge_contacts(self.db, data["primary_id"], data["merged_ids"], data["contact"])
        profile = operations.profile_or_none(self.db, data["primary_id"])
        if profile is not None:
            self._rescore(profile, "contacts merged")
        self.db.commit()

    # -- engagement from the other services -------------------------------------------------------
    def _record_from(self, envelope: dict[str, Any], handler: str, contact_id: str | None, event_type: str,
                     properties: dict[str, Any]) -> None:
        if not claim_event(self.db, envelope["event_id"], handler):
            return
        if not contact_id:
            self.db.commit()
            return
        profile = operations.profile_or_none(self.db, str(contact_id))
        if profile is None:
            try:
                profile = self._profile(str(contact_id))
            except NotFound:
                self.db.commit()
                return
        versioned = operations.current_model(self.db)
        model = versioned[1]
        at = to_datetime(envelope.get("occurred_at")) or datetime.now(UTC)
        ref = f"{envelope['source']}:{envelope['event_type']}:{envelope['event_id']}"
        event = operations.add_event(self.db, profile.contact_id, event_type, at, properties,
                                     envelope["source"], ref, model)
        if event is not None:
            self._publish("engagement_recorded", operations.engagement_body(event))
            if operations.affects_score(model, event.type):
                self._rescore(profile, f"{event.type} ({envelope['source']})", versioned)
        self.db.commit()

    def _record_batch(self, envelope: dict[str, Any], handler: str,
                      items: list[tuple[str | None, str, dict[str, Any]]]) -> None:
        """What ``_record_from`` does for each ``(contact_id, event type, properties)`` of a batch event
        (``emails_sent``, ``emails_opened``), set-based in one transaction: the profiles read in one query
        (unknown ones fetched with one ``get_contacts``), the events stored in one INSERT and published as
        ``engagements_recorded`` chunks, the touched contacts rescored together (``rescore_many``:
        ``scores_changed`` instead of a ``score_changed`` each) and hot leads announced as there.
        A contact named twice is rescored once, after both events."""
        if not claim_event(self.db, envelope["event_id"], handler):
            return
        wanted = list(dict.fromkeys(str(cid) for cid, _, _ in items if cid))
        profiles = operations.profiles_of(self.db, wanted)
        missing = [cid for cid in wanted if cid not in profiles]
        if missing:
            profiles.update({p.contact_id: p for p in self._fetch_profiles(missing)})
        versioned = operations.current_model(self.db)
        model = versioned[1]
        at = to_datetime(envelope.get("occurred_at")) or datetime.now(UTC)
        source, ref = envelope["source"], f"{envelope['source']}:{envelope['event_type']}:{envelope['event_id']}"
        events = operations.add_events(self.db, [
            {"contact_id": str(cid), "type": event_type, "occurred_at": at, "properties": properties,
             "source": source, "source_ref": f"{ref}:{n}"}
            for n, (cid, event_type, properties) in enumerate(items) if cid and str(cid) in profiles], model)
        bodies = [operations.engagement_body(event) for event in events]
        for start in range(0, len(bodies), BATCH_EVENT_LIMIT):
            self._publish("engagements_recorded", {"engagements": bodies[start:start + BATCH_EVENT_LIMIT]})
        reasons = {e.contact_id: f"{e.type} ({source})" for e in events if operations.affects_score(model, e.type)}
        touched = [profiles[cid] for cid in reasons]
        computed = operations.rescore_many(self.db, self._publish, touched, reasons, model=versioned)
        for profile in touched:
            if computed[profile.contact_id]["changed"]:
                self._maybe_hot(profile, computed[profile.contact_id], model)
        self.db.commit()
        log.info("engagement batch recorded", extra={"event_id": envelope["event_id"], "handler": handler,
                                                     "events": len(events), "rescored": len(touched)})

    def _fetch_profiles(self, contact_ids: list[str]) -> list[ContactProfile]:
        """Contacts whose snapshot has not arrived yet, from the contacts service in one call (as ``_profile``
        does for one; a contact it does not know, or no answer within 5 s, is left out)."""
        try:
            with eventlet.Timeout(5):
                contacts = self.contacts.get_contacts(contact_ids) or []
        except eventlet.Timeout:
            log.warning("contacts not known to scoring yet; their engagement is not recorded",
                        extra={"contacts": len(contact_ids)})
            return []
        return operations.upsert_profiles(self.db, contacts) if contacts else []

    @staticmethod
    def _props(data: dict[str, Any], *keys: str) -> dict[str, Any]:
        return {k: data[k] for k in keys if data.get(k) is not None}

    @reliable_handler("messaging", "email_opened")
    def on_email_opened(self, envelope: dict[str, Any]) -> None:
        d = envelope["data"]
        self._record_from(envelope, "scoring.on_email_opened", d.get("contact_id"), "email_opened",
                          self._props(d, "email_id", "subject", "campaign_id", "template_id"))

    @reliable_handler("messaging", "email_clicked")
    def on_email_clicked(self, envelope: dict[str, Any]) -> None:
        d = envelope["data"]
        self._record_from(envelope, "scoring.on_email_clicked", d.get("contact_id"), "email_clicked",
                          self._props(d, "email_id", "subject", "campaign_id", "template_id", "url"))

    @reliable_handler("messaging", "email_replied")
    def on_email_replied(self, envelope: dict[str, Any]) -> None:
        d = envelope["data"]
        self._record_from(envelope, "scoring.on_email_replied", d.get("contact_id"), "email_replied",
                          self._props(d, "email_id", "subject", "campaign_id"))

    @reliable_handler("messaging", "email_sent")
    def on_email_sent(self, envelope: dict[str, Any]) -> None:
        d = envelope["data"]
        self._record_from(envelope, "scoring.on_email_sent", d.get("contact_id"), "email_sent",
                          self._props(d, "email_id", "subject", "campaign_id", "template_id"))

    @reliable_handler("messaging", "emails_sent")
    def on_emails_sent(self, envelope: dict[str, Any]) -> None:
        """A send batch (up to 1,000 ``email_sent`` bodies): ``on_email_sent`` for each, set-based."""
        self._record_batch(envelope, "scoring.on_emails_sent", [
            (d.get("contact_id"), "email_sent", self._props(d, "email_id", "subject", "campaign_id", "template_id"))
            for d in envelope["data"]["emails"]])

    @reliable_handler("messaging", "emails_opened")
    def on_emails_opened(self, envelope: dict[str, Any]) -> None:
        """A batch of first opens (the gateway's buffered pixel loads): ``on_email_opened`` for each."""
        self._record_batch(envelope, "scoring.on_emails_opened", [
            (d.get("contact_id"), "email_opened", self._props(d, "email_id", "subject", "campaign_id",
                                                              "template_id"))
            for d in envelope["data"]["emails"]])

    @reliable_handler("messaging", "unsubscribed")
    def on_unsubscribed(self, envelope: dict[str, Any]) -> None:
        d = envelope["data"]
        contact_id = d.get("contact_id")
        if not contact_id and d.get("email"):
            found = operations.find_by_email(self.db, d["email"])
            contact_id = found.contact_id if found else None
        self._record_from(envelope, "scoring.on_unsubscribed", contact_id, "unsubscribed",
                          self._props(d, "source"))

    @reliable_handler("messaging", "call_logged")
    def on_call_logged(self, envelope: dict[str, Any]) -> None:
        d = envelope["data"]
        kind = "call_logged" if str(d.get("status")).lower() == "completed" else "call_attempted"
        self._record_from(envelope, "scoring.on_call_logged", d.get("contact_id"), kind,
                          self._props(d, "call_id", "purpose", "status", "duration_s"))

    @reliable_handler("messaging", "campaign_enrolled")
    def on_campaign_enrolled(self, envelope: dict[str, Any]) -> None:
        d = envelope["data"]
        self._record_from(envelope, "scoring.on_campaign_enrolled", d.get("contact_id"), "campaign_enrolled",
                          self._props(d, "campaign_id", "campaign_name"))

    @reliable_handler("imports", "form_data_imported")
    def on_form_data_imported(self, envelope: dict[str, Any]) -> None:
        """A form submission in an imported row; its "subscribed" / "schedule demo" answers are engagement too."""
        d = envelope["data"]
        fields = {str(k).strip().lower().replace(" ", "_"): v for k, v in (d.get("fields") or {}).items()}
        self._record_from(envelope, "scoring.on_form_data_imported", d.get("contact_id"), "form_submitted",
                          {"import_id": d.get("import_id"), "fields": sorted(fields)})
        flags = sorted({t for k, t in FORM_FLAGS.items() if _truthy(fields.get(k))})
        for event_type in flags:
            sub = {**envelope, "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{envelope['event_id']}:{event_type}")),
                   "event_type": f"form_data_imported.{event_type}"}
            self._record_from(sub, f"scoring.on_form_data_imported.{event_type}", d.get("contact_id"),
                              event_type, {"import_id": d.get("import_id"), "from": "form"})

    # -- our own events: rules and rescoring ------------------------------------------------------
    @reliable_handler("scoring", "engagement_recorded")
    def on_engagement_recorded(self, envelope: dict[str, Any]) -> None:
        d = envelope["data"]
        self._evaluate_event(envelope, "scoring.on_engagement_recorded",
                             [(d["contact_id"], {"kind": "event", "event_type": d["type"]})])

    @reliable_handler("scoring", "engagements_recorded")
    def on_engagements_recorded(self, envelope: dict[str, Any]) -> None:
        """A batch of engagement events: the rules ``on_engagement_recorded`` runs, over the batch at once."""
        self._evaluate_event(envelope, "scoring.on_engagements_recorded",
                             [(d["contact_id"], {"kind": "event", "event_type": d["type"]})
                              for d in envelope["data"]["engagements"]])

    @reliable_handler("scoring", "score_changed")
    def on_score_changed(self, envelope: dict[str, Any]) -> None:
        d = envelope["data"]
        self._evaluate_event(envelope, "scoring.on_score_changed",
                             [(d["contact_id"], {"kind": "score_change", "score": d["score"],
                                                 "previous_score": d.get("previous_score")})])

    @reliable_handler("scoring", "scores_changed")
    def on_scores_changed(self, envelope: dict[str, Any]) -> None:
        """A batch of score changes (bulk paths): the rules ``on_score_changed`` runs, over the whole batch
        at once (the live rules read once, the profiles in one query, nothing more when no rule applies)."""
        changes = envelope["data"]["changes"]
        self._evaluate_event(envelope, "scoring.on_scores_changed",
                             [(str(c["contact_id"]), {"kind": "score_change", "score": c["score"],
                                                      "previous_score": c.get("previous_score")}) for c in changes])
        log.info("scores changed batch evaluated", extra={"event_id": envelope["event_id"], "changes": len(changes)})

    @reliable_handler("scoring", "model_changed")
    def on_model_changed(self, envelope: dict[str, Any]) -> None:
        if not claim_event(self.db, envelope["event_id"], "scoring.on_model_changed"):
            return
        self.db.commit()
        self._rescore_all(f"model version {envelope['data']['version']}")


__all__ = ["ScoringService", "HOT_STAGE"]
