"""Input items, expressions and runs in the window, against the real engine and sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QPushButton, QToolButton

ITEMS = [
    {"id": "u-1", "email": "ada@example.com", "plan": "pro", "seats": 3},
    {"id": "u-2", "email": "bob@example.com", "plan": "free", "seats": 1},
    {"id": "u-3", "email": "cy@example.com", "plan": "pro", "seats": 12},
]


def line(window: Any, path: str) -> QLineEdit:
    widget = window.findChild(QLineEdit, path)
    assert widget is not None, path
    return widget


def preview(window: Any) -> dict[str, Any]:
    return json.loads(window.preview.toPlainText())


def expression(window: Any, path: str, text: str) -> None:
    toggle = window.findChild(QToolButton, f"{path}:mode")
    assert toggle is not None, path
    toggle.setChecked(True)
    line(window, f"{path}:expression").setText(text)


def paste_items(window: Any, items: list[dict[str, Any]]) -> None:
    window.input_panel.text_edit.setPlainText(json.dumps(items))
    assert window.input_panel.apply_text()


def track_event(window: Any) -> None:
    combo = window.form.findChild(QComboBox, "resource")
    combo.setCurrentIndex(combo.findData("track"))


def test_input_paste_and_count(window: Any) -> None:
    paste_items(window, ITEMS)
    assert window.input_panel.status_label.text() == "3 items from pasted text"
    assert window.input_panel.table.rowCount() == 3
    assert window.input_panel.table.horizontalHeaderItem(1).text() == "email"


def test_input_invalid_changes_nothing(window: Any) -> None:
    paste_items(window, ITEMS)
    window.input_panel.text_edit.setPlainText('[{"id": 1},\n {"id": }]')
    assert not window.input_panel.apply_text()
    text = window.input_panel.status_label.text()
    assert text.startswith("Input not applied: ")
    assert "line 2" in text
    assert window.input_panel.items() == ITEMS


def test_no_input_one_empty_item(window: Any) -> None:
    assert window.input_panel.items() == [{}]
    assert "one empty item" in window.input_panel.status_label.text()


def test_expression_preview_per_item(window: Any) -> None:
    track_event(window)
    paste_items(window, ITEMS)
    expression(window, "userId", "{{ $json.id }}")
    expression(window, "event", "{{ $json.plan === 'pro' ? 'Pro Seen' : 'Free Seen' }}")
    tip = window.findChild(QLineEdit, "event:expression").parentWidget().tip_label
    assert tip.text() == "Anything inside {{ }} is JavaScript."
    assert tip.isVisibleTo(window)
    assert window.form.values()["userId"] == "={{ $json.id }}"
    assert preview(window)["userId"] == "u-1"
    assert preview(window)["event"] == "Pro Seen"
    preview_label = window.findChild(QLineEdit, "userId:expression").parentWidget().preview_label
    assert preview_label.text() == "→ u-1"
    window.input_panel.item_spin.setValue(2)
    assert preview(window)["userId"] == "u-2"
    assert preview(window)["event"] == "Free Seen"
    assert preview_label.text() == "→ u-2"


def test_expression_in_collection_row(window: Any) -> None:
    track_event(window)
    line(window, "event").setText("Seats Counted")
    paste_items(window, ITEMS)
    window.findChild(QPushButton, "properties:add").click()
    line(window, "properties.propertiesUi[0].key").setText("seats")
    expression(window, "properties.propertiesUi[0].value", "{{ $json.seats * 2 }}")
    assert preview(window)["properties"] == {"seats": 6}


def test_expression_on_boolean_field(window: Any) -> None:
    window.findChild(QPushButton, "context:add").click()
    paste_items(window, ITEMS)
    expression(window, "context.contextUi.active", "{{ $json.plan === 'pro' }}")
    assert window.findChild(QCheckBox, "context.contextUi.active").isHidden()
    assert preview(window)["context"]["active"] is True


def test_expression_error_shown_and_blocks(window: Any) -> None:
    paste_items(window, ITEMS)
    expression(window, "userId", "{{ $json.missing.id }}")
    label = window.findChild(QLineEdit, "userId:expression").parentWidget().preview_label
    assert label.text().startswith("Error: ")
    assert "TypeError" in label.text()
    assert not window.send_button.isEnabled()
    assert "expression failed" in window.preview_status.text()


def test_runaway_expression_stays_responsive(window: Any, qtbot: Any) -> None:
    expression(window, "userId", "{{ (() => { while (true) {} })() }}")
    label = window.findChild(QLineEdit, "userId:expression").parentWidget().preview_label
    assert label.text().startswith("Error: ")
    line(window, "userId:expression").setText("{{ 'ok' }}")
    assert preview(window)["userId"] == "ok"


def test_expression_toggle_back_to_fixed(window: Any) -> None:
    line(window, "userId").setText("fixed-1")
    toggle = window.findChild(QToolButton, "userId:mode")
    toggle.setChecked(True)
    assert line(window, "userId:expression").text() == "fixed-1"
    assert window.form.values()["userId"] == "=fixed-1"
    toggle.setChecked(False)
    assert line(window, "userId").text() == "fixed-1"
    assert window.form.values()["userId"] == "fixed-1"


def test_run_over_items_to_sandbox(window: Any, qtbot: Any) -> None:
    track_event(window)
    paste_items(window, ITEMS)
    expression(window, "userId", "{{ $json.id }}")
    expression(window, "event", "{{ 'Plan ' + $json.plan }}")
    window.run_panel.findChild(QPushButton, "runStart").click()
    qtbot.waitUntil(lambda: window.run_panel.report is not None, timeout=20000)
    report = window.run_panel.report
    assert report.sent() == [0, 1, 2]
    received = [m.message for m in window.sandbox.messages()]
    assert [m["userId"] for m in received] == ["u-1", "u-2", "u-3"]
    assert [m["event"] for m in received] == ["Plan pro", "Plan free", "Plan pro"]
    assert window.run_panel.model.rowCount() == 3
    assert window.run_panel.status_label.text().startswith("Run finished in ")


def test_run_batch_delivery(window: Any, qtbot: Any) -> None:
    paste_items(window, [{"id": f"u-{i}"} for i in range(50)])
    expression(window, "userId", "{{ $json.id }}")
    combo = window.run_panel.findChild(QComboBox, "runDelivery")
    combo.setCurrentIndex(combo.findData("batch"))
    window.run_all()
    qtbot.waitUntil(lambda: window.run_panel.report is not None, timeout=20000)
    assert len(window.run_panel.report.sent()) == 50
    assert {m.endpoint for m in window.sandbox.messages()} == {"batch"}
    assert len(window.sandbox.messages()) == 50


def test_preset_keeps_items(window: Any, qtbot: Any, home: Path) -> None:
    paste_items(window, ITEMS)
    window.presets_panel.save_named("with items")
    qtbot.waitUntil(lambda: window.presets_panel.names() == ["with items"], timeout=5000)
    stored = json.loads((home / "presets" / "with items.json").read_text(encoding="utf-8"))
    assert stored["pinData"] == [{"json": item} for item in ITEMS]
    window.input_panel.clear()
    window.presets_panel.load("with items")
    qtbot.waitUntil(lambda: window.input_panel.items() == ITEMS, timeout=5000)


def test_run_stop_workflow_reported(window: Any, qtbot: Any) -> None:
    track_event(window)
    paste_items(window, [{"event": "A"}, {"event": ""}, {"event": "C"}])
    expression(window, "event", "{{ $json.event }}")
    window.run_all()
    qtbot.waitUntil(lambda: window.run_panel.report is not None, timeout=20000)
    report = window.run_panel.report
    assert report.sent() == [0]
    assert report.stopped_at == 1
    status = window.run_panel.status_label.text()
    assert status.startswith("Run stopped at item 2 (On Error: Stop Workflow)")
    assert "Event is required" in status


def test_boolean_expression_keeps_type(window: Any) -> None:
    window.findChild(QPushButton, "integrations:add").click()
    window.findChild(QCheckBox, "integrations.integrationsUi.all").setChecked(False)
    toggle = window.findChild(QToolButton, "integrations.integrationsUi.all:mode")
    toggle.setChecked(True)
    assert line(window, "integrations.integrationsUi.all:expression").text() == "{{ false }}"
    assert preview(window)["integrations"]["All"] is False
    caption = toggle.parentWidget().caption
    assert caption.isVisibleTo(window)
    assert caption.text() == "All"


def test_toggle_keeps_typed_expression(window: Any) -> None:
    expression(window, "userId", "{{ $json.id }}")
    toggle = window.findChild(QToolButton, "userId:mode")
    toggle.setChecked(False)
    toggle.setChecked(True)
    assert line(window, "userId:expression").text() == "{{ $json.id }}"


def test_settings_have_no_expressions(window: Any) -> None:
    toggle = window.settings_form.findChild(QToolButton, "retryOnFail:mode")
    assert toggle is not None
    assert not toggle.isVisibleTo(window)


def test_input_pasted_csv(window: Any) -> None:
    combo = window.input_panel.findChild(QComboBox, "inputFormat")
    combo.setCurrentIndex(combo.findData("csv"))
    window.input_panel.text_edit.setPlainText('email,plan\n"a@b.c",pro\nd@e.f,free\n')
    assert window.input_panel.apply_text()
    assert window.input_panel.items() == [
        {"email": "a@b.c", "plan": "pro"},
        {"email": "d@e.f", "plan": "free"},
    ]


# -- expression fields tracked as rows and modes change ---------------------------------------


def property_row(window: Any, index: int, key: str, value: str) -> None:
    line(window, f"properties.propertiesUi[{index}].key").setText(key)
    line(window, f"properties.propertiesUi[{index}].value").setText(value)


def row_preview_label(window: Any, path: str) -> Any:
    return window.findChild(QToolButton, f"{path}:mode").parentWidget().preview_label


def test_row_expression_toggled_off_and_on(window: Any) -> None:
    track_event(window)
    line(window, "event").setText("Seats Counted")
    paste_items(window, ITEMS)
    add = window.findChild(QPushButton, "properties:add")
    for _ in range(3):
        add.click()
    for index in range(3):
        property_row(window, index, f"k{index}", f"v{index}")
    path = "properties.propertiesUi[1].value"
    expression(window, path, "{{ $json.seats * 2 }}")
    assert preview(window)["properties"] == {"k0": "v0", "k1": 6, "k2": "v2"}
    assert row_preview_label(window, path).text() == "→ 6"

    window.findChild(QToolButton, f"{path}:mode").setChecked(False)
    assert line(window, path).text() == ""
    line(window, path).setText("fixed")
    assert preview(window)["properties"] == {"k0": "v0", "k1": "fixed", "k2": "v2"}
    assert not window.form.has_expression()

    window.findChild(QToolButton, f"{path}:mode").setChecked(True)
    assert preview(window)["properties"]["k1"] == 6
    window.input_panel.item_spin.setValue(3)
    assert preview(window)["properties"]["k1"] == 24
    assert row_preview_label(window, path).text() == "→ 24"


def seats_and_plan_rows(window: Any, seats: str) -> None:
    """Fill a Track event with two property rows: seats as expression `seats`, plan fixed."""
    track_event(window)
    line(window, "event").setText("Seats Counted")
    paste_items(window, ITEMS)
    add = window.findChild(QPushButton, "properties:add")
    add.click()
    add.click()
    property_row(window, 0, "seats", "")
    property_row(window, 1, "plan", "fixed")
    expression(window, "properties.propertiesUi[0].value", seats)


def test_moved_expression_row_keeps_preview(window: Any) -> None:
    seats_and_plan_rows(window, "{{ $json.seats + 1 }}")

    window.findChild(QToolButton, "properties.propertiesUi[0]:down").click()
    assert preview(window)["properties"] == {"plan": "fixed", "seats": 4}
    moved = "properties.propertiesUi[1].value"
    assert row_preview_label(window, moved).text() == "→ 4"
    window.input_panel.item_spin.setValue(2)
    assert row_preview_label(window, moved).text() == "→ 2"


def test_removed_expression_row_and_undo(window: Any) -> None:
    seats_and_plan_rows(window, "{{ $json.seats * 2 }}")
    assert preview(window)["properties"] == {"seats": 6, "plan": "fixed"}
    window.form_history.flush()

    window.findChild(QToolButton, "properties.propertiesUi[0]:remove").click()
    assert preview(window)["properties"] == {"plan": "fixed"}
    assert not window.form.has_expression()
    assert window.form.expression_leaves() == []

    window.form_history.undo()
    assert preview(window)["properties"] == {"seats": 6, "plan": "fixed"}
    path = "properties.propertiesUi[0].value"
    assert line(window, f"{path}:expression").text() == "{{ $json.seats * 2 }}"
    assert row_preview_label(window, path).text() == "→ 6"

    window.form_history.redo()
    assert preview(window)["properties"] == {"plan": "fixed"}
    assert window.form.expression_leaves() == []


def test_expression_in_nested_row(window: Any) -> None:
    paste_items(window, ITEMS)
    window.findChild(QPushButton, "context:add").click()
    window.findChild(QPushButton, "context.contextUi.app:add").click()
    path = "context.contextUi.app.appUi.name"
    expression(window, path, "{{ 'App ' + $json.plan }}")
    assert preview(window)["context"]["app"]["name"] == "App pro"
    assert row_preview_label(window, path).text() == "→ App pro"

    window.findChild(QToolButton, "context.contextUi.app.appUi:remove").click()
    assert "app" not in preview(window)["context"]
    assert not window.form.has_expression()


def test_fixed_text_starting_with_equals_resolved(window: Any) -> None:
    track_event(window)
    line(window, "event").setText("Seats Counted")
    window.findChild(QPushButton, "properties:add").click()
    property_row(window, 0, "note", "={{ 1 + 1 }}")
    assert window.form.has_expression()
    assert preview(window)["properties"] == {"note": 2}
