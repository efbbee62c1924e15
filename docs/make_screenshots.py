"""Render the main window offscreen and save screenshots to docs/screenshots/.

Run from the repository root with the package installed:
`QT_QPA_PLATFORM=offscreen python docs/make_screenshots.py`. It starts the app's own sandbox on
127.0.0.1 and sends one message to it; nothing leaves the machine.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QLineEdit, QPushButton, QWidget  # noqa: E402

import segment_gui  # noqa: E402

OUTPUT = Path(__file__).resolve().parent / "screenshots"


def wait(milliseconds: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(milliseconds, loop.quit)
    loop.exec()


def field(window: QWidget, path: str) -> QLineEdit:
    return window.findChild(QLineEdit, path)


def main() -> int:
    app = QApplication(sys.argv)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as home:
        window = segment_gui.create_window(home)
        window.resize(1360, 820)
        window.show()
        wait(300)
        window.form.set_value("resource", "track")
        field(window, "userId").setText("user-42")
        field(window, "event").setText("Order Completed")
        window.findChild(QPushButton, "properties:add").click()
        field(window, "properties.propertiesUi[0].key").setText("total")
        field(window, "properties.propertiesUi[0].value").setText("49.90")
        window.findChild(QPushButton, "properties:add").click()
        field(window, "properties.propertiesUi[1].key").setText("currency")
        field(window, "properties.propertiesUi[1].value").setText("EUR")
        window.findChild(QPushButton, "context:add").click()
        field(window, "context.contextUi.locate").setText("de-DE")
        wait(100)
        window.grab().save(str(OUTPUT / "track-preview.png"))
        window.send()
        while window.last_response is None:
            wait(50)
        wait(100)
        window.grab().save(str(OUTPUT / "main-window.png"))
        window.shutdown()
    del app
    print(f"Screenshots written to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
