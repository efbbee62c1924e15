"""The presets list: save, load, rename, duplicate and delete. File IO runs on a worker."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from segment_gui.model import Preset
from segment_gui.storage import PresetStore
from segment_gui.ui.workers import TaskRunner

EMPTY_TEXT = "No presets yet. Fill the form and press Save (Ctrl+S) to keep it."


class PresetsPanel(QWidget):
    preset_loaded = Signal(object)
    message = Signal(str)
    current_changed = Signal(object)
    listed = Signal(list)
    saved = Signal(object)

    def __init__(
        self,
        store: PresetStore,
        runner: TaskRunner,
        snapshot: Callable[[str], Preset],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.runner = runner
        self.snapshot = snapshot
        # Asked before another preset replaces the form; returns False to keep the form.
        self.before_switch: Callable[[], bool] | None = None
        self._current_name: str | None = None
        self._presets: dict[str, Preset] = {}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>Presets</b>", self)
        layout.addWidget(title)
        self.filter_edit = QLineEdit(self)
        self.filter_edit.setObjectName("presetFilter")
        self.filter_edit.setPlaceholderText("Filter presets")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._apply_filter)
        layout.addWidget(self.filter_edit)
        self.list = QListWidget(self)
        self.list.setObjectName("presetList")
        self.list.itemActivated.connect(self._on_item_activated)
        self.list.itemDoubleClicked.connect(self._on_item_activated)
        layout.addWidget(self.list, 1)
        self.empty_label = QLabel(EMPTY_TEXT, self)
        self.empty_label.setWordWrap(True)
        layout.addWidget(self.empty_label)
        self.problems_label = QLabel(self)
        self.problems_label.setObjectName("presetProblems")
        self.problems_label.setWordWrap(True)
        self.problems_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems_label.setVisible(False)
        layout.addWidget(self.problems_label)

        grid = QGridLayout()
        self.load_button = self._button("&Load", "presetLoad", self._on_load_clicked)
        self.save_button = self._button("&Save", "presetSave", self.save)
        self.save_as_button = self._button("Save &as…", "presetSaveAs", self.save_as)
        self.rename_button = self._button("&Rename…", "presetRename", self._on_rename_clicked)
        self.duplicate_button = self._button(
            "D&uplicate", "presetDuplicate", self._on_duplicate_clicked
        )
        self.delete_button = self._button("&Delete", "presetDelete", self._on_delete_clicked)
        buttons = [
            self.load_button,
            self.save_button,
            self.save_as_button,
            self.rename_button,
            self.duplicate_button,
            self.delete_button,
        ]
        for index, button in enumerate(buttons):
            grid.addWidget(button, index // 2, index % 2)
        layout.addLayout(grid)
        self.list.currentItemChanged.connect(lambda *_: self._update_buttons())
        self._update_buttons()

    @property
    def current_name(self) -> str | None:
        """The preset the form was loaded from or last saved as; None for a new request."""
        return self._current_name

    @current_name.setter
    def current_name(self, name: str | None) -> None:
        if name != self._current_name:
            self._current_name = name
            self.current_changed.emit(name)

    def _button(self, text: str, name: str, slot: Callable[[], None]) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.clicked.connect(slot)
        return button

    # -- list -----------------------------------------------------------------------------

    def refresh(self, select: str | None = None) -> None:
        """Reload the list from disk on a worker; select `select` when given."""
        self.runner.start(
            self.store.load_all, lambda result: self._on_listed(result, select), self._on_failed
        )

    def _on_listed(self, result: tuple[list[Preset], list[str]], select: str | None) -> None:
        presets, errors = result
        self._presets = {preset.name: preset for preset in presets}
        self.list.clear()
        for preset in presets:
            item = QListWidgetItem(preset.name, self.list)
            call = (
                f"{preset.parameters.get('resource', '')}:{preset.parameters.get('operation', '')}"
            )
            item.setToolTip(call)
            if preset.name == (select or self.current_name):
                self.list.setCurrentItem(item)
        self._apply_filter()
        self.empty_label.setVisible(not presets and not errors)
        self.problems_label.setVisible(bool(errors))
        if errors:
            count = f"{len(errors)} preset file(s) could not be read:"
            self.problems_label.setText("\n".join([count, *errors]))
            self.message.emit(f"{count} see the presets list")
        self._update_buttons()
        self.listed.emit([preset.name for preset in presets])

    def names(self) -> list[str]:
        return [self.list.item(row).text() for row in range(self.list.count())]

    def _apply_filter(self) -> None:
        needle = self.filter_edit.text().casefold()
        for row in range(self.list.count()):
            item = self.list.item(row)
            item.setHidden(needle not in item.text().casefold())

    def _selected_name(self) -> str | None:
        item = self.list.currentItem()
        return item.text() if item is not None else None

    def _update_buttons(self) -> None:
        selected = self._selected_name() is not None
        for button in (
            self.load_button,
            self.rename_button,
            self.duplicate_button,
            self.delete_button,
        ):
            button.setEnabled(selected)

    # -- actions --------------------------------------------------------------------------

    def load(self, name: str) -> None:
        if self.before_switch is not None and not self.before_switch():
            return
        self.runner.start(lambda: self.store.load(name), self._on_loaded, self._on_failed)

    def _on_loaded(self, preset: Preset) -> None:
        # The window reports problems with the preset's values after this message, so they
        # are the ones left in the status bar.
        self.message.emit(f"Loaded preset {preset.name!r}")
        self.current_name = preset.name
        self.preset_loaded.emit(preset)

    def _on_item_activated(self, item: QListWidgetItem) -> None:
        self.load(item.text())

    def _on_load_clicked(self) -> None:
        name = self._selected_name()
        if name:
            self.load(name)

    def save(self) -> None:
        """Save over the loaded preset, or ask for a name when none is loaded."""
        if self.current_name is None:
            self.save_as()
        else:
            self.save_named(self.current_name)

    def save_as(self) -> None:
        name, accepted = QInputDialog.getText(
            self, "Save preset", "Preset name:", text=self.current_name or ""
        )
        if accepted and name.strip():
            if name.strip() != self.current_name and name.strip() in self._presets:
                answer = QMessageBox.question(
                    self, "Save preset", f"Replace the preset {name.strip()!r}?"
                )
                if answer != QMessageBox.StandardButton.Yes:
                    return
            self.save_named(name.strip())

    def save_named(self, name: str) -> None:
        preset = self.snapshot(name)
        self.runner.start(
            lambda: self.store.save(preset), lambda _: self._on_saved(preset), self._on_failed
        )

    def _on_saved(self, preset: Preset) -> None:
        name = preset.name
        self.current_name = name
        self.saved.emit(preset)
        self.message.emit(f"Saved preset {name!r}")
        self.refresh(select=name)

    def _on_rename_clicked(self) -> None:
        old = self._selected_name()
        if old is None:
            return
        new, accepted = QInputDialog.getText(self, "Rename preset", "New name:", text=old)
        if accepted and new.strip() and new.strip() != old:
            self.rename(old, new.strip())

    def rename(self, old: str, new: str) -> None:
        def done(_: object) -> None:
            if self.current_name == old:
                self.current_name = new
            self.message.emit(f"Renamed preset {old!r} to {new!r}")
            self.refresh(select=new)

        self.runner.start(lambda: self.store.rename(old, new), done, self._on_failed)

    def _on_duplicate_clicked(self) -> None:
        name = self._selected_name()
        if name is not None:
            self.duplicate(name)

    def duplicate(self, name: str) -> None:
        copy_name = self._free_name(f"{name} copy")

        def work() -> None:
            preset = self.store.load(name)
            preset.name = copy_name
            self.store.save(preset)

        def done(_: object) -> None:
            self.message.emit(f"Duplicated {name!r} as {copy_name!r}")
            self.refresh(select=copy_name)

        self.runner.start(work, done, self._on_failed)

    def _free_name(self, base: str) -> str:
        candidate, number = base, 2
        while candidate in self._presets:
            candidate = f"{base} {number}"
            number += 1
        return candidate

    def _on_delete_clicked(self) -> None:
        name = self._selected_name()
        if name is None:
            return
        answer = QMessageBox.question(self, "Delete preset", f"Delete the preset {name!r}?")
        if answer == QMessageBox.StandardButton.Yes:
            self.delete(name)

    def delete(self, name: str) -> None:
        def done(_: object) -> None:
            if self.current_name == name:
                self.current_name = None
            self.message.emit(f"Deleted preset {name!r}")
            self.refresh()

        self.runner.start(lambda: self.store.delete(name), done, self._on_failed)

    def _on_failed(self, error: Exception) -> None:
        self.message.emit(str(error))
