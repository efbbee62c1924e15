"""Run every benchmark and write the results table: `python -m benchmarks [--quick] [--out FILE]`.

Each group of benchmarks runs in child processes and returns raw timings. This module turns
them into table rows with the app's figure, the baseline's figure from the same run, their
ratio, the target and whether the target was met. A group that fails gets an error row for
each of its metrics, and the exit code is then 1. Missed targets do not change the exit code.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import startup
from benchmarks.common import REPO_ROOT, linear_fit, median, percentile, run_child
from benchmarks.report import Row, render, verdict

DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results.md"
DEFAULT_QUICK_OUT = REPO_ROOT / "benchmarks" / "results-quick.md"

# Metric names, as they appear in the first column of the results table.
START = "Start to first paint"
START_TOOLKIT = "Start to first paint, bare window after the app's PySide6 classes"
MEMORY = "Memory after first paint (RSS)"
SWITCH = "Switch resource or operation"
EDIT = "Edit one property value"
ADD_ROW = "Add a collection row"
ROW_MEMORY = "Memory per collection row"
BATCH_VS_ANALYTICS = "Track events via /v1/batch vs analytics-python"
BATCH_VS_RAW = "Track events via /v1/batch vs raw requests loop"
SINGLE_VS_RAW = "Events one request each vs raw requests loop"
EXPRESSION_COST = "Run with 3 expressions, cost per item"
EXPRESSION_LINEARITY = "Run with 3 expressions, linearity"
STALL_SINGLE = "Longest event-loop stall in a run (single delivery)"
STALL_BATCH = "Longest event-loop stall in a run (batch delivery)"
CEILING = "Collector ceiling"
METRICS = (
    START,
    START_TOOLKIT,
    MEMORY,
    SWITCH,
    EDIT,
    ADD_ROW,
    ROW_MEMORY,
    BATCH_VS_ANALYTICS,
    BATCH_VS_RAW,
    SINGLE_VS_RAW,
    EXPRESSION_COST,
    EXPRESSION_LINEARITY,
    STALL_SINGLE,
    STALL_BATCH,
)

# Targets. Ratios compare figures measured in the same run.
MAX_START_RATIO = 1.3
MAX_MEMORY_RATIO = 1.3
MAX_SWITCH_P95_MS = 5.0
MAX_EDIT_P95_MS = 8.0
MAX_ADD_ROW_P95_MS = 10.0
MIN_BATCH_VS_ANALYTICS = 5.0
MIN_BATCH_VS_RAW = 0.8
MIN_SINGLE_VS_RAW = 0.9
# The run counts as linear when the cost per item at the largest size is at most this
# multiple of the cost per item at the smallest size.
MAX_PER_ITEM_GROWTH = 1.25
MAX_STALL_MS = 50.0
# A collector counts as the bottleneck of a comparison when its ceiling is below this
# multiple of the fastest client's rate, so it takes more than half of that client's time.
BOTTLENECK_FACTOR = 2.0

SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {
        "startup": {"runs": 1, "warmup": True},
        "window_latency": {
            "switch_samples": 6,
            "edit_rows": 20,
            "edit_samples": 4,
            "add_rows": 50,
            "add_samples": 2,
            "budget_seconds": 10,
        },
        "ceiling": {
            "single_count": 200,
            "batch_count": 1000,
            "batch_repeats": 5,
            "runs": 1,
            "budget_seconds": 20,
        },
        "throughput": {"batch_count": 1000, "single_count": 200, "runs": 1, "budget_seconds": 20},
        "scaling": {"sizes": [100, 1000], "runs": [1, 1], "budget_seconds": 20},
        "stall": {"items": 1000, "runs": 1, "run_timeout_seconds": 60},
    },
    "full": {
        "startup": {"runs": 10, "warmup": True},
        "window_latency": {
            "switch_samples": 60,
            "edit_rows": 200,
            "edit_samples": 20,
            "add_rows": 500,
            "add_samples": 10,
            "budget_seconds": 120,
        },
        "ceiling": {
            "single_count": 2000,
            "batch_count": 10000,
            "batch_repeats": 5,
            "runs": 5,
            "budget_seconds": 60,
        },
        "throughput": {
            "batch_count": 10000,
            "single_count": 2000,
            "runs": 10,
            "budget_seconds": 300,
        },
        "scaling": {"sizes": [1000, 10000, 100000], "runs": [5, 3, 1], "budget_seconds": 300},
        "stall": {"items": 10000, "runs": 3, "run_timeout_seconds": 300},
    },
}
BYTECODE_VARIABLES = ("PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE")
GROUPS = ("startup", "window_latency", "ceiling", "throughput", "scaling", "stall")


@dataclass
class Results:
    """Table rows, ceiling rows, notes and errors collected from the groups so far."""

    rows: list[Row] = field(default_factory=list)
    ceilings: list[tuple[str, ...]] = field(default_factory=list)
    ceiling_rates: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


# -- formatting -----------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"


def _rate(value: float) -> str:
    return f"{value:,.0f} events/s"


def _ratio(value: float) -> str:
    return f"{value:.2f}×"


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def _mib(value: float) -> str:
    return f"{value / 2**20:,.1f} MiB"


def _latency(milliseconds: list[float]) -> str:
    return f"p50 {_ms(median(milliseconds))}, p95 {_ms(percentile(milliseconds, 0.95))}"


# -- startup --------------------------------------------------------------------------------


def startup_rows(settings: dict[str, Any], results: Results) -> None:
    samples = startup.measure(int(settings["runs"]), bool(settings["warmup"]))
    app, bare = samples["app"], samples["bare"]
    runs = f"{len(app['milliseconds'])} each, alternating"
    if settings["warmup"]:
        runs += ", after one warm-up start each"
    baseline_note = "baseline: QMainWindow with one QLabel, same size, same child script"

    start_ratio = median(app["milliseconds"]) / median(bare["milliseconds"])
    results.rows.append(
        Row(
            START,
            "main window",
            f"median {_ms(median(app['milliseconds']))}",
            f"median {_ms(median(bare['milliseconds']))}",
            _ratio(start_ratio),
            f"≤ {MAX_START_RATIO}×",
            verdict(start_ratio <= MAX_START_RATIO),
            runs,
            baseline_note,
        )
    )
    toolkit = samples["toolkit"]
    toolkit_ratio = median(toolkit["milliseconds"]) / median(bare["milliseconds"])
    # The share of the start-up budget (the time above the bare window that the target allows)
    # that setting up the app's PySide6 classes uses by itself.
    budget_share = (toolkit_ratio - 1) / (MAX_START_RATIO - 1)
    results.rows.append(
        Row(
            START_TOOLKIT,
            f"{len(samples['classes'])} classes",
            f"median {_ms(median(toolkit['milliseconds']))}",
            f"median {_ms(median(bare['milliseconds']))}",
            _ratio(toolkit_ratio),
            "—",
            "reported",
            runs,
            "the classes that the app's start-up modules import, set up before the bare "
            f"window; uses {budget_share:.0%} of the time that the start-up target allows "
            "above the bare window",
        )
    )
    memory_ratio = median(app["rss_bytes"]) / median(bare["rss_bytes"])
    results.rows.append(
        Row(
            MEMORY,
            "main window",
            f"median {_mib(median(app['rss_bytes']))}",
            f"median {_mib(median(bare['rss_bytes']))}",
            _ratio(memory_ratio),
            f"≤ {MAX_MEMORY_RATIO}×",
            verdict(memory_ratio <= MAX_MEMORY_RATIO),
            runs,
            "VmRSS read in the child right after its first paint",
        )
    )


# -- window latency -------------------------------------------------------------------------


def window_latency_rows(settings: dict[str, Any], results: Results) -> None:
    timeout = 3 * float(settings["budget_seconds"]) + 600
    measured = run_child("benchmarks.window_latency", settings, timeout)

    switch = measured["switch"]["milliseconds"]
    results.rows.append(
        Row(
            SWITCH,
            "every resource and operation in turn",
            _latency(switch),
            target=f"p95 ≤ {MAX_SWITCH_P95_MS:g} ms",
            result=verdict(percentile(switch, 0.95) <= MAX_SWITCH_P95_MS),
            runs=f"{len(switch)} changes",
            notes="until no LayoutRequest is pending",
        )
    )

    edit = measured["edit"]
    results.rows.append(
        Row(
            EDIT,
            f"{edit['rows']} property rows",
            _latency(edit["milliseconds"]),
            target=f"p95 ≤ {MAX_EDIT_P95_MS:g} ms",
            result=verdict(percentile(edit["milliseconds"], 0.95) <= MAX_EDIT_P95_MS),
            runs=f"{len(edit['milliseconds'])} key presses",
            notes=f"until the preview shows the value; loading the rows took "
            f"{edit['load_seconds']:.1f} s",
        )
    )

    add_row = measured["add_row"]
    results.rows.append(
        Row(
            ADD_ROW,
            f"row {add_row['rows']}",
            _latency(add_row["milliseconds"]),
            target=f"p95 ≤ {MAX_ADD_ROW_P95_MS:g} ms",
            result=verdict(percentile(add_row["milliseconds"], 0.95) <= MAX_ADD_ROW_P95_MS),
            runs=f"{len(add_row['milliseconds'])} clicks",
            notes=f"Add button of Properties; loading the first {add_row['rows'] - 1} rows "
            f"took {add_row['load_seconds']:.1f} s",
        )
    )
    per_row = add_row["rss_bytes_per_row"]
    results.rows.append(
        Row(
            ROW_MEMORY,
            f"{add_row['rows'] - 1} rows",
            "unavailable" if per_row is None else f"{per_row / 1024:,.1f} KiB per row",
            runs="1",
            notes="growth in RSS from loading the rows, divided by their number",
        )
    )


# -- collectors and throughput --------------------------------------------------------------


def ceiling_rows(settings: dict[str, Any], results: Results) -> None:
    measured = run_child(
        "benchmarks.collectors", {**settings, "kinds": ["sandbox", "minimal"]}, 600
    )
    for kind, figures in measured["collectors"].items():
        results.ceiling_rates[kind] = {
            "single": figures["single_per_second"],
            "batch": figures["batch_events_per_second"],
        }
        label = "SandboxCollector (the app's)" if kind == "sandbox" else "minimal (benchmarks)"
        results.ceilings.append(
            (
                f"{CEILING}: {label}",
                f"{figures['single_per_second']:,.0f} requests/s "
                f"({measured['single_count']:,} requests)",
                f"{figures['batch_events_per_second']:,.0f} events/s "
                f"({measured['batch_count']:,} events in "
                f"{_count(figures['batch_requests'], 'request')})",
                f"{len(figures['single_seconds'])}",
            )
        )


def _bottleneck(results: Results, collector: str, part: str, fastest: float) -> str:
    """Describe how close `fastest` came to the collector's ceiling; "" when unknown."""
    ceiling = results.ceiling_rates.get(collector, {}).get(part)
    if ceiling is None:
        return ""
    return f"ceiling {ceiling:,.0f}/s is {ceiling / fastest:.1f}× the fastest client"


