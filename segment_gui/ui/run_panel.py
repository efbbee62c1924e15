"""The Run panel: send one message per input item, with progress, cancel and a results table.

The run itself happens in `segment_gui.runs` on a worker thread with its own expression engine,
so the live preview never waits for it. Results reach the table in batches on a timer, which
keeps the event loop free during runs of thousands of items.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from segment_gui.runs import ItemResult, RunProgress, RunReport
from segment_gui.ui.response_view import monospace_editor
from segment_gui.ui.workers import TaskRunner

COLUMNS = ["Item", "Status", "HTTP", "ms", "Response or error", "Payload"]
FLUSH_INTERVAL_MS = 100
DELIVERY_MODES = {
    "single": "One request per item (as n8n)",
    "batch": "Segment /batch (up to 500 KB per request)",
}


class _RunSignals(QObject):
    progress = Signal(object)
    result = Signal(object)


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
        self._pending: list[ItemResult] = []
        self._results: list[ItemResult] = []
        self._signals = _RunSignals(self)
        self._signals.progress.connect(self._on_progress)
        self._signals.result.connect(self._pending.append)
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
        self.table = _results_table(splitter, "runResults")
        self.table.currentCellChanged.connect(self._on_table_current_changed)
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
        self._results.clear()
        self.table.setRowCount(0)
        self.detail.clear()
        self.errors_view.clear()
        self.progress_bar.setRange(0, max(1, total))
        self.progress_bar.setValue(0)
        self.status_label.setText(f"Running over {total:,} item{'s' if total != 1 else ''} …")
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._flush_timer.start()
        signals = self._signals
        self.runner.start(
            lambda: work(cancel, signals.progress.emit, signals.result.emit),
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
        if not self._pending:
            return
        batch = self._pending[:]
        self._pending.clear()
        start = self.table.rowCount()
        self.table.setRowCount(start + len(batch))
        for offset, result in enumerate(batch):
            self._results.append(result)
            _fill_row(self.table, start + offset, result)

    def _finish(self) -> None:
        self._flush_timer.stop()
        self._flush()
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

    def _on_table_current_changed(self, row: int, *_: int) -> None:
        if 0 <= row < len(self._results):
            result = self._results[row]
            lines = [f"Item {result.index + 1}: {result.status}"]
            if result.error:
                lines.append(f"Error: {result.error}")
            if result.response:
                lines += ["", "Response:", result.response]
            if result.payload is not None:
                lines += ["", "Payload:", json.dumps(result.payload, indent=2, ensure_ascii=False)]
            self.detail.setPlainText("\n".join(lines))


def _results_table(parent: QWidget, name: str) -> QTableWidget:
    table = QTableWidget(0, len(COLUMNS), parent)
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(COLUMNS)
    header = table.horizontalHeader()
    for column in range(4):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
    header.setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    return table


def _fill_row(table: QTableWidget, row: int, result: ItemResult) -> None:
    payload = json.dumps(result.payload, ensure_ascii=False)[:200] if result.payload else ""
    cells = [
        str(result.index + 1),
        result.status,
        "" if result.http_status is None else str(result.http_status),
        f"{result.elapsed_ms:.0f}" if result.elapsed_ms else "",
        (result.error or result.response)[:200],
        payload,
    ]
    for column, text in enumerate(cells):
        table.setItem(row, column, QTableWidgetItem(text))
