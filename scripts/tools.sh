#!/usr/bin/env bash
# Installs the pinned Python tools (moto, cargo-lambda, cfn-lint, pytest) into .venv,
# once per change of scripts/requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ] && cmp -s scripts/requirements.txt .venv/requirements.installed; then
  exit 0
fi
echo "installing pinned tools into .venv"
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
cp scripts/requirements.txt .venv/requirements.installed
