"""Mint a local HS256 access token (standard library only).

    python3 scripts/mint_token.py USER SESSION [TTL_SECONDS]

Uses JWT_SECRET (the documented local default when unset), the claim names in
JWT_USER_CLAIM / JWT_SESSION_CLAIM (sub / sid by default), like the functions do, and
the issuer and audience the local stack checks (JWT_ISSUER / JWT_AUDIENCE, by default
the local ones below, which scripts/local-env.sh sets for `make dev` and `make test`).
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time

LOCAL_JWT_SECRET = "local-development-secret-change-me-0123456789"
LOCAL_JWT_ISSUER = "https://id.flashback.local"
LOCAL_JWT_AUDIENCE = "flashback-devices"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(user: str, session: str, ttl: int = 3600, auth_time: int | None = None) -> str:
    """`auth_time` (when the user authenticated) is now unless given: a fresh sign-in,
    as an identity provider's token says."""
    secret = os.environ.get("JWT_SECRET") or LOCAL_JWT_SECRET
    now = int(time.time())
    claims = {
        os.environ.get("JWT_USER_CLAIM") or "sub": user,
        os.environ.get("JWT_SESSION_CLAIM") or "sid": session,
        "iss": os.environ.get("JWT_ISSUER") or LOCAL_JWT_ISSUER,
        "aud": os.environ.get("JWT_AUDIENCE") or LOCAL_JWT_AUDIENCE,
        "iat": now,
        "auth_time": now if auth_time is None else auth_time,
        "exp": now + ttl,
    }
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: mint_token.py USER SESSION [TTL_SECONDS]")
    print(mint(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else 3600))
