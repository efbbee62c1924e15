"""Event-loop stalls in the window while `window.run_all()` sends items to its own sandbox.

Run as a child: `python -m benchmarks.stall CONFIG`. The window gets the input items and the
three expressions of benchmarks.workload.EXPRESSION_VALUES, then a 10 ms precise QTimer
records the clock on each timeout while the run goes on, inside the window's normal event
loop (QEventLoop.exec). The maximum interval between two timeouts, from the run's start to
its finished signal, is the longest stall; it includes the 10 ms interval itself. Before each
run the inbox's Clear button is clicked, which also clears the window's sandbox.
"""

from __future__ import annotations

import os
import time
from itertools import pairwise
from typing import Any

from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QComboBox

from benchmarks.common import BenchmarkError, child_main
from benchmarks.qt_support import LayoutSettler, application, open_window
from benchmarks.workload import EXPRESSION_VALUES, expression_items

HEARTBEAT_MS = 10


def run_with_heartbeat(window: Any, timeout_seconds: float) -> tuple[list[float], float]:
    """Start `window.run_all()` and run the event loop until the run finishes.

    Returns (heartbeat times in seconds, the run's seconds). Raises BenchmarkError when the
    run fails or outlasts `timeout_seconds`.
    """
    loop = QEventLoop()
    beats: list[float] = []
    outcome: list[str] = []

    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.setInterval(HEARTBEAT_MS)
    heartbeat.timeout.connect(lambda: beats.append(time.perf_counter()))
    guard = QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(lambda: (outcome.append("timed out"), loop.quit()))

    def on_finished(_report: Any) -> None:
        outcome.append("finished")
        loop.quit()

    def on_failed(error: Any) -> None:
        outcome.append(f"failed: {error}")
        loop.quit()

    window.run_panel.finished.connect(on_finished)
    window.run_panel.failed.connect(on_failed)
    try:
        heartbeat.start()
        guard.start(int(timeout_seconds * 1000))
        started = time.perf_counter()
        beats.append(started)
        window.run_all()
        loop.exec()
        ended = time.perf_counter()
        beats.append(ended)
    finally:
        heartbeat.stop()
        guard.stop()
        window.run_panel.finished.disconnect(on_finished)
        window.run_panel.failed.disconnect(on_failed)

    if outcome[:1] != ["finished"]:
        window.run_panel.cancel()
        raise BenchmarkError(f"the run {outcome[0] if outcome else 'did not start'}")
    return beats, ended - started


def measure(config: dict[str, Any]) -> dict[str, Any]:
    count = int(config["items"])
    runs = int(config["runs"])
    timeout = float(config["run_timeout_seconds"])

    app = application()
    settler = LayoutSettler(app)
    window = open_window(os.environ["SEGMENT_GUI_HOME"])
    results: dict[str, Any] = {}
    try:
        window.form.set_values(EXPRESSION_VALUES)
        window.input_panel.set_items(expression_items(count), "the benchmark")
        settler.settle()
        delivery_combo = window.run_panel.findChild(QComboBox, "runDelivery")
        for delivery in config["deliveries"]:
            delivery_combo.setCurrentIndex(delivery_combo.findData(delivery))
            longest: list[float] = []
            seconds: list[float] = []
            for _ in range(runs):
                # Clear the inbox as a user would, so each run starts with an empty inbox
                # instead of the messages of the runs before it.
                window.inbox.clear_button.click()
                settler.settle()
                beats, elapsed = run_with_heartbeat(window, timeout)
                report = window.run_panel.report
                sent = len(report.sent()) if report is not None else 0
                if sent != count:
                    raise BenchmarkError(f"{delivery} run sent {sent} of {count} items")
                gaps = [(later - earlier) * 1000 for earlier, later in pairwise(beats)]
                longest.append(max(gaps))
                seconds.append(elapsed)
            results[delivery] = {"longest_ms": longest, "seconds": seconds}
    finally:
        window.shutdown()
    return {"items": count, "deliveries": results}


if __name__ == "__main__":
    child_main(measure)
