"""Runs over input items: one message per item, against the sandbox and local test servers.

Every server here listens on 127.0.0.1 and is started by the test that uses it. The
expression engine and the items parser are the real ones.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from segment_gui.expressions import ExpressionEngine, shared_engine
from segment_gui.model import Preset
from segment_gui.payload import MAX_MESSAGE_BYTES, Message, compose, serialize
from segment_gui.runs import (
    BATCH_ENVELOPE_BYTES,
    DEFAULT_MAX_BATCH_BYTES,
    SEGMENT_MAX_BATCH_BYTES,
    ItemResult,
    MessageTemplate,
    RunProgress,
    RunReport,
    RunSettings,
    batch_body_size,
    batch_item,
    build_messages,
    pack_batches,
    run_items,
    uuid4_strings,
    uuid4_text,
)
from segment_gui.runs import _UUIDSource as UUIDSource
from segment_gui.sandbox import SandboxCollector
from segment_gui.spec import NodeSpec, load_spec
from segment_gui.storage import PresetStore, app_paths
from segment_gui.transport import SendOptions

WRITE_KEY = "test-write-key-0123"

# A track call with expressions in top-level fields, in property rows and in a nested
# context collection (context › app › name).
ORDER_VALUES: dict[str, Any] = {
    "resource": "track",
    "operation": "event",
    "userId": "={{ $json.email }}",
    "event": "=Order {{ $json.order.id }}",
    "properties": {
        "propertiesUi": [
            {"key": "index", "value": "={{ $itemIndex }}", "valueType": "number"},
            {"key": "total", "value": "={{ $json.order.total * 2 }}", "valueType": "number"},
            {"key": "sku", "value": "={{ $json.order.lines[0].sku }}", "valueType": "string"},
            {"key": "fixed", "value": "yes", "valueType": "string"},
        ]
    },
    "context": {
        "contextUi": {
            "ip": "={{ $json.ip }}",
            "app": {"appUi": {"name": "={{ $json.app.toUpperCase() }}"}},
        }
    },
}

ORDERS = [
    {
        "email": f"user{n}@example.com",
        "ip": f"10.0.0.{n}",
        "app": f"shop{n}",
        "order": {"id": 100 + n, "total": 1.5 + n, "lines": [{"sku": f"SKU-{n}"}]},
    }
    for n in range(3)
]

# A track call whose "amount" row must be a number, so an item with a non-numeric amount fails.
AMOUNT_VALUES: dict[str, Any] = {
    "resource": "track",
    "operation": "event",
    "userId": "={{ $json.user }}",
    "event": "Paid",
    "properties": {
        "propertiesUi": [
            {"key": "index", "value": "={{ $itemIndex }}", "valueType": "number"},
            {"key": "amount", "value": "={{ $json.amount }}", "valueType": "number"},
        ]
    },
}

# A track call that carries its item's index and a padding string from the item.
PAD_VALUES: dict[str, Any] = {
    "resource": "track",
    "operation": "event",
    "userId": "u1",
    "event": "Padded",
    "properties": {
        "propertiesUi": [
            {"key": "index", "value": "={{ $itemIndex }}", "valueType": "number"},
            {"key": "pad", "value": "={{ $json.pad }}", "valueType": "string"},
        ]
    },
}

FAST = SendOptions(connect_timeout=5.0, read_timeout=10.0)


@pytest.fixture(scope="module")
def spec() -> NodeSpec:
    return load_spec()


@pytest.fixture(scope="module")
def engine() -> ExpressionEngine:
    return shared_engine()


@pytest.fixture
def sandbox() -> Iterator[SandboxCollector]:
    with SandboxCollector() as collector:
        yield collector


# -- local test server ------------------------------------------------------------------------


Responder = Callable[[int, dict[str, Any]], tuple[int, bytes]]


class RecordingServer:
    """An HTTP/1.1 server on 127.0.0.1 that records every POST and responds through
    `respond`.

    `respond(number, record)` gets the 1-based request number and the record
    (`path`, `body`, `client`) and returns (status, response body). It may block, as a slow
    server does.
    """

    def __init__(self, respond: Responder) -> None:
        self.respond = respond
        self.records: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Buffered, so the status line, headers and body leave in one write, which keeps
            # delayed ACKs from adding about 40 ms to each kept-alive request.
            wbufsize = 64 * 1024

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                record = {"path": self.path, "body": body, "client": self.client_address}
                with owner.lock:
                    owner.records.append(record)
                    number = len(owner.records)
                status, content = owner.respond(number, record)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                try:
                    self.wfile.write(content)
                    self.wfile.flush()
                except OSError:
                    pass  # the client cancelled and shut down its socket

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="test-recording-server",
            daemon=True,
        )
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [record["body"] for record in self.records]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def make_server() -> Iterator[Callable[[Responder], RecordingServer]]:
    servers: list[RecordingServer] = []

    def start(respond: Responder) -> RecordingServer:
        server = RecordingServer(respond)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def ok_json(_number: int, _record: dict[str, Any]) -> tuple[int, bytes]:
    return 200, b'{"success": true}'


def item_index(body: dict[str, Any]) -> int:
    return int(body["properties"]["index"])


def run(
    spec: NodeSpec,
    engine: ExpressionEngine,
    values: dict[str, Any],
    items: list[dict[str, Any]],
    base_url: str,
    settings: RunSettings | None = None,
    **options: Any,
) -> RunReport:
    return run_items(
        spec,
        values,
        items,
        settings or RunSettings(),
        base_url=base_url,
        write_key=WRITE_KEY,
        send_options=options.pop("send_options", FAST),
        engine=engine,
        **options,
    )


def statuses(report: RunReport) -> list[str]:
    return [result.status for result in report.results]


# -- expressions per item ---------------------------------------------------------------------


def test_expressions_resolved_per_item(
    spec: NodeSpec, engine: ExpressionEngine, sandbox: SandboxCollector
) -> None:
    report = run(spec, engine, ORDER_VALUES, ORDERS, sandbox.base_url)

    assert statuses(report) == ["sent", "sent", "sent"]
    received = [record.message for record in sandbox.messages()]
    assert len(received) == 3
    for n, message in enumerate(received):
        assert message["userId"] == f"user{n}@example.com"
        assert message["event"] == f"Order {100 + n}"
        assert message["properties"]["index"] == n
        assert message["properties"]["total"] == (1.5 + n) * 2
        assert message["properties"]["sku"] == f"SKU-{n}"
        assert message["properties"]["fixed"] == "yes"
        assert message["context"]["ip"] == f"10.0.0.{n}"
        assert message["context"]["app"] == {"name": f"SHOP{n}"}
    assert [result.payload for result in report.results] == received


def test_build_messages_per_item(spec: NodeSpec, engine: ExpressionEngine) -> None:
    built = build_messages(
        spec,
        ORDER_VALUES,
        ORDERS[:2],
        engine=engine,
        anonymous_id_for=lambda index: f"anon-{index}",
        mode="segment",
    )

    assert [index for index, _message, _error in built] == [0, 1]
    assert [error for _index, _message, error in built] == ["", ""]
    messages = [message for _index, message, _error in built]
    assert all(message is not None and message.path == "track" for message in messages)
    assert [message.body["event"] for message in messages if message] == ["Order 100", "Order 101"]


def test_build_messages_anonymous_id_per_item(spec: NodeSpec, engine: ExpressionEngine) -> None:
    values = {"resource": "identify", "operation": "create", "userId": ""}

    built = build_messages(
        spec, values, [{}, {}], engine=engine, anonymous_id_for=lambda index: f"anon-{index}"
    )

    bodies = [message.body for _index, message, _error in built if message is not None]
    assert [body["anonymousId"] for body in bodies] == ["anon-0", "anon-1"]


def test_build_messages_no_items_builds_one(spec: NodeSpec, engine: ExpressionEngine) -> None:
    built = build_messages(spec, PAD_VALUES, [], engine=engine)

    assert len(built) == 1
    index, message, error = built[0]
    assert (index, error) == (0, "")
    assert message is not None and message.body["properties"]["index"] == 0


def test_expression_error_fails_only_its_item(
    spec: NodeSpec, engine: ExpressionEngine, sandbox: SandboxCollector
) -> None:
    items = [ORDERS[0], {"email": "no-order@example.com", "ip": "10.0.0.9", "app": "x"}, ORDERS[2]]
    settings = RunSettings(on_error="continueRegularOutput")

    report = run(spec, engine, ORDER_VALUES, items, sandbox.base_url, settings)

    assert statuses(report) == ["sent", "failed", "sent"]
    failed = report.results[1]
    assert failed.error.startswith("expression failed")
    assert failed.payload is None
    assert failed.http_status is None
    assert len(sandbox.messages()) == 2
    assert report.output[1] == {"error": failed.error}


# -- On Error, Execute Once, Always Output Data ------------------------------------------------

MIXED = [
    {"user": "a", "amount": 10},
    {"user": "b", "amount": "ten"},
    {"user": "c", "amount": 30},
    {"user": "d", "amount": 40},
]


@pytest.mark.parametrize("delivery", ["single", "batch"])
def test_stop_workflow_skips_rest(
    spec: NodeSpec, engine: ExpressionEngine, sandbox: SandboxCollector, delivery: str
) -> None:
    report = run(spec, engine, AMOUNT_VALUES, MIXED, sandbox.base_url, delivery=delivery)

    assert statuses(report) == ["sent", "failed", "skipped", "skipped"]
    assert report.stopped_at == 1
    assert report.stopped
    assert not report.ok
    assert "item 2 failed" in report.error
    assert "'ten' is not a number" in report.results[1].error
    assert [record.message["userId"] for record in sandbox.messages()] == ["a"]
    assert report.output == [{"success": True}]
    assert report.errors == []


@pytest.mark.parametrize("delivery", ["single", "batch"])
def test_continue_regular_output(
    spec: NodeSpec, engine: ExpressionEngine, sandbox: SandboxCollector, delivery: str
) -> None:
    settings = RunSettings.from_settings({"onError": "continueRegularOutput"})

    report = run(spec, engine, AMOUNT_VALUES, MIXED, sandbox.base_url, settings, delivery=delivery)

    assert statuses(report) == ["sent", "failed", "sent", "sent"]
    assert report.sent() == [0, 2, 3]
    assert report.failed() == [1]
    assert not report.stopped
    assert report.output[0] == {"success": True}
    assert report.output[1] == {"error": report.results[1].error}
    assert len(report.output) == 4
    assert report.errors == []
    assert sorted(record.message["userId"] for record in sandbox.messages()) == ["a", "c", "d"]


def test_continue_error_output(
    spec: NodeSpec, engine: ExpressionEngine, sandbox: SandboxCollector
) -> None:
    settings = RunSettings.from_settings({"onError": "continueErrorOutput"})

    report = run(spec, engine, AMOUNT_VALUES, MIXED, sandbox.base_url, settings)

    assert statuses(report) == ["sent", "failed", "sent", "sent"]
    assert report.output == [{"success": True}] * 3
    assert report.errors == [{"error": report.results[1].error}]
    assert len(sandbox.messages()) == 3


def test_execute_once_sends_first_item(
    spec: NodeSpec, engine: ExpressionEngine, sandbox: SandboxCollector
) -> None:
    settings = RunSettings.from_settings({"executeOnce": True})

    report = run(spec, engine, ORDER_VALUES, ORDERS, sandbox.base_url, settings)

    assert statuses(report) == ["sent"]
    assert [record.message["userId"] for record in sandbox.messages()] == ["user0@example.com"]


def test_no_items_runs_once_with_empty_item(
    spec: NodeSpec, engine: ExpressionEngine, sandbox: SandboxCollector
) -> None:
    report = run(spec, engine, PAD_VALUES, [], sandbox.base_url)

    assert statuses(report) == ["sent"]
    assert len(sandbox.messages()) == 1
    assert sandbox.messages()[0].message["properties"]["index"] == 0


@pytest.mark.parametrize(
    ("settings", "output"),
    [
        ({"onError": "continueErrorOutput", "alwaysOutputData": True}, [{}]),
        ({"onError": "continueErrorOutput", "alwaysOutputData": False}, []),
        ({"onError": "stopWorkflow", "alwaysOutputData": True}, []),
    ],
)
def test_always_output_data(
    spec: NodeSpec,
    engine: ExpressionEngine,
    sandbox: SandboxCollector,
    settings: dict[str, Any],
    output: list[dict[str, Any]],
) -> None:
    items = [{"user": "a", "amount": "x"}, {"user": "b", "amount": "y"}]

    report = run(
        spec, engine, AMOUNT_VALUES, items, sandbox.base_url, RunSettings.from_settings(settings)
    )

    assert report.output == output
    assert sandbox.messages() == []


def test_always_output_data_adds_nothing_to_output(
    spec: NodeSpec, engine: ExpressionEngine, sandbox: SandboxCollector
) -> None:
    settings = RunSettings.from_settings({"alwaysOutputData": True})

    report = run(spec, engine, AMOUNT_VALUES, MIXED[:1], sandbox.base_url, settings)

    assert report.output == [{"success": True}]


def test_run_settings_from_n8n_names() -> None:
    settings = RunSettings.from_settings(
        {
            "executeOnce": True,
            "retryOnFail": True,
            "maxTries": 5,
            "waitBetweenTries": 250,
            "onError": "continueErrorOutput",
            "alwaysOutputData": True,
            "notes": "ignored",
        }
    )

    assert settings == RunSettings(
        execute_once=True,
        retry_on_fail=True,
        max_tries=5,
        wait_between_tries=250,
        on_error="continueErrorOutput",
        always_output_data=True,
    )
    assert RunSettings.from_settings({}) == RunSettings()


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"onError": "ignore"}, "On Error 'ignore' is not valid"),
        ({"maxTries": 0}, "Max. Tries 0 must be at least 1"),
        ({"maxTries": "3"}, "setting maxTries is '3'; expected a whole number"),
        ({"retryOnFail": "yes"}, "setting retryOnFail is 'yes'; expected true or false"),
        ({"waitBetweenTries": -1}, "Wait Between Tries -1 ms must not be negative"),
    ],
)
def test_run_settings_invalid(settings: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        RunSettings.from_settings(settings)


def test_run_settings_send_options() -> None:
    base = SendOptions(read_timeout=7.0, max_tries=4, wait_ms=9)

    retrying = RunSettings(retry_on_fail=True, max_tries=3, wait_between_tries=20)
    once = RunSettings(retry_on_fail=False, max_tries=3, wait_between_tries=20)

    assert retrying.send_options(base) == SendOptions(read_timeout=7.0, max_tries=3, wait_ms=20)
    assert once.send_options(base).max_tries == 1
    assert once.send_options(base).read_timeout == 7.0


# -- retries ----------------------------------------------------------------------------------


def failing_first(failures: int) -> Responder:
    def respond(number: int, _record: dict[str, Any]) -> tuple[int, bytes]:
        if number <= failures:
            return 500, b'{"error": "try again"}'
        return 200, b'{"success": true}'

    return respond


@pytest.mark.parametrize(
    ("retry", "max_tries", "failures", "status", "requests"),
    [
        (True, 3, 2, "sent", 3),
        (True, 2, 2, "failed", 2),
        (False, 3, 2, "failed", 1),
        (True, 5, 0, "sent", 1),
    ],
)
def test_retries_counted_server_side(
    spec: NodeSpec,
    engine: ExpressionEngine,
    make_server: Callable[[Responder], RecordingServer],
    retry: bool,
    max_tries: int,
    failures: int,
    status: str,
    requests: int,
) -> None:
    server = make_server(failing_first(failures))
    settings = RunSettings(retry_on_fail=retry, max_tries=max_tries, wait_between_tries=0)

    report = run(spec, engine, PAD_VALUES, [{"pad": ""}], server.base_url, settings)

    assert statuses(report) == [status]
    assert len(server.records) == requests
    if status == "failed":
        assert report.results[0].http_status == 500
        assert report.results[0].error == 'HTTP 500 Internal Server Error: {"error": "try again"}'


def test_retries_apply_to_each_batch(
    spec: NodeSpec, engine: ExpressionEngine, make_server: Callable[[Responder], RecordingServer]
) -> None:
    server = make_server(failing_first(1))
    settings = RunSettings(retry_on_fail=True, max_tries=2, wait_between_tries=0)
    items = [{"pad": str(n)} for n in range(5)]

    report = run(spec, engine, PAD_VALUES, items, server.base_url, settings, delivery="batch")

    assert statuses(report) == ["sent"] * 5
    assert [record["path"] for record in server.records] == ["/v1/batch", "/v1/batch"]
    assert server.bodies()[0] == server.bodies()[1]


# -- responses --------------------------------------------------------------------------------


def test_response_text_cut_to_2_kb(
    spec: NodeSpec, engine: ExpressionEngine, make_server: Callable[[Responder], RecordingServer]
) -> None:
    long_body = json.dumps({"success": True, "note": "é" * 10_000}).encode()
    server = make_server(lambda _number, _record: (200, long_body))

    report = run(spec, engine, PAD_VALUES, [{"pad": "a"}], server.base_url)

    result = report.results[0]
    assert result.status == "sent"
    assert len(result.response.encode("utf-8")) <= 2048
    assert result.response == long_body.decode()[: len(result.response)]
    assert report.output == [{"success": True}]


def test_response_json_merged_into_output(
    spec: NodeSpec, engine: ExpressionEngine, make_server: Callable[[Responder], RecordingServer]
) -> None:
    server = make_server(lambda _number, _record: (200, b'{"success": true, "id": 7}'))

    report = run(spec, engine, PAD_VALUES, [{"pad": "a"}, {"pad": "b"}], server.base_url)

    assert report.output == [{"success": True, "id": 7}, {"success": True, "id": 7}]


def test_non_2xx_fails_item(
    spec: NodeSpec, engine: ExpressionEngine, make_server: Callable[[Responder], RecordingServer]
) -> None:
    def respond(number: int, _record: dict[str, Any]) -> tuple[int, bytes]:
        return (400, b'{"error": "bad"}') if number == 2 else (200, b'{"success": true}')

    server = make_server(respond)
    settings = RunSettings(on_error="continueErrorOutput")

    report = run(spec, engine, PAD_VALUES, [{"pad": ""}] * 3, server.base_url, settings)

    assert statuses(report) == ["sent", "failed", "sent"]
    failed = report.results[1]
    assert failed.http_status == 400
    assert failed.error == 'HTTP 400 Bad Request: {"error": "bad"}'
    assert failed.response == '{"error": "bad"}'
    assert report.errors == [{"error": failed.error}]


def test_refused_connection_fails_item(spec: NodeSpec, engine: ExpressionEngine) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    report = run(
        spec, engine, PAD_VALUES, [{"pad": ""}, {"pad": ""}], f"http://127.0.0.1:{port}/v1"
    )

    assert statuses(report) == ["failed", "skipped"]
    assert "refused" in report.results[0].error
    assert report.results[0].http_status is None


# -- single delivery --------------------------------------------------------------------------


def test_single_mode_few_hundred_items(
    spec: NodeSpec, engine: ExpressionEngine, sandbox: SandboxCollector
) -> None:
    items = [{"pad": f"p{n}"} for n in range(300)]
    progress: list[RunProgress] = []
    finished: list[ItemResult] = []

    started = time.perf_counter()
    report = run(
        spec,
        engine,
        PAD_VALUES,
        items,
        sandbox.base_url,
        on_progress=progress.append,
        on_result=finished.append,
    )
    elapsed = time.perf_counter() - started

    assert report.sent() == list(range(300))
    received = [record.message for record in sandbox.messages()]
    assert [item_index(message) for message in received] == list(range(300))
    assert [message["properties"]["pad"] for message in received] == [f"p{n}" for n in range(300)]
    assert all(record.endpoint == "track" for record in sandbox.messages())
    assert [result.index for result in finished] == list(range(300))
    assert all(result.batch is None for result in finished)
    assert progress[-1] == RunProgress(
        done=300, total=300, sent=300, failed=0, rate_per_s=progress[-1].rate_per_s, current=None
    )
    assert progress[-1].rate_per_s > 0
    # At most 20 calls per second, plus the last one.
    assert len(progress) <= elapsed * 20 + 2


def test_single_mode_reuses_connection(
    spec: NodeSpec, engine: ExpressionEngine, make_server: Callable[[Responder], RecordingServer]
) -> None:
    server = make_server(ok_json)

    report = run(spec, engine, PAD_VALUES, [{"pad": ""}] * 50, server.base_url)

    assert len(report.sent()) == 50
    clients = {record["client"] for record in server.records}
    assert len(server.records) == 50
    assert len(clients) == 1


# -- batches ----------------------------------------------------------------------------------


def padded_message(size: int) -> Message:
    """Return a track message whose batch item serializes to exactly `size` bytes."""
    base = {"type": "track", "event": "e", "userId": "u", "properties": {"pad": ""}}
    padding = size - len(serialize(base))
    assert padding >= 0
    message = Message("track", {"event": "e", "userId": "u", "properties": {"pad": "x" * padding}})
    assert len(serialize({"type": "track", **message.body})) == size
    return message


def test_batch_limits_match_segment() -> None:
    assert SEGMENT_MAX_BATCH_BYTES == 512_000
    assert DEFAULT_MAX_BATCH_BYTES == 510_976
    assert BATCH_ENVELOPE_BYTES == len(b'{"batch":[]}')
    assert MAX_MESSAGE_BYTES == 32_768


def test_pack_batches_fills_to_500_kb_limit() -> None:
    # 15 items of 32,000 bytes take 12 + 15 × 32,000 + 14 commas = 480,026 bytes, so one more
    # item fits exactly when it is 510,976 − 480,026 − 1 comma = 30,949 bytes.
    messages = [(n, padded_message(32_000)) for n in range(15)]
    last = 510_976 - batch_body_size([32_000] * 15) - 1
    assert last == 30_949

    batches, errors = pack_batches([*messages, (15, padded_message(last))])

    assert errors == {}
    assert len(batches) == 1
    body = serialize({"batch": [item for _index, item in batches[0]]})
    assert len(body) == DEFAULT_MAX_BATCH_BYTES
    assert len(body) < SEGMENT_MAX_BATCH_BYTES
    assert [index for index, _item in batches[0]] == list(range(16))


def test_pack_batches_one_byte_over_splits() -> None:
    messages = [(n, padded_message(32_000)) for n in range(15)]

    batches, errors = pack_batches([*messages, (15, padded_message(30_950))])

    assert errors == {}
    assert [[index for index, _item in batch] for batch in batches] == [list(range(15)), [15]]
    sizes = [len(serialize({"batch": [item for _index, item in batch]})) for batch in batches]
    assert sizes == [480_026, 12 + 30_950]
    assert batch_body_size([32_000] * 15 + [30_950]) == DEFAULT_MAX_BATCH_BYTES + 1
    assert all(size <= DEFAULT_MAX_BATCH_BYTES for size in sizes)


def test_pack_batches_items_carry_type() -> None:
    messages = [
        (0, Message("identify", {"userId": "u"})),
        (1, Message("page", {"userId": "u", "name": "Home"})),
        (2, Message("alias", {"userId": "u", "previousId": "p"})),
    ]

    batches, errors = pack_batches(messages)

    assert errors == {}
    assert [item for _index, item in batches[0]] == [
        {"type": "identify", "userId": "u"},
        {"type": "page", "userId": "u", "name": "Home"},
        {"type": "alias", "userId": "u", "previousId": "p"},
    ]


def test_pack_batches_32_kb_boundary() -> None:
    messages = [
        (0, padded_message(MAX_MESSAGE_BYTES)),
        (1, padded_message(MAX_MESSAGE_BYTES + 1)),
        (2, padded_message(100)),
    ]

    batches, errors = pack_batches(messages)

    assert [[index for index, _item in batch] for batch in batches] == [[0, 2]]
    assert list(errors) == [1]
    assert "32,769 bytes as a batch item" in errors[1]
    assert "at most 32,768 bytes per message" in errors[1]


def test_pack_batches_small_limit() -> None:
    messages = [(n, padded_message(100)) for n in range(10)]

    batches, errors = pack_batches(messages, max_batch_bytes=12 + 3 * 100 + 2)

    assert errors == {}
    assert [len(batch) for batch in batches] == [3, 3, 3, 1]
    with pytest.raises(ValueError, match="leaves no room for items"):
        pack_batches(messages, max_batch_bytes=12)


def test_pack_batches_item_larger_than_batch() -> None:
    batches, errors = pack_batches([(0, padded_message(500)), (1, padded_message(100))], 400)

    assert [[index for index, _item in batch] for batch in batches] == [[1]]
    assert "does not fit in a batch of at most 400 bytes" in errors[0]


def pad_for_item_size(
    spec: NodeSpec, engine: ExpressionEngine, size: int, index: int = 0
) -> dict[str, Any]:
    """Return an item whose PAD_VALUES message is exactly `size` bytes as a batch item."""
    items = [{"pad": ""}] * (index + 1)
    built = build_messages(spec, PAD_VALUES, items, engine=engine)
    message = built[index][1]
    assert message is not None
    base = len(serialize({"type": message.path, **message.body}))
    return {"pad": "x" * (size - base)}


def test_batch_run_reports_item_over_32_kb(
    spec: NodeSpec, engine: ExpressionEngine, sandbox: SandboxCollector
) -> None:
    # The body alone is within 32 KB, so compose accepts it, but its "type" member takes the
    # batch item 1 byte over the limit.
    over = pad_for_item_size(spec, engine, MAX_MESSAGE_BYTES + 1, index=1)
    at_limit = pad_for_item_size(spec, engine, MAX_MESSAGE_BYTES, index=2)
    items = [{"pad": "a"}, over, at_limit, {"pad": "b"}]
    settings = RunSettings(on_error="continueRegularOutput")

    report = run(spec, engine, PAD_VALUES, items, sandbox.base_url, settings, delivery="batch")

    assert statuses(report) == ["sent", "failed", "sent", "sent"]
    assert "32,769 bytes as a batch item" in report.results[1].error
    assert report.results[1].payload is not None
    assert report.results[1].batch is None
    assert sorted(item_index(record.message) for record in sandbox.messages()) == [0, 2, 3]


def test_batch_run_packs_near_limit(
    spec: NodeSpec, engine: ExpressionEngine, sandbox: SandboxCollector
) -> None:
    items = [pad_for_item_size(spec, engine, 30_000, index=n) for n in range(40)]

    report = run(spec, engine, PAD_VALUES, items, sandbox.base_url, delivery="batch")

    assert report.sent() == list(range(40))
    # 17 items of 30,000 bytes take 510,028 bytes with the envelope and commas; 18 do not fit.
    assert batch_body_size([30_000] * 17) <= DEFAULT_MAX_BATCH_BYTES
    assert batch_body_size([30_000] * 18) > DEFAULT_MAX_BATCH_BYTES
    assert [result.batch for result in report.results] == [0] * 17 + [1] * 17 + [2] * 6
    assert all(record.endpoint == "batch" for record in sandbox.messages())
    assert sorted(item_index(record.message) for record in sandbox.messages()) == list(range(40))


def test_batch_failure_fails_its_items(
    spec: NodeSpec, engine: ExpressionEngine, make_server: Callable[[Responder], RecordingServer]
) -> None:
    def respond(number: int, _record: dict[str, Any]) -> tuple[int, bytes]:
        return (503, b"down") if number == 2 else (200, b'{"success": true}')

    server = make_server(respond)
    items = [pad_for_item_size(spec, engine, 30_000, index=n) for n in range(40)]

    report = run(spec, engine, PAD_VALUES, items, server.base_url, delivery="batch")

    assert statuses(report) == ["sent"] * 17 + ["failed"] * 17 + ["skipped"] * 6
    assert report.stopped_at == 17
    assert report.results[17].error == (
        "the batch request with items 18 to 34 failed: HTTP 503 Service Unavailable: down"
    )
    assert len(server.records) == 2


def test_batch_mode_stop_sends_items_before_failure(
    spec: NodeSpec, engine: ExpressionEngine, make_server: Callable[[Responder], RecordingServer]
) -> None:
    server = make_server(ok_json)

    report = run(spec, engine, AMOUNT_VALUES, MIXED, server.base_url, delivery="batch")

    assert statuses(report) == ["sent", "failed", "skipped", "skipped"]
    batch = server.bodies()[0]["batch"]
    assert [message["userId"] for message in batch] == ["a"]
    assert batch[0]["type"] == "track"


def test_batch_10000_items_to_sandbox(
    spec: NodeSpec, engine: ExpressionEngine, sandbox: SandboxCollector
) -> None:
    items = [{"pad": f"item {n}"} for n in range(10_000)]
    progress: list[RunProgress] = []

    started = time.perf_counter()
    report = run(
        spec,
        engine,
        PAD_VALUES,
        items,
        sandbox.base_url,
        delivery="batch",
        on_progress=progress.append,
    )
    elapsed = time.perf_counter() - started

    assert report.sent() == list(range(10_000))
    received = sandbox.messages()
    assert len(received) == 10_000
    assert sorted(item_index(record.message) for record in received) == list(range(10_000))
    assert all(
        record.message["properties"]["pad"] == f"item {item_index(record.message)}"
        for record in received
    )
    batches = {result.batch for result in report.results}
    assert len(batches) > 1
    assert progress[-1].done == 10_000
    assert len(progress) <= elapsed * 20 + 2
    print(f"10,000 items in batch mode: {elapsed:.1f} s, {len(batches)} batch requests")
    assert elapsed < 30


# -- cancel -----------------------------------------------------------------------------------


def blocking_at(index: int, cancel: threading.Event, release: threading.Event) -> Responder:
    """Respond at once, except to the request carrying item `index`: set `cancel`, then block."""

    def respond(_number: int, record: dict[str, Any]) -> tuple[int, bytes]:
        body = record["body"]
        indexes = [item_index(item) for item in body.get("batch", [body])]
        if index in indexes:
            cancel.set()
            release.wait(10)
        return 200, b'{"success": true}'

    return respond


def test_cancel_mid_run_single(
    spec: NodeSpec, engine: ExpressionEngine, make_server: Callable[[Responder], RecordingServer]
) -> None:
    cancel = threading.Event()
    release = threading.Event()
    server = make_server(blocking_at(5, cancel, release))
    results: list[ItemResult] = []

    started = time.perf_counter()
    report = run(
        spec,
        engine,
        PAD_VALUES,
        [{"pad": ""}] * 12,
        server.base_url,
        cancel=cancel,
        on_result=results.append,
    )
    elapsed = time.perf_counter() - started
    release.set()

    assert report.cancelled
    assert not report.ok
    assert report.sent() == [0, 1, 2, 3, 4]
    assert [item_index(body) for body in server.bodies()] == [0, 1, 2, 3, 4, 5]
    in_flight = report.results[5]
    assert in_flight.status == "cancelled"
    assert in_flight.in_flight
    assert "may have received" in in_flight.error
    never_sent = report.results[6:]
    assert [result.status for result in never_sent] == ["cancelled"] * 6
    assert not any(result.in_flight for result in never_sent)
    assert all(result.error == "not sent: the run was cancelled" for result in never_sent)
    assert [result.index for result in results] == list(range(12))
    assert elapsed < 5


def test_cancel_mid_run_batch(
    spec: NodeSpec, engine: ExpressionEngine, make_server: Callable[[Responder], RecordingServer]
) -> None:
    cancel = threading.Event()
    release = threading.Event()
    server = make_server(blocking_at(17, cancel, release))
    items = [pad_for_item_size(spec, engine, 30_000, index=n) for n in range(40)]

    report = run(spec, engine, PAD_VALUES, items, server.base_url, delivery="batch", cancel=cancel)
    release.set()

    assert report.sent() == list(range(17))
    assert [len(body["batch"]) for body in server.bodies()] == [17, 17]
    assert all(result.in_flight for result in report.results[17:34])
    assert all(result.status == "cancelled" for result in report.results[17:])
    assert not any(result.in_flight for result in report.results[34:])


def test_cancel_before_start_sends_nothing(
    spec: NodeSpec, engine: ExpressionEngine, make_server: Callable[[Responder], RecordingServer]
) -> None:
    server = make_server(ok_json)
    cancel = threading.Event()
    cancel.set()

    report = run(spec, engine, PAD_VALUES, [{"pad": ""}] * 3, server.base_url, cancel=cancel)

    assert statuses(report) == ["cancelled"] * 3
    assert server.records == []


def test_report_to_json(
    spec: NodeSpec, engine: ExpressionEngine, sandbox: SandboxCollector
) -> None:
    settings = RunSettings(on_error="continueRegularOutput")

    report = run(spec, engine, AMOUNT_VALUES, MIXED[:2], sandbox.base_url, settings)
    data = json.loads(json.dumps(report.to_json()))

    assert data["ok"] is False
    assert data["cancelled"] is False
    assert data["stoppedAt"] is None
    assert data["counts"] == {"sent": 1, "failed": 1, "skipped": 0, "cancelled": 0}
    assert [result["status"] for result in data["results"]] == ["sent", "failed"]
    assert data["results"][0]["httpStatus"] == 200
    assert data["results"][0]["payload"]["userId"] == "a"
    assert data["output"][1] == {"error": data["results"][1]["error"]}


# -- command line -----------------------------------------------------------------------------


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "segment_gui", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )


@pytest.fixture
def presets(home: Path) -> PresetStore:
    store = PresetStore(app_paths(home))
    store.save(Preset(name="paid", parameters=AMOUNT_VALUES))
    store.save(
        Preset(
            name="paid-continue",
            parameters=AMOUNT_VALUES,
            settings={"onError": "continueRegularOutput"},
        )
    )
    return store


RESULT_LINE = re.compile(r"item (\d+): sent 200 OK \(\d+ ms(, batch \d+)?\)")


def test_cli_items_csv(presets: PresetStore, sandbox: SandboxCollector, tmp_path: Path) -> None:
    items = tmp_path / "payments.csv"
    items.write_text("user,amount\nann,10\nbob,20.5\ncid,30\n", encoding="utf-8")

    result = cli("send", "paid", "--items", str(items), "--endpoint", sandbox.base_url)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    for number, line in enumerate(lines):
        match = RESULT_LINE.fullmatch(line)
        assert match, line
        assert match.group(1) == str(number + 1)
        assert match.group(2) is None
    messages = [record.message for record in sandbox.messages()]
    assert [message["userId"] for message in messages] == ["ann", "bob", "cid"]
    assert [message["properties"]["amount"] for message in messages] == [10, 20.5, 30]
    assert "3 item(s): 3 sent, 0 failed, 0 skipped, 0 cancelled" in result.stderr


def test_cli_items_jsonl_batch_json(
    presets: PresetStore, sandbox: SandboxCollector, tmp_path: Path
) -> None:
    items = tmp_path / "payments.jsonl"
    items.write_text(
        "".join(json.dumps({"user": f"u{n}", "amount": n}) + "\n" for n in range(25)),
        encoding="utf-8",
    )

    result = cli(
        "send", "paid", "--items", str(items), "--batch", "--json", "--endpoint", sandbox.base_url
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["counts"]["sent"] == 25
    assert {entry["batch"] for entry in report["results"]} == {0}
    assert report["output"] == [{"success": True}] * 25
    assert len(sandbox.messages()) == 25
    assert all(record.endpoint == "batch" for record in sandbox.messages())


def test_cli_items_batch_lines(
    presets: PresetStore, sandbox: SandboxCollector, tmp_path: Path
) -> None:
    items = tmp_path / "payments.json"
    items.write_text(json.dumps([{"user": "a", "amount": 1}, {"user": "b", "amount": 2}]))

    result = cli("send", "paid", "--items", str(items), "--batch", "--endpoint", sandbox.base_url)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [RESULT_LINE.fullmatch(line) is not None for line in lines] == [True, True]
    assert all(line.endswith(", batch 0)") for line in lines)


def test_cli_items_failing_item_exit_code(
    presets: PresetStore, sandbox: SandboxCollector, tmp_path: Path
) -> None:
    items = tmp_path / "payments.jsonl"
    items.write_text(
        '{"user": "a", "amount": 1}\n{"user": "b", "amount": "lots"}\n{"user": "c", "amount": 3}\n'
    )

    stopped = cli("send", "paid", "--items", str(items), "--endpoint", sandbox.base_url)
    continued = cli("send", "paid-continue", "--items", str(items), "--endpoint", sandbox.base_url)

    assert stopped.returncode == 1
    lines = stopped.stdout.splitlines()
    assert RESULT_LINE.fullmatch(lines[0])
    assert lines[1].startswith("item 2: failed: ")
    assert "'lots' is not a number" in lines[1]
    assert lines[2].startswith("item 3: skipped: ")
    assert "item 2 failed, so the run stopped" in stopped.stderr
    assert continued.returncode == 1
    assert [line.split(":")[1].split()[0] for line in continued.stdout.splitlines()] == [
        "sent",
        "failed",
        "sent",
    ]
    assert [record.message["userId"] for record in sandbox.messages()] == ["a", "a", "c"]


def test_cli_items_json_report_on_failure(
    presets: PresetStore, sandbox: SandboxCollector, tmp_path: Path
) -> None:
    items = tmp_path / "payments.jsonl"
    items.write_text('{"user": "a", "amount": "x"}\n')

    result = cli("send", "paid", "--items", str(items), "--json", "--endpoint", sandbox.base_url)

    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["stoppedAt"] == 0
    assert report["results"][0]["status"] == "failed"


def test_cli_items_stdin(presets: PresetStore, sandbox: SandboxCollector) -> None:
    result = cli(
        "send",
        "paid",
        "--items",
        "-",
        "--endpoint",
        sandbox.base_url,
        stdin='[{"user": "a", "amount": 1}]',
    )

    assert result.returncode == 0, result.stderr
    assert [record.message["userId"] for record in sandbox.messages()] == ["a"]


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("items.csv", "user,amount\n", "the CSV has a header but no rows"),
        ("items.jsonl", '{"user": "a"}\n[1]\n', "line 2, column 1: the line is an array"),
        ("items.xml", "<items/>", 'unsupported file type ".xml"'),
    ],
)
def test_cli_items_file_invalid(
    presets: PresetStore, tmp_path: Path, name: str, content: str, words: str
) -> None:
    items = tmp_path / name
    items.write_text(content)

    result = cli("send", "paid", "--items", str(items), "--endpoint", "http://127.0.0.1:9/v1")

    assert result.returncode == 2
    assert result.stdout == ""
    assert words in result.stderr


def test_cli_items_file_missing(presets: PresetStore, tmp_path: Path) -> None:
    missing = tmp_path / "absent.csv"

    result = cli("send", "paid", "--items", str(missing), "--endpoint", "http://127.0.0.1:9/v1")

    assert result.returncode == 2
    assert "cannot read" in result.stderr


@pytest.mark.parametrize("flag", ["--batch", "--json"])
def test_cli_batch_needs_items(presets: PresetStore, flag: str) -> None:
    result = cli("send", "paid", flag, "--endpoint", "http://127.0.0.1:9/v1")

    assert result.returncode == 2
    assert "add --items FILE" in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT, which Windows lacks")
def test_cli_items_ctrl_c_cancels(
    presets: PresetStore, make_server: Callable[[Responder], RecordingServer], tmp_path: Path
) -> None:
    reached = threading.Event()
    release = threading.Event()
    server = make_server(blocking_at(2, reached, release))
    items = tmp_path / "payments.jsonl"
    items.write_text("".join(json.dumps({"user": f"u{n}", "amount": n}) + "\n" for n in range(5)))

    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "segment_gui",
            "send",
            "paid",
            "--items",
            str(items),
            "--endpoint",
            server.base_url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    ) as process:
        assert reached.wait(60), "the command never sent item 2"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    release.set()

    assert process.returncode == 1
    lines = stdout.splitlines()
    assert RESULT_LINE.fullmatch(lines[0])
    assert RESULT_LINE.fullmatch(lines[1])
    assert lines[2].startswith("item 3: cancelled: ")
    assert lines[3] == "item 4: cancelled: not sent: the run was cancelled"
    assert lines[4] == "item 5: cancelled: not sent: the run was cancelled"
    assert "cancelling the run after Ctrl+C" in stderr
    assert [body["userId"] for body in server.bodies()] == ["u0", "u1", "u2"]


# -- messages composed once per run -------------------------------------------------------------

TEMPLATE_CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "track with user",
        {
            "resource": "track",
            "operation": "event",
            "userId": "user-1",
            "event": "Order Completed",
            "properties": {"propertiesUi": [{"key": "revenue", "value": "19.99"}]},
            "context": {"contextUi": {"ip": "10.0.0.1", "page": "https://example.com/a?b=1"}},
        },
        "segment",
    ),
    (
        "track without user",
        {"resource": "track", "operation": "event", "event": "Signed Up"},
        "segment",
    ),
    (
        "identify with traits",
        {
            "resource": "identify",
            "operation": "create",
            "traits": {"traitsUi": [{"key": "name", "value": 'Zoë "Z" \\ O\'Neil'}]},
        },
        "segment",
    ),
    (
        "alias",
        {"resource": "identify", "operation": "alias", "userId": "new", "previousId": "old"},
        "segment",
    ),
    ("page", {"resource": "track", "operation": "page", "name": "Pricing"}, "segment"),
    ("group", {"resource": "group", "operation": "add", "groupId": "g-1"}, "segment"),
    ("n8n body", {"resource": "track", "operation": "event", "event": "Signed Up"}, "n8n"),
]


@pytest.mark.parametrize(
    ("values", "mode"),
    [case[1:] for case in TEMPLATE_CASES],
    ids=[case[0] for case in TEMPLATE_CASES],
)
def test_template_matches_compose(spec: NodeSpec, values: dict[str, Any], mode: str) -> None:
    template = MessageTemplate.create(spec, values, mode)
    assert template is not None

    for message_id, anonymous_id in [(str(uuid.uuid4()), str(uuid.uuid4())), ("m-1", 'a "ß" \\ 1')]:
        composed = compose(
            spec, values, anonymous_id=anonymous_id, message_id=message_id, mode=mode
        ).message
        assert composed is not None
        copied = template.message(message_id, anonymous_id)
        assert copied is not None
        assert copied.path == composed.path
        assert copied.body == composed.body
        assert copied.to_bytes() == serialize(composed.body)
        prepared = template.batch_item(message_id, anonymous_id)
        assert prepared is not None
        item, data = prepared
        assert item == batch_item(composed)
        assert data == serialize(batch_item(composed))


def test_template_copies_do_not_share_ids(spec: NodeSpec) -> None:
    values = {"resource": "track", "operation": "event", "event": "Signed Up"}
    template = MessageTemplate.create(spec, values)
    assert template is not None

    first = template.message("m-1", "a-1")
    second = template.message("m-2", "a-2")

    assert first is not None
    assert second is not None
    assert (first.body["messageId"], first.body["anonymousId"]) == ("m-1", "a-1")
    assert (second.body["messageId"], second.body["anonymousId"]) == ("m-2", "a-2")


def test_template_not_made_for_expressions(spec: NodeSpec) -> None:
    assert MessageTemplate.create(spec, PAD_VALUES) is None


def test_template_not_made_for_blocking_problem(spec: NodeSpec) -> None:
    values = {"resource": "track", "operation": "event", "event": ""}

    assert MessageTemplate.create(spec, values) is None


def test_template_leaves_oversized_ids_to_compose(spec: NodeSpec) -> None:
    values = {"resource": "track", "operation": "event", "event": "Signed Up"}
    template = MessageTemplate.create(spec, values)
    assert template is not None

    assert template.message("m-1", "a" * MAX_MESSAGE_BYTES) is None
    assert template.batch_item("m-1", "a" * MAX_MESSAGE_BYTES) is None


def test_uuid4_strings_are_version_4() -> None:
    values = uuid4_strings(1000)

    assert len(set(values)) == 1000
    for value in values:
        parsed = uuid.UUID(value)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == value


@pytest.mark.parametrize("count", [0, 1, 2, 1000])
def test_uuid4_text_is_comma_separated(count: int) -> None:
    text = uuid4_text(count)

    values = text.split(",") if text else []
    assert len(values) == count
    assert len(set(values)) == count
    for value in values:
        parsed = uuid.UUID(value)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == value


@pytest.mark.parametrize(
    ("values", "mode"),
    [case[1:] for case in TEMPLATE_CASES],
    ids=[case[0] for case in TEMPLATE_CASES],
)
def test_template_batch_matches_compose(spec: NodeSpec, values: dict[str, Any], mode: str) -> None:
    template = MessageTemplate.create(spec, values, mode)
    assert template is not None
    if template.batch_item_size() is None:
        pytest.skip("this message has no batch type")

    batch = template.batch(range(3, 7), UUIDSource())

    assert list(batch.indexes) == [3, 4, 5, 6]
    expected = []
    for entry in batch.entries:
        composed = compose(
            spec,
            values,
            anonymous_id=entry.get("anonymousId", "unused"),
            message_id=entry.get("messageId", "unused"),
            mode=mode,
        ).message
        assert composed is not None
        assert entry == batch_item(composed)
        expected.append(batch_item(composed))
    assert batch.data == serialize({"batch": expected})
    if "messageId" in batch.entries[0]:
        assert len({entry["messageId"] for entry in batch.entries}) == 4
    assert len(batch.data) == batch_body_size([template.batch_item_size() or 0] * 4)


def test_batch_failure_continues_with_queued_batches(
    spec: NodeSpec, engine: ExpressionEngine, make_server: Callable[[Responder], RecordingServer]
) -> None:
    def respond(number: int, _record: dict[str, Any]) -> tuple[int, bytes]:
        return (503, b"down") if number == 2 else (200, b'{"success": true}')

    server = make_server(respond)
    settings = RunSettings(on_error="continueRegularOutput")
    items = [pad_for_item_size(spec, engine, 30_000, index=n) for n in range(40)]

    report = run(spec, engine, PAD_VALUES, items, server.base_url, settings, delivery="batch")

    assert statuses(report) == ["sent"] * 17 + ["failed"] * 17 + ["sent"] * 6
    assert [len(body["batch"]) for body in server.bodies()] == [17, 17, 6]
    assert [result.batch for result in report.results] == [0] * 17 + [1] * 17 + [2] * 6
    failed_output = {"error": report.results[17].error}
    assert (
        report.output == [{"success": True}] * 17 + [failed_output] * 17 + [{"success": True}] * 6
    )


@pytest.mark.parametrize("delivery", ["single", "batch"])
def test_run_without_expressions_sends_fresh_ids(
    spec: NodeSpec, engine: ExpressionEngine, sandbox: SandboxCollector, delivery: str
) -> None:
    values = {"resource": "track", "operation": "event", "event": "Signed Up"}
    ids = [f"anon-{n}" for n in range(5)]

    report = run(
        spec,
        engine,
        values,
        [{}] * 5,
        sandbox.base_url,
        delivery=delivery,
        anonymous_id_for=ids.__getitem__,
    )

    assert report.sent() == [0, 1, 2, 3, 4]
    received = [record.message for record in sandbox.messages()]
    assert [message["anonymousId"] for message in received] == ids
    assert len({message["messageId"] for message in received}) == 5
    for result, message in zip(report.results, received, strict=True):
        assert result.payload is not None
        assert result.payload["messageId"] == message["messageId"]


# -- results in item order and the shared reply handling ----------------------------------------


def test_batch_results_reported_in_item_order(
    spec: NodeSpec, engine: ExpressionEngine, sandbox: SandboxCollector
) -> None:
    settings = RunSettings(on_error="continueRegularOutput")
    results: list[ItemResult] = []

    report = run(
        spec,
        engine,
        AMOUNT_VALUES,
        MIXED,
        sandbox.base_url,
        settings,
        delivery="batch",
        on_result=results.append,
    )

    assert [result.index for result in results] == [0, 1, 2, 3]
    assert [result.status for result in results] == ["sent", "failed", "sent", "sent"]
    assert statuses(report) == ["sent", "failed", "sent", "sent"]


def test_batch_and_single_replies_agree(
    spec: NodeSpec, engine: ExpressionEngine, make_server: Callable[[Responder], RecordingServer]
) -> None:
    def respond(_number: int, _record: dict[str, Any]) -> tuple[int, bytes]:
        return 503, b'{"error": "busy"}'

    server = make_server(respond)
    settings = RunSettings(on_error="continueErrorOutput")
    items = [{"pad": ""}] * 2

    single = run(spec, engine, PAD_VALUES, items, server.base_url, settings)
    batch = run(spec, engine, PAD_VALUES, items, server.base_url, settings, delivery="batch")

    for single_result, batch_result in zip(single.results, batch.results, strict=True):
        assert single_result.status == "failed"
        assert batch_result.status == "failed"
        assert single_result.http_status == 503
        assert batch_result.http_status == 503
        assert single_result.response == '{"error": "busy"}'
        assert batch_result.response == '{"error": "busy"}'
        assert batch_result.error == (
            f"the batch request with items 1 to 2 failed: {single_result.error}"
        )
    assert [result.batch for result in batch.results] == [0, 0]
    assert [result.batch for result in single.results] == [None, None]


def test_batch_stop_at_unbuilt_item_sends_earlier(
    spec: NodeSpec, engine: ExpressionEngine, make_server: Callable[[Responder], RecordingServer]
) -> None:
    server = make_server(ok_json)
    items = [pad_for_item_size(spec, engine, 30_000, index=n) for n in range(20)]
    items[18] = {"pad": "x" * 40_000}

    report = run(spec, engine, PAD_VALUES, items, server.base_url, delivery="batch")

    assert report.stopped_at == 18
    assert report.sent() == list(range(18))
    assert statuses(report)[18:] == ["failed", "skipped"]
    assert [len(body["batch"]) for body in server.bodies()] == [17, 1]


def test_template_batches_match_pack_batches(
    spec: NodeSpec, engine: ExpressionEngine, make_server: Callable[[Responder], RecordingServer]
) -> None:
    server = make_server(ok_json)
    values = {
        "resource": "track",
        "operation": "event",
        "userId": "u1",
        "event": "Padded",
        "properties": {"propertiesUi": [{"key": "pad", "value": "x" * 29_800}]},
    }
    messages = [
        message
        for _index, message, _error in build_messages(spec, values, [{}] * 40, engine=engine)
    ]
    expected, errors = pack_batches([(n, m) for n, m in enumerate(messages) if m is not None])

    report = run(spec, engine, values, [{}] * 40, server.base_url, delivery="batch")

    assert errors == {}
    assert report.sent() == list(range(40))
    assert [len(body["batch"]) for body in server.bodies()] == [len(batch) for batch in expected]
    assert [result.batch for result in report.results] == [
        number for number, batch in enumerate(expected) for _item in batch
    ]
    received = [item for body in server.bodies() for item in body["batch"]]
    assert len({item["messageId"] for item in received}) == 40
    assert [result.payload for result in report.results] == received


@pytest.mark.parametrize("delivery", ["single", "batch"])
def test_cancel_while_connecting(spec: NodeSpec, engine: ExpressionEngine, delivery: str) -> None:
    import socket

    # A listener with a full accept queue: Linux drops further SYNs, so connecting hangs.
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        filler.connect(listener.getsockname())
        base_url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        cancel = threading.Event()
        threading.Timer(0.3, cancel.set).start()
        slow_connect = SendOptions(connect_timeout=60.0, read_timeout=60.0)

        started = time.perf_counter()
        report = run(
            spec,
            engine,
            PAD_VALUES,
            [{"pad": ""}] * 3,
            base_url,
            delivery=delivery,
            cancel=cancel,
            send_options=slow_connect,
        )
        elapsed = time.perf_counter() - started

    assert statuses(report) == ["cancelled"] * 3
    assert report.results[0].in_flight
    # Returned on the cancel, not after the 60 s connect timeout.
    assert elapsed < 30


def test_template_batch_results_match_received(
    spec: NodeSpec, engine: ExpressionEngine, sandbox: SandboxCollector
) -> None:
    # Fixed values without a User ID: every item gets its own messageId and anonymousId.
    values = {"resource": "track", "operation": "event", "event": "Signed Up"}
    count = 5000

    report = run(spec, engine, values, [{}] * count, sandbox.base_url, delivery="batch")

    received = [{"type": record.type, **record.message} for record in sandbox.messages()]
    assert report.ok
    assert report.counts()["sent"] == count
    assert len(report.results) == count
    assert [result.payload for result in report.results] == received
    assert len({payload["messageId"] for payload in received}) == count
    assert len({payload["anonymousId"] for payload in received}) == count
    assert [result.index for result in report.results] == list(range(count))
    assert {result.batch for result in report.results} == {0, 1}
    assert all(result.http_status == 200 for result in report.results)
    assert report.output == [{"success": True}] * count


def test_template_batch_results_read_twice(
    spec: NodeSpec, engine: ExpressionEngine, sandbox: SandboxCollector
) -> None:
    values = {"resource": "track", "operation": "event", "event": "Signed Up"}

    report = run(spec, engine, values, [{}] * 10, sandbox.base_url, delivery="batch")

    last = report.results[-1]
    assert last is report.results[9]
    assert last.index == 9
    assert [result.index for result in report.results[2:5]] == [2, 3, 4]
    assert report.results[2:5][0] is report.results[2]
    with pytest.raises(IndexError):
        report.results[10]
    with pytest.raises(IndexError):
        report.results[-11]


def test_template_batch_on_result_objects(
    spec: NodeSpec, engine: ExpressionEngine, sandbox: SandboxCollector
) -> None:
    values = {"resource": "track", "operation": "event", "event": "Signed Up"}
    finished: list[ItemResult] = []

    report = run(
        spec,
        engine,
        values,
        [{}] * 3000,
        sandbox.base_url,
        delivery="batch",
        on_result=finished.append,
    )

    assert [result.index for result in finished] == list(range(3000))
    assert all(passed is kept for passed, kept in zip(finished, report.results, strict=True))
    assert [result.payload for result in finished] == [
        {"type": record.type, **record.message} for record in sandbox.messages()
    ]


def test_template_batches_refused_connection(spec: NodeSpec, engine: ExpressionEngine) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    values = {"resource": "track", "operation": "event", "event": "Signed Up"}
    settings = RunSettings(on_error="continueRegularOutput")

    # Several batches, so the run waits for the first connection before building the second.
    report = run(
        spec, engine, values, [{}] * 5000, f"http://127.0.0.1:{port}/v1", settings, delivery="batch"
    )

    assert report.counts()["failed"] == 5000
    assert {result.batch for result in report.results} == {0, 1}
    assert "refused" in report.results[0].error
    assert "refused" in report.results[-1].error
