"""Start the Qt application and the main window."""

from __future__ import annotations

import gc
import logging
import sys
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QApplication

from segment_gui import __version__, create_window
from segment_gui.logs import redact

if TYPE_CHECKING:
    from segment_gui.ui.main_window import MainWindow

logger = logging.getLogger(__name__)
SMOKE_TEST_DELAY_MS = 300


def _install_excepthook(app: QApplication) -> None:
    """Log uncaught exceptions (through the key-masking log filter) and tell the user.

    Without this, an exception in a Qt slot prints a raw traceback to the terminal, where a
    write key in a local variable or message could appear unmasked.
    """

    def hook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            app.quit()
            return
        logger.critical("Unexpected error", exc_info=(kind, error, trace))
        window = app.activeWindow()
        if window is not None and hasattr(window, "notify"):
            window.notify(
                f"Unexpected error: {redact(str(error))}. The details are in the log file; "
                "please report it."
            )

    sys.excepthook = hook


def create_main_window(home: str | Path | None = None) -> MainWindow:
    """Create the main window (not shown) with the garbage collector paused.

    Start-up creates about 45,000 objects that the collector tracks, nearly all of them kept
    for the life of the window, so collections during it mostly cost time. Afterwards they
    move to the permanent generation (`gc.freeze`), so later full collections, which can run
    while a long send holds the GIL, skip them.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        window = create_window(home)
    finally:
        if was_enabled:
            gc.enable()
    gc.freeze()
    return window


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
    _install_excepthook(app)
    window = create_main_window()
    logger.info("segment-gui %s started; files under %s", __version__, window.paths.data_dir)
    window.show()
    if smoke_test:

        def finish() -> None:
            painted = not window.grab().isNull()
            print(f"smoke {'ok' if painted else 'failed'} {__version__}", flush=True)
            window.close()
            app.exit(0 if painted else 1)

        QTimer.singleShot(SMOKE_TEST_DELAY_MS, finish)
    code = app.exec()
    logger.info("segment-gui stopped with exit code %d", code)
    return code


def _icon() -> QIcon:
    icon_file = resources.files("segment_gui.resources").joinpath("segment-gui.svg")
    if not icon_file.is_file():
        return QIcon()
    pixmap = QPixmap()
    pixmap.loadFromData(icon_file.read_bytes())
    return QIcon(pixmap)
