"""The generated form's editors: kept across switches, rows added one at a time, Tab order,
the incremental preview, and the subtitle without V8."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFrame,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from segment_gui.subtitle import SubtitleRenderer
from segment_gui.ui.editors import ROWS_PER_BLOCK, LeafField
from segment_gui.ui.window_widgets import StatusLines, TextLine, replace_changed_text


def choose(window: Any, resource: str, operation: str) -> None:
    combo = window.form.findChild(QComboBox, "resource")
    combo.setCurrentIndex(combo.findData(resource))
    operation_combo = window.form.findChild(QComboBox, "operation")
    operation_combo.setCurrentIndex(operation_combo.findData(operation))


def line(window: Any, path: str) -> QLineEdit:
    widget = window.findChild(QLineEdit, path)
    assert widget is not None, f"no line edit named {path!r}"
    return widget


def tab_chain(start: QWidget, count: int) -> list[str]:
    """Return the objectNames of the next `count` widgets that Tab gives focus to."""
    # Widgets added to a shown parent become visible in the next event-loop pass.
    QApplication.processEvents()
    names = []
    widget = start
    while len(names) < count:
        widget = widget.nextInFocusChain()
        assert widget is not start, "the focus chain ended"
        takes_tab = bool(widget.focusPolicy() & Qt.FocusPolicy.TabFocus)
        if takes_tab and widget.isVisible() and widget.isEnabled() and not widget.focusProxy():
            names.append(widget.objectName())
    return names


# The fields of a property row, each followed by its Fixed / Expression toggle.
FIELDS = ("key", "value", "valueType")
ROW_STOPS = 2 * len(FIELDS) + 3


def tab_stops(window: Any, names: list[str]) -> list[str]:
    """Return the names whose widgets Tab stops at: the visible and enabled ones."""
    QApplication.processEvents()
    stops = []
    for name in names:
        widget = window.findChild(QWidget, name)
        assert widget is not None, name
        if widget.isVisible() and widget.isEnabled():
            stops.append(name)
    return stops


def property_rows(count: int) -> dict[str, Any]:
    return {"propertiesUi": [{"key": f"k{index}", "value": f"v{index}"} for index in range(count)]}


# -- switching ------------------------------------------------------------------------------


def test_switch_back_keeps_editor_and_values(window: Any) -> None:
    window.show()
    choose(window, "track", "event")
    event_editor = line(window, "event")
    event_editor.setText("Signed Up")
    window.form.set_value("properties", property_rows(3))
    properties = window.form.editor("properties")

    choose(window, "identify", "create")
    assert window.findChild(QLineEdit, "event") is None
    assert window.form.editor("event") is None
    assert not event_editor.isVisibleTo(window)

    choose(window, "track", "event")
    assert line(window, "event") is event_editor
    assert event_editor.text() == "Signed Up"
    assert window.form.editor("properties") is properties
    assert properties.row_count() == 3
    assert line(window, "properties.propertiesUi[2].value").text() == "v2"
    assert json.loads(window.preview.toPlainText())["event"] == "Signed Up"


def test_hidden_editor_gets_later_values(window: Any) -> None:
    choose(window, "track", "event")
    line(window, "userId").setText("first")
    choose(window, "identify", "create")
    line(window, "userId").setText("second")
    window.form.set_values({"resource": "identify", "operation": "create", "event": "Loaded"})
    choose(window, "track", "event")
    assert line(window, "event").text() == "Loaded"
    assert line(window, "userId").text() == ""


def test_hidden_editors_send_no_changes(window: Any) -> None:
    choose(window, "track", "event")
    event_editor = line(window, "event")
    choose(window, "identify", "create")
    event_editor.setText("typed while hidden")
    assert "event" not in window.form.values()


def test_prebuilt_editors_stay_hidden(window: Any, qtbot: Any) -> None:
    window.show()
    qtbot.waitUntil(lambda: len(window.form._editors) == len(window.form.fields), timeout=5000)
    # The timer stops on its next tick, which finds nothing left to build.
    qtbot.waitUntil(lambda: not window.form._prebuild_timer.isActive(), timeout=5000)
    assert window.findChild(QLineEdit, "event") is None
    assert window.findChild(QLineEdit, "groupId") is None
    choose(window, "group", "add")
    assert line(window, "groupId").isVisible()


SWITCHES = (
    ("identify", "create"),
    ("identify", "alias"),
    ("track", "event"),
    ("track", "page"),
    ("track", "screen"),
    ("group", "add"),
    ("track", "event"),
    ("identify", "create"),
)


def test_switch_shows_fields_in_spec_order(window: Any) -> None:
    window.show()
    form = window.form
    for resource, operation in SWITCHES:
        choose(window, resource, operation)
        QApplication.processEvents()
        visible = form.visible_fields()
        tops = []
        for spec_field in visible:
            editor = form.editor(spec_field.name)
            assert editor is not None, spec_field.name
            assert editor.isVisibleTo(window), (operation, spec_field.name)
            tops.append(editor.mapTo(form, editor.rect().topLeft()).y())
        assert tops == sorted(tops), (resource, operation)
        shown_ids = {id(spec_field) for spec_field in visible}
        for key, (spec_field, container, _editor) in form._editors.items():
            if key not in shown_ids:
                assert not container.isVisibleTo(window), (operation, spec_field.name)


def test_messages_follow_switch_back(window: Any) -> None:
    window.show()
    choose(window, "identify", "alias")
    user_id = window.form.findChild(LeafField, "userId:field")
    required = "Error: User ID is required; enter a value"
    assert user_id.message_label.isVisibleTo(window)
    assert user_id.message_label.text() == required

    choose(window, "track", "event")
    assert not user_id.isVisibleTo(window)
    assert not user_id.message_label.isVisibleTo(window)
    choose(window, "identify", "alias")
    assert user_id.message_label.isVisibleTo(window)
    assert user_id.message_label.text() == required

    # A value set while the field is hidden removes its message once it is shown again.
    choose(window, "track", "event")
    values = {**window.form.values(), "userId": "u-1"}
    window.form.set_values(values)
    choose(window, "identify", "alias")
    assert window.form.findChild(LeafField, "userId:field") is user_id
    assert not user_id.message_label.isVisibleTo(window)

    line(window, "userId").setText("")
    assert user_id.message_label.isVisibleTo(window)
    assert user_id.message_label.text() == required


def test_switch_keeps_preview_status_height(window: Any) -> None:
    window.show()
    QApplication.processEvents()
    status_area = window._preview_status_area
    height = status_area.height()
    preview_top = window.preview.mapTo(window, window.preview.rect().topLeft()).y()
    for resource, operation in SWITCHES:
        choose(window, resource, operation)
        QApplication.processEvents()
        assert status_area.height() == height, (resource, operation)
        assert window.preview.mapTo(window, window.preview.rect().topLeft()).y() == preview_top
    choose(window, "identify", "alias")
    assert "Error: User ID is required" in window.preview_status.text()
    assert "Error: Previous ID is required" in window.preview_status.text()


# -- rows -----------------------------------------------------------------------------------


def test_rows_add_move_remove_paths(window: Any) -> None:
    window.show()
    choose(window, "track", "event")
    collection = window.form.editor("properties")
    for _ in range(3):
        collection.add_option("propertiesUi")
    for index in range(3):
        line(window, f"properties.propertiesUi[{index}].key").setText(f"k{index}")

    collection.move_group(collection._groups["propertiesUi"][2], -1)
    keys = [line(window, f"properties.propertiesUi[{index}].key").text() for index in range(3)]
    assert keys == ["k0", "k2", "k1"]
    groups = collection._groups["propertiesUi"]
    assert not groups[0].up_button.isEnabled()
    assert groups[2].up_button.isEnabled()
    assert not groups[2].down_button.isEnabled()

    collection.remove_group(groups[0])
    assert collection.row_count() == 2
    assert line(window, "properties.propertiesUi[0].key").text() == "k2"
    assert window.findChild(QLineEdit, "properties.propertiesUi[2].key") is None
    assert not collection._groups["propertiesUi"][0].up_button.isEnabled()
    assert collection.value() == {
        "propertiesUi": [
            {"key": "k2", "value": "", "valueType": "auto"},
            {"key": "k1", "value": "", "valueType": "auto"},
        ]
    }


def test_row_value_follows_edits(window: Any) -> None:
    choose(window, "track", "event")
    window.form.set_value("properties", property_rows(2))
    collection = window.form.editor("properties")
    first = collection.value()
    line(window, "properties.propertiesUi[1].value").setText("changed")
    assert first["propertiesUi"][1]["value"] == "v1"
    assert collection.value()["propertiesUi"][1]["value"] == "changed"
    assert window.form.values()["properties"]["propertiesUi"][1]["value"] == "changed"


def test_row_creates_expression_widgets_on_toggle(window: Any) -> None:
    window.show()
    choose(window, "track", "event")
    window.form.editor("properties").add_option("propertiesUi")
    row = "properties.propertiesUi[0]"
    field = window.findChild(QWidget, f"{row}.value:field")
    assert window.findChild(QLineEdit, f"{row}.value:expression") is None
    assert field.findChildren(QLabel) == []

    window.findChild(QToolButton, f"{row}.value:mode").setChecked(True)
    expression = line(window, f"{row}.value:expression")
    assert tab_stops(window, [f"{row}.value", f"{row}.value:expression"]) == [
        f"{row}.value:expression"
    ]
    assert field.tip_label.isVisibleTo(window)
    assert tab_chain(window.findChild(QWidget, f"{row}.key:mode"), 2) == [
        f"{row}.value:expression",
        f"{row}.value:mode",
    ]
    expression.setText("fixed")
    assert window.form.values()["properties"]["propertiesUi"][0]["value"] == "=fixed"

    window.findChild(QToolButton, f"{row}.value:mode").setChecked(False)
    assert not expression.isVisibleTo(window)
    assert not field.tip_label.isVisibleTo(window)
    assert line(window, f"{row}.value").text() == "fixed"
    assert tab_chain(window.findChild(QWidget, f"{row}.key:mode"), 2) == [
        f"{row}.value",
        f"{row}.value:mode",
    ]


def test_message_label_created_for_message(window: Any) -> None:
    window.show()
    choose(window, "track", "event")
    window.form.set_value("properties", property_rows(2))
    # Rows added to a shown form become visible in the next event-loop pass.
    QApplication.processEvents()
    row = "properties.propertiesUi[1]"
    key_field = window.findChild(QWidget, f"{row}.key:field")
    assert key_field.findChildren(QLabel) == []
    value_label = window.findChild(QWidget, f"{row}.value").message_label
    assert value_label.text() == "Auto: string"
    assert value_label.isVisibleTo(window)

    line(window, f"{row}.value").setText("42")
    assert value_label.text() == "Auto: number"
    line(window, f"{row}.value").setText("v1")
    assert value_label.text() == "Auto: string"
    line(window, f"{row}.key").setText("")
    assert value_label.text() == ""
    assert not value_label.isVisibleTo(window)


def test_messages_follow_removed_and_moved_rows(window: Any) -> None:
    window.show()
    choose(window, "track", "event")
    rows = {
        "propertiesUi": [{"key": f"k{i}", "value": v} for i, v in enumerate(["42", "x", "true"])]
    }
    window.form.set_value("properties", rows)
    collection = window.form.editor("properties")

    def hint(index: int) -> str:
        return window.findChild(
            QWidget, f"properties.propertiesUi[{index}].value"
        ).message_label.text()

    assert [hint(index) for index in range(3)] == ["Auto: number", "Auto: string", "Auto: boolean"]
    collection.remove_group(collection._groups["propertiesUi"][0])
    assert [hint(index) for index in range(2)] == ["Auto: string", "Auto: boolean"]
    removed_path = "properties.propertiesUi[2].value"
    assert window.form.show_diagnostics([], {removed_path: "Auto: number"}) == [removed_path]
    collection.move_group(collection._groups["propertiesUi"][1], -1)
    assert [hint(index) for index in range(2)] == ["Auto: boolean", "Auto: string"]
    collection.add_option("propertiesUi")
    line(window, "properties.propertiesUi[2].key").setText("k3")
    line(window, "properties.propertiesUi[2].value").setText("7")
    assert [hint(index) for index in range(3)] == ["Auto: boolean", "Auto: string", "Auto: number"]
    missing = window.form.show_diagnostics([], {"properties.propertiesUi[2].value": "Auto: number"})
    assert missing == []


def test_row_warning_shown_and_cleared(window: Any) -> None:
    window.show()
    choose(window, "track", "event")
    window.form.set_value("properties", property_rows(3))
    QApplication.processEvents()
    row = "properties.propertiesUi[1]"
    key_field = window.findChild(QWidget, f"{row}.key:field")
    line(window, f"{row}.key").setText("")
    assert key_field.message_label.text().startswith("Warning: this row has a value but no key")
    assert key_field.message_label.isVisibleTo(window)
    value_label = window.findChild(QWidget, f"{row}.value").message_label
    assert not value_label.isVisibleTo(window)

    line(window, f"{row}.key").setText("k1")
    assert not key_field.message_label.isVisibleTo(window)
    assert value_label.text() == "Auto: string"
    assert value_label.isVisibleTo(window)


def settle_layouts() -> None:
    """Process events until the queued shows and layout requests have run."""
    for _ in range(10):
        QApplication.processEvents()


class _MoveCounter(QObject):
    """Count Move events of the watched widgets."""

    def __init__(self) -> None:
        super().__init__()
        self.moved: list[str] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Move:
            self.moved.append(watched.objectName())
        return False


def test_add_row_leaves_other_rows_in_place(window: Any) -> None:
    window.show()
    choose(window, "track", "event")
    window.form.set_value("properties", property_rows(40))
    settle_layouts()
    collection = window.form.editor("properties")
    rows = collection._groups["propertiesUi"]
    before = [row.geometry() for row in rows]
    counter = _MoveCounter()
    for row in rows:
        row.installEventFilter(counter)

    window.findChild(QPushButton, "properties:add").click()
    settle_layouts()

    assert counter.moved == []
    assert [row.geometry() for row in rows[:40]] == before
    last = collection._groups["propertiesUi"][40]
    assert last.geometry().top() > before[-1].bottom()


def row_tops(window: Any, count: int) -> list[int]:
    """Return the top of each row's key editor in form coordinates, by row path."""
    settle_layouts()
    tops = []
    for index in range(count):
        key = line(window, f"properties.propertiesUi[{index}].key")
        tops.append(key.mapTo(window.form, key.rect().topLeft()).y())
    return tops


