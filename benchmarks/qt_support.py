"""Qt helpers for the in-process benchmarks: open the window and wait for layouts to settle."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QEventLoop, QObject, QTimer
from PySide6.QtWidgets import QApplication

from benchmarks.common import BenchmarkError

# processEvents passes allowed before a layout counts as never settling.
MAX_SETTLE_PASSES = 200
WINDOW_READY_TIMEOUT_SECONDS = 20.0


class LayoutSettler(QObject):
    """Counts LayoutRequest events seen by the application, to tell when layouts have settled."""

    def __init__(self, app: QApplication) -> None:
        super().__init__()
        self.layout_requests = 0
        app.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.LayoutRequest:
            self.layout_requests += 1
        return False

    def settle(self) -> int:
        """Process events until one pass delivers no LayoutRequest; return the passes run.

        Raises BenchmarkError after MAX_SETTLE_PASSES passes.
        """
        for passes in range(1, MAX_SETTLE_PASSES + 1):
            self.layout_requests = 0
            QCoreApplication.processEvents()
            if self.layout_requests == 0:
                return passes
        raise BenchmarkError(f"layouts did not settle within {MAX_SETTLE_PASSES} event passes")


def application() -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    return QApplication(["segment-gui-benchmark"])


def wait(milliseconds: int) -> None:
    """Run the event loop for `milliseconds`."""
    loop = QEventLoop()
    QTimer.singleShot(milliseconds, loop.quit)
    loop.exec()


def delete_later_now() -> None:
    """Delete the objects queued with deleteLater, which processEvents alone leaves alone."""
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def open_window(home: str | Path) -> Any:
    """Create and show the main window, and wait until its start-up tasks have finished.

    Raises BenchmarkError when its background tasks run past WINDOW_READY_TIMEOUT_SECONDS.
    """
    import segment_gui

    window = segment_gui.create_window(home)
    window.show()
    deadline = time.monotonic() + WINDOW_READY_TIMEOUT_SECONDS
    while window.runner.busy():
        if time.monotonic() > deadline:
            raise BenchmarkError("the window's start-up tasks did not finish in time")
        wait(20)
    wait(100)
    return window
