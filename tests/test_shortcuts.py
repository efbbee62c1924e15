"""Keyboard shortcuts of the main window, pressed where the user's focus is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import answer_next_box
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit, QMenu, QMessageBox

from segment_gui.storage import PresetStore, app_paths

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def active(window: Any, qtbot: Any) -> Any:
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    return window


def user_id(window: Any) -> QLineEdit:
    editor = window.findChild(QLineEdit, "userId")
    assert editor is not None
    return editor


def answer_name_dialog(name: str) -> None:
    """Type `name` into the preset name dialog once it opens, and press OK."""

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QInputDialog):
            QTimer.singleShot(20, answer)
            return
        dialog.setTextValue(name)
        dialog.accept()

    QTimer.singleShot(20, answer)


def stored_user(home: Path, name: str) -> Any:
    return PresetStore(app_paths(home)).load(name).parameters.get("userId")


def test_ctrl_shift_s_saves_as(active: Any, qtbot: Any, home: Path) -> None:
    editor = user_id(active)
    editor.setText("u-save-as")
    editor.setFocus()
    answer_name_dialog("Signup")
    qtbot.keyClick(editor, Qt.Key.Key_S, CTRL | SHIFT)
    qtbot.waitUntil(lambda: active.presets_panel.names() == ["Signup"], timeout=5000)
    assert stored_user(home, "Signup") == "u-save-as"
    assert active.presets_panel.current_name == "Signup"


def test_ctrl_s_saves_loaded_preset(active: Any, qtbot: Any, home: Path) -> None:
    active.presets_panel.save_named("Signup")
    qtbot.waitUntil(lambda: active.presets_panel.current_name == "Signup", timeout=5000)
    editor = user_id(active)
    editor.setText("u-changed")
    assert active.windowTitle().startswith("Signup*")
    editor.setFocus()
    qtbot.keyClick(editor, Qt.Key.Key_S, CTRL)
    qtbot.waitUntil(lambda: stored_user(home, "Signup") == "u-changed", timeout=5000)
    qtbot.waitUntil(lambda: active.windowTitle().startswith("Signup –"), timeout=5000)


def test_ctrl_s_without_preset_asks_name(active: Any, qtbot: Any, home: Path) -> None:
    editor = user_id(active)
    editor.setText("u-first")
    editor.setFocus()
    answer_name_dialog("First")
    qtbot.keyClick(editor, Qt.Key.Key_S, CTRL)
    qtbot.waitUntil(lambda: active.presets_panel.names() == ["First"], timeout=5000)
    assert stored_user(home, "First") == "u-first"


def test_ctrl_n_starts_new_request(active: Any, qtbot: Any) -> None:
    editor = user_id(active)
    editor.setText("u-old")
    editor.setFocus()
    seen = answer_next_box(qtbot, QMessageBox.StandardButton.Discard)
    qtbot.keyClick(editor, Qt.Key.Key_N, CTRL)
    assert seen[0].startswith("The new request has unsaved changes.")
    assert user_id(active).text() == ""
    assert "userId" not in active.form.values()
    assert active.statusBar().currentMessage() == "New request"


def test_menus_show_shortcuts(active: Any) -> None:
    shown = {
        action.text().replace("&", ""): action.shortcut().toString()
        for menu in active.menuBar().findChildren(QMenu)
        for action in menu.actions()
        if not action.isSeparator()
    }
    assert shown["Send"] == "Ctrl+Return"
    assert shown["Cancel send"] == "Esc"
    assert shown["Save preset"] == "Ctrl+S"
    assert shown["Save preset as…"] == "Ctrl+Shift+S"
    assert shown["New request"] == "Ctrl+N"
    assert shown["Find in response"] == "Ctrl+F"
    assert shown["Filter presets"] == "Ctrl+P"
    assert shown["Undo"] == "Ctrl+Z"
    assert shown["Redo"] == "Ctrl+Shift+Z"
    assert shown["Find next"] == "F3"
    assert shown["Find previous"] == "Shift+F3"
    assert shown["Run over all items"] == "Ctrl+Shift+Return"
    assert shown["Quit"] == "Ctrl+Q"
    assert shown["Preferences…"] == "Ctrl+,"
    assert "Copy body" in shown
    assert "Save response body…" in shown


def test_f3_finds_next_match(active: Any, qtbot: Any) -> None:
    user_id(active).setText("u-find")
    active.send()
    qtbot.waitUntil(lambda: active.last_response is not None, timeout=10000)
    view = active.response_view
    view.pretty_box.setChecked(False)
    view.find_edit.setText("e")
    count = int(view.match_label.text().split()[0])
    assert count >= 2
    first = view.body_view.textCursor().selectionStart()
    qtbot.keyClick(view.find_edit, Qt.Key.Key_F3)
    second = view.body_view.textCursor().selectionStart()
    assert second > first
    qtbot.keyClick(view.find_edit, Qt.Key.Key_F3, SHIFT)
    assert view.body_view.textCursor().selectionStart() == first
