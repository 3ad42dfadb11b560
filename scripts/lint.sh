#!/usr/bin/env bash
# make lint: the template, validated offline by cfn-lint and by SAM's own linter, as
# it stands (alarms on) and with the operations switches the other way (alarms off,
# tracing on, all-at-once deploys): SAM expands each differently.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh
export SAM_CLI_TELEMETRY=0
.venv/bin/cfn-lint template.yaml
.venv/bin/sam validate --lint --region "${AWS_REGION:-us-east-1}"
flipped="$(mktemp -d)"
trap 'rm -rf "$flipped"' EXIT
.venv/bin/python - "$flipped/template.yaml" <<'PY'
import re, sys
text = open("template.yaml").read()
for name, value in [("Alarms", '"off"'), ("Tracing", '"on"'), ("DeploymentType", "AllAtOnce")]:
    text, n = re.subn(rf"(\n  {name}:\n(?:    .*\n)*?    Default: ).*\n", rf"\g<1>{value}\n", text, count=1)
    assert n == 1, name
open(sys.argv[1], "w").write(text)
PY
.venv/bin/cfn-lint "$flipped/template.yaml"
.venv/bin/sam validate --lint --region "${AWS_REGION:-us-east-1}" --template-file "$flipped/template.yaml"
