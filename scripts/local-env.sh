# Sourced by the local stack and the tests: the fixed local interface
# (docs/testing.md#local-stack) and an AWS environment that can only reach the emulator.
export DYNAMODB_PORT="${DYNAMODB_PORT:-8000}"
export API_PORT="${API_PORT:-9000}"
export TABLE_NAME="${TABLE_NAME:-flashback-sessions-local}"
# moto serves only what DynamoDB Local does not: EventBridge and SQS, on its own port.
export MOTO_PORT="${MOTO_PORT:-$((DYNAMODB_PORT + 1))}"
# The SDKs' per-service endpoints: DynamoDB and its stream from DynamoDB Local, the bus
# and the queues from moto.
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:${DYNAMODB_PORT}"
export AWS_ENDPOINT_URL_DYNAMODB_STREAMS="http://127.0.0.1:${DYNAMODB_PORT}"
export AWS_ENDPOINT_URL_EVENTBRIDGE="http://127.0.0.1:${MOTO_PORT}"
export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:${MOTO_PORT}"
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

# port_free PORT NAME: fails, saying which variable moves it, when PORT is taken.
port_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "port $1 is taken: stop what uses it or set $2" >&2
    return 1
  fi
}

# start_dynamodb LOG: AWS's DynamoDB Local on 127.0.0.1 only, in memory, with the
# table from template.yaml.
start_dynamodb() {
  port_free "$DYNAMODB_PORT" DYNAMODB_PORT
  scripts/dynamodb-local/run.sh "$DYNAMODB_PORT" >"$1" 2>&1 &
  STACK_PIDS+=($!)
  wait_for_port "$DYNAMODB_PORT" 60
  "$VENV/bin/python" scripts/create_table.py template.yaml
}

# start_moto LOG: moto's server on 127.0.0.1, for EventBridge and SQS.
start_moto() {
  port_free "$MOTO_PORT" MOTO_PORT
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$1" 2>&1 &
  STACK_PIDS+=($!)
  wait_for_port "$MOTO_PORT" 60
}

# start_api LOG: every route served by the real binaries through cargo lambda watch.
start_api() {
  port_free "$API_PORT" API_PORT
  # Build first so the first request of each route is not a compile.
  cargo build --quiet --bins -p functions
  # DPoP proofs name the URL the client calls (docs/device-binding.md).
  PUBLIC_BASE_URL="http://127.0.0.1:$API_PORT" PATH="$VENV/bin:$PATH" "$VENV/bin/cargo-lambda" lambda watch \
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
