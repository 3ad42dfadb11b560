#!/usr/bin/env bash
# Installs the pinned tools: the Python ones (moto, cargo-lambda, cfn-lint, pytest,
# Playwright…) into .venv once per change of scripts/requirements.txt; for the browser
# tests, Debian's Chromium (apt, when /usr/bin/chromium is missing) and axe-core from
# npm (pinned) into .venv/node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
AXE_CORE_VERSION=4.14.1
if ! [ -x .venv/bin/python ] || ! cmp -s scripts/requirements.txt .venv/requirements.installed; then
  echo "installing pinned tools into .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
  cp scripts/requirements.txt .venv/requirements.installed
fi
if ! [ -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium (browser tests)"
  sudo_if_needed=()
  [ "$(id -u)" = 0 ] || sudo_if_needed=(sudo)
  "${sudo_if_needed[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_if_needed[@]}" apt-get install -y -qq chromium >/dev/null
fi
if ! grep -qs "\"version\": \"$AXE_CORE_VERSION\"" .venv/node_modules/axe-core/package.json; then
  echo "installing axe-core $AXE_CORE_VERSION (accessibility checks)"
  npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix .venv "axe-core@$AXE_CORE_VERSION"
fi
