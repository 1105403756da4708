"""RELIABILITY A6 cases the token tests did not name: forged jku/jwk/x5u headers, an RS256 header
(key confusion), a wrong issuer, missing exp, and a lifetime within 15 minutes (role downgrades)."""
import base64
import json
import time

import jwt
import pytest

from crm_shared import auth
from crm_shared.config import auth_settings
from crm_shared.errors import Unauthorized


def _claims(**over):
    s = auth_settings()
    now = int(time.time())
    return {"sub": "u", "role": "admin", "iss": s.issuer, "aud": s.audience, "iat": now, "exp": now + 60, **over}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _hand_made(header: dict, claims: dict, signature: bytes = b"x" * 256) -> str:
    return ".".join([_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(signature)])


@pytest.mark.parametrize("header", [{"jku": "https://evil.example/jwks.json"},
                                    {"jwk": {"kty": "oct", "k": "c2VjcmV0"}},
                                    {"x5u": "https://evil.example/cert.pem"}], ids=["jku", "jwk", "x5u"])
def test_tokens_pointing_at_their_own_keys_are_refused(header):
    token = jwt.encode(_claims(), auth_settings().secret, algorithm="HS256", headers=header)  # validly signed
    with pytest.raises(Unauthorized):
        auth.decode_token(token)


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256", "HS384"])
def test_other_algorithms_are_refused_key_confusion(alg):
    with pytest.raises(Unauthorized):
        auth.decode_token(_hand_made({"alg": alg, "typ": "JWT"}, _claims()))


def test_wrong_issuer_and_missing_expiry_are_refused():
    secret = auth_settings().secret
    with pytest.raises(Unauthorized):
        auth.decode_token(jwt.encode(_claims(iss="someone-else"), secret, algorithm="HS256"))
    no_exp = _claims()
    no_exp.pop("exp")
    with pytest.raises(Unauthorized):
        auth.decode_token(jwt.encode(no_exp, secret, algorithm="HS256"))


def test_a_role_claim_changed_after_signing_is_refused():
    header, payload, signature = auth.create_token("u1", "sales").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "admin"
    with pytest.raises(Unauthorized):
        auth.decode_token(f"{header}.{_b64(json.dumps(claims).encode())}.{signature}")


def test_tokens_live_at_most_fifteen_minutes_so_a_role_downgrade_takes_effect_within_that():
    claims = jwt.decode(auth.create_token("u1", "sales"), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] <= 15 * 60
    assert auth_settings().ttl_seconds <= 15 * 60