def _is_bottleneck(results: Results, collector: str, part: str, fastest: float) -> bool:
    ceiling = results.ceiling_rates.get(collector, {}).get(part)
    return ceiling is not None and ceiling < BOTTLENECK_FACTOR * fastest


def _throughput_rows(measured: dict[str, Any], results: Results) -> dict[str, float]:
    """Add the three comparison rows of one collector; return the fastest rate per part."""
    collector = measured["collector"]
    seconds = measured["seconds"]
    batch_count, single_count = measured["batch_count"], measured["single_count"]

    def rate(name: str, count: int) -> float:
        return count / median(seconds[name])

    app_batch = rate("app_batch", batch_count)
    raw_batch = rate("raw_batch", batch_count)
    app_single = rate("app_single", single_count)
    raw_single = rate("raw_single", single_count)
    analytics = None if measured["analytics_skipped"] else rate("analytics_batch", batch_count)
    fastest_batch = max(app_batch, raw_batch, analytics or 0.0)
    fastest_single = max(app_single, raw_single)
    runs = f"{len(seconds['app_batch'])} each, alternating"
    batch_note = (
        f"{collector}; {_count(measured['batch_requests'], 'request')} of at most "
        f"{measured['batch_body_bytes']:,} bytes; "
        + _bottleneck(results, collector, "batch", fastest_batch)
    )

    if analytics is None:
        results.rows.append(
            Row(
                BATCH_VS_ANALYTICS,
                f"{batch_count:,} events",
                _rate(app_batch),
                "skipped",
                target=f"≥ {MIN_BATCH_VS_ANALYTICS:g}×",
                result=f"skipped: {measured['analytics_skipped']}",
                runs=runs,
                notes=batch_note,
            )
        )
    else:
        ratio = app_batch / analytics
        results.rows.append(
            Row(
                BATCH_VS_ANALYTICS,
                f"{batch_count:,} events",
                _rate(app_batch),
                _rate(analytics),
                _ratio(ratio),
                f"≥ {MIN_BATCH_VS_ANALYTICS:g}×",
                verdict(ratio >= MIN_BATCH_VS_ANALYTICS),
                runs,
                batch_note,
            )
        )

    ratio = app_batch / raw_batch
    results.rows.append(
        Row(
            BATCH_VS_RAW,
            f"{batch_count:,} events",
            _rate(app_batch),
            _rate(raw_batch),
            _ratio(ratio),
            f"≥ {MIN_BATCH_VS_RAW:g}×",
            verdict(ratio >= MIN_BATCH_VS_RAW),
            runs,
            batch_note,
        )
    )

    ratio = app_single / raw_single
    results.rows.append(
        Row(
            SINGLE_VS_RAW,
            f"{single_count:,} events",
            _rate(app_single),
            _rate(raw_single),
            _ratio(ratio),
            f"≥ {MIN_SINGLE_VS_RAW:g}×",
            verdict(ratio >= MIN_SINGLE_VS_RAW),
            runs,
            f"{collector}; " + _bottleneck(results, collector, "single", fastest_single),
        )
    )
    return {"batch": fastest_batch, "single": fastest_single}


