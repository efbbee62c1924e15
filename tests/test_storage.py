"""Folders, presets and the config file on disk."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from segment_gui.model import Preset, PresetError
from segment_gui.storage import (
    AppPaths,
    Config,
    ConfigError,
    CredentialRecord,
    LockTimeoutError,
    PresetStore,
    app_paths,
    atomic_write_json,
    file_lock,
    preset_file_name,
)


def test_home_variable_holds_everything(home: Path) -> None:
    paths = app_paths()
    for folder in (paths.config_dir, paths.data_dir, paths.log_dir):
        assert folder.is_relative_to(home)
    assert paths.presets_dir == home / "presets"


def test_home_argument_wins(tmp_path: Path, home: Path) -> None:
    other = tmp_path / "other"
    assert app_paths(other).config_dir == other.resolve()


def test_platform_folders_without_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SEGMENT_GUI_HOME")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    paths = app_paths()
    assert paths.config_dir == tmp_path / "config" / "segment-gui"
    assert paths.data_dir == tmp_path / "data" / "segment-gui"


@pytest.mark.parametrize(
    ("name", "file_name"),
    [
        ("Signed up", "Signed up.json"),
        ("a/b", "a%2Fb.json"),
        ("a%2Fb", "a%252Fb.json"),
        ("..", "%2E..json"),
        (".hidden", "%2Ehidden.json"),
        ("Café ☕", "Caf%C3%A9 %E2%98%95.json"),
    ],
)
def test_preset_file_names(name: str, file_name: str) -> None:
    assert preset_file_name(name) == file_name


def _store(home: Path) -> PresetStore:
    return PresetStore(app_paths(home))


def test_preset_roundtrip_keeps_name(home: Path) -> None:
    store = _store(home)
    preset = Preset(
        name="checkout/v2: EU",
        parameters={
            "resource": "track",
            "operation": "event",
            "event": "Order Completed",
            "properties": {"propertiesUi": [{"key": "total", "value": "9.99"}]},
        },
        credential="staging",
        settings={"retryOnFail": True, "maxTries": 4},
    )
    path = store.save(preset)
    assert path.parent == home / "presets"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["formatVersion"] == 1
    assert data["name"] == "checkout/v2: EU"
    assert data["maxTries"] == 4
    loaded = store.load("checkout/v2: EU")
    assert loaded == preset
    presets, errors = store.load_all()
    assert [p.name for p in presets] == ["checkout/v2: EU"]
    assert errors == []


def test_preset_broken_file_reported_and_kept(home: Path) -> None:
    store = _store(home)
    store.save(Preset(name="good", parameters={"resource": "identify"}))
    broken = home / "presets" / "broken.json"
    broken.write_text('{"formatVersion": 1, "name": ', encoding="utf-8")
    newer = home / "presets" / "newer.json"
    newer.write_text(
        json.dumps({"formatVersion": 9, "name": "newer", "parameters": {}}), encoding="utf-8"
    )
    presets, errors = store.load_all()
    assert [p.name for p in presets] == ["good"]
    assert len(errors) == 2
    assert any("broken" in e and "invalid JSON at line 1" in e for e in errors)
    assert any("format version 9" in e and "format version 1" in e for e in errors)
    assert broken.read_text(encoding="utf-8") == '{"formatVersion": 1, "name": '


def test_preset_rename_and_delete(home: Path) -> None:
    store = _store(home)
    store.save(Preset(name="one", parameters={}))
    store.save(Preset(name="two", parameters={}))
    with pytest.raises(PresetError, match="already exists"):
        store.rename("one", "two")
    store.rename("one", "uno")
    assert not store.exists("one")
    assert store.load("uno").name == "uno"
    store.delete("uno")
    with pytest.raises(PresetError, match="not found"):
        store.load("uno")


def test_preset_empty_name_rejected(home: Path) -> None:
    with pytest.raises(PresetError, match="must not be empty"):
        _store(home).save(Preset(name="  ", parameters={}))


def test_atomic_write_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "x" / "data.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": 2}
    assert sorted(p.name for p in target.parent.iterdir()) == ["data.json"]


def test_atomic_write_failure_keeps_old(tmp_path: Path) -> None:
    target = tmp_path / "files" / "data.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"a": object()})
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": 1}
    assert sorted(p.name for p in target.parent.iterdir()) == ["data.json"]


def test_config_credentials(home: Path) -> None:
    config = Config(AppPaths(home, home, home / "logs"))
    config.put_credential(CredentialRecord("prod", "us"))
    config.put_credential(CredentialRecord("local", "http://127.0.0.1:9/v1"))
    config.put_credential(CredentialRecord("prod", "eu"))
    assert config.credentials() == [
        CredentialRecord("local", "http://127.0.0.1:9/v1"),
        CredentialRecord("prod", "eu"),
    ]
    assert config.remove_credential("prod") is True
    assert config.remove_credential("prod") is False


def test_preset_lock_files_not_listed(home: Path) -> None:
    store = _store(home)
    store.save(Preset(name="one", parameters={}))
    store.rename("one", "two")
    assert (home / "presets" / "two.json.lock").exists()
    presets, errors = store.load_all()
    assert [p.name for p in presets] == ["two"]
    assert errors == []


# A process that holds file_lock on PATH until its standard input is closed.
HOLDER = """
import sys
from pathlib import Path
from segment_gui.storage import file_lock

