"""Renders target/bench/results.json as the Markdown tables of docs/PERFORMANCE.md."""

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
FIGURES = ["binary_bytes", "init_ms", "first_ms", "warm_p50_ms", "warm_p99_ms", "dynamodb_calls", "max_rss_kb"]


def main():
    results = json.loads((TARGET / "bench" / "results.json").read_text())
    base = results["baseline"]
    print("| binary | " + " | ".join(FIGURES) + " |")
    print("|---|" + "---|" * len(FIGURES))
    print("| **baseline** | " + " | ".join(str(base[f]) for f in FIGURES) + " |")
    for name, figures in results["functions"].items():
        cells = []
        for f in FIGURES:
            ratio = f" ({figures[f] / base[f]:.2f}×)" if base[f] else ""
            cells.append(f"{figures[f]}{ratio}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    for figure, waits in (("init_ms", "emulator_init_ms"), ("warm_p50_ms", "emulator_warm_p50_ms")):
        own_time_table(results, figure, results.get(waits, {}))
    print("| cascade | sessions | status | ms | DynamoDB calls |")
    print("|---|---|---|---|---|")
    for cascade, rows in results["scale"].items():
        for n, row in rows.items():
            print(f"| {cascade} | {n} | {row['status']} | {row['ms']} | {row['dynamodb_calls']} |")


def own_time_table(results, figure, emulator):
    """`figure` split into the time spent waiting on the emulator and the binary's own."""
    if not emulator:
        return
    base = results["baseline"]
    print(f"| binary | {figure} | of which the emulator | the binary itself | ratio to the baseline's own |")
    print("|---|---|---|---|---|")
    own_base = base[figure] - emulator["baseline"]
    for name, figures in [("baseline", base)] + list(results["functions"].items()):
        own = figures[figure] - emulator[name]
        print(f"| {name} | {figures[figure]} | {emulator[name]} | {own:.3f} | {own / own_base:.2f}× |")
    print()


if __name__ == "__main__":
    main()
