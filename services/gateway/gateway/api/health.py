"""Health: every service asked in parallel with a short timeout."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from marshmallow import Schema, fields

from crm_shared.config import SERVICES
from gateway.http import doc
from gateway.rpc import fan_out

bp = Blueprint("health", __name__, url_prefix="/api/v1")


class HealthSchema(Schema):
    status = fields.String(metadata={"enum": ["ok", "degraded"]})
    services = fields.Dict(keys=fields.String(), values=fields.String())


@bp.get("/health")
@doc("Health of every service", response=HealthSchema, public=True, tags=["health"])
def health():
    timeout = current_app.config["HEALTH_TIMEOUT"]
    results, _ = fan_out({name: (name, "ping", (), {}) for name in SERVICES}, timeout=timeout)
    services = {name: ("ok" if (results.get(name) or {}).get("status") == "ok" else "down") for name in SERVICES}
    status = "ok" if all(v == "ok" for v in services.values()) else "degraded"
    return jsonify({"status": status, "services": services})
