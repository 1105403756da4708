"""Sign-in, the current user and the users contacts can be assigned to."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from marshmallow import Schema, fields, validate

from crm_shared.auth import create_token
from gateway import ratelimit
from gateway.auth import require
from gateway.http import doc, load_body
from gateway.rpc import call

bp = Blueprint("auth", __name__, url_prefix="/api/v1")


class LoginSchema(Schema):
    email = fields.Email(required=True)
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))


class UserSchema(Schema):
    id = fields.String()
    name = fields.String()
    email = fields.String()
    role = fields.String()


class LoginResultSchema(Schema):
    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()
    user = fields.Nested(UserSchema)


@bp.post("/auth/login")
@doc("Sign in with email and password", body=LoginSchema, response=LoginResultSchema, public=True, tags=["auth"])
def login():
    body = load_body(LoginSchema)
    ratelimit.hit(f"login-ip:{request.remote_addr}", limit=30, window_seconds=60)
    ratelimit.hit(f"login-email:{body['email'].lower()}", limit=10, window_seconds=60)
    user = call("contacts", "authenticate", body["email"], body["password"], request.remote_addr)
    from crm_shared.config import auth_settings

    token = create_token(user["id"], user["role"], name=user["name"], email=user["email"])
    return jsonify({"access_token": token, "token_type": "bearer", "expires_in": auth_settings().ttl_seconds,
                    "user": {k: user[k] for k in ("id", "name", "email", "role")}})


@bp.get("/me")
@require()
@doc("The signed-in user", response=UserSchema, tags=["auth"])
def me():
    caller = g.caller
    return jsonify({"id": caller.user_id, "name": caller.name, "email": caller.email, "role": caller.role})


@bp.get("/users")
@require()
@doc("Users (owners to assign contacts to)", tags=["auth"])
def users():
    items = call("contacts", "list_users", request.args.get("role"))
    return jsonify({"items": items, "total": len(items), "page": 1, "per_page": max(len(items), 1)})
