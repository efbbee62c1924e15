"""The JSON viewer: highlighting, line numbers, lazy coloring of long bodies, plain-text copy."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtGui import QColor, QGuiApplication, QTextBlock

from segment_gui.ui.json_view import LAZY_THRESHOLD_CHARS, JsonView
from segment_gui.ui.theme import scheme_controller


def token_colors(block: QTextBlock) -> dict[str, str]:
    """Map each colored piece of `block`'s text to its foreground color name."""
    text = block.text()
    return {
        text[r.start : r.start + r.length]: r.format.foreground().color().name()
        for r in block.layout().formats()
    }


def make_view(qtbot: Any, text: str) -> JsonView:
    view = JsonView(None, "testView")
    qtbot.addWidget(view)
    view.resize(600, 400)
    view.show()
    view.setPlainText(text)
    return view


def test_highlighter_kinds_differ(qtbot: Any) -> None:
    view = make_view(qtbot, '{"name": "Ada", "count": 12, "ok": true, "none": null}')
    colors = token_colors(view.document().firstBlock())

    assert colors['"name"'] == colors['"count"']
    assert colors['"name"'] != colors['"Ada"']
    assert colors['"name"'] != colors["{"]
    assert colors['"Ada"'] != colors[","]
    assert colors["12"] != colors['"Ada"']
    assert colors["true"] == colors["null"]
    assert colors["true"] != colors["12"]
    assert colors[":"] == colors["}"]


def test_highlighter_handles_broken_json(qtbot: Any) -> None:
    view = make_view(qtbot, '{"cut": "unterminated\nplain words 42')
    first = token_colors(view.document().firstBlock())
    second = token_colors(view.document().lastBlock())

    assert '"unterminated' in first
    assert first['"cut"'] != first['"unterminated']
    assert "42" in second


def test_gutter_grows_with_lines(qtbot: Any) -> None:
    view = make_view(qtbot, "\n".join(["1"] * 9))
    nine = view.gutter_width()
    view.setPlainText("\n".join(["1"] * 100))
    hundred = view.gutter_width()
    view.setPlainText("\n".join(["1"] * 10_000))
    ten_thousand = view.gutter_width()

    assert nine < hundred < ten_thousand
    assert view.viewportMargins().left() == ten_thousand
    qtbot.waitUntil(lambda: view.line_numbers.width() == ten_thousand, timeout=2000)


def test_gutter_follows_the_font(qtbot: Any) -> None:
    view = make_view(qtbot, "\n".join(["1"] * 100))
    before = view.viewportMargins().left()
    font = view.font()
    font.setPointSizeF(font.pointSizeF() * 2)
    view.setFont(font)

    assert view.viewportMargins().left() == view.gutter_width() > before


def test_copy_is_plain_text(qtbot: Any) -> None:
    body = json.dumps(
        {"name": "Zoë\u00a0K", "nested": {"list": [1, 2.5, None]}}, indent=2, ensure_ascii=False
    )
    view = make_view(qtbot, body)
    view.selectAll()
    view.copy()
    data = QGuiApplication.clipboard().mimeData()

    assert data.formats() == ["text/plain"]
    assert data.text() == body


def test_copy_selection_part(qtbot: Any) -> None:
    view = make_view(qtbot, '{\n  "a": 1\n}')
    cursor = view.textCursor()
    cursor.setPosition(2)
    cursor.setPosition(11, cursor.MoveMode.KeepAnchor)
    view.setTextCursor(cursor)
    view.copy()

    assert QGuiApplication.clipboard().text() == '  "a": 1\n'


def test_long_body_colored_on_scroll(qtbot: Any) -> None:
    rows = [{"event": f"Event {i}", "n": i, "ok": True} for i in range(LAZY_THRESHOLD_CHARS // 20)]
    text = json.dumps(rows, indent=2)
    assert len(text) > LAZY_THRESHOLD_CHARS
    view = make_view(qtbot, text)
    document = view.document()
    far = document.findBlockByNumber(document.blockCount() - 3)

    assert token_colors(view.firstVisibleBlock().next())
    assert token_colors(far) == {}
    view.verticalScrollBar().setValue(view.verticalScrollBar().maximum())
    qtbot.waitUntil(lambda: token_colors(far) != {}, timeout=2000)
    assert view.toPlainText() == text


def test_colors_follow_scheme(qtbot: Any) -> None:
    view = make_view(qtbot, '{"name": "Ada"}')
    controller = scheme_controller()
    block = view.document().firstBlock()
    try:
        controller.apply("light")
        qtbot.waitUntil(lambda: not view.palette().base().color().lightness() < 128)
        light = token_colors(block)
        controller.apply("dark")
        # Qt delivers the palette change to widgets through the event loop.
        qtbot.waitUntil(lambda: token_colors(block) != light, timeout=2000)
        dark = token_colors(block)
    finally:
        controller.apply("system")

    assert light['"name"'] != dark['"name"']
    assert QColor(light['"Ada"']).lightness() < QColor(dark['"Ada"']).lightness()