def test_move_across_row_blocks(window: Any) -> None:
    window.show()
    choose(window, "track", "event")
    window.form.set_value("properties", property_rows(ROWS_PER_BLOCK + 8))
    settle_layouts()
    collection = window.form.editor("properties")
    last_of_block = f"properties.propertiesUi[{ROWS_PER_BLOCK - 1}]"
    down = window.findChild(QToolButton, f"{last_of_block}:down")
    down.setFocus()

    down.click()

    keys = [
        line(window, f"properties.propertiesUi[{index}].key").text()
        for index in range(ROWS_PER_BLOCK - 1, ROWS_PER_BLOCK + 2)
    ]
    assert keys == [f"k{ROWS_PER_BLOCK}", f"k{ROWS_PER_BLOCK - 1}", f"k{ROWS_PER_BLOCK + 1}"]
    assert QApplication.focusWidget() is down
    assert down.objectName() == f"properties.propertiesUi[{ROWS_PER_BLOCK}]:down"
    tops = row_tops(window, ROWS_PER_BLOCK + 8)
    assert tops == sorted(tops)
    assert len(set(tops)) == len(tops)
    assert tab_chain(line(window, f"{last_of_block}.key"), ROW_STOPS)[-1] == (
        f"properties.propertiesUi[{ROWS_PER_BLOCK}].key"
    )
    rows = collection.value()["propertiesUi"]
    assert [row["key"] for row in rows[ROWS_PER_BLOCK - 1 : ROWS_PER_BLOCK + 1]] == [
        f"k{ROWS_PER_BLOCK}",
        f"k{ROWS_PER_BLOCK - 1}",
    ]


