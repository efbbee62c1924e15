"""Light and dark schemes: the Preferences choice, text contrast, and no fixed colors."""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtWidgets import QApplication, QComboBox, QLabel, QPushButton, QWidget

from segment_gui import create_window
from segment_gui.ui.theme import (
    MIN_TEXT_CONTRAST,
    SchemeController,
    contrast_ratio,
    fallback_palette,
    readable,
    scheme_controller,
    syntax_colors,
)

PACKAGE = Path(__file__).resolve().parent.parent / "segment_gui"


@pytest.fixture(autouse=True)
def system_scheme_after(qapp: Any) -> Iterator[None]:
    """Leave the shared QApplication in the system scheme for the next test."""
    yield
    scheme_controller().apply("system")


def open_window(qtbot: Any, home: Path) -> Any:
    window = create_window(home)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: not window.runner.busy(), timeout=5000)
    return window


def close_window(window: Any) -> None:
    window._baseline = None
    window.shutdown()


def window_is_dark(window: QWidget) -> bool:
    return window.palette().color(QPalette.ColorRole.Window).lightness() < 128


# -- preference -------------------------------------------------------------------------


def test_scheme_saved_restored_applied(qtbot: Any, home: Path) -> None:
    first = open_window(qtbot, home)
    assert not window_is_dark(first)
    dialog = first.open_preferences()
    dialog.scheme_combo.setCurrentIndex(dialog.scheme_combo.findData("dark"))

    assert scheme_controller().effective_scheme() == "dark"
    qtbot.waitUntil(lambda: window_is_dark(first), timeout=2000)
    dialog._on_save_clicked()
    qtbot.waitUntil(lambda: "Preferences saved" in first.statusBar().currentMessage())
    stored = json.loads((home / "config.json").read_text(encoding="utf-8"))["preferences"]
    assert stored["colorScheme"] == "dark"
    close_window(first)

    scheme_controller().apply("system")
    assert scheme_controller().effective_scheme() == "light"
    second = open_window(qtbot, home)
    assert scheme_controller().effective_scheme() == "dark"
    qtbot.waitUntil(lambda: window_is_dark(second), timeout=2000)
    reopened = second.open_preferences()
    assert reopened.scheme_combo.currentData() == "dark"
    reopened.reject()
    close_window(second)


def test_scheme_cancel_reverts(qtbot: Any, home: Path) -> None:
    window = open_window(qtbot, home)
    dialog = window.open_preferences()
    dialog.scheme_combo.setCurrentIndex(dialog.scheme_combo.findData("dark"))
    assert scheme_controller().effective_scheme() == "dark"
    dialog.reject()

    assert scheme_controller().effective_scheme() == "light"
    assert not (home / "config.json").exists()
    close_window(window)


def test_scheme_rejects_unknown_choice() -> None:
    with pytest.raises(ValueError, match="'sepia' is not valid; choose one of system"):
        scheme_controller().apply("sepia")


def test_light_choice_overrides_dark() -> None:
    controller = scheme_controller()
    assert scheme_controller() is controller
    system_style = QApplication.style().name()
    assert controller.apply("dark") == "dark"
    assert controller.apply("light") == "light"
    assert controller.apply("system") == "light"
    assert QApplication.style().name() == system_style


def test_system_choice_restores_the_platform_style(qapp: Any) -> None:
    # A controller of its own, so that the shared one keeps its state.
    original = qapp.style().name()
    qapp.setStyle("Windows")
    controller = SchemeController(qapp)
    try:
        assert controller.apply("dark") == "dark"
        assert qapp.style().name().casefold() == "fusion"
        assert controller.apply("system") == "light"
        assert qapp.style().name().casefold() == "windows"
    finally:
        controller.deleteLater()
        qapp.setStyle(original)


# -- contrast ---------------------------------------------------------------------------


def rendered_contrast(image: QImage) -> float:
    """Return the contrast of the rendered text in `image` against its background.

    The background is the most common pixel color. The text color is the pixel that
    contrasts most with it, which lies inside a glyph stroke, clear of anti-aliasing.
    """
    counts: Counter[int] = Counter()
    for y in range(image.height()):
        for x in range(image.width()):
            counts[image.pixel(x, y)] += 1
    background = QColor.fromRgb(counts.most_common(1)[0][0])
    return max(contrast_ratio(QColor.fromRgb(pixel), background) for pixel in counts)


def grab_widget(window: QWidget, widget: QWidget) -> QImage:
    area = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
    return window.grab(area).toImage()


