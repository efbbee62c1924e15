from __future__ import annotations

import gzip
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import pytest
import requests

from segment_gui.sandbox import (
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    NO_IDENTITY_NOTE,
    ReceivedMessage,
    SandboxCollector,
    mask_write_key,
    run_foreground,
)

KEY = "wk_live_0123456789abcdefABCDEF99"
KEY_MASKED = "wk_l… (32 chars)"
REPO_ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 10.0

FOREGROUND_CODE = (
    "from segment_gui.sandbox import run_foreground; import sys, pathlib; "
    "sys.exit(run_foreground('127.0.0.1', 0, pathlib.Path(sys.argv[1])))"
)


@pytest.fixture
def collector() -> Iterator[SandboxCollector]:
    with SandboxCollector() as sandbox:
        yield sandbox


def post(
    collector: SandboxCollector,
    endpoint: str,
    payload: Any,
    key: str | None = KEY,
) -> requests.Response:
    return requests.post(
        f"{collector.base_url}/{endpoint}",
        json=payload,
        auth=(key, "") if key is not None else None,
        timeout=TIMEOUT,
    )


def post_raw(
    collector: SandboxCollector, endpoint: str, body: bytes, headers: dict[str, str] | None = None
) -> requests.Response:
    return requests.post(
        f"{collector.base_url}/{endpoint}",
        data=body,
        headers={"Content-Type": "application/json", **(headers or {})},
        auth=(KEY, ""),
        timeout=TIMEOUT,
    )


def padded_json(size: int, **fields: Any) -> bytes:
    """Return a compact JSON object of exactly `size` bytes, padded in a `pad` property."""
    empty = json.dumps({**fields, "properties": {"pad": ""}}, separators=(",", ":"))
    padding = "x" * (size - len(empty))
    body = json.dumps({**fields, "properties": {"pad": padding}}, separators=(",", ":"))
    assert len(body) == size
    return body.encode()


def sandbox_url(collector: SandboxCollector, path: str) -> str:
    return collector.base_url.removesuffix("/v1") + path


# --- Accepted requests ---


def test_track_accepted(collector: SandboxCollector) -> None:
    response = post(collector, "track", {"userId": "u1", "event": "Signed Up"})

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"success": True}
    [record] = collector.messages()
    assert record.endpoint == "track"
    assert record.type == "track"
    assert record.message == {"userId": "u1", "event": "Signed Up"}
    assert record.notes == ()
    assert record.received_at.endswith("Z")


@pytest.mark.parametrize("endpoint", ["identify", "track", "page", "screen", "group", "alias"])
def test_endpoint_records_type(collector: SandboxCollector, endpoint: str) -> None:
    response = post(collector, endpoint, {"userId": "u1"})

    assert response.status_code == 200
    assert [record.type for record in collector.messages()] == [endpoint]


def test_basic_auth_key_accepted(collector: SandboxCollector) -> None:
    response = post(collector, "identify", {"userId": "u1"}, key=KEY)

    assert response.status_code == 200
    assert collector.messages()[0].write_key_masked == KEY_MASKED


def test_body_write_key_accepted(collector: SandboxCollector) -> None:
    response = post(collector, "identify", {"userId": "u1", "writeKey": KEY}, key=None)

    assert response.status_code == 200
    [record] = collector.messages()
    assert record.write_key_masked == KEY_MASKED
    assert record.message["writeKey"] == KEY_MASKED


def test_message_at_size_limit_accepted(collector: SandboxCollector) -> None:
    body = padded_json(MAX_MESSAGE_BYTES, userId="u1", event="Big")

    response = post_raw(collector, "track", body)

    assert response.status_code == 200


def test_gzip_body_accepted(collector: SandboxCollector) -> None:
    body = gzip.compress(json.dumps({"userId": "u1", "event": "Zipped"}).encode())

    response = post_raw(collector, "track", body, {"Content-Encoding": "gzip"})

    assert response.status_code == 200
    assert collector.messages()[0].message["event"] == "Zipped"


# --- Rejected requests ---


def assert_rejected(response: requests.Response, status: int, reason_part: str) -> None:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["success"] is False
    assert reason_part in body["error"]


def test_invalid_json_400(collector: SandboxCollector) -> None:
    response = post_raw(collector, "track", b'{"userId": "u1",')

    assert_rejected(response, 400, "not valid JSON")
    assert collector.messages() == []


