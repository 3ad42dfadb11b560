# Sourced by the local stack and the tests: the fixed local interface (README
# "Local stack") and an AWS environment that can only reach the emulator.
export DYNAMODB_PORT="${DYNAMODB_PORT:-8000}"
export API_PORT="${API_PORT:-9000}"
export TABLE_NAME="${TABLE_NAME:-flashback-sessions-local}"
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:${DYNAMODB_PORT}"
# moto serves EventBridge (and the stream, SQS) on the same port: publish-events puts there.
export AWS_ENDPOINT_URL_EVENTBRIDGE="http://127.0.0.1:${DYNAMODB_PORT}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="$AWS_REGION"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
export AWS_EC2_METADATA_DISABLED=true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# Tokens are scoped locally as deployed ones must be: the local stack checks this issuer
# and audience, and `make token` (scripts/mint_token.py) puts them in.
export JWT_ISSUER="${JWT_ISSUER:-https://id.flashback.local}"
export JWT_AUDIENCE="${JWT_AUDIENCE:-flashback-devices}"
VENV="$PWD/.venv"

# wait_for_port PORT SECONDS: until something listens on 127.0.0.1:PORT.
wait_for_port() {
  local deadline=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "nothing listening on 127.0.0.1:$1 after $2 s" >&2
      return 1
    fi
    sleep 0.2
  done
}

# start_dynamodb LOG: moto's server on loopback, with the table from template.yaml.
start_dynamodb() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$DYNAMODB_PORT") 2>/dev/null; then
    echo "port $DYNAMODB_PORT is taken: stop what uses it or set DYNAMODB_PORT" >&2
    return 1
  fi
  "$VENV/bin/python" scripts/dynamodb_server.py "$DYNAMODB_PORT" >"$1" 2>&1 &
  STACK_PIDS+=($!)
  wait_for_port "$DYNAMODB_PORT" 60
  "$VENV/bin/python" scripts/create_table.py template.yaml
}

# start_api LOG: every route served by the real binaries through cargo lambda watch.
start_api() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$API_PORT") 2>/dev/null; then
    echo "port $API_PORT is taken: stop what uses it or set API_PORT" >&2
    return 1
  fi
  # Build first so the first request of each route is not a compile.
  cargo build --quiet --bins -p functions
  PATH="$VENV/bin:$PATH" "$VENV/bin/cargo-lambda" lambda watch \
    --invoke-address 127.0.0.1 --invoke-port "$API_PORT" --ignore-changes --quiet >"$1" 2>&1 &
  STACK_PIDS+=($!)
  wait_for_port "$API_PORT" 300
}

STACK_PIDS=()
stop_stack() {
  if ((${#STACK_PIDS[@]})); then
    kill "${STACK_PIDS[@]}" 2>/dev/null || true
    wait "${STACK_PIDS[@]}" 2>/dev/null || true
  fi
}