def show_form_with_error(window: Any) -> QLabel:
    window.form.set_value("resource", "track")
    window.findChild(QWidget, "event").setText("Checkout")
    window.findChild(QPushButton, "properties:add").click()
    row = "properties.propertiesUi[0]"
    window.findChild(QWidget, f"{row}.key").setText("items")
    window.findChild(QWidget, f"{row}.value").setText('{"id": 1,,}')
    combo = window.findChild(QComboBox, f"{row}.valueType")
    combo.setCurrentIndex(combo.findData("json"))
    label = window.findChild(QWidget, f"{row}.value").message_label
    assert label.text().startswith("Error: invalid JSON")
    return label


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_contrast_in_scheme(qtbot: Any, home: Path, scheme: str) -> None:
    window = open_window(qtbot, home)
    error_label = show_form_with_error(window)
    scheme_controller().apply(scheme)
    qtbot.waitUntil(lambda: window_is_dark(window) == (scheme == "dark"), timeout=2000)
    qtbot.wait(50)

    labels = [
        label
        for label in window.form.findChildren(QLabel)
        if label.isVisibleTo(window) and label.isEnabled() and label.text().strip()
    ]
    labels += [error_label, window.preview_status, window.subtitle_label]
    assert len(labels) > 5
    for label in labels:
        palette = label.palette()
        ratio = contrast_ratio(
            palette.color(label.foregroundRole()), palette.color(label.backgroundRole())
        )
        assert ratio >= MIN_TEXT_CONTRAST, f"{label.text()!r}: palette contrast {ratio:.2f}"
        shown = rendered_contrast(grab_widget(window, label))
        assert shown >= MIN_TEXT_CONTRAST, f"{label.text()!r}: rendered contrast {shown:.2f}"

    preview = window.preview
    base = preview.palette().color(QPalette.ColorRole.Base)
    block = preview.document().firstBlock()
    colors = set()
    while block.isValid():
        colors |= {r.format.foreground().color().name() for r in block.layout().formats()}
        block = block.next()
    assert len(colors) >= 3
    for name in colors:
        ratio = contrast_ratio(QColor(name), base)
        assert ratio >= MIN_TEXT_CONTRAST, f"highlight color {name}: contrast {ratio:.2f}"
    close_window(window)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_syntax_colors_readable(scheme: str) -> None:
    palette = fallback_palette(scheme)
    base = palette.color(QPalette.ColorRole.Base)
    colors = syntax_colors(palette)
    for kind, color in colors.items():
        assert contrast_ratio(color, base) >= MIN_TEXT_CONTRAST, kind
    names = {colors[kind].name() for kind in ("key", "string", "number", "literal")}
    assert len(names) == 4


@pytest.mark.parametrize("background", ["#ffffff", "#777777", "#000000", "#38383d"])
def test_readable_reaches_contrast(background: str) -> None:
    for start in ("#0000ff", "#808080", "#ffff00", "#202020", "#f0f0f0"):
        color = readable(QColor(start), QColor(background))
        assert contrast_ratio(color, QColor(background)) >= MIN_TEXT_CONTRAST, start


# -- fixed colors ----------------------------------------------------------------------

COLOR_TEXT = re.compile(r"#[0-9a-fA-F]{3,8}\b|\brgba?\s*\(|\bhsla?\s*\(|\bcolor\s*:", re.I)
FIXED_GLOBAL_COLORS = re.compile(
    r"^(white|black|red|darkRed|green|darkGreen|blue|darkBlue|cyan|darkCyan|magenta|"
    r"darkMagenta|yellow|darkYellow|gray|darkGray|lightGray)$"
)
COLOR_FACTORIES = {"QColor", "fromRgb", "fromRgbF", "fromHsl", "fromHslF", "fromHsv", "fromHsvF"}


def fixed_colors(source: str) -> list[str]:
    """List the fixed colors in Python `source`: color strings, Qt's named colors, and
    QColor constructors whose arguments are all literals."""
    tree = ast.parse(source)
    for node in list(ast.walk(tree)):
        # The fallback palettes in theme.py are the one allowed place for fixed colors.
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "_FALLBACK_COLORS":
            node.value = ast.Constant(None)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if COLOR_TEXT.search(node.value):
                found.append(f"line {node.lineno}: {node.value!r}")
        elif isinstance(node, ast.Attribute) and FIXED_GLOBAL_COLORS.match(node.attr):
            found.append(f"line {node.lineno}: {node.attr}")
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in COLOR_FACTORIES and node.args:
                if all(isinstance(arg, ast.Constant) for arg in node.args):
                    found.append(f"line {node.lineno}: {name} with literal arguments")
    return found


def test_fixed_color_check_finds_samples() -> None:
    samples = [
        'label.setStyleSheet("color: #c00")',
        "brush = QColor(200, 0, 0)",
        'brush = QColor("darkred")',
        "pen = Qt.GlobalColor.red",
        "pen = QColor.fromRgb(1, 2, 3)",
    ]
    for sample in samples:
        assert fixed_colors(sample), sample
    assert fixed_colors("color = palette.color(QPalette.ColorRole.Text)") == []


def test_no_fixed_colors_in_app() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20
    problems = {
        str(path.relative_to(PACKAGE)): found
        for path in files
        if (found := fixed_colors(path.read_text(encoding="utf-8")))
    }
    assert problems == {}