def throughput_rows(settings: dict[str, Any], results: Results) -> None:
    timeout = float(settings["budget_seconds"]) * 3 + 600
    measured = run_child("benchmarks.throughput", {**settings, "collector": "sandbox"}, timeout)
    fastest = _throughput_rows(measured, results)
    if measured["analytics_skipped"]:
        results.notes.append(f"analytics-python baseline skipped: {measured['analytics_skipped']}")

    limited = [
        part
        for part in ("batch", "single")
        if _is_bottleneck(results, "sandbox", part, fastest[part])
    ]
    if not limited:
        return
    results.notes.append(
        f"SandboxCollector limited the fastest client ({', '.join(limited)}), so the "
        "comparisons ran again against the minimal collector; both sets of rows are shown."
    )
    measured = run_child("benchmarks.throughput", {**settings, "collector": "minimal"}, timeout)
    _throughput_rows(measured, results)


# -- runs with expressions ------------------------------------------------------------------


def scaling_rows(settings: dict[str, Any], results: Results) -> None:
    timeout = float(settings["budget_seconds"]) * 3 + 600
    measured = run_child("benchmarks.scaling", {**settings, "collector": "sandbox"}, timeout)
    points = measured["results"]
    for point in points:
        size, seconds = point["size"], point["seconds"]
        results.rows.append(
            Row(
                EXPRESSION_COST,
                f"{size:,} items",
                f"{median(seconds) / size * 1000:.3f} ms per item ({median(seconds):.2f} s)",
                runs=str(len(seconds)),
                notes="batch delivery to sandbox; engine start-up included",
            )
        )
    for skipped in measured["skipped"]:
        results.notes.append(
            f"The run of {skipped['size']:,} items with expressions was skipped: it would "
            f"take about {skipped['predicted_seconds']:.0f} s, more than the time left."
        )

    target = f"cost per item at the largest size ≤ {MAX_PER_ITEM_GROWTH}× the smallest"
    if len(points) < 2:
        results.rows.append(
            Row(EXPRESSION_LINEARITY, "—", "—", target=target, result="skipped: one size ran")
        )
        return
    xs = [float(point["size"]) for point in points for _ in point["seconds"]]
    ys = [seconds for point in points for seconds in point["seconds"]]
    slope, intercept, r_squared = linear_fit(xs, ys)
    smallest, largest = points[0], points[-1]
    growth = (median(largest["seconds"]) / largest["size"]) / (
        median(smallest["seconds"]) / smallest["size"]
    )
    results.rows.append(
        Row(
            EXPRESSION_LINEARITY,
            f"{smallest['size']:,} to {largest['size']:,} items",
            f"fit {slope * 1000:.3f} ms per item {'+' if intercept >= 0 else '−'} "
            f"{abs(intercept) * 1000:.0f} ms, R² {r_squared:.4f}; "
            f"per-item cost at the largest size is {growth:.2f}× the smallest",
            target=target,
            result=verdict(growth <= MAX_PER_ITEM_GROWTH),
            runs=str(len(ys)),
            notes="least-squares fit of run time against items",
        )
    )


