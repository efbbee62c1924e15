"""The response panel: status line, body, headers and the request as sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtGui import QTextCursor, QTextDocument
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from segment_gui.transport import Response, SendCancelled, SendError, SentRequest
from segment_gui.ui.icons import icon
from segment_gui.ui.json_view import JsonView, monospace_font

EMPTY_TEXT = "No response yet. Fill the form and press Send (Ctrl+Enter)."
# Longer bodies are shown cut so the text view stays responsive; history keeps 64 KB.
VIEW_LIMIT_CHARS = 1_000_000


def monospace_editor(parent: QWidget, name: str) -> QPlainTextEdit:
    editor = QPlainTextEdit(parent)
    editor.setObjectName(name)
    editor.setReadOnly(True)
    editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    editor.setFont(monospace_font())
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
        self._raw_text = ""
        self._body_bytes = b""
        # The status line of the response shown, kept when a note is added under it.
        self._status_text = ""
        body_page = QWidget(self)
        body_layout = QVBoxLayout(body_page)
        body_layout.setContentsMargins(0, 0, 0, 0)
        tools = QHBoxLayout()
        self.pretty_box = QCheckBox("&Pretty", body_page)
        self.pretty_box.setObjectName("responsePretty")
        self.pretty_box.setToolTip("Indent JSON bodies; off shows the body exactly as received")
        self.pretty_box.setChecked(True)
        self.pretty_box.toggled.connect(self._render_body)
        self.find_edit = QLineEdit(body_page)
        self.find_edit.setObjectName("responseFind")
        self.find_edit.setPlaceholderText("Find (Ctrl+F)")
        self.find_edit.setClearButtonEnabled(True)
        self.find_edit.addAction(icon("find"), QLineEdit.ActionPosition.LeadingPosition)
        self.find_edit.textChanged.connect(lambda _text: self.find_text(forward=True, restart=True))
        self.find_edit.returnPressed.connect(lambda: self.find_text(forward=True))
        self.find_previous = QToolButton(body_page)
        self.find_previous.setText("▲")
        self.find_previous.setIcon(icon("move-up"))
        self.find_previous.setAccessibleName("Previous match")
        self.find_previous.setToolTip("Previous match (Shift+Enter)")
        self.find_previous.clicked.connect(lambda: self.find_text(forward=False))
        self.find_next = QToolButton(body_page)
        self.find_next.setText("▼")
        self.find_next.setIcon(icon("move-down"))
        self.find_next.setAccessibleName("Next match")
        self.find_next.setToolTip("Next match (Enter)")
        self.find_next.clicked.connect(lambda: self.find_text(forward=True))
        self.match_label = QLabel(body_page)
        self.match_label.setObjectName("responseMatches")
        self.save_button = QPushButton(icon("save"), "Save body…", body_page)
        self.save_button.setObjectName("responseSave")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._on_save_clicked)
        for widget in (self.pretty_box, self.find_edit, self.find_previous, self.find_next):
            tools.addWidget(widget)
        tools.addWidget(self.match_label)
        tools.addStretch(1)
        tools.addWidget(self.save_button)
        body_layout.addLayout(tools)
        self.cut_label = QLabel(body_page)
        self.cut_label.setObjectName("responseCut")
        self.cut_label.setWordWrap(True)
        self.cut_label.setVisible(False)
        body_layout.addWidget(self.cut_label)
        self.body_view = JsonView(body_page, "responseBody")
        body_layout.addWidget(self.body_view, 1)
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
        self.tabs.addTab(body_page, "Body")
        self.tabs.addTab(self.headers_table, "Headers")
        self.tabs.addTab(self.request_view, "Request")
        self.tabs.addTab(self.attempts_view, "Attempts")
        layout.addWidget(self.tabs, 1)

    def _render_body(self) -> None:
        """Show the body, indented when Pretty is on, cut to VIEW_LIMIT_CHARS at a line end.

        A compact JSON body is indented before it is cut, so a large one shows as many short
        lines rather than one line of a million characters, which Qt lays out slowly.
        """
        text = self._raw_text
        shown = pretty_json(text) if self.pretty_box.isChecked() else text
        cut_note = ""
        if len(shown) > VIEW_LIMIT_CHARS:
            cut_note = (
                f"Only the first {VIEW_LIMIT_CHARS:,} of {len(shown):,} characters are shown; "
                "Save body writes every byte received."
            )
            shown = _cut_at_line_end(shown, VIEW_LIMIT_CHARS)
        self.body_view.setPlainText(shown)
        self.cut_label.setText(cut_note)
        self.cut_label.setVisible(bool(cut_note))
        self.find_text(forward=True, restart=True)

    def focus_find(self) -> None:
        self.tabs.setCurrentIndex(0)
        self.find_edit.setFocus()
        self.find_edit.selectAll()

    def find_text(self, forward: bool = True, restart: bool = False) -> int:
        """Select the next (or previous) match of the find text; returns the match count."""
        needle = self.find_edit.text()
        document = self.body_view.document()
        if not needle:
            self.match_label.setText("")
            return 0
        count = document.toPlainText().casefold().count(needle.casefold())
        if restart:
            cursor = self.body_view.textCursor()
            cursor.movePosition(QTextCursor.MoveOperation.Start)
            self.body_view.setTextCursor(cursor)
        flags = QTextDocument.FindFlag(0) if forward else QTextDocument.FindFlag.FindBackward
        found = self.body_view.find(needle, flags)
        if not found and count:
            cursor = self.body_view.textCursor()
            cursor.movePosition(
                QTextCursor.MoveOperation.Start if forward else QTextCursor.MoveOperation.End
            )
            self.body_view.setTextCursor(cursor)
            self.body_view.find(needle, flags)
        self.match_label.setText(f"{count} match{'es' if count != 1 else ''}")
        return count

    def _on_save_clicked(self) -> None:
        name, _filter = QFileDialog.getSaveFileName(self, "Save response body", "response.json")
        if name:
            self.save_body(Path(name))

    def save_body(self, path: Path) -> None:
        """Write the body exactly as received."""
        try:
            path.write_bytes(self._body_bytes)
        except OSError as error:
            self._show_note(f"Cannot save the body to {path}: {error.strerror}")
            return
        self._show_note(f"Saved {len(self._body_bytes):,} bytes to {path}")

    def _show_note(self, note: str) -> None:
        """Show `note` under the response's status line, keeping that line."""
        self.status_label.setText(f"{self._status_text}\n{note}" if self._status_text else note)

    def show_pending(self, url: str) -> None:
        self.status_label.setText(f"Sending to {url} …")
        self._status_text = ""
        self._raw_text = ""
        self._body_bytes = b""
        self.save_button.setEnabled(False)
        self.body_view.clear()
        self.cut_label.hide()
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
        self._raw_text = response.text()
        self._body_bytes = response.body
        self.save_button.setEnabled(True)
        self._render_body()
        if notes:
            self.status_label.setText(self.status_label.text() + "\n" + "\n".join(notes))
        self._status_text = self.status_label.text()
        self.headers_table.setRowCount(len(response.headers))
        for row, (name, value) in enumerate(response.headers):
            self.headers_table.setItem(row, 0, QTableWidgetItem(name))
            self.headers_table.setItem(row, 1, QTableWidgetItem(value))
        self._show_request(response.request)
        self.attempts_view.setPlainText(_attempt_lines(response.attempts))
        self.tabs.setCurrentIndex(0)

    def show_error(self, error: Exception) -> None:
        label = "Cancelled" if isinstance(error, SendCancelled) else "Failed"
        self.status_label.setText(f"{label}: {error}")
        self._status_text = ""
        self._raw_text = ""
        self._body_bytes = b""
        self.save_button.setEnabled(False)
        self.body_view.setPlainText("")
        self.cut_label.hide()
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


def _cut_at_line_end(text: str, limit: int) -> str:
    """Return at most `limit` characters of `text`, ending at a line end when one is near."""
    cut = text[:limit]
    line_end = cut.rfind("\n")
    return cut[:line_end] if line_end >= limit // 2 else cut
