"""The main window: composes the presets list, the generated form and the result panels.

It wires panels together and hands work to the layers below, so it builds no payloads itself.
Network and disk work runs on worker threads. The exceptions are two small writes that the user
waits for anyway: the window-state file at close, and a save chosen at the unsaved-changes
prompt.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from segment_gui.credentials import CredentialStore
from segment_gui.endpoints import (
    SANDBOX,
    SANDBOX_WRITE_KEY,
    EndpointError,
    is_loopback_url,
    needs_insecure_confirmation,
    resolve_base_url,
)
from segment_gui.history import History, HistoryEntry
from segment_gui.model import (
    Preset,
    check_types,
    compact_parameters,
    resolve_parameters,
    resolve_settings,
    visible_fields,
)
from segment_gui.payload import (
    BODY_MODES,
    MAX_MESSAGE_BYTES,
    Composition,
    Message,
    PayloadError,
    Problem,
    compose,
    describe,
    field_label,
    new_message_id,
)
from segment_gui.spec import NodeSpec, load_spec
from segment_gui.storage import (
    COLOR_SCHEMES,
    PREFERENCE_DEFAULTS,
    AppPaths,
    Config,
    CredentialRecord,
    PresetStore,
    app_paths,
)
from segment_gui.subtitle import SubtitleRenderer
from segment_gui.ui.endpoint import EndpointSelector
from segment_gui.ui.form import GeneratedForm
from segment_gui.ui.icons import icon
from segment_gui.ui.json_view import JsonView
from segment_gui.ui.presets_panel import PresetsPanel
from segment_gui.ui.sender import SendController, SendJob
from segment_gui.ui.theme import scheme_controller
from segment_gui.ui.undo import FormHistory
from segment_gui.ui.window_widgets import (
    FirstPaintWatch,
    LazyPage,
    StatusLines,
    TextLine,
    replace_changed_text,
    scrolling,
)
from segment_gui.ui.workers import TaskRunner
from segment_gui.ui.workflow_actions import WorkflowActions

# Imported where used, to keep them out of start-up: the n8n workflow code, the dialogs, the
# tabs that the first frame does not show, the run code, the sandbox collector and the sender.
if TYPE_CHECKING:
    from PySide6.QtGui import QCloseEvent

    from segment_gui.expressions import ExpressionEngine
    from segment_gui.n8n_workflow import ImportReport
    from segment_gui.runs import RunReport
    from segment_gui.sandbox import ReceivedMessage, SandboxCollector
    from segment_gui.transport import Response, SendOptions
    from segment_gui.ui.credentials_dialog import CredentialsDialog
    from segment_gui.ui.history_panel import HistoryPanel
    from segment_gui.ui.inbox import InboxView, SandboxBridge
    from segment_gui.ui.input_panel import InputPanel
    from segment_gui.ui.preferences_dialog import PreferencesDialog
    from segment_gui.ui.response_view import ResponseView
    from segment_gui.ui.run_panel import RunPanel
    from segment_gui.ui.sandbox_start import SandboxStart

logger = logging.getLogger(__name__)

NO_CREDENTIAL = ""
# Live previews evaluate on the GUI thread, so a runaway expression is cut off quickly.
PREVIEW_TIMEOUT_MS = 100
# Height of the status above the preview, in lines. It fits the request line and the problems
# of any operation with an empty form in the Segment spec body. Longer lists, such as the notes
# of n8n mode, scroll.
PREVIEW_STATUS_LINES = 4
# How long a caller that needs the sandbox's URL at once waits for a start in progress.
SANDBOX_START_WAIT_SECONDS = 10.0
NO_CREDENTIAL_LABEL = "No credential (sandbox only)"
# Icons of menu actions, by action text (the SVG files in resources/icons/).
ACTION_ICONS = {
    "&Undo": "undo",
    "&Redo": "redo",
    "&New request": "new",
    "&Save preset": "save",
    "Save preset &as…": "save",
    "&Import n8n workflow file…": "import",
    "&Paste n8n workflow from clipboard": "import",
    "Copy as &n8n node": "copy",
    "Copy as &curl": "copy",
    "Copy as curl with &write key…": "copy",
    "&Find in response": "find",
    "&Send": "send",
    "C&ancel send": "cancel",
}


class MainWindow(WorkflowActions, QMainWindow):
    def __init__(self, home: Path | None = None, spec: NodeSpec | None = None) -> None:
        super().__init__()
        self.paths: AppPaths = app_paths(home)
        self.spec = spec or load_spec()
        self.runner = TaskRunner(self)
        self.credential_store = CredentialStore(self.paths)
        self.preset_store = PresetStore(self.paths)
        self.config = Config(self.paths)
        self.history = History(self.paths)
        self.preferences: dict[str, Any] = dict(PREFERENCE_DEFAULTS)
        self.send_controller = SendController(
            self.runner, self.credential_store, self.history, self
        )
        self.sandbox: SandboxCollector | None = None
        self._sandbox_bridge: SandboxBridge | None = None
        self._sandbox_start: SandboxStart | None = None
        # Actions (a send, a run) waiting for the sandbox start in progress. Each is called
        # with True once the sandbox runs, or with False when the start failed or Esc was
        # pressed.
        self._sandbox_waiters: list[Callable[[bool], None]] = []
        # Messages the sandbox received while the Sandbox inbox tab was not built yet.
        self._inbox_backlog: list[ReceivedMessage] = []
        self._painted = False
        self.anonymous_id = str(uuid.uuid4())
        self.message_id = new_message_id()
        self.last_response: Response | None = None
        self._credentials: list[CredentialRecord] = []
        self._sending = False
        self._composition: Composition | None = None
        self._pending_credential = ""
        self._pending_preset = ""
        # The loaded or saved preset as stored, to tell whether the form has unsaved changes.
        self._baseline: dict[str, Any] | None = None
        self.last_import_report: ImportReport | None = None
        # V8 starts only for a subtitle that the Python renderer does not cover.
        self._subtitle_renderer = SubtitleRenderer(
            self.spec.subtitle,
            lambda template, values: _shared_engine().render_subtitle(template, values),
        )

        self.window_state = QSettings(
            str(self.paths.config_dir / "window.ini"), QSettings.Format.IniFormat
        )
        # Before any widget is built, so the first frame already has the saved scheme.
        self._apply_saved_scheme()

        self.setWindowTitle("Segment GUI")
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.resize(1360, 820)
        self._build_widgets()
        self._build_menus()

        self.send_controller.started.connect(lambda url: self.response_view.show_pending(url))
        self.send_controller.progress.connect(self._on_send_progress)
        self.send_controller.finished.connect(self._on_send_finished)
        self.send_controller.failed.connect(self._on_send_failed)
        self.send_controller.recorded.connect(self._on_send_recorded)

        self.presets_panel.refresh()
        self._refresh_credentials()
        self.runner.start(
            self.config.preferences, self._on_preferences_loaded, self._on_config_failed
        )
        # One preview pass below, rather than one more per endpoint restored here.
        self.endpoint.blockSignals(True)
        self.endpoint.set_endpoint(SANDBOX)
        self._restore_state()
        self.endpoint.blockSignals(False)
        # Until a preset loads, the form is a new request, and edits to it are unsaved work.
        self._baseline = self._request_state(None)
        self._on_form_changed()
        self._first_paint_watch = FirstPaintWatch(self, self._on_first_paint)

    # -- layout ---------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        central = QWidget(self)
        outer = QVBoxLayout(central)

        top = QHBoxLayout()
        credential_label = QLabel("&Credential", central)
        top.addWidget(credential_label)
        self.credential_combo = QComboBox(central)
        self.credential_combo.setObjectName("credential")
        self.credential_combo.setAccessibleName("Credential")
        self.credential_combo.setMinimumWidth(200)
        # Wide enough for the chosen name at any font size.
        self.credential_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        credential_label.setBuddy(self.credential_combo)
        top.addWidget(self.credential_combo)
        self.manage_button = QPushButton("Credentials…", central)
        self.manage_button.setObjectName("manageCredentials")
        self.manage_button.clicked.connect(self.open_credentials_dialog)
        top.addWidget(self.manage_button)
        endpoint_label = QLabel("&Endpoint", central)
        top.addWidget(endpoint_label)
        self.endpoint = EndpointSelector(central)
        endpoint_label.setBuddy(self.endpoint.combo)
        top.addWidget(self.endpoint, 1)
        self.busy = QProgressBar(central)
        self.busy.setObjectName("busy")
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.setVisible(False)
        top.addWidget(self.busy)
        self.send_button = QPushButton(icon("send"), "Send", central)
        self.send_button.setObjectName("send")
        self.send_button.setToolTip("Send the message (Ctrl+Enter)")
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self.send)
        top.addWidget(self.send_button)
        self.cancel_button = QPushButton(icon("cancel"), "Cancel", central)
        self.cancel_button.setObjectName("cancel")
        self.cancel_button.setToolTip("Stop the send in flight (Esc)")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_send)
        top.addWidget(self.cancel_button)
        outer.addLayout(top)

        splitter = QSplitter(Qt.Orientation.Horizontal, central)
        splitter.setObjectName("mainSplitter")
        self.splitter = splitter
        self.presets_panel = PresetsPanel(self.preset_store, self.runner, self.snapshot, splitter)
        self.presets_panel.preset_loaded.connect(self.apply_preset)
        self.presets_panel.current_changed.connect(self._on_current_preset_changed)
        self.presets_panel.listed.connect(self._on_presets_listed)
        self.presets_panel.saved.connect(self._remember_baseline)
        self.presets_panel.before_switch = lambda: self.confirm_discard("load another preset")
        self.presets_panel.describe = lambda preset: self._subtitle_renderer.render(
            resolve_parameters(self.spec, preset.parameters)
        )
        self.presets_panel.message.connect(self.notify)

        middle = QWidget(splitter)
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel(f"<b>{self.spec.display_name}</b>", middle)
        title.setObjectName("nodeTitle")
        middle_layout.addWidget(title)
        self._subtitle_area = TextLine(middle)
        self.subtitle_label = self._subtitle_area.label
        self.subtitle_label.setObjectName("subtitle")
        # Italic rather than disabled: Qt's disabled text colour is too faint to read.
        subtitle_font = self.subtitle_label.font()
        subtitle_font.setItalic(True)
        self.subtitle_label.setFont(subtitle_font)
        middle_layout.addWidget(self._subtitle_area)
        mode_row = QHBoxLayout()
        mode_label = QLabel("&Body:", middle)
        self.body_mode_combo = QComboBox(middle)
        self.body_mode_combo.setObjectName("bodyMode")
        self.body_mode_combo.setAccessibleName("Body")
        self.body_mode_combo.setToolTip(
            "Segment spec: the body Segment documents. n8n Segment node v1: the body n8n's "
            "Segment node posts for the same parameters"
        )
        for mode, label in BODY_MODES.items():
            self.body_mode_combo.addItem(label, mode)
        mode_label.setBuddy(self.body_mode_combo)
        mode_row.addWidget(mode_label)
        mode_row.addWidget(self.body_mode_combo)
        mode_row.addStretch(1)
        middle_layout.addLayout(mode_row)
        self.body_mode_combo.currentIndexChanged.connect(self._on_form_changed)
        self.form_tabs = QTabWidget(middle)
        self.form = GeneratedForm(self.spec.properties)
        self.form.setObjectName("parametersForm")
        self.form_tabs.addTab(scrolling(self.form, middle), "Parameters")
        # Tabs that the first frame does not show are built when first shown or used.
        self._lazy_pages: dict[str, LazyPage] = {}
        # The node settings while the Settings tab is not built: the values it would hold.
        self._settings_values: dict[str, Any] = {}
        self._settings_form: GeneratedForm | None = None
        self.form_tabs.addTab(self._lazy_page("settings", self._build_settings_page), "Settings")
        self.form_tabs.currentChanged.connect(lambda index: self._build_tab(self.form_tabs, index))
        middle_layout.addWidget(self.form_tabs, 1)
        self.form.values_changed.connect(self._on_form_changed)
        self.form_history = FormHistory(self)
        self.form_history.track(self.form, self.spec.properties)

        self.result_tabs = QTabWidget(splitter)
        preview = QWidget(self.result_tabs)
        preview_layout = QVBoxLayout(preview)
        preview_layout.setContentsMargins(0, 0, 0, 0)
        # A fixed height: a status line that fits its text would make the whole window lay out
        # again whenever the number of problems changes, which most switches of operation do.
        self._preview_status_area = StatusLines(preview, PREVIEW_STATUS_LINES)
        self._preview_status_area.setAccessibleName("Preview status")
        self.preview_status = self._preview_status_area.label
        self.preview_status.setObjectName("previewStatus")
        self.preview_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        preview_layout.addWidget(self._preview_status_area)
        preview_tools = QHBoxLayout()
        self.preview_pretty = QCheckBox("Pretty", preview)
        self.preview_pretty.setObjectName("previewPretty")
        self.preview_pretty.setToolTip(
            "Indent the body; off shows the exact bytes Send posts, whose size the line above gives"
        )
        self.preview_pretty.setChecked(True)
        self.preview_pretty.toggled.connect(self._on_form_changed)
        preview_tools.addWidget(self.preview_pretty)
        preview_tools.addStretch(1)
        self.copy_body_button = QPushButton(icon("copy"), "Copy body", preview)
        self.copy_body_button.setObjectName("copyBody")
        self.copy_body_button.setToolTip("Copy the exact bytes Send posts")
        self.copy_body_button.clicked.connect(self.copy_body)
        preview_tools.addWidget(self.copy_body_button)
        preview_layout.addLayout(preview_tools)
        self.preview = JsonView(preview, "preview")
        preview_layout.addWidget(self.preview, 1)
        tabs = self.result_tabs
        tabs.addTab(self._lazy_page("input", self._build_input_panel), "Input")
        tabs.addTab(preview, "Preview")
        tabs.addTab(self._lazy_page("response", self._build_response_view), "Response")
        tabs.addTab(self._lazy_page("inbox", self._build_inbox), "Sandbox inbox")
        tabs.addTab(self._lazy_page("history", self._build_history_panel), "History")
        tabs.addTab(self._lazy_page("run", self._build_run_panel), "Run")
        tabs.setCurrentIndex(1)
        tabs.currentChanged.connect(lambda index: self._build_tab(tabs, index))

        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 3)
        splitter.setSizes([230, 560, 570])
        outer.addWidget(splitter, 1)
        self.setCentralWidget(central)

        self.credential_combo.currentIndexChanged.connect(self._on_credential_changed)
        self.endpoint.endpoint_changed.connect(self._on_endpoint_changed)

    # -- tabs built when first needed -----------------------------------------------------

    def _lazy_page(self, key: str, build: Callable[[QWidget], QWidget]) -> LazyPage:
        page = LazyPage(build)
        self._lazy_pages[key] = page
        return page

    def _build_tab(self, tabs: QTabWidget, index: int) -> None:
        page = tabs.widget(index)
        if isinstance(page, LazyPage):
            page.content()

    def _built(self, key: str) -> QWidget | None:
        """Return the content of a lazily built tab, or None while it is not built."""
        return self._lazy_pages[key].built

    def _show_tab(self, key: str) -> None:
        page = self._lazy_pages[key]
        page.content()
        self.result_tabs.setCurrentWidget(page)

    @property
    def settings_form(self) -> GeneratedForm:
        """The form of the node settings on the Settings tab."""
        self._lazy_pages["settings"].content()
        assert self._settings_form is not None  # set by _build_settings_page
        return self._settings_form

    @property
    def input_panel(self) -> InputPanel:
        return cast("InputPanel", self._lazy_pages["input"].content())

    @property
    def response_view(self) -> ResponseView:
        return cast("ResponseView", self._lazy_pages["response"].content())

    @property
    def inbox(self) -> InboxView:
        return cast("InboxView", self._lazy_pages["inbox"].content())

    @property
    def history_panel(self) -> HistoryPanel:
        return cast("HistoryPanel", self._lazy_pages["history"].content())

    @property
    def run_panel(self) -> RunPanel:
        return cast("RunPanel", self._lazy_pages["run"].content())

    @property
    def sandbox_bridge(self) -> SandboxBridge:
        """Carries the sandbox's messages from its server thread to the GUI thread."""
        if self._sandbox_bridge is None:
            from segment_gui.ui.inbox import SandboxBridge

            self._sandbox_bridge = SandboxBridge(self)
            self._sandbox_bridge.received.connect(self._on_sandbox_received)
        return self._sandbox_bridge

    def _build_settings_page(self, parent: QWidget) -> QWidget:
        settings_page = QWidget()
        settings_layout = QVBoxLayout(settings_page)
        settings_note = QLabel(
            "These are n8n's node settings. They are saved with the preset and exported to n8n. "
            "Send and Run use Retry On Fail and Max. Tries; the first retry waits Wait Between "
            "Tries, and each later one about twice as long (with ±50 % jitter). Execute Once, "
            "On Error and Always Output Data apply to runs over input items.",
            settings_page,
        )
        settings_note.setWordWrap(True)
        settings_layout.addWidget(settings_note)
        settings_form = GeneratedForm(self.spec.settings, allow_expressions=False)
        settings_form.setObjectName("settingsForm")
        if self._settings_values:
            settings_form.set_values(self._settings_values)
        settings_layout.addWidget(settings_form, 1)
        settings_form.values_changed.connect(self._on_form_changed)
        self.form_history.track(settings_form, self.spec.settings)
        self._settings_form = settings_form
        return scrolling(settings_page, parent)

    def _build_input_panel(self, parent: QWidget) -> QWidget:
        from segment_gui.ui.input_panel import InputPanel

        panel = InputPanel(self.runner, parent)
        panel.items_changed.connect(self._on_form_changed)
        panel.selected_changed.connect(lambda _index: self._on_form_changed())
        panel.message.connect(self.notify)
        return panel

    def _build_response_view(self, parent: QWidget) -> QWidget:
        from segment_gui.ui.response_view import ResponseView

        return ResponseView(parent)

    def _build_inbox(self, parent: QWidget) -> QWidget:
        from segment_gui.ui.inbox import InboxView

        inbox = InboxView(parent)
        inbox.clear_requested.connect(self._on_inbox_clear_requested)
        if self.sandbox is not None:
            inbox.set_base_url(self.sandbox.base_url)
        backlog, self._inbox_backlog = self._inbox_backlog, []
        for message in backlog:
            inbox.add_message(message)
        return inbox

    def _build_history_panel(self, parent: QWidget) -> QWidget:
        from segment_gui.ui.history_panel import HistoryPanel

        panel = HistoryPanel(self.history, self.runner, parent)
        panel.resend_requested.connect(self.resend)
        panel.open_requested.connect(self.open_history_entry)
        panel.message.connect(self.notify)
        panel.refresh()
        return panel

    def _build_run_panel(self, parent: QWidget) -> QWidget:
        from segment_gui.ui.run_panel import RunPanel

        panel = RunPanel(self.runner, parent)
        panel.run_requested.connect(self.run_all)
        panel.finished.connect(self._on_run_finished)
        panel.failed.connect(lambda error: self.notify(f"Run failed: {error}"))
        return panel

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&New request", QKeySequence.StandardKey.New, self.new_request)
        self._action(
            file_menu, "&Save preset", QKeySequence.StandardKey.Save, self.presets_panel.save
        )
        self._action(
            file_menu, "Save preset &as…", QKeySequence("Ctrl+Shift+S"), self.presets_panel.save_as
        )
        file_menu.addSeparator()
        self._action(file_menu, "&Import n8n workflow file…", None, self._on_import_file_triggered)
        self._action(
            file_menu, "&Paste n8n workflow from clipboard", None, self._on_import_paste_triggered
        )
        file_menu.addSeparator()
        self._action(
            file_menu, "Save response &body…", None, lambda: self.response_view.save_button.click()
        )
        file_menu.addSeparator()
        quit_keys = _standard_keys(QKeySequence.StandardKey.Quit, "Ctrl+Q")
        self._action(file_menu, "&Quit", quit_keys, self.close)
        edit_menu = self.menuBar().addMenu("&Edit")
        edit_menu.aboutToShow.connect(self.form_history.flush)
        self.undo_action = self._action(
            edit_menu, "&Undo", QKeySequence.StandardKey.Undo, self.form_history.undo
        )
        self.redo_action = self._action(
            edit_menu, "&Redo", QKeySequence("Ctrl+Shift+Z"), self.form_history.redo
        )
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.form_history.changed.connect(self._update_undo_actions)
        self._update_undo_actions()
        edit_menu.addSeparator()
        self._action(edit_menu, "Copy as &n8n node", None, self.copy_as_n8n)
        self._action(edit_menu, "Copy as &curl", None, lambda: self.copy_as_curl(False))
        self._action(
            edit_menu, "Copy as curl with &write key…", None, self._on_copy_curl_with_key_triggered
        )
        self._action(edit_menu, "Copy &body", None, self.copy_body)
        edit_menu.addSeparator()
        find = QKeySequence.StandardKey.Find
        self._action(edit_menu, "&Find in response", find, self._on_find_triggered)
        find_next = _standard_keys(QKeySequence.StandardKey.FindNext, "F3")
        self._action(edit_menu, "Find &next", find_next, lambda: self._find_again(True))
        find_previous = _standard_keys(QKeySequence.StandardKey.FindPrevious, "Shift+F3")
        self._action(edit_menu, "Find pre&vious", find_previous, lambda: self._find_again(False))
        filter_keys = QKeySequence("Ctrl+P")
        self._action(edit_menu, "Filter &presets", filter_keys, self._on_filter_presets_triggered)
        edit_menu.addSeparator()
        preferences_keys = _standard_keys(QKeySequence.StandardKey.Preferences, "Ctrl+,")
        self._action(edit_menu, "&Preferences…", preferences_keys, self.open_preferences)
        request_menu = self.menuBar().addMenu("&Request")
        self.send_action = self._action(
            request_menu, "&Send", QKeySequence("Ctrl+Return"), self.send
        )
        self.send_action.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.cancel_action = self._action(
            request_menu, "C&ancel send", QKeySequence("Esc"), self.cancel_send
        )
        self.cancel_action.setEnabled(False)
        self._action(
            request_menu,
            "&Run over all items",
            QKeySequence("Ctrl+Shift+Return"),
            self._run_from_menu,
        )
        request_menu.addSeparator()
        self._action(request_menu, "&Credentials…", None, self.open_credentials_dialog)

    def _find_again(self, forward: bool) -> None:
        """Select the next or previous match of the response's find text."""
        if not self.response_view.find_edit.text():
            self._on_find_triggered()
            return
        self.response_view.find_text(forward=forward)

    def _run_from_menu(self) -> None:
        """Show the Run tab and start a run, as its button does."""
        self._show_tab("run")
        self.run_panel.run_button.click()

    def _update_undo_actions(self) -> None:
        history = self.form_history
        self.undo_action.setEnabled(history.can_undo())
        self.redo_action.setEnabled(history.can_redo())
        self.undo_action.setText(f"&Undo {history.undo_text()}".rstrip())
        self.redo_action.setText(f"&Redo {history.redo_text()}".rstrip())

    def _action(self, menu: Any, text: str, shortcut: Any, slot: Any) -> QAction:
        action = QAction(text, self)
        if text in ACTION_ICONS:
            action.setIcon(icon(ACTION_ICONS[text]))
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    # -- form and preview -----------------------------------------------------------------

    def parameters(self) -> dict[str, Any]:
        """Return the visible parameters with their values, which a message is built from."""
        return resolve_parameters(self.spec, self.form.values())

    def settings(self) -> dict[str, Any]:
        form = self._settings_form
        return resolve_settings(
            self.spec, form.values() if form is not None else self._settings_values
        )

    def _set_settings_values(self, values: dict[str, Any]) -> None:
        if self._settings_form is None:
            self._settings_values = dict(values)
        else:
            self._settings_form.set_values(values)

    def body_mode(self) -> str:
        return str(self.body_mode_combo.currentData())

    def compose(self) -> Composition:
        """Compose the message for the selected input item, with its problems and field hints.

        Expressions are evaluated first, and their errors become problems."""
        values, expression_errors = self._resolve_expressions()
        composition = compose(
            self.spec,
            values,
            anonymous_id=self.anonymous_id,
            message_id=self.message_id,
            mode=self.body_mode(),
        )
        # Listed once above the preview; the field itself shows the error in its preview line.
        composition.problems[:0] = [
            Problem("", f"{field_label(self.spec, path)}: expression failed: {error}")
            for path, error in expression_errors.items()
        ]
        return composition

    def _resolve_expressions(self) -> tuple[dict[str, Any], dict[str, str]]:
        """Evaluate the form's expressions for the selected item; show results under fields."""
        # Not copied: compose and the engine build new values and leave these as they are.
        values = self.form.values_view()
        # Both checks read state that the form and its collections keep up to date, so
        # neither walks every row. A field in expression mode always stores a value starting
        # with "=", so has_expression() covers it too.
        if not self.form.has_expression():
            return values, {}
        fields = self.form.expression_leaves()
        engine = _shared_engine()
        # Without the Input tab there is no input: one empty item, as in n8n.
        panel = cast("InputPanel | None", self._built("input"))
        resolved, errors = engine.resolve(
            values,
            item=panel.selected_item() if panel is not None else {},
            item_index=panel.selected_index() if panel is not None else 0,
            timeout_ms=PREVIEW_TIMEOUT_MS,
        )
        for leaf in fields:
            path = leaf.editor.objectName()
            if path in errors:
                leaf.show_preview(f"Error: {errors[path]}")
            else:
                leaf.show_preview("→ " + _preview_text(value_at(resolved, path)))
        return resolved, errors

    def current_message(self) -> Message:
        """Return the message Send would post; raises PayloadError while the form has errors."""
        composition = self.compose()
        if composition.message is None or composition.errors():
            raise PayloadError("; ".join(describe(p) for p in composition.errors()))
        return composition.message

    def _on_form_changed(self) -> None:
        self._subtitle_area.set_text(self._subtitle())
        composition = self.compose()
        self._composition = composition
        message = composition.message
        if message is None:
            self.preview.setPlainText("")
            status = ""
        else:
            body = message.to_bytes()
            if self.preview_pretty.isChecked():
                text = json.dumps(message.body, indent=2, ensure_ascii=False)
            else:
                text = body.decode("utf-8", errors="replace")
            replace_changed_text(self.preview, text)
            size = len(body)
            status = (
                f"POST {self._target_text()}/{message.path}  ·  {size:,} of "
                f"{MAX_MESSAGE_BYTES:,} bytes"
            )
        lines = [status] if status else []
        endpoint_problem = self._endpoint_problem()
        if endpoint_problem:
            lines.append(f"Error: {endpoint_problem}")
        for problem in composition.problems:
            label = "Error" if problem.is_error else "Warning"
            where = self._field_label(problem.path)
            if problem.message.startswith(where.removesuffix(": ")):
                where = ""
            lines.append(f"{label}: {where}{problem.message}")
        if composition.notice:
            lines.append("n8n mode differs from Segment's spec:")
            lines += [f"  • {sentence}" for sentence in composition.notice]
        self._preview_status_area.set_text("\n".join(lines))
        self.form.show_diagnostics(composition.problems, composition.hints)
        self._update_send_enabled()
        self._update_title()

    def copy_body(self) -> None:
        """Put the exact body Send would post on the clipboard, as text."""
        message = self._composition.message if self._composition is not None else None
        if message is None:
            self.notify("Nothing to copy: the form has no body yet")
            return
        QApplication.clipboard().setText(message.to_bytes().decode("utf-8", errors="replace"))
        self.notify(f"Copied the body ({len(message.to_bytes()):,} bytes)")

    def _subtitle(self) -> str:
        """Render the node subtitle from the spec's expression."""
        renderer = self._subtitle_renderer
        if renderer.names is None:
            return renderer.render(self.parameters())
        return renderer.render({name: self.form.visible_value(name) for name in renderer.names})

    def _field_label(self, path: str) -> str:
        """Name a problem's field as the form shows it, e.g. "Properties row 2 › Value: "."""
        label = field_label(self.spec, path)
        return f"{label}: " if label else ""

    def _endpoint_problem(self) -> str:
        """Why the chosen endpoint cannot be used, or ""."""
        endpoint = self.endpoint.endpoint()
        if self.endpoint.combo.currentData() == "custom":
            if not endpoint:
                return "Custom URL is empty; enter the collector's base URL, e.g. http://127.0.0.1:8080/v1"
            try:
                resolve_base_url(endpoint)
            except EndpointError:
                return (
                    f"Custom URL {endpoint!r} is not valid; enter an http:// or https:// URL "
                    "such as http://127.0.0.1:8080/v1"
                )
        return ""

    def _target_text(self) -> str:
        try:
            return self._base_url(start_sandbox=False)
        except EndpointError:
            return "{endpoint}"

    def _update_send_enabled(self) -> None:
        composition = self._composition
        errors = [e.message for e in composition.errors()] if composition else []
        endpoint_problem = self._endpoint_problem()
        if endpoint_problem:
            errors.append(endpoint_problem)
        ready = composition is not None and composition.sendable and not errors
        ready = ready and not self._sending
        self.send_button.setEnabled(ready)
        self.send_action.setEnabled(ready)
        if errors:
            tip = "Cannot send: " + "; ".join(errors)
        else:
            tip = "Send the message (Ctrl+Enter)"
            if self.statusBar().currentMessage().startswith("Cannot send"):
                self.statusBar().clearMessage()
        self.send_button.setToolTip(tip)

    def new_request(self) -> None:
        if not self.confirm_discard("start a new request"):
            return
        self.body_mode_combo.setCurrentIndex(0)
        self.form.set_values({})
        self._set_settings_values({})
        self.presets_panel.current_name = None
        self.anonymous_id = str(uuid.uuid4())
        self.form_history.reset()
        self.notify("New request")

    # -- presets --------------------------------------------------------------------------

    def snapshot(self, name: str) -> Preset:
        """Return the form as a preset named `name`."""
        credential = self.credential_combo.currentData() or None
        return Preset(
            name=name,
            parameters=compact_parameters(self.spec, self.form.values()),
            credential=credential,
            settings=self.settings(),
            body_mode=self.body_mode(),
            items=self._items_to_pin(),
        )

    def _items_to_pin(self) -> list[dict[str, Any]] | None:
        """Input items to save with a preset, or None (with a note) when they are too large."""
        from segment_gui.items import ItemsError, check_pin_size

        panel = cast("InputPanel | None", self._built("input"))
        if panel is None or not panel.has_input():
            return None
        items = panel.items()
        try:
            check_pin_size(items)
        except ItemsError as error:
            self.notify(f"Input items not saved with the preset: {error}")
            return None
        return items

    def _on_current_preset_changed(self, name: str | None) -> None:
        if name is None:
            # A new request: changes from here on are unsaved work too.
            self._baseline = self._request_state(None)
        self._update_title()

    def _request_state(self, name: str | None, copy_values: bool = True) -> dict[str, Any]:
        """Return what the unsaved-changes check compares: the form as a preset, without its
        name and input items. A new request (`name` None) leaves out the credential as well,
        because choosing one is not work that a prompt should protect.

        With `copy_values=False` the state shares the form's values, for a comparison that
        runs on every change and keeps nothing."""
        if copy_values:
            parameters = compact_parameters(self.spec, self.form.values())
        else:
            parameters = compact_parameters(self.spec, self.form.values_view(), copy_values=False)
        data = Preset(
            name=name or "",
            parameters=parameters,
            credential=self.credential_combo.currentData() or None,
            settings=self.settings(),
            body_mode=self.body_mode(),
        ).to_json()
        data.pop("name", None)
        if name is None:
            data.pop("credential", None)
        return data

    def _remember_baseline(self, preset: Preset) -> None:
        data = preset.to_json()
        # Renaming is not an unsaved change, and input items are not compared.
        data.pop("pinData", None)
        data.pop("name", None)
        self._baseline = data
        self._update_title()

    def is_dirty(self) -> bool:
        """Tell whether the form differs from the loaded or last saved preset, or for a new
        request, from the form as it was started."""
        if self._baseline is None:
            return False
        state = self._request_state(self.presets_panel.current_name, copy_values=False)
        return state != self._baseline

    def _update_title(self) -> None:
        name = self.presets_panel.current_name
        dirty = "*" if self.is_dirty() else ""
        if name is None:
            self.setWindowTitle(f"New request{dirty} – Segment GUI" if dirty else "Segment GUI")
        else:
            self.setWindowTitle(f"{name}{dirty} – Segment GUI")

    def confirm_discard(self, action: str) -> bool:
        """Ask before unsaved changes would be lost; returns whether to go on.

        Save stores the form under the loaded preset's name first.
        """
        from PySide6.QtWidgets import QMessageBox

        if not self.is_dirty():
            return True
        name = self.presets_panel.current_name
        if name is None:
            question = (
                f"The new request has unsaved changes. Save it as a preset before you {action}?"
            )
        else:
            question = f"The preset {name!r} has unsaved changes. Save them before you {action}?"
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Unsaved changes",
            question,
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setObjectName("unsavedChanges")
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        answer = box.exec()
        if answer == QMessageBox.StandardButton.Save and name is None:
            name = self._ask_new_preset_name()
            if name is None:
                return False
        if answer == QMessageBox.StandardButton.Save and name is not None:
            # Saved here, not on a worker, so the save is done before the form is replaced.
            # It is one small file, and the user is waiting on the prompt anyway.
            try:
                self.preset_store.save(self.snapshot(name))
            except (OSError, ValueError) as error:
                self.notify(f"Could not save the preset {name!r}: {error}")
                return False
            self.presets_panel.refresh(select=name)
            return True
        return answer == QMessageBox.StandardButton.Discard

    def _ask_new_preset_name(self) -> str | None:
        """Ask for the name to save a new request under; None when the user cancels."""
        from PySide6.QtWidgets import QInputDialog, QMessageBox

        name, accepted = QInputDialog.getText(self, "Save preset", "Preset name:")
        name = name.strip()
        if not accepted or not name:
            return None
        if self.preset_store.exists(name):
            answer = QMessageBox.question(self, "Save preset", f"Replace the preset {name!r}?")
            if answer != QMessageBox.StandardButton.Yes:
                return None
        return name

    def apply_preset(self, preset: Preset) -> list[str]:
        """Load a preset into the form; returns the notes shown about values it could not use."""
        notes = []
        shown = visible_fields(
            self.spec.properties, resolve_parameters(self.spec, preset.parameters)
        )
        bad_parameters = dict(check_types(shown, preset.parameters))
        bad_settings = dict(check_types(list(self.spec.settings), preset.settings))
        for message in [*bad_parameters.values(), *bad_settings.values()]:
            notes.append(f"{message}; the default is used instead")
        parameters = {k: v for k, v in preset.parameters.items() if k not in bad_parameters}
        settings = {k: v for k, v in preset.settings.items() if k not in bad_settings}

        self.body_mode_combo.setCurrentIndex(
            max(0, self.body_mode_combo.findData(preset.body_mode))
        )
        if preset.items is not None or self._built("input") is not None:
            self.input_panel.set_items(preset.items, "the preset")
        self.form.set_values(parameters)
        self._set_settings_values(resolve_settings(self.spec, settings))
        if preset.credential:
            index = self.credential_combo.findData(preset.credential)
            if index < 0:
                notes.append(
                    f"it uses credential {preset.credential!r}, which is not saved here; add it "
                    "with Credentials…"
                )
            else:
                self.credential_combo.setCurrentIndex(index)
        if notes:
            self.notify(f"Preset {preset.name!r}: " + " ".join(notes))
        self._remember_baseline(self.snapshot(preset.name))
        self.form_history.reset()
        return notes

    # -- credentials and endpoint ---------------------------------------------------------

    def _refresh_credentials(self, select: str | None = None) -> None:
        self.runner.start(
            self.credential_store.list,
            lambda records: self._on_credentials_listed(records, select),
            lambda error: self.notify(str(error)),
        )

    def _on_credentials_listed(self, records: list[CredentialRecord], select: str | None) -> None:
        current = select if select is not None else self.credential_combo.currentData()
        self._credentials = records
        self.credential_combo.blockSignals(True)
        self.credential_combo.clear()
        self.credential_combo.addItem(NO_CREDENTIAL_LABEL, NO_CREDENTIAL)
        for record in records:
            self.credential_combo.addItem(record.name, record.name)
        if select is None and self._pending_credential:
            select, current, self._pending_credential = (
                self._pending_credential,
                self._pending_credential,
                "",
            )
        index = max(0, self.credential_combo.findData(current))
        self.credential_combo.setCurrentIndex(index)
        self.credential_combo.blockSignals(False)
        if select is not None:
            self._on_credential_changed()
        if not records:
            self.notify(
                "The Local sandbox is selected: Send works right away without a Segment account. "
                "Add a real write key with Credentials…"
            )

    def _on_credential_changed(self) -> None:
        name = self.credential_combo.currentData()
        for record in self._credentials:
            if record.name == name:
                self.endpoint.set_endpoint(record.endpoint)
        self._on_form_changed()

    def _on_endpoint_changed(self) -> None:
        # Before the first paint, _on_first_paint starts it.
        if self.endpoint.endpoint() == SANDBOX and self._painted:
            self._start_sandbox()
        self._on_form_changed()

    def open_credentials_dialog(self) -> CredentialsDialog:
        from segment_gui.ui.credentials_dialog import CredentialsDialog

        dialog = CredentialsDialog(self.credential_store, self.runner, self)
        dialog.credentials_changed.connect(lambda: self._refresh_credentials())
        dialog.setModal(True)
        dialog.show()
        return dialog

    # -- sandbox --------------------------------------------------------------------------

    def _on_first_paint(self) -> None:
        """Start the work that the first frame does not need, once it is on screen."""
        self._painted = True
        if self.endpoint.endpoint() == SANDBOX:
            self._start_sandbox()

    def _start_sandbox(self) -> None:
        """Start the sandbox collector on a worker thread unless it runs or is starting."""
        if self.sandbox is not None or self._sandbox_start is not None:
            return
        if getattr(self, "_shut_down", False):
            # A first-paint timer or a queued action that fired after shutdown().
            return
        from segment_gui.ui.sandbox_start import SandboxStart

        starting = SandboxStart(self.sandbox_bridge.post)
        self._sandbox_start = starting
        self.runner.start(starting.run, lambda _result: self._adopt_sandbox(), self._adopt_sandbox)

    def _adopt_sandbox(self, error: Exception | None = None) -> None:
        """Take over the collector of a finished start, then run the actions waiting for it.

        `error` is an exception that the start raised other than OSError.
        """
        starting, self._sandbox_start = self._sandbox_start, None
        if starting is None:
            return
        waiters, self._sandbox_waiters = self._sandbox_waiters, []
        ready = starting.collector is not None
        if starting.collector is None:
            reason = starting.error or error
            outcome = "; nothing was sent" if waiters else ""
            self.notify(f"The local sandbox did not start: {reason}{outcome}")
        else:
            self._use_sandbox(starting.collector)
        for action in waiters:
            action(ready)

    def _use_sandbox(self, collector: SandboxCollector) -> None:
        self.sandbox = collector
        inbox = cast("InboxView | None", self._built("inbox"))
        if inbox is not None:
            inbox.set_base_url(collector.base_url)
        logger.info("Started the local sandbox at %s", collector.base_url)
        # The preview's status line names the sandbox's port, known only now.
        self._on_form_changed()

    def _sandbox_pending(self, endpoint: str) -> bool:
        return endpoint == SANDBOX and self.sandbox is None

    def _wait_for_sandbox(self, action: Callable[[bool], None], action_name: str) -> None:
        """Start the sandbox unless it is starting, and call `action` when that has finished."""
        self._sandbox_waiters.append(action)
        self._start_sandbox()
        self.notify(f"Starting the local sandbox; the {action_name} goes out once it is ready")

    def _cancel_sandbox_waiters(self) -> bool:
        waiters, self._sandbox_waiters = self._sandbox_waiters, []
        for action in waiters:
            action(False)
        return bool(waiters)

    def _ensure_sandbox(self) -> str:
        """Return the sandbox's URL, starting it (or waiting for its start) on this thread."""
        starting = self._sandbox_start
        if self.sandbox is None and starting is not None:
            starting.done.wait(SANDBOX_START_WAIT_SECONDS)
            if starting.done.is_set():
                self._adopt_sandbox()
        if self.sandbox is None:
            from segment_gui.sandbox import SandboxCollector

            collector = SandboxCollector(on_message=self.sandbox_bridge.post)
            collector.start()
            self._use_sandbox(collector)
        assert self.sandbox is not None
        return self.sandbox.base_url

    def sandbox_url(self) -> str:
        return self._ensure_sandbox()

    def _on_sandbox_received(self, message: ReceivedMessage) -> None:
        inbox = cast("InboxView | None", self._built("inbox"))
        if inbox is None:
            self._inbox_backlog.append(message)
        else:
            inbox.add_message(message)

    def _on_inbox_clear_requested(self) -> None:
        if self.sandbox is not None:
            self.sandbox.clear()

    # -- sending --------------------------------------------------------------------------

    def _base_url(self, start_sandbox: bool = True) -> str:
        endpoint = self.endpoint.endpoint()
        if endpoint == SANDBOX:
            url = self._ensure_sandbox() if start_sandbox or self.sandbox else None
            return resolve_base_url(endpoint, url or "http://127.0.0.1:{port}/v1")
        return resolve_base_url(endpoint)

    def _send_target(self, action: str) -> tuple[str, str | None] | None:
        """Return the base URL and credential name to use, or None after telling the user
        why `action` (send or run) cannot go ahead."""
        endpoint_problem = self._endpoint_problem()
        if endpoint_problem:
            self.notify(f"Cannot {action}: {endpoint_problem}")
            return None
        try:
            base_url = self._base_url()
        except EndpointError as error:
            self.notify(str(error))
            return None
        credential = self.credential_combo.currentData() or None
        if credential is None and not is_loopback_url(base_url):
            self.notify(
                f"Cannot {action}: {base_url} needs a write key; choose a credential or add "
                "one with Credentials…"
            )
            return None
        return base_url, credential

    def send(self) -> None:
        if self._sending:
            return
        composition = self.compose()
        if not composition.sendable:
            self.notify("Cannot send: " + "; ".join(describe(p) for p in composition.errors()))
            return
        if self._sandbox_pending(self.endpoint.endpoint()):
            # Shown as sending from now on, so the user sees that the press was taken.
            self._set_sending(True)

            def resume(ready: bool) -> None:
                self._set_sending(False)
                if ready:
                    self.send()
                else:
                    self.notify("Nothing was sent")

            self._wait_for_sandbox(resume, "send")
            return
        target = self._send_target("send")
        if target is None:
            return
        base_url, credential = target
        message = composition.message
        assert message is not None  # sendable implies a message
        settings = self.settings()
        job = SendJob(
            base_url=base_url,
            message=message,
            credential=credential,
            options=self.send_options(settings),
            parameters=compact_parameters(self.spec, self.form.values()),
            settings=settings,
            body_mode=self.body_mode(),
            preset=self.presets_panel.current_name,
            endpoint_setting=self.endpoint.endpoint(),
        )
        self._dispatch(job)

    def send_options(self, settings: dict[str, Any]) -> SendOptions:
        from segment_gui.transport import SendOptions

        return SendOptions(
            connect_timeout=float(self.preferences["connectTimeout"]),
            read_timeout=float(self.preferences["readTimeout"]),
            max_tries=int(settings["maxTries"]) if settings["retryOnFail"] else 1,
            wait_ms=int(settings["waitBetweenTries"]),
        )

    def _dispatch(self, job: SendJob) -> None:
        """Start a send, after asking when a write key would travel unencrypted."""
        from PySide6.QtWidgets import QMessageBox

        if job.credential and needs_insecure_confirmation(job.base_url):
            box = QMessageBox(
                QMessageBox.Icon.Warning,
                "Send over plain HTTP?",
                f"{job.base_url} uses http://, so the write key of {job.credential!r} would "
                "cross the network unencrypted. Send anyway?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                self,
            )
            box.setObjectName("insecureConfirmation")
            box.setDefaultButton(QMessageBox.StandardButton.No)

            def answered(button: Any) -> None:
                if box.standardButton(button) == QMessageBox.StandardButton.Yes:
                    self._start_send(job)
                else:
                    self.notify("Nothing was sent")

            box.buttonClicked.connect(answered)
            box.open()
            return
        self._start_send(job)

    def _start_send(self, job: SendJob) -> None:
        if self.send_controller.busy():
            return
        self._set_sending(True)
        self._show_tab("response")
        self.send_controller.start(job)

    def _on_find_triggered(self) -> None:
        self._show_tab("response")
        self.response_view.focus_find()

    def _on_filter_presets_triggered(self) -> None:
        self.presets_panel.filter_edit.setFocus()
        self.presets_panel.filter_edit.selectAll()

    def cancel_send(self) -> None:
        """Stop the send or run in flight (Esc)."""
        run_panel = cast("RunPanel | None", self._built("run"))
        if self.send_controller.cancel():
            self.notify("Cancelling the send…")
        elif self._cancel_sandbox_waiters():
            self.notify("Cancelled the send that waited for the local sandbox")
        elif run_panel is not None and run_panel.is_running():
            run_panel.cancel()
            self.notify("Cancelling the run after the request in flight…")

    def resend(self, entry: HistoryEntry) -> None:
        """Send a history entry's body again to its endpoint, with a new messageId."""
        # A send to the local sandbox goes to the sandbox running now; its port changes
        # between sessions.
        if self._sandbox_pending(entry.endpoint_setting):
            self._wait_for_sandbox(lambda ready: self.resend(entry) if ready else None, "send")
            return
        if entry.endpoint_setting == SANDBOX:
            base_url = self._ensure_sandbox()
        else:
            base_url = entry.endpoint
        body = dict(entry.request_body)
        if "messageId" in body:
            body["messageId"] = new_message_id()
        job = SendJob(
            base_url=base_url,
            message=Message(entry.path, body),
            credential=entry.credential,
            options=self.send_options(resolve_settings(self.spec, entry.settings)),
            parameters=entry.parameters,
            settings=entry.settings,
            body_mode=entry.body_mode,
            preset=entry.preset,
            endpoint_setting=entry.endpoint_setting,
        )
        if self.send_controller.busy():
            self.notify("A send is in flight; wait for it or press Esc to cancel it")
            return
        self._dispatch(job)

    def open_history_entry(self, entry: HistoryEntry) -> None:
        if not self.confirm_discard("open a past send"):
            return
        name = entry.preset or "history"
        self.apply_preset(
            Preset(
                name=name,
                parameters=entry.parameters,
                credential=entry.credential,
                settings=entry.settings,
                body_mode=entry.body_mode,
            )
        )
        self.presets_panel.current_name = None
        self.notify(f"Opened the send of {entry.time} as a new request")

    def _on_send_recorded(self, entry: HistoryEntry) -> None:
        # An unbuilt History tab reads the history file when it is first shown.
        panel = cast("HistoryPanel | None", self._built("history"))
        if panel is not None:
            panel.add(entry)

    def _on_send_progress(self, text: str) -> None:
        self.response_view.show_progress(text)
        self.statusBar().showMessage(text, 10000)

    def _on_send_finished(self, response: Response) -> None:
        self.last_response = response
        self._set_sending(False)
        self.response_view.show_response(response)
        self.message_id = new_message_id()
        self._on_form_changed()
        self.notify(f"{response.status} {response.reason} in {response.elapsed_ms:.0f} ms")

    def _on_send_failed(self, error: Exception) -> None:
        from segment_gui.transport import SendCancelled

        self._set_sending(False)
        self.response_view.show_error(error)
        verb = "cancelled" if isinstance(error, SendCancelled) else "failed"
        self.notify(f"Send {verb}: {error}")

    def _set_sending(self, sending: bool) -> None:
        self._sending = sending
        self.busy.setVisible(sending)
        self.cancel_button.setVisible(sending)
        self.cancel_action.setEnabled(sending)
        self._update_send_enabled()

    # -- preferences ----------------------------------------------------------------------

    def _on_preferences_loaded(self, preferences: dict[str, Any]) -> None:
        self.preferences = {**PREFERENCE_DEFAULTS, **preferences}
        self._use_scheme(str(self.preferences["colorScheme"]))

    def _apply_saved_scheme(self) -> None:
        """Apply the color scheme mirrored into the window-state file by the last session.

        The preferences file itself is read on a worker thread, which may finish after the
        first paint.
        """
        scheme = self.window_state.value("colorScheme")
        if isinstance(scheme, str) and scheme in COLOR_SCHEMES and scheme != "system":
            scheme_controller().apply(scheme)

    def _use_scheme(self, scheme: str) -> None:
        """Apply `scheme` and mirror it into the window-state file for the next start."""
        scheme_controller().apply(scheme)
        if self.window_state.value("colorScheme") != scheme:
            self.window_state.setValue("colorScheme", scheme)

    def _on_config_failed(self, error: Exception) -> None:
        self.notify(str(error))

    def open_preferences(self) -> PreferencesDialog:
        from segment_gui.ui.preferences_dialog import PreferencesDialog

        dialog = PreferencesDialog(self.preferences, self)
        dialog.saved.connect(self.save_preferences)
        dialog.open()
        return dialog

    def save_preferences(self, values: dict[str, Any]) -> None:
        self.preferences = {**self.preferences, **values}
        if "colorScheme" in values:
            self._use_scheme(str(values["colorScheme"]))
        config = self.config
        self.runner.start(
            lambda: config.set_preferences(values),
            lambda _: self.notify("Preferences saved"),
            self._on_config_failed,
        )

    def is_sending(self) -> bool:
        return self._sending

    # -- runs over input items ------------------------------------------------------------

    def run_all(self) -> None:
        """Send one message per input item, as n8n runs a node over its input."""
        from segment_gui.expressions import ExpressionEngine
        from segment_gui.runs import RunSettings, run_items

        if self.run_panel.is_running() or self.send_controller.busy():
            self.notify("A send or run is in progress; wait for it or cancel it")
            return
        if self._sandbox_pending(self.endpoint.endpoint()):
            self._wait_for_sandbox(lambda ready: self.run_all() if ready else None, "run")
            return
        target = self._send_target("run")
        if target is None:
            return
        base_url, credential = target
        spec, values, items = self.spec, self.form.values(), self.input_panel.items()
        settings = RunSettings.from_settings(self.settings())
        options = self.send_options(self.settings())
        delivery, mode, store = self.run_panel.delivery(), self.body_mode(), self.credential_store

        def work(cancel: Any, on_progress: Any, on_result: Any) -> RunReport:
            write_key = store.key(credential) if credential else SANDBOX_WRITE_KEY
            engine = ExpressionEngine()
            try:
                return run_items(
                    spec,
                    values,
                    items,
                    settings,
                    base_url=base_url,
                    write_key=write_key,
                    delivery=delivery,
                    send_options=options,
                    engine=engine,
                    mode=mode,
                    cancel=cancel,
                    on_progress=on_progress,
                    on_result=on_result,
                )
            finally:
                engine.close()

        self._show_tab("run")
        total = 1 if settings.execute_once else len(items)
        self.run_panel.start(work, total)
        self.cancel_action.setEnabled(True)

    def _on_run_finished(self, report: RunReport) -> None:
        state = "cancelled" if report.cancelled else "finished"
        if report.stopped_at is not None:
            state = f"stopped at item {report.stopped_at + 1}"
        self.notify(f"Run {state}: {len(report.sent()):,} sent, {len(report.failed()):,} failed")

    # -- notifications and shutdown -------------------------------------------------------

    def notify(self, text: str) -> None:
        """Show a message in the status bar and log it."""
        logger.info("%s", text)
        self.statusBar().showMessage(text, 10000)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        already_shut_down = getattr(self, "_shut_down", False)
        if not already_shut_down and not self.confirm_discard("close the window"):
            event.ignore()
            return
        self.shutdown()
        super().closeEvent(event)

    # -- window state ---------------------------------------------------------------------

    def _restore_state(self) -> None:
        """Restore geometry, splitter sizes and the last endpoint; the last credential and
        preset are selected once their lists have loaded."""
        state = self.window_state
        geometry = state.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        sizes = state.value("splitter")
        if isinstance(sizes, list) and all(str(size).isdigit() for size in sizes):
            self.splitter.setSizes([int(size) for size in sizes])
        endpoint = state.value("endpoint")
        if isinstance(endpoint, str) and endpoint:
            self.endpoint.set_endpoint(endpoint)
        self.presets_panel.sort_order = str(state.value("presetSort") or "name")
        self._pending_credential = str(state.value("credential") or "")
        self._pending_preset = str(state.value("preset") or "")

    def save_state(self) -> None:
        state = self.window_state
        state.setValue("geometry", self.saveGeometry())
        state.setValue("splitter", [str(size) for size in self.splitter.sizes()])
        state.setValue("endpoint", self.endpoint.endpoint())
        state.setValue("presetSort", self.presets_panel.sort_order)
        state.setValue("credential", self.credential_combo.currentData() or "")
        state.setValue("preset", self.presets_panel.current_name or "")
        state.sync()

    def _on_presets_listed(self, names: list[str]) -> None:
        name, self._pending_preset = self._pending_preset, ""
        if name and name in names:
            self.presets_panel.load(name)

    def shutdown(self) -> None:
        """Stop the sandbox and wait for background tasks; safe to call twice."""
        if not getattr(self, "_shut_down", False):
            self.save_state()
            self._shut_down = True
        self.send_controller.cancel()
        run_panel = cast("RunPanel | None", self._built("run"))
        if run_panel is not None:
            run_panel.cancel()
        self.runner.wait(5000)
        starting, self._sandbox_start = self._sandbox_start, None
        if starting is not None and starting.collector is not None:
            starting.collector.stop()
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None


def _shared_engine() -> ExpressionEngine:
    from segment_gui.expressions import shared_engine

    return shared_engine()


def value_at(values: Any, path: str) -> Any:
    """Return the value at a parameter path such as `properties.propertiesUi[0].value`, or None."""
    current = values
    for segment in path.split("."):
        name, _, index = segment.partition("[")
        current = current.get(name) if isinstance(current, dict) else None
        if index and isinstance(current, list):
            position = int(index.rstrip("]"))
            current = current[position] if position < len(current) else None
    return current


def _preview_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 300 else text[:300] + "…"


def _standard_keys(key: QKeySequence.StandardKey, fallback: str) -> QKeySequence:
    """Return the platform's keys for `key`, or `fallback` where the platform defines none."""
    keys = QKeySequence(key)
    return keys if not keys.isEmpty() else QKeySequence(fallback)
