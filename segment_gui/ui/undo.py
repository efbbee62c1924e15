"""Undo and redo for the generated forms, kept as snapshots of their values.

Each step contains the form's values before and after it. The form reports changes without
saying what changed. A change made while no text box of the form has the focus (a choice, a
check box, a click on Add or Remove) is a step of its own at once. Typing stays one step until
the user pauses (`PAUSE_MS`), moves the focus or presses a mouse button, so a typed word is one
step. Ctrl+Z in a text box undoes a form step rather than the box's own edit,
so there is one history, not one per box.

A Python event filter on the whole application costs a call into Python for every event, about
400 of them when a collection row is added. So the history filters the application's events
only while a typing step is open, to see mouse presses, and otherwise filters the events of the
focused form widget only, to see Ctrl+Z and the redo keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QTextEdit,
    QWidget,
)

from segment_gui.changes import describe_change
from segment_gui.spec import Field
from segment_gui.ui.form import GeneratedForm

PAUSE_MS = 500
REDO_KEYS = (QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y"))


@dataclass
class _Tracked:
    form: GeneratedForm
    fields: Sequence[Field]
    state: dict[str, Any]
    pending: bool = False
    label: str = field(default="")


class _Step(QUndoCommand):
    def __init__(
        self,
        history: FormHistory,
        tracked: _Tracked,
        before: dict[str, Any],
        after: dict[str, Any],
    ) -> None:
        change = describe_change(tracked.fields, before, after)
        super().__init__(change.text)
        self._history = history
        self._tracked = tracked
        self._before = before
        self._after = after
        self._path = change.path
        # The change is already on screen when the step is pushed.
        self._done = True

    def redo(self) -> None:
        if self._done:
            self._done = False
            return
        self._history.apply(self._tracked, self._after, self._path)

    def undo(self) -> None:
        self._history.apply(self._tracked, self._before, self._path)


# Widgets where a change comes from typing, so one step lasts until a pause.
TEXT_ENTRY = (QLineEdit, QPlainTextEdit, QTextEdit, QAbstractSpinBox)


class FormHistory(QObject):
    """One undo history over several forms, with the state of the Undo and Redo actions."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.stack = QUndoStack(self)
        self._tracked: list[_Tracked] = []
        self._applying = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PAUSE_MS)
        self._timer.timeout.connect(self.flush)
        # Bound methods, not lambdas, so Qt drops the connections when this object goes.
        self.stack.indexChanged.connect(self._on_index_changed)
        # Whether this object filters the application's events, which it does while a typing
        # step is open.
        self._watching_mouse = False
        # Whether rows were added, removed or moved since the last change was recorded.
        self._rows_changed = False
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._on_focus_changed)
            focus = app.focusWidget()
            if focus is not None and self._inside_form(focus):
                focus.installEventFilter(self)

    def track(self, form: GeneratedForm, fields: Sequence[Field]) -> None:
        tracked = _Tracked(form, fields, form.values_snapshot())
        self._tracked.append(tracked)
        form.values_changed.connect(lambda: self._on_changed(tracked))
        form.rows_changed.connect(self._on_rows_changed)

    # -- state ----------------------------------------------------------------------------

    def can_undo(self) -> bool:
        return self.stack.canUndo() or self.has_pending()

    def can_redo(self) -> bool:
        return self.stack.canRedo() and not self.has_pending()

    def undo_text(self) -> str:
        """Name the step Undo would revert; empty while a step is still open."""
        return "" if self.has_pending() else self.stack.undoText()

    def redo_text(self) -> str:
        return "" if self.has_pending() else self.stack.redoText()

    def undo(self) -> None:
        self.flush()
        self.stack.undo()

    def redo(self) -> None:
        self.flush()
        self.stack.redo()

    def reset(self) -> None:
        """Forget every step and take the forms as they are now (a preset was loaded)."""
        self._timer.stop()
        for tracked in self._tracked:
            tracked.state = tracked.form.values_snapshot()
            tracked.pending = False
        self._rows_changed = False
        self._watch_mouse(False)
        self.stack.clear()
        self.changed.emit()

    def flush(self) -> None:
        """Close the step in progress, if any, so it can be undone."""
        self._timer.stop()
        for tracked in self._tracked:
            if not tracked.pending:
                continue
            tracked.pending = False
            after = tracked.form.values_snapshot()
            if after != tracked.state:
                before, tracked.state = tracked.state, after
                self.stack.push(_Step(self, tracked, before, after))
        self._watch_mouse(False)

    def apply(self, tracked: _Tracked, values: dict[str, Any], path: str) -> None:
        """Show `values` in the tracked form without recording a new step."""
        self._applying = True
        try:
            tracked.form.set_values(values)
        finally:
            self._applying = False
        tracked.state = tracked.form.values_snapshot()
        tracked.pending = False
        self._rows_changed = False
        self._watch_mouse(self.has_pending())
        # Rows the form has just rebuilt are shown by a queued call, and a hidden widget
        # cannot take the focus, so focusing waits for the event loop.
        form = tracked.form
        QTimer.singleShot(0, form, lambda: _focus(form, path))

    # -- events ---------------------------------------------------------------------------

    def has_pending(self) -> bool:
        """Tell whether the forms changed since the last step was closed."""
        return any(tracked.pending for tracked in self._tracked)

    def _on_index_changed(self, _index: int) -> None:
        self.changed.emit()

    def _on_focus_changed(self, old: QWidget | None, new: QWidget | None) -> None:
        self.flush()
        # The shortcut keys go to the focused widget first, so filtering its events is enough
        # to see them.
        if old is not None:
            old.removeEventFilter(self)
        if new is not None and self._inside_form(new):
            new.installEventFilter(self)

    def _watch_mouse(self, watch: bool) -> None:
        """Start or stop filtering the application's events, which shows every mouse press.

        An application-wide Python filter costs a call into Python for every event. Its first
        event for an object of one of Qt's private classes also makes PySide6 create every
        class not created yet, with about 190 enums. That took 10 to 30 ms when the window
        installed the filter at start-up.
        """
        app = QApplication.instance()
        if watch == self._watching_mouse or app is None:
            return
        if watch:
            app.installEventFilter(self)
        else:
            app.removeEventFilter(self)
        self._watching_mouse = watch

    def _on_rows_changed(self) -> None:
        self._rows_changed = True

    def _on_changed(self, tracked: _Tracked) -> None:
        if self._applying:
            return
        was_pending = self.has_pending()
        tracked.pending = True
        focus = QApplication.focusWidget()
        typing = isinstance(focus, TEXT_ENTRY) and self._inside_form(focus)
        # A row's Remove, Up and Down buttons take no focus, so the text box keeps it.
        typing = typing and not self._rows_changed
        self._rows_changed = False
        if not typing:
            # A choice, a check box or a button click is a step of its own, closed at once.
            # Only typing stays open until a pause, so no event filter is needed here.
            self.flush()
            if not was_pending:
                self.changed.emit()
            return
        self._timer.start()
        if not was_pending:
            self._watch_mouse(True)
            self.changed.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress:
            if self.has_pending():
                self.flush()
        elif kind == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            if self._is_history_key(event) and self._inside_form(watched):
                # Not accepted, so the key goes to the window's Undo or Redo action.
                event.ignore()
                return True
        return False

    @staticmethod
    def _is_history_key(event: QKeyEvent) -> bool:
        if event.matches(QKeySequence.StandardKey.Undo):
            return True
        if event.matches(QKeySequence.StandardKey.Redo):
            return True
        pressed = QKeySequence(event.keyCombination())
        return any(
            pressed.matches(keys) == QKeySequence.SequenceMatch.ExactMatch for keys in REDO_KEYS
        )

    def _inside_form(self, watched: QObject) -> bool:
        forms = [tracked.form for tracked in self._tracked]
        node: QObject | None = watched
        while node is not None:
            if node in forms:
                return True
            node = node.parent()
        return False


