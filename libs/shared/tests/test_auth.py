"""Tokens and roles: only a valid HS256 token with our issuer and audience gets in."""
import time

import jwt
import pytest

from crm_shared import auth
from crm_shared.config import auth_settings
from crm_shared.errors import Forbidden, Unauthorized


def test_token_round_trip():
    token = auth.create_token("u1", "sales", name="Sam", email="sam@x.com")
    caller = auth.decode_token(token)
    assert (caller.user_id, caller.role, caller.name) == ("u1", "sales", "Sam")


def test_password_hashing():
    hashed = auth.hash_password("s3cret")
    assert hashed != "s3cret"
    assert auth.verify_password(hashed, "s3cret")
    assert not auth.verify_password(hashed, "wrong")


def _claims(**over):
    s = auth_settings()
    now = int(time.time())
    return {"sub": "u", "role": "admin", "iss": s.issuer, "aud": s.audience, "iat": now, "exp": now + 60, **over}


@pytest.mark.parametrize("token", [
    None, "", "garbage",
    jwt.encode(_claims(), None, algorithm="none"),
    jwt.encode(_claims(exp=int(time.time()) - 1), auth_settings().secret, algorithm="HS256"),
    jwt.encode(_claims(aud="other"), auth_settings().secret, algorithm="HS256"),
    jwt.encode(_claims(role="superuser"), auth_settings().secret, algorithm="HS256"),
    jwt.encode(_claims(), auth_settings().secret, algorithm="HS256", headers={"kid": "../../key"}),
    jwt.encode(_claims(), auth_settings().secret, algorithm="HS512"),
])
def test_bad_tokens_are_rejected(token):
    with pytest.raises(Unauthorized):
        auth.decode_token(token)


def test_roles_and_ownership():
    sales = auth.Caller("u1", "sales")
    assert sales.can_write_owned("u1") and not sales.can_write_owned("u2")
    with pytest.raises(Forbidden):
        sales.require_owner("u2")
    with pytest.raises(Forbidden):
        auth.Caller("e", "executive").require("admin", "marketing", "sales")
    assert not auth.Caller("e", "executive").can_write_owned("e")
    assert auth.Caller("m", "marketing").can_write_owned("anyone")
    assert auth.Caller("s", auth.SYSTEM).require("admin")