def test_remove_and_add_across_blocks(window: Any) -> None:
    window.show()
    choose(window, "track", "event")
    window.form.set_value("properties", property_rows(ROWS_PER_BLOCK + 2))
    collection = window.form.editor("properties")
    assert collection.rows_layout.count() == 2

    for _ in range(2):
        window.findChild(QToolButton, f"properties.propertiesUi[{ROWS_PER_BLOCK}]:remove").click()
    assert collection.rows_layout.count() == 1
    assert collection.row_count() == ROWS_PER_BLOCK

    window.findChild(QPushButton, "properties:add").click()
    assert collection.rows_layout.count() == 2
    line(window, f"properties.propertiesUi[{ROWS_PER_BLOCK}].key").setText("added")
    tops = row_tops(window, ROWS_PER_BLOCK + 1)
    assert tops == sorted(tops)
    assert (
        tab_chain(line(window, f"properties.propertiesUi[{ROWS_PER_BLOCK - 1}].key"), ROW_STOPS)[-1]
        == f"properties.propertiesUi[{ROWS_PER_BLOCK}].key"
    )
    assert window.form.values()["properties"]["propertiesUi"][-1]["key"] == "added"


def test_removed_row_comes_back_empty(window: Any) -> None:
    window.show()
    choose(window, "track", "event")
    line(window, "event").setText("Viewed")
    add = window.findChild(QPushButton, "properties:add")
    add.click()
    add.click()
    row = "properties.propertiesUi[1]"
    line(window, f"{row}.key").setText("plan")
    line(window, f"{row}.value").setText("42")
    combo = window.findChild(QComboBox, f"{row}.valueType")
    combo.setCurrentIndex(combo.findData("string"))
    assert json.loads(window.preview.toPlainText())["properties"] == {"plan": "42"}

    window.findChild(QToolButton, f"{row}:remove").click()
    assert window.findChild(QLineEdit, f"{row}.key") is None
    assert window.findChild(QWidget, f"{row}:field") is None
    add.click()
    QApplication.processEvents()
    assert line(window, f"{row}.key").text() == ""
    assert line(window, f"{row}.value").text() == ""
    assert window.findChild(QComboBox, f"{row}.valueType").currentData() == "auto"
    assert window.findChild(QWidget, f"{row}.key:field").isVisibleTo(window)
    assert not window.findChild(QToolButton, f"{row}:down").isEnabled()
    assert window.findChild(QToolButton, "properties.propertiesUi[0]:down").isEnabled()
    assert "properties" not in json.loads(window.preview.toPlainText())

    line(window, f"{row}.key").setText("seats")
    line(window, f"{row}.value").setText("3")
    assert json.loads(window.preview.toPlainText())["properties"] == {"seats": 3}
    assert window.findChild(QWidget, f"{row}.value").message_label.text() == "Auto: number"
    # Row 0's Up button is disabled, so Tab skips it.
    assert tab_chain(line(window, "properties.propertiesUi[0].key"), ROW_STOPS - 1)[-1] == (
        f"{row}.key"
    )


