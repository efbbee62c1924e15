"""The generated form: visible fields of a spec field list, kept in sync with a flat value dict.

The same class renders the node parameters (resource, operation and the operation's fields) and
the node settings. Display rules decide which fields are visible, with no special case for any
field name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QLabel, QLayout, QVBoxLayout, QWidget

from segment_gui.model import copy_json, visible_fields
from segment_gui.payload import Problem
from segment_gui.spec import Field
from segment_gui.ui.editors import (
    FixedCollectionEditor,
    LeafField,
    chain_tab_order,
    contains_expression,
    create_labelled_editor,
    focus_predecessor,
)

# Messages under a field up to this many characters are shown on one line. Longer ones wrap,
# which costs a height-for-width pass over the form's layouts whenever the layout runs. Short
# hints such as "Auto: number", shown under every row, stay cheap. A longer unwrapped line
# would set the form's minimum width, and so widen the window when an error appears.
WRAP_MESSAGES_LONGER_THAN = 24
# Appended to the paths of hidden editors, so that no lookup by parameter path finds them.
HIDDEN_SUFFIX = ":hidden"
# Vertical space between two fields, in pixels.
FIELD_SPACING = 6


class _FieldBlock(QWidget):
    """The containers of consecutive spec fields that have the same display rule, in spec order.

    A block is shown while at least one of its fields is visible. `keys` lists the fields whose
    editors exist, by the id of their Field definition.
    """

    def __init__(self, display_options: Any, parent: QWidget) -> None:
        super().__init__(parent)
        self.display_options = display_options
        self.keys: list[int] = []
        # Like the form: no painting of its own, and it grows before it places its fields.
        self.setAttribute(Qt.WidgetAttribute.WA_StaticContents)
        self._layout = QVBoxLayout(self)
        self._layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(FIELD_SPACING)
        self.setVisible(False)

    def insert(self, key: int, container: QWidget, order: Callable[[int], int]) -> None:
        """Lay out `container` among the existing ones by `order` of their keys."""
        position = sum(1 for other in self.keys if order(other) < order(key))
        self.keys.insert(position, key)
        self._layout.insertWidget(position, container)


class GeneratedForm(QWidget):
    """Editors for the visible fields of `fields`, in spec order.

    `values` contains every parameter the user has set, including ones hidden now, so switching
    operation and back restores them. A message may use only `visible_values()`.
    """

    values_changed = Signal()
    # A collection's rows or sections were added, removed or moved by the user.
    rows_changed = Signal()

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
        # Editors of hidden fields are kept, hidden and renamed, so switching operation and back
        # shows the same widgets again instead of building new ones.
        self._editors: dict[int, tuple[Field, QWidget, Any]] = {}
        self._shown: set[int] = set()
        self._spec_index = {id(spec_field): index for index, spec_field in enumerate(fields)}
        # Leaf fields of the shown editors by parameter path, or None until needed after a change.
        self._leaves: dict[str, LeafField] | None = None
        # Counts the changes of which fields and rows are shown.
        self._structure_version = 0
        # For each name in _values: the value object last checked and whether it contains an
        # expression. The form replaces a value rather than changing it, so a value that is
        # the same object needs no new check.
        self._expression_checks: dict[str, tuple[Any, bool]] = {}
        self._rule_names = {
            name
            for spec_field in fields
            for conditions in (spec_field.display_options or {}).values()
            for name in conditions
        }
        # The form paints nothing itself: a taller form needs a paint of the new strip only.
        self.setAttribute(Qt.WidgetAttribute.WA_StaticContents)
        self._layout = QVBoxLayout(self)
        # The form grows before it places its fields, as FixedCollectionEditor's body does, so
        # a taller field does not first squeeze and move the fields below it.
        self._layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(FIELD_SPACING)
        # Fields in a row that share one display rule sit in one block, so a switch of
        # operation shows one block and hides one instead of each of their editors.
        self._blocks: list[_FieldBlock] = []
        self._block_of: dict[int, _FieldBlock] = {}
        for spec_field in fields:
            if not self._blocks or self._blocks[-1].display_options != spec_field.display_options:
                block = _FieldBlock(spec_field.display_options, self)
                self._layout.addWidget(block)
                self._blocks.append(block)
            self._block_of[id(spec_field)] = self._blocks[-1]
        self._layout.addStretch(1)
        # The message labels in view, with their text, by the path they show it for.
        self._labels_by_path: dict[str, tuple[QLabel, str]] = {}
        # Message labels of fields hidden since, left as they were, with their text.
        self._parked_messages: dict[QLabel, str] = {}
        # The message texts and the path index of the last show_diagnostics call.
        self._diagnostics_texts: dict[str, str] = {}
        self._diagnostics_index: dict[str, LeafField] = {}
        # The arguments and result of the last show_diagnostics call.
        self._diagnostics_key: tuple[Any, ...] | None = None
        self._diagnostics_missing: list[str] = []
        # Once the form has been painted, editors of the hidden fields are built, one per
        # event-loop pass, so that switching operation need not build them.
        self._prebuild_started = False
        self._prebuild_timer = QTimer(self)
        self._prebuild_timer.setInterval(0)
        self._prebuild_timer.timeout.connect(self._prebuild_next)
        self._reconcile()

    # -- values ---------------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """Return every value set so far, including fields hidden now."""
        return copy_json(self._values)

    def values_view(self) -> dict[str, Any]:
        """Return the stored values without copying them; the caller must not change them."""
        return self._values

    def values_snapshot(self) -> dict[str, Any]:
        """Return the values as they are now, for undo: a new top-level dict whose values are
        shared, because the form replaces a changed value instead of changing it in place.
        The caller must not change the values."""
        return dict(self._values)

    def has_expression(self) -> bool:
        """Tell whether any stored value, hidden fields' included, contains an expression."""
        found = False
        checks = self._expression_checks
        for name, value in self._values.items():
            check = checks.get(name)
            if check is None or check[0] is not value:
                check = (value, contains_expression(value))
                checks[name] = check
            found = found or check[1]
        return found

    def expression_leaves(self) -> list[LeafField]:
        """Return the shown leaf fields in expression mode, collection rows included."""
        leaves: list[LeafField] = []
        for key in self._shown:
            editor = self._editors[key][2]
            if isinstance(editor, FixedCollectionEditor):
                leaves += editor.expression_leaves()
            elif isinstance(editor, LeafField) and editor.is_expression():
                leaves.append(editor)
        return leaves

    def visible_value(self, name: str) -> Any:
        """Return the value of the visible field `name` (its default where unset), or None."""
        for key in self._shown:
            spec_field = self._editors[key][0]
            if spec_field.name == name:
                return self._value_for(spec_field)
        return None

    def visible_values(self) -> dict[str, Any]:
        """Return the visible fields with their current values (defaults where unset)."""
        result = {}
        for spec_field in self.visible_fields():
            result[spec_field.name] = copy_json(
                self._values.get(spec_field.name, spec_field.default)
            )
        return result

    def set_values(self, values: dict[str, Any]) -> None:
        """Replace all values (loading a preset); fields not in `values` go back to defaults."""
        self._values = copy_json(values)
        self._reconcile()
        for key in self._shown:
            spec_field, _container, editor = self._editors[key]
            editor.blockSignals(True)
            editor.set_value(self._values.get(spec_field.name, spec_field.default))
            editor.blockSignals(False)
        self._forget_leaves()
        self._reconcile()
        self.values_changed.emit()

    def set_value(self, name: str, value: Any) -> None:
        """Set one parameter as if the user had edited it."""
        self._values[name] = copy_json(value)
        editor = self.editor(name)
        if editor is not None:
            editor.set_value(value)
        self._after_change(name)

    def show_diagnostics(self, problems: list[Problem], hints: dict[str, str]) -> list[str]:
        """Show problems and hints under the fields they name; returns the paths not found.

        Only the labels of paths whose text or field changed since the last call are touched:
        with hundreds of rows, hiding and showing every label on each keystroke made the
        layout run again for all of them. Those paths are found with set operations on the
        texts and the path index, so a change costs Python work for the changed paths only.
        The same problems and hints for the same fields change nothing, so they return at
        once.
        """
        key = (self._structure_version, tuple(problems), tuple(hints.items()))
        if key == self._diagnostics_key:
            return list(self._diagnostics_missing)
        texts = _message_texts(problems, hints)
        index = self._leaf_index()
        previous_index = self._diagnostics_index
        previous_texts = self._diagnostics_texts
        changed = {path for path, _text in texts.items() - previous_texts.items()}
        changed.update(previous_texts.keys() - texts.keys())
        if index is not previous_index:
            # Paths that now name another field or none, after rows were added, removed or
            # moved, or fields shown or hidden.
            moved = {path for path, _leaf in index.items() - previous_index.items()}
            moved.update(previous_index.keys() - index.keys())
            changed.update(moved & (texts.keys() | previous_texts.keys()))

        labels = self._labels_by_path
        parked = self._parked_messages
        cleared: dict[QLabel, str] = {}
        updates: dict[QLabel, tuple[str, str]] = {}
        for path in changed:
            old = labels.pop(path, None)
            if old is not None:
                cleared[old[0]] = old[1]
            text = texts.get(path)
            leaf = index.get(path) if path else None
            if text is not None and leaf is not None:
                updates[leaf.message_label] = (path, text)
        for label, old_text in cleared.items():
            if label in updates or not shiboken6.isValid(label):
                continue
            if _shows_field_of(label, index):
                label.clear()
                label.hide()
            else:
                # The field is hidden now, by a switch of operation for example. Its label
                # keeps its text and stays out of sight with the field, so showing the field
                # again needs no QLabel.show, which makes Qt lay out the field at once.
                parked[label] = old_text
        for label, (path, text) in updates.items():
            # A parked label that shows this text already needs no call into Qt.
            if parked.pop(label, None) != text and label.text() != text:
                label.setWordWrap(len(text) > WRAP_MESSAGES_LONGER_THAN)
                label.setText(text)
            if label.isHidden():
                label.show()
            labels[path] = (label, text)
        for label in list(parked):
            if not shiboken6.isValid(label):
                del parked[label]
            elif _shows_field_of(label, index):
                # Shown again, but with no message now.
                del parked[label]
                label.clear()
                label.hide()

        not_found = texts.keys() - index.keys()
        missing = [path for path in texts if path in not_found] if not_found else []
        self._diagnostics_index = index
        self._diagnostics_texts = texts
        self._diagnostics_key = key
        self._diagnostics_missing = missing
        return list(missing)

    # -- fields ---------------------------------------------------------------------------

    def visible_fields(self) -> list[Field]:
        return visible_fields(self.fields, self._resolved_for_rules())

    def editor(self, name: str) -> Any:
        """Return the editor of the visible field `name`, or None."""
        for key in self._shown:
            spec_field, _container, editor = self._editors[key]
            if spec_field.name == name:
                return editor
        return None

    def leaf_fields(self) -> list[LeafField]:
        """Return the leaf fields of the visible editors, collection rows included."""
        return list(self._leaf_index().values())

    def _leaf_index(self) -> dict[str, LeafField]:
        if self._leaves is None:
            leaves: dict[str, LeafField] = {}
            for key in sorted(self._shown, key=self._spec_index.__getitem__):
                editor = self._editors[key][2]
                if isinstance(editor, FixedCollectionEditor):
                    leaves.update(editor.leaf_index())
                    continue
                for leaf in editor.leaf_fields():
                    leaves[leaf.path] = leaf
            self._leaves = leaves
        return self._leaves

    def _forget_leaves(self) -> None:
        self._leaves = None
        self._structure_version += 1

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
        """Show exactly the visible fields; hide the others and keep their editors."""
        visible = self.visible_fields()
        visible_ids = {id(f) for f in visible}
        for key in [key for key in self._shown if key not in visible_ids]:
            self._hide(key)
        for spec_field in visible:
            key = id(spec_field)
            if key in self._shown:
                continue
            if key in self._editors:
                _field, _container, editor = self._editors[key]
                editor.set_path(spec_field.name)
                editor.set_value(self._values.get(spec_field.name, spec_field.default))
                editor.blockSignals(False)
            else:
                self._create(spec_field)
            self._shown.add(key)
            self._forget_leaves()
        self._show_blocks(visible_ids)
        # An options value left over from another resource falls back to the default.
        for spec_field in visible:
            if spec_field.type == "options" and spec_field.name in self._values:
                if self._values[spec_field.name] not in spec_field.choice_values():
                    self._values[spec_field.name] = spec_field.default

    def _hide(self, key: int) -> None:
        """Stop the editor of a field from emitting changes and from being found by path.

        Its container stays where it is until _show_blocks hides it or its block.
        """
        spec_field, _container, editor = self._editors[key]
        editor.blockSignals(True)
        editor.set_path(f"{spec_field.name}{HIDDEN_SUFFIX}")
        self._shown.discard(key)
        self._forget_leaves()

    def _show_blocks(self, visible_ids: set[int]) -> None:
        """Show the blocks that contain a visible field, with exactly their visible fields.

        Containers are shown or hidden before their block is shown, while that costs Qt no
        show events. A block that has no visible field is hidden as a whole, and its
        containers keep their state for the next time it is shown.
        """
        # Showing a child of a visible widget makes Qt activate the parent's layout at once, so
        # the form's layout is off while blocks change and runs once afterwards.
        self._layout.setEnabled(False)
        try:
            for block in self._blocks:
                has_visible_field = any(key in visible_ids for key in block.keys)
                if not has_visible_field:
                    if not block.isHidden():
                        block.hide()
                    continue
                for key in block.keys:
                    container = self._editors[key][1]
                    if (key in visible_ids) == container.isHidden():
                        container.setVisible(key in visible_ids)
                if block.isHidden():
                    block.show()
        finally:
            self._layout.setEnabled(True)
        self._layout.activate()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        super().paintEvent(event)
        # Started by the first paint, so that building hidden editors does not delay it.
        if not self._prebuild_started:
            self._prebuild_started = True
            self._prebuild_timer.start()

    def _prebuild_next(self) -> None:
        """Create the editor of one field that has none yet, hidden, for a fast first switch."""
        for spec_field in self.fields:
            key = id(spec_field)
            if key not in self._editors:
                self._create(spec_field)
                self._shown.add(key)
                self._hide(key)
                return
        self._prebuild_timer.stop()
        # Polishing (style, font, palette) and the first size hints of a widget are computed
        # when it is first shown. Doing both now keeps them out of the first switch to each
        # operation.
        for block in self._blocks:
            block.ensurePolished()
        for _spec_field, container, _editor in self._editors.values():
            container.sizeHint()

    def _create(self, spec_field: Field) -> tuple[QWidget, Any]:
        """Create a field's editor, hidden, in spec order in its block and in the Tab order."""
        block = self._block_of[id(spec_field)]
        container, editor = create_labelled_editor(
            spec_field, spec_field.name, block, allow_expressions=self.allow_expressions
        )
        # Hidden until _show_blocks shows it, in a block that may be shown already.
        container.setVisible(False)
        editor.set_value(self._values.get(spec_field.name, spec_field.default))
        editor.value_changed.connect(lambda e=editor, f=spec_field: self._on_editor_changed(f, e))
        if isinstance(editor, FixedCollectionEditor):
            editor.structure_changed.connect(self._forget_leaves)
            editor.structure_changed.connect(self.rows_changed)
        position = self._spec_index[id(spec_field)]
        earlier = [key for key in self._editors if self._spec_index[key] < position]
        later = [key for key in self._editors if self._spec_index[key] > position]
        earlier.sort(key=self._spec_index.__getitem__)
        later.sort(key=self._spec_index.__getitem__)
        block.insert(id(spec_field), container, self._spec_index.__getitem__)
        if earlier:
            before = self._editors[earlier[-1]][2].focus_widgets()[-1]
            chain_tab_order(before, editor.focus_widgets())
        elif later:
            first = self._editors[later[0]][2].focus_widgets()[0]
            chain_tab_order(focus_predecessor(first), editor.focus_widgets())
        self._editors[id(spec_field)] = (spec_field, container, editor)
        return container, editor

    def _on_editor_changed(self, spec_field: Field, editor: Any) -> None:
        value = editor.value()
        self._values[spec_field.name] = value
        if isinstance(editor, FixedCollectionEditor):
            # The collection tracks its rows' expressions, which saves walking every row.
            self._expression_checks[spec_field.name] = (value, editor.has_expression())
        self._after_change(spec_field.name)

    def _after_change(self, name: str) -> None:
        if name in self._rule_names:
            self._reconcile()
        self.values_changed.emit()


def _shows_field_of(label: QLabel, fields: dict[str, LeafField]) -> bool:
    """Return whether `label` is the message label of a field in `fields`, the shown ones."""
    leaf = label.parentWidget()
    return isinstance(leaf, LeafField) and fields.get(leaf.path) is leaf


def _message_texts(problems: list[Problem], hints: dict[str, str]) -> dict[str, str]:
    """Return the text under each path: its problems, one per line, then its hint."""
    lines: dict[str, list[str]] = {}
    for problem in problems:
        prefix = "Error: " if problem.is_error else "Warning: "
        lines.setdefault(problem.path, []).append(prefix + problem.message)
    if not lines:
        return dict(hints)
    texts: dict[str, str] = {}
    for path, problem_lines in lines.items():
        hint = hints.get(path)
        texts[path] = "\n".join(problem_lines if hint is None else [*problem_lines, hint])
    texts.update({path: hint for path, hint in hints.items() if path not in texts})
    return texts
