"""The Run panel: send one message per input item, with progress, cancel and a results table.

The run itself happens in `segment_gui.runs` on a worker thread with its own expression engine,
so the live preview never waits for it. The worker appends each result to a queue without a
signal, and a timer moves the queued results into a table model in one insertion, so the
event loop stays free during runs of thousands of items. The table view has rows of one fixed
height and columns of fixed width, so it does not measure the contents of inserted rows.
"""

from __future__ import annotations

import collections
import gc
import json
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from segment_gui.ui.response_view import monospace_editor
from segment_gui.ui.table_model import AppendTableModel
from segment_gui.ui.workers import TaskRunner

# Only for type hints: the run code loads when a run starts.
if TYPE_CHECKING:
    from segment_gui.runs import ItemResult, RunProgress, RunReport

COLUMNS = ["Item", "Status", "HTTP", "ms", "Response or error", "Payload"]
# Widths of the first four columns, in average character widths of the table's font.
COLUMN_CHARACTERS = (8, 10, 6, 7)
FLUSH_INTERVAL_MS = 100
# Characters of the response and payload shown in a cell; the detail view shows all of it.
CELL_CHARACTERS = 200
DELIVERY_MODES = {
    "single": "One request per item (as n8n)",
    "batch": "Segment /batch (up to 500 KB per request)",
}


class _RunGuard:
    """Interpreter settings that keep the GUI thread responsive while a run's threads hold
    the GIL, applied from the start of a run to its end.

    - `gc.freeze()` moves the objects that exist at the start out of the collector's reach,
      and full (generation 2) collections wait until the run ends. A full collection stops
      every thread for as long as it traverses the heap, which grows by the run's results
      and the sandbox's messages. Young collections still run, so short-lived reference
      cycles are freed during the run.
    - A shorter GIL switch interval lets the GUI thread take the GIL sooner from the run's
      threads, at the price of more thread switches.
    """

    SWITCH_INTERVAL_SECONDS = 0.001
    # Generation 1 collections before a full one; 0 would mean "after every one".
    FULL_COLLECTION_THRESHOLD = 2**30
    _saved: tuple[tuple[int, int, int], float] | None = None

    @classmethod
    def enter(cls) -> None:
        if cls._saved is not None:
            return
        thresholds = gc.get_threshold()
        cls._saved = (thresholds, sys.getswitchinterval())
        gc.freeze()
        gc.set_threshold(thresholds[0], thresholds[1], cls.FULL_COLLECTION_THRESHOLD)
        sys.setswitchinterval(min(cls.SWITCH_INTERVAL_SECONDS, cls._saved[1]))

    @classmethod
    def leave(cls) -> None:
        if cls._saved is None:
            return
        thresholds, interval = cls._saved
        cls._saved = None
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(interval)


class _RunSignals(QObject):
    progress = Signal(object)


class ResultsModel(AppendTableModel["ItemResult"]):
    """The results of a run, one row per item in the order they were added."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(COLUMNS, cell_text, parent=parent)

    def result(self, row: int) -> ItemResult:
        return self.row(row)


def cell_text(result: ItemResult, column: int) -> str:
    """Return the text of one cell of a result's row; `column` indexes COLUMNS."""
    if column == 0:
        return str(result.index + 1)
    if column == 1:
        return result.status
    if column == 2:
        return "" if result.http_status is None else str(result.http_status)
    if column == 3:
        return f"{result.elapsed_ms:.0f}" if result.elapsed_ms else ""
    if column == 4:
        return (result.error or result.response)[:CELL_CHARACTERS]
    if result.payload:
        return json.dumps(result.payload, ensure_ascii=False)[:CELL_CHARACTERS]
    return ""


