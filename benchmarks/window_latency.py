"""In-process latencies of the main window: switching operation, editing a value, adding a row.

Run as a child: `python -m benchmarks.window_latency CONFIG`. The window is shown offscreen at
its normal size. Each sample starts just before the user's action (a combo box change, a key
press, a click) and ends when a processEvents pass delivers no LayoutRequest, so the layouts
the action caused have settled (benchmarks.qt_support.LayoutSettler). Checks that the action
took effect run after the clock stops.
"""

from __future__ import annotations

import gc
import json
import os
import time
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QComboBox, QLineEdit, QPushButton, QToolButton

from benchmarks.common import BenchmarkError, Deadline, child_main, rss_bytes
from benchmarks.qt_support import LayoutSettler, application, delete_later_now, open_window

# (combo box, value) steps that visit every resource and operation of the node in a cycle.
SWITCH_STEPS: tuple[tuple[str, str], ...] = (
    ("resource", "identify"),
    ("operation", "alias"),
    ("operation", "create"),
    ("resource", "track"),
    ("operation", "page"),
    ("operation", "screen"),
    ("operation", "event"),
    ("resource", "group"),
)
# Samples taken even when the time budget has run out.
MIN_SAMPLES = 3


def _combo(window: Any, name: str) -> QComboBox:
    combo = window.form.findChild(QComboBox, name)
    if combo is None or not combo.isVisible():
        raise BenchmarkError(f"no visible {name} combo box in the form")
    return combo


def _select(window: Any, settler: LayoutSettler, name: str, value: str) -> None:
    combo = _combo(window, name)
    combo.setCurrentIndex(combo.findData(value))
    settler.settle()


def _track_event(window: Any, settler: LayoutSettler) -> None:
    _select(window, settler, "resource", "track")
    _select(window, settler, "operation", "event")


def _property_rows(count: int) -> dict[str, Any]:
    return {"propertiesUi": [{"key": f"k{index}", "value": f"v{index}"} for index in range(count)]}


def measure_switch(window: Any, settler: LayoutSettler, samples: int, deadline: Deadline) -> dict:
    """Time `samples` resource or operation changes, cycling through SWITCH_STEPS."""
    milliseconds: list[float] = []
    kinds: list[str] = []
    step = 0
    while len(milliseconds) < samples:
        if len(milliseconds) >= MIN_SAMPLES and deadline.expired():
            break
        name, value = SWITCH_STEPS[step % len(SWITCH_STEPS)]
        step += 1
        combo = _combo(window, name)
        index = combo.findData(value)
        if index < 0:
            raise BenchmarkError(f"{name} has no choice {value!r}")
        if index == combo.currentIndex():
            continue

        started = time.perf_counter()
        combo.setCurrentIndex(index)
        settler.settle()
        milliseconds.append((time.perf_counter() - started) * 1000)
        kinds.append(name)

        if window.parameters().get(name) != value:
            raise BenchmarkError(f"{name} is {window.parameters().get(name)!r}, not {value!r}")
    return {"milliseconds": milliseconds, "kinds": kinds}


def measure_edit(
    window: Any, settler: LayoutSettler, rows: int, samples: int, deadline: Deadline
) -> dict:
    """Time key presses in one property value while `rows` property rows are shown.

    Presses alternate between typing "x" and Backspace, and each sample checks that the
    preview shows the new value.
    """
    _track_event(window, settler)
    started = time.perf_counter()
    window.form.set_value("properties", _property_rows(rows))
    settler.settle()
    load_seconds = time.perf_counter() - started

    row = rows // 2
    editor = window.findChild(QLineEdit, f"properties.propertiesUi[{row}].value")
    if editor is None or not editor.isVisible():
        raise BenchmarkError(f"property row {row} has no visible value editor")
    # The user clicks into the value before typing. Without the focus a key press would not
    # count as typing: the undo history would close a step on each one.
    window.activateWindow()
    editor.setFocus()
    settler.settle()
    if not editor.hasFocus():
        raise BenchmarkError(f"property row {row}'s value editor did not take the focus")

    milliseconds: list[float] = []
    while len(milliseconds) < samples:
        if len(milliseconds) >= MIN_SAMPLES and deadline.expired():
            break
        key = Qt.Key.Key_X if len(milliseconds) % 2 == 0 else Qt.Key.Key_Backspace

        started = time.perf_counter()
        QTest.keyClick(editor, key)
        settler.settle()
        milliseconds.append((time.perf_counter() - started) * 1000)

        shown = json.loads(window.preview.toPlainText())["properties"].get(f"k{row}")
        if shown != editor.text():
            raise BenchmarkError(f"the preview shows {shown!r}, not {editor.text()!r}")
    return {"milliseconds": milliseconds, "rows": rows, "load_seconds": load_seconds}


def measure_add_row(
    window: Any, settler: LayoutSettler, rows: int, samples: int, deadline: Deadline
) -> dict:
    """Time clicks on the properties Add button that add row number `rows`.

    The first `rows` - 1 rows are set at once, as loading a preset does. After each sample
    the new row is removed again, outside the clock. Memory per row is the growth in RSS from
    setting those rows, divided by their number.
    """
    _track_event(window, settler)
    window.form.set_value("properties", {})
    settler.settle()
    delete_later_now()
    gc.collect()
    rss_before = rss_bytes()

    started = time.perf_counter()
    window.form.set_value("properties", _property_rows(rows - 1))
    settler.settle()
    load_seconds = time.perf_counter() - started
    gc.collect()
    rss_after = rss_bytes()

    add_button = window.findChild(QPushButton, "properties:add")
    if add_button is None:
        raise BenchmarkError("no properties:add button")
    collection = window.form.editor("properties")

    milliseconds: list[float] = []
    while len(milliseconds) < samples:
        if len(milliseconds) >= MIN_SAMPLES and deadline.expired():
            break

        started = time.perf_counter()
        add_button.click()
        settler.settle()
        milliseconds.append((time.perf_counter() - started) * 1000)

        if collection.row_count() != rows:
            raise BenchmarkError(f"the collection has {collection.row_count()} rows, not {rows}")
        remove = window.findChild(QToolButton, f"properties.propertiesUi[{rows - 1}]:remove")
        if remove is None:
            raise BenchmarkError(f"row {rows - 1} has no remove button")
        remove.click()
        settler.settle()
        delete_later_now()

    per_row = None
    if rss_before is not None and rss_after is not None and rows > 1:
        per_row = (rss_after - rss_before) / (rows - 1)
    return {
        "milliseconds": milliseconds,
        "rows": rows,
        "load_seconds": load_seconds,
        "rss_bytes_per_row": per_row,
    }


def measure(config: dict[str, Any]) -> dict[str, Any]:
    app = application()
    settler = LayoutSettler(app)
    window = open_window(os.environ["SEGMENT_GUI_HOME"])
    settler.settle()
    budget = float(config["budget_seconds"])
    try:
        switch = measure_switch(window, settler, int(config["switch_samples"]), Deadline(budget))
        edit = measure_edit(
            window,
            settler,
            int(config["edit_rows"]),
            int(config["edit_samples"]),
            Deadline(budget),
        )
        add_row = measure_add_row(
            window,
            settler,
            int(config["add_rows"]),
            int(config["add_samples"]),
            Deadline(budget),
        )
    finally:
        window.shutdown()
    return {"switch": switch, "edit": edit, "add_row": add_row}


if __name__ == "__main__":
    child_main(measure)
