#!/usr/bin/env bash
# make lint: the template, validated offline by cfn-lint and by SAM's own linter.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh
export SAM_CLI_TELEMETRY=0
.venv/bin/cfn-lint template.yaml
.venv/bin/sam validate --lint --region "${AWS_REGION:-us-east-1}"