@pytest.mark.parametrize(
    ("body", "kind"),
    [(b"[1, 2]", "array"), (b'"text"', "string"), (b"42", "number"), (b"null", "null")],
)
def test_non_object_400(collector: SandboxCollector, body: bytes, kind: str) -> None:
    response = post_raw(collector, "track", body)

    assert_rejected(response, 400, f"must be a JSON object, got a JSON {kind}")


def test_nan_400(collector: SandboxCollector) -> None:
    response = post_raw(collector, "track", b'{"userId": "u1", "properties": {"x": NaN}}')

    assert_rejected(response, 400, "not valid JSON")


def test_message_over_limit_400(collector: SandboxCollector) -> None:
    body = padded_json(MAX_MESSAGE_BYTES + 1, userId="u1", event="Big")

    response = post_raw(collector, "track", body)

    assert_rejected(response, 400, f"{MAX_MESSAGE_BYTES + 1} bytes")
    assert collector.messages() == []


def test_gzip_over_limit_400(collector: SandboxCollector) -> None:
    body = gzip.compress(padded_json(MAX_MESSAGE_BYTES + 1, userId="u1", event="Big"))

    response = post_raw(collector, "track", body, {"Content-Encoding": "gzip"})

    assert_rejected(response, 400, f"more than {MAX_MESSAGE_BYTES} bytes")


def test_unknown_encoding_415(collector: SandboxCollector) -> None:
    response = post_raw(collector, "track", b"{}", {"Content-Encoding": "br"})

    assert_rejected(response, 415, "'br'")


def test_batch_over_limit_400(collector: SandboxCollector) -> None:
    item = json.loads(padded_json(30_000, type="track", userId="u1", event="E"))
    payload = {"batch": [item] * 20}
    assert len(json.dumps(payload)) > MAX_BATCH_BYTES

    response = post(collector, "batch", payload)

    assert_rejected(response, 400, f"limit of {MAX_BATCH_BYTES} bytes per batch")
    assert collector.messages() == []


def test_batch_item_over_limit_400(collector: SandboxCollector) -> None:
    big = json.loads(padded_json(MAX_MESSAGE_BYTES + 1, type="track", userId="u1", event="E"))
    payload = {"batch": [{"type": "identify", "userId": "u1"}, big]}

    response = post(collector, "batch", payload)

    assert_rejected(response, 400, f"batch[1] is {MAX_MESSAGE_BYTES + 1} bytes")
    assert collector.messages() == []


def test_batch_item_at_limit_accepted(collector: SandboxCollector) -> None:
    item = json.loads(padded_json(MAX_MESSAGE_BYTES, type="track", userId="u1", event="E"))

    response = post(collector, "batch", {"batch": [item]})

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("payload", "reason_part"),
    [
        ({"messages": []}, 'no "batch" member'),
        ({"batch": {"type": "track"}}, "got a JSON object"),
        ({"batch": "track"}, "got a JSON string"),
        ({"batch": [{"type": "track"}, 3]}, "batch[1] must be a JSON object, got a JSON number"),
    ],
)
def test_batch_shape_400(
    collector: SandboxCollector, payload: dict[str, Any], reason_part: str
) -> None:
    response = post(collector, "batch", payload)

    assert_rejected(response, 400, reason_part)
    assert collector.messages() == []


def test_missing_key_401(collector: SandboxCollector) -> None:
    response = post(collector, "track", {"userId": "u1", "event": "E"}, key=None)

    assert_rejected(response, 401, "missing write key")
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert collector.messages() == []


def test_empty_basic_user_401(collector: SandboxCollector) -> None:
    response = post(collector, "track", {"userId": "u1", "event": "E"}, key="")

    assert_rejected(response, 401, "not valid HTTP Basic auth")


def test_malformed_auth_header_401(collector: SandboxCollector) -> None:
    response = requests.post(
        f"{collector.base_url}/track",
        json={"userId": "u1", "event": "E"},
        headers={"Authorization": "Basic !!!not-base64"},
        timeout=TIMEOUT,
    )

    assert_rejected(response, 401, "not valid HTTP Basic auth")


