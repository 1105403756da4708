"""The OpenAPI document of this gateway."""
from flask import Blueprint, current_app, jsonify

from gateway.openapi import build_spec

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")


@bp.get("/openapi.json")
def openapi():
    if "OPENAPI" not in current_app.extensions:
        current_app.extensions["OPENAPI"] = build_spec(current_app)
    return jsonify(current_app.extensions["OPENAPI"])
