"""Profile one benchmark workload with cProfile and print where the time goes.

    python -m benchmarks.profiling WORKLOAD [--size N] [--samples N] [--top N] [--sort KEY]

WORKLOAD is one of startup, switch, edit, add-row, batch, single, expressions or stall. The
workloads are those of the benchmarks, with the same sizes by default. Threads started with
`threading.Thread` during the workload, such as the request threads of `transport.send`, get
a profiler of their own, and their figures are added to the report once they have finished.
Qt's own worker threads are not profiled.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks.common import BenchmarkError

DEFAULT_SIZES = {
    "startup": 1,
    "switch": 1,
    "edit": 200,
    "add-row": 500,
    "batch": 10_000,
    "single": 2_000,
    "expressions": 10_000,
    "stall": 10_000,
}
DEFAULT_SAMPLES = {"switch": 24, "edit": 6, "add-row": 3}


@contextmanager
def thread_profiles(finished: list[cProfile.Profile]) -> Iterator[None]:
    """Give every threading.Thread started inside the block a profiler of its own.

    Each thread appends its profiler to `finished` when it ends, even after the block.
    """
    original_run = threading.Thread.run

    def profiled_run(thread: threading.Thread) -> None:
        profile = cProfile.Profile()
        profile.runcall(original_run, thread)
        finished.append(profile)

    threading.Thread.run = profiled_run  # type: ignore[method-assign]
    try:
        yield
    finally:
        threading.Thread.run = original_run  # type: ignore[method-assign]


# -- workloads ------------------------------------------------------------------------------
# Each workload prepares what it needs, then calls `profiled(action)`, which runs `action`
# under the profiler. Only `action` is profiled.

Profiled = Callable[[Callable[[], Any]], Any]


def _window() -> tuple[Any, Any]:
    from benchmarks.qt_support import LayoutSettler, application, open_window

    app = application()
    settler = LayoutSettler(app)
    window = open_window(os.environ["SEGMENT_GUI_HOME"])
    settler.settle()
    return window, settler


def profile_startup(profiled: Profiled, size: int, samples: int) -> None:
    """Import the app, create the main window, show it and wait for its first paint."""

    def start() -> None:
        from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer

        from benchmarks.qt_support import application

        app = application()
        import segment_gui

        window = segment_gui.create_window(os.environ["SEGMENT_GUI_HOME"])
        loop = QEventLoop()

        class FirstPaint(QObject):
            def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
                if event.type() == QEvent.Type.Paint:
                    QTimer.singleShot(0, loop.quit)
                return False

        first_paint = FirstPaint()
        window.installEventFilter(first_paint)
        QTimer.singleShot(30_000, loop.quit)
        window.show()
        loop.exec()
        window.removeEventFilter(first_paint)
        app.processEvents()
        window.shutdown()

    profiled(start)


def profile_switch(profiled: Profiled, size: int, samples: int) -> None:
    from benchmarks.common import Deadline
    from benchmarks.window_latency import measure_switch

    window, settler = _window()
    try:
        profiled(lambda: measure_switch(window, settler, samples, Deadline(300)))
    finally:
        window.shutdown()


def profile_edit(profiled: Profiled, size: int, samples: int) -> None:
    from benchmarks.common import Deadline
    from benchmarks.window_latency import measure_edit

    window, settler = _window()
    try:
        # measure_edit loads the rows first; those rows are profiled too, so the report
        # shows the key presses after a note of how long loading took.
        profiled(lambda: measure_edit(window, settler, size, samples, Deadline(300)))
    finally:
        window.shutdown()


def profile_add_row(profiled: Profiled, size: int, samples: int) -> None:
    from benchmarks.common import Deadline
    from benchmarks.window_latency import measure_add_row

    window, settler = _window()
    try:
        profiled(lambda: measure_add_row(window, settler, size, samples, Deadline(300)))
    finally:
        window.shutdown()


def profile_run(profiled: Profiled, size: int, delivery: str) -> None:
    from benchmarks.collectors import CollectorProcess
    from benchmarks.throughput import run_app

    with CollectorProcess("sandbox") as collector:
        profiled(lambda: run_app(collector.base_url, size, delivery))
        collector.expect(size, f"profiled {delivery} run")


def profile_expressions(profiled: Profiled, size: int, samples: int) -> None:
    from benchmarks.collectors import CollectorProcess
    from benchmarks.scaling import run_once
    from benchmarks.workload import expression_items

    items = expression_items(size)
    with CollectorProcess("sandbox") as collector:
        profiled(lambda: run_once(collector.base_url, items))
        collector.expect(size, "profiled expression run")


def profile_stall(profiled: Profiled, size: int, samples: int) -> None:
    """Profile the GUI thread during a batch run of `size` items with expressions."""
    from PySide6.QtWidgets import QComboBox

    from benchmarks.stall import run_with_heartbeat
    from benchmarks.workload import EXPRESSION_VALUES, expression_items

    window, settler = _window()
    try:
        window.form.set_values(EXPRESSION_VALUES)
        window.input_panel.set_items(expression_items(size), "the profile")
        settler.settle()
        combo = window.run_panel.findChild(QComboBox, "runDelivery")
        combo.setCurrentIndex(combo.findData("batch"))
        profiled(lambda: run_with_heartbeat(window, 600))
    finally:
        window.shutdown()


WORKLOADS: dict[str, Callable[[Profiled, int, int], None]] = {
    "startup": profile_startup,
    "switch": profile_switch,
    "edit": profile_edit,
    "add-row": profile_add_row,
    "batch": lambda profiled, size, _samples: profile_run(profiled, size, "batch"),
    "single": lambda profiled, size, _samples: profile_run(profiled, size, "single"),
    "expressions": profile_expressions,
    "stall": profile_stall,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.profiling",
        description="Profile one benchmark workload with cProfile.",
    )
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--size", type=int, help="rows or items (default: the full benchmark's)")
    parser.add_argument("--samples", type=int, help="timed actions for the window workloads")
    parser.add_argument("--top", type=int, default=25, help="functions listed (default 25)")
    parser.add_argument(
        "--sort",
        choices=("cumulative", "tottime"),
        default="cumulative",
        help="order of the listing (default cumulative)",
    )
    parser.add_argument(
        "--main-thread",
        action="store_true",
        help="profile only the main thread, which is the GUI thread in the window workloads",
    )
    parser.add_argument("--dump", help="also write the raw profile to this file, for snakeviz")
    arguments = parser.parse_args(argv)

    size = arguments.size or DEFAULT_SIZES[arguments.workload]
    samples = arguments.samples or DEFAULT_SAMPLES.get(arguments.workload, 1)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    main_profile = cProfile.Profile()
    elapsed: list[float] = []
    finished_threads: list[cProfile.Profile] = []

    def profiled(action: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            if arguments.main_thread:
                return main_profile.runcall(action)
            with thread_profiles(finished_threads):
                return main_profile.runcall(action)
        finally:
            elapsed.append(time.perf_counter() - started)

    with tempfile.TemporaryDirectory(prefix="segment-gui-profile-") as home:
        os.environ.setdefault("SEGMENT_GUI_HOME", home)
        try:
            WORKLOADS[arguments.workload](profiled, size, samples)
        except BenchmarkError as error:
            parser.exit(1, f"profile failed: {error}\n")

    stats = pstats.Stats(main_profile)
    for profile in finished_threads:
        stats.add(profile)
    print(
        f"{arguments.workload}: size {size}, {samples} sample(s), {sum(elapsed):.2f} s "
        f"profiled; {len(finished_threads)} finished thread(s) merged"
    )
    stats.strip_dirs().sort_stats(arguments.sort).print_stats(arguments.top)
    if arguments.dump:
        stats.dump_stats(arguments.dump)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
