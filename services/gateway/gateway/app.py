"""The gateway's app factory."""
from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any

from flask import Flask, g, request, send_from_directory

from crm_shared.logging import configure_logging
from gateway.api import blueprints
from gateway.errors import error_response, register_error_handlers

log = logging.getLogger("gateway.access")
STATIC_APP = Path(__file__).parent / "static" / "app"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.config.update(
        HEALTH_TIMEOUT=1.0,
        DETAIL_TIMEOUT=1.5,
        MAX_CONTENT_LENGTH=11 * 1024 * 1024,  # a little over the 10 MB import limit, so the service can say why
        JSON_SORT_KEYS=False,
    )
    app.config.update(config or {})
    app.json.sort_keys = False
    register_error_handlers(app)
    for bp in blueprints():
        app.register_blueprint(bp)

    @app.before_request
    def start_timer():
        g.started = time.monotonic()
        g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
        if "\x00" in request.path or any("\x00" in v for v in request.args.values()):
            return error_response(400, "bad_request", "NUL characters are not allowed in the URL")
        return None

    @app.after_request
    def access_log(response):
        response.headers["X-Request-Id"] = g.get("request_id", "")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if request.path.startswith("/api/"):
            log.info("request", extra={"method": request.method, "path": request.path,
                                       "status": response.status_code, "request_id": g.get("request_id"),
                                       "ms": round((time.monotonic() - g.get("started", time.monotonic())) * 1000, 1)})
        return response

    @app.route("/api/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def api_not_found(unknown: str):
        return error_response(404, "not_found", f"no such endpoint: /api/{unknown}")

    @app.get("/", defaults={"path": ""})
    @app.get("/<path:path>")
    def web_client(path: str):
        """The single-page web client; unknown paths fall back to index.html for client routing."""
        if path and (STATIC_APP / path).is_file():
            return send_from_directory(STATIC_APP, path)
        if (STATIC_APP / "index.html").is_file():
            return send_from_directory(STATIC_APP, "index.html")
        return error_response(404, "not_found", "web client not built (run the README's run command)")

    return app


def create_production_app() -> Flask:
    configure_logging("gateway")
    return create_app()
