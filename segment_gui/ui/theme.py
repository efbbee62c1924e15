"""Light and dark color schemes, and colors derived from the application palette.

The app follows the system's color scheme unless the user picks Light or Dark in Preferences.
Every custom color (syntax highlighting, the line-number gutter, icons) is computed from the
current QPalette by the functions here, with its lightness moved until its contrast ratio
against the background it is drawn on reaches WCAG's 4.5:1 for normal text.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from segment_gui.storage import COLOR_SCHEMES

logger = logging.getLogger(__name__)

COLOR_SCHEME_LABELS = {"system": "System", "light": "Light", "dark": "Dark"}
# WCAG 2.x minimum contrast ratio for normal-size text (success criterion 1.4.3).
MIN_TEXT_CONTRAST = 4.5
_FALLBACK_STYLE = "Fusion"

# Colors of the palettes used when the platform cannot switch its own scheme: the offscreen
# and minimal platforms, Qt before 6.8, or a desktop without scheme support. They are the only
# fixed colors in the app, and every other color is derived from the palette in use.
_FALLBACK_COLORS: dict[str, dict[QPalette.ColorRole, str]] = {
    "light": {
        QPalette.ColorRole.Window: "#efefef",
        QPalette.ColorRole.WindowText: "#000000",
        QPalette.ColorRole.Base: "#ffffff",
        QPalette.ColorRole.AlternateBase: "#f7f7f7",
        QPalette.ColorRole.Text: "#000000",
        QPalette.ColorRole.PlaceholderText: "#5e5e5e",
        QPalette.ColorRole.Button: "#efefef",
        QPalette.ColorRole.ButtonText: "#000000",
        QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: "#2f65ca",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#1a56c4",
        QPalette.ColorRole.LinkVisited: "#6c3aa8",
        QPalette.ColorRole.ToolTipBase: "#ffffdc",
        QPalette.ColorRole.ToolTipText: "#000000",
        QPalette.ColorRole.Light: "#ffffff",
        QPalette.ColorRole.Midlight: "#cacaca",
        QPalette.ColorRole.Mid: "#b8b8b8",
        QPalette.ColorRole.Dark: "#9f9f9f",
        QPalette.ColorRole.Shadow: "#767676",
    },
    "dark": {
        QPalette.ColorRole.Window: "#2a2a2d",
        QPalette.ColorRole.WindowText: "#e8e8ea",
        QPalette.ColorRole.Base: "#38383d",
        QPalette.ColorRole.AlternateBase: "#414147",
        QPalette.ColorRole.Text: "#e8e8ea",
        QPalette.ColorRole.PlaceholderText: "#a0a0a6",
        QPalette.ColorRole.Button: "#3c3c42",
        QPalette.ColorRole.ButtonText: "#e8e8ea",
        QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: "#3d6fcc",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#79a8ff",
        QPalette.ColorRole.LinkVisited: "#c39bff",
        QPalette.ColorRole.ToolTipBase: "#3a3a40",
        QPalette.ColorRole.ToolTipText: "#e8e8ea",
        QPalette.ColorRole.Light: "#505056",
        QPalette.ColorRole.Midlight: "#424247",
        QPalette.ColorRole.Mid: "#333338",
        QPalette.ColorRole.Dark: "#1a1a1d",
        QPalette.ColorRole.Shadow: "#0c0c0e",
    },
}
# Disabled text is the normal text blended this far toward the window color.
_DISABLED_TEXT_BLEND = 0.45


def fallback_palette(scheme: str) -> QPalette:
    """Build the palette used for `scheme` ("light" or "dark") when the platform cannot."""
    palette = QPalette()
    for role, name in _FALLBACK_COLORS[scheme].items():
        palette.setColor(role, QColor(name))
    window = palette.color(QPalette.ColorRole.Window)
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        enabled = palette.color(QPalette.ColorGroup.Active, role)
        disabled = blend(enabled, window, _DISABLED_TEXT_BLEND)
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


# -- contrast ---------------------------------------------------------------------------


def relative_luminance(color: QColor) -> float:
    """Return the WCAG 2.x relative luminance of an sRGB color, from 0 (black) to 1 (white)."""

    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    rgb = color.toRgb()
    return (
        0.2126 * channel(rgb.redF())
        + 0.7152 * channel(rgb.greenF())
        + 0.0722 * channel(rgb.blueF())
    )


def contrast_ratio(first: QColor, second: QColor) -> float:
    """Return the WCAG contrast ratio of two colors, from 1 to 21."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def is_dark(color: QColor) -> bool:
    """Tell whether text should be light on `color`, i.e. `color` is a dark background."""
    return relative_luminance(color) < 0.18


