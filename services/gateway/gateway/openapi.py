"""The OpenAPI document, generated from the marshmallow schemas the views validate with."""
from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask

_PATH_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def _unwrap(view):
    while hasattr(view, "__wrapped__") and not hasattr(view, "_crm_doc"):
        view = view.__wrapped__
    return view


def build_spec(app: Flask) -> dict[str, Any]:
    spec = APISpec(title="CRM API", version="1.0.0", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "Contact-management CRM gateway (see shared/design/API.md)"})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.schema("Error", {"type": "object", "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "object"}}}}})
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        if view is None or rule.endpoint == "static":
            continue
        info = getattr(view, "_crm_doc", None) or getattr(_unwrap(view), "_crm_doc", None)
        if info is None:
            continue
        path = _PATH_PARAM.sub(r"{\1}", rule.rule)
        roles = getattr(view, "_crm_roles", None)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            default_tag = path.split("/")[3] if path.count("/") > 2 else "root"
            error_ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
            operation: dict[str, Any] = {
                "summary": info["summary"], "tags": info["tags"] or [default_tag],
                "parameters": [{"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
                               for name in _PATH_PARAM.findall(rule.rule)],
                "responses": {str(info["status"]): {"description": "OK"},
                              "default": {"description": "Error", "content": error_ref}},
            }
            if info["response"] is not None:
                operation["responses"][str(info["status"])]["content"] = {
                    "application/json": {"schema": info["response"]}}
            if info["query"] is not None:
                operation["parameters"].append({"in": "query", "schema": info["query"]})
            if info["body"] is not None and method in ("POST", "PUT", "PATCH"):
                operation["requestBody"] = {"required": True,
                                            "content": {"application/json": {"schema": info["body"]}}}
            if not info["public"]:
                operation["security"] = [{"bearer": []}]
                if roles:
                    operation["description"] = "Roles: " + ", ".join(roles)
            paths.setdefault(path, {})[method.lower()] = operation
    for path, operations in sorted(paths.items()):
        spec.path(path=path, operations=operations)
    return spec.to_dict()
