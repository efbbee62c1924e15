"""Folders, presets and the config file on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from segment_gui.model import Preset, PresetError
from segment_gui.storage import (
    AppPaths,
    Config,
    CredentialRecord,
    PresetStore,
    app_paths,
    atomic_write_json,
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
