"""Start the Qt application and the main window."""

from __future__ import annotations

import sys
from importlib import resources

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QApplication

from segment_gui import __version__, create_window

SMOKE_TEST_DELAY_MS = 300


def run_app(smoke_test: bool = False) -> int:
    """Open the main window and run the event loop until it closes.

    With `smoke_test`, paint the window once, print `smoke ok VERSION` and exit: a check that a
    packaged build starts, used by the packaging script.
    """
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv)
    app.setApplicationName("segment-gui")
    app.setApplicationDisplayName("Segment GUI")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("io.github.segment_gui.SegmentGui")
    app.setWindowIcon(_icon())
    window = create_window()
    window.show()
    if smoke_test:

        def finish() -> None:
            painted = not window.grab().isNull()
            print(f"smoke {'ok' if painted else 'failed'} {__version__}", flush=True)
            window.close()
            app.exit(0 if painted else 1)

        QTimer.singleShot(SMOKE_TEST_DELAY_MS, finish)
    return app.exec()


def _icon() -> QIcon:
    icon_file = resources.files("segment_gui.resources").joinpath("segment-gui.svg")
    if not icon_file.is_file():
        return QIcon()
    pixmap = QPixmap()
    pixmap.loadFromData(icon_file.read_bytes())
    return QIcon(pixmap)
