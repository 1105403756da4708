"""RELIABILITY A3 at the gateway: server-owned contact fields are a 400 on POST and PATCH, before any RPC."""
import pytest

import gateway.api.contacts as contacts_api
from crm_shared.auth import create_token
from gateway.app import create_app

SERVER_OWNED = ("unsubscribed", "created_by", "updated_by", "created_at", "updated_at", "score", "import_id",
                "source", "id", "version", "inactive")


@pytest.fixture()
def client(monkeypatch):
    def no_rpc(*args, **kwargs):
        raise AssertionError(f"the request reached a service: {args}")

    monkeypatch.setattr(contacts_api, "call", no_rpc)
    return create_app().test_client()


def _admin():
    return {"Authorization": f"Bearer {create_token('u-admin', 'admin', name='Ada')}"}


@pytest.mark.parametrize("field", SERVER_OWNED)
def test_server_owned_fields_are_400_on_create_and_update(client, field):
    value = False if field == "unsubscribed" else "x"
    created = client.post("/api/v1/contacts", headers=_admin(),
                          json={"first_name": "Ann", "last_name": "Lee", "email": "a@b.co", field: value})
    assert created.status_code == 400, created.json
    assert field in created.json["error"]["details"]["fields"]
    updated = client.patch("/api/v1/contacts/3f1c2e4a-0000-4000-8000-000000000001", headers=_admin(),
                           json={field: value})
    assert updated.status_code == 400, updated.json
    assert field in updated.json["error"]["details"]["fields"]
