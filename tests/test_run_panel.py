"""The Run panel's results table and the sandbox inbox, with real runs and a real sandbox."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from segment_gui.expressions import ExpressionEngine
from segment_gui.runs import RunReport, RunSettings, run_items
from segment_gui.sandbox import ReceivedMessage, SandboxCollector
from segment_gui.spec import load_spec
from segment_gui.ui.inbox import InboxView, SandboxBridge
from segment_gui.ui.run_panel import RunPanel
from segment_gui.ui.workers import TaskRunner

# Item 2 has an amount that is not a number, so its message cannot be built.
AMOUNT_VALUES: dict[str, Any] = {
    "resource": "track",
    "operation": "event",
    "userId": "={{ $json.user }}",
    "event": "Paid",
    "properties": {
        "propertiesUi": [{"key": "amount", "value": "={{ $json.amount }}", "valueType": "number"}]
    },
}
ITEMS = [
    {"user": "a", "amount": 10},
    {"user": "b", "amount": "ten"},
    {"user": "c", "amount": 30},
    {"user": "d", "amount": 40},
]


@pytest.fixture
def sandbox() -> Iterator[SandboxCollector]:
    with SandboxCollector() as collector:
        yield collector


def run_in_panel(qtbot: Any, panel: RunPanel, sandbox: SandboxCollector, delivery: str) -> None:
    spec = load_spec()
    settings = RunSettings(on_error="continueRegularOutput")

    def work(cancel: threading.Event, on_progress: Any, on_result: Any) -> RunReport:
        engine = ExpressionEngine()
        try:
            return run_items(
                spec,
                AMOUNT_VALUES,
                ITEMS,
                settings,
                base_url=sandbox.base_url,
                write_key="panel-test-key",
                delivery=delivery,
                engine=engine,
                cancel=cancel,
                on_progress=on_progress,
                on_result=on_result,
            )
        finally:
            engine.close()

    panel.start(work, len(ITEMS))
    qtbot.waitUntil(lambda: panel.report is not None, timeout=20000)


def column(panel: RunPanel, number: int) -> list[str]:
    model = panel.model
    return [model.index(row, number).data() for row in range(model.rowCount())]


@pytest.mark.parametrize("delivery", ["single", "batch"])
def test_results_table_in_item_order(qtbot: Any, sandbox: SandboxCollector, delivery: str) -> None:
    panel = RunPanel(TaskRunner())
    qtbot.addWidget(panel)

    run_in_panel(qtbot, panel, sandbox, delivery)

    assert column(panel, 0) == ["1", "2", "3", "4"]
    assert column(panel, 1) == ["sent", "failed", "sent", "sent"]
    assert column(panel, 2) == ["200", "", "200", "200"]
    assert "'ten' is not a number" in column(panel, 4)[1]
    assert '"userId": "a"' in column(panel, 5)[0]


def test_results_row_shows_detail(qtbot: Any, sandbox: SandboxCollector) -> None:
    panel = RunPanel(TaskRunner())
    qtbot.addWidget(panel)
    run_in_panel(qtbot, panel, sandbox, "batch")

    panel.table.setCurrentIndex(panel.model.index(1, 0))

    detail = panel.detail.toPlainText()
    assert detail.startswith("Item 2: failed\nError: ")
    assert "'ten' is not a number" in detail


def test_results_table_cleared_by_next_run(qtbot: Any, sandbox: SandboxCollector) -> None:
    panel = RunPanel(TaskRunner())
    qtbot.addWidget(panel)
    run_in_panel(qtbot, panel, sandbox, "single")

    run_in_panel(qtbot, panel, sandbox, "batch")

    assert panel.model.rowCount() == 4


def received(number: int) -> ReceivedMessage:
    return ReceivedMessage(
        received_at="2026-01-31T09:30:00.000Z",
        endpoint="batch",
        type="track",
        write_key_masked="pane••••",
        message={"event": f"E{number}", "userId": "u"},
        notes=(),
    )


def test_inbox_rows_from_server_thread(qtbot: Any) -> None:
    bridge = SandboxBridge()
    inbox = InboxView()
    qtbot.addWidget(inbox)
    bridge.received.connect(inbox.add_message)

    poster = threading.Thread(target=lambda: [bridge.post(received(n)) for n in range(500)])
    poster.start()
    poster.join()
    qtbot.waitUntil(lambda: inbox.message_count() == 500, timeout=5000)

    summaries = [inbox.model.index(row, 2).data() for row in range(500)]
    assert summaries == [f"event=E{n}  userId=u" for n in range(500)]
    assert inbox.table.currentIndex().row() == 499
    assert json.loads(inbox.detail.toPlainText())["event"] == "E499"
    assert inbox.info_label.text() == "500 messages received"


def test_inbox_keeps_selected_older_row(qtbot: Any) -> None:
    inbox = InboxView()
    qtbot.addWidget(inbox)
    for number in range(3):
        inbox.add_message(received(number))
    qtbot.waitUntil(lambda: inbox.message_count() == 3, timeout=5000)
    inbox.table.setCurrentIndex(inbox.model.index(0, 0))

    inbox.add_message(received(3))
    qtbot.waitUntil(lambda: inbox.message_count() == 4, timeout=5000)

    assert inbox.table.currentIndex().row() == 0
    assert json.loads(inbox.detail.toPlainText())["event"] == "E0"


def test_inbox_clear_empties_table(qtbot: Any) -> None:
    inbox = InboxView()
    qtbot.addWidget(inbox)
    inbox.add_message(received(1))
    qtbot.waitUntil(lambda: inbox.message_count() == 1, timeout=5000)

    inbox.clear_button.click()

    assert inbox.message_count() == 0
    assert inbox.detail.toPlainText() == ""
    assert inbox.info_label.text().startswith("The sandbox inbox is empty.")
