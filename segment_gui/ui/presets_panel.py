"""The presets list: save, load, rename, duplicate and delete. File IO runs on a worker.

The list sorts by name or by last change, and shows a preset's note under its name when the
preset's "Display Note in Flow?" setting is on, as n8n shows it under the node.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStyledItemDelegate,
    QVBoxLayout,
    QWidget,
)

from segment_gui.model import Preset
from segment_gui.storage import PresetStore
from segment_gui.ui.workers import TaskRunner

if TYPE_CHECKING:
    from PySide6.QtWidgets import QStyleOptionViewItem

EMPTY_TEXT = "No presets yet. Fill the form and press Save (Ctrl+S) to keep it."
NAME_ROLE = Qt.ItemDataRole.UserRole
NOTE_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ORDERS = {"name": "Name", "changed": "Last change"}


def shown_note(preset: Preset) -> str:
    """Return the note shown under the preset's name, or "" when Display Note in Flow is off."""
    note = preset.settings.get("notes")
    if preset.settings.get("notesInFlow") is not True or not isinstance(note, str):
        return ""
    return " ".join(note.split())


class _NoteDelegate(QStyledItemDelegate):
    """Paints the preset's name, and its note in a smaller italic line under it."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        note = index.data(NOTE_ROLE)
        if not note:
            super().paint(painter, option, index)
            return
        # Importing QStyle creates its Python enums, about 5 ms, so an empty list at start-up
        # does not pay for them.
        from PySide6.QtWidgets import QStyle, QStyleOptionViewItem

        view_option = QStyleOptionViewItem(option)
        self.initStyleOption(view_option, index)
        name = view_option.text
        view_option.text = ""

        # The style draws the background, selection and focus frame; the text is drawn here.
        widget = view_option.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, view_option, painter, widget)
        area = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, view_option, widget)
        area = area.adjusted(2, 0, -2, 0)

        selected = bool(view_option.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.save()
        painter.setPen(view_option.palette.color(role))
        name_metrics = QFontMetrics(view_option.font)
        top = area.top() + 2
        painter.setFont(view_option.font)
        painter.drawText(
            area.left(),
            top + name_metrics.ascent(),
            name_metrics.elidedText(name, Qt.TextElideMode.ElideRight, area.width()),
        )
        note_font = _note_font(view_option.font)
        note_metrics = QFontMetrics(note_font)
        painter.setFont(note_font)
        painter.drawText(
            area.left(),
            top + name_metrics.height() + note_metrics.ascent(),
            note_metrics.elidedText(note, Qt.TextElideMode.ElideRight, area.width()),
        )
        painter.restore()

    def sizeHint(  # noqa: N802 - Qt override
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        size = super().sizeHint(option, index)
        if index.data(NOTE_ROLE):
            size.setHeight(size.height() + QFontMetrics(_note_font(option.font)).height() + 4)
        return size


def _note_font(font: QFont) -> QFont:
    note_font = QFont(font)
    note_font.setItalic(True)
    note_font.setPointSizeF(max(font.pointSizeF() * 0.9, 7.0))
    return note_font


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
        # Names a preset's call in its tooltip, as the window's subtitle does.
        self.describe: Callable[[Preset], str] | None = None
        self._current_name: str | None = None
        self._presets: dict[str, Preset] = {}
        self._select_after_fill: str | None = None

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
        sort_row = QHBoxLayout()
        sort_label = QLabel("S&ort by", self)
        self.sort_combo = QComboBox(self)
        self.sort_combo.setObjectName("presetSort")
        self.sort_combo.setAccessibleName("Sort presets by")
        for key, label in SORT_ORDERS.items():
            self.sort_combo.addItem(label, key)
        sort_label.setBuddy(self.sort_combo)
        self.sort_combo.currentIndexChanged.connect(lambda _index: self._fill())
        sort_row.addWidget(sort_label)
        sort_row.addWidget(self.sort_combo, 1)
        layout.addLayout(sort_row)
        self.list = QListWidget(self)
        self.list.setObjectName("presetList")
        self.list.setAccessibleName("Presets")
        self.list.setItemDelegate(_NoteDelegate(self.list))
        self.list.itemActivated.connect(self._on_item_activated)
        self.list.itemDoubleClicked.connect(self._on_item_activated)
        layout.addWidget(self.list, 1)
        self.empty_label = QLabel(EMPTY_TEXT, self)
        self.empty_label.setWordWrap(True)
        layout.addWidget(self.empty_label)
        self.no_match_label = QLabel(self)
        self.no_match_label.setObjectName("presetNoMatch")
        self.no_match_label.setWordWrap(True)
        self.no_match_label.setVisible(False)
        layout.addWidget(self.no_match_label)
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

    @property
    def sort_order(self) -> str:
        """How the list is sorted: "name" (A to Z) or "changed" (last changed first)."""
        return str(self.sort_combo.currentData())

    @sort_order.setter
    def sort_order(self, order: str) -> None:
        index = self.sort_combo.findData(order)
        if index >= 0:
            self.sort_combo.setCurrentIndex(index)

    def _on_listed(self, result: tuple[list[Preset], list[str]], select: str | None) -> None:
        presets, errors = result
        self._presets = {preset.name: preset for preset in presets}
        self._select_after_fill = select
        self._fill()
        self.empty_label.setVisible(not presets and not errors)
        self.problems_label.setVisible(bool(errors))
        if errors:
            count = f"{len(errors)} preset file(s) could not be read:"
            self.problems_label.setText("\n".join([count, *errors]))
            self.message.emit(f"{count} see the presets list")
        self._update_buttons()
        self.listed.emit([preset.name for preset in presets])

    def _fill(self) -> None:
        """List the presets in the chosen order, keeping the selection."""
        select = self._select_after_fill or self._selected_name() or self.current_name
        self._select_after_fill = None
        presets = sorted(self._presets.values(), key=lambda preset: preset.name.casefold())
        if self.sort_order == "changed":
            presets.sort(key=lambda preset: preset.modified or 0.0, reverse=True)
        self.list.clear()
        for preset in presets:
            item = QListWidgetItem(preset.name, self.list)
            item.setData(NAME_ROLE, preset.name)
            note = shown_note(preset)
            item.setData(NOTE_ROLE, note)
            if note:
                item.setData(Qt.ItemDataRole.AccessibleDescriptionRole, note)
            call = self.describe(preset) if self.describe is not None else ""
            item.setToolTip(_tooltip(preset, call))
            if preset.name == select:
                self.list.setCurrentItem(item)
        self._apply_filter()

    def names(self) -> list[str]:
        """Return the listed preset names in the order shown."""
        return [self.list.item(row).text() for row in range(self.list.count())]

    def _apply_filter(self) -> None:
        """Hide presets whose name and note lack the filter text; a hidden one is unselected."""
        needle = self.filter_edit.text().casefold()
        shown = 0
        for row in range(self.list.count()):
            item = self.list.item(row)
            searched = f"{item.text()}\n{item.data(NOTE_ROLE) or ''}".casefold()
            item.setHidden(needle not in searched)
            shown += not item.isHidden()
        current = self.list.currentItem()
        if current is not None and current.isHidden():
            # Load and Delete act on the selection, so it must be a preset the user can see.
            self.list.setCurrentRow(-1)
        no_match = bool(needle) and self.list.count() > 0 and shown == 0
        self.no_match_label.setText(
            f"No preset name or note contains {self.filter_edit.text()!r}." if no_match else ""
        )
        self.no_match_label.setVisible(no_match)
        self._update_buttons()

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
        self.select(preset.name)
        self.preset_loaded.emit(preset)

    def select(self, name: str) -> None:
        """Make `name` the selected row, when it is listed and not filtered out."""
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.text() == name and not item.isHidden():
                self.list.setCurrentItem(item)
                return

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
        from PySide6.QtWidgets import QInputDialog, QMessageBox

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
        from PySide6.QtWidgets import QInputDialog

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
        from PySide6.QtWidgets import QMessageBox

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


def _tooltip(preset: Preset, call: str) -> str:
    lines = [call] if call else []
    if preset.modified is not None:
        changed = time.strftime("%Y-%m-%d %H:%M", time.localtime(preset.modified))
        lines.append(f"Last changed {changed}")
    note = preset.settings.get("notes")
    if isinstance(note, str) and note.strip():
        lines.append(note.strip())
    return "\n".join(lines)