def test_removed_expression_row_not_reused(window: Any) -> None:
    window.show()
    choose(window, "track", "event")
    add = window.findChild(QPushButton, "properties:add")
    add.click()
    row = "properties.propertiesUi[0]"
    toggle = window.findChild(QToolButton, f"{row}.value:mode")
    toggle.setChecked(True)
    line(window, f"{row}.value:expression").setText("{{ $json.old }}")
    toggle.setChecked(False)

    window.findChild(QToolButton, f"{row}:remove").click()
    add.click()
    assert window.findChild(QLineEdit, f"{row}.value:expression") is None
    window.findChild(QToolButton, f"{row}.value:mode").setChecked(True)
    assert line(window, f"{row}.value:expression").text() == ""


def test_rows_loaded_then_added(window: Any) -> None:
    window.show()
    choose(window, "track", "event")
    line(window, "event").setText("Viewed")
    window.form.set_value("properties", property_rows(3))
    # The spare row is built on a timer after loading.
    settle_layouts()
    window.findChild(QPushButton, "properties:add").click()
    QApplication.processEvents()
    row = "properties.propertiesUi[3]"
    assert window.findChild(QWidget, f"{row}.key:field").isVisibleTo(window)
    line(window, f"{row}.key").setText("k3")
    line(window, f"{row}.value").setText("v3")
    assert json.loads(window.preview.toPlainText())["properties"] == {
        f"k{index}": f"v{index}" for index in range(4)
    }
    assert tab_chain(line(window, "properties.propertiesUi[2].key"), ROW_STOPS)[-1] == (
        f"{row}.key"
    )