@pytest.mark.parametrize("path", ["/v1/trak", "/v2/track", "/", "/v1/"])
def test_unknown_path_404(collector: SandboxCollector, path: str) -> None:
    response = requests.post(sandbox_url(collector, path), json={}, timeout=TIMEOUT)

    assert_rejected(response, 404, f"no endpoint at {path}")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_message_path_other_method_405(collector: SandboxCollector, method: str) -> None:
    response = requests.request(method, f"{collector.base_url}/track", timeout=TIMEOUT)

    assert_rejected(response, 405, f"method {method} is not allowed")
    assert response.headers["Allow"] == "POST"


def test_messages_path_post_405(collector: SandboxCollector) -> None:
    response = requests.post(sandbox_url(collector, "/_sandbox/messages"), timeout=TIMEOUT)

    assert_rejected(response, 405, "use GET")
    assert response.headers["Allow"] == "GET"


# --- Recording, notes and masking ---


def test_batch_records_item_types(collector: SandboxCollector) -> None:
    payload = {
        "batch": [
            {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}},
            {"type": "track", "userId": "u1", "event": "Upgraded"},
            {"type": "page", "anonymousId": "a1", "name": "Pricing"},
        ]
    }

    response = post(collector, "batch", payload)

    assert response.status_code == 200
    records = collector.messages()
    assert [record.type for record in records] == ["identify", "track", "page"]
    assert {record.endpoint for record in records} == {"batch"}
    assert [record.message for record in records] == payload["batch"]
    assert all(record.notes == () for record in records)


def test_batch_item_without_type_noted(collector: SandboxCollector) -> None:
    post(collector, "batch", {"batch": [{"userId": "u1"}, {"type": "bogus", "userId": "u1"}]})

    first, second = collector.messages()
    assert first.type == ""
    assert "no type" in first.notes[0]
    assert second.type == "bogus"
    assert "unknown type 'bogus'" in second.notes[0]


def test_notes_missing_identity(collector: SandboxCollector) -> None:
    post(collector, "identify", {"traits": {"name": "Ada"}})
    post(collector, "identify", {"userId": "", "anonymousId": None})

    assert [record.notes for record in collector.messages()] == [(NO_IDENTITY_NOTE,)] * 2


def test_notes_track_without_event(collector: SandboxCollector) -> None:
    post(collector, "track", {"userId": "u1", "properties": {}})

    [record] = collector.messages()
    assert record.notes == ("no event: Segment drops a track message without one",)


def test_notes_group_and_alias(collector: SandboxCollector) -> None:
    post(collector, "group", {"userId": "u1"})
    post(collector, "alias", {"userId": "u1"})

    group, alias = collector.messages()
    assert group.notes == ("no groupId: Segment drops a group message without one",)
    assert alias.notes == ("no previousId: Segment drops an alias message without one",)


def test_notes_track_with_nothing(collector: SandboxCollector) -> None:
    post(collector, "track", {})

    [record] = collector.messages()
    assert record.notes == (
        NO_IDENTITY_NOTE,
        "no event: Segment drops a track message without one",
    )


def test_messages_endpoint_masks_key(collector: SandboxCollector) -> None:
    post(collector, "track", {"userId": "u1", "event": "E", "writeKey": KEY}, key=None)

    response = requests.get(sandbox_url(collector, "/_sandbox/messages"), timeout=TIMEOUT)

    assert response.status_code == 200
    assert KEY not in response.text
    [entry] = response.json()
    assert entry["writeKey"] == KEY_MASKED
    assert entry["message"]["writeKey"] == KEY_MASKED
    assert entry["endpoint"] == "track"
    assert entry["type"] == "track"
    assert entry["notes"] == []
    assert entry["receivedAt"].endswith("Z")


def test_records_mask_key(collector: SandboxCollector) -> None:
    post(collector, "track", {"userId": "u1", "event": "E", "writeKey": KEY})
    post(collector, "batch", {"batch": [{"type": "identify", "userId": "u1", "writeKey": KEY}]})

    assert KEY not in repr(collector.messages())


def test_log_file_contains_full_key(tmp_path: Path) -> None:
    log_path = tmp_path / "sandbox.jsonl"
    with SandboxCollector(log_path=log_path) as sandbox:
        post(sandbox, "track", {"userId": "u1", "event": "Signed Up"})
        post(sandbox, "batch", {"batch": [{"type": "page", "userId": "u1"}, {"type": "alias"}]})
        assert KEY not in repr(sandbox.messages())

    lines = [json.loads(line) for line in log_path.read_text("utf-8").splitlines()]
    assert [line["type"] for line in lines] == ["track", "page", "alias"]
    assert [line["endpoint"] for line in lines] == ["track", "batch", "batch"]
    assert {line["writeKey"] for line in lines} == {KEY}
    assert lines[0]["message"] == {"userId": "u1", "event": "Signed Up"}
    assert lines[0]["notes"] == []
    assert NO_IDENTITY_NOTE in lines[2]["notes"]
    assert set(lines[0]) == {"receivedAt", "endpoint", "type", "writeKey", "message", "notes"}


