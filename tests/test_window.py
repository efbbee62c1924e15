"""The main window with real widgets, the real sandbox and real files (pytest-qt, offscreen)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import answer_next_box
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QToolButton,
    QWidget,
)

from segment_gui.model import Preset

VISIBLE = {
    ("identify", "alias"): [
        "resource",
        "operation",
        "userId",
        "previousId",
        "context",
        "integrations",
        "advanced",
    ],
    ("track", "screen"): [
        "resource",
        "operation",
        "userId",
        "name",
        "context",
        "integrations",
        "properties",
        "advanced",
    ],
    ("group", "add"): [
        "resource",
        "operation",
        "userId",
        "groupId",
        "traits",
        "context",
        "integrations",
        "advanced",
    ],
    ("identify", "create"): [
        "resource",
        "operation",
        "userId",
        "traits",
        "context",
        "integrations",
        "advanced",
    ],
    ("track", "event"): [
        "resource",
        "operation",
        "userId",
        "event",
        "context",
        "integrations",
        "properties",
        "advanced",
    ],
    ("track", "page"): [
        "resource",
        "operation",
        "userId",
        "name",
        "context",
        "integrations",
        "properties",
        "advanced",
    ],
}


def shown_editor_names(window: Any) -> list[str]:
    """Top-level editors that are visible in the form, in on-screen order."""
    editors = [window.form.editor(f.name) for f in window.form.visible_fields()]
    visible = [e for e in editors if e is not None and e.isVisibleTo(window.form)]
    visible.sort(key=lambda e: e.mapTo(window.form, e.rect().topLeft()).y())
    return [e.objectName().removesuffix(":field") for e in visible]


def choose(window: Any, resource: str, operation: str) -> None:
    combo = window.form.findChild(QComboBox, "resource")
    combo.setCurrentIndex(combo.findData(resource))
    operation_combo = window.form.findChild(QComboBox, "operation")
    operation_combo.setCurrentIndex(operation_combo.findData(operation))


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


@pytest.mark.parametrize(("call", "expected"), list(VISIBLE.items()))
def test_window_visible_fields(window: Any, call: tuple[str, str], expected: list[str]) -> None:
    window.show()
    choose(window, *call)
    assert shown_editor_names(window) == expected


def test_window_first_launch_state(window: Any) -> None:
    assert window.form.findChild(QComboBox, "resource").currentData() == "identify"
    assert window.endpoint.endpoint() == "sandbox"
    assert window.credential_combo.currentData() == ""
    assert window.send_button.isEnabled()
    assert window.findChild(QLabel, "subtitle").text() == "create:identify"
    assert "Local sandbox" in window.statusBar().currentMessage()


def test_window_editor_names_and_labels(window: Any) -> None:
    choose(window, "group", "add")
    group_id = line(window, "groupId")
    assert group_id.accessibleName() == "Group ID"
    assert "Required" in group_id.accessibleDescription()
    assert "unique identifier" in group_id.toolTip()
    labels = [
        label.text() for label in window.form.findChildren(QLabel) if label.buddy() is group_id
    ]
    assert labels == ["Group ID *"]


def test_window_switch_keeps_typed_values(window: Any) -> None:
    choose(window, "track", "event")
    line(window, "userId").setText("user-7")
    line(window, "event").setText("Signed Up")
    choose(window, "track", "page")
    assert line(window, "userId").text() == "user-7"
    assert window.findChild(QLineEdit, "event") is None
    body = preview(window)
    assert body["userId"] == "user-7"
    assert "event" not in body
    choose(window, "track", "event")
    assert line(window, "event").text() == "Signed Up"


def test_window_subtitle_follows_operation(window: Any) -> None:
    choose(window, "track", "page")
    assert window.findChild(QLabel, "subtitle").text() == "page:track"


def test_window_rows_add_remove_move(window: Any, qtbot: Any) -> None:
    choose(window, "identify", "create")
    add = button(window, "traits:add")
    assert add.text() == "Add Trait"
    for key in ("a", "b", "c"):
        qtbot.mouseClick(add, Qt.MouseButton.LeftButton)
        index = window.form.editor("traits").row_count() - 1
        line(window, f"traits.traitsUi[{index}].key").setText(key)
        line(window, f"traits.traitsUi[{index}].value").setText(key.upper())
    assert list(preview(window)["traits"]) == ["a", "b", "c"]

    qtbot.mouseClick(button(window, "traits.traitsUi[2]:up"), Qt.MouseButton.LeftButton)
    assert list(preview(window)["traits"]) == ["a", "c", "b"]
    assert line(window, "traits.traitsUi[1].key").text() == "c"
    assert not button(window, "traits.traitsUi[0]:up").isEnabled()
    assert not button(window, "traits.traitsUi[2]:down").isEnabled()

    qtbot.mouseClick(button(window, "traits.traitsUi[0]:down"), Qt.MouseButton.LeftButton)
    assert list(preview(window)["traits"]) == ["c", "a", "b"]

    qtbot.mouseClick(button(window, "traits.traitsUi[1]:remove"), Qt.MouseButton.LeftButton)
    assert preview(window)["traits"] == {"c": "C", "b": "B"}
    assert window.form.values()["traits"] == {
        "traitsUi": [
            {"key": "c", "value": "C", "valueType": "auto"},
            {"key": "b", "value": "B", "valueType": "auto"},
        ]
    }
    assert window.findChild(QLineEdit, "traits.traitsUi[2].key") is None


def test_window_nested_context(window: Any, qtbot: Any) -> None:
    choose(window, "track", "event")
    line(window, "event").setText("Viewed")
    context_add = button(window, "context:add")
    assert context_add.text() == "Add Context"
    qtbot.mouseClick(context_add, Qt.MouseButton.LeftButton)
    assert not context_add.isVisibleTo(window)
    line(window, "context.contextUi.locate").setText("en-GB")
    window.findChild(QCheckBox, "context.contextUi.active").setChecked(True)
    app_add = button(window, "context.contextUi.app:add")
    assert app_add.text() == "Add App"
    assert button(window, "context.contextUi.campaign:add").text() == "Campaign App"
    qtbot.mouseClick(app_add, Qt.MouseButton.LeftButton)
    line(window, "context.contextUi.app.appUi.name").setText("Shop")
    assert line(window, "context.contextUi.app.appUi.name").accessibleName() == "Name"
    context = preview(window)["context"]
    assert context["locale"] == "en-GB"
    assert context["active"] is True
    assert context["app"] == {"name": "Shop"}
    assert window.form.values()["context"]["contextUi"]["app"] == {
        "appUi": {"name": "Shop", "version": "", "build": ""}
    }

    qtbot.mouseClick(
        button(window, "context.contextUi.app.appUi:remove"), Qt.MouseButton.LeftButton
    )
    assert "app" not in preview(window)["context"]
    assert "app" not in window.form.values()["context"]["contextUi"]
    qtbot.mouseClick(button(window, "context.contextUi:remove"), Qt.MouseButton.LeftButton)
    assert preview(window)["context"] == {"library": preview(window)["context"]["library"]}
    assert context_add.isVisibleTo(window)


def test_window_collapse_section(window: Any, qtbot: Any) -> None:
    header = button(window, "traits:header")
    add = button(window, "traits:add")
    assert add.isVisibleTo(window)
    qtbot.mouseClick(header, Qt.MouseButton.LeftButton)
    assert not add.isVisibleTo(window)
    qtbot.mouseClick(header, Qt.MouseButton.LeftButton)
    assert add.isVisibleTo(window)


def test_window_integrations_toggle(window: Any, qtbot: Any) -> None:
    qtbot.mouseClick(button(window, "integrations:add"), Qt.MouseButton.LeftButton)
    assert preview(window)["integrations"] == {"All": True, "Salesforce": False}
    window.findChild(QCheckBox, "integrations.integrationsUi.salesforce").setChecked(True)
    assert preview(window)["integrations"] == {"All": True, "Salesforce": True}


def test_window_settings_retry_rule(window: Any) -> None:
    settings = window.settings_form
    assert settings.findChild(QSpinBox, "maxTries") is None
    settings.findChild(QCheckBox, "retryOnFail").setChecked(True)
    max_tries = settings.findChild(QSpinBox, "maxTries")
    wait = settings.findChild(QSpinBox, "waitBetweenTries")
    assert (max_tries.minimum(), max_tries.maximum(), max_tries.value()) == (2, 5, 3)
    assert (wait.minimum(), wait.maximum(), wait.value()) == (0, 5000, 1000)
    settings.findChild(QCheckBox, "retryOnFail").setChecked(False)
    assert settings.findChild(QSpinBox, "maxTries") is None


def test_window_required_blocks_send(window: Any) -> None:
    choose(window, "track", "event")
    assert not window.send_button.isEnabled()
    assert "Event is required" in window.preview_status.text()
    line(window, "event").setText("Signed Up")
    assert window.send_button.isEnabled()
    assert window.preview_status.text().startswith("POST http://127.0.0.1:")


def test_window_send_to_sandbox(window: Any, qtbot: Any) -> None:
    window.show()
    choose(window, "track", "event")
    line(window, "userId").setText("user-42")
    line(window, "event").setText("Signed Up")
    expected = preview(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    qtbot.keyClick(line(window, "event"), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.is_sending() or window.last_response is not None
    qtbot.waitUntil(lambda: window.last_response is not None, timeout=10000)
    response = window.last_response
    assert response.status == 200
    assert json.loads(response.body) == {"success": True}
    assert window.response_view.status_label.text().startswith("200 OK · ")
    assert json.loads(window.response_view.body_view.toPlainText()) == {"success": True}
    request_text = window.response_view.request_view.toPlainText()
    assert request_text.startswith(f"POST {window.sandbox_url()}/track")
    assert "Authorization: Basic ••••••" in request_text
    assert window.response_view.headers_table.rowCount() >= 2
    qtbot.waitUntil(lambda: window.inbox.message_count() == 1, timeout=5000)
    received = window.sandbox.messages()[0]
    assert received.type == "track"
    assert received.message == expected
    assert window.inbox.model.index(0, 2).data() == "event=Signed Up  userId=user-42"
    assert preview(window)["messageId"] != expected["messageId"]


def test_window_send_failure_reported(window: Any, qtbot: Any) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    window.endpoint.set_endpoint(f"http://127.0.0.1:{port}/v1")
    line(window, "userId").setText("u")
    window.send()
    qtbot.waitUntil(lambda: not window.is_sending(), timeout=10000)
    assert "refused" in window.response_view.status_label.text()
    assert line(window, "userId").text() == "u"
    assert window.send_button.isEnabled()


def test_window_send_needs_credential_for_remote(window: Any) -> None:
    window.endpoint.set_endpoint("us")
    window.send()
    assert not window.is_sending()
    assert "needs a write key" in window.statusBar().currentMessage()


def test_window_preset_save_and_load(window: Any, qtbot: Any, home: Any) -> None:
    choose(window, "group", "add")
    line(window, "userId").setText("u1")
    line(window, "groupId").setText("acme")
    qtbot.mouseClick(button(window, "traits:add"), Qt.MouseButton.LeftButton)
    line(window, "traits.traitsUi[0].key").setText("plan")
    line(window, "traits.traitsUi[0].value").setText("pro")
    qtbot.mouseClick(button(window, "context:add"), Qt.MouseButton.LeftButton)
    qtbot.mouseClick(button(window, "context.contextUi.device:add"), Qt.MouseButton.LeftButton)
    line(window, "context.contextUi.device.deviceUi.model").setText("Pixel 9")
    window.settings_form.findChild(QCheckBox, "retryOnFail").setChecked(True)
    window.settings_form.findChild(QSpinBox, "maxTries").setValue(5)
    saved_parameters = window.parameters()
    saved_settings = window.settings()

    window.presets_panel.save_named("Group: Acme")
    qtbot.waitUntil(lambda: window.presets_panel.names() == ["Group: Acme"], timeout=5000)
    stored = json.loads((home / "presets" / "Group%3A Acme.json").read_text(encoding="utf-8"))
    assert stored["parameters"]["traits"] == {
        "traitsUi": [{"key": "plan", "value": "pro", "valueType": "auto"}]
    }
    assert stored["maxTries"] == 5

    window.new_request()
    assert window.parameters()["resource"] == "identify"
    window.presets_panel.load("Group: Acme")
    qtbot.waitUntil(lambda: window.parameters().get("groupId") == "acme", timeout=5000)
    assert window.parameters() == saved_parameters
    assert window.settings() == saved_settings
    assert line(window, "context.contextUi.device.deviceUi.model").text() == "Pixel 9"
    assert line(window, "traits.traitsUi[0].value").text() == "pro"
    assert window.settings_form.findChild(QSpinBox, "maxTries").value() == 5


def test_window_preset_rename_duplicate_delete(window: Any, qtbot: Any) -> None:
    panel = window.presets_panel
    panel.save_named("alpha")
    qtbot.waitUntil(lambda: panel.names() == ["alpha"], timeout=5000)
    panel.duplicate("alpha")
    qtbot.waitUntil(lambda: panel.names() == ["alpha", "alpha copy"], timeout=5000)
    panel.rename("alpha copy", "beta")
    qtbot.waitUntil(lambda: panel.names() == ["alpha", "beta"], timeout=5000)
    panel.delete("alpha")
    qtbot.waitUntil(lambda: panel.names() == ["beta"], timeout=5000)


def test_window_broken_preset_reported(home: Any, qtbot: Any) -> None:
    from segment_gui import create_window
    from segment_gui.storage import PresetStore, app_paths

    PresetStore(app_paths(home)).save(Preset(name="ok", parameters={"resource": "track"}))
    (home / "presets" / "bad.json").write_text("{nope", encoding="utf-8")
    window = create_window(home)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.presets_panel.names() == ["ok"], timeout=5000)
    problems = window.presets_panel.problems_label
    assert problems.isVisibleTo(window)
    assert "bad" in problems.text()
    assert "invalid JSON at line 1" in problems.text()
    assert "left unchanged" in problems.text()
    assert (home / "presets" / "bad.json").read_text(encoding="utf-8") == "{nope"
    window.shutdown()


def message_text(window: Any, path: str) -> str:
    editor = window.findChild(QWidget, path)
    assert editor is not None, f"no editor named {path!r}"
    label = editor.message_label
    return label.text() if label.isVisibleTo(window) else ""


def add_row(window: Any, collection: str, key: str, value: str, value_type: str = "auto") -> int:
    window.findChild(QPushButton, f"{collection}:add").click()
    index = window.form.editor(collection).row_count() - 1
    option = f"{collection}Ui"
    line(window, f"{collection}.{option}[{index}].key").setText(key)
    line(window, f"{collection}.{option}[{index}].value").setText(value)
    combo = window.findChild(QComboBox, f"{collection}.{option}[{index}].valueType")
    combo.setCurrentIndex(combo.findData(value_type))
    return index


def test_window_row_types_and_hints(window: Any) -> None:
    choose(window, "track", "event")
    line(window, "event").setText("Checkout")
    add_row(window, "properties", "total", "9.99")
    add_row(window, "properties", "sku", "007", "string")
    add_row(window, "properties", "items", '[{"id": 1}]', "json")
    assert message_text(window, "properties.propertiesUi[0].value") == "Auto: number"
    assert message_text(window, "properties.propertiesUi[1].value") == ""
    assert preview(window)["properties"] == {"total": 9.99, "sku": "007", "items": [{"id": 1}]}
    assert window.send_button.isEnabled()


def test_window_invalid_value_blocks_send(window: Any) -> None:
    choose(window, "track", "event")
    line(window, "event").setText("Checkout")
    add_row(window, "properties", "items", '{"id": 1,,}', "json")
    text = message_text(window, "properties.propertiesUi[0].value")
    assert text.startswith("Error: invalid JSON at line 1, column 10")
    assert not window.send_button.isEnabled()
    assert "Properties row 1 › Value: invalid JSON" in window.preview_status.text()
    assert "invalid JSON" in window.send_button.toolTip()
    line(window, "properties.propertiesUi[0].value").setText('{"id": 1}')
    assert message_text(window, "properties.propertiesUi[0].value") == ""
    assert window.send_button.isEnabled()


def test_window_duplicate_key_warns_only(window: Any) -> None:
    add_row(window, "traits", "plan", "a")
    add_row(window, "traits", "plan", "b")
    assert message_text(window, "traits.traitsUi[1].key").startswith(
        "Warning: duplicate key 'plan'"
    )
    assert window.send_button.isEnabled()
    assert preview(window)["traits"] == {"plan": "b"}


def test_window_advanced_generate_and_identity(window: Any, qtbot: Any) -> None:
    qtbot.mouseClick(button(window, "advanced:add"), Qt.MouseButton.LeftButton)
    anonymous = line(window, "advanced.advancedUi.anonymousId")
    generated = preview(window)["anonymousId"]
    assert message_text(window, "advanced.advancedUi.anonymousId") == f"Generated: {generated}"
    qtbot.mouseClick(
        button(window, "advanced.advancedUi.anonymousId:generate"), Qt.MouseButton.LeftButton
    )
    assert len(anonymous.text()) == 36
    assert preview(window)["anonymousId"] == anonymous.text()
    anonymous.clear()
    window.findChild(QCheckBox, "advanced.advancedUi.generateAnonymousId").setChecked(False)
    assert message_text(window, "advanced.advancedUi.anonymousId").startswith("Error: no identity")
    assert not window.send_button.isEnabled()
    line(window, "userId").setText("u-1")
    assert window.send_button.isEnabled()


def test_window_generated_anonymous_id_stable(window: Any, qtbot: Any) -> None:
    first = preview(window)["anonymousId"]
    window.send()
    qtbot.waitUntil(lambda: window.last_response is not None, timeout=10000)
    assert preview(window)["anonymousId"] == first
    assert window.sandbox.messages()[0].message["anonymousId"] == first


def test_window_body_mode_n8n(window: Any) -> None:
    choose(window, "track", "event")
    line(window, "event").setText("Signed Up")
    combo = window.findChild(QComboBox, "bodyMode")
    combo.setCurrentIndex(combo.findData("n8n"))
    body = preview(window)
    assert body["context"] == {"app": {}, "campaign": {}, "device": {}}
    assert body["traits"] == {}
    assert "messageId" not in body
    assert "n8n mode differs from Segment's spec" in window.preview_status.text()
    window.presets_panel.save_named("n8n one")
    snapshot = window.snapshot("x")
    assert snapshot.body_mode == "n8n"


def test_window_screen_and_alias(window: Any) -> None:
    choose(window, "track", "screen")
    line(window, "name").setText("Home")
    assert window.preview_status.text().split("  ·")[0].endswith("/v1/screen")
    assert preview(window)["name"] == "Home"
    choose(window, "identify", "alias")
    assert not window.send_button.isEnabled()
    line(window, "previousId").setText("anon-1")
    line(window, "userId").setText("user-1")
    body = preview(window)
    assert body["previousId"] == "anon-1"
    assert body["userId"] == "user-1"
    assert "anonymousId" not in body
    assert window.send_button.isEnabled()


def test_window_custom_url_checked_early(window: Any) -> None:
    window.endpoint.combo.setCurrentIndex(window.endpoint.combo.findData("custom"))
    assert not window.send_button.isEnabled()
    assert "Custom URL is empty" in window.preview_status.text()
    window.endpoint.url_edit.setText("localhost:8080")
    assert "Custom URL 'localhost:8080' is not valid" in window.preview_status.text()
    window.endpoint.url_edit.setText("http://127.0.0.1:8080/v1")
    assert window.send_button.isEnabled()
    assert window.preview_status.text().startswith("POST http://127.0.0.1:8080/v1/identify")


def test_window_title_follows_preset(window: Any, qtbot: Any) -> None:
    panel = window.presets_panel
    panel.save_named("first")
    qtbot.waitUntil(lambda: window.windowTitle() == "first – Segment GUI", timeout=5000)
    panel.rename("first", "renamed")
    qtbot.waitUntil(lambda: window.windowTitle() == "renamed – Segment GUI", timeout=5000)
    window.new_request()
    assert window.windowTitle() == "Segment GUI"


def test_window_preset_bad_values_reported(window: Any, qtbot: Any) -> None:
    preset = Preset(
        name="odd",
        parameters={"resource": "nope"},
        settings={"retryOnFail": True, "maxTries": "lots"},
    )
    notes = window.apply_preset(preset)
    assert notes == [
        "Resource is 'nope'; expected one of group, identify, track; the default is used instead",
        "Max. Tries is 'lots'; expected a number from 2 to 5; the default is used instead",
    ]
    assert window.settings_form.findChild(QSpinBox, "maxTries").value() == 3
    assert window.parameters()["resource"] == "identify"
    assert window.statusBar().currentMessage().startswith("Preset 'odd': Resource is 'nope'")


WORKFLOW_FILE = Path(__file__).parent / "data" / "n8n-workflow.json"


def test_window_import_workflow(window: Any, qtbot: Any) -> None:
    from segment_gui.n8n_workflow import read_workflow_file

    window.import_workflow(lambda: read_workflow_file(WORKFLOW_FILE), "file")
    qtbot.waitUntil(lambda: window.last_import_report is not None, timeout=5000)
    qtbot.waitUntil(lambda: len(window.presets_panel.names()) == 2, timeout=5000)
    report = window.findChild(QMessageBox, "importReport")
    assert report is not None
    assert "Skipped" in report.text()
    assert "Production" in report.text()
    report.close()


def test_window_copy_as_n8n_and_back(window: Any, qtbot: Any) -> None:
    from PySide6.QtGui import QGuiApplication

    from segment_gui.n8n_workflow import parse_workflow

    choose(window, "track", "event")
    line(window, "event").setText("Signed Up")
    add_row(window, "properties", "plan", "pro", "string")
    text = window.copy_as_n8n()
    assert QGuiApplication.clipboard().text() == text
    node = json.loads(text)["nodes"][0]
    assert node["type"] == "n8n-nodes-base.segment"
    assert node["parameters"]["properties"] == {"propertiesUi": [{"key": "plan", "value": "pro"}]}
    assert "Type left out of 1 row" in window.statusBar().currentMessage()
    imported = parse_workflow(text).presets[0]
    assert imported.parameters["event"] == "Signed Up"


def test_window_copy_as_curl_masks_key(window: Any) -> None:
    from PySide6.QtGui import QGuiApplication

    line(window, "userId").setText("u-1")
    command = window.copy_as_curl(False)
    assert QGuiApplication.clipboard().text() == command
    assert '-u "$SEGMENT_WRITE_KEY:"' in command
    assert "sandbox-write-key" not in command
    assert command.startswith(f"curl -sS {window.sandbox_url()}/identify")
    assert window.copy_as_curl(True, "wk_visible").count("wk_visible") == 1


def test_window_find_in_response(window: Any, qtbot: Any) -> None:
    window.show()
    line(window, "userId").setText("u-find")
    window.send()
    qtbot.waitUntil(lambda: window.last_response is not None, timeout=10000)
    view = window.response_view
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    qtbot.keyClick(line(window, "userId"), Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert view.find_edit.hasFocus()
    view.find_edit.setText("success")
    assert view.match_label.text() == "1 match"
    assert view.body_view.textCursor().selectedText() == "success"
    view.find_edit.setText("zzz")
    assert view.match_label.text() == "0 matches"


def test_window_response_raw_and_save(window: Any, qtbot: Any, tmp_path: Path) -> None:
    line(window, "userId").setText("u-raw")
    window.send()
    qtbot.waitUntil(lambda: window.last_response is not None, timeout=10000)
    view = window.response_view
    assert view.body_view.toPlainText() == '{\n  "success": true\n}'
    view.pretty_box.setChecked(False)
    assert view.body_view.toPlainText() == window.last_response.text()
    target = tmp_path / "body.json"
    view.save_body(target)
    assert target.read_bytes() == window.last_response.body
    status_lines = view.status_label.text().splitlines()
    assert status_lines[0].startswith("200 OK · ")
    assert status_lines[-1] == f"Saved {len(target.read_bytes()):,} bytes to {target}"


def test_window_ctrl_p_focuses_filter(window: Any, qtbot: Any) -> None:
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    qtbot.keyClick(line(window, "userId"), Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    assert window.presets_panel.filter_edit.hasFocus()


def test_window_state_restored(qtbot: Any, home: Path) -> None:
    from segment_gui import create_window

    first = create_window(home)
    qtbot.addWidget(first)
    qtbot.waitUntil(lambda: not first.runner.busy(), timeout=5000)
    first.show()
    first.resize(700, 500)
    first.splitter.setSizes([300, 500, 500])
    first.endpoint.set_endpoint("http://127.0.0.1:9/v1")
    first.presets_panel.sort_order = "changed"
    first.presets_panel.save_named("remember me")
    qtbot.waitUntil(lambda: first.presets_panel.names() == ["remember me"], timeout=5000)
    sizes = first.splitter.sizes()
    size = (first.width(), first.height())
    first.close()

    second = create_window(home)
    qtbot.addWidget(second)
    second.show()
    qtbot.waitUntil(lambda: second.presets_panel.current_name == "remember me", timeout=5000)
    assert second.endpoint.endpoint() == "http://127.0.0.1:9/v1"
    assert second.presets_panel.sort_order == "changed"
    assert second.presets_panel.list.currentItem().text() == "remember me"
    assert (second.width(), second.height()) == size
    assert second.splitter.sizes() == sizes
    assert second.windowTitle() == "remember me – Segment GUI"
    second.shutdown()


def test_window_drop_imports(window: Any, qtbot: Any, tmp_path: Path) -> None:
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    preset_file = tmp_path / "shared.json"
    preset_file.write_text(
        json.dumps({"formatVersion": 1, "name": "shared", "parameters": {"userId": "d"}}),
        encoding="utf-8",
    )
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(preset_file)), QUrl.fromLocalFile(str(WORKFLOW_FILE))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    qtbot.waitUntil(lambda: len(window.presets_panel.names()) == 3, timeout=5000)
    assert "shared" in window.presets_panel.names()


def test_window_unsaved_changes_prompt(window: Any, qtbot: Any) -> None:
    window.show()
    window.presets_panel.save_named("draft")
    qtbot.waitUntil(lambda: window.windowTitle() == "draft – Segment GUI", timeout=5000)
    line(window, "userId").setText("changed")
    assert window.is_dirty()
    assert window.windowTitle() == "draft* – Segment GUI"

    seen = answer_next_box(qtbot, QMessageBox.StandardButton.Cancel)
    window.new_request()
    assert seen == [
        "The preset 'draft' has unsaved changes. Save them before you start a new request?"
    ]
    assert line(window, "userId").text() == "changed"

    seen = answer_next_box(qtbot, QMessageBox.StandardButton.Discard)
    window.new_request()
    assert len(seen) == 1
    assert line(window, "userId").text() == ""
    assert window.windowTitle() == "Segment GUI"


def test_window_new_request_prompt(window: Any, qtbot: Any, home: Path) -> None:
    window.show()
    assert not window.is_dirty()
    line(window, "userId").setText("typed only")
    assert window.is_dirty()
    assert window.windowTitle() == "New request* – Segment GUI"

    seen = answer_next_box(qtbot, QMessageBox.StandardButton.Cancel)
    window.new_request()
    assert seen == [
        "The new request has unsaved changes. Save it as a preset before you start a new request?"
    ]
    assert line(window, "userId").text() == "typed only"

    # Save requests a name, saves, and only then starts the new request.
    answer_next_box(qtbot, QMessageBox.StandardButton.Save)
    answer_name_dialog("kept draft")
    window.new_request()
    stored = json.loads((home / "presets" / "kept draft.json").read_text(encoding="utf-8"))
    assert stored["parameters"]["userId"] == "typed only"
    assert line(window, "userId").text() == ""
    assert window.windowTitle() == "Segment GUI"


def test_window_new_request_close_prompt(window: Any, qtbot: Any) -> None:
    window.show()
    line(window, "userId").setText("not saved")
    seen = answer_next_box(qtbot, QMessageBox.StandardButton.Cancel)
    window.close()
    assert len(seen) == 1
    assert seen[0].endswith("before you close the window?")
    assert window.isVisible()


def answer_name_dialog(name: str) -> None:
    """Type `name` into the next preset name dialog and press OK."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QInputDialog

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QInputDialog):
            QTimer.singleShot(20, answer)
            return
        dialog.setTextValue(name)
        dialog.accept()

    QTimer.singleShot(20, answer)


def test_window_unsaved_save_before_switch(window: Any, qtbot: Any, home: Path) -> None:
    panel = window.presets_panel
    panel.save_named("one")
    qtbot.waitUntil(lambda: panel.names() == ["one"], timeout=5000)
    line(window, "userId").setText("kept-by-save")
    panel.save_named("two")
    qtbot.waitUntil(lambda: panel.names() == ["one", "two"], timeout=5000)
    line(window, "userId").setText("unsaved edit")
    answer_next_box(qtbot, QMessageBox.StandardButton.Save)
    panel.load("one")
    qtbot.waitUntil(lambda: panel.current_name == "one", timeout=5000)
    stored = json.loads((home / "presets" / "two.json").read_text(encoding="utf-8"))
    assert stored["parameters"]["userId"] == "unsaved edit"
    assert not window.is_dirty()
