"""Helpers shared by the benchmarks: statistics, memory readings and child processes.

Every benchmark runs in a child process of its own, so one benchmark's imports, threads and
memory do not change another's figures. A child gets its settings as one JSON argument and
prints its measurements as one JSON line that starts with RESULT_PREFIX.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULT_PREFIX = "BENCHMARK-RESULT "
# Lines of a failed child's stderr quoted in the error.
STDERR_TAIL_LINES = 15


class BenchmarkError(RuntimeError):
    """A benchmark that could not produce its figures: a child failed, timed out or lost data."""


class Deadline:
    """A time budget in seconds, started on creation."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.end


# -- statistics ---------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile: the smallest value with `fraction` of all at or below.

    With fewer than 20 samples the p95 is the maximum.
    """
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return float(ordered[rank - 1])


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float]:
    """Fit y = intercept + slope × x by least squares; return (slope, intercept, R²)."""
    if len(xs) != len(ys) or len(set(xs)) < 2:
        raise ValueError("a linear fit needs at least two different x values")
    mean_x = statistics.fmean(xs)
    mean_y = statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    total = sum((y - mean_y) ** 2 for y in ys)
    residual = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    r_squared = 1.0 - residual / total if total > 0 else 1.0
    return slope, intercept, r_squared


# -- memory ---------------------------------------------------------------------------------


def rss_bytes() -> int | None:
    """Return this process's resident set size, or None where it cannot be read.

    Linux gives it in /proc/self/status (VmRSS). Elsewhere psutil is used when installed.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024  # the kernel writes kB
    except OSError:
        pass
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.Process().memory_info().rss)


# -- child processes ------------------------------------------------------------------------


def child_environment(home: str | None = None) -> dict[str, str]:
    """Return the environment for a benchmark child: offscreen Qt and this checkout importable.

    `home` becomes SEGMENT_GUI_HOME, so a child never reads or writes the user's own files.
    """
    environment = dict(os.environ)
    environment["QT_QPA_PLATFORM"] = "offscreen"
    existing = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + existing if existing else "")
    if home is not None:
        environment["SEGMENT_GUI_HOME"] = home
    return environment


def run_child(module: str, config: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run `python -m module CONFIG` and return the JSON result that it prints.

    Raises BenchmarkError when the child fails, prints no result or runs past `timeout` seconds.
    """
    with tempfile.TemporaryDirectory(prefix="segment-gui-bench-") as home:
        command = [sys.executable, "-m", module, json.dumps(config)]
        try:
            completed = subprocess.run(
                command,
                cwd=REPO_ROOT,
                env=child_environment(home),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise BenchmarkError(f"{module} timed out after {timeout:.0f} s") from error

    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line.removeprefix(RESULT_PREFIX))
            return result

    tail = "\n".join(completed.stderr.strip().splitlines()[-STDERR_TAIL_LINES:])
    raise BenchmarkError(
        f"{module} exited with code {completed.returncode} without a result: {tail or 'no output'}"
    )


def child_main(measure: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Run `measure` with the JSON settings in argv[1] and print its result for run_child.

    Started by hand, a child still gets offscreen Qt and a throwaway SEGMENT_GUI_HOME.
    """
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory(prefix="segment-gui-bench-") as home:
        os.environ.setdefault("SEGMENT_GUI_HOME", home)
        result = measure(config)
    print(RESULT_PREFIX + json.dumps(result), flush=True)