def test_log_file_appends(tmp_path: Path) -> None:
    log_path = tmp_path / "sandbox.jsonl"
    log_path.write_text('{"earlier": true}\n', "utf-8")

    with SandboxCollector(log_path=log_path) as sandbox:
        post(sandbox, "identify", {"userId": "u1"})

    lines = log_path.read_text("utf-8").splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0]) == {"earlier": True}


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        ("abcdefghijklmnopqrstuvwxyz012345", "abcd… (32 chars)"),
        ("abcdefghi", "abcd… (9 chars)"),
        ("abcdefgh", "•••• (8 chars)"),
        ("ab", "•••• (2 chars)"),
        ("", "•••• (0 chars)"),
    ],
)
def test_mask_write_key(key: str, masked: str) -> None:
    assert mask_write_key(key) == masked


def test_on_message_called() -> None:
    received: list[ReceivedMessage] = []
    with SandboxCollector(on_message=received.append) as sandbox:
        post(sandbox, "batch", {"batch": [{"type": "identify", "userId": "u1"}] * 3})

        assert received == sandbox.messages()
    assert len(received) == 3


def test_on_message_error_still_200(caplog: pytest.LogCaptureFixture) -> None:
    def fail(record: ReceivedMessage) -> None:
        raise RuntimeError("callback broke")

    with SandboxCollector(on_message=fail) as sandbox:
        response = post(sandbox, "identify", {"userId": "u1"})

    assert response.status_code == 200
    assert "on_message callback failed" in caplog.text


def test_clear_empties_messages(collector: SandboxCollector) -> None:
    post(collector, "identify", {"userId": "u1"})

    collector.clear()

    assert collector.messages() == []


# --- Lifecycle and connections ---


def test_base_url_before_start() -> None:
    with pytest.raises(RuntimeError, match="call start"):
        _ = SandboxCollector().base_url


def test_base_url_shape(collector: SandboxCollector) -> None:
    assert collector.base_url.startswith("http://127.0.0.1:")
    assert collector.base_url.endswith("/v1")


def test_stop_idempotent() -> None:
    sandbox = SandboxCollector()
    sandbox.stop()
    sandbox.start()

    sandbox.stop()
    sandbox.stop()


def test_stop_closes_kept_alive_connection() -> None:
    with requests.Session() as session:
        with SandboxCollector() as sandbox:
            url = f"{sandbox.base_url}/identify"
            first = session.post(url, json={"userId": "u1"}, auth=(KEY, ""), timeout=TIMEOUT)
            assert first.status_code == 200

        with pytest.raises(requests.ConnectionError):
            session.post(url, json={"userId": "u1"}, auth=(KEY, ""), timeout=TIMEOUT)
        assert len(sandbox.messages()) == 1


def test_keep_alive_session(collector: SandboxCollector) -> None:
    with requests.Session() as session:
        responses = [
            session.post(
                f"{collector.base_url}/track",
                json={"userId": "u1", "event": f"Event {index}"},
                auth=(KEY, ""),
                timeout=TIMEOUT,
            )
            for index in range(50)
        ]

    assert [response.status_code for response in responses] == [200] * 50
    assert all(response.raw.version == 11 for response in responses)
    assert all("close" not in response.headers.get("Connection", "") for response in responses)
    assert len(collector.messages()) == 50


def test_keep_alive_after_rejection(collector: SandboxCollector) -> None:
    oversized = padded_json(MAX_MESSAGE_BYTES + 1, userId="u1", event="Big")
    with requests.Session() as session:
        url = f"{collector.base_url}/track"
        rejected = session.post(url, data=oversized, auth=(KEY, ""), timeout=TIMEOUT)
        accepted = session.post(
            url, json={"userId": "u1", "event": "E"}, auth=(KEY, ""), timeout=TIMEOUT
        )

    assert rejected.status_code == 400
    assert accepted.status_code == 200


