"""A vertical scroll area that never scrolls sideways."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, Qt
from PySide6.QtWidgets import QScrollArea, QWidget


class FittingScrollArea(QScrollArea):
    """Scroll area whose minimum width is its widget's minimum width; it scrolls vertically only.

    A splitter or layout then gives the area room for the widest row of the form. At large
    font sizes the window grows or a neighbouring column shrinks, so the form is never cut off
    on the right behind a horizontal scroll bar.
    """

    def __init__(self, widget: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Tab goes from field to field; the area scrolls to the focused one by itself.
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setWidget(widget)
        self._content_width = -1
        widget.installEventFilter(self)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        hint = super().minimumSizeHint()
        widget = self.widget()
        if widget is None:
            return hint
        needed = (
            widget.minimumSizeHint().width()
            + self.verticalScrollBar().sizeHint().width()
            + 2 * self.frameWidth()
        )
        return QSize(max(hint.width(), needed), hint.height())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        widget = self.widget()
        if widget is not None and watched is widget and event.type() == QEvent.Type.LayoutRequest:
            # The splitter needs a new layout only when the content's minimum width changes.
            width = widget.minimumSizeHint().width()
            if width != self._content_width:
                self._content_width = width
                self.updateGeometry()
        return super().eventFilter(watched, event)