def _focus(form: GeneratedForm, path: str) -> None:
    """Focus the editor at `path`, or the nearest one above it, and scroll it into view."""
    while path:
        for name in (path, f"{path}:expression"):
            target = form.findChild(QWidget, name)
            if target is None or not target.isVisibleTo(form):
                continue
            widget = target if _takes_tab_focus(target) else _first_focusable(target)
            if widget is not None:
                widget.setFocus(Qt.FocusReason.OtherFocusReason)
                _ensure_visible(widget)
                return
        path = _parent_path(path)


def _takes_tab_focus(widget: QWidget) -> bool:
    return bool(widget.focusPolicy().value & Qt.FocusPolicy.TabFocus.value) and widget.isEnabled()


def _first_focusable(widget: QWidget) -> QWidget | None:
    for child in widget.findChildren(QWidget):
        if child.isVisibleTo(widget) and _takes_tab_focus(child):
            return child
    return None


def _ensure_visible(widget: QWidget) -> None:
    node = widget.parentWidget()
    while node is not None:
        if isinstance(node, QScrollArea):
            node.ensureWidgetVisible(widget)
            return
        node = node.parentWidget()


def _parent_path(path: str) -> str:
    if path.endswith("]"):
        return path[: path.rindex("[")]
    return path.rpartition(".")[0]
