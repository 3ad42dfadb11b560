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
    stream_table(results)
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
    # The binary's CPU time per warm invocation, when recorded (warm figures only).
    cpu = figure == "warm_p50_ms" and "warm_cpu_ms" in base
    extra = " CPU per invocation | ratio to the baseline's CPU |" if cpu else ""
    print(f"| binary | {figure} | of which the emulator | the binary itself | ratio to the baseline's own |{extra}")
    print("|---|---|---|---|---|" + ("---|---|" if cpu else ""))
    own_base = base[figure] - emulator["baseline"]
    for name, figures in [("baseline", base)] + list(results["functions"].items()):
        own = figures[figure] - emulator[name]
        cells = f" {figures['warm_cpu_ms']} | {figures['warm_cpu_ms'] / base['warm_cpu_ms']:.2f}× |" if cpu else ""
        print(f"| {name} | {figures[figure]} | {emulator[name]} | {own:.3f} | {own / own_base:.2f}× |{cells}")
    print()


def stream_table(results):
    """The stream consumer's rows (those with `records`), per batch and per record."""
    rows = [(name, f) for name, f in results["functions"].items() if "records" in f]
    if not rows:
        return
    emulator = results.get("emulator_warm_p50_ms", {})
    print("| stream consumer | records | event bytes | PutEvents calls | first_ms | warm_p50_ms | warm_p99_ms "
          "| warm p50 per record | of which the emulator, per record | the binary itself, per record "
          "| CPU per record | max_rss_kb |")
    print("|---|" + "---|" * 11)
    for name, f in rows:
        n = f["records"]
        waited = emulator.get(name, 0.0)
        print(f"| {name} | {n} | {f['event_bytes']} | {f.get('eventbridge_calls', 0)} | {f['first_ms']} "
              f"| {f['warm_p50_ms']} | {f['warm_p99_ms']} | {f['warm_p50_ms'] / n:.3f} | {waited / n:.3f} "
              f"| {(f['warm_p50_ms'] - waited) / n:.3f} | {f.get('warm_cpu_ms', float('nan')) / n:.4f} "
              f"| {f['max_rss_kb']} |")
    print()


if __name__ == "__main__":
    main()
