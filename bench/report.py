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
    if results.get("accounts"):
        print()
        accounts_tables(results)


# us-east-1 list prices, as docs/PERFORMANCE.md states them ("Cost per million requests"):
# Lambda arm64 per GB-second and per request, DynamoDB on-demand per read / write unit.
LAMBDA_GB_SECOND = 0.0000133334
LAMBDA_PER_MILLION = 0.20
READ_UNIT_PER_MILLION = 0.125
WRITE_UNIT_PER_MILLION = 0.625
MEMORY_GB = 0.125


def accounts_tables(results):
    """The account-size axis: per route, one row per account size (sessions x devices);
    then what one million authorizer calls cost at each size."""
    accounts = results["accounts"]
    base = results.get("baseline", {})
    waits = results.get("emulator_warm_p50_ms", {})
    base_own = base["warm_p50_ms"] - waits["baseline"] if base and "baseline" in waits else None
    routes = list(next(iter(accounts.values()))["routes"])
    for route in routes:
        warm = "own_warm_p50_ms" in next(iter(accounts.values()))["routes"][route]
        own_label = "own time p50 (ms)" if warm else "own time, one call (ms)"
        ratio = " ratio to the baseline's own |" if warm and base_own else ""
        print(f"| {route}: account | status | DynamoDB calls | read units | {own_label} |{ratio}")
        print("|---|---|---|---|---|" + ("---|" if ratio else ""))
        for label, account in accounts.items():
            row = account["routes"][route]
            own = row.get("own_warm_p50_ms", row.get("own_first_ms"))
            status = row["first_status"]
            if warm and row.get("warm_status") != status:
                status = f"{status}, then {row['warm_status']}"
            cells = f" {own / base_own:.2f}× |" if ratio else ""
            print(f"| {account['sessions']} sessions, {account['devices']} devices | {status} "
                  f"| {row['dynamodb_calls']} | {row['read_units']:g} | {own:.3f} |{cells}")
        print()
    if all("authorize" in a["routes"] for a in accounts.values()):
        print("| authorizer, per million calls: account | read units per call | DynamoDB $/M "
              "| Lambda $/M, own time | Lambda $/M, warm p50 with the emulator (≤) | total $/M |")
        print("|---|---|---|---|---|---|")
        for account in accounts.values():
            row = account["routes"]["authorize"]
            dynamodb = row["read_units"] * READ_UNIT_PER_MILLION + row["write_units"] * WRITE_UNIT_PER_MILLION
            lambda_cost = lambda ms: LAMBDA_PER_MILLION + MEMORY_GB * ms / 1e3 * 1e6 * LAMBDA_GB_SECOND
            own, bound = lambda_cost(row["own_warm_p50_ms"]), lambda_cost(row["warm_p50_ms"])
            print(f"| {account['sessions']} sessions, {account['devices']} devices | {row['read_units']:g} "
                  f"| {dynamodb:.3f} | {own:.3f} | {bound:.3f} | {dynamodb + own:.2f} – {dynamodb + bound:.2f} |")
        print()


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
