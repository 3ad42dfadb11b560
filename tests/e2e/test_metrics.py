"""End-to-end: a revocation through the real binaries leaves its metrics line in
CloudWatch's embedded metric format (docs/operations.md#metrics) in the functions'
output, counted by function and status, and naming no user, session or address.

Run by `make test` (which starts the stack and sets API_URL and API_LOG)."""

import time
import uuid

from test_logging import json_lines, logged_lines
from test_routes import call, mint


def metric_lines(function):
    return [
        line for line in json_lines(l for l in logged_lines() if '"_aws"' in l)
        if line.get("Function") == function
    ]


def test_a_revocation_leaves_its_metric_line():
    user = f"e2e-{uuid.uuid4().hex}"
    session = f"metrics-{uuid.uuid4().hex}"
    token = mint(user, session)
    status, body, _ = call("POST", "/sessions", token, {"fingerprint": f"fp-{uuid.uuid4().hex}"})
    assert status == 201, body
    before = len(metric_lines("revoke-session"))
    status, body, _ = call("POST", f"/sessions/{session}/revoke", token)
    assert status == 200, body

    deadline = time.monotonic() + 10
    while len(lines := metric_lines("revoke-session")) <= before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(lines) > before, "revoke-session wrote no metrics line"
    line = lines[-1]
    assert line["Status"] == "200" and line["Requests"] == 1, line
    assert line["Revocations"] == 1 and line["SessionsEnded"] == 1, line
    assert isinstance(line["_aws"]["Timestamp"], int), line
    directives = line["_aws"]["CloudWatchMetrics"]
    named = {m["Name"] for d in directives for m in d["Metrics"]}
    assert {"Requests", "Revocations", "SessionsEnded"} <= named, directives
    dimensions = {name for d in directives for s in d["Dimensions"] for name in s}
    assert dimensions <= {"Function", "Status", "Code", "EndReason"}, dimensions
    text = str(line)
    assert user not in text and session not in text and "127.0.0.1" not in text, line

    # The revoked session's next request: a refusal, by code and by end reason.
    status, body, _ = call("GET", "/devices", token)
    assert status == 401, body
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        refused = [l for l in metric_lines("list-devices")
                   if l.get("Code") == "SESSION_ENDED" and l.get("EndReason")]
        if refused:
            break
        time.sleep(0.2)
    assert refused and refused[-1]["Refusals"] == 1, refused[-1:]
