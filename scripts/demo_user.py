"""A demo user with a few devices and sessions, registered through the API like real
sign-ins, and a link that opens the "Your devices" page signed in as that user.

    python3 scripts/demo_user.py API_URL [USER]          # seed, then print a link
    python3 scripts/demo_user.py --link API_URL [USER]   # a fresh link only (make page-link)

`make dev` runs the first and prints the link; the browser tests (tests/browser) seed
their own users with `seed` and open the page with `page_link`. A link carries a
one-time code that lives a minute (PAGE_CODE_SECONDS), never the token or the
fingerprint: the app's side of the hand-off (docs/devices-page.md).
"""

import json
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mint_token import mint  # noqa: E402

# (session, fingerprint, User-Agent, geolocation, login method), in sign-in order: the
# first is the one the page is opened with ("This device"). Four sessions, so the
# demo fits the session cap `make test` runs with.
SIGN_INS = [
    ("laptop", "demo-laptop",
     "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
     {"country": "Germany", "city": "Berlin"}, "password"),
    ("phone", "demo-phone",
     "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
     {"country": "Germany", "city": "Berlin"}, "passkey"),
    ("desktop", "demo-desktop",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
     {"country": "Portugal", "city": "Lisbon"}, "password"),
    ("tablet", "demo-tablet",
     "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1",
     {"country": "Spain", "city": "Madrid"}, "sso"),
]


def call(api, method, path, token, body=None, user_agent=None):
    """One API call: (status, envelope); `token` None sends no Authorization."""
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if user_agent:
        headers["User-Agent"] = user_agent
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    for attempt in (1, 2):
        request = urllib.request.Request(api + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            body = error.read()
            # `cargo lambda watch`'s own 500, now and then (docs/testing.md): a read is
            # asked again, once; anything that writes is not, its function ran.
            if error.code == 500 and HARNESS_FAILURE in body and method == "GET" and attempt == 1:
                continue
            return error.code, json.loads(body)


# The body `cargo lambda watch` answers its own 500s with (no function's envelope).
HARNESS_FAILURE = b'"type":"https://httpstatuses.com/500"'


def seed(api, user, ttl=8 * 3600):
    """Registers SIGN_INS for `user`, trusts the first device, names the desktop.
    Returns {session: (token, fingerprint, device id)}."""
    signed_in = {}
    for session, fingerprint, user_agent, place, method in SIGN_INS:
        token = mint(user, session, ttl)
        body = {"fingerprint": fingerprint, "geolocation": place, "loginMethod": method}
        status, envelope = call(api, "POST", "/sessions", token, body, user_agent)
        if status != 201:
            raise RuntimeError(f"sign-in {session}: {status} {envelope}")
        signed_in[session] = (token, fingerprint, envelope["data"]["device"]["id"])
    laptop_token, laptop_fingerprint, _ = signed_in["laptop"]
    status, envelope = call(api, "POST", "/devices/trust", laptop_token, {"fingerprint": laptop_fingerprint})
    if status != 200:
        raise RuntimeError(f"trust: {status} {envelope}")
    desktop = signed_in["desktop"]
    status, envelope = call(api, "PATCH", f"/devices/{desktop[2]}", desktop[0], {"deviceName": "Home PC"})
    if status != 200:
        raise RuntimeError(f"rename: {status} {envelope}")
    return signed_in


def page_link(api, token, fingerprint=None):
    """What the platform's app does to open the page: a one-time code for the user's
    token (and this device's fingerprint), then the page at the path answered."""
    body = {"fingerprint": fingerprint} if fingerprint else None
    status, envelope = call(api, "POST", "/account/devices/codes", token, body)
    if status != 201:
        raise RuntimeError(f"page code: {status} {envelope}")
    return api + envelope["data"]["path"]


def demo_link(api, user):
    """A fresh link for a new session of the demo user (seeded before), not yet
    registered: the page registers it bound to the browser's own key (DPoP;
    docs/device-binding.md), on the device that key is."""
    session = f"browser-{uuid.uuid4().hex[:8]}"
    return page_link(api, mint(user, session, 8 * 3600), "demo-browser")


if __name__ == "__main__":
    args = sys.argv[1:]
    link_only = args[:1] == ["--link"]
    args = args[1:] if link_only else args
    if len(args) not in (1, 2):
        sys.exit("usage: demo_user.py [--link] API_URL [USER]")
    api, user = args[0].rstrip("/"), args[1] if len(args) == 2 else "demo"
    if not link_only:
        seed(api, user)
    print(demo_link(api, user))
