#!/usr/bin/env bash
# make test: lint, unit tests, endpoint tests against DynamoDB Local (`make check` stops
# there), then end-to-end tests through `cargo lambda watch`, the devices page in a real
# browser, fuzzing and template validation. Runs on its own ports, so it can run beside
# `make dev`. `scripts/test.sh --check` is `make check`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh
export DYNAMODB_PORT="${TEST_DYNAMODB_PORT:-8100}"
export MOTO_PORT="${TEST_MOTO_PORT:-$((DYNAMODB_PORT + 1))}"
export API_PORT="${TEST_API_PORT:-9100}"
export TABLE_NAME="flashback-sessions-test"
# The end-to-end stack signs with this secret; the tests mint tokens with it.
export JWT_SECRET="end-to-end-tests-secret-0123456789abcdef"
source scripts/local-env.sh
trap stop_stack EXIT
logs="$CARGO_TARGET_DIR/test-logs"
mkdir -p "$logs"

step() { printf '\n== %s\n' "$*"; }

# summary LAYER…: one closing line for the layers' logs together.
summary() {
  local layer files=()
  for layer in "$@"; do files+=("$logs/$layer.log"); done
  cat "${files[@]}" | awk '
    /test result:/ { passed += $4; failed += $6 }
    /^[0-9]+ passed/ { passed += $1 }
    / failed/ && !/test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^failed/) failed += $i }
    END { printf "\n%d passed, %d failed\n", passed, failed }'
}

step "lint (rustfmt, clippy)"
cargo fmt --all -- --check
cargo clippy --quiet --workspace --all-targets -- -D warnings

step "unit tests"
cargo test --quiet -p shared -p functions --lib 2>&1 | tee "$logs/unit.log"

step "endpoint tests (DynamoDB Local on 127.0.0.1:$DYNAMODB_PORT)"
start_dynamodb "$logs/dynamodb.log"
# The tests wait on the emulator, not the CPU: run more of them at once.
RUST_TEST_THREADS="${RUST_TEST_THREADS:-8}" cargo test --quiet -p tests --test endpoints 2>&1 | tee "$logs/endpoints.log"

if [ "${1:-}" = --check ]; then
  summary unit endpoints
  exit
fi
start_moto "$logs/moto.log"

step "end-to-end tests (cargo lambda watch on 127.0.0.1:$API_PORT)"
# The stack runs with a small session cap and step-up on, so the end-to-end tests see
# both as deployed (tests/e2e/test_device_control.py); the endpoint tests set their own.
export MAX_ACTIVE_SESSIONS_PER_USER=4 STEP_UP_MAX_AGE_SECONDS=600
# …and with DPoP server nonces on, so the page and tests/e2e/test_device_binding.py go
# through the nonce exchange (docs/device-binding.md#nonces).
export DPOP_NONCE=on
# …and at the most verbose level the template accepts (LogLevel=TRACE reaches the
# functions as AWS_LAMBDA_LOG_LEVEL): tests/e2e/test_logging.py checks that even then
# no token, fingerprint or Authorization value is logged.
export AWS_LAMBDA_LOG_LEVEL=TRACE
start_api "$logs/api.log"
API_URL="http://127.0.0.1:$API_PORT" API_LOG="$logs/api.log" "$VENV/bin/pytest" -q -p no:cacheprovider tests/e2e 2>&1 | tee "$logs/e2e.log"

step "browser tests (the devices and not-me pages in Debian's Chromium, against the same stack)"
rm -f "$logs/page-metrics.txt"
API_URL="http://127.0.0.1:$API_PORT" API_LOG="$logs/api.log" PAGE_METRICS="$logs/page-metrics.txt" "$VENV/bin/pytest" -q -p no:cacheprovider tests/browser 2>&1 | tee "$logs/browser.log"
cat "$logs/page-metrics.txt"

step "fuzzing (schemathesis from openapi.yaml, against the same stack)"
API_URL="http://127.0.0.1:$API_PORT" scripts/fuzz.sh 2>&1 | tee "$logs/fuzz.log"

step "contract (one list of routes) and template validation"
"$VENV/bin/pytest" -q -p no:cacheprovider tests/contract 2>&1 | tee "$logs/contract.log"
scripts/lint.sh

summary unit endpoints e2e browser contract