# -- Tab order ------------------------------------------------------------------------------


def test_tab_order_through_added_rows(window: Any) -> None:
    window.show()
    choose(window, "track", "event")
    collection = window.form.editor("properties")
    for _ in range(3):
        collection.add_option("propertiesUi")
    row = "properties.propertiesUi"
    fields = [f"{{0}}.{name}{suffix}" for name in FIELDS for suffix in ("", ":mode")]
    expected_row = fields + ["{0}:up", "{0}:down", "{0}:remove"]

    names = []
    for index in range(3):
        names += [name.format(f"{row}[{index}]") for name in expected_row]
    names.append("properties:add")
    expected = tab_stops(window, names)
    assert len(expected) == len(names) - 2
    assert tab_chain(collection.header, len(expected)) == expected


def test_tab_order_after_move_and_first_row(window: Any) -> None:
    window.show()
    choose(window, "track", "event")
    collection = window.form.editor("properties")
    for _ in range(3):
        collection.add_option("propertiesUi")
    line(window, "properties.propertiesUi[2].key").setText("last")
    collection.move_group(collection._groups["propertiesUi"][2], -1)
    collection.move_group(collection._groups["propertiesUi"][1], -1)

    moved = line(window, "properties.propertiesUi[0].key")
    assert moved.text() == "last"
    assert tab_chain(collection.header, 1) == ["properties.propertiesUi[0].key"]
    # The last row's Down button is disabled, the first row's Up button too.
    after_rows = tab_chain(line(window, "properties.propertiesUi[2].key"), ROW_STOPS - 1)
    assert after_rows[-1] == "properties:add"
    assert tab_chain(line(window, "properties.propertiesUi[0].key"), ROW_STOPS - 1)[-1] == (
        "properties.propertiesUi[1].key"
    )


