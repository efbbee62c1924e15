"""A read-only JSON viewer: syntax highlighting, a line-number gutter and plain-text copy."""

from __future__ import annotations

import re

from PySide6.QtCore import QEvent, QMimeData, QRect, QSize, Qt
from PySide6.QtGui import (
    QFont,
    QFontDatabase,
    QPainter,
    QPaintEvent,
    QPalette,
    QResizeEvent,
    QSyntaxHighlighter,
    QTextBlock,
    QTextCharFormat,
    QTextDocument,
)
from PySide6.QtWidgets import QApplication, QPlainTextEdit, QWidget

from segment_gui.ui.theme import readable, syntax_colors

# Documents up to this many characters are highlighted at once when their text is set (about
# 60 ms for 165,000 characters of indented JSON in `python -m benchmarks.json_view` on a shared
# 2-core machine). Longer ones are highlighted a screenful at a time as blocks come into view.
LAZY_THRESHOLD_CHARS = 200_000
# Longer lines are left plain. A compact body cut at the display limit is one line of up to
# 1,000,000 characters, and coloring it makes Qt lay that line out a second time (about
# 0.4 s on a shared 2-core machine).
MAX_HIGHLIGHT_LINE_CHARS = 20_000
_GUTTER_PADDING = 6

# One JSON token per match. A string may be unterminated, as in a body cut at the display
# limit or in text that is not JSON. Numbers and literals inside other text are colored too.
_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"\\]|\\.)*"?)
    |(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    |(?P<literal>\b(?:true|false|null)\b)
    |(?P<punctuation>[{}\[\],:])
    """,
    re.VERBOSE,
)
_KEY_END = re.compile(r"\s*:")


def monospace_font() -> QFont:
    """Return the system's fixed-width font, scaled as the app's font is to the system's.

    The system fixed font keeps its own size when the app's font is made larger, so without
    the scaling JSON would stay small at 200 % text size.
    """
    fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    general = QFontDatabase.systemFont(QFontDatabase.SystemFont.GeneralFont).pointSizeF()
    app_size = QApplication.font().pointSizeF()
    if general > 0 and app_size > 0 and fixed.pointSizeF() > 0:
        fixed.setPointSizeF(fixed.pointSizeF() * app_size / general)
    return fixed


class JsonHighlighter(QSyntaxHighlighter):
    """Colors JSON keys, strings, numbers, true/false/null and punctuation, one line at a time.

    JSON strings cannot span lines, so each block is highlighted on its own. In a document
    longer than LAZY_THRESHOLD_CHARS, blocks are left plain when the text is set, and
    `highlight_blocks()` colors them once they are shown. Block states are never changed,
    because QSyntaxHighlighter goes on to the next block whenever a block's state changes.
    """

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self.formats: dict[str, QTextCharFormat] = {}
        self._forcing = False
        # Numbers of the blocks of a long document that are colored.
        self._highlighted: set[int] = set()
        document.contentsChange.connect(self._on_contents_change)

    def _on_contents_change(self, _position: int, _removed: int, _added: int) -> None:
        self._highlighted.clear()

    def set_palette(self, palette: QPalette) -> None:
        """Take the token colors from `palette` and color the document again."""
        self.formats = {}
        self._highlighted.clear()
        for kind, color in syntax_colors(palette).items():
            text_format = QTextCharFormat()
            text_format.setForeground(color)
            self.formats[kind] = text_format
        self.rehighlight()

    def is_lazy(self) -> bool:
        document = self.document()
        return document is not None and document.characterCount() > LAZY_THRESHOLD_CHARS

    def highlight_blocks(self, blocks: list[QTextBlock]) -> None:
        """Color those of `blocks` that are not colored yet."""
        self._forcing = True
        try:
            for block in blocks:
                if block.length() > MAX_HIGHLIGHT_LINE_CHARS:
                    continue
                if block.blockNumber() not in self._highlighted:
                    self._highlighted.add(block.blockNumber())
                    self.rehighlightBlock(block)
        finally:
            self._forcing = False

    def highlightBlock(self, text: str) -> None:  # noqa: N802 - Qt override
        if not self._forcing and self.is_lazy():
            return
        formats = self.formats
        if not formats or len(text) > MAX_HIGHLIGHT_LINE_CHARS:
            return
        for match in _TOKEN.finditer(text):
            kind = match.lastgroup or "punctuation"
            start, end = match.span()
            if kind == "string" and _KEY_END.match(text, end):
                kind = "key"
            self.setFormat(start, end - start, formats[kind])


class _LineNumberArea(QWidget):
    def __init__(self, view: JsonView) -> None:
        super().__init__(view)
        self.view = view

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(self.view.gutter_width(), 0)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        self.view.paint_line_numbers(event)


class JsonView(QPlainTextEdit):
    """A read-only, monospaced viewer for JSON text with line numbers.

    Copy puts only plain text on the clipboard, so pasting elsewhere gives the JSON without
    the highlighting colors.
    """

    def __init__(self, parent: QWidget | None = None, name: str = "") -> None:
        super().__init__(parent)
        if name:
            self.setObjectName(name)
        self.setReadOnly(True)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setFont(monospace_font())
        self.highlighter = JsonHighlighter(self.document())
        self.highlighter.set_palette(self.palette())
        self.line_numbers = _LineNumberArea(self)
        self._highlighting = False
        self.blockCountChanged.connect(self._update_gutter_width)
        self.updateRequest.connect(self._on_update_request)
        self._update_gutter_width()

    # -- line numbers ---------------------------------------------------------------------

    def gutter_width(self) -> int:
        """Return the width in pixels that the line numbers of this document need."""
        digits = len(str(max(1, self.blockCount())))
        return 2 * _GUTTER_PADDING + self.fontMetrics().horizontalAdvance("9") * digits

    def _update_gutter_width(self) -> None:
        # The width follows the number of lines (blockCountChanged) and the font (FontChange).
        # Nothing on the start-up path calls viewport(), because PySide6's first wrapper for a
        # viewport that Qt created makes it set up about 80 Python enums, about 10 ms.
        # setViewportMargins lays out the viewport and resizes it even for equal margins, so
        # the call is skipped when the width is the same, as it is on most full repaints.
        width = self.gutter_width()
        if width != self.viewportMargins().left():
            self.setViewportMargins(width, 0, 0, 0)

    def paint_line_numbers(self, event: QPaintEvent) -> None:
        palette = self.palette()
        background = palette.color(QPalette.ColorRole.Window)
        number_color = readable(palette.color(QPalette.ColorRole.PlaceholderText), background)
        painter = QPainter(self.line_numbers)
        painter.fillRect(event.rect(), background)
        if self.document().isEmpty():
            painter.end()
            return
        painter.setPen(number_color)
        painter.setFont(self.font())
        width = self.line_numbers.width() - _GUTTER_PADDING
        height = self.fontMetrics().height()
        block = self.firstVisibleBlock()
        top = round(self.blockBoundingGeometry(block).translated(self.contentOffset()).top())
        while block.isValid() and top <= event.rect().bottom():
            bottom = top + round(self.blockBoundingRect(block).height())
            if block.isVisible() and bottom >= event.rect().top():
                painter.drawText(
                    0, top, width, height, Qt.AlignmentFlag.AlignRight, str(block.blockNumber() + 1)
                )
            block = block.next()
            top = bottom
        painter.end()

    def _on_update_request(self, rect: QRect, dy: int) -> None:
        if dy:
            self.line_numbers.scroll(0, dy)
        else:
            self.line_numbers.update(0, rect.y(), self.line_numbers.width(), rect.height())
        self.highlight_visible()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        area = self.contentsRect()
        self.line_numbers.setGeometry(
            QRect(area.left(), area.top(), self.gutter_width(), area.height())
        )

    # -- highlighting ---------------------------------------------------------------------

    def visible_blocks(self) -> list[QTextBlock]:
        """Return the blocks that intersect the viewport."""
        blocks = []
        block = self.firstVisibleBlock()
        offset = self.contentOffset()
        bottom = self.viewport().rect().bottom()
        while block.isValid():
            if self.blockBoundingGeometry(block).translated(offset).top() > bottom:
                break
            blocks.append(block)
            block = block.next()
        return blocks

    def highlight_visible(self) -> None:
        """Color the blocks on screen that a long document has left plain."""
        if self._highlighting or not self.highlighter.is_lazy():
            return
        self._highlighting = True
        try:
            self.highlighter.highlight_blocks(self.visible_blocks())
        finally:
            self._highlighting = False

    def setPlainText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setPlainText(text)
        self.highlight_visible()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._update_gutter_width()
        elif event.type() == QEvent.Type.PaletteChange:
            self.highlighter.set_palette(self.palette())
            self.highlight_visible()
            self.line_numbers.update()

    # -- clipboard ------------------------------------------------------------------------

    def createMimeDataFromSelection(self) -> QMimeData:  # noqa: N802 - Qt override
        """Return the selected text as text/plain only, with line breaks as "\\n"."""
        cursor = self.textCursor()
        text = self.document().toRawText()[cursor.selectionStart() : cursor.selectionEnd()]
        data = QMimeData()
        data.setText(text.replace("\u2029", "\n"))
        return data