with file_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()
"""


@contextmanager
def lock_held_by_other_process(path: Path) -> Iterator[None]:
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        assert process.stdin is not None
        try:
            assert process.stdout.readline() == "locked\n"
            yield
        finally:
            process.stdin.close()
            process.wait(timeout=30)
    assert process.returncode == 0


def test_file_lock_timeout_names_lock(tmp_path: Path) -> None:
    target = tmp_path / "data.json"
    with lock_held_by_other_process(target):
        started = time.monotonic()
        with pytest.raises(LockTimeoutError) as raised:
            with file_lock(target, timeout=0.3):
                pass
        assert time.monotonic() - started >= 0.3
        message = str(raised.value)
        assert "timed out after 0.3 s" in message
        assert str(tmp_path / "data.json.lock") in message
        assert "try again" in message
    with file_lock(target, timeout=0.3):
        pass


def test_shared_locks_coexist(tmp_path: Path) -> None:
    target = tmp_path / "data.json"
    with file_lock(target, shared=True):
        with file_lock(target, timeout=0.2, shared=True):
            pass
        with pytest.raises(LockTimeoutError):
            with file_lock(target, timeout=0.2):
                pass


def test_writes_wait_for_lock(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("segment_gui.storage.LOCK_TIMEOUT_SECONDS", 0.3)
    paths = app_paths(home)
    store = PresetStore(paths)
    config = Config(paths)

    with lock_held_by_other_process(store.path_for("busy")):
        with pytest.raises(LockTimeoutError):
            store.save(Preset(name="busy", parameters={}))
    assert not store.exists("busy")

    with lock_held_by_other_process(paths.config_file):
        with pytest.raises(LockTimeoutError):
            config.put_credential(CredentialRecord("prod", "us"))
        with pytest.raises(LockTimeoutError):
            config.set_preferences({"readTimeout": 10})
    assert not paths.config_file.exists()

    store.save(Preset(name="busy", parameters={}))
    with lock_held_by_other_process(store.path_for("busy")):
        with pytest.raises(LockTimeoutError):
            store.delete("busy")
        with pytest.raises(LockTimeoutError):
            store.rename("other", "busy")
    assert store.exists("busy")


# A process that adds COUNT credentials named after WORKER once the GO file exists.
CREDENTIAL_WRITER = """
import sys, time
from pathlib import Path
from segment_gui.storage import Config, CredentialRecord, app_paths

worker, count, go = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
config = Config(app_paths())
while not go.exists():
    time.sleep(0.005)
for number in range(count):
    config.put_credential(CredentialRecord(f"{worker}-{number}", "http://127.0.0.1:9/v1"))
