"""Start-up time and memory: the app's main window against a bare PySide6 window.

The parent takes the system monotonic clock just before Popen. The child opens its window
offscreen. An event filter on the window receives the first paint event and queues a
zero-delay timer, which runs once that paint pass has finished. The timer prints the clock
and the resident memory (VmRSS) in one line, and the child exits. Both kinds of child run the
same code, except that `app` builds its window as `segment-gui` does at start-up
(`segment_gui.ui.app.create_main_window(home)`) and `bare` builds a QMainWindow with one QLabel.

Child: `python -m benchmarks.startup app|bare`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from benchmarks.common import BenchmarkError, child_environment, rss_bytes

KINDS = ("app", "bare")
PAINTED_PREFIX = "PAINTED "
CHILD_TIMEOUT_SECONDS = 60.0
# The bare window gets the main window's size, so both paint the same area.
WINDOW_SIZE = (1360, 820)


def run_child_window(kind: str) -> int:
    """Open a window of `kind`, print PAINTED_PREFIX + clock + RSS after its first paint, exit."""
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    app = QApplication(sys.argv[:1])
    if kind == "app":
        from segment_gui.ui.app import create_main_window

        # start_once sets SEGMENT_GUI_HOME to a folder that the parent deletes.
        window: QMainWindow = create_main_window(os.environ["SEGMENT_GUI_HOME"])
    else:
        window = QMainWindow()
        window.setCentralWidget(QLabel("segment-gui start-up baseline", window))
        window.resize(*WINDOW_SIZE)

    def report() -> None:
        painted_ns = time.monotonic_ns()
        print(f"{PAINTED_PREFIX}{painted_ns} {rss_bytes() or 0}", flush=True)
        window.close()
        app.quit()

    class FirstPaint(QObject):
        seen = False

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt
            if event.type() == QEvent.Type.Paint and not self.seen:
                self.seen = True
                QTimer.singleShot(0, report)
            return False

    first_paint = FirstPaint()
    window.installEventFilter(first_paint)
    window.show()
    return app.exec()


def start_once(kind: str) -> tuple[float, int]:
    """Start one child of `kind`; return (milliseconds from Popen to first paint, RSS bytes)."""
    with tempfile.TemporaryDirectory(prefix="segment-gui-bench-") as home:
        started_ns = time.monotonic_ns()
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.startup", kind],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_environment(home),
        )
        try:
            output, errors = process.communicate(timeout=CHILD_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise BenchmarkError(
                f"{kind} window did not paint within {CHILD_TIMEOUT_SECONDS:.0f} s"
            ) from None

    for line in output.splitlines():
        if line.startswith(PAINTED_PREFIX):
            painted_ns, rss = (int(part) for part in line.removeprefix(PAINTED_PREFIX).split())
            return (painted_ns - started_ns) / 1e6, rss
    tail = " ".join(errors.strip().splitlines()[-5:])
    raise BenchmarkError(f"{kind} window exited with code {process.returncode}: {tail}")


def measure(runs: int, warmup: bool = True) -> dict[str, Any]:
    """Alternate app and bare starts `runs` times each, after one unrecorded start of each."""
    if warmup:
        for kind in KINDS:
            start_once(kind)
    samples: dict[str, dict[str, list[float]]] = {
        kind: {"milliseconds": [], "rss_bytes": []} for kind in KINDS
    }
    for _ in range(runs):
        for kind in KINDS:
            milliseconds, rss = start_once(kind)
            samples[kind]["milliseconds"].append(milliseconds)
            samples[kind]["rss_bytes"].append(rss)
    return samples


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in KINDS:
        print(f"usage: python -m benchmarks.startup {'|'.join(KINDS)}", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(run_child_window(sys.argv[1]))