def blend(color: QColor, other: QColor, amount: float) -> QColor:
    """Mix `amount` (0 to 1) of `other` into `color`."""
    first, second = color.toRgb(), other.toRgb()
    return QColor.fromRgbF(
        first.redF() + (second.redF() - first.redF()) * amount,
        first.greenF() + (second.greenF() - first.greenF()) * amount,
        first.blueF() + (second.blueF() - first.blueF()) * amount,
    )


def opaque(color: QColor, background: QColor) -> QColor:
    """Return the opaque color that `color` shows as when drawn over `background`."""
    return blend(background, color, color.alphaF())


def readable(color: QColor, background: QColor, minimum: float = MIN_TEXT_CONTRAST) -> QColor:
    """Return `color` with its lightness moved (hue kept) until it contrasts `minimum`:1
    against `background`: darker on a light background, lighter on a dark one.

    A translucent color is first flattened over `background`.
    """
    color = opaque(color, background)
    if contrast_ratio(color, background) >= minimum:
        return QColor(color)
    hsl = color.toHsl()
    hue, saturation, lightness = hsl.hslHueF(), hsl.hslSaturationF(), hsl.lightnessF()
    step = 0.02 if is_dark(background) else -0.02
    while 0.0 <= lightness + step <= 1.0:
        lightness += step
        candidate = QColor.fromHslF(max(hue, 0.0), saturation, lightness)
        if contrast_ratio(candidate, background) >= minimum:
            return candidate
    # Full lightness (white) or none (black), the most contrast this hue can give.
    return QColor.fromHslF(max(hue, 0.0), saturation, 1.0 if is_dark(background) else 0.0)


def rotated(color: QColor, degrees: int) -> QColor:
    """Return `color` with its hue turned by `degrees` and its saturation kept in 0.55-0.8.

    An achromatic color (no hue) is treated as blue, hue 210.
    """
    hsl = color.toHsl()
    hue = hsl.hslHue() if hsl.hslHue() >= 0 else 210
    saturation = min(max(hsl.hslSaturationF(), 0.55), 0.8)
    return QColor.fromHslF(((hue + degrees) % 360) / 360, saturation, hsl.lightnessF())


def syntax_colors(palette: QPalette) -> dict[str, QColor]:
    """Return the JSON token colors for text drawn on the palette's Base color.

    Keys take the Link color. Strings, numbers and true/false/null take that color's hue
    turned by fixed angles, so they differ from keys and from each other in any palette.
    Punctuation is the Text color blended toward Base. All are made readable on Base.
    """
    base = palette.color(QPalette.ColorRole.Base)
    text = palette.color(QPalette.ColorRole.Text)
    link = palette.color(QPalette.ColorRole.Link)
    return {
        "key": readable(link, base),
        "string": readable(rotated(link, -95), base),
        "number": readable(rotated(link, 155), base),
        "literal": readable(rotated(link, 75), base),
        "punctuation": readable(blend(text, base, 0.35), base),
        "lineNumber": readable(palette.color(QPalette.ColorRole.PlaceholderText), base),
    }


# -- scheme -----------------------------------------------------------------------------