def test_tab_order_into_and_out_of_collection(window: Any) -> None:
    window.show()
    choose(window, "track", "event")
    collection = window.form.editor("properties")
    collection.add_option("propertiesUi")
    integrations = window.form.editor("integrations")
    before = integrations.focus_widgets()[-1]
    assert tab_chain(before, 1) == ["properties:header"]
    after = window.form.editor("advanced").focus_widgets()[0]
    # A single row has neither Up nor Down enabled.
    last = tab_chain(line(window, "properties.propertiesUi[0].key"), ROW_STOPS - 2)[-1]
    assert last == "properties:add"
    assert tab_chain(window.findChild(QWidget, "properties:add"), 1) == [after.objectName()]


def test_tab_order_follows_screen_order(window: Any) -> None:
    window.show()
    # Fields of these operations are built after the form, so Qt put them last in its chain.
    choose(window, "group", "add")
    choose(window, "track", "page")
    window.form.editor("properties").add_option("propertiesUi")
    QApplication.processEvents()

    chain: list[QWidget] = []
    widget = window.findChild(QComboBox, "resource")
    chain.append(widget)
    for _ in range(400):
        widget = widget.nextInFocusChain()
        if not window.form.isAncestorOf(widget):
            continue
        takes_tab = bool(widget.focusPolicy() & Qt.FocusPolicy.TabFocus)
        if takes_tab and widget.isVisible() and not widget.focusProxy() and widget not in chain:
            chain.append(widget)
    rows = [widget.mapTo(window.form, widget.rect().center()).y() for widget in chain]
    names = [widget.objectName() for widget in chain]
    assert "name" in names
    assert "properties.propertiesUi[0].key" in names
    for index in range(1, len(rows)):
        assert rows[index] >= rows[index - 1] - 12, (names[index - 1], names[index])


