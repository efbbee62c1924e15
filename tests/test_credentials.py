"""Credentials on the real OS keyring (Secret Service from gnome-keyring in tests/run.sh)."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import keyring_available
from PySide6.QtCore import Qt

from segment_gui.credentials import KEYRING_SERVICE, CredentialError, CredentialStore
from segment_gui.storage import app_paths

pytestmark = pytest.mark.skipif(
    not keyring_available() and not os.environ.get("CI"),
    reason="needs a Secret Service keyring; tests/run.sh starts one",
)


@pytest.fixture
def credential_name() -> Iterator[str]:
    import keyring

    name = f"test-{uuid.uuid4().hex[:8]}"
    yield name
    try:
        keyring.delete_password(KEYRING_SERVICE, name)
    except keyring.errors.PasswordDeleteError:
        pass


@pytest.fixture
def write_key() -> str:
    return f"wk_{uuid.uuid4().hex}"


def test_keyring_is_secret_service() -> None:
    import keyring

    backend = keyring.get_keyring()
    assert "SecretService" in f"{type(backend).__module__}.{type(backend).__name__}"


def test_credential_roundtrip(home: Path, credential_name: str, write_key: str) -> None:
    import keyring

    store = CredentialStore(app_paths(home))
    store.set(credential_name, "eu", write_key)
    assert [(r.name, r.endpoint) for r in store.list()] == [(credential_name, "eu")]
    assert store.key(credential_name) == write_key
    assert keyring.get_password(KEYRING_SERVICE, credential_name) == write_key
    assert write_key not in (home / "config.json").read_text(encoding="utf-8")

    store.set(credential_name, "us", None)
    assert store.key(credential_name) == write_key
    assert store.get(credential_name).endpoint == "us"

    store.delete(credential_name)
    assert store.list() == []
    assert keyring.get_password(KEYRING_SERVICE, credential_name) is None
    with pytest.raises(CredentialError, match="not found"):
        store.key(credential_name)


def test_credential_missing_keyring_entry(home: Path, credential_name: str, write_key: str) -> None:
    import keyring

    store = CredentialStore(app_paths(home))
    store.set(credential_name, "us", write_key)
    keyring.delete_password(KEYRING_SERVICE, credential_name)
    with pytest.raises(CredentialError, match="has no write key"):
        store.key(credential_name)


def test_cli_credential_commands(home: Path, credential_name: str, write_key: str) -> None:
    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "segment_gui", "credential", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    saved = run("set", credential_name, "--endpoint", "sandbox", stdin=write_key + "\n")
    assert saved.returncode == 0, saved.stderr
    assert write_key not in saved.stdout
    listed = run("list")
    assert listed.stdout.splitlines() == [f"{credential_name}\tsandbox"]
    assert write_key not in listed.stdout
    assert CredentialStore(app_paths(home)).key(credential_name) == write_key
    assert run("delete", credential_name).returncode == 0
    assert run("list").stdout.startswith("No credentials saved")


def test_cli_send_with_credential(
    home: Path, tmp_path: Path, credential_name: str, write_key: str
) -> None:
    from segment_gui.model import Preset
    from segment_gui.sandbox import SandboxCollector
    from segment_gui.storage import PresetStore

    PresetStore(app_paths(home)).save(
        Preset(
            name="hello",
            parameters={"resource": "identify", "userId": "u9"},
            credential=credential_name,
        )
    )
    log = tmp_path / "received.jsonl"
    with SandboxCollector(log_path=log) as sandbox:
        CredentialStore(app_paths(home)).set(credential_name, sandbox.base_url, write_key)
        result = subprocess.run(
            [sys.executable, "-m", "segment_gui", "send", "hello"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert sandbox.messages()[0].message["userId"] == "u9"
    assert json.loads(log.read_text(encoding="utf-8").splitlines()[0])["writeKey"] == write_key
    assert write_key not in result.stdout + result.stderr


def test_window_session_leaves_no_key_on_disk(
    qtbot: Any, home: Path, credential_name: str, write_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole session leaves the key in no file under home, no log record and no export.

    The session adds a credential, sends twice (one success, one refused connection), saves a
    preset, records history, copies as n8n node and as curl, and exports from the CLI.
    """
    import socket

    from PySide6.QtGui import QGuiApplication

    from segment_gui import create_window
    from segment_gui.cli import configure_logging

    caplog.set_level(logging.DEBUG)
    configure_logging(app_paths(home).log_file)
    outputs: list[str] = []
    window = create_window(home)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: not window.runner.busy(), timeout=5000)

    dialog = window.open_credentials_dialog()
    dialog.name_edit.setText(credential_name)
    dialog.endpoint.set_endpoint("sandbox")
    dialog.key_edit.setText(write_key)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.credential_combo.findData(credential_name) > 0, timeout=10000)
    assert "system keyring" in dialog.message.text()
    dialog.close()

    window.credential_combo.setCurrentIndex(window.credential_combo.findData(credential_name))
    assert window.endpoint.endpoint() == "sandbox"
    window.form.set_value("userId", "scan-user")
    window.send()
    qtbot.waitUntil(lambda: window.last_response is not None, timeout=10000)
    assert window.last_response.status == 200
    assert window.sandbox.messages()[0].write_key_masked.startswith(write_key[:4])

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    window.endpoint.set_endpoint(f"http://127.0.0.1:{closed_port}/v1")
    window.send()
    qtbot.waitUntil(lambda: len(window.history_panel.entries) == 2, timeout=10000)
    assert "refused" in (window.history_panel.entries[0].error or "")

    window.presets_panel.save_named("scan")
    qtbot.waitUntil(lambda: window.presets_panel.names() == ["scan"], timeout=5000)
    outputs.append(window.copy_as_n8n())
    outputs.append(window.copy_as_curl(False))
    outputs.append(QGuiApplication.clipboard().text())
    outputs.append(window.response_view.request_view.toPlainText())
    window.shutdown()
    exported = subprocess.run(
        [sys.executable, "-m", "segment_gui", "preset", "export", "scan", "--n8n"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert exported.returncode == 0, exported.stderr
    outputs += [exported.stdout, exported.stderr]
    for handler in logging.getLogger().handlers:
        handler.flush()

    token = base64.b64encode(f"{write_key}:".encode()).decode()
    files = [path for path in home.rglob("*") if path.is_file()]
    assert any(path.suffix == ".log" for path in files)
    assert any(path.parent.name == "presets" for path in files)
    assert any(path.name == "history.jsonl" for path in files)
    for path in files:
        data = path.read_bytes()
        assert write_key.encode() not in data, path
        assert token.encode() not in data, path
    for text in [*outputs, caplog.text]:
        assert write_key not in text
        assert token not in text


LOCKED_SCRIPT = """
import secretstorage, sys
from segment_gui.credentials import CredentialError, CredentialStore
from segment_gui.storage import app_paths

store = CredentialStore(app_paths())
store.set("locked", "us", "wk_locked_case")
collection = secretstorage.get_default_collection(secretstorage.dbus_init())
collection.lock()
try:
    store.key("locked")
except CredentialError as error:
    print(error)
    sys.exit(0)
sys.exit("reading a key from a locked keyring did not fail")
"""


def test_locked_keyring_clear_message(tmp_path: Path) -> None:
    """A locked collection whose unlock prompt cannot be shown (or is dismissed) is reported.

    It runs in a private D-Bus session with its own gnome-keyring, because the lock would
    otherwise stay on for the other tests.
    """
    import shutil

    if shutil.which("gnome-keyring-daemon") is None or shutil.which("dbus-run-session") is None:
        pytest.skip("needs gnome-keyring-daemon and dbus-run-session; tests/run.sh installs them")
    script = tmp_path / "locked.py"
    script.write_text(LOCKED_SCRIPT, encoding="utf-8")
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "keyrings")}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    command = (
        'eval "$(printf pw | gnome-keyring-daemon --unlock --components=secrets)"; '
        f'"{sys.executable}" "{script}"'
    )
    result = subprocess.run(
        ["dbus-run-session", "--", "bash", "-c", command],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == (
        "Cannot read the write key of 'locked': the keyring is locked. Unlock it and try again."
    )


def test_window_deleted_key_keeps_form(
    qtbot: Any, home: Path, credential_name: str, write_key: str
) -> None:
    import keyring

    from segment_gui import create_window

    store = CredentialStore(app_paths(home))
    store.set(credential_name, "sandbox", write_key)
    keyring.delete_password(KEYRING_SERVICE, credential_name)
    window = create_window(home)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.credential_combo.findData(credential_name) > 0, timeout=5000)
    window.credential_combo.setCurrentIndex(window.credential_combo.findData(credential_name))
    window.form.set_value("userId", "kept-user")
    window.send()
    qtbot.waitUntil(lambda: not window.is_sending(), timeout=10000)
    assert "has no write key" in window.response_view.status_label.text()
    assert window.form.values()["userId"] == "kept-user"
    qtbot.waitUntil(lambda: len(window.history_panel.entries) == 1, timeout=5000)
    assert "has no write key" in (window.history_panel.entries[0].error or "")
    window.shutdown()