# -- event-loop stalls ----------------------------------------------------------------------


def stall_rows(settings: dict[str, Any], results: Results) -> None:
    timeout = float(settings["run_timeout_seconds"]) * 2 * int(settings["runs"]) + 300
    config = {**settings, "deliveries": ["single", "batch"]}
    measured = run_child("benchmarks.stall", config, timeout)
    for delivery, metric in (("single", STALL_SINGLE), ("batch", STALL_BATCH)):
        figures = measured["deliveries"][delivery]
        worst = max(figures["longest_ms"])
        results.rows.append(
            Row(
                metric,
                f"{measured['items']:,} items",
                f"worst {_ms(worst)}, median of runs {_ms(median(figures['longest_ms']))}",
                target=f"≤ {MAX_STALL_MS:g} ms",
                result=verdict(worst <= MAX_STALL_MS),
                runs=str(len(figures["longest_ms"])),
                notes=f"10 ms heartbeat; window's own sandbox; run took "
                f"{median(figures['seconds']):.1f} s",
            )
        )


GROUP_FUNCTIONS: dict[str, Callable[[dict[str, Any], Results], None]] = {
    "startup": startup_rows,
    "window_latency": window_latency_rows,
    "ceiling": ceiling_rows,
    "throughput": throughput_rows,
    "scaling": scaling_rows,
    "stall": stall_rows,
}
GROUP_METRICS: dict[str, tuple[str, ...]] = {
    "startup": (START, START_TOOLKIT, MEMORY),
    "window_latency": (SWITCH, EDIT, ADD_ROW, ROW_MEMORY),
    "ceiling": (CEILING,),
    "throughput": (BATCH_VS_ANALYTICS, BATCH_VS_RAW, SINGLE_VS_RAW),
    "scaling": (EXPRESSION_COST, EXPRESSION_LINEARITY),
    "stall": (STALL_SINGLE, STALL_BATCH),
}