class SchemeController(QObject):
    """Applies the chosen color scheme to the application and follows the system's.

    `changed` is emitted with "light" or "dark" after the palette changed.
    """

    changed = Signal(str)

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self._app = app
        self.choice = "system"
        # The style to go back to after the fallback, read when the fallback first replaces
        # it. Reading it here would wrap the QStyle object at start-up, and PySide6's first
        # wrapper of a QStyle sets up its Python enums, about 5 ms.
        self._system_style: str | None = None
        self._overridden = False
        app.styleHints().colorSchemeChanged.connect(self._on_system_scheme_changed)

    def effective_scheme(self) -> str:
        """Return "dark" or "light": the scheme the app's palette has now."""
        window = self._app.palette().color(QPalette.ColorRole.Window)
        return "dark" if is_dark(window) else "light"

    def system_scheme(self) -> str:
        """Return the scheme the platform reports, or the one its palette has when unknown."""
        reported = self._app.styleHints().colorScheme()
        if reported == Qt.ColorScheme.Dark:
            return "dark"
        if reported == Qt.ColorScheme.Light:
            return "light"
        return self.effective_scheme()

    def apply(self, choice: str) -> str:
        """Switch to `choice` ("system", "light" or "dark") and return the scheme in effect.

        Raises ValueError for any other choice.
        """
        if choice not in COLOR_SCHEMES:
            raise ValueError(
                f"color scheme {choice!r} is not valid; choose one of {', '.join(COLOR_SCHEMES)}"
            )
        self.choice = choice
        hints = self._app.styleHints()
        requested = {
            "system": Qt.ColorScheme.Unknown,
            "light": Qt.ColorScheme.Light,
            "dark": Qt.ColorScheme.Dark,
        }[choice]
        if hasattr(hints, "setColorScheme"):
            hints.setColorScheme(requested)
        self._restore_platform_palette()
        target = self.system_scheme() if choice == "system" else choice
        if self.effective_scheme() != target:
            self._use_fallback(target)
        scheme = self.effective_scheme()
        logger.info("Color scheme %s applied (choice: %s)", scheme, choice)
        self.changed.emit(scheme)
        return scheme

    def _restore_platform_palette(self) -> None:
        if not self._overridden:
            return
        self._overridden = False
        system_style = self._system_style
        if system_style and self._app.style().name().casefold() != system_style.casefold():
            self._app.setStyle(system_style)
        # An empty palette makes the application use the platform's palette again.
        self._app.setPalette(QPalette())

    def _use_fallback(self, scheme: str) -> None:
        """Use the Fusion style with a fixed palette, for platforms that cannot switch."""
        if self._system_style is None:
            self._system_style = self._app.style().name()
        if self._app.style().name().casefold() != _FALLBACK_STYLE.casefold():
            self._app.setStyle(_FALLBACK_STYLE)
        self._app.setPalette(fallback_palette(scheme))
        self._overridden = True

    def _on_system_scheme_changed(self, _scheme: Qt.ColorScheme) -> None:
        if self.choice == "system":
            self.apply("system")


_CONTROLLER_ATTRIBUTE = "_segment_gui_scheme_controller"


def scheme_controller() -> SchemeController:
    """Return the application's SchemeController, creating it on first use.

    A QApplication must exist.
    """
    app = QGuiApplication.instance()
    if not isinstance(app, QApplication):
        raise RuntimeError("scheme_controller() needs a QApplication")
    # An attribute of the application object, not findChild. findChild wraps each child that
    # Qt made, and PySide6's first wrapper of such a child can set up the Python enums of
    # dozens of classes, several milliseconds at start-up.
    existing = getattr(app, _CONTROLLER_ATTRIBUTE, None)
    if isinstance(existing, SchemeController):
        return existing
    controller = SchemeController(app)
    setattr(app, _CONTROLLER_ATTRIBUTE, controller)
    return controller
