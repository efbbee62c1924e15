"""Widgets and helpers of the main window: status lines, tab pages built on first use, and a
hook that runs once after the window's first paint."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QFocusEvent, QKeyEvent, QTextCursor
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from segment_gui.ui.scroll import FittingScrollArea

if TYPE_CHECKING:
    from PySide6.QtGui import QResizeEvent
    from PySide6.QtWidgets import QPlainTextEdit


class TextLine(QScrollArea):
    """A word-wrapped label that is exactly as tall as its text, in a frameless scroll area.

    A new text in a plain QLabel makes the layouts of all its ancestors run again, one per
    event-loop pass, up to the main window. A scroll area does not pass that on, so here a new
    text costs a layout of the whole window only when it changes the number of lines.
    """

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        # Top-aligned, so the text is in view even before the scroll area has resized the
        # label, which can happen after the window's first paint.
        self.label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setWidget(self.label)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        # A status line is read, not edited, so Tab passes it by.
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFixedHeight(0)

    def set_text(self, text: str) -> None:
        self.label.setText(text)
        self._fit()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        # Without a frame or scroll bars the viewport fills the contents rectangle. Asking
        # for the viewport itself made PySide6 create about 40 unrelated classes' enums on
        # first use (about 4 ms at start-up).
        width = self.contentsRect().width()
        height = self.label.heightForWidth(width) if self.label.text() else 0
        self.setFixedHeight(max(height, 0))


class StatusLines(TextLine):
    """A word-wrapped label of a fixed number of lines that scrolls when its text is longer.

    Its height does not depend on the text, so a new text never makes the layouts of its
    ancestors run again. While the text does not fit, a scroll bar appears and the area takes
    the keyboard focus, so the arrow, Page, Home and End keys scroll it. The whole text is the
    label's accessible text and the area's accessible description either way.
    """

    def __init__(self, parent: QWidget, visible_lines: int) -> None:
        self._visible_lines = visible_lines
        self._frame_width = 0
        super().__init__(parent)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        # The scroll area sets the range once it has laid out a new text, in the next
        # event-loop pass, so the text is laid out only there.
        self.verticalScrollBar().rangeChanged.connect(self._on_range_changed)
        self._measure_frame()
        self._fit()

    def set_text(self, text: str) -> None:
        self.label.setText(text)
        # Screen readers usually announce a focused widget's description after its name.
        self.setAccessibleDescription(text)

    def overflows(self) -> bool:
        """Return whether the text is taller than the area, so that the area scrolls."""
        return self.verticalScrollBar().maximum() > 0

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if event.type() == QEvent.Type.StyleChange:
            self._measure_frame()
            self._fit()
        elif event.type() == QEvent.Type.FontChange:
            self._fit()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        # QAbstractScrollArea scrolls with the arrow and Page keys only (Qt 6.11).
        scroll_bar = self.verticalScrollBar()
        if event.key() == Qt.Key.Key_Home:
            scroll_bar.setValue(scroll_bar.minimum())
        elif event.key() == Qt.Key.Key_End:
            scroll_bar.setValue(scroll_bar.maximum())
        else:
            super().keyPressEvent(event)

    def focusInEvent(self, event: QFocusEvent) -> None:  # noqa: N802 - Qt override
        super().focusInEvent(event)
        # NoFrame shows no focus, so the frame marks the area that the keys scroll.
        self._show_focus_frame(True)

    def focusOutEvent(self, event: QFocusEvent) -> None:  # noqa: N802 - Qt override
        super().focusOutEvent(event)
        self._show_focus_frame(False)

    def _show_focus_frame(self, visible: bool) -> None:
        # Without the frame, viewport margins of the frame's width take its place, so the text
        # does not move and no part of the line after the last whole one shows.
        self.setFrameShape(QFrame.Shape.StyledPanel if visible else QFrame.Shape.NoFrame)
        margin = 0 if visible else self._frame_width
        self.setViewportMargins(margin, margin, margin, margin)

    def _measure_frame(self) -> None:
        # The frame's own width is read rather than the style's metric, because importing
        # QStyle creates its Python enums, about 5 ms at start-up.
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._frame_width = self.frameWidth()
        self._show_focus_frame(self.hasFocus())

    def _fit(self) -> None:
        metrics = self.label.fontMetrics()
        height = metrics.lineSpacing() * (self._visible_lines - 1) + metrics.height()
        # Room for the focus frame, so that showing it changes no size.
        height += 2 * self._frame_width
        if self.height() != height or self.minimumHeight() != height:
            self.setFixedHeight(height)

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        policy = Qt.FocusPolicy.StrongFocus if maximum > 0 else Qt.FocusPolicy.NoFocus
        if self.focusPolicy() != policy:
            self.setFocusPolicy(policy)


def replace_changed_text(editor: QPlainTextEdit, text: str) -> None:
    """Set the editor's text by replacing only the part that differs from its current text.

    For a one-character edit in a long preview, Qt then lays out one block again instead of
    the whole document, and the view keeps its scroll position.
    """
    current = editor.toPlainText()
    if current == text:
        return
    start = _common_prefix_length(current, text)
    tail = _common_prefix_length(current[start:][::-1], text[start:][::-1])
    end_current, end_text = len(current) - tail, len(text) - tail
    cursor = QTextCursor(editor.document())
    # QTextDocument positions count UTF-16 code units, Python strings count code points.
    cursor.setPosition(_utf16_length(current[:start]))
    cursor.setPosition(_utf16_length(current[:end_current]), QTextCursor.MoveMode.KeepAnchor)
    cursor.insertText(text[start:end_text])


def _common_prefix_length(first: str, second: str) -> int:
    """Return the length of the longest common prefix, by bisection on slice comparisons."""
    low, high = 0, min(len(first), len(second))
    while low < high:
        middle = (low + high + 1) // 2
        if first[:middle] == second[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _utf16_length(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def scrolling(widget: QWidget, parent: QWidget) -> QScrollArea:
    """Return a vertical scroll area around `widget`, at least as wide as `widget` needs."""
    return FittingScrollArea(widget, parent)


class LazyPage(QWidget):
    """A tab page whose content widget is built the first time it is shown or used."""

    def __init__(self, build: Callable[[QWidget], QWidget]) -> None:
        super().__init__()
        self._build = build
        self.built: QWidget | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def content(self) -> QWidget:
        """Return the content widget, building it on the first call."""
        if self.built is None:
            self.built = self._build(self)
            self._layout.addWidget(self.built)
            if self.isVisible():
                # A child added to a visible widget stays hidden until shown.
                self.built.show()
        return self.built


class FirstPaintWatch(QObject):
    """A one-shot event filter that calls `callback` once the first paint of `window` is done."""

    def __init__(self, window: QWidget, callback: Callable[[], None]) -> None:
        super().__init__(window)
        self._window = window
        self._callback = callback
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint:
            self._window.removeEventFilter(self)
            # A zero-delay timer runs after the paint pass has finished.
            QTimer.singleShot(0, self._callback)
        return False
