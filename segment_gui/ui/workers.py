"""Run blocking work (HTTP, keyring, disk) on QThreadPool and deliver results on the GUI thread."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

logger = logging.getLogger(__name__)


class _TaskSignals(QObject):
    finished = Signal(object)
    failed = Signal(object)


class Task(QRunnable):
    """A function run on the thread pool; its outcome comes back through queued signals.

    The signals object lives in the GUI thread, so slots connected to it run there.
    """

    def __init__(self, function: Callable[[], Any]) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.function = function
        self.signals = _TaskSignals()

    def run(self) -> None:
        try:
            result = self.function()
        except Exception as error:  # noqa: BLE001 - delivered to the GUI thread, which reports it
            logger.debug("Background task failed", exc_info=True)
            self._deliver(self.signals.failed, error)
            return
        self._deliver(self.signals.finished, result)

    @staticmethod
    def _deliver(signal: Any, value: Any) -> None:
        try:
            signal.emit(value)
        except RuntimeError:
            # The window closed while the task ran and its signals object is gone. The work
            # itself (a save, say) is complete; only the report of it has no receiver.
            logger.debug("Task outcome dropped: its receiver was deleted")


class TaskRunner(QObject):
    """Start tasks and keep them referenced until their outcome is delivered."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._running: set[Task] = set()
        self.pool = QThreadPool.globalInstance()

    def start(
        self,
        function: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[Exception], None],
    ) -> Task:
        task = Task(function)
        task.signals.finished.connect(on_done)
        task.signals.failed.connect(on_error)
        task.signals.finished.connect(lambda _result, t=task: self._running.discard(t))
        task.signals.failed.connect(lambda _error, t=task: self._running.discard(t))
        self._running.add(task)
        self.pool.start(task)
        return task

    def busy(self) -> bool:
        return bool(self._running)

    def wait(self, milliseconds: int = 5000) -> bool:
        return self.pool.waitForDone(milliseconds)
