"""The generated form: visible fields of a spec field list, kept in sync with a flat value dict.

The same class renders the node parameters (resource, operation and the operation's fields) and
the node settings. Display rules decide which fields are visible, with no special case for any
field name.
"""

from __future__ import annotations

import copy
from typing import Any

import shiboken6
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from segment_gui.model import visible_fields
from segment_gui.payload import Problem
from segment_gui.spec import Field
from segment_gui.ui.editors import LeafField, create_labelled_editor


class GeneratedForm(QWidget):
    """Editors for the visible fields of `fields`, in spec order.

    `values` contains every parameter the user has set, including ones hidden now, so switching
    operation and back restores them. A message may use only `visible_values()`.
    """

    values_changed = Signal()

    def __init__(
        self,
        fields: tuple[Field, ...],
        parent: QWidget | None = None,
        allow_expressions: bool = True,
    ) -> None:
        super().__init__(parent)
        self.fields = fields
        self.allow_expressions = allow_expressions
        self._values: dict[str, Any] = {}
        # Editors and their label containers, keyed by the Field definition (not its name):
        # another operation's `userId` is a different definition and gets its own editor.
        self._editors: dict[int, tuple[Field, QWidget, Any]] = {}
        self._rule_names = {
            name
            for spec_field in fields
            for conditions in (spec_field.display_options or {}).values()
            for name in conditions
        }
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self._layout.addStretch(1)
        self._visible_messages: list[QLabel] = []
        self._reconcile()

    # -- values ---------------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """Return every value set so far, including fields hidden now."""
        return copy.deepcopy(self._values)

    def visible_values(self) -> dict[str, Any]:
        """Return the visible fields with their current values (defaults where unset)."""
        result = {}
        for spec_field in self.visible_fields():
            result[spec_field.name] = copy.deepcopy(
                self._values.get(spec_field.name, spec_field.default)
            )
        return result

    def set_values(self, values: dict[str, Any]) -> None:
        """Replace all values (loading a preset); fields not in `values` go back to defaults."""
        self._values = copy.deepcopy(values)
        self._reconcile()
        for spec_field, _container, editor in self._editors.values():
            editor.blockSignals(True)
            editor.set_value(self._values.get(spec_field.name, spec_field.default))
            editor.blockSignals(False)
        self._reconcile()
        self.values_changed.emit()

    def set_value(self, name: str, value: Any) -> None:
        """Set one parameter as if the user had edited it."""
        self._values[name] = copy.deepcopy(value)
        editor = self.editor(name)
        if editor is not None:
            editor.set_value(value)
        self._after_change(name)

    def show_diagnostics(self, problems: list[Problem], hints: dict[str, str]) -> list[str]:
        """Show problems and hints under the fields they name; returns the paths not found.

        Labels whose text did not change are left alone: with hundreds of rows, hiding and
        showing every label on each keystroke made the layout run again for all of them.
        """
        lines: dict[str, list[str]] = {}
        for problem in problems:
            prefix = "Error: " if problem.is_error else "Warning: "
            lines.setdefault(problem.path, []).append(prefix + problem.message)
        for path, hint in hints.items():
            lines.setdefault(path, []).append(hint)
        fields = {leaf.editor.objectName(): leaf for leaf in self.findChildren(LeafField)}
        new_texts: dict[QLabel, str] = {}
        missing: list[str] = []
        for path, texts in lines.items():
            leaf = fields.get(path) if path else None
            if leaf is None:
                missing.append(path)
                continue
            new_texts[leaf.message_label] = "\n".join(texts)
        for previous in self._visible_messages:
            if previous not in new_texts and shiboken6.isValid(previous):
                previous.clear()
                previous.hide()
        for label, text in new_texts.items():
            if label.text() != text:
                label.setText(text)
            if label.isHidden():
                label.show()
        self._visible_messages = list(new_texts)
        return missing

    # -- fields ---------------------------------------------------------------------------

    def visible_fields(self) -> list[Field]:
        return visible_fields(self.fields, self._resolved_for_rules())

    def editor(self, name: str) -> Any:
        for spec_field, _container, editor in self._editors.values():
            if spec_field.name == name:
                return editor
        return None

    def _resolved_for_rules(self) -> dict[str, Any]:
        """Values the display rules see: set values, else defaults of the visible definitions."""
        resolved: dict[str, Any] = {}
        for _ in range(len(self.fields) + 1):
            current = visible_fields(self.fields, {**resolved, **self._known_values()})
            updated = {f.name: self._value_for(f) for f in current}
            if updated == resolved:
                break
            resolved = updated
        return resolved

    def _known_values(self) -> dict[str, Any]:
        return {name: value for name, value in self._values.items() if name in self._rule_names}

    def _value_for(self, spec_field: Field) -> Any:
        value = self._values.get(spec_field.name, spec_field.default)
        if spec_field.type == "options" and value not in spec_field.choice_values():
            return spec_field.default
        return value

    def _reconcile(self) -> None:
        """Show exactly the visible fields, reusing editors whose definition stays visible."""
        visible = self.visible_fields()
        visible_ids = {id(f) for f in visible}
        for key in [key for key in self._editors if key not in visible_ids]:
            _field, container, editor = self._editors.pop(key)
            # Detach at once: a hidden editor must neither emit changes nor be found by path.
            editor.blockSignals(True)
            self._layout.removeWidget(container)
            container.hide()  # see FixedCollectionEditor._discard
            container.setParent(None)
            container.deleteLater()
        for spec_field in visible:
            if id(spec_field) not in self._editors:
                self._create(spec_field)
        for index, spec_field in enumerate(visible):
            _field, container, _editor = self._editors[id(spec_field)]
            if self._layout.indexOf(container) != index:
                self._layout.removeWidget(container)
                self._layout.insertWidget(index, container)
            container.show()
        # An options value left over from another resource falls back to the default.
        for spec_field in visible:
            if spec_field.type == "options" and spec_field.name in self._values:
                if self._values[spec_field.name] not in spec_field.choice_values():
                    self._values[spec_field.name] = spec_field.default

    def _create(self, spec_field: Field) -> None:
        container, editor = create_labelled_editor(
            spec_field, spec_field.name, self, allow_expressions=self.allow_expressions
        )
        editor.set_value(self._values.get(spec_field.name, spec_field.default))
        editor.value_changed.connect(lambda e=editor, f=spec_field: self._on_editor_changed(f, e))
        self._editors[id(spec_field)] = (spec_field, container, editor)

    def _on_editor_changed(self, spec_field: Field, editor: Any) -> None:
        self._values[spec_field.name] = editor.value()
        self._after_change(spec_field.name)

    def _after_change(self, name: str) -> None:
        if name in self._rule_names:
            self._reconcile()
        self.values_changed.emit()