def test_keep_alive_after_404(collector: SandboxCollector) -> None:
    with requests.Session() as session:
        missing = session.post(
            sandbox_url(collector, "/v1/unknown"), json={"userId": "u1"}, timeout=TIMEOUT
        )
        accepted = session.post(
            f"{collector.base_url}/identify",
            json={"userId": "u1"},
            auth=(KEY, ""),
            timeout=TIMEOUT,
        )

    assert missing.status_code == 404
    assert accepted.status_code == 200
    assert len(collector.messages()) == 1


def test_response_single_write(
    collector: SandboxCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = int(collector.base_url.removesuffix("/v1").rpartition(":")[2])
    writes: list[bytes] = []
    original_write = socket.SocketIO.write
    original_sendall = socket.socket.sendall

    def recording_write(self: socket.SocketIO, data: Any) -> int | None:
        if self._sock.getsockname()[1] == port:  # type: ignore[attr-defined]
            writes.append(bytes(data))
        return original_write(self, data)

    def recording_sendall(self: socket.socket, data: Any, *args: Any) -> None:
        if self.getsockname()[1] == port:
            writes.append(bytes(data))
        original_sendall(self, data, *args)

    monkeypatch.setattr(socket.SocketIO, "write", recording_write)
    monkeypatch.setattr(socket.socket, "sendall", recording_sendall)

    response = post(collector, "track", {"userId": "u1", "event": "E"})

    assert response.status_code == 200
    assert len(writes) == 1
    assert writes[0].startswith(b"HTTP/1.1 200")
    assert writes[0].endswith(b'\r\n\r\n{"success": true}')


# --- Foreground command ---


class ForegroundProcess:
    """`run_foreground` in a subprocess, with its stdout lines readable with a timeout."""

    def __init__(self, tmp_path: Path) -> None:
        self.log_path = tmp_path / "sandbox.jsonl"
        self.stderr_path = tmp_path / "stderr.txt"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), *sys.path])}
        self._stderr_file = self.stderr_path.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-c", FOREGROUND_CODE, str(self.log_path)],
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
            env=env,
            text=True,
            encoding="utf-8",
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        assert self.process.stdout is not None
        self._reader = threading.Thread(target=self._read_lines, args=(self.process.stdout,))
        self._reader.start()

    def _read_lines(self, stdout: TextIO) -> None:
        for line in stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def next_line(self) -> str:
        line = self._lines.get(timeout=TIMEOUT)
        assert line is not None, f"sandbox exited early: {self.stderr_path.read_text('utf-8')}"
        return line

    def stop(self, signum: int) -> tuple[int, list[str]]:
        """Send `signum`, wait for the exit, and return the exit code and remaining lines."""
        self.process.send_signal(signum)
        code = self.process.wait(timeout=TIMEOUT)
        self._reader.join(timeout=TIMEOUT)
        rest: list[str] = []
        while (line := self._lines.get(timeout=TIMEOUT)) is not None:
            rest.append(line)
        return code, rest

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=TIMEOUT)
        self._reader.join(timeout=TIMEOUT)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self._stderr_file.close()


@pytest.fixture
def foreground(tmp_path: Path) -> Iterator[ForegroundProcess]:
    process = ForegroundProcess(tmp_path)
    try:
        yield process
    finally:
        process.close()


