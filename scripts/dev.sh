#!/usr/bin/env bash
# make dev: the local DynamoDB and every route, on loopback, in the foreground.
# Ctrl-C or SIGTERM stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh
source scripts/local-env.sh
trap stop_stack EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$CARGO_TARGET_DIR/local"
start_dynamodb "$CARGO_TARGET_DIR/local/dynamodb.log"
start_moto "$CARGO_TARGET_DIR/local/moto.log"
echo "building the functions…"
start_api /dev/stdout
# Security events to EventBridge: Lambda's stream trigger stood in for by a pump that
# invokes the real publish-events binary (one "published" log line per event).
"$VENV/bin/python" scripts/stream_pump.py &
STACK_PIDS+=($!)

# A demo user with a few devices and sessions, and a link to the devices page signed in
# as them: a one-time code, never the token (docs/devices-page.md).
page_link=$("$VENV/bin/python" scripts/demo_user.py "http://127.0.0.1:${API_PORT}")

cat <<MSG

Flashback device & session API on http://127.0.0.1:${API_PORT}
DynamoDB (AWS's DynamoDB Local) on http://127.0.0.1:${DYNAMODB_PORT}, table ${TABLE_NAME}
Security events published to moto's EventBridge on http://127.0.0.1:${MOTO_PORT}
(default bus, source flashback.device-sessions): one "published" log line each.

A local token (HS256 with JWT_SECRET, or the documented local default; iss
${JWT_ISSUER}, aud ${JWT_AUDIENCE}, both checked):
  TOKEN=\$(make -s token USER=alice SESSION=s1)
  curl -s -X POST http://127.0.0.1:${API_PORT}/sessions -H "Authorization: Bearer \$TOKEN" \\
       -H 'Content-Type: application/json' -d '{"fingerprint":"laptop-1"}'

The "Your devices" page, signed in as a demo user with four devices, in a session the
page binds to your browser's own key (DPoP). The link works once, within a minute;
\`API_PORT=${API_PORT} make page-link\` prints a fresh one:
  ${page_link}

Stop with Ctrl-C.
MSG
wait
