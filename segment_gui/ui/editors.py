"""Field editors generated from spec fields.

Every editor has the same contract: `value()`, `set_value(value)`, a `value_changed` signal and
`set_path(path)`, which sets the `objectName` to the parameter path
(`userId`, `traits.traitsUi[0].value`, `context.contextUi.app.appUi.name`). Leaf editors are the
input widgets themselves, so tests can find them by path with `findChild`.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from segment_gui.model import copy_json, default_option_value
from segment_gui.spec import CollectionOption, Field
from segment_gui.ui.icons import icon


def _field_message_label(editor: QWidget) -> QLabel:
    """Return the message label of the LeafField that contains `editor`."""
    field = editor.parentWidget()
    if not isinstance(field, LeafField):
        raise AttributeError(f"{editor.objectName()!r} is not the editor of a LeafField")
    return field.message_label


def contains_expression(value: Any) -> bool:
    """Tell whether a parameter value contains a string that starts with `=`, n8n's mark of an
    expression, at any depth."""
    # The rule of segment_gui.expressions.is_expression, which loads only with the engine.
    if isinstance(value, str):
        return value.startswith("=")
    if isinstance(value, dict):
        return any(contains_expression(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_expression(item) for item in value)
    return False


class StringEditor(QLineEdit):
    value_changed = Signal()
    # The containing LeafField's message label, created when first read.
    message_label = property(_field_message_label)

    def __init__(self, spec_field: Field, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec_field = spec_field
        self.generate_button: QToolButton | None = None
        if spec_field.placeholder:
            self.setPlaceholderText(spec_field.placeholder)
        if spec_field.password:
            self.setEchoMode(QLineEdit.EchoMode.Password)
        self.textChanged.connect(self.value_changed)

    def value(self) -> str:
        return self.text()

    def set_value(self, value: Any) -> None:
        text = "" if value is None else str(value)
        if text != self.text():
            self.setText(text)

    def set_path(self, path: str) -> None:
        self.setObjectName(path)
        if self.generate_button is not None:
            self.generate_button.setObjectName(f"{path}:generate")


class TextEditor(QPlainTextEdit):
    """A multi-line string (typeOptions.rows > 1), such as the node's notes."""

    value_changed = Signal()
    # The containing LeafField's message label, created when first read.
    message_label = property(_field_message_label)

    def __init__(self, spec_field: Field, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec_field = spec_field
        self.setTabChangesFocus(True)
        line = self.fontMetrics().lineSpacing()
        self.setFixedHeight(line * spec_field.rows + 12)
        self.textChanged.connect(self.value_changed)

    def value(self) -> str:
        return self.toPlainText()

    def set_value(self, value: Any) -> None:
        text = "" if value is None else str(value)
        if text != self.toPlainText():
            self.setPlainText(text)

    def set_path(self, path: str) -> None:
        self.setObjectName(path)


class BooleanEditor(QCheckBox):
    value_changed = Signal()
    # The containing LeafField's message label, created when first read.
    message_label = property(_field_message_label)

    def __init__(self, spec_field: Field, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec_field = spec_field
        self.toggled.connect(self.value_changed)

    def value(self) -> bool:
        return self.isChecked()

    def set_value(self, value: Any) -> None:
        self.setChecked(bool(value))

    def set_path(self, path: str) -> None:
        self.setObjectName(path)


class OptionsEditor(QComboBox):
    value_changed = Signal()
    # The containing LeafField's message label, created when first read.
    message_label = property(_field_message_label)

    def __init__(self, spec_field: Field, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec_field = spec_field
        for index, choice in enumerate(spec_field.choices):
            self.addItem(choice.name, choice.value)
            if choice.description:
                self.setItemData(index, choice.description, Qt.ItemDataRole.ToolTipRole)
        self.currentIndexChanged.connect(self.value_changed)

    def value(self) -> Any:
        return self.currentData()

    def set_value(self, value: Any) -> None:
        index = self.findData(value)
        if index < 0:
            index = self.findData(self.spec_field.default)
        self.setCurrentIndex(index)

    def set_path(self, path: str) -> None:
        self.setObjectName(path)


class NumberEditor(QSpinBox):
    value_changed = Signal()
    # The containing LeafField's message label, created when first read.
    message_label = property(_field_message_label)

    def __init__(self, spec_field: Field, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec_field = spec_field
        low = spec_field.min_value if spec_field.min_value is not None else -(2**31)
        high = spec_field.max_value if spec_field.max_value is not None else 2**31 - 1
        self.setRange(int(low), int(high))
        self.setAccelerated(True)
        self.valueChanged.connect(self.value_changed)

    def value(self) -> int:  # type: ignore[override]
        return super().value()

    def set_value(self, value: Any) -> None:
        try:
            self.setValue(int(value))
        except (TypeError, ValueError):
            self.setValue(int(self.spec_field.default))

    def set_path(self, path: str) -> None:
        self.setObjectName(path)


def create_editor(spec_field: Field, parent: QWidget | None = None) -> Any:
    """Create the editor for a field through the type table."""
    if spec_field.type == "string" and spec_field.rows > 1:
        return TextEditor(spec_field, parent)
    editor_class = EDITOR_CLASSES[spec_field.type]
    return editor_class(spec_field, parent)


EXPRESSION_TIP = "Anything inside {{ }} is JavaScript."


class LeafField(QWidget):
    """A leaf field as the form shows it: label, the fixed-value editor, a Fixed / Expression
    toggle, the expression editor with its tip and live preview, messages and help text.

    In expression mode the value is n8n's stored form: the text with a leading `=`. The fixed
    editor keeps the parameter path as its objectName; the expression editor, the toggle and
    the preview use the path with `:expression`, `:mode` and `:preview` appended.

    The expression editor, its tip, the preview and the Boolean caption are created the first
    time they are used (the `expression_edit`, `tip_label`, `preview_label` and `caption`
    properties create them), and so is the message label of a compact field. A collection row
    of three fields then has about half the widgets, which cuts creation time, memory and the
    layout work of long collections.
    """

    value_changed = Signal()

    def __init__(
        self,
        spec_field: Field,
        path: str,
        parent: QWidget | None = None,
        compact: bool = False,
        allow_expressions: bool = True,
    ) -> None:
        super().__init__(parent)
        self.spec_field = spec_field
        self.path = path
        self.editor = create_editor(spec_field, self)
        self.editor.setAccessibleName(spec_field.display_name)
        if spec_field.description:
            self.editor.setToolTip(spec_field.description)
            self.editor.setAccessibleDescription(spec_field.description)
        # No focus proxy. Qt's Tab search stops at a widget with a proxy at that widget's own
        # place in the focus chain, and for fields created later that place was wrong, so Tab
        # jumped back into the form. setFocus() below forwards to the editor instead.
        self._last_expression = ""
        self._expression = False
        self._expression_edit: QLineEdit | None = None
        self._tip_label: QLabel | None = None
        self._preview_label: QLabel | None = None
        self._message_label: QLabel | None = None
        self._caption: QLabel | None = None

        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 2, 0, 2)
        self._layout.setSpacing(2)
        self._text = spec_field.display_name + (" *" if spec_field.required else "")
        if spec_field.required:
            self.editor.setAccessibleDescription(f"Required. {spec_field.description}".strip())

        self.mode_button = QToolButton(self)
        self.mode_button.setText("fx")
        self.mode_button.setCheckable(True)
        self.mode_button.setToolTip("Switch between a fixed value and an n8n expression")
        self.mode_button.setAccessibleName(f"Expression mode for {spec_field.display_name}")
        self.mode_button.toggled.connect(self._on_mode_toggled)
        # n8n's noDataExpression: the resource and operation selectors take fixed values only,
        # and node settings are never expressions.
        self.mode_button.setVisible(allow_expressions and not spec_field.no_data_expression)

        self._row = QHBoxLayout()
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.setSpacing(4)
        if isinstance(self.editor, BooleanEditor):
            # In expression mode the check box, which carries the label, is hidden and the
            # caption above the row takes its place.
            self.editor.setText(self._text)
        elif compact:
            if isinstance(self.editor, QLineEdit):
                self.editor.setPlaceholderText(spec_field.placeholder or self._text)
        else:
            label = QLabel(self._text, self)
            label.setBuddy(self.editor)
            if spec_field.required:
                label.setToolTip("Required")
            self._layout.addWidget(label)
        self._row.addWidget(self.editor, 1)
        if spec_field.generate == "uuid" and not compact:
            self.generate_button = _generate_button(self.editor, self)
            self._row.addWidget(self.generate_button)
        self._row.addWidget(self.mode_button)
        self._layout.addLayout(self._row)

        if spec_field.description and not compact:
            help_label = QLabel(spec_field.description, self)
            help_label.setWordWrap(True)
            help_label.setObjectName(f"{path}:help")
            font = QFont(help_label.font())
            font.setPointSizeF(max(font.pointSizeF() * 0.9, 7.0))
            help_label.setFont(font)
            self._layout.addWidget(help_label)
        if not compact:
            # Fields outside collection rows are few and most show a message at some point, so
            # their label is made now rather than during the first switch that needs it.
            _ = self.message_label
        self.editor.value_changed.connect(self._on_fixed_changed)
        self.set_path(path)

    # -- widgets created on first use ---------------------------------------------------------

    @property
    def expression_edit(self) -> QLineEdit:
        """The expression editor, next to the fixed editor; hidden until expression mode."""
        if self._expression_edit is None:
            edit = QLineEdit(self)
            edit.setPlaceholderText("{{ $json.field }}")
            edit.setAccessibleName(f"{self.spec_field.display_name} expression")
            edit.setObjectName(f"{self.path}:expression")
            edit.setVisible(False)
            edit.textChanged.connect(self.value_changed)
            self._row.insertWidget(1, edit, 1)
            # Qt appends a new widget to the end of the window's focus chain.
            QWidget.setTabOrder(self.editor, edit)
            self._expression_edit = edit
        return self._expression_edit

    @property
    def caption(self) -> QLabel:
        """The field's label above the row while a Boolean field is in expression mode."""
        if self._caption is None:
            self._caption = QLabel(self._text, self)
            self._caption.setVisible(False)
            self._layout.insertWidget(0, self._caption)
        return self._caption

    @property
    def tip_label(self) -> QLabel:
        if self._tip_label is None:
            self._tip_label = self._label_below_row(EXPRESSION_TIP, 0)
        return self._tip_label

    @property
    def preview_label(self) -> QLabel:
        """The live result of the expression for the selected input item."""
        if self._preview_label is None:
            label = self._label_below_row("", 1)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setObjectName(f"{self.path}:preview")
            self._preview_label = label
        return self._preview_label

    @property
    def message_label(self) -> QLabel:
        """Validation results and hints for this field, set by GeneratedForm.show_diagnostics."""
        # show_diagnostics switches word wrap on for long messages only, because a wrapping
        # label makes every layout pass ask each row for its height at the new width.
        if self._message_label is None:
            label = self._label_below_row("", 2)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self._message_label = label
        return self._message_label

    def _label_below_row(self, text: str, rank: int) -> QLabel:
        """Create a hidden label under the editor row: tip (rank 0), preview (1), message (2)."""
        label = QLabel(text, self)
        label.setVisible(False)
        index = self._layout.indexOf(self._row) + 1
        below = (self._tip_label, self._preview_label, self._message_label)
        index += sum(1 for other in below[:rank] if other is not None)
        self._layout.insertWidget(index, label)
        return label

    # -- contract -------------------------------------------------------------------------------

    def set_path(self, path: str) -> None:
        self.path = path
        self.setObjectName(f"{path}:field")
        self.editor.set_path(path)
        self.mode_button.setObjectName(f"{path}:mode")
        if self._expression_edit is not None:
            self._expression_edit.setObjectName(f"{path}:expression")
        if self._preview_label is not None:
            self._preview_label.setObjectName(f"{path}:preview")

    def setFocus(self, reason: Qt.FocusReason = Qt.FocusReason.OtherFocusReason) -> None:  # type: ignore[override]  # noqa: N802 - Qt name
        """Focus the field's editor: the expression box in expression mode, else the fixed one."""
        target = (
            self._expression_edit if self._expression and self._expression_edit else self.editor
        )
        target.setFocus(reason)

    def is_expression(self) -> bool:
        return self._expression

    def has_expression_widgets(self) -> bool:
        """Tell whether the field has entered expression mode at some point, which creates the
        expression editor and remembers the last expression."""
        return self._expression_edit is not None

    def focus_widgets(self) -> list[QWidget]:
        """Return the widgets that take focus with Tab, in visual order, hidden ones included.

        The expression editor is listed once it exists; it places itself after the editor.
        """
        widgets: list[QWidget] = [self.editor]
        if self._expression_edit is not None:
            widgets.append(self._expression_edit)
        generate_button = getattr(self.editor, "generate_button", None)
        if generate_button is not None:
            widgets.append(generate_button)
        widgets.append(self.mode_button)
        return widgets

    def leaf_fields(self) -> list[LeafField]:
        return [self]

    def value(self) -> Any:
        if self._expression:
            return "=" + self.expression_edit.text()
        return self.editor.value()

    def set_value(self, value: Any) -> None:
        if isinstance(value, str) and value.startswith("="):
            self.expression_edit.setText(value[1:])
            self._show_mode(True)
            return
        self._show_mode(False)
        self.editor.set_value(value)

    def set_expression_mode(self, expression: bool) -> None:
        self.mode_button.setChecked(expression)

    def show_preview(self, text: str) -> None:
        if self._preview_label is None and not (self._expression and text):
            return
        self.preview_label.setText(text)
        self.preview_label.setVisible(self._expression and bool(text))

    def _show_mode(self, expression: bool) -> None:
        self._expression = expression
        self.mode_button.blockSignals(True)
        self.mode_button.setChecked(expression)
        self.mode_button.blockSignals(False)
        if not expression and self._expression_edit is None:
            # Expression mode was never shown, so the fixed editor was never hidden.
            return
        self.editor.setVisible(not expression)
        if isinstance(self.editor, BooleanEditor):
            self.caption.setVisible(expression)
        self.expression_edit.setVisible(expression)
        self.tip_label.setVisible(expression)
        if not expression and self._preview_label is not None:
            self._preview_label.setVisible(False)

    def _on_mode_toggled(self, expression: bool) -> None:
        # Set first, so value() already reads the new mode while the text below changes.
        self._expression = expression
        if expression:
            if self._last_expression:
                self.expression_edit.setText(self._last_expression)
            else:
                # As in n8n, the fixed value becomes the start of the expression: text as it
                # is, other types as a JavaScript literal so they keep their type.
                self.expression_edit.setText(_expression_for(self.editor.value(), self.spec_field))
        else:
            self._last_expression = self.expression_edit.text()
            self.editor.set_value(_fixed_from(self.expression_edit.text(), self.spec_field))
        self._show_mode(expression)
        (self.expression_edit if expression else self.editor).setFocus()
        self.value_changed.emit()

    def _on_fixed_changed(self) -> None:
        if not self._expression:
            self.value_changed.emit()


def _expression_for(value: Any, spec_field: Field) -> str:
    if value in ("", None):
        return ""
    if spec_field.type == "string":
        return str(value)
    return "{{ " + json.dumps(value) + " }}"


def _fixed_from(text: str, spec_field: Field) -> Any:
    """Return the fixed value to show when leaving expression mode.

    That is the text when it contains no `{{ }}` and fits the field, else the field's default.
    """
    literal = re.fullmatch(r"\{\{\s*(.*?)\s*\}\}", text.strip())
    if literal and spec_field.type != "string":
        text = literal.group(1)
    elif "{{" in text:
        return spec_field.default
    if spec_field.type == "boolean":
        return text.strip().lower() == "true"
    if spec_field.type == "number":
        try:
            return float(text) if "." in text else int(text)
        except ValueError:
            return spec_field.default
    return text


def create_labelled_editor(
    spec_field: Field,
    path: str,
    parent: QWidget | None = None,
    compact: bool = False,
    allow_expressions: bool = True,
) -> tuple[QWidget, Any]:
    """Create the editor for a field; returns (widget to lay out, editor with the contract).

    `compact` (collection rows laid out on one line) puts the label in the placeholder and
    leaves the description to the tooltip.
    """
    if spec_field.type == "fixedCollection":
        collection = FixedCollectionEditor(spec_field, parent)
        collection.set_path(path)
        collection.setAccessibleName(spec_field.display_name)
        if spec_field.description:
            collection.setToolTip(spec_field.description)
        return collection, collection
    field_widget = LeafField(spec_field, path, parent, compact, allow_expressions)
    return field_widget, field_widget


def chain_tab_order(before: QWidget | None, widgets: list[QWidget]) -> None:
    """Put `widgets` into the window's Tab order right after `before`, in list order.

    Qt appends a widget to the end of its window's focus chain when it is created, so rows and
    fields created after the form was built need this to keep Tab in visual order.
    `QWidget.setTabOrder` moves single widgets only (PySide6 6.11), hence one call per widget.
    """
    if before is None:
        return
    for widget in widgets:
        QWidget.setTabOrder(before, widget)
        before = widget


def focus_predecessor(widget: QWidget) -> QWidget | None:
    """Return the nearest widget before `widget` in the focus chain that can take focus."""
    current = widget.previousInFocusChain()
    while current is not None and current is not widget:
        if current.focusPolicy() != Qt.FocusPolicy.NoFocus and current.focusProxy() is None:
            return current
        if current.isWindow():
            return None
        current = current.previousInFocusChain()
    return None


def _generate_button(editor: StringEditor, parent: QWidget) -> QToolButton:
    button = QToolButton(parent)
    button.setText("Generate")
    button.setToolTip(f"Fill {editor.spec_field.display_name} with a new random UUID")
    button.setAccessibleName(f"Generate {editor.spec_field.display_name}")
    button.clicked.connect(lambda: editor.setText(str(uuid.uuid4())))
    editor.generate_button = button
    return button


# Icons of the row buttons, by the text they show when no icon is available.
ROW_BUTTON_ICONS = {"▲": "move-up", "▼": "move-down", "✕": "remove-row"}


class _OptionGroup(QFrame):
    """The fields of one collection option: one row of a multiple-value collection, or the
    single entry of a single-value collection."""

    value_changed = Signal()
    # A nested collection added, removed or moved a row.
    structure_changed = Signal()
    remove_requested = Signal(object)
    move_requested = Signal(object, int)
    # has_expression changed; emitted before value_changed.
    expression_changed = Signal(object)

    def __init__(
        self, option: CollectionOption, movable: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.option = option
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.editors: dict[str, Any] = {}
        self._containers: dict[str, QWidget] = {}
        # value() of the row, kept until one of its fields changes.
        self._value: dict[str, Any] | None = None
        self._leaves: list[LeafField] | None = None
        # Whether value() contains an expression, kept up to date as fields change.
        self.has_expression = False
        compact = len(option.fields) <= 3 and all(
            f.type != "fixedCollection" for f in option.fields
        )
        self._compact = compact
        self._nested = any(f.type == "fixedCollection" for f in option.fields)
        outer = QHBoxLayout(self) if compact else QVBoxLayout(self)
        outer.setContentsMargins(6, 4, 6, 4)
        for sub in option.fields:
            container, editor = create_labelled_editor(sub, sub.name, self, compact=compact)
            editor.value_changed.connect(self._on_field_changed)
            if isinstance(editor, FixedCollectionEditor):
                editor.structure_changed.connect(self.structure_changed)
            self.editors[sub.name] = editor
            self._containers[sub.name] = container
            outer.addWidget(container, 1)

        buttons = QHBoxLayout()
        buttons.setSpacing(2)
        self.up_button = self.down_button = None
        if movable:
            self.up_button = self._tool_button(
                "▲", "Move up", lambda: self.move_requested.emit(self, -1)
            )
            self.down_button = self._tool_button(
                "▼", "Move down", lambda: self.move_requested.emit(self, 1)
            )
            buttons.addWidget(self.up_button)
            buttons.addWidget(self.down_button)
        self.remove_button = self._tool_button(
            "✕", f"Remove {option.display_name}", lambda: self.remove_requested.emit(self)
        )
        buttons.addWidget(self.remove_button)
        if compact:
            outer.addLayout(buttons)
        else:
            title = QLabel(option.display_name, self)
            bold = QFont(title.font())
            bold.setBold(True)
            title.setFont(bold)
            buttons.insertWidget(0, title)
            buttons.insertStretch(1, 1)
            outer.insertLayout(0, buttons)

    def focus_widgets(self) -> list[QWidget]:
        """Return the widgets that take focus with Tab, in visual order, hidden ones included."""
        buttons: list[QWidget] = [
            button for button in (self.up_button, self.down_button) if button is not None
        ]
        buttons.append(self.remove_button)
        fields: list[QWidget] = []
        for editor in self.editors.values():
            fields += editor.focus_widgets()
        return fields + buttons if self._compact else buttons + fields

    def leaf_fields(self) -> list[LeafField]:
        if self._leaves is not None:
            return self._leaves
        leaves: list[LeafField] = []
        for editor in self.editors.values():
            leaves += editor.leaf_fields()
        if not self._nested:
            # Without a nested collection the row's leaves never change.
            self._leaves = leaves
        return leaves

    def _tool_button(self, text: str, tip: str, slot: Any) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        if text in ROW_BUTTON_ICONS:
            button.setIcon(icon(ROW_BUTTON_ICONS[text]))
        button.setToolTip(tip)
        button.setAccessibleName(tip)
        button.clicked.connect(slot)
        return button

    def set_path(self, path: str) -> None:
        self.setObjectName(path)
        for name, editor in self.editors.items():
            editor.set_path(f"{path}.{name}")
        self.remove_button.setObjectName(f"{path}:remove")
        if self.up_button is not None and self.down_button is not None:
            self.up_button.setObjectName(f"{path}:up")
            self.down_button.setObjectName(f"{path}:down")

    def value(self) -> dict[str, Any]:
        if self._value is None:
            result: dict[str, Any] = {}
            for name, editor in self.editors.items():
                if isinstance(editor, FixedCollectionEditor) and not editor.value():
                    continue
                result[name] = editor.value()
            self._value = result
        return copy_json(self._value) if self._nested else dict(self._value)

    def set_value(self, value: dict[str, Any]) -> None:
        defaults = default_option_value(self.option)
        for name, editor in self.editors.items():
            editor.set_value(value.get(name, defaults[name]))
        self._value = None
        self._update_expression_state()

    def is_reusable(self) -> bool:
        """Tell whether set_value alone resets the row to a new row's state: it contains no
        nested collection and none of its fields has entered expression mode."""
        if self._nested:
            return False
        return not any(leaf.has_expression_widgets() for leaf in self.leaf_fields())

    def expression_leaves(self) -> list[LeafField]:
        """Return the row's leaf fields in expression mode, nested rows included."""
        if not self.has_expression:
            return []
        return [leaf for leaf in self.leaf_fields() if leaf.is_expression()]

    def _update_expression_state(self) -> None:
        """Set has_expression from the fields' values, reading nested collections' own state."""
        found = False
        for editor in self.editors.values():
            if isinstance(editor, FixedCollectionEditor):
                found = editor.has_expression()
            else:
                value = editor.value()
                found = isinstance(value, str) and value.startswith("=")
            if found:
                break
        if found != self.has_expression:
            self.has_expression = found
            self.expression_changed.emit(self)

    def _on_field_changed(self) -> None:
        self._value = None
        self._update_expression_state()
        self.value_changed.emit()


# How long a collection waits after a row was added before it builds the next spare row, so
# that a burst of clicks on Add is not slowed by building spares in between.
SPARE_ROW_DELAY_MS = 250

# Rows a block takes before appended rows start a new block. A block that grows past twice this
# (rows inserted in its middle) is split in two.
ROWS_PER_BLOCK = 32


class _RowBlock(QWidget):
    """Consecutive rows of a collection, in a layout of their own.

    The body's layout places blocks, not rows, so adding a row lays out one block of at most
    about ROWS_PER_BLOCK rows and the list of blocks instead of every row.
    """

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_StaticContents)
        self.rows_layout = QVBoxLayout(self)
        self.rows_layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)
        self.rows_layout.setContentsMargins(0, 0, 0, 0)
        self.rows_layout.setSpacing(4)


class FixedCollectionEditor(QWidget):
    """A collapsible section for an n8n fixedCollection.

    The spec's placeholder labels the Add button. With `multipleValues`, each option contains
    rows that can be added, removed and moved. Otherwise each option is present once or absent.
    Adding, removing or moving a row touches that row's widget only (and renames the rows after
    it). Rows sit in blocks of about ROWS_PER_BLOCK (`_RowBlock`), so the layout pass after a
    change places one block's rows and the list of blocks rather than every row.

    With `multipleValues`, each option keeps one hidden spare row that the next Add puts in
    place, which saves building its widgets during the click. A removed row
    becomes the spare when set_value can reset it (`_OptionGroup.is_reusable`). Otherwise a
    timer builds one: at once after set_value, and SPARE_ROW_DELAY_MS after an Add.
    """

    value_changed = Signal()
    # Rows were added, removed or moved here or in a nested collection.
    structure_changed = Signal()

    def __init__(self, spec_field: Field, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec_field = spec_field
        self._path = spec_field.name
        self._groups: dict[str, list[_OptionGroup]] = {
            o.name: [] for o in spec_field.collection_options
        }
        # Rows whose value contains an expression, in no particular order (a dict as an
        # ordered set). Kept up to date from the rows' expression_changed signal, so finding
        # the expression fields does not walk every row.
        self._expression_rows: dict[_OptionGroup, None] = {}
        # The leaf fields of every row by parameter path, updated as rows are added, removed
        # and renamed; None after a nested collection changed its rows, until read again.
        self._leaf_paths: dict[str, LeafField] | None = {}
        # A hidden row per option, outside every layout, for the next add_option.
        self._spares: dict[str, _OptionGroup] = {}
        self._spare_timer = QTimer(self)
        self._spare_timer.setSingleShot(True)
        self._spare_timer.timeout.connect(self._build_spares)

        layout = QVBoxLayout(self)
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)
        layout.setContentsMargins(0, 4, 0, 4)
        layout.setSpacing(4)
        self.header = QToolButton(self)
        self.header.setText(spec_field.display_name)
        self.header.setCheckable(True)
        self.header.setChecked(True)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setArrowType(Qt.ArrowType.DownArrow)
        self.header.setAutoRaise(True)
        bold = QFont(self.header.font())
        bold.setBold(True)
        self.header.setFont(bold)
        self.header.toggled.connect(self._on_header_toggled)
        layout.addWidget(self.header)

        self.body = QWidget(self)
        # The collection and its body paint nothing themselves, so when a row makes them
        # taller only the new strip needs a paint, not all of their visible rows.
        self.setAttribute(Qt.WidgetAttribute.WA_StaticContents)
        self.body.setAttribute(Qt.WidgetAttribute.WA_StaticContents)
        self.body_layout = QVBoxLayout(self.body)
        # A row added to a full body would otherwise be laid out first at the body's old
        # height, which squeezes and moves every row, and again once the parents have grown.
        # With a minimum size the body grows before its rows are placed.
        self.body_layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)
        self.body_layout.setContentsMargins(16, 0, 0, 0)
        self.body_layout.setSpacing(4)
        # The row blocks, in screen order.
        self.rows_layout = QVBoxLayout()
        self.rows_layout.setSpacing(4)
        self.body_layout.addLayout(self.rows_layout)
        self._blocks: list[_RowBlock] = []
        self.add_button = QPushButton(
            spec_field.placeholder or f"Add {spec_field.display_name}", self.body
        )
        self.add_button.setIcon(icon("add-row"))
        self.add_button.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        options = spec_field.collection_options
        if len(options) == 1:
            self.add_button.clicked.connect(lambda: self.add_option(options[0].name))
        else:
            menu = QMenu(self.add_button)
            for option in options:
                action = menu.addAction(option.display_name)
                action.setData(option.name)
            menu.triggered.connect(lambda action: self.add_option(action.data()))
            self.add_button.setMenu(menu)
        self.body_layout.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.body)
        self._update_state()

    # -- contract -------------------------------------------------------------------------

    def set_path(self, path: str) -> None:
        self._path = path
        self.setObjectName(path)
        self.add_button.setObjectName(f"{path}:add")
        self.header.setObjectName(f"{path}:header")
        for name in self._groups:
            self._renumber(name)

    def value(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for option in self.spec_field.collection_options:
            groups = self._groups[option.name]
            if self.spec_field.multiple_values:
                if groups:
                    result[option.name] = [group.value() for group in groups]
            elif groups:
                result[option.name] = groups[0].value()
        return result

    def set_value(self, value: Any) -> None:
        value = value if isinstance(value, dict) else {}
        if value == self.value():
            return
        self.blockSignals(True)
        try:
            for option in self.spec_field.collection_options:
                for group in list(self._groups[option.name]):
                    self._discard(group)
                stored = value.get(option.name)
                if self.spec_field.multiple_values:
                    for row in stored if isinstance(stored, list) else []:
                        self._insert(option, row if isinstance(row, dict) else {})
                elif isinstance(stored, dict):
                    self._insert(option, stored)
        finally:
            self.blockSignals(False)
        self.structure_changed.emit()
        self._changed()
        # Loading rows takes long anyway, so the spare is built right after it.
        self._schedule_spares(0)

    def focus_widgets(self) -> list[QWidget]:
        """Return the widgets that take focus with Tab, in visual order, hidden ones included."""
        widgets: list[QWidget] = [self.header]
        for option in self.spec_field.collection_options:
            for group in self._groups[option.name]:
                widgets += group.focus_widgets()
        widgets.append(self.add_button)
        return widgets

    def leaf_fields(self) -> list[LeafField]:
        """Return the leaf fields of every row, in row order."""
        leaves: list[LeafField] = []
        for option in self.spec_field.collection_options:
            for group in self._groups[option.name]:
                leaves += group.leaf_fields()
        return leaves

    def leaf_index(self) -> dict[str, LeafField]:
        """Return the leaf fields of every row by parameter path; the caller must not change it."""
        if self._leaf_paths is None:
            self._leaf_paths = {leaf.path: leaf for leaf in self.leaf_fields()}
        return self._leaf_paths

    def has_expression(self) -> bool:
        """Tell whether value() contains an expression, without reading every row."""
        return bool(self._expression_rows)

    def expression_leaves(self) -> list[LeafField]:
        """Return the leaf fields in expression mode, from the rows that contain an expression."""
        leaves: list[LeafField] = []
        for group in self._expression_rows:
            leaves += group.expression_leaves()
        return leaves

    # -- structure ------------------------------------------------------------------------

    def add_option(self, option_name: str) -> None:
        """Add a row (or the single entry) of an option, with every field at its default."""
        option = self._option(option_name)
        if not self.spec_field.multiple_values and self._groups[option_name]:
            return
        group = self._insert(option, default_option_value(option))
        self.header.setChecked(True)
        self.structure_changed.emit()
        self._changed()
        self._schedule_spares(SPARE_ROW_DELAY_MS)
        first = next(iter(group.editors.values()), None)
        if first is not None:
            first.setFocus(Qt.FocusReason.OtherFocusReason)

    def remove_group(self, group: _OptionGroup) -> None:
        self._discard(group)
        self.structure_changed.emit()
        self._changed()

    def move_group(self, group: _OptionGroup, step: int) -> None:
        groups = self._groups[group.option.name]
        index = groups.index(group)
        target = index + step
        if not 0 <= target < len(groups):
            return
        low, high = min(index, target), max(index, target)
        groups[low], groups[high] = groups[high], groups[low]
        # Moving the row that is now lower to its place puts the other one in place too.
        moved = groups[high]
        self._move_widget(moved, self._layout_index(group.option.name, high))
        for position in (low, high):
            self._place_group(group.option.name, position)
        self._renumber(group.option.name, low, high + 1)
        self.structure_changed.emit()
        self._changed()

    def row_count(self, option_name: str | None = None) -> int:
        name = option_name or self.spec_field.collection_options[0].name
        return len(self._groups[name])

    def _option(self, name: str) -> CollectionOption:
        for option in self.spec_field.collection_options:
            if option.name == name:
                return option
        raise KeyError(name)

    def _layout_index(self, option_name: str, index: int) -> int:
        """Return the position on screen, among all rows, of row `index` of an option."""
        position = 0
        for name, groups in self._groups.items():
            if name == option_name:
                return position + index
            position += len(groups)
        raise KeyError(option_name)

    def _insert(self, option: CollectionOption, value: dict[str, Any]) -> _OptionGroup:
        """Append a row to an option's rows, placing its one widget in a block."""
        groups = self._groups[option.name]
        index = len(groups)
        block, block_index = self._slot(self._layout_index(option.name, index), self._rows())
        spare = self._spares.pop(option.name, None)
        group = spare if spare is not None else self._new_group(option, block)
        # A spare's signals are blocked, so setting its value reports no change.
        group.set_value(copy_json(value))
        group.blockSignals(False)
        if group.has_expression:
            self._expression_rows[group] = None
        groups.append(group)
        block.rows_layout.insertWidget(block_index, group)
        if spare is not None:
            # A layout shows a new child widget by itself, but not one hidden explicitly.
            spare.show()
        if block.rows_layout.count() > 2 * ROWS_PER_BLOCK:
            self._split(block)
        self._place_group(option.name, index)
        self._renumber(option.name, max(index - 1, 0))
        self._update_state()
        return group

    def _new_group(self, option: CollectionOption, parent: QWidget) -> _OptionGroup:
        group = _OptionGroup(option, movable=self.spec_field.multiple_values, parent=parent)
        group.expression_changed.connect(self._on_row_expression_changed)
        group.value_changed.connect(self._changed)
        group.structure_changed.connect(self._on_nested_structure_changed)
        group.remove_requested.connect(self.remove_group)
        group.move_requested.connect(self.move_group)
        return group

    # -- spare rows -----------------------------------------------------------------------

    def _schedule_spares(self, delay_ms: int) -> None:
        if not self.spec_field.multiple_values:
            return
        if all(option.name in self._spares for option in self.spec_field.collection_options):
            return
        self._spare_timer.start(delay_ms)

    def _build_spares(self) -> None:
        """Build a hidden spare row for each option that has none."""
        for option in self.spec_field.collection_options:
            if option.name in self._spares:
                continue
            # In the last block, where an added row usually goes, so that adding it needs
            # no new parent.
            parent = self._blocks[-1] if self._blocks else self.body
            group = self._new_group(option, parent)
            group.hide()
            self._keep_as_spare(group)
            # Polished now rather than when the row is first shown, during the click on Add.
            group.ensurePolished()

    def _keep_as_spare(self, group: _OptionGroup) -> bool:
        """Keep a hidden row, outside every layout, as its option's spare; return whether kept.

        The row's signals are blocked and its paths end in `:spare`, so no lookup by path finds
        it.
        """
        name = group.option.name
        if not self.spec_field.multiple_values or name in self._spares:
            return False
        if not group.is_reusable():
            return False
        group.blockSignals(True)
        group.set_path(f"{self._path}.{name}:spare")
        self._spares[name] = group
        return True

    def _on_row_expression_changed(self, group: _OptionGroup) -> None:
        if group.has_expression:
            self._expression_rows[group] = None
        else:
            self._expression_rows.pop(group, None)

    def _on_nested_structure_changed(self) -> None:
        # A nested collection added, removed or moved rows, so its leaves' paths changed.
        self._leaf_paths = None
        self.structure_changed.emit()

    # -- row blocks -----------------------------------------------------------------------

    def _rows(self) -> list[_OptionGroup]:
        """Return every row of every option, in screen order."""
        return [group for groups in self._groups.values() for group in groups]

    def _slot(
        self, position: int, others: list[_OptionGroup], new_block: bool = True
    ) -> tuple[_RowBlock, int]:
        """Return the block, and the index in it, for a row at screen `position` among `others`.

        A row after the last row of a full block starts a new block, unless `new_block` is
        False.
        """
        if position > 0:
            previous = others[position - 1]
            block = _block_of(previous)
            index = block.rows_layout.indexOf(previous) + 1
            full = index >= ROWS_PER_BLOCK and index == block.rows_layout.count()
            if full and new_block:
                return self._add_block(self._blocks.index(block) + 1), 0
            return block, index
        if others:
            return _block_of(others[0]), 0
        return self._add_block(0), 0

    def _add_block(self, position: int) -> _RowBlock:
        block = _RowBlock(self.body)
        self._blocks.insert(position, block)
        self.rows_layout.insertWidget(position, block)
        return block

    def _remove_block(self, block: _RowBlock) -> None:
        self._blocks.remove(block)
        self.rows_layout.removeWidget(block)
        for spare in self._spares.values():
            if spare.parentWidget() is block:
                spare.setParent(self.body)
        # Hidden before it leaves the window, as _discard does with rows.
        block.hide()
        block.setParent(None)
        block.deleteLater()

    def _split(self, block: _RowBlock) -> None:
        """Move the rows after the first ROWS_PER_BLOCK of `block` into a new block after it."""
        following = self._add_block(self._blocks.index(block) + 1)
        while block.rows_layout.count() > ROWS_PER_BLOCK:
            item = block.rows_layout.itemAt(ROWS_PER_BLOCK)
            row = item.widget() if item is not None else None
            if not isinstance(row, _OptionGroup):
                break
            self._reparent(row, following, following.rows_layout.count())

    def _move_widget(self, group: _OptionGroup, position: int) -> None:
        """Move a row's widget to screen `position` among the rows."""
        old_block = _block_of(group)
        old_block.rows_layout.removeWidget(group)
        others = [row for row in self._rows() if row is not group]
        block, index = self._slot(position, others, new_block=False)
        if block is old_block:
            block.rows_layout.insertWidget(index, group)
            return
        self._reparent(group, block, index)
        if old_block.rows_layout.count() == 0:
            self._remove_block(old_block)

    def _reparent(self, group: _OptionGroup, block: _RowBlock, index: int) -> None:
        """Put a row into another block at `index`, keeping the keyboard focus inside it."""
        focus = QApplication.focusWidget()
        had_focus = focus is not None and group.isAncestorOf(focus)
        _block_of(group).rows_layout.removeWidget(group)
        block.rows_layout.insertWidget(index, group)
        # Reparenting hides the row until the next event-loop pass, and a hidden widget cannot
        # take the focus back.
        group.show()
        if had_focus and focus is not None:
            focus.setFocus(Qt.FocusReason.OtherFocusReason)

    def _place_group(self, option_name: str, index: int) -> None:
        """Put the Tab order of row `index` right after whatever precedes it on screen."""
        before: QWidget = self.header
        for name, groups in self._groups.items():
            if name == option_name:
                if index > 0:
                    before = groups[index - 1].focus_widgets()[-1]
                break
            if groups:
                before = groups[-1].focus_widgets()[-1]
        chain_tab_order(before, self._groups[option_name][index].focus_widgets())

    def _discard(self, group: _OptionGroup) -> None:
        groups = self._groups[group.option.name]
        index = groups.index(group)
        groups.pop(index)
        self._expression_rows.pop(group, None)
        self._forget_paths(group)
        block = _block_of(group)
        block.rows_layout.removeWidget(group)
        group.blockSignals(True)
        # Hidden before it leaves the window: unparenting a visible row took the window's
        # activation away (seen with the offscreen platform), so shortcuts stopped working.
        group.hide()
        if not self._keep_as_spare(group):
            group.setParent(None)
            group.deleteLater()
        if block.rows_layout.count() == 0:
            self._remove_block(block)
        self._renumber(group.option.name, max(index - 1, 0))
        self._update_state()

    def _renumber(self, option_name: str, start: int = 0, stop: int | None = None) -> None:
        """Set the paths and the move buttons' state of rows `start` to `stop` of an option."""
        groups = self._groups[option_name]
        for index in range(start, len(groups) if stop is None else stop):
            group = groups[index]
            suffix = f"[{index}]" if self.spec_field.multiple_values else ""
            self._forget_paths(group)
            group.set_path(f"{self._path}.{option_name}{suffix}")
            if self._leaf_paths is not None:
                for leaf in group.leaf_fields():
                    self._leaf_paths[leaf.path] = leaf
            if group.up_button is not None and group.down_button is not None:
                group.up_button.setEnabled(index > 0)
                group.down_button.setEnabled(index < len(groups) - 1)

    def _forget_paths(self, group: _OptionGroup) -> None:
        """Remove a row's leaves from the path index, where another row has not taken the path."""
        if self._leaf_paths is None:
            return
        for leaf in group.leaf_fields():
            if self._leaf_paths.get(leaf.path) is leaf:
                del self._leaf_paths[leaf.path]

    def _update_state(self) -> None:
        full = not self.spec_field.multiple_values and all(self._groups.values())
        self.add_button.setVisible(not full)
        count = sum(len(groups) for groups in self._groups.values())
        title = self.spec_field.display_name
        if self.spec_field.multiple_values and count:
            title = f"{title} ({count})"
        self.header.setText(title)

    def _changed(self) -> None:
        self._update_state()
        self.value_changed.emit()

    def _on_header_toggled(self, expanded: bool) -> None:
        self.body.setVisible(expanded)
        self.header.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)


def _block_of(group: _OptionGroup) -> _RowBlock:
    block = group.parentWidget()
    if not isinstance(block, _RowBlock):
        raise RuntimeError(f"row {group.objectName()!r} is not in a row block")
    return block


EDITOR_CLASSES: dict[str, type] = {
    "string": StringEditor,
    "boolean": BooleanEditor,
    "options": OptionsEditor,
    "number": NumberEditor,
    "fixedCollection": FixedCollectionEditor,
}
