"""Sending from the window: cancel, history, re-send, preferences, plain-HTTP confirmation."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from conftest import answer_next_box
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QMessageBox

from segment_gui.storage import Config, CredentialRecord, app_paths


class _SlowHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    release = threading.Event()

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        self.rfile.read(int(self.headers["Content-Length"]))
        self.release.wait(10)
        body = b'{"success": true}'
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_server() -> Iterator[str]:
    _SlowHandler.release = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    _SlowHandler.release.set()
    server.shutdown()
    server.server_close()


def field(window: Any, path: str) -> QLineEdit:
    widget = window.findChild(QLineEdit, path)
    assert widget is not None, path
    return widget


def test_cancel_stops_slow_send(window: Any, qtbot: Any, slow_server: str) -> None:
    window.endpoint.set_endpoint(slow_server)
    field(window, "userId").setText("u-cancel")
    window.send()
    assert window.is_sending()
    assert window.cancel_button.isVisibleTo(window)
    qtbot.wait(300)
    started = time.monotonic()
    window.cancel_send()
    qtbot.waitUntil(lambda: not window.is_sending(), timeout=3000)
    assert time.monotonic() - started < 1.5
    assert window.response_view.status_label.text().startswith("Cancelled: ")
    assert field(window, "userId").text() == "u-cancel"
    qtbot.waitUntil(lambda: len(window.history_panel.entries) == 1, timeout=3000)
    assert window.history_panel.entries[0].status is None
    assert window.history_panel.entries[0].error


def test_escape_key_cancels_send(window: Any, qtbot: Any, slow_server: str) -> None:
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    window.endpoint.set_endpoint(slow_server)
    user = field(window, "userId")
    user.setText("u-escape")
    user.setFocus()
    qtbot.keyClick(user, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.is_sending()
    qtbot.wait(200)
    qtbot.keyClick(user, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.is_sending(), timeout=3000)
    assert "cancel" in window.response_view.status_label.text().lower()
    assert user.text() == "u-escape"


def test_history_records_and_reloads(window: Any, qtbot: Any, home: Any) -> None:
    field(window, "userId").setText("u-history")
    window.send()
    qtbot.waitUntil(lambda: window.last_response is not None, timeout=10000)
    qtbot.waitUntil(lambda: len(window.history_panel.entries) == 1, timeout=3000)
    entry = window.history_panel.entries[0]
    assert entry.status == 200
    assert entry.request_body["userId"] == "u-history"
    assert entry.path == "identify"
    assert window.history_panel.table.item(0, 3).text() == "200 OK"
    lines = (home / "history.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    assert "Authorization" not in lines[0]

    from segment_gui import create_window

    second = create_window(home)
    qtbot.addWidget(second)
    qtbot.waitUntil(lambda: len(second.history_panel.entries) == 1, timeout=5000)
    assert second.history_panel.entries[0].id == entry.id
    second.shutdown()


def test_failed_send_kept_in_history(window: Any, qtbot: Any) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    window.endpoint.set_endpoint(f"http://127.0.0.1:{port}/v1")
    field(window, "userId").setText("u-down")
    window.send()
    qtbot.waitUntil(lambda: len(window.history_panel.entries) == 1, timeout=10000)
    entry = window.history_panel.entries[0]
    assert entry.status is None
    assert "refused" in (entry.error or "")
    assert entry.parameters["userId"] == "u-down"
    assert window.history_panel.table.item(0, 3).text() == "failed"


def test_resend_new_message_id(window: Any, qtbot: Any) -> None:
    field(window, "userId").setText("u-again")
    window.send()
    qtbot.waitUntil(lambda: len(window.history_panel.entries) == 1, timeout=10000)
    window.history_panel.table.setCurrentCell(0, 0)
    window.history_panel.resend_button.click()
    qtbot.waitUntil(lambda: len(window.history_panel.entries) == 2, timeout=10000)
    messages = [received.message for received in window.sandbox.messages()]
    assert len(messages) == 2
    assert messages[0]["userId"] == messages[1]["userId"] == "u-again"
    assert messages[0]["messageId"] != messages[1]["messageId"]


def test_open_history_as_form(window: Any, qtbot: Any) -> None:
    window.form.set_value("resource", "track")
    field(window, "event").setText("Opened Later")
    window.send()
    qtbot.waitUntil(lambda: len(window.history_panel.entries) == 1, timeout=10000)
    answer_next_box(qtbot, QMessageBox.StandardButton.Discard)
    window.new_request()
    assert window.parameters()["resource"] == "identify"
    window.history_panel.table.setCurrentCell(0, 0)
    window.history_panel.open_button.click()
    assert window.parameters()["resource"] == "track"
    assert field(window, "event").text() == "Opened Later"


def test_preferences_saved_and_used(window: Any, qtbot: Any, home: Any) -> None:
    dialog = window.open_preferences()
    dialog.connect_box.setValue(2.5)
    dialog.read_box.setValue(12)
    dialog.findChild(QMessageBox)  # no message boxes involved
    dialog._on_save_clicked()
    qtbot.waitUntil(
        lambda: "Preferences saved" in window.statusBar().currentMessage(), timeout=5000
    )
    stored = json.loads((home / "config.json").read_text(encoding="utf-8"))["preferences"]
    assert stored == {"connectTimeout": 2.5, "readTimeout": 12.0, "colorScheme": "system"}
    options = window.send_options(window.settings())
    assert (options.connect_timeout, options.read_timeout) == (2.5, 12.0)


def test_plain_http_needs_confirmation(window: Any, qtbot: Any, home: Any) -> None:
    # The credential record exists without a key: clicking "No" means the key is never read
    # and nothing is sent, so the non-loopback URL below is never contacted.
    Config(app_paths(home)).put_credential(CredentialRecord("plain", "http://collector.example/v1"))
    window._refresh_credentials(select="plain")
    qtbot.waitUntil(lambda: window.credential_combo.currentData() == "plain", timeout=5000)
    assert window.endpoint.endpoint() == "http://collector.example/v1"
    field(window, "userId").setText("u")
    window.send()
    box = window.findChild(QMessageBox, "insecureConfirmation")
    assert box is not None
    assert "unencrypted" in box.text()
    assert not window.is_sending()
    box.button(QMessageBox.StandardButton.No).click()
    assert not window.is_sending()
    assert window.statusBar().currentMessage() == "Nothing was sent"


class _BigHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b"x" * 6_000_000
    content_type = "text/plain; charset=latin-1"

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        self.rfile.read(int(self.headers["Content-Length"]))
        body = self.body
        self.send_response(200)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_huge_response_cut_in_view(window: Any, qtbot: Any) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BigHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        window.endpoint.set_endpoint(f"http://127.0.0.1:{server.server_port}/v1")
        field(window, "userId").setText("u-big")
        window.send()
        qtbot.waitUntil(lambda: window.last_response is not None, timeout=20000)
    finally:
        server.shutdown()
        server.server_close()
    status = window.response_view.status_label.text()
    assert "The body was cut at 5,242,880 bytes" in status
    cut_note = window.response_view.cut_label.text()
    assert cut_note.startswith("Only the first 1,000,000 of 5,242,880 characters are shown")
    assert len(window.response_view.body_view.toPlainText()) == 1_000_000


def test_large_compact_json_indented_before_cut(window: Any, qtbot: Any) -> None:
    rows = [{"id": index, "name": f"item {index}"} for index in range(25_000)]
    compact = json.dumps({"items": rows}, separators=(",", ":")).encode()
    handler = type("Handler", (_BigHandler,), {"body": compact, "content_type": "application/json"})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        window.endpoint.set_endpoint(f"http://127.0.0.1:{server.server_port}/v1")
        field(window, "userId").setText("u-json")
        window.send()
        qtbot.waitUntil(lambda: window.last_response is not None, timeout=20000)
    finally:
        server.shutdown()
        server.server_close()
    view = window.response_view
    shown = view.body_view.toPlainText()
    assert len(compact) < 1_000_000
    assert len(shown) <= 1_000_000
    assert shown.startswith('{\n  "items": [\n    {\n      "id": 0,')
    assert shown.endswith(",") or shown.endswith("{") or shown.endswith("}")
    assert view.cut_label.isVisibleTo(view)
    assert view.cut_label.text().startswith("Only the first 1,000,000 of ")

    view.pretty_box.setChecked(False)
    assert view.body_view.toPlainText() == compact.decode()
    assert not view.cut_label.isVisibleTo(view)


def test_resend_sandbox_entry_next_session(window: Any, qtbot: Any, home: Any) -> None:
    field(window, "userId").setText("u-later")
    window.send()
    qtbot.waitUntil(lambda: len(window.history_panel.entries) == 1, timeout=10000)
    window.shutdown()

    from segment_gui import create_window

    later = create_window(home)
    qtbot.addWidget(later)
    qtbot.waitUntil(lambda: len(later.history_panel.entries) == 1, timeout=5000)
    entry = later.history_panel.entries[0]
    assert entry.endpoint_setting == "sandbox"
    later.resend(entry)
    qtbot.waitUntil(lambda: len(later.history_panel.entries) == 2, timeout=10000)
    assert later.history_panel.entries[0].status == 200
    assert later.sandbox.messages()[0].message["userId"] == "u-later"
    later.shutdown()