"""


def test_concurrent_put_credential(home: Path, tmp_path: Path) -> None:
    workers, count = 4, 10
    go = tmp_path / "go"
    config = Config(app_paths(home))
    config.set_preferences({"readTimeout": 12})
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CREDENTIAL_WRITER, f"w{worker}", str(count), str(go)],
            stderr=subprocess.PIPE,
        )
        for worker in range(workers)
    ]
    time.sleep(0.5)
    go.touch()
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr.decode()

    names = sorted(record.name for record in config.credentials())
    expected = sorted(f"w{w}-{n}" for w in range(workers) for n in range(count))
    assert names == expected
    assert config.preferences()["readTimeout"] == 12.0


def test_preferences_defaults(home: Path) -> None:
    config = Config(app_paths(home))
    assert config.preferences() == {
        "connectTimeout": 5.0,
        "readTimeout": 30.0,
        "colorScheme": "system",
    }
    assert not config.path.exists()


def test_preferences_roundtrip_keeps_credentials(home: Path) -> None:
    config = Config(app_paths(home))
    config.put_credential(CredentialRecord("prod", "eu"))
    config.set_preferences({"connectTimeout": 2.5})
    config.set_preferences({"readTimeout": 60})
    config.set_preferences({"colorScheme": "dark"})

    expected = {"connectTimeout": 2.5, "readTimeout": 60.0, "colorScheme": "dark"}
    assert config.preferences() == expected
    assert config.credentials() == [CredentialRecord("prod", "eu")]
    config.put_credential(CredentialRecord("local", "sandbox"))
    config.remove_credential("prod")
    assert config.preferences() == expected
    data = json.loads(config.path.read_text(encoding="utf-8"))
    assert data["preferences"] == {"connectTimeout": 2.5, "readTimeout": 60, "colorScheme": "dark"}
    assert data["credentials"] == [{"name": "local", "endpoint": "sandbox"}]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("connectTimeout", 0, "more than 0"),
        ("readTimeout", -1, "more than 0"),
        ("readTimeout", 3601, "at most 3600"),
        ("readTimeout", "30", "expected a number"),
        ("readTimeout", True, "expected a number"),
        ("readTimeout", None, "expected a number"),
        ("timeout", 5, "unknown preference 'timeout'"),
        ("colorScheme", "blue", "expected one of system, light, dark"),
        ("colorScheme", None, "expected one of system, light, dark"),
    ],
)
def test_set_preferences_rejects_invalid(home: Path, key: str, value: Any, message: str) -> None:
    config = Config(app_paths(home))
    with pytest.raises(ValueError, match=message):
        config.set_preferences({key: value})
    assert not config.path.exists()


def test_invalid_stored_preferences_fall_back(home: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = Config(app_paths(home))
    atomic_write_json(
        config.path,
        {
            "formatVersion": 1,
            "credentials": [],
            "preferences": {
                "connectTimeout": "fast",
                "readTimeout": 45,
                "colorScheme": "purple",
                "other": 1,
            },
        },
    )
    with caplog.at_level(logging.WARNING, logger="segment_gui.storage"):
        assert config.preferences() == {
            "connectTimeout": 5.0,
            "readTimeout": 45.0,
            "colorScheme": "system",
        }
    assert "connectTimeout is 'fast'" in caplog.text
    assert "colorScheme is 'purple'" in caplog.text

    atomic_write_json(config.path, {"credentials": [], "preferences": [1]})
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="segment_gui.storage"):
        assert config.preferences()["readTimeout"] == 30.0
    assert "expected a JSON object" in caplog.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"credentials": [', "is not valid JSON (line 1, column"),
        (b"\xff\xfe{}", "is not UTF-8 text"),
        (b'{"credentials": {}}', 'with a "credentials" list'),
        (b"[]", 'with a "credentials" list'),
    ],
)
def test_broken_config_left_unchanged(home: Path, content: bytes, message: str) -> None:
    config = Config(app_paths(home))
    config.path.parent.mkdir(parents=True, exist_ok=True)
    config.path.write_bytes(content)
    calls = [
        config.read,
        config.credentials,
        config.preferences,
        lambda: config.put_credential(CredentialRecord("prod", "us")),
        lambda: config.remove_credential("prod"),
        lambda: config.set_preferences({"readTimeout": 10}),
    ]
    for call in calls:
        with pytest.raises(ConfigError) as raised:
            call()
        assert str(config.path) in str(raised.value)
        assert message in str(raised.value)
        assert "left unchanged" in str(raised.value)
        assert "move it away" in str(raised.value)
    assert config.path.read_bytes() == content
    assert sorted(p.name for p in config.path.parent.iterdir() if p.is_file()) == [
        "config.json",
        "config.json.lock",
    ]


def test_put_credential_keeps_foreign_items(home: Path) -> None:
    config = Config(app_paths(home))
    atomic_write_json(
        config.path,
        {"formatVersion": 1, "credentials": ["stray", {"name": "b", "endpoint": "us"}], "x": 1},
    )
    config.put_credential(CredentialRecord("a", "eu"))
    data = json.loads(config.path.read_text(encoding="utf-8"))
    assert data["x"] == 1
    assert "stray" in data["credentials"]
    assert config.credentials() == [CredentialRecord("a", "eu"), CredentialRecord("b", "us")]
