"""Make a DPoP proof (RFC 9449) with a device key kept in a file: what a bound client
does before every request (docs/device-binding.md).

    python3 scripts/dpop_proof.py KEY_FILE METHOD URL ACCESS_TOKEN

Creates KEY_FILE (a P-256 private key, PEM) on first use; prints one proof, good for
one request. Needs only `cryptography` (in .venv).
"""

import base64
import hashlib
import json
import sys
import time
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load_key(path: str) -> ec.EllipticCurvePrivateKey:
    """The device key in `path`, made there (readable by its owner only) if absent."""
    file = Path(path)
    if not file.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        file.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        file.chmod(0o600)
    return serialization.load_pem_private_key(file.read_bytes(), password=None)


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict:
    numbers = key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256",
            "x": b64(numbers.x.to_bytes(32, "big")), "y": b64(numbers.y.to_bytes(32, "big"))}


def thumbprint(key: ec.EllipticCurvePrivateKey) -> str:
    """RFC 7638: the required members in order, no spaces, SHA-256."""
    jwk = public_jwk(key)
    canonical = json.dumps({m: jwk[m] for m in ["crv", "kty", "x", "y"]}, separators=(",", ":"))
    return b64(hashlib.sha256(canonical.encode()).digest())


def proof(key: ec.EllipticCurvePrivateKey, method: str, url: str, token: str, **claims) -> str:
    """One proof for `method` `url` sent with `token`; `claims` override the defaults."""
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(key)}
    body = {"jti": str(uuid.uuid4()), "htm": method, "htu": url.split("?")[0],
            "iat": int(time.time()), "ath": b64(hashlib.sha256(token.encode()).digest())}
    body.update(claims)
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    key_file, method, url, token = sys.argv[1:]
    print(proof(load_key(key_file), method, url, token))
