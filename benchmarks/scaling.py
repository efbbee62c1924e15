"""Cost per item of a run whose messages have an n8n expression in three fields.

Run as a child: `python -m benchmarks.scaling CONFIG`. Each run calls `runs.run_items` with
delivery "batch" and a new ExpressionEngine, as `window.run_all()` does, over
benchmarks.workload.expression_items to a collector process. Sizes run from small to large,
and a size is skipped when the cost per item measured so far predicts that it would not fit
in the remaining time budget.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.collectors import CollectorProcess
from benchmarks.common import BenchmarkError, Deadline, child_main, median
from benchmarks.workload import EXPRESSION_VALUES, WRITE_KEY, expression_items


def run_once(base_url: str, items: list[dict[str, Any]]) -> float:
    """Run `items` with EXPRESSION_VALUES; return the seconds, engine start-up included."""
    from segment_gui.expressions import ExpressionEngine
    from segment_gui.runs import RunSettings, run_items
    from segment_gui.spec import load_spec

    spec = load_spec()
    started = time.perf_counter()
    engine = ExpressionEngine()
    try:
        report = run_items(
            spec,
            EXPRESSION_VALUES,
            items,
            RunSettings(),
            base_url=base_url,
            write_key=WRITE_KEY,
            delivery="batch",
            engine=engine,
        )
    finally:
        engine.close()
    elapsed = time.perf_counter() - started
    sent = len(report.sent())
    if sent != len(items):
        raise BenchmarkError(f"the run sent {sent} of {len(items)} items: {report.error}")
    return elapsed


def measure(config: dict[str, Any]) -> dict[str, Any]:
    deadline = Deadline(float(config["budget_seconds"]))
    sizes = [int(size) for size in config["sizes"]]
    runs_per_size = [int(runs) for runs in config["runs"]]
    results: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    per_item_estimate = 0.0

    with CollectorProcess(config["collector"]) as collector:
        for size, runs in zip(sizes, runs_per_size, strict=True):
            predicted = per_item_estimate * size * runs
            if results and predicted > deadline.remaining():
                skipped.append({"size": size, "predicted_seconds": predicted})
                continue
            items = expression_items(size)
            seconds = []
            for _ in range(runs):
                seconds.append(run_once(collector.base_url, items))
                collector.expect(size, f"expression run of {size} items")
            per_item_estimate = median(seconds) / size
            results.append({"size": size, "seconds": seconds})
    return {"collector": config["collector"], "results": results, "skipped": skipped}


if __name__ == "__main__":
    child_main(measure)
