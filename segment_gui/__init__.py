"""segment-gui: build, preview and send Segment HTTP Tracking API messages.

Importing this package stays cheap: Qt, requests and keyring load only when used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from segment_gui.ui.main_window import MainWindow


def create_window(home: str | Path | None = None) -> MainWindow:
    """Create the main window without showing it.

    `home` overrides the folder every app file goes under, like `SEGMENT_GUI_HOME`.
    A `QApplication` must exist before this is called.
    """
    from segment_gui.ui.main_window import MainWindow

    return MainWindow(home=Path(home) if home is not None else None)
