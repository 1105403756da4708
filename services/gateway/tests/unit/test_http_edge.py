"""The gateway's edge rules without any service: error envelope, body parsing, roles, OpenAPI."""
import pytest
from flask import Blueprint, jsonify
from marshmallow import Schema, fields, validate

from crm_shared.auth import create_token
from gateway.app import create_app
from gateway.auth import MARKETING, require
from gateway.http import PageQuery, doc, load_body, load_query, page_envelope


class ThingIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=2))
    size = fields.Integer()


def _app():
    bp = Blueprint("things", __name__, url_prefix="/api/v1")

    @bp.post("/things")
    @require(*MARKETING)
    @doc("Create a thing", body=ThingIn, response=ThingIn, status=201)
    def create_thing():
        return jsonify(load_body(ThingIn)), 201

    @bp.get("/things")
    @require()
    @doc("List things", query=PageQuery)
    def list_things():
        q = load_query(PageQuery)
        return jsonify(page_envelope([], 0, q["page"], q["per_page"]))

    @bp.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    app = create_app({"TESTING": False})
    app.register_blueprint(bp)
    return app


@pytest.fixture()
def client():
    return _app().test_client()


def _auth(role):
    return {"Authorization": f"Bearer {create_token('u1', role, name='U')}"}


def test_unknown_field_is_400_naming_it(client):
    r = client.post("/api/v1/things", json={"name": "ok", "owner_id": "x"}, headers=_auth("admin"))
    assert r.status_code == 400
    assert r.json["error"]["details"]["fields"] == {"owner_id": ["unknown field"]}


def test_bad_value_is_422_naming_the_field(client):
    r = client.post("/api/v1/things", json={"name": "x", "size": "big"}, headers=_auth("admin"))
    assert r.status_code == 422
    assert set(r.json["error"]["details"]["fields"]) == {"name", "size"}


def test_role_not_allowed_is_403_and_no_token_401(client):
    assert client.post("/api/v1/things", json={"name": "ok"}, headers=_auth("sales")).status_code == 403
    assert client.post("/api/v1/things", json={"name": "ok"}).status_code == 401
    assert client.post("/api/v1/things", json={"name": "ok"}, headers=_auth("marketing")).status_code == 201


def test_paging_parameters_are_checked(client):
    r = client.get("/api/v1/things?per_page=500", headers=_auth("executive"))
    assert r.status_code == 422 and "per_page" in r.json["error"]["details"]["fields"]
    r = client.get("/api/v1/things?page=2&per_page=10", headers=_auth("executive"))
    assert r.json == {"items": [], "total": 0, "page": 2, "per_page": 10}


def test_unexpected_error_is_500_without_internals(client):
    r = client.get("/api/v1/boom")
    assert r.status_code == 500
    assert r.json["error"]["code"] == "internal_error"
    assert "secret" not in r.get_data(as_text=True)


def test_openapi_comes_from_the_same_schemas():
    app = _app()
    spec = app.test_client().get("/api/v1/openapi.json").json
    op = spec["paths"]["/api/v1/things"]["post"]
    schema_ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    name = schema_ref.rsplit("/", 1)[-1]
    assert set(spec["components"]["schemas"][name]["properties"]) == {"name", "size"}
    assert op["security"] == [{"bearer": []}]


def test_nul_characters_and_huge_integers_are_refused(client):
    r = client.post("/api/v1/things", json={"name": "a\x00b", "size": 1}, headers=_auth("admin"))
    assert r.status_code == 422 and "name" in r.json["error"]["details"]["fields"]
    r = client.post("/api/v1/things", json={"name": "ok", "size": 2**64}, headers=_auth("admin"))
    assert r.status_code == 422 and "size" in r.json["error"]["details"]["fields"]
    r = client.get("/api/v1/things?page=10811888204578596864", headers=_auth("admin"))
    assert r.status_code == 422 and "page" in r.json["error"]["details"]["fields"]
    r = client.get("/api/v1/things?page=100001", headers=_auth("admin"))
    assert r.status_code == 422
    r = client.get("/api/v1/things?q=a%00b", headers=_auth("admin"))
    assert r.status_code == 400


def test_impossible_time_zone_offsets_are_refused():
    from gateway.http import check_values

    class Q(Schema):
        since = fields.AwareDateTime()

    with pytest.raises(Exception) as err:
        check_values(Q().load({"since": "0171-11-22T14:41:47+22:07"}))
    assert "since" in err.value.details["fields"]
    check_values(Q().load({"since": "2024-01-15T14:45:00+14:00"}))


def test_body_dates_with_impossible_offsets_are_422():
    bp = Blueprint("dated", __name__, url_prefix="/api/v1")

    class Dated(Schema):
        at = fields.AwareDateTime(required=True)

    @bp.post("/dated")
    def dated():
        return jsonify({"ok": bool(load_body(Dated))})

    app = create_app()
    app.register_blueprint(bp)
    client = app.test_client()
    assert client.post("/api/v1/dated", json={"at": "2554-11-25T16:04:22-23:59"}).status_code == 422
    assert client.post("/api/v1/dated", json={"at": "2024-11-25T16:04:22-05:00"}).status_code == 200
