"""The response panel: status line, body, headers and the request as sent."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from segment_gui.transport import Response, SendError, SentRequest

EMPTY_TEXT = "No response yet. Fill the form and press Send (Ctrl+Enter)."
# Longer bodies are shown cut so the text view stays responsive; history keeps 64 KB.
VIEW_LIMIT_CHARS = 1_000_000


def monospace_editor(parent: QWidget, name: str) -> QPlainTextEdit:
    editor = QPlainTextEdit(parent)
    editor.setObjectName(name)
    editor.setReadOnly(True)
    editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    editor.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    return editor


def pretty_json(data: bytes | str) -> str:
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


class ResponseView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.status_label = QLabel(EMPTY_TEXT, self)
        self.status_label.setObjectName("responseStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(self.status_label.textInteractionFlags())
        layout.addWidget(self.status_label)

        self.tabs = QTabWidget(self)
        self.body_view = monospace_editor(self, "responseBody")
        self.headers_table = QTableWidget(0, 2, self)
        self.headers_table.setObjectName("responseHeaders")
        self.headers_table.setHorizontalHeaderLabels(["Header", "Value"])
        self.headers_table.horizontalHeader().setSectionResizeMode(
            1, QHeaderView.ResizeMode.Stretch
        )
        self.headers_table.verticalHeader().setVisible(False)
        self.headers_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.request_view = monospace_editor(self, "requestAsSent")
        self.attempts_view = monospace_editor(self, "responseAttempts")
        self.tabs.addTab(self.body_view, "Body")
        self.tabs.addTab(self.headers_table, "Headers")
        self.tabs.addTab(self.request_view, "Request")
        self.tabs.addTab(self.attempts_view, "Attempts")
        layout.addWidget(self.tabs, 1)

    def show_pending(self, url: str) -> None:
        self.status_label.setText(f"Sending to {url} …")
        self.body_view.clear()
        self.headers_table.setRowCount(0)
        self.attempts_view.clear()

    def show_progress(self, text: str) -> None:
        self.status_label.setText(text)

    def show_response(self, response: Response) -> None:
        attempts = f" · {len(response.attempts)} attempts" if len(response.attempts) > 1 else ""
        self.status_label.setText(
            f"{response.status} {response.reason} · {response.elapsed_ms:.0f} ms · "
            f"{len(response.body):,} bytes{attempts}"
        )
        notes = []
        if response.redirect_note:
            notes.append(response.redirect_note)
        if response.truncated:
            notes.append(
                f"The body was cut at {len(response.body):,} bytes; only that part is shown."
            )
        text = response.text()
        if len(text) > VIEW_LIMIT_CHARS:
            notes.append(
                f"Only the first {VIEW_LIMIT_CHARS:,} of {len(text):,} characters are shown."
            )
            self.body_view.setPlainText(text[:VIEW_LIMIT_CHARS])
        else:
            self.body_view.setPlainText(pretty_json(text))
        if notes:
            self.status_label.setText(self.status_label.text() + "\n" + "\n".join(notes))
        self.headers_table.setRowCount(len(response.headers))
        for row, (name, value) in enumerate(response.headers):
            self.headers_table.setItem(row, 0, QTableWidgetItem(name))
            self.headers_table.setItem(row, 1, QTableWidgetItem(value))
        self._show_request(response.request)
        self.attempts_view.setPlainText(_attempt_lines(response.attempts))
        self.tabs.setCurrentWidget(self.body_view)

    def show_error(self, error: Exception) -> None:
        self.status_label.setText(f"Failed: {error}")
        self.body_view.setPlainText("")
        self.headers_table.setRowCount(0)
        if isinstance(error, SendError):
            if error.request is not None:
                self._show_request(error.request)
            self.attempts_view.setPlainText(_attempt_lines(error.attempts))

    def _show_request(self, request: SentRequest) -> None:
        lines = [f"{request.method} {request.url}"]
        lines += [f"{name}: {value}" for name, value in request.headers.items()]
        lines += ["", pretty_json(request.body)]
        self.request_view.setPlainText("\n".join(lines))


def _attempt_lines(attempts: list[Any]) -> str:
    lines = []
    for attempt in attempts:
        waited = getattr(attempt, "waited_ms", 0.0)
        wait = f" after waiting {waited / 1000:.1f} s" if waited else ""
        lines.append(f"#{attempt.number}: {attempt.outcome} ({attempt.elapsed_ms:.0f} ms){wait}")
    return "\n".join(lines)
