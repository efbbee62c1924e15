"""Shared fixtures: an isolated home folder for every test, and the main window."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """Forget unsaved changes in every open main window before pytest-qt closes them.

    pytest-qt closes the widgets of a test before fixtures are torn down, and a window with
    unsaved changes would wait forever for an answer to its prompt.
    """
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if isinstance(app, QApplication):
        for widget in app.topLevelWidgets():
            if hasattr(widget, "confirm_discard"):
                widget._baseline = None  # type: ignore[attr-defined]
    yield


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes under its own SEGMENT_GUI_HOME."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("SEGMENT_GUI_HOME", str(folder))
    return folder


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    """Fail a test that leaves a non-daemon thread running (a server or worker not stopped)."""
    before = set(threading.enumerate())
    yield
    leftover = [
        thread
        for thread in threading.enumerate()
        if thread not in before and thread.is_alive() and not thread.daemon
    ]
    for thread in leftover:
        thread.join(timeout=5)
    still = [thread.name for thread in leftover if thread.is_alive()]
    assert not still, f"threads left running: {still}"


@pytest.fixture
def window(qtbot, home: Path):  # type: ignore[no-untyped-def]
    from segment_gui import create_window

    main_window = create_window(home)
    qtbot.addWidget(main_window)
    qtbot.waitUntil(lambda: not main_window.runner.busy(), timeout=5000)
    yield main_window
    # Closing at teardown must not stop on the unsaved-changes prompt.
    main_window._baseline = None
    main_window.shutdown()


def keyring_available() -> bool:
    import keyring

    backend = keyring.get_keyring()
    return "SecretService" in type(backend).__module__ + type(backend).__name__


def answer_next_box(qtbot: Any, button: Any) -> list[str]:
    """Click `button` in the next modal message box; returns its text once it was shown."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    seen: list[str] = []

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        seen.append(box.text())
        box.button(button).click()

    QTimer.singleShot(20, click)
    return seen
