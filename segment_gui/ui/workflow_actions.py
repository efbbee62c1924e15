"""The main window's n8n and curl actions: import n8n workflows and preset files (menu, paste
or drop), and copy the form as an n8n node or a curl command."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

from segment_gui.endpoints import SANDBOX_WRITE_KEY, EndpointError
from segment_gui.model import Preset
from segment_gui.payload import describe, new_message_id

if TYPE_CHECKING:
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QComboBox

    from segment_gui.credentials import CredentialStore
    from segment_gui.n8n_workflow import ImportReport, WorkflowImport
    from segment_gui.payload import Composition
    from segment_gui.spec import NodeSpec
    from segment_gui.storage import CredentialRecord, PresetStore
    from segment_gui.ui.presets_panel import PresetsPanel
    from segment_gui.ui.workers import TaskRunner


class WorkflowActions:
    """Mixin of MainWindow, which provides the attributes and methods declared here."""

    spec: NodeSpec
    preset_store: PresetStore
    credential_store: CredentialStore
    runner: TaskRunner
    presets_panel: PresetsPanel
    credential_combo: QComboBox
    message_id: str
    last_import_report: ImportReport | None
    _credentials: list[CredentialRecord]

    if TYPE_CHECKING:

        def notify(self, text: str) -> None: ...

        def snapshot(self, name: str) -> Preset: ...

        def compose(self) -> Composition: ...

        def _base_url(self, start_sandbox: bool = True) -> str: ...

        def _on_form_changed(self) -> None: ...

    def _widget(self) -> QWidget:
        return cast(QWidget, self)

    # -- n8n and curl --------------------------------------------------------------------

    def _on_import_file_triggered(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        from segment_gui.n8n_workflow import read_workflow_file

        path, _filter = QFileDialog.getOpenFileName(
            self._widget(), "Import n8n workflow", "", "n8n workflow (*.json);;All files (*)"
        )
        if path:
            self.import_workflow(lambda: read_workflow_file(Path(path)), path)

    def _on_import_paste_triggered(self) -> None:
        from segment_gui.n8n_workflow import parse_workflow

        text = QGuiApplication.clipboard().text()
        if not text.strip():
            self.notify("The clipboard is empty; copy nodes in n8n's editor first (Ctrl+C)")
            return
        self.import_workflow(lambda: parse_workflow(text), "the clipboard")

    def import_workflow(self, parse: Callable[[], WorkflowImport], source: str) -> None:
        """Import the Segment nodes that `parse` finds as presets, on a worker thread."""
        from PySide6.QtWidgets import QMessageBox

        from segment_gui.n8n_workflow import import_presets

        store = self.preset_store
        known = {record.name for record in self._credentials}

        def work() -> ImportReport:
            return import_presets(parse(), store, known)

        def done(report: ImportReport) -> None:
            self.last_import_report = report
            self.presets_panel.refresh()
            lines = report.lines()
            self.notify(lines[0] if lines else f"Nothing imported from {source}")
            box = QMessageBox(
                QMessageBox.Icon.Information, "n8n import", "\n".join(lines), parent=self._widget()
            )
            box.setObjectName("importReport")
            box.open()

        def failed(error: Exception) -> None:
            self.notify(f"Cannot import {source}: {error}")

        self.runner.start(work, done, failed)

    def copy_as_n8n(self) -> str:
        """Put the form on the clipboard as an n8n Segment node; returns the JSON."""
        from segment_gui.n8n_workflow import (
            DEFAULT_NODE_NAME,
            WorkflowError,
            export_notices,
            export_workflow,
            workflow_json,
        )

        preset = self.snapshot(self.presets_panel.current_name or DEFAULT_NODE_NAME)
        try:
            workflow = export_workflow([preset], self.spec)
        except WorkflowError as error:
            self.notify(f"Cannot copy as n8n node: {error}")
            return ""
        text = workflow_json(workflow)
        QGuiApplication.clipboard().setText(text)
        notices = [notice.message() for notice in export_notices([preset], self.spec)]
        self.notify(
            " ".join(["Copied as an n8n Segment node; paste it in n8n's editor.", *notices])
        )
        return text

    def copy_as_curl(self, include_key: bool, write_key: str | None = None) -> str:
        """Put a curl command for the current message on the clipboard; returns it."""
        from segment_gui.curl import WRITE_KEY_VARIABLE, curl_command

        composition = self.compose()
        if not composition.sendable or composition.message is None:
            self.notify(
                "Cannot copy as curl: " + "; ".join(describe(p) for p in composition.errors())
            )
            return ""
        # The command names the sandbox's real port, so the sandbox is started (or its start in
        # progress waited for) here.
        try:
            base_url = self._base_url(start_sandbox=True)
        except EndpointError:
            base_url = "{endpoint}"
        command = curl_command(base_url, composition.message, write_key, include_key=include_key)
        QGuiApplication.clipboard().setText(command)
        # Segment drops a second message with the same messageId, so each copy gets its own.
        self.message_id = new_message_id()
        self._on_form_changed()
        if include_key:
            self.notify("Copied curl command WITH the write key; treat it like a password")
        else:
            self.notify(f"Copied curl command; export {WRITE_KEY_VARIABLE} before running it")
        return command

    def _on_copy_curl_with_key_triggered(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        credential = self.credential_combo.currentData() or None
        answer = QMessageBox.question(
            self._widget(),
            "Copy with write key",
            "The command will contain the write key in plain text. Anyone who sees it can send "
            "data to your Segment source. Copy it anyway?",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        if credential is None:
            self.copy_as_curl(True, SANDBOX_WRITE_KEY)
            return
        store = self.credential_store

        def copy(key: str) -> None:
            self.copy_as_curl(True, key)

        self.runner.start(
            lambda: store.key(credential), copy, lambda error: self.notify(str(error))
        )

    # -- drop to import -------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        for path in paths:
            self.import_file(path)
        event.acceptProposedAction()

    def import_file(self, path: Path) -> None:
        """Import a dropped file: an n8n workflow's Segment nodes, or a segment-gui preset."""
        from segment_gui.n8n_workflow import free_preset_name, import_presets, parse_workflow

        store = self.preset_store

        def work() -> ImportReport | str:
            text = path.read_text(encoding="utf-8")
            data = json.loads(text)
            if isinstance(data, dict) and "formatVersion" in data:
                preset = Preset.from_json(data, path.name)
                preset.name = free_preset_name(store, preset.name)
                store.save(preset)
                return f"Imported preset {preset.name!r} from {path.name}"
            known = {record.name for record in self._credentials}
            return import_presets(parse_workflow(text), store, known)

        def done(result: ImportReport | str) -> None:
            self.presets_panel.refresh()
            if isinstance(result, str):
                self.notify(result)
            else:
                self.last_import_report = result
                lines = result.lines()
                self.notify(lines[0] if lines else f"Nothing imported from {path.name}")

        def failed(error: Exception) -> None:
            self.notify(f"Cannot import {path}: {error}")

        self.runner.start(work, done, failed)