# -- command line ---------------------------------------------------------------------------


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure segment-gui against baseline programs and write a Markdown table.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smallest sizes and 1 run each, for CI (under a minute on 2 cores)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help=f"results file to write (default {DEFAULT_OUT.relative_to(REPO_ROOT)}, or "
        f"{DEFAULT_QUICK_OUT.relative_to(REPO_ROOT)} with --quick)",
    )
    parser.add_argument(
        "--only",
        metavar="GROUP[,GROUP]",
        help=f"run only these groups: {', '.join(GROUPS)}",
    )
    arguments = parser.parse_args(argv)
    if arguments.only:
        unknown = sorted(set(arguments.only.split(",")) - set(GROUPS))
        if unknown:
            parser.error(f"unknown group {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    return arguments


def run_group(group: str, mode: str, results: Results) -> None:
    """Run one group; a failure becomes an error row for each of the group's metrics."""
    print(f"running {group} ({mode}) …", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        GROUP_FUNCTIONS[group](SETTINGS[mode][group], results)
    except Exception as error:  # noqa: BLE001 - reported in the table, then exit code 1
        message = f"{group} failed: {type(error).__name__}: {error}"
        results.errors.append(message)
        for metric in GROUP_METRICS[group]:
            results.rows.append(Row(metric, "—", "—", result=f"error: {message}"))
    print(f"  {group} took {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    mode = "quick" if arguments.quick else "full"
    out = arguments.out or (DEFAULT_QUICK_OUT if arguments.quick else DEFAULT_OUT)
    groups = arguments.only.split(",") if arguments.only else list(GROUPS)
    command = shlex.join(["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)])

    results = Results()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="segment-gui-bench-pycache-") as bytecode_cache:
        # An installed app runs from cached bytecode. Children inherit this environment, so
        # they cache it in a folder of their own even where PYTHONDONTWRITEBYTECODE is set,
        # and every start after the first one of each module reads it from there.
        saved = {name: os.environ.get(name) for name in BYTECODE_VARIABLES}
        os.environ["PYTHONPYCACHEPREFIX"] = bytecode_cache
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        try:
            for group in GROUPS:
                if group in groups:
                    run_group(group, mode, results)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    text = render(
        mode=mode,
        command=command,
        seconds=time.monotonic() - started,
        rows=results.rows,
        ceilings=results.ceilings,
        notes=results.notes,
        errors=results.errors,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 1 if results.errors else 0
