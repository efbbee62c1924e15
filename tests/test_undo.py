"""Undo and redo of form edits: step names, and every kind of edit in the real window."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import answer_next_box
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QToolButton,
)

from segment_gui.changes import describe_change
from segment_gui.model import Preset
from segment_gui.spec import load_spec

SPEC = load_spec()


def row(key: str, value: str = "") -> dict[str, str]:
    return {"key": key, "value": value, "valueType": "auto"}


@pytest.mark.parametrize(
    ("before", "after", "text", "path"),
    [
        ({}, {"userId": "u"}, "Edit User ID", "userId"),
        ({"resource": "track"}, {"resource": "group"}, "Change Resource", "resource"),
        (
            {"traits": {"traitsUi": [row("a")]}},
            {"traits": {"traitsUi": [row("a"), row("")]}},
            "Add Trait",
            "traits.traitsUi[1]",
        ),
        (
            {"traits": {"traitsUi": [row("a"), row("b"), row("c")]}},
            {"traits": {"traitsUi": [row("a"), row("c")]}},
            "Remove Trait",
            "traits.traitsUi[1]",
        ),
        (
            {"traits": {"traitsUi": [row("a")]}},
            {},
            "Remove Trait",
            "traits",
        ),
        (
            {"traits": {"traitsUi": [row("a"), row("b")]}},
            {"traits": {"traitsUi": [row("b"), row("a")]}},
            "Move Trait",
            "traits.traitsUi[0]",
        ),
        (
            {"traits": {"traitsUi": [row("a"), row("b")]}},
            {"traits": {"traitsUi": [row("a"), row("b", "x")]}},
            "Edit Traits › Trait 2 › Value",
            "traits.traitsUi[1].value",
        ),
        ({}, {"context": {"contextUi": {"ip": ""}}}, "Add Context", "context.contextUi"),
        ({"context": {"contextUi": {"ip": ""}}}, {}, "Remove Context", "context"),
        (
            {"context": {"contextUi": {"ip": ""}}},
            {"context": {"contextUi": {"ip": "", "app": {"appUi": {"name": ""}}}}},
            "Add Context › App",
            "context.contextUi.app.appUi",
        ),
        (
            {"context": {"contextUi": {"app": {"appUi": {"name": ""}}}}},
            {"context": {"contextUi": {"app": {"appUi": {"name": "Shop"}}}}},
            "Edit Context › App › Name",
            "context.contextUi.app.appUi.name",
        ),
        (
            {"advanced": {"advancedUi": {}}},
            {"advanced": {"advancedUi": {"destinations": {"destinationsUi": [{"name": "x"}]}}}},
            "Add Destination in Advanced",
            "advanced.advancedUi.destinations.destinationsUi[0]",
        ),
        ({"unknown": 1}, {"unknown": 2}, "Edit parameters", ""),
    ],
)
def test_describe_change(before: Any, after: Any, text: str, path: str) -> None:
    change = describe_change(SPEC.properties, before, after)
    assert (change.text, change.path) == (text, path)


# -- the window ----------------------------------------------------------------------------


def line(window: Any, path: str) -> QLineEdit:
    widget = window.findChild(QLineEdit, path)
    assert widget is not None, f"no line edit named {path!r}"
    return widget


def button(window: Any, path: str) -> QPushButton | QToolButton:
    widget = window.findChild(QPushButton, path) or window.findChild(QToolButton, path)
    assert widget is not None, f"no button named {path!r}"
    return widget


def preview(window: Any) -> dict[str, Any]:
    return json.loads(window.preview.toPlainText())


def press(qtbot: Any, window: Any, keys: str) -> None:
    """Press a shortcut where the focus is, as the user does."""
    target = QApplication.focusWidget() or window
    modifiers = Qt.KeyboardModifier.ControlModifier
    if "Shift" in keys:
        modifiers |= Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(target, Qt.Key.Key_Z, modifiers)


@pytest.fixture
def active(window: Any, qtbot: Any) -> Any:
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    for name, value in (("resource", "track"), ("operation", "event")):
        combo = window.form.findChild(QComboBox, name)
        combo.setCurrentIndex(combo.findData(value))
    window.form_history.reset()
    return window


def test_undo_typing_is_one_step(active: Any, qtbot: Any) -> None:
    window = active
    user = line(window, "userId")
    user.setFocus()
    qtbot.keyClicks(user, "alice")
    assert preview(window)["userId"] == "alice"
    assert window.undo_action.isEnabled()
    assert not window.redo_action.isEnabled()

    # Ctrl+Z in the focused box undoes the whole word, as one form step.
    press(qtbot, window, "Ctrl+Z")
    assert user.text() == ""
    assert "userId" not in window.form.values()
    assert window.redo_action.text() == "&Redo Edit User ID"
    qtbot.waitUntil(user.hasFocus, timeout=3000)

    press(qtbot, window, "Ctrl+Shift+Z")
    assert user.text() == "alice"
    assert preview(window)["userId"] == "alice"
    assert window.undo_action.text() == "&Undo Edit User ID"


def test_undo_key_after_step_closed(active: Any, qtbot: Any) -> None:
    window = active
    user = line(window, "userId")
    user.setFocus()
    qtbot.keyClicks(user, "alice")
    window.form_history.flush()
    assert window.undo_action.text() == "&Undo Edit User ID"

    # With no step open, Ctrl+Z in the focused box still undoes the form step.
    press(qtbot, window, "Ctrl+Z")
    assert user.text() == ""
    assert window.redo_action.text() == "&Redo Edit User ID"


def test_mouse_press_closes_a_step(active: Any, qtbot: Any) -> None:
    window = active
    user = line(window, "userId")
    user.setFocus()
    qtbot.keyClicks(user, "u1")
    assert window.undo_action.text() == "&Undo"

    # A click on a label takes no focus, yet closes the step at once.
    title = window.findChild(QLabel, "nodeTitle")
    qtbot.mouseClick(title, Qt.MouseButton.LeftButton)
    assert user.hasFocus()
    assert window.undo_action.text() == "&Undo Edit User ID"


def test_undo_pause_and_focus_close_a_step(active: Any, qtbot: Any) -> None:
    window = active
    user = line(window, "userId")
    user.setFocus()
    qtbot.keyClicks(user, "u1")
    event = line(window, "event")
    event.setFocus()  # moving on closes the step in User ID
    qtbot.keyClicks(event, "Opened")
    qtbot.waitUntil(lambda: window.undo_action.text() == "&Undo Edit Event", timeout=3000)

    window.undo_action.trigger()
    assert (user.text(), event.text()) == ("u1", "")
    window.undo_action.trigger()
    assert (user.text(), event.text()) == ("", "")
    assert not window.undo_action.isEnabled()
    window.redo_action.trigger()
    window.redo_action.trigger()
    assert (user.text(), event.text()) == ("u1", "Opened")


def test_undo_rows_add_move_remove(active: Any, qtbot: Any) -> None:
    window = active
    add = button(window, "properties:add")
    for key in ("a", "b", "c"):
        qtbot.mouseClick(add, Qt.MouseButton.LeftButton)
        index = window.form.editor("properties").row_count() - 1
        qtbot.keyClicks(line(window, f"properties.propertiesUi[{index}].key"), key)
    window.form_history.flush()
    assert list(preview(window)["properties"]) == ["a", "b", "c"]

    qtbot.mouseClick(button(window, "properties.propertiesUi[2]:up"), Qt.MouseButton.LeftButton)
    qtbot.mouseClick(button(window, "properties.propertiesUi[0]:remove"), Qt.MouseButton.LeftButton)
    assert list(preview(window)["properties"]) == ["c", "b"]

    window.undo_action.trigger()  # the removal
    assert list(preview(window)["properties"]) == ["a", "c", "b"]
    qtbot.waitUntil(line(window, "properties.propertiesUi[0].key").hasFocus, timeout=3000)
    window.undo_action.trigger()  # the move
    assert list(preview(window)["properties"]) == ["a", "b", "c"]
    window.undo_action.trigger()  # typing "c"
    window.undo_action.trigger()  # adding the third row
    assert window.form.editor("properties").row_count() == 2
    assert window.redo_action.text() == "&Redo Add Property"

    window.redo_action.trigger()
    window.redo_action.trigger()
    window.redo_action.trigger()
    window.redo_action.trigger()
    assert list(preview(window)["properties"]) == ["c", "b"]
    assert not window.redo_action.isEnabled()


def test_undo_collection_add_remove(active: Any, qtbot: Any) -> None:
    window = active
    qtbot.mouseClick(button(window, "context:add"), Qt.MouseButton.LeftButton)
    locale = line(window, "context.contextUi.locate")
    locale.setFocus()  # the user clicks into the field before typing
    qtbot.keyClicks(locale, "en-GB")
    qtbot.mouseClick(button(window, "context.contextUi:remove"), Qt.MouseButton.LeftButton)
    assert "locale" not in preview(window)["context"]

    window.undo_action.trigger()
    assert preview(window)["context"]["locale"] == "en-GB"
    window.undo_action.trigger()
    assert line(window, "context.contextUi.locate").text() == ""
    window.undo_action.trigger()
    assert window.findChild(QLineEdit, "context.contextUi.locate") is None
    assert button(window, "context:add").isVisibleTo(window)


def test_undo_resource_and_settings(active: Any, qtbot: Any) -> None:
    window = active
    resource = window.form.findChild(QComboBox, "resource")
    resource.setCurrentIndex(resource.findData("group"))
    window.form_history.flush()
    assert window.undo_action.text() == "&Undo Change Resource"
    retry = window.settings_form.editor("retryOnFail")
    retry.set_value(True)
    retry.value_changed.emit()
    window.form_history.flush()
    assert window.settings()["retryOnFail"] is True

    window.undo_action.trigger()
    assert window.settings()["retryOnFail"] is False
    window.undo_action.trigger()
    assert window.parameters()["resource"] == "track"
    assert window.findChild(QLineEdit, "event") is not None


def test_undo_back_to_saved_clears_marker(active: Any, qtbot: Any) -> None:
    window = active
    line(window, "userId").setText("saved-user")
    window.presets_panel.save_named("Checkout")
    qtbot.waitUntil(lambda: window.windowTitle().startswith("Checkout –"), timeout=5000)
    window.apply_preset(Preset(name="Checkout", parameters={"userId": "saved-user"}))
    assert not window.undo_action.isEnabled()  # loading a preset starts a new history

    user = line(window, "userId")
    user.setFocus()
    qtbot.keyClicks(user, "-2")
    assert window.windowTitle().startswith("Checkout* –")
    press(qtbot, window, "Ctrl+Z")
    assert user.text() == "saved-user"
    assert window.windowTitle().startswith("Checkout –")


def test_undo_new_request_clears_history(active: Any, qtbot: Any) -> None:
    window = active
    qtbot.keyClicks(line(window, "userId"), "x")
    answer_next_box(qtbot, QMessageBox.StandardButton.Discard)
    window.new_request()
    assert not window.undo_action.isEnabled()
    assert window.undo_action.text() == "&Undo"


def test_click_in_box_closes_typing_step(active: Any, qtbot: Any) -> None:
    window = active
    user = line(window, "userId")
    user.setFocus()
    qtbot.keyClicks(user, "ab")
    # A click that leaves the focus where it is still ends the step, as in a text editor.
    qtbot.mouseClick(user, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(user, "cd")
    assert user.text() == "abcd"

    window.undo_action.trigger()
    assert user.text() == "ab"
    window.undo_action.trigger()
    assert user.text() == ""


def test_clicks_starting_outside_the_form_are_separate_steps(active: Any, qtbot: Any) -> None:
    window = active
    presets_filter = window.findChild(QLineEdit, "presetFilter")
    presets_filter.setFocus()
    qtbot.waitUntil(presets_filter.hasFocus, timeout=3000)
    add = button(window, "properties:add")
    qtbot.mouseClick(add, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(add, Qt.MouseButton.LeftButton)
    assert window.form.editor("properties").row_count() == 2

    window.undo_action.trigger()
    assert window.form.editor("properties").row_count() == 1
    window.undo_action.trigger()
    assert window.form.editor("properties").row_count() == 0


def test_choice_is_a_step_at_once(active: Any, qtbot: Any) -> None:
    window = active
    operation = window.form.findChild(QComboBox, "operation")
    operation.setFocus()
    qtbot.waitUntil(operation.hasFocus, timeout=3000)
    first = operation.currentData()
    qtbot.keyClick(operation, Qt.Key.Key_Down)
    second = operation.currentData()
    qtbot.keyClick(operation, Qt.Key.Key_Down)
    assert len({first, second, operation.currentData()}) == 3
    # No pause or focus change is needed to close the step of a choice.
    assert not window.form_history.has_pending()
    assert window.undo_action.text() == "&Undo Change Operation"

    window.undo_action.trigger()
    assert window.parameters()["operation"] == second
    window.undo_action.trigger()
    assert window.parameters()["operation"] == first


def test_remove_then_typing_are_two_steps(active: Any, qtbot: Any) -> None:
    window = active
    add = button(window, "properties:add")
    for key in ("k0", "k1", "k2"):
        qtbot.mouseClick(add, Qt.MouseButton.LeftButton)
        index = window.form.editor("properties").row_count() - 1
        qtbot.keyClicks(line(window, f"properties.propertiesUi[{index}].key"), key)
    value = line(window, "properties.propertiesUi[2].value")
    value.setFocus()
    qtbot.waitUntil(value.hasFocus, timeout=3000)
    window.form_history.flush()

    # Remove takes no focus, so the value box still has it when the user types on at once.
    qtbot.mouseClick(button(window, "properties.propertiesUi[0]:remove"), Qt.MouseButton.LeftButton)
    value = line(window, "properties.propertiesUi[1].value")
    assert value.hasFocus()
    qtbot.keyClicks(value, "zz")
    assert preview(window)["properties"] == {"k1": "", "k2": "zz"}

    window.undo_action.trigger()
    assert preview(window)["properties"] == {"k1": "", "k2": ""}
    window.undo_action.trigger()
    assert list(preview(window)["properties"]) == ["k0", "k1", "k2"]