class RunPanel(QWidget):
    """Shows a run's progress and results; the window supplies the work to run."""

    run_requested = Signal()
    finished = Signal(object)
    failed = Signal(object)

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.report: RunReport | None = None
        self._cancel: threading.Event | None = None
        # Filled by the run's worker thread; deque.append is thread-safe.
        self._pending: collections.deque[ItemResult] = collections.deque()
        self._signals = _RunSignals(self)
        self._signals.progress.connect(self._on_progress)
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_INTERVAL_MS)
        self._flush_timer.timeout.connect(self._flush)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        controls = QHBoxLayout()
        delivery_label = QLabel("&Delivery", self)
        self.delivery_combo = QComboBox(self)
        self.delivery_combo.setObjectName("runDelivery")
        for key, label in DELIVERY_MODES.items():
            self.delivery_combo.addItem(label, key)
        delivery_label.setBuddy(self.delivery_combo)
        self.run_button = QPushButton("&Run over all items", self)
        self.run_button.setObjectName("runStart")
        self.run_button.clicked.connect(self.run_requested)
        self.cancel_button = QPushButton("Cancel run", self)
        self.cancel_button.setObjectName("runCancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        controls.addWidget(delivery_label)
        controls.addWidget(self.delivery_combo)
        controls.addStretch(1)
        controls.addWidget(self.run_button)
        controls.addWidget(self.cancel_button)
        layout.addLayout(controls)

        self.progress_bar = QProgressBar(self)
        self.progress_bar.setObjectName("runProgress")
        self.progress_bar.setValue(0)
        layout.addWidget(self.progress_bar)
        self.status_label = QLabel("Not run yet. Each input item becomes one message.", self)
        self.status_label.setObjectName("runStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setMinimumHeight(self.status_label.fontMetrics().lineSpacing() * 3)
        layout.addWidget(self.status_label)

        self.tabs = QTabWidget(self)
        splitter = QSplitter(Qt.Orientation.Vertical, self.tabs)
        self.model = ResultsModel(self)
        self.table = _results_table(splitter, "runResults", self.model)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row_changed)
        self.detail = monospace_editor(splitter, "runDetail")
        self.errors_view = monospace_editor(self.tabs, "runErrors")
        self.tabs.addTab(splitter, "Results")
        self.tabs.addTab(self.errors_view, "Errors output")
        layout.addWidget(self.tabs, 1)

    def delivery(self) -> str:
        return str(self.delivery_combo.currentData())

    def is_running(self) -> bool:
        return self._cancel is not None

    def start(self, work: Callable[[threading.Event, Any, Any], RunReport], total: int) -> None:
        """Run `work(cancel, on_progress, on_result)` on a worker thread."""
        if self._cancel is not None:
            return
        cancel = threading.Event()
        self._cancel = cancel
        self.report = None
        self._pending.clear()
        self.model.clear()
        self.detail.clear()
        self.errors_view.clear()
        self.progress_bar.setRange(0, max(1, total))
        self.progress_bar.setValue(0)
        self.status_label.setText(f"Running over {total:,} item{'s' if total != 1 else ''} …")
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._flush_timer.start()
        _RunGuard.enter()
        signals, pending = self._signals, self._pending
        self.runner.start(
            lambda: work(cancel, signals.progress.emit, pending.append),
            self._on_done,
            self._on_error,
        )

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
            self.status_label.setText("Cancelling after the request in flight …")

    def _on_progress(self, progress: RunProgress) -> None:
        self.progress_bar.setValue(progress.done)
        self.status_label.setText(
            f"{progress.done:,} / {progress.total:,} items · {progress.sent:,} sent · "
            f"{progress.failed:,} failed · {progress.rate_per_s:,.1f} items/s"
        )

    def _flush(self) -> None:
        pending = self._pending
        self.model.append([pending.popleft() for _ in range(len(pending))])

    def _finish(self) -> None:
        self._flush_timer.stop()
        self._flush()
        _RunGuard.leave()
        self._cancel = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _on_done(self, report: RunReport) -> None:
        self._finish()
        self.report = report
        sent, failed = len(report.sent()), len(report.failed())
        state = "cancelled" if report.cancelled else "finished"
        if report.stopped_at is not None:
            state = f"stopped at item {report.stopped_at + 1} (On Error: Stop Workflow)"
        text = (
            f"Run {state} in {report.elapsed_ms / 1000:,.1f} s: {sent:,} sent, {failed:,} failed, "
            f"{len(report.results) - sent - failed:,} not sent."
        )
        if report.stopped and report.error:
            text += f"\n{report.error}"
        self.status_label.setText(text)
        self.progress_bar.setValue(self.progress_bar.maximum() if not report.cancelled else sent)
        if report.errors:
            self.errors_view.setPlainText(json.dumps(report.errors, indent=2, ensure_ascii=False))
        self.finished.emit(report)

    def _on_error(self, error: Exception) -> None:
        self._finish()
        self.status_label.setText(f"Run failed: {error}")
        self.failed.emit(error)

    def _on_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = current.row()
        if not 0 <= row < self.model.rowCount():
            return
        result = self.model.result(row)
        lines = [f"Item {result.index + 1}: {result.status}"]
        if result.error:
            lines.append(f"Error: {result.error}")
        if result.response:
            lines += ["", "Response:", result.response]
        if result.payload is not None:
            lines += ["", "Payload:", json.dumps(result.payload, indent=2, ensure_ascii=False)]
        self.detail.setPlainText("\n".join(lines))


def _results_table(parent: QWidget, name: str, model: ResultsModel) -> QTableView:
    table = QTableView(parent)
    table.setObjectName(name)
    table.setModel(model)
    table.setWordWrap(False)
    header = table.horizontalHeader()
    character = table.fontMetrics().averageCharWidth()
    for column, characters in enumerate(COLUMN_CHARACTERS):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(column, characters * character + 12)
    header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
    header.setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
    rows = table.verticalHeader()
    rows.setVisible(False)
    rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    rows.setDefaultSectionSize(table.fontMetrics().height() + 6)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    return table
