"""Entrypoints of the imports service: translate, call one operation, return.

Heavy work runs in the Celery workers (``imports.worker``); this service owns
the job state, answers the gateway, and runs the housekeeping timer (idle
timeout, retention, resuming jobs whose next step was lost).
"""
from __future__ import annotations

import logging
import os
from typing import Any

from nameko.rpc import RpcProxy
from nameko.timer import timer

from crm_shared.db import Database
from crm_shared.reliability import EventOutbox, load_idempotent_result, store_idempotent_result
from crm_shared.service import Context, ServiceBase, rpc
from imports import jobs, mapping, matching, scan
from imports.erasure import ErasureMixin

log = logging.getLogger(__name__)
STALL_SECONDS = float(os.environ.get("CRM_IMPORT_STALL_SECONDS", "60"))


def _enqueue(import_id: str, token: str) -> None:
    from imports.worker import enqueue

    try:
        enqueue(import_id, token)
    except Exception as exc:  # the housekeeping timer resumes the job once the broker is back
        log.warning("could not queue import step", extra={"import_id": import_id, "error": str(exc)})


class ImportsService(ErasureMixin, ServiceBase):
    name = "imports"

    db = Database("imports")
    outbox = EventOutbox()
    ctx = Context()
    contacts = RpcProxy("contacts")

    # -- upload and mapping ---------------------------------------------------------
    @rpc
    def create_import(self, file_name: str, content_b64: str, mapping: dict | None = None,
                      source: str = "csv") -> dict[str, Any]:
        caller = self.ctx.caller
        scope = f"imports.create:{caller.user_id}"
        earlier = load_idempotent_result(self.db, self.ctx.idempotency_key, scope)
        if earlier is not None:
            return earlier
        result, start = jobs.create_import(self.db, caller, file_name, content_b64, mapping, source)
        store_idempotent_result(self.db, self.ctx.idempotency_key, scope, result)
        token = self._token(result["id"]) if start else None
        self.db.commit()
        if token:
            _enqueue(result["id"], token)
        return result

    def _token(self, import_id: str) -> str:
        from imports.models import Import

        return self.db.get(Import, import_id).run_token

    @rpc
    def set_mapping(self, import_id: str, column_map: dict) -> dict[str, Any]:
        result, start = jobs.set_mapping(self.db, self.ctx.caller, import_id, column_map)
        token = self._token(import_id)
        self.db.commit()
        if start:
            _enqueue(import_id, token)
        return result

    @rpc
    def template_csv(self) -> str:
        self.ctx.authenticate()
        return mapping.template_csv()

    @rpc
    def mapping_fields(self) -> dict[str, Any]:
        self.ctx.authenticate()
        return {"fields": mapping.FIELDS, "synonyms": {k: list(v) for k, v in mapping.SYNONYMS.items()}}

    # -- reads --------------------------------------------------------------------------
    @rpc
    def get_import(self, import_id: str) -> dict[str, Any]:
        return jobs.get_import(self.db, self.ctx.caller, import_id)

    @rpc
    def list_imports(self, page: int = 1, per_page: int = 50, mine: bool = False) -> dict[str, Any]:
        return jobs.history(self.db, self.ctx.caller, page, per_page, mine)

    @rpc
    def list_duplicates(self, import_id: str, match_type: str | None = None, decision: str | None = None,
                        page: int = 1, per_page: int = 50) -> dict[str, Any]:
        return jobs.list_duplicates(self.db, self.ctx.caller, import_id, match_type, decision, page, per_page)

    @rpc
    def list_rows(self, import_id: str, outcome: str | None = None, page: int = 1,
                  per_page: int = 50) -> dict[str, Any]:
        return jobs.list_rows(self.db, self.ctx.caller, import_id, outcome, page, per_page)

    @rpc
    def errors_csv(self, import_id: str) -> str:
        return jobs.errors_csv(self.db, self.ctx.caller, import_id)

    # -- review, commit, cancel, undo ------------------------------------------------------
    @rpc
    def resolve_duplicates(self, import_id: str, data: dict) -> dict[str, Any]:
        result = jobs.resolve(self.db, self.ctx.caller, import_id, data)
        self.db.commit()
        return result

    @rpc
    def commit_import(self, import_id: str, unresolved: str | None = None) -> dict[str, Any]:
        result = jobs.commit(self.db, self.ctx.caller, import_id, unresolved)
        token = self._token(import_id)
        self.db.commit()
        _enqueue(import_id, token)
        return result

    @rpc
    def cancel_import(self, import_id: str) -> dict[str, Any]:
        result = jobs.cancel(self.db, self.ctx.caller, import_id)
        self.db.commit()
        return result

    @rpc
    def undo_import(self, import_id: str) -> dict[str, Any]:
        caller = self.ctx.caller
        job = jobs.check_undo(self.db, caller, import_id)
        self.db.commit()                      # do not hold the row lock across the contacts call
        result = self.contacts.undo_import(job.id)
        job = jobs.check_undo(self.db, caller, import_id)
        view = jobs.record_undo(self.db, caller, job, result or {})
        self.db.commit()
        return view

    # -- matching rules and database-wide duplicates ------------------------------------------
    @rpc
    def get_matching_rules(self) -> dict[str, Any]:
        self.ctx.authenticate()
        return jobs.get_rules(self.db)

    @rpc
    def set_matching_rules(self, rules: dict) -> dict[str, Any]:
        result = jobs.set_rules(self.db, self.ctx.caller, rules)
        self.db.commit()
        return result

    @rpc
    def find_duplicates(self, match_type: str | None = None, page: int = 1, per_page: int = 50,
                        refresh: bool = False) -> dict[str, Any]:
        if match_type and match_type not in matching.MATCH_TYPES:
            return scan.view(self.db, None, match_type, page, per_page)   # raises the 422
        newest, start = scan.latest(self.db, self.ctx.caller, refresh)
        self.db.commit()
        if start:
            from imports.worker import enqueue_scan

            try:
                enqueue_scan(start)
            except Exception as exc:  # shown as scanning; a later request starts it again
                log.warning("could not queue duplicate scan", extra={"error": str(exc)})
        return scan.view(self.db, newest, match_type, page, per_page)

    # -- housekeeping ----------------------------------------------------------------------------
    @timer(interval=15)
    def housekeeping(self) -> None:
        resumed = jobs.housekeeping(self.db, STALL_SECONDS)
        self.db.commit()
        for import_id, token in resumed:
            log.info("resuming stalled import", extra={"import_id": import_id})
            _enqueue(import_id, token)