def check_foreground_stops(foreground: ForegroundProcess, signum: int) -> None:
    base_url = foreground.next_line()
    assert base_url.startswith("http://127.0.0.1:")
    assert base_url.endswith("/v1")

    response = requests.post(
        f"{base_url}/track",
        json={"userId": "u1", "event": "Signed Up"},
        auth=(KEY, ""),
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    message_line = foreground.next_line()

    code, rest = foreground.stop(signum)

    assert code == 0
    assert 'track event="Signed Up" userId=u1' in message_line
    assert f"key={KEY_MASKED}" in message_line
    assert KEY not in "\n".join([base_url, message_line, *rest])
    stderr = foreground.stderr_path.read_text("utf-8")
    assert "Traceback" not in stderr
    assert KEY not in stderr

    [entry] = [json.loads(line) for line in foreground.log_path.read_text("utf-8").splitlines()]
    assert entry["writeKey"] == KEY
    assert entry["type"] == "track"
    assert entry["endpoint"] == "track"
    assert entry["message"] == {"userId": "u1", "event": "Signed Up"}
    assert entry["notes"] == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_foreground_sigterm(foreground: ForegroundProcess) -> None:
    check_foreground_stops(foreground, signal.SIGTERM)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_foreground_sigint(foreground: ForegroundProcess) -> None:
    check_foreground_stops(foreground, signal.SIGINT)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_foreground_prints_notes(foreground: ForegroundProcess) -> None:
    base_url = foreground.next_line()

    requests.post(f"{base_url}/track", json={"properties": {}}, auth=(KEY, ""), timeout=TIMEOUT)

    assert " track " in foreground.next_line()
    assert foreground.next_line() == f"  note: {NO_IDENTITY_NOTE}"
    assert foreground.next_line() == "  note: no event: Segment drops a track message without one"
    code, _ = foreground.stop(signal.SIGTERM)
    assert code == 0


def test_foreground_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]

        code = run_foreground("127.0.0.1", port, None)

    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"port {port} is already in use" in captured.err
    assert "--port 0" in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_foreground_log_unwritable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log_path = tmp_path / "missing-folder" / "sandbox.jsonl"

    code = run_foreground("127.0.0.1", 0, log_path)

    assert code == 2
    captured = capsys.readouterr()
    assert f"cannot open log file {log_path}" in captured.err


# --- Compact batch bodies, as segment-gui sends them ---


def compact_batch(items: list[Any]) -> bytes:
    """Return `{"batch":[…]}` without spaces, as segment-gui and Segment's libraries post it."""
    return json.dumps({"batch": items}, ensure_ascii=False, separators=(",", ":")).encode()


def test_compact_batch_records_items_in_order(collector: SandboxCollector) -> None:
    items = [
        {"type": "track", "userId": "u1", "event": 'Zoë "Z" \\ 😀', "properties": {"n": 1e15}},
        {"type": "identify", "anonymousId": "a1", "traits": {"list": [1, 2.5, None, True]}},
        {"type": "page", "userId": "u2", "name": ""},
    ]

    response = post_raw(collector, "batch", compact_batch(items))

    assert response.status_code == 200
    assert [record.message for record in collector.messages()] == items
    assert [record.type for record in collector.messages()] == ["track", "identify", "page"]


def test_compact_batch_item_over_limit_400(collector: SandboxCollector) -> None:
    big = json.loads(padded_json(MAX_MESSAGE_BYTES + 1, type="track", userId="u1", event="E"))

    response = post_raw(collector, "batch", compact_batch([{"type": "track", "userId": "u1"}, big]))

    assert_rejected(response, 400, f"batch[1] is {MAX_MESSAGE_BYTES + 1} bytes")
    assert collector.messages() == []


def test_compact_batch_item_at_limit_accepted(collector: SandboxCollector) -> None:
    item = json.loads(padded_json(MAX_MESSAGE_BYTES, type="track", userId="u1", event="E"))

    response = post_raw(collector, "batch", compact_batch([item]))

    assert response.status_code == 200
    assert len(collector.messages()) == 1


def test_compact_batch_escaped_size_counts(collector: SandboxCollector) -> None:
    # 5,500 × "é" is 11,000 bytes in the body but 33,000 characters as "\u00e9" escapes.
    item = {"type": "track", "userId": "u1", "event": "E", "properties": {"text": "é" * 5500}}
    size = len(json.dumps(item, separators=(",", ":")))
    assert len(compact_batch([item])) < MAX_MESSAGE_BYTES < size

    response = post_raw(collector, "batch", compact_batch([item]))

    assert_rejected(response, 400, f"batch[0] is {size} bytes")
    assert collector.messages() == []


@pytest.mark.parametrize(
    ("body", "status", "reason_part"),
    [
        (b'{"batch":[{"type":"track"},]}', 400, "not valid JSON"),
        (b'{"batch":[NaN]}', 400, "NaN is not valid JSON"),
        (b'{"batch":[{"type":"track"},3]}', 400, "batch[1] must be a JSON object"),
        (b'{"batch":[{"userId":"u1"}],"writeKey":"wk"]}', 400, "not valid JSON"),
        (b'{"batch":[]}', 200, ""),
    ],
)
def test_compact_batch_errors(
    collector: SandboxCollector, body: bytes, status: int, reason_part: str
) -> None:
    response = post_raw(collector, "batch", body)

    if status == 200:
        assert response.status_code == 200
    else:
        assert_rejected(response, status, reason_part)
    assert collector.messages() == []
