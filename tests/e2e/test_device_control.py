"""End-to-end: device control over HTTP through `cargo lambda watch` — naming a device,
pages of devices and sessions, why a session ended and when it will, the session cap
and step-up (`make test` runs the stack with MAX_ACTIVE_SESSIONS_PER_USER=4 and
STEP_UP_MAX_AGE_SECONDS=600)."""

import os
import time
import uuid

from test_routes import call, mint


def test_rename_pages_reasons_and_expiries():
    user = f"e2e-control-{uuid.uuid4().hex}"
    tokens = {name: mint(user, name) for name in ["one", "two", "three"]}
    devices = {}
    for name, token in tokens.items():
        status, body, _ = call("POST", "/sessions", token, {"fingerprint": f"e2e-{name}"})
        assert status == 201, body
        devices[name] = body["data"]["device"]["id"]

    # A chosen name survives the next sign-in on that device.
    status, body, _ = call("PATCH", f"/devices/{devices['one']}", tokens["one"], {"deviceName": "Work laptop"})
    assert status == 200 and body["device"]["deviceName"] == "Work laptop", body
    again = mint(user, "one-again")
    status, body, _ = call("POST", "/sessions", again, {"fingerprint": "e2e-one"})
    assert status == 201 and body["data"]["device"]["deviceName"] == "Work laptop", body
    status, body, _ = call("PATCH", f"/devices/{devices['one']}", tokens["one"], {"deviceName": "a\u202eb"})
    assert status == 400 and body["code"] == "INVALID_FIELD", body

    # Pages: without limit the whole list, with it pages and a cursor.
    status, whole, _ = call("GET", "/devices", tokens["one"])
    assert status == 200 and len(whole["devices"]) == 3 and "nextCursor" not in whole, whole
    seen, cursor = [], None
    while True:
        path = "/devices?limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, page, _ = call("GET", path, tokens["one"])
        assert status == 200, page
        seen += [d["id"] for d in page["devices"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == sorted(d["id"] for d in whole["devices"])
    status, page, _ = call("GET", "/sessions?limit=1", tokens["one"])
    assert status == 200 and len(page["sessions"]) == 1 and page["nextCursor"], page

    # The heartbeat says when the session will end.
    status, body, _ = call("POST", "/sessions/one/heartbeat", tokens["one"])
    assert status == 200, body
    assert body["data"]["idleSecondsLeft"] > 0 and body["data"]["absoluteSecondsLeft"] > 0, body

    # An ended session is told why.
    status, body, _ = call("POST", "/sessions/two/revoke", tokens["one"])
    assert status == 200, body
    status, body, _ = call("GET", "/sessions/current", tokens["two"])
    assert status == 401 and body["code"] == "SESSION_ENDED" and body["reason"] == "REVOKED", body
    status, body, _ = call("DELETE", f"/devices/{devices['three']}", tokens["one"])
    assert status == 200, body
    status, body, _ = call("GET", "/devices", tokens["three"])
    assert status == 401 and body["reason"] == "DEVICE_REMOVED", body
    status, body, _ = call("GET", "/devices", mint(user, "never-signed-in"))
    assert status == 401 and body["reason"] == "NOT_REGISTERED", body

    # And the log holds each change.
    status, body, _ = call("GET", "/security-events?limit=100", tokens["one"])
    assert status == 200, body
    types = [e["type"] for e in body["events"]]
    for expected in ["DEVICE_RENAMED", "SESSION_REVOKED", "DEVICE_REMOVED", "NEW_DEVICE_SIGN_IN"]:
        assert expected in types, types


def test_the_cap_evicts_the_least_recently_active_session():
    cap = int(os.environ.get("MAX_ACTIVE_SESSIONS_PER_USER", "4"))
    user = f"e2e-cap-{uuid.uuid4().hex}"
    tokens = [mint(user, f"s{i}") for i in range(cap + 1)]
    for i, token in enumerate(tokens[:cap]):
        status, body, _ = call("POST", "/sessions", token, {"fingerprint": f"fingerprint-cap-{i}"})
        assert status == 201, body
    time.sleep(1.1)
    # Every session but the first is active again; the first is now the least recent.
    for token in tokens[1:cap]:
        status, body, _ = call("POST", f"/sessions/s{tokens.index(token)}/heartbeat", token)
        assert status == 200, body
    status, body, _ = call("POST", "/sessions", tokens[cap], {"fingerprint": "fingerprint-cap-new"})
    assert status == 201, body
    status, body, _ = call("GET", "/sessions", tokens[0])
    assert status == 401 and body["reason"] == "EVICTED", body
    status, body, _ = call("GET", "/sessions", tokens[cap])
    assert status == 200 and len(body["sessions"]) == cap, body


def test_destructive_routes_need_a_recent_sign_in():
    user = f"e2e-step-up-{uuid.uuid4().hex}"
    token = mint(user, "fresh")
    status, body, _ = call("POST", "/sessions", token, {"fingerprint": "fingerprint-step-up"})
    assert status == 201, body
    stale = mint(user, "fresh", auth_time=int(time.time()) - 3600)
    status, body, headers = call("POST", "/sessions/revoke-all", stale)
    assert status == 401 and body["code"] == "STEP_UP_REQUIRED", body
    challenge = {k.lower(): v for k, v in headers.items()}["www-authenticate"]
    assert 'error="insufficient_user_authentication"' in challenge and "max_age=" in challenge
    status, body, _ = call("POST", "/sessions/revoke-all?keepCurrent=true", token)
    assert status == 200, body
