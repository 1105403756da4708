"""The OpenAPI document of this gateway."""
from flask import Blueprint, current_app, jsonify

from gateway.http import doc
from gateway.openapi import build_spec

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")


@bp.get("/openapi.json")
@doc("This OpenAPI document", public=True, tags=["meta"])
def openapi():
    if "OPENAPI" not in current_app.extensions:
        current_app.extensions["OPENAPI"] = build_spec(current_app)
    return jsonify(current_app.extensions["OPENAPI"])
