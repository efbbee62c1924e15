"""SVG icons: they load, render sharp at 1x and 2x, follow the palette, and ship."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QByteArray, QSize
from PySide6.QtGui import QColor, QIcon, QImage, QPalette
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QPushButton, QToolButton

from segment_gui.ui.icons import ICON_NAMES, icon, svg_template
from segment_gui.ui.theme import scheme_controller

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def system_scheme_after(qapp: Any) -> Iterator[None]:
    """Leave the shared QApplication in the system scheme for the next test."""
    yield
    scheme_controller().apply("system")


def opaque_colors(image: QImage) -> set[str]:
    """Return the color names of the fully opaque pixels of `image`."""
    colors = set()
    for y in range(image.height()):
        for x in range(image.width()):
            color = image.pixelColor(x, y)
            if color.alpha() == 255:
                colors.add(color.name())
    return colors


def test_icon_files_match_names() -> None:
    files = {path.stem for path in (ROOT / "resources" / "icons").glob("*.svg")}
    assert files == set(ICON_NAMES)


@pytest.mark.parametrize("name", ICON_NAMES)
def test_icon_svg_valid(name: str) -> None:
    source = svg_template(name)
    assert b"currentColor" in source
    assert QSvgRenderer(QByteArray(source)).isValid()


@pytest.mark.parametrize("name", ICON_NAMES)
@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_icon_renders_at_scale(qapp: Any, name: str, scale: float) -> None:
    loaded = icon(name)
    pixmap = loaded.pixmap(QSize(16, 16), scale)

    assert not loaded.isNull()
    assert not pixmap.isNull()
    assert pixmap.devicePixelRatio() == scale
    assert pixmap.size() == QSize(round(16 * scale), round(16 * scale))
    assert opaque_colors(pixmap.toImage())


def test_icon_unknown_name() -> None:
    with pytest.raises(KeyError, match="no icon named 'launch'"):
        icon("launch")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_icon_tinted_from_palette(qapp: Any, scheme: str) -> None:
    scheme_controller().apply(scheme)
    text = qapp.palette().color(QPalette.ColorRole.WindowText).name()
    disabled = qapp.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText)
    normal = icon("add-row").pixmap(QSize(16, 16), 2.0)
    greyed = icon("add-row").pixmap(QSize(16, 16), 2.0, QIcon.Mode.Disabled)

    assert opaque_colors(normal.toImage()) == {text}
    assert opaque_colors(greyed.toImage()) == {disabled.name()}
    assert QColor(text) != disabled


def test_window_actions_have_icons(window: Any) -> None:
    actions = {
        action.text(): action
        for menu in window.menuBar().actions()
        for action in menu.menu().actions()
    }
    expected = [
        "&Send",
        "C&ancel send",
        "&New request",
        "&Save preset",
        "Copy as &curl",
        "&Find in response",
        "&Import n8n workflow file…",
    ]
    for text in expected:
        assert not actions[text].icon().isNull(), text
    assert not window.undo_action.icon().isNull()
    assert not window.redo_action.icon().isNull()
    assert not window.send_button.icon().isNull()
    assert not window.response_view.find_next.icon().isNull()


def test_row_buttons_have_icons(window: Any) -> None:
    window.findChild(QPushButton, "traits:add").click()
    remove = [b for b in window.form.findChildren(QToolButton) if b.text() == "✕"]
    assert remove
    assert not remove[0].icon().isNull()
    assert not window.findChild(QPushButton, "traits:add").icon().isNull()


def test_icons_shipped_in_packages() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_data = pyproject["tool"]["setuptools"]["package-data"]["segment_gui.resources"]
    spec = (ROOT / "packaging" / "segment-gui.spec").read_text(encoding="utf-8")

    assert "icons/*.svg" in package_data
    assert '"QtSvg",' not in spec
    assert 'os.path.join(RESOURCES_DIR, "icons")' in spec
