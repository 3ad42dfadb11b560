#!/usr/bin/env bash
# make bench: release binaries (functions and the baseline), then bench/bench.py.
# Not part of make test: it measures, it does not assert.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --quiet -p functions -p baseline --bins
# The DPoP proof check alone, beside an access token's (shared/examples/proof_cost.rs).
cargo build --release --quiet -p shared --example proof_cost
if [ "${BENCH_ARM64:-0}" = 1 ]; then
  # arm64 sizes, as deployed (cargo-lambda + zig cross-link; ~10 min from scratch).
  # Without it, arm64 sizes are reported when `make build` has left them in target/.
  rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
  PATH="$PWD/.venv/bin:$PATH" cargo-lambda lambda build --release --arm64 --quiet -p functions -p baseline
fi
.venv/bin/python bench/bench.py
