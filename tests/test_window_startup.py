"""Start-up: tabs built on first use, the sandbox started after the first paint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QComboBox, QLineEdit, QSpinBox

from segment_gui.history import History
from segment_gui.storage import app_paths

RESULT_TABS = ["Input", "Preview", "Response", "Sandbox inbox", "History", "Run"]


def line(window: Any, path: str) -> QLineEdit:
    widget = window.findChild(QLineEdit, path)
    assert widget is not None, f"no line edit named {path!r}"
    return widget


def track_event(window: Any, user_id: str, event: str) -> None:
    resource = window.form.findChild(QComboBox, "resource")
    resource.setCurrentIndex(resource.findData("track"))
    line(window, "userId").setText(user_id)
    line(window, "event").setText(event)


def tab_titles(tabs: Any) -> list[str]:
    return [tabs.tabText(index) for index in range(tabs.count())]


def test_hidden_tabs_not_built_at_start(window: Any) -> None:
    assert tab_titles(window.result_tabs) == RESULT_TABS
    assert tab_titles(window.form_tabs) == ["Parameters", "Settings"]
    assert window.result_tabs.tabText(window.result_tabs.currentIndex()) == "Preview"
    for key in ("input", "response", "inbox", "history", "run", "settings"):
        assert window._built(key) is None, key
    assert window.sandbox is None


def test_tab_built_when_shown(window: Any, qtbot: Any) -> None:
    window.show()
    window.result_tabs.setCurrentIndex(RESULT_TABS.index("Run"))
    assert window._built("run") is window.run_panel
    assert window.run_panel.isVisible()
    assert window.run_panel.findChild(QComboBox, "runDelivery") is not None
    window.form_tabs.setCurrentIndex(1)
    assert window.settings_form.isVisible()
    assert window.settings_form.findChild(QSpinBox, "maxTries") is None


def test_settings_kept_until_tab_built(window: Any) -> None:
    from segment_gui.model import Preset

    preset = Preset(name="retries", parameters={}, settings={"retryOnFail": True, "maxTries": 4})
    window.apply_preset(preset)
    assert window._built("settings") is None
    assert window.settings()["maxTries"] == 4
    window.presets_panel.current_name = "retries"
    assert not window.is_dirty()

    window.form_tabs.setCurrentIndex(1)
    assert window.settings_form.findChild(QSpinBox, "maxTries").value() == 4
    assert window.settings()["maxTries"] == 4
    assert not window.is_dirty()


def test_send_before_sandbox_waits(window: Any, qtbot: Any) -> None:
    track_event(window, "u-early", "Early Send")
    assert window.sandbox is None
    window.send()
    assert window.is_sending()
    assert "Starting the local sandbox" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: window.last_response is not None, timeout=10000)
    assert window.last_response.status == 200
    assert not window.is_sending()
    received = window.sandbox.messages()
    assert [message.message["userId"] for message in received] == ["u-early"]


def test_send_right_after_show_waits(window: Any, qtbot: Any) -> None:
    track_event(window, "u-shown", "Shown Send")
    window.show()
    # Sent before the first paint's sandbox start has finished, or even begun.
    window.send()
    qtbot.waitUntil(lambda: window.last_response is not None, timeout=10000)
    assert window.last_response.status == 200
    assert [m.message["userId"] for m in window.sandbox.messages()] == ["u-shown"]
    assert window.preview_status.text().startswith(f"POST {window.sandbox.base_url}/track")


def test_cancel_while_sandbox_starts(window: Any, qtbot: Any) -> None:
    track_event(window, "u-cancelled", "Cancelled Send")
    window.send()
    window.cancel_send()
    assert not window.is_sending()
    qtbot.waitUntil(lambda: window.sandbox is not None, timeout=10000)
    qtbot.waitUntil(lambda: not window.runner.busy(), timeout=5000)
    assert window.sandbox.messages() == []
    assert window.last_response is None


def test_sandbox_starts_after_first_paint(window: Any, qtbot: Any) -> None:
    window.show()
    qtbot.waitUntil(lambda: window.sandbox is not None, timeout=10000)
    url = window.sandbox.base_url
    assert url.startswith("http://127.0.0.1:")
    assert window.preview_status.text().startswith(f"POST {url}/identify")


def test_history_recorded_without_tab(window: Any, qtbot: Any, home: Path) -> None:
    track_event(window, "u-history", "Recorded")
    window.send()
    qtbot.waitUntil(lambda: window.last_response is not None, timeout=10000)
    assert window._built("history") is None
    entries, _problems = History(app_paths(home)).load()
    assert [entry.request_body["userId"] for entry in entries] == ["u-history"]

    window.result_tabs.setCurrentIndex(RESULT_TABS.index("History"))
    panel = window.history_panel
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=5000)
    assert "track" in panel.table.item(0, 1).text().lower()


def test_inbox_shows_messages_before_built(window: Any, qtbot: Any) -> None:
    track_event(window, "u-inbox", "Before Inbox")
    window.send()
    qtbot.waitUntil(lambda: window.last_response is not None, timeout=10000)
    qtbot.waitUntil(lambda: len(window._inbox_backlog) == 1, timeout=5000)
    assert window._built("inbox") is None

    window.result_tabs.setCurrentIndex(RESULT_TABS.index("Sandbox inbox"))
    inbox = window.inbox
    qtbot.waitUntil(lambda: inbox.message_count() == 1, timeout=5000)
    assert window.sandbox.base_url in inbox.info_label.text()
    assert "userId=u-inbox" in inbox.model.index(0, 2).data()


def test_input_items_saved_once_tab_used(window: Any) -> None:
    assert window.snapshot("no input").items is None
    window.input_panel.text_edit.setPlainText(json.dumps([{"id": 1}]))
    assert window.input_panel.apply_text()
    assert window.snapshot("with input").items == [{"id": 1}]


class _FirstPaintProbe(QObject):
    """Records whether the window's palette is dark when its first paint event arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.dark_at_first_paint: bool | None = None

    def eventFilter(self, watched: Any, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint and self.dark_at_first_paint is None:
            self.dark_at_first_paint = window_is_dark(watched)
        return False


def window_is_dark(window: Any) -> bool:
    from PySide6.QtGui import QPalette

    return window.palette().color(QPalette.ColorRole.Window).lightness() < 128


def test_dark_scheme_before_first_paint(qtbot: Any, home: Path) -> None:
    from segment_gui import create_window
    from segment_gui.ui.theme import scheme_controller

    first = create_window(home)
    qtbot.addWidget(first)
    qtbot.waitUntil(lambda: not first.runner.busy(), timeout=5000)
    first.save_preferences({"colorScheme": "dark"})
    qtbot.waitUntil(lambda: "Preferences saved" in first.statusBar().currentMessage())
    first._baseline = None
    first.close()
    scheme_controller().apply("system")
    try:
        assert scheme_controller().effective_scheme() == "light"

        second = create_window(home)
        qtbot.addWidget(second)
        probe = _FirstPaintProbe()
        second.installEventFilter(probe)
        assert scheme_controller().effective_scheme() == "dark"
        second.show()
        qtbot.waitUntil(lambda: probe.dark_at_first_paint is not None, timeout=5000)
        assert probe.dark_at_first_paint is True
        second._baseline = None
        second.shutdown()
    finally:
        scheme_controller().apply("system")


def test_no_sandbox_after_shutdown(window: Any, qtbot: Any) -> None:
    window.show()
    window._baseline = None
    window.shutdown()
    # The first paint and its zero-delay timer come after shutdown() here.
    qtbot.wait(200)
    assert window.sandbox is None
    assert not window.runner.busy()
