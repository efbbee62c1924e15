"""Accessibility of the form: labels and names, required markers, errors in text, 200 % font."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QWidget,
)

from segment_gui.ui.editors import LeafField

OPERATIONS = [
    ("identify", "create"),
    ("identify", "alias"),
    ("track", "event"),
    ("track", "page"),
    ("track", "screen"),
    ("group", "add"),
]


def show_operation(window: Any, resource: str, operation: str) -> None:
    window.form.set_value("resource", resource)
    window.form.set_value("operation", operation)
    # Open every collection, with its nested sections, so their editors are checked too.
    for name in ("context", "properties", "traits", "advanced"):
        add = window.form.findChild(QAbstractButton, f"{name}:add")
        if add is not None and add.isVisibleTo(window) and add.menu() is None:
            add.click()
    for name in ("app", "campaign", "device"):
        add = window.form.findChild(QAbstractButton, f"context.contextUi.{name}:add")
        if add is not None:
            add.click()


def clipped_widgets(root: QWidget) -> list[str]:
    """Name each visible label, button or combo box whose text does not fit its size."""
    found = []
    for widget in root.findChildren(QWidget):
        if not widget.isVisible() or widget.width() == 0:
            continue
        name = widget.objectName() or type(widget).__name__
        if isinstance(widget, QLabel) and widget.text():
            if widget.wordWrap():
                needed = widget.heightForWidth(widget.width())
                if needed > widget.height() + 1:
                    found.append(f"label {name} {widget.text()[:40]!r}: needs {needed} px high")
            elif widget.sizeHint().width() > widget.width() + 1:
                found.append(f"label {name} {widget.text()[:40]!r}: needs more width")
        elif isinstance(widget, QAbstractButton) and widget.text():
            hint = widget.sizeHint()
            if hint.width() > widget.width() + 1 or hint.height() > widget.height() + 1:
                size = widget.size().toTuple()
                found.append(f"button {name} {widget.text()!r}: needs {hint.toTuple()}, has {size}")
        elif isinstance(widget, QComboBox) and not widget.isEditable():
            text_width = widget.fontMetrics().horizontalAdvance(widget.currentText())
            if text_width > widget.width() - 20:
                found.append(f"combo box {name} {widget.currentText()!r}: text cut")
    return found


@pytest.fixture
def large_font(qapp: QApplication) -> Iterator[None]:
    original = qapp.font()
    doubled = qapp.font()
    doubled.setPointSizeF(original.pointSizeF() * 2)
    qapp.setFont(doubled)
    yield
    qapp.setFont(original)


@pytest.mark.parametrize(("resource", "operation"), OPERATIONS)
def test_form_at_double_font(
    large_font: None, qtbot: Any, home: Path, resource: str, operation: str
) -> None:
    from segment_gui import create_window

    window = create_window(home)
    qtbot.addWidget(window)
    window.resize(1360, 820)
    window.show()
    qtbot.waitUntil(lambda: not window.runner.busy(), timeout=5000)
    show_operation(window, resource, operation)
    try:
        assert window.font().pointSizeF() >= 2 * 8
        fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont).pointSizeF()
        assert window.preview.font().pointSizeF() >= 1.9 * fixed
        assert window.response_view.body_view.font().pointSizeF() >= 1.9 * fixed
        viewport = window.form.parentWidget()

        def settled() -> bool:
            fits = window.form.minimumSizeHint().width() <= viewport.width()
            return fits and not clipped_widgets(window)

        # New rows get their final size once the layouts run, so wait for the settled layout.
        try:
            qtbot.waitUntil(settled, timeout=3000)
        except qtbot.TimeoutError:
            pass
        clipped = clipped_widgets(window)
        assert clipped == [], "\n".join(clipped)
        # The form's column is as wide as its widest row, so it never scrolls sideways.
        assert window.form.minimumSizeHint().width() <= viewport.width()
    finally:
        window._baseline = None
        window.shutdown()


@pytest.mark.parametrize(("resource", "operation"), OPERATIONS)
def test_every_editor_named(window: Any, resource: str, operation: str) -> None:
    show_operation(window, resource, operation)
    leaves = [leaf for leaf in window.form.findChildren(LeafField) if leaf.isVisibleTo(window)]
    assert leaves
    for leaf in leaves:
        editor = leaf.editor
        spec_field = leaf.spec_field
        assert editor.accessibleName() == spec_field.display_name
        assert leaf.mode_button.accessibleName().endswith(spec_field.display_name)
        if isinstance(editor, QCheckBox):
            continue
        labels = [label for label in leaf.findChildren(QLabel) if label.buddy() is editor]
        if labels:
            assert labels[0].text().startswith(spec_field.display_name)
        else:
            # Fields in collection rows show their name as the placeholder instead.
            assert isinstance(editor, (QLineEdit, QComboBox))
            if isinstance(editor, QLineEdit):
                assert editor.placeholderText()


def test_required_marked_beyond_colour(window: Any) -> None:
    show_operation(window, "group", "add")
    leaf = window.form.findChild(LeafField, "groupId:field")
    label = next(label for label in leaf.findChildren(QLabel) if label.buddy() is leaf.editor)
    assert label.text() == "Group ID *"
    assert label.toolTip() == "Required"
    assert leaf.editor.accessibleDescription().startswith("Required.")


def test_error_shown_as_text(window: Any) -> None:
    show_operation(window, "group", "add")
    leaf = window.form.findChild(LeafField, "groupId:field")
    assert leaf.message_label.isVisibleTo(window)
    assert leaf.message_label.text() == "Error: Group ID is required; enter a value"
    assert "Error: Group ID is required; enter a value" in window.preview_status.text()
    window.form.set_value("groupId", "g-1")
    assert not leaf.message_label.isVisibleTo(window)


def test_preview_status_scrolls_at_double_font(large_font: None, qtbot: Any, home: Path) -> None:
    from segment_gui import create_window

    window = create_window(home)
    qtbot.addWidget(window)
    window.resize(1360, 820)
    window.show()
    qtbot.waitUntil(lambda: not window.runner.busy(), timeout=5000)
    try:
        # n8n mode lists its differences from Segment's spec, more lines than the area shows.
        window.body_mode_combo.setCurrentIndex(window.body_mode_combo.findData("n8n"))
        show_operation(window, "group", "add")
        QApplication.processEvents()
        status = window.preview_status
        area = window._preview_status_area
        assert "Error: Group ID is required; enter a value" in status.text()
        assert "n8n mode differs from Segment's spec:" in status.text()
        assert area.height() >= 4 * status.fontMetrics().lineSpacing()
        assert area.overflows()
        assert area.verticalScrollBar().isVisible()
        # Tab reaches the area, and the keys scroll it to the last line.
        assert area.focusPolicy() & Qt.FocusPolicy.TabFocus
        assert area.accessibleName() == "Preview status"
        assert area.accessibleDescription() == status.text()
        area.setFocus()
        QTest.keyClick(area, Qt.Key.Key_End)
        scroll_bar = area.verticalScrollBar()
        assert scroll_bar.value() == scroll_bar.maximum() > 0
        assert status.height() >= status.heightForWidth(status.width())
    finally:
        window._baseline = None
        window.shutdown()


def test_dialogs_at_double_font(large_font: None, qtbot: Any, home: Path) -> None:
    from segment_gui import create_window

    window = create_window(home)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: not window.runner.busy(), timeout=5000)
    try:
        for dialog in (window.open_credentials_dialog(), window.open_preferences()):
            qtbot.waitUntil(dialog.isVisible, timeout=3000)
            qtbot.wait(50)
            hint = dialog.minimumSizeHint()
            assert dialog.width() >= hint.width()
            assert dialog.height() >= hint.height()
            clipped = clipped_widgets(dialog)
            assert clipped == [], "\n".join(clipped)
            dialog.close()
    finally:
        window._baseline = None
        window.shutdown()
