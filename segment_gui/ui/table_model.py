"""A read-only table model over a list that only grows or is cleared."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

Row = TypeVar("Row")
ModelIndex = QModelIndex | QPersistentModelIndex


class AppendTableModel(QAbstractTableModel, Generic[Row]):
    """Rows of `Row` objects, one per line, in the order they were appended.

    `cell(row, column)` gives a cell's text. With `tooltips`, a cell's tooltip repeats its text,
    which shows the whole of a cell cut by the column width.
    """

    def __init__(
        self,
        columns: Sequence[str],
        cell: Callable[[Row, int], str],
        tooltips: bool = False,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._columns = tuple(columns)
        self._cell = cell
        self._roles = {Qt.ItemDataRole.DisplayRole}
        if tooltips:
            self._roles.add(Qt.ItemDataRole.ToolTipRole)
        self._rows: list[Row] = []

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt override
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt override
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role not in self._roles:
            return None
        return self._cell(self._rows[index.row()], index.column())

    def headerData(  # noqa: N802 - Qt override
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self._columns[section]
        return None

    def row(self, number: int) -> Row:
        """Return the object shown in row `number`."""
        return self._rows[number]

    def append(self, rows: Sequence[Row]) -> None:
        """Add `rows` at the end in one insertion."""
        if not rows:
            return
        start = len(self._rows)
        self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
        self._rows.extend(rows)
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self._rows = []
        self.endResetModel()
