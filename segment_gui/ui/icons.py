"""Toolbar, menu and row-button icons, drawn from SVG files in the color of the palette's text.

The files in `resources/icons/` draw with `currentColor`. Each icon is rendered when Qt
requests a pixmap, at that size and device pixel ratio, with `currentColor` replaced by the
application palette's text color. Icons so stay sharp on high-DPI screens and follow a change
of color scheme at the next repaint.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from PySide6.QtCore import QByteArray, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QIconEngine, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

ICON_NAMES = (
    "send",
    "cancel",
    "save",
    "new",
    "add-row",
    "remove-row",
    "move-up",
    "move-down",
    "import",
    "copy",
    "find",
    "undo",
    "redo",
)
# Rendered pixmaps kept per icon; a few sizes times modes times two schemes fit easily.
_CACHE_LIMIT = 64


@cache
def svg_template(name: str) -> bytes:
    """Return the SVG source of icon `name`; raises KeyError for a name not in ICON_NAMES."""
    if name not in ICON_NAMES:
        raise KeyError(f"no icon named {name!r}; known icons: {', '.join(ICON_NAMES)}")
    folder = resources.files("segment_gui.resources").joinpath("icons")
    return folder.joinpath(f"{name}.svg").read_bytes()


def icon_color(mode: QIcon.Mode, palette: QPalette | None = None) -> QColor:
    """Return the color an icon is drawn in for `mode`, from `palette` or the app's palette."""
    palette = palette or QGuiApplication.palette()
    if mode == QIcon.Mode.Disabled:
        return palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText)
    if mode == QIcon.Mode.Selected:
        return palette.color(QPalette.ColorRole.HighlightedText)
    return palette.color(QPalette.ColorRole.WindowText)


def render_svg(template: bytes, color: QColor, size: QSize, scale: float) -> QPixmap:
    """Render `template` with `currentColor` set to `color` into a transparent pixmap of
    `size` logical pixels at device pixel ratio `scale`."""
    source = template.replace(b"currentColor", color.name(QColor.NameFormat.HexRgb).encode())
    renderer = QSvgRenderer(QByteArray(source))
    pixmap = QPixmap(QSize(round(size.width() * scale), round(size.height() * scale)))
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(pixmap.rect()))
    painter.end()
    pixmap.setDevicePixelRatio(scale)
    return pixmap


class PaletteSvgIconEngine(QIconEngine):
    """A QIconEngine that draws one SVG icon in the palette's text color at any size."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self._template = svg_template(name)
        self._pixmaps: dict[tuple[int, int, int, int, int], QPixmap] = {}

    def scaledPixmap(  # noqa: N802 - Qt override
        self, size: QSize, mode: QIcon.Mode, state: QIcon.State, scale: float
    ) -> QPixmap:
        color = icon_color(mode)
        key = (size.width(), size.height(), round(scale * 100), int(mode.value), color.rgba())
        pixmap = self._pixmaps.get(key)
        if pixmap is None:
            if len(self._pixmaps) >= _CACHE_LIMIT:
                self._pixmaps.clear()
            pixmap = render_svg(self._template, color, size, scale)
            self._pixmaps[key] = pixmap
        return pixmap

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        return self.scaledPixmap(size, mode, state, 1.0)

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        scale = painter.device().devicePixelRatioF() if painter.device() else 1.0
        pixmap = self.scaledPixmap(rect.size(), mode, state, scale)
        painter.drawPixmap(QRect(rect.topLeft(), rect.size()), pixmap)

    def actualSize(  # noqa: N802 - Qt override
        self, size: QSize, mode: QIcon.Mode, state: QIcon.State
    ) -> QSize:
        side = min(size.width(), size.height())
        return QSize(side, side)

    def availableSizes(  # noqa: N802 - Qt override
        self, mode: QIcon.Mode = QIcon.Mode.Normal, state: QIcon.State = QIcon.State.Off
    ) -> list[QSize]:
        return [QSize(16, 16), QSize(24, 24), QSize(32, 32)]

    def isNull(self) -> bool:  # noqa: N802 - Qt override
        return False

    def key(self) -> str:
        return "segment-gui-palette-svg"

    def iconName(self) -> str:  # noqa: N802 - Qt override
        return self.name

    def clone(self) -> QIconEngine:
        return PaletteSvgIconEngine(self.name)


def icon(name: str) -> QIcon:
    """Return icon `name` (one of ICON_NAMES), drawn in the palette's text color.

    Raises KeyError for an unknown name. Icons of one name share their engine and its
    rendered pixmaps.
    """
    return QIcon(_shared_icon(name))


@cache
def _shared_icon(name: str) -> QIcon:
    return QIcon(PaletteSvgIconEngine(name))