# -- preview --------------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        length = int(self.headers.get("Content-Length", "0"))
        type(self).bodies.append(self.rfile.read(length))
        reply = b'{"success": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[bytes]]]:
    bodies: list[bytes] = []
    handler = type("Handler", (_Recorder,), {"bodies": bodies})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", bodies
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_preview_matches_sent_body(window: Any, qtbot: Any, recorder: Any) -> None:
    url, bodies = recorder
    window.show()
    window.endpoint.set_endpoint(url)
    choose(window, "track", "event")
    line(window, "userId").setText("u-1")
    line(window, "event").setText("Ordered")
    window.form.set_value("properties", property_rows(40))
    for index in (0, 7, 39, 20):
        editor = line(window, f"properties.propertiesUi[{index}].value")
        editor.insert("-é😀")
        QTest.keyClick(editor, Qt.Key.Key_Backspace)
    line(window, "properties.propertiesUi[5].key").setText("renamed")
    window.form.editor("properties").remove_group(
        window.form.editor("properties")._groups["propertiesUi"][3]
    )

    preview_text = window.preview.toPlainText()
    window.send()
    qtbot.waitUntil(lambda: len(bodies) == 1, timeout=10000)
    qtbot.waitUntil(lambda: not window.is_sending(), timeout=10000)
    sent = json.loads(bodies[0])
    assert json.loads(preview_text) == sent
    assert sent["properties"]["k7"] == "v7-é"
    assert sent["properties"]["renamed"] == "v5"
    assert "k3" not in sent["properties"]
    assert preview_text == json.dumps(sent, indent=2, ensure_ascii=False)


def test_preview_raw_is_exact_bytes(window: Any, qtbot: Any, recorder: Any) -> None:
    url, bodies = recorder
    window.endpoint.set_endpoint(url)
    choose(window, "track", "event")
    line(window, "userId").setText("u-raw")
    line(window, "event").setText("Café ordered 😀")
    window.preview_pretty.setChecked(False)
    raw_text = window.preview.toPlainText()
    window.copy_body_button.click()
    copied = QApplication.clipboard().text()

    window.send()
    qtbot.waitUntil(lambda: len(bodies) == 1, timeout=10000)
    qtbot.waitUntil(lambda: not window.is_sending(), timeout=10000)
    assert raw_text.encode("utf-8") == bodies[0]
    assert copied == raw_text
    assert f"{len(bodies[0]):,} of 32,768 bytes" in window.preview_status.text()
    window.preview_pretty.setChecked(True)
    assert window.preview.toPlainText().startswith("{\n  ")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", "abc"),
        ("abc", ""),
        ("a😀b", "a😀xb"),
        ("😀😀", "😀"),
        ("line 1\nline 2\n", "line 1\nline two\n"),
        ("same", "same"),
        ("aaaa", "aa"),
    ],
)
def test_replace_changed_text(qtbot: Any, before: str, after: str) -> None:
    editor = QPlainTextEdit()
    qtbot.addWidget(editor)
    editor.setPlainText(before)
    replace_changed_text(editor, after)
    assert editor.toPlainText() == after


def test_status_line_fits_wrapped_text(qtbot: Any) -> None:
    page = QWidget()
    qtbot.addWidget(page)
    layout = QVBoxLayout(page)
    status = TextLine(page)
    layout.addWidget(status)
    layout.addStretch(1)
    page.resize(220, 400)
    page.show()
    line_height = status.label.fontMetrics().lineSpacing()

    status.set_text("Error: " + "word " * 40)
    QApplication.processEvents()
    assert status.height() == status.label.heightForWidth(status.viewport().width())
    assert status.height() >= 4 * line_height
    assert status.label.height() == status.height()

    status.set_text("short")
    QApplication.processEvents()
    assert line_height <= status.height() < 2 * line_height

    page.resize(120, 400)
    status.set_text("Error: " + "word " * 40)
    QApplication.processEvents()
    assert status.height() == status.label.heightForWidth(status.viewport().width())

    status.set_text("")
    QApplication.processEvents()
    assert status.height() == 0


# -- subtitle -------------------------------------------------------------------------------


