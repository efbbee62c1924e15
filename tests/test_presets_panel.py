"""The presets list: sorting by name or last change, and notes shown under the name."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from segment_gui.model import Preset
from segment_gui.storage import PresetStore, app_paths
from segment_gui.ui.presets_panel import NOTE_ROLE


def save(home: Path, name: str, changed: float, settings: dict[str, Any] | None = None) -> None:
    store = PresetStore(app_paths(home))
    preset = Preset(
        name=name, parameters={"resource": "track", "operation": "event"}, settings=settings or {}
    )
    store.save(preset)
    os.utime(store.path_for(name), (changed, changed))


def listed(window: Any, qtbot: Any, count: int) -> list[str]:
    panel = window.presets_panel
    panel.refresh()
    qtbot.waitUntil(lambda: len(panel.names()) == count, timeout=5000)
    return panel.names()


def test_presets_sort_by_name_and_change(window: Any, qtbot: Any, home: Path) -> None:
    save(home, "beta", 1_700_000_300)
    save(home, "Alpha", 1_700_000_100)
    save(home, "gamma", 1_700_000_200)
    assert listed(window, qtbot, 3) == ["Alpha", "beta", "gamma"]

    window.presets_panel.sort_order = "changed"
    assert window.presets_panel.names() == ["beta", "gamma", "Alpha"]

    # A save moves the preset to the top of the last-change order.
    window.presets_panel.list.setCurrentRow(2)
    window.presets_panel.save_named("Alpha")
    qtbot.waitUntil(lambda: window.presets_panel.names()[0] == "Alpha", timeout=5000)
    assert window.presets_panel.names() == ["Alpha", "beta", "gamma"]
    assert window.presets_panel.list.currentItem().text() == "Alpha"


def test_presets_note_shown_in_flow(window: Any, qtbot: Any, home: Path) -> None:
    save(home, "shown", 1_700_000_000, {"notes": "Checkout funnel\nstep 2", "notesInFlow": True})
    save(home, "hidden", 1_700_000_000, {"notes": "Not in flow", "notesInFlow": False})
    save(home, "plain", 1_700_000_000)
    listed(window, qtbot, 3)
    panel = window.presets_panel
    items = {panel.list.item(row).text(): panel.list.item(row) for row in range(3)}

    assert items["shown"].data(NOTE_ROLE) == "Checkout funnel step 2"
    assert items["hidden"].data(NOTE_ROLE) == ""
    assert items["plain"].data(NOTE_ROLE) == ""
    assert "Not in flow" in items["hidden"].toolTip()
    assert items["shown"].data(Qt.ItemDataRole.AccessibleDescriptionRole) == (
        "Checkout funnel step 2"
    )
    # The row with a note is taller, so the note has a line of its own.
    shown_height = panel.list.visualItemRect(items["shown"]).height()
    plain_height = panel.list.visualItemRect(items["plain"]).height()
    assert shown_height > plain_height

    panel.filter_edit.setText("funnel")
    assert [name for name, item in items.items() if not item.isHidden()] == ["shown"]


def test_presets_note_follows_settings(window: Any, qtbot: Any) -> None:
    window.settings_form.set_value("notes", "Nightly import")
    window.settings_form.set_value("notesInFlow", True)
    window.presets_panel.save_named("nightly")
    qtbot.waitUntil(lambda: window.presets_panel.names() == ["nightly"], timeout=5000)
    assert window.presets_panel.list.item(0).data(NOTE_ROLE) == "Nightly import"


def test_presets_filter_drops_hidden_selection(window: Any, qtbot: Any, home: Path) -> None:
    save(home, "another", 1_700_000_000)
    listed(window, qtbot, 1)
    panel = window.presets_panel
    panel.list.setCurrentRow(0)
    assert panel.delete_button.isEnabled()

    panel.filter_edit.setText("qqq")
    assert panel.list.currentItem() is None
    assert not panel.delete_button.isEnabled()
    assert not panel.load_button.isEnabled()
    assert panel.no_match_label.isVisibleTo(panel)
    assert panel.no_match_label.text() == "No preset name or note contains 'qqq'."

    panel.filter_edit.setText("anoth")
    assert not panel.no_match_label.isVisibleTo(panel)


def test_presets_tooltip_names_call(window: Any, qtbot: Any, home: Path) -> None:
    store = PresetStore(app_paths(home))
    store.save(Preset(name="identify default", parameters={}))
    store.save(Preset(name="track page", parameters={"resource": "track", "operation": "page"}))
    listed(window, qtbot, 2)
    panel = window.presets_panel
    tips = {panel.list.item(row).text(): panel.list.item(row).toolTip() for row in range(2)}
    assert tips["identify default"].splitlines()[0] == "create:identify"
    assert tips["track page"].splitlines()[0] == "page:track"


def test_presets_loaded_preset_selected(window: Any, qtbot: Any, home: Path) -> None:
    save(home, "alpha", 1_700_000_000)
    save(home, "beta", 1_700_000_000)
    listed(window, qtbot, 2)
    window.presets_panel.load("beta")
    qtbot.waitUntil(lambda: window.presets_panel.current_name == "beta", timeout=5000)
    assert window.presets_panel.list.currentItem().text() == "beta"
    assert window.presets_panel.delete_button.isEnabled()
