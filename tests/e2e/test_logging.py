"""End-to-end: at the most verbose level the template accepts (LogLevel=TRACE, which
Lambda passes as AWS_LAMBDA_LOG_LEVEL and `make test` sets for the whole stack), a
sign-in and a read leave no bearer token, no raw fingerprint and no `Authorization`
value in any line the functions log: the runtime's own TRACE lines (each raw event)
are cut off, only this service's crates log at TRACE.

Run by `make test` (which starts the stack and sets API_URL, API_LOG and
AWS_LAMBDA_LOG_LEVEL)."""

import json
import re
import time
import uuid
from pathlib import Path

from test_routes import API_LOG, call, mint


def logged_lines():
    assert API_LOG, "make test sets API_LOG"
    return Path(API_LOG).read_text().splitlines()


def json_lines(lines):
    return [json.loads(line[line.index("{"):]) for line in lines if "{" in line]


def test_the_stack_logs_at_trace():
    """What the test below relies on: every function of the stack runs at TRACE."""
    call("GET", "/devices")
    started = [
        entry
        for entry in json_lines(line for line in logged_lines() if '"logging"' in line)
        if entry.get("fields", {}).get("message") == "logging"
    ]
    assert started, "each function says its level at cold start"
    assert {entry["fields"]["level"].upper() for entry in started} == {"TRACE"}, started
    assert {entry["fields"]["dependencies"].upper() for entry in started} == {"INFO"}, started


def test_no_token_fingerprint_or_authorization_at_trace():
    user = f"e2e-{uuid.uuid4().hex}"
    token = mint(user, f"trace-{uuid.uuid4().hex}")
    fingerprint = f"fp-trace-{uuid.uuid4().hex}"
    status, body, _ = call("POST", "/sessions", token, {"fingerprint": fingerprint})
    assert status == 201, body
    status, body, _ = call("GET", "/devices", token)
    assert status == 200 and len(body["devices"]) == 1, body

    # Both requests answered are in the log (so it was written), then nothing secret is.
    deadline = time.monotonic() + 10
    while True:
        lines = logged_lines()
        answered = [
            e
            for e in json_lines(line for line in lines if '"answered"' in line)
            if e.get("span", {}).get("user") == user
        ]
        if len(answered) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(answered) == 2, answered
    signature = token.rsplit(".", 1)[1]
    for number, line in enumerate(lines, 1):
        where = f"{API_LOG}:{number}: {line[:200]}"
        assert token not in line and signature not in line, where
        assert fingerprint not in line, where
        # No JWT at all (every one starts with a base64 `{"`), nor any header's value.
        assert "eyJ" not in line, where
        assert not re.search(r"bearer\s", line, re.IGNORECASE), where
        assert not re.search(r"authorization\"?\s*[:=]", line, re.IGNORECASE), where
