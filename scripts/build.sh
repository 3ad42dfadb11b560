#!/usr/bin/env bash
# make build: `sam build` — an arm64 `bootstrap` per function, built offline by
# cargo-lambda (with zig as the cross linker) from the pinned tools in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu
fi
export PATH="$PWD/.venv/bin:$PATH" SAM_CLI_TELEMETRY=0
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
sam build
echo
echo "arm64 bootstrap per function (bytes):"
for bootstrap in .aws-sam/build/*/bootstrap; do
  printf '  %-34s %9d  %s\n' "$(basename "$(dirname "$bootstrap")")" "$(stat -c %s "$bootstrap")" \
    "$(file -b "$bootstrap" | cut -d, -f1-2)"
done
