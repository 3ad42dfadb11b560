"""End-to-end: a device-bound session (DPoP) over HTTP through `cargo lambda watch`:
signed in with a proof (after the server-nonce exchange: the stack runs with
DPOP_NONCE on), it works with a fresh proof per request and is refused without one,
with a replayed one, or with another device's key (docs/device-binding.md)."""

import sys
import uuid
from pathlib import Path

from test_routes import API_URL, call, mint

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import dpop_proof  # noqa: E402


# The stack runs with DPoP server nonces on (scripts/test.sh): the last one handed out.
NONCE = {}


def proved(method, path, token, key, body=None, proof=None):
    """`call` with a DPoP proof by `key` for this request (or the given one), carrying
    the last nonce the stack handed out; the answer and the proof."""
    proof = proof or dpop_proof.proof(key, method, API_URL + path, token, **NONCE)
    status, body, headers = call(method, path, token, body, headers={"DPoP": proof})
    nonce = {k.lower(): v for k, v in headers.items()}.get("dpop-nonce")
    if nonce:
        NONCE["nonce"] = nonce
    return (status, body, headers), proof


def test_a_bound_session_needs_its_key_on_every_request(tmp_path):
    user = f"e2e-dpop-{uuid.uuid4().hex}"
    token = mint(user, "bound")
    key = dpop_proof.load_key(str(tmp_path / "device.pem"))
    # No nonce yet: refused, with one handed out to sign again with.
    NONCE.clear()
    sign_in = {"fingerprint": "fp-of-a-key-bound-device"}
    (status, body, headers), _ = proved("POST", "/sessions", token, key, sign_in)
    assert status == 401 and body["code"] == "USE_DPOP_NONCE", body
    assert {k.lower(): v for k, v in headers.items()}["www-authenticate"].startswith('DPoP error="use_dpop_nonce"')
    assert NONCE, headers
    (status, body, _), _ = proved("POST", "/sessions", token, key, sign_in)
    assert status == 201, body
    assert body["data"]["session"]["keyBound"] is True, body
    assert body["data"]["device"]["keyThumbprint"] == dpop_proof.thumbprint(key), body

    (status, body, _), proof = proved("GET", "/devices", token, key)
    assert status == 200 and body["devices"][0]["keyBound"] is True, body

    # The token alone, a replay of the proof, another device's key: all refused.
    status, body, headers = call("GET", "/devices", token)
    assert status == 401 and body["code"] == "DPOP_PROOF_REQUIRED", body
    challenge = {k.lower(): v for k, v in headers.items()}["www-authenticate"]
    assert challenge.startswith("DPoP "), headers
    (status, body, _), _ = proved("GET", "/devices", token, key, proof=proof)
    assert status == 401 and body["code"] == "INVALID_DPOP_PROOF", body
    thief = dpop_proof.load_key(str(tmp_path / "thief.pem"))
    (status, body, _), _ = proved("GET", "/devices", token, thief)
    assert status == 401 and body["code"] == "INVALID_DPOP_PROOF", body

    (status, body, _), _ = proved("POST", "/sessions/bound/heartbeat", token, key)
    assert status == 200, body
