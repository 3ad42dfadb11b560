#!/usr/bin/env bash
# make bench: release binaries (functions and the baseline), then bench/bench.py.
# Not part of make test: it measures, it does not assert.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --quiet -p functions -p baseline --bins
if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu && [ -x .venv/bin/cargo-lambda ]; then
  # arm64 sizes, as deployed (cargo-lambda + zig cross-link).
  PATH="$PWD/.venv/bin:$PATH" cargo-lambda lambda build --release --arm64 --quiet -p functions -p baseline >/dev/null 2>&1 || true
fi
.venv/bin/python bench/bench.py
