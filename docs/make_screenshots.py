"""Render the main window offscreen in its main states and save PNGs to docs/screenshots/.

Run from the repository root with the package installed:

    QT_QPA_PLATFORM=offscreen python docs/make_screenshots.py

It uses a throwaway home folder, starts the app's own sandbox on 127.0.0.1 and sends to it, so
nothing leaves the machine. The files it writes:

- `operation-<resource>-<operation>.png`: the form of each operation in the node spec
- `track-preview.png`: a Track event with properties and the body preview
- `nested-context.png`: a filled Context with the nested App, Campaign and Device sections
- `main-window.png`: the response after sending to the sandbox (shown in the README)
- `error.png`: a missing required field and an invalid JSON value, with Send blocked
- `presets.png`: saved presets sorted by last change, with notes under their names
- `dark.png`: the Track event and its response in the dark scheme
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QApplication,
    QCheckBox,
    QComboBox,
    QLineEdit,
    QPushButton,
    QWidget,
)

import segment_gui  # noqa: E402
from segment_gui.spec import load_spec  # noqa: E402

OUTPUT = Path(__file__).resolve().parent / "screenshots"


def wait(milliseconds: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(milliseconds, loop.quit)
    loop.exec()


def wait_until(condition: Callable[[], bool], timeout_ms: int = 10000) -> None:
    waited = 0
    while not condition():
        if waited >= timeout_ms:
            raise TimeoutError("the window did not reach the expected state")
        wait(50)
        waited += 50


def field(window: QWidget, path: str) -> QLineEdit:
    editor = window.findChild(QLineEdit, path)
    if editor is None:
        raise LookupError(f"no text field {path!r} in the window")
    return editor


def click(window: QWidget, name: str) -> None:
    button = window.findChild(QPushButton, name)
    if button is None:
        raise LookupError(f"no button {name!r} in the window")
    button.click()


def save(window: QWidget, name: str) -> None:
    wait(150)
    path = OUTPUT / name
    window.grab().save(str(path))
    print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


def operations() -> list[tuple[str, str]]:
    """Return every (resource, operation) pair the node spec offers, in spec order."""
    spec = load_spec()
    resource = next(f for f in spec.properties if f.name == "resource")
    pairs = []
    for resource_value in resource.choice_values():
        for definition in spec.properties:
            shown_for = (definition.display_options or {}).get("show", {}).get("resource", ())
            if definition.name == "operation" and resource_value in shown_for:
                pairs += [(resource_value, value) for value in definition.choice_values()]
    return pairs


def new_request(window: Any) -> None:
    """Start a new request, dropping the previous state's edits without the unsaved prompt."""
    window._baseline = None
    window.new_request()


def choose(window: Any, resource: str, operation: str) -> None:
    window.form.set_value("resource", resource)
    window.form.set_value("operation", operation)


def fill_track_event(window: Any) -> None:
    new_request(window)
    choose(window, "track", "event")
    field(window, "userId").setText("user-42")
    field(window, "event").setText("Order Completed")
    for key, value in (("total", "49.90"), ("currency", "EUR"), ("coupon", "WINTER")):
        click(window, "properties:add")
        index = window.form.editor("properties").row_count() - 1
        field(window, f"properties.propertiesUi[{index}].key").setText(key)
        field(window, f"properties.propertiesUi[{index}].value").setText(value)


def show_tab(window: Any, title: str) -> None:
    tabs = window.result_tabs
    for index in range(tabs.count()):
        if tabs.tabText(index) == title:
            tabs.setCurrentIndex(index)
            return
    raise LookupError(f"no tab {title!r}")


def send_and_wait(window: Any) -> None:
    window.last_response = None
    window.send()
    wait_until(lambda: window.last_response is not None)


def main() -> int:
    app = QApplication(sys.argv)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as home:
        window: Any = segment_gui.create_window(home)
        window.resize(1360, 820)
        window.show()
        wait_until(lambda: not window.runner.busy())

        for resource, operation in operations():
            new_request(window)
            choose(window, resource, operation)
            field(window, "userId").setText("user-42")
            show_tab(window, "Preview")
            save(window, f"operation-{resource}-{operation}.png")

        fill_track_event(window)
        show_tab(window, "Preview")
        save(window, "track-preview.png")

        new_request(window)
        choose(window, "identify", "create")
        field(window, "userId").setText("user-42")
        click(window, "context:add")
        field(window, "context.contextUi.locate").setText("de-DE")
        field(window, "context.contextUi.ip").setText("127.0.0.1")
        window.findChild(QCheckBox, "context.contextUi.active").setChecked(True)
        for section, values in (
            ("app", {"name": "Shop", "version": "4.2.0"}),
            ("campaign", {"name": "Winter sale", "source": "newsletter"}),
            ("device", {"manufacturer": "Fairphone", "model": "5"}),
        ):
            click(window, f"context.contextUi.{section}:add")
            for key, value in values.items():
                field(window, f"context.contextUi.{section}.{section}Ui.{key}").setText(value)
        scroll_to_bottom(window)
        save(window, "nested-context.png")

        fill_track_event(window)
        send_and_wait(window)
        show_tab(window, "Response")
        save(window, "main-window.png")

        new_request(window)
        choose(window, "track", "event")
        field(window, "userId").setText("user-42")
        click(window, "properties:add")
        field(window, "properties.propertiesUi[0].key").setText("cart")
        types = window.findChild(QComboBox, "properties.propertiesUi[0].valueType")
        types.setCurrentIndex(types.findData("json"))
        field(window, "properties.propertiesUi[0].value").setText('{"items": [1, 2,}')
        show_tab(window, "Preview")
        save(window, "error.png")

        save_presets(window)
        show_tab(window, "History")
        save(window, "presets.png")

        if set_dark_scheme():
            window._baseline = None
            fill_track_event(window)
            send_and_wait(window)
            show_tab(window, "Response")
            save(window, "dark.png")
        else:
            print("skipped dark.png: this Qt cannot switch to the dark scheme", file=sys.stderr)

        window._baseline = None
        window.shutdown()
    del app
    print(f"Screenshots written to {OUTPUT}")
    return 0


def scroll_to_bottom(window: Any) -> None:
    wait(100)
    scroll = window.form.parentWidget().parentWidget()
    scroll.verticalScrollBar().setValue(scroll.verticalScrollBar().maximum())


def save_presets(window: Any) -> None:
    notes = {
        "Checkout completed": "Sent after payment; keep currency in ISO 4217.",
        "Newsletter signup": "",
        "Team workspace created": "Group call for the B2B onboarding flow.",
    }
    for name, note in notes.items():
        new_request(window)
        choose(window, "track", "event")
        field(window, "userId").setText("user-42")
        field(window, "event").setText(name)
        window.settings_form.set_value("notes", note)
        window.settings_form.set_value("notesInFlow", bool(note))
        window.presets_panel.save_named(name)
        wait_until(lambda name=name: window.presets_panel.current_name == name)
        wait(50)
    window.presets_panel.sort_order = "changed"
    wait_until(lambda: len(window.presets_panel.names()) == len(notes))


def set_dark_scheme() -> bool:
    """Switch the app to the dark scheme, as Preferences does; returns whether it is dark now."""
    from segment_gui.ui.theme import scheme_controller

    return scheme_controller().apply("dark") == "dark"


if __name__ == "__main__":
    sys.exit(main())