def test_status_lines_scroll_long_text(qtbot: Any) -> None:
    page = QWidget()
    qtbot.addWidget(page)
    layout = QVBoxLayout(page)
    status = StatusLines(page, 3)
    layout.addWidget(status)
    layout.addStretch(1)
    page.resize(220, 400)
    page.show()
    QApplication.processEvents()
    height = status.height()
    metrics = status.label.fontMetrics()
    three_lines = 2 * metrics.lineSpacing() + metrics.height()
    assert height >= 3 * metrics.lineSpacing()
    # Exactly three lines show, with no part of a fourth below them.
    assert status.viewport().height() == three_lines

    status.set_text("short")
    QApplication.processEvents()
    assert status.height() == height
    assert not status.overflows()
    assert status.focusPolicy() == Qt.FocusPolicy.NoFocus

    long_text = "\n".join(f"Error: problem number {index}" for index in range(12))
    status.set_text(long_text)
    QApplication.processEvents()
    assert status.height() == height
    assert status.overflows()
    assert status.focusPolicy() & Qt.FocusPolicy.TabFocus
    assert status.verticalScrollBar().isVisible()
    assert status.label.text() == long_text

    scroll_bar = status.verticalScrollBar()
    status.setFocus()
    QApplication.processEvents()
    # The focus frame fits in the room kept for it, so the same three lines show.
    assert status.frameShape() == QFrame.Shape.StyledPanel
    assert status.frameWidth() > 0
    assert status.height() == height
    assert status.viewport().height() == three_lines
    QTest.keyClick(status, Qt.Key.Key_PageDown)
    assert scroll_bar.value() > 0
    QTest.keyClick(status, Qt.Key.Key_End)
    assert scroll_bar.value() == scroll_bar.maximum()
    QTest.keyClick(status, Qt.Key.Key_Home)
    assert scroll_bar.value() == 0


def test_status_lines_follow_font(qtbot: Any) -> None:
    page = QWidget()
    qtbot.addWidget(page)
    layout = QVBoxLayout(page)
    status = StatusLines(page, 4)
    layout.addWidget(status)
    page.show()
    status.set_text("POST http://127.0.0.1/v1/track")
    QApplication.processEvents()
    height = status.height()

    font = page.font()
    font.setPointSizeF(font.pointSizeF() * 2)
    page.setFont(font)
    QApplication.processEvents()
    assert status.height() > 1.5 * height
    assert status.height() >= 4 * status.label.fontMetrics().lineSpacing()


def test_subtitle_renderer_without_engine() -> None:
    calls: list[str] = []

    def engine(template: str, values: Any) -> str:
        calls.append(template)
        return "from engine"

    renderer = SubtitleRenderer(
        '={{$parameter["operation"] + ":" + $parameter["resource"]}}', engine
    )
    assert renderer.render({"resource": "track", "operation": "event"}) == "event:track"
    assert renderer.render({"resource": "track", "operation": "event", "x": 1}) == "event:track"
    assert renderer.render({"resource": "group", "operation": "add"}) == "add:group"
    assert calls == []


def test_subtitle_renderer_engine_fallback() -> None:
    calls: list[str] = []

    def engine(template: str, values: Any) -> str:
        calls.append(template)
        return f"n={values['n']}"

    renderer = SubtitleRenderer("={{ $parameter.n }}", engine)
    assert renderer.names is None
    assert renderer.render({"n": 1}) == "n=1"
    assert renderer.render({"n": 2}) == "n=2"
    assert calls == ["={{ $parameter.n }}", "={{ $parameter.n }}"]


def test_window_starts_without_v8(tmp_path: Any) -> None:
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication, QComboBox\n"
        "app = QApplication([])\n"
        "from segment_gui.ui.app import create_main_window\n"
        f"window = create_main_window({str(tmp_path)!r})\n"
        "window.show()\n"
        "app.processEvents()\n"
        "combo = window.form.findChild(QComboBox, 'resource')\n"
        "combo.setCurrentIndex(combo.findData('group'))\n"
        "from segment_gui.expressions import shared_engine\n"
        "print(window.subtitle_label.text(), window.parameters()['operation'],\n"
        "      'py_mini_racer' in sys.modules, shared_engine().started)\n"
        "window.shutdown()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    subtitle, operation, imported, started = result.stdout.split()
    assert subtitle == f"{operation}:group"
    assert imported == "False"
    assert started == "False"


def test_tab_leaves_form_after_last_field(window: Any, qtbot: Any) -> None:
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    last = window.form.findChild(QWidget, "advanced:add")
    last.setFocus()
    qtbot.waitUntil(last.hasFocus, timeout=3000)
    QTest.keyClick(last, Qt.Key.Key_Tab)
    focused = QApplication.focusWidget()
    assert focused is not None
    assert not window.form.isAncestorOf(focused)
    assert focused is window.result_tabs.tabBar()
