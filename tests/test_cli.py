"""The `segment-gui` command line, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from segment_gui import __version__
from segment_gui.model import Preset
from segment_gui.storage import PresetStore, app_paths

COMMANDS = [
    [],
    ["sandbox"],
    ["credential"],
    ["credential", "set"],
    ["credential", "list"],
    ["credential", "delete"],
    ["preset"],
    ["preset", "list"],
    ["preset", "show"],
    ["preset", "delete"],
    ["payload"],
    ["send"],
]


def run(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "segment_gui", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=env or os.environ.copy(),
    )


@pytest.fixture
def presets(home: Path) -> PresetStore:
    store = PresetStore(app_paths(home))
    store.save(
        Preset(
            name="signup",
            parameters={
                "resource": "track",
                "operation": "event",
                "userId": "u1",
                "event": "Signed Up",
                "properties": {"propertiesUi": [{"key": "plan", "value": "pro"}]},
            },
        )
    )
    store.save(Preset(name="no event", parameters={"resource": "track", "operation": "event"}))
    return store


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    log = tmp_path / "sandbox.jsonl"
    with subprocess.Popen(
        [sys.executable, "-m", "segment_gui", "sandbox", "--port", "0", "--log", str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:"), url
            assert url.endswith("/v1"), url
            yield url, log
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0


def test_cli_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"segment-gui {__version__}"


def test_cli_console_script_installed() -> None:
    script = Path(sys.executable).parent / "segment-gui"
    assert script.exists()
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == f"segment-gui {__version__}"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_cli_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: segment-gui")


def test_cli_preset_list_show_delete(presets: PresetStore) -> None:
    listed = run("preset", "list")
    assert listed.returncode == 0
    assert listed.stdout.splitlines() == ["no event\ttrack:event", "signup\ttrack:event"]
    shown = run("preset", "show", "signup")
    assert json.loads(shown.stdout)["parameters"]["event"] == "Signed Up"
    deleted = run("preset", "delete", "signup")
    assert deleted.returncode == 0
    missing = run("preset", "show", "signup")
    assert missing.returncode == 2
    assert missing.stderr.strip() == (f"segment-gui: preset 'signup' not found in {presets.folder}")


def test_cli_payload_prints_body(presets: PresetStore) -> None:
    result = run("payload", "signup")
    assert result.returncode == 0
    body = json.loads(result.stdout)
    assert body["event"] == "Signed Up"
    assert body["userId"] == "u1"
    assert body["properties"] == {"plan": "pro"}
    assert body["context"]["library"]["name"] == "segment-gui"


def test_cli_payload_unsendable(presets: PresetStore) -> None:
    result = run("payload", "no event")
    assert result.returncode == 2
    assert result.stdout == ""
    assert (
        "preset 'no event' cannot be sent: event: Event is required; enter a value" in result.stderr
    )


def test_cli_send_to_sandbox(presets: PresetStore, sandbox: tuple[str, Path]) -> None:
    url, log = sandbox
    result = run("send", "signup", "--endpoint", url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("HTTP 200 OK (")
    assert json.loads("\n".join(lines[1:])) == {"success": True}
    received = [json.loads(entry) for entry in log.read_text(encoding="utf-8").splitlines()]
    assert len(received) == 1
    assert received[0]["message"]["event"] == "Signed Up"
    assert received[0]["type"] == "track"


class _Failing(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b'{"error": "overloaded"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_cli_send_non_2xx(presets: PresetStore) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = run("send", "signup", "--endpoint", f"http://127.0.0.1:{server.server_port}/v1")
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith("HTTP 503 Service Unavailable")
    assert "overloaded" in result.stdout
    assert result.stderr.strip().startswith("segment-gui: track got 503 Service Unavailable")


def test_cli_send_refused(presets: PresetStore) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run("send", "signup", "--endpoint", f"http://127.0.0.1:{port}/v1")
    assert result.returncode == 1
    assert "refused" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_send_remote_needs_credential(presets: PresetStore) -> None:
    result = run("send", "signup", "--endpoint", "eu")
    assert result.returncode == 2
    assert "needs a write key; pass --credential NAME" in result.stderr


def test_cli_send_without_target(presets: PresetStore) -> None:
    result = run("send", "signup")
    assert result.returncode == 2
    assert "has no credential" in result.stderr


def test_cli_unknown_credential(presets: PresetStore) -> None:
    result = run("send", "signup", "--credential", "nope")
    assert result.returncode == 2
    assert "credential 'nope' not found" in result.stderr


def test_cli_no_keyring_clear_message(home: Path) -> None:
    env = os.environ.copy()
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    result = run("credential", "set", "prod", stdin="wk_secret_should_not_land\n", env=env)
    assert result.returncode == 2
    assert "no secure system keyring" in result.stderr.lower()
    assert "gnome-keyring" in result.stderr
    for path in home.rglob("*"):
        if path.is_file():
            assert b"wk_secret_should_not_land" not in path.read_bytes(), path
    assert run("credential", "list", env=env).stdout.startswith("No credentials saved")


def test_cli_credential_bad_endpoint(home: Path) -> None:
    result = run("credential", "set", "x", "--endpoint", "ftp://host", stdin="key\n")
    assert result.returncode == 2
    assert "endpoint 'ftp://host' is not valid" in result.stderr


def test_cli_payload_n8n_mode(presets: PresetStore) -> None:
    result = run("payload", "signup", "--mode", "n8n")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body == {
        "userId": "u1",
        "event": "Signed Up",
        "traits": {},
        "properties": {"plan": "pro"},
        "context": {"app": {}, "campaign": {}, "device": {}},
        "integrations": {},
    }
    assert "segment-gui: n8n mode: " in result.stderr


def test_cli_payload_reports_every_problem(home: Path) -> None:
    PresetStore(app_paths(home)).save(
        Preset(
            name="broken",
            parameters={
                "resource": "track",
                "operation": "event",
                "properties": {
                    "propertiesUi": [
                        {"key": "n", "value": "x", "valueType": "number"},
                        {"key": "d", "value": "1"},
                        {"key": "d", "value": "2"},
                    ]
                },
            },
        )
    )
    result = run("payload", "broken")
    assert result.returncode == 2
    assert "event: Event is required; enter a value" in result.stderr
    assert "properties.propertiesUi[0].value: 'x' is not a number" in result.stderr
    assert "warning: properties.propertiesUi[2].key: duplicate key 'd'" in result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["sandbox", "--port", "99999"], "port 99999 is outside 0-65535"),
        (["sandbox", "--port", "x"], "'x' is not a port number"),
        (["send", "signup", "--timeout", "0"], "timeout 0 must be more than 0"),
    ],
)
def test_cli_bad_arguments(presets: PresetStore, args: list[str], words: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_invalid_settings(home: Path) -> None:
    PresetStore(app_paths(home)).save(
        Preset(
            name="odd",
            parameters={"userId": "u"},
            settings={"retryOnFail": True, "maxTries": "lots"},
        )
    )
    result = run("send", "odd", "--endpoint", "http://127.0.0.1:9/v1")
    assert result.returncode == 2
    assert "Max. Tries is 'lots'; expected a number from 2 to 5" in result.stderr


def test_cli_wrong_typed_parameter(home: Path) -> None:
    PresetStore(app_paths(home)).save(
        Preset(name="odd", parameters={"resource": "nope", "properties": "oops"})
    )
    result = run("payload", "odd")
    assert result.returncode == 2
    assert "Resource is 'nope'; expected one of group, identify, track" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_closed_pipe_quiet(presets: PresetStore) -> None:
    command = f"{sys.executable} -m segment_gui payload signup | head -c 1"
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert result.stdout == "{"
    assert "Traceback" not in result.stderr


def test_cli_preset_name_mismatch(home: Path) -> None:
    folder = home / "presets"
    folder.mkdir()
    (folder / "a.json").write_text(
        json.dumps({"formatVersion": 1, "name": "b", "parameters": {}}), encoding="utf-8"
    )
    result = run("preset", "list")
    assert "preset file a.json is named 'b' inside; rename the file to b.json" in result.stderr


WORKFLOW_FILE = Path(__file__).parent / "data" / "n8n-workflow.json"


def test_cli_import_export_round_trip(home: Path) -> None:
    imported = run("preset", "import", str(WORKFLOW_FILE))
    assert imported.returncode == 0, imported.stderr
    assert "Production" in imported.stdout
    names = [line.split("\t")[0] for line in run("preset", "list").stdout.splitlines()]
    assert len(names) == 2
    before = {name: json.loads(run("preset", "show", name).stdout) for name in names}

    exported = run("preset", "export", *names, "--n8n")
    assert exported.returncode == 0, exported.stderr
    workflow = json.loads(exported.stdout)
    assert [node["type"] for node in workflow["nodes"]] == ["n8n-nodes-base.segment"] * 2

    for name in names:
        run("preset", "delete", name)
    again = run("preset", "import", "-", stdin=exported.stdout)
    assert again.returncode == 0, again.stderr
    after = {name: json.loads(run("preset", "show", name).stdout) for name in names}
    assert after == before


def test_cli_import_invalid_file(tmp_path: Path) -> None:
    broken = tmp_path / "w.json"
    broken.write_text('{"nodes": [', encoding="utf-8")
    result = run("preset", "import", str(broken))
    assert result.returncode == 2
    assert f"cannot import {broken}" in result.stderr
    assert "line 1" in result.stderr


def test_cli_export_extension_refused(home: Path) -> None:
    PresetStore(app_paths(home)).save(
        Preset(name="screen", parameters={"resource": "track", "operation": "screen"})
    )
    result = run("preset", "export", "screen", "--n8n")
    assert result.returncode == 2
    assert "Screen" in result.stderr


def test_cli_payload_evaluates_expressions(home: Path) -> None:
    PresetStore(app_paths(home)).save(
        Preset(
            name="expr",
            parameters={
                "resource": "track",
                "operation": "event",
                "event": "={{ 'E' + 1 }}",
                "userId": "={{ $json.id }}",
            },
            items=[{"id": "from-item"}],
        )
    )
    result = run("payload", "expr")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["event"] == "E1"
    assert body["userId"] == "from-item"
