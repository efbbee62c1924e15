"""The curl command, run with bash against a local HTTP server that records the request."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from segment_gui.curl import curl_command
from segment_gui.payload import Message
from segment_gui.transport import USER_AGENT, basic_auth

pytestmark = pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("bash") is None,
    reason="needs the curl and bash programs",
)

MESSAGE = Message(
    "track",
    {
        "userId": "user-1042",
        "event": "Signed Up",
        "properties": {
            "quote": 'it\'s "fine"',
            "text": "café ☕ naïve — 日本語",
            "shell": "$HOME `date` $(id) !! \\n",
            "backslash": "C:\\Users\\ada",
            "newline": "line one\nline two",
            "total": 42.5,
        },
        "messageId": "0b7c7c62-3d0e-4d0e-9f0a-2f3c1d5e8a11",
    },
)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _RecordingServer(HTTPServer):
    requests: list[RecordedRequest]


class _RecordingHandler(BaseHTTPRequestHandler):
    server: _RecordingServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.server.requests.append(
            RecordedRequest(self.command, self.path, dict(self.headers.items()), body)
        )
        reply = b'{"success":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_RecordingServer]:
    recording = _RecordingServer(("127.0.0.1", 0), _RecordingHandler)
    recording.requests = []
    thread = threading.Thread(target=recording.serve_forever, daemon=True)
    thread.start()
    try:
        yield recording
    finally:
        recording.shutdown()
        recording.server_close()
        thread.join(timeout=5)


def base_url(server: _RecordingServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}/v1"


def run_command(command: str, tmp_path: Path, write_key: str | None = None) -> str:
    # A minimal environment: no proxy variables, and a HOME without a .curlrc.
    environment = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LC_ALL": "C.UTF-8"}
    if write_key is not None:
        environment["SEGMENT_WRITE_KEY"] = write_key
    completed = subprocess.run(
        ["bash", "-c", command],
        env=environment,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr.decode(errors="replace")
    return completed.stdout.decode()


def test_curl_key_from_environment(server: _RecordingServer, tmp_path: Path) -> None:
    command = curl_command(base_url(server), MESSAGE, "wk_live_123")
    output = run_command(command, tmp_path, write_key="wk_live_123")
    assert output == '{"success":true}'
    request = server.requests[0]
    assert request.method == "POST"
    assert request.path == "/v1/track"
    assert request.body == MESSAGE.to_bytes()
    assert request.headers["Authorization"] == basic_auth("wk_live_123")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == USER_AGENT


def test_curl_masks_key_by_default(server: _RecordingServer) -> None:
    command = curl_command(base_url(server), MESSAGE, "wk_live_123")
    assert "wk_live_123" not in command
    assert '-u "$SEGMENT_WRITE_KEY:"' in command


def test_curl_without_key_argument(server: _RecordingServer, tmp_path: Path) -> None:
    command = curl_command(base_url(server), MESSAGE, None)
    run_command(command, tmp_path, write_key="from-env")
    assert server.requests[0].headers["Authorization"] == basic_auth("from-env")


def test_curl_unset_variable_empty_key(server: _RecordingServer, tmp_path: Path) -> None:
    run_command(curl_command(base_url(server), MESSAGE, None), tmp_path)
    assert server.requests[0].headers["Authorization"] == basic_auth("")


def test_curl_include_key(server: _RecordingServer, tmp_path: Path) -> None:
    key = "wk'odd$KEY\"`x`"
    command = curl_command(base_url(server), MESSAGE, key, include_key=True)
    assert "SEGMENT_WRITE_KEY" not in command
    run_command(command, tmp_path)
    request = server.requests[0]
    assert request.headers["Authorization"] == basic_auth(key)
    assert request.body == MESSAGE.to_bytes()


def test_curl_include_key_needs_key() -> None:
    with pytest.raises(ValueError, match="needs a write key"):
        curl_command("https://api.segment.io/v1", MESSAGE, None, include_key=True)


def test_curl_trailing_slash_in_base_url(server: _RecordingServer, tmp_path: Path) -> None:
    command = curl_command(base_url(server) + "/", MESSAGE, None)
    run_command(command, tmp_path, write_key="k")
    assert server.requests[0].path == "/v1/track"


def test_curl_layout() -> None:
    message = Message("identify", {"userId": "u1"})
    command = curl_command("https://api.segment.io/v1", message, None)
    assert command.splitlines() == [
        "curl -sS https://api.segment.io/v1/identify \\",
        "  -H 'Content-Type: application/json' \\",
        f"  -A {USER_AGENT} \\",
        '  -u "$SEGMENT_WRITE_KEY:" \\',
        '  --data-binary \'{"userId":"u1"}\'',
    ]
