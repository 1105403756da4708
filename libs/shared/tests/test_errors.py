"""Typed errors keep their details (numbers, booleans, lists) across the RPC wire."""
from nameko.exceptions import deserialize, serialize

from crm_shared.errors import Conflict, ValidationFailed
from crm_shared.rpc import RemoteError, _rebuild_error


def test_details_keep_their_types_through_nameko_serialisation():
    wire = serialize(Conflict("limit reached", {"limit": 50, "ok": True, "ids": [1, 2], "none": None}))
    for rebuilt in (_rebuild_error(wire), deserialize(wire)):
        assert isinstance(rebuilt, Conflict)
        assert rebuilt.message == "limit reached"
        assert rebuilt.details == {"limit": 50, "ok": True, "ids": [1, 2], "none": None}


def test_error_dict_shape():
    assert ValidationFailed("bad", {"fields": {"email": ["invalid"]}}).to_dict() == {
        "code": "validation_error", "message": "bad", "details": {"fields": {"email": ["invalid"]}}}


def test_unknown_remote_errors_stay_opaque():
    rebuilt = _rebuild_error({"exc_type": "KeyError", "exc_path": "builtins.KeyError", "exc_args": ["x"],
                              "value": "'x'"})
    assert isinstance(rebuilt, RemoteError)
