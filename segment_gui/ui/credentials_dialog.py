"""Add, edit and delete credentials. Keyring calls run on a worker thread."""

from __future__ import annotations

from PySide6.QtCore import QSize, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from segment_gui.credentials import CredentialStore
from segment_gui.endpoints import endpoint_label
from segment_gui.storage import CredentialRecord
from segment_gui.ui.endpoint import EndpointSelector
from segment_gui.ui.workers import TaskRunner

HELP_TEXT = (
    "A credential is a name, an endpoint and a Segment write key. The key is stored only in "
    "your system keyring, never in a file. Find it in Segment under Connections → Sources → "
    "your HTTP API source → Settings → API Keys."
)


class CredentialsDialog(QDialog):
    credentials_changed = Signal()

    def __init__(
        self, store: CredentialStore, runner: TaskRunner, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Credentials")
        self.setObjectName("credentialsDialog")
        self.store = store
        self.runner = runner
        self._records: list[CredentialRecord] = []

        layout = QVBoxLayout(self)
        intro = QLabel(HELP_TEXT, self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        body = QHBoxLayout()
        self.list = QListWidget(self)
        self.list.setObjectName("credentialList")
        self.list.currentRowChanged.connect(self._on_list_row_changed)
        body.addWidget(self.list, 1)

        form_widget = QWidget(self)
        form = QFormLayout(form_widget)
        self.name_edit = QLineEdit(form_widget)
        self.name_edit.setObjectName("credentialName")
        self.name_edit.setPlaceholderText("e.g. production")
        self.endpoint = EndpointSelector(form_widget, name="credentialEndpoint")
        self.key_edit = QLineEdit(form_widget)
        self.key_edit.setObjectName("credentialKey")
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setAccessibleName("Write key")
        form.addRow("&Name", self.name_edit)
        form.addRow("&Endpoint", self.endpoint)
        form.addRow("&Write key", self.key_edit)
        self.message = QLabel("", form_widget)
        self.message.setObjectName("credentialMessage")
        self.message.setWordWrap(True)
        form.addRow(self.message)
        buttons = QHBoxLayout()
        self.new_button = QPushButton("&New", form_widget)
        self.save_button = QPushButton("&Save", form_widget)
        self.save_button.setObjectName("credentialSave")
        self.delete_button = QPushButton("&Delete", form_widget)
        self.delete_button.setObjectName("credentialDelete")
        for button in (self.new_button, self.save_button, self.delete_button):
            buttons.addWidget(button)
        form.addRow(buttons)
        body.addWidget(form_widget, 2)
        layout.addLayout(body)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        close.rejected.connect(self.reject)
        layout.addWidget(close)

        self.new_button.clicked.connect(self._on_new_clicked)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.delete_button.clicked.connect(self._on_delete_clicked)
        # At least the size its contents need, which grows with the font size.
        self.resize(self.sizeHint().expandedTo(QSize(640, 320)))
        self.reload()
        self._on_new_clicked()

    def reload(self) -> None:
        try:
            self._records = self.store.list()
        except ValueError as error:
            self._records = []
            self.message.setText(str(error))
        self.list.clear()
        for record in self._records:
            self.list.addItem(f"{record.name}  ({endpoint_label(record.endpoint)})")

    def _on_new_clicked(self) -> None:
        self.list.setCurrentRow(-1)
        self.name_edit.clear()
        self.name_edit.setReadOnly(False)
        self.endpoint.set_endpoint("us")
        self.key_edit.clear()
        self.key_edit.setPlaceholderText("paste the source's write key")
        self.delete_button.setEnabled(False)

    def _on_list_row_changed(self, row: int) -> None:
        if not 0 <= row < len(self._records):
            return
        record = self._records[row]
        self.name_edit.setText(record.name)
        self.name_edit.setReadOnly(True)
        self.endpoint.set_endpoint(record.endpoint)
        self.key_edit.clear()
        self.key_edit.setPlaceholderText("leave empty to keep the stored key")
        self.delete_button.setEnabled(True)

    def _on_save_clicked(self) -> None:
        name = self.name_edit.text().strip()
        endpoint = self.endpoint.endpoint()
        editing = self.name_edit.isReadOnly()
        key = self.key_edit.text() or (None if editing else "")
        self._busy(f"Saving {name!r} to the keyring …")
        self.runner.start(
            lambda: self.store.set(name, endpoint, key),
            self._on_saved,
            self._on_failed,
        )

    def _on_saved(self, record: CredentialRecord) -> None:
        self.key_edit.clear()
        self.reload()
        self._idle(f"Saved {record.name!r}. The write key is in the system keyring.")
        for row, item in enumerate(self._records):
            if item.name == record.name:
                self.list.setCurrentRow(row)
        self.credentials_changed.emit()

    def _on_delete_clicked(self) -> None:
        name = self.name_edit.text().strip()
        answer = QMessageBox.question(
            self, "Delete credential", f"Delete credential {name!r} and its write key?"
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self._busy(f"Deleting {name!r} …")
        self.runner.start(
            lambda: self.store.delete(name), lambda _: self._on_deleted(name), self._on_failed
        )

    def _on_deleted(self, name: str) -> None:
        self.reload()
        self._on_new_clicked()
        self._idle(f"Deleted {name!r}.")
        self.credentials_changed.emit()

    def _on_failed(self, error: Exception) -> None:
        self._idle(str(error))

    def _busy(self, text: str) -> None:
        self.message.setText(text)
        for button in (self.new_button, self.save_button, self.delete_button):
            button.setEnabled(False)

    def _idle(self, text: str) -> None:
        self.message.setText(text)
        self.new_button.setEnabled(True)
        self.save_button.setEnabled(True)
        self.delete_button.setEnabled(self.name_edit.isReadOnly())
