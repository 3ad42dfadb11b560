#!/usr/bin/env bash
# make deploy: `sam deploy`, guided the first time from this checkout (it asks for the
# stack name, region, JwtSecret and ReportLinkKey, and keeps the answers but the secrets
# in samconfig.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" SAM_CLI_TELEMETRY=0
if [ -f .aws-sam/deployed ]; then
  sam deploy
else
  sam deploy --guided
fi
touch .aws-sam/deployed
