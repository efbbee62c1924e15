"""Folders, atomic JSON files, presets and the config file.

Every file the app writes goes under `SEGMENT_GUI_HOME` when it is set (or the `home` argument),
otherwise under the platform's user folders from platformdirs.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from segment_gui.model import Preset, PresetError

logger = logging.getLogger(__name__)

APP_NAME = "segment-gui"
HOME_VARIABLE = "SEGMENT_GUI_HOME"
CONFIG_FORMAT_VERSION = 1
_SAFE_NAME_CHARACTERS = " -_.()"
_MAX_FILE_STEM = 120


@dataclass(frozen=True)
class AppPaths:
    config_dir: Path
    data_dir: Path
    log_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.json"

    @property
    def presets_dir(self) -> Path:
        return self.data_dir / "presets"

    @property
    def history_file(self) -> Path:
        return self.data_dir / "history.jsonl"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "segment-gui.log"


def app_paths(home: Path | None = None) -> AppPaths:
    """Return the app's folders: `home`, else `$SEGMENT_GUI_HOME`, else platformdirs."""
    if home is None and os.environ.get(HOME_VARIABLE):
        home = Path(os.environ[HOME_VARIABLE])
    if home is not None:
        home = home.expanduser().resolve()
        return AppPaths(config_dir=home, data_dir=home, log_dir=home / "logs")
    import platformdirs

    return AppPaths(
        config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        data_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        log_dir=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
    )


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON so that a crash leaves either the old file or the new one, never a mix.

    The data goes to a temporary file in the same folder, is flushed and fsynced, then renamed
    over the target; the folder is fsynced so the rename itself survives a power loss.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def preset_file_name(name: str) -> str:
    """Map a preset name to a file name; unsafe characters are percent-encoded.

    The mapping is one-to-one because `%` itself is encoded, and the file keeps the real name.
    """
    stem = quote(name, safe=_SAFE_NAME_CHARACTERS)
    if stem.startswith("."):
        stem = "%2E" + stem[1:]
    return f"{stem}.json"


class PresetStore:
    """One JSON file per preset under `presets/`."""

    def __init__(self, paths: AppPaths) -> None:
        self.folder = paths.presets_dir

    def path_for(self, name: str) -> Path:
        return self.folder / preset_file_name(name)

    def load_all(self) -> tuple[list[Preset], list[str]]:
        """Load every preset; a file that cannot be read is reported and left untouched."""
        presets: list[Preset] = []
        errors: list[str] = []
        if not self.folder.is_dir():
            return presets, errors
        for path in sorted(self.folder.glob("*.json")):
            try:
                preset = self._read(path, repr(unquote(path.stem)))
                if preset_file_name(preset.name) != path.name:
                    raise PresetError(
                        f"preset file {path.name} is named {preset.name!r} inside; rename the "
                        f"file to {preset_file_name(preset.name)} or set its name to "
                        f"{unquote(path.stem)!r}"
                    )
                presets.append(preset)
            except PresetError as error:
                logger.warning("Skipped preset file %s: %s", path, error)
                errors.append(f"{error} (file {path}, left unchanged)")
        presets.sort(key=lambda preset: preset.name.casefold())
        return presets, errors

    def load(self, name: str) -> Preset:
        path = self.path_for(name)
        if not path.exists():
            raise PresetError(f"preset {name!r} not found in {self.folder}")
        return self._read(path, repr(name))

    def _read(self, path: Path, label: str) -> Preset:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as error:
            raise PresetError(f"preset {label}: not UTF-8 text ({error.reason})") from error
        except json.JSONDecodeError as error:
            raise PresetError(
                f"preset {label}: invalid JSON at line {error.lineno}, column {error.colno}: "
                f"{error.msg}"
            ) from error
        except OSError as error:
            raise PresetError(f"preset {label}: cannot read {path}: {error.strerror}") from error
        return Preset.from_json(data, label)

    def exists(self, name: str) -> bool:
        return self.path_for(name).exists()

    def save(self, preset: Preset) -> Path:
        check_preset_name(preset.name)
        path = self.path_for(preset.name)
        atomic_write_json(path, preset.to_json())
        logger.info("Saved preset %r to %s", preset.name, path)
        return path

    def delete(self, name: str) -> None:
        path = self.path_for(name)
        if not path.exists():
            raise PresetError(f"preset {name!r} not found in {self.folder}")
        path.unlink()
        logger.info("Deleted preset %r", name)

    def rename(self, old: str, new: str) -> Preset:
        check_preset_name(new)
        if old == new:
            return self.load(old)
        if self.exists(new):
            raise PresetError(f"a preset named {new!r} already exists; choose another name")
        preset = self.load(old)
        preset.name = new
        self.save(preset)
        self.path_for(old).unlink()
        return preset


def check_preset_name(name: str) -> None:
    if not name.strip():
        raise PresetError("a preset name must not be empty; type a name")
    if len(preset_file_name(name)) > _MAX_FILE_STEM + len(".json"):
        raise PresetError(
            f"preset name {name[:40]!r}… is too long: its file name may have at most "
            f"{_MAX_FILE_STEM} characters after encoding; use a shorter name"
        )


@dataclass
class CredentialRecord:
    """A credential's name and endpoint; its write key lives only in the OS keyring."""

    name: str
    endpoint: str


class Config:
    """The config file: credential names and endpoints, never keys."""

    def __init__(self, paths: AppPaths) -> None:
        self.path = paths.config_file

    def read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"formatVersion": CONFIG_FORMAT_VERSION, "credentials": []}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(
                f"config file {self.path} is not valid JSON ({error}); fix or move it away"
            ) from error
        if not isinstance(data, dict) or not isinstance(data.get("credentials", []), list):
            raise ValueError(f"config file {self.path} has an unexpected shape; fix or move it")
        data.setdefault("credentials", [])
        return data

    def credentials(self) -> list[CredentialRecord]:
        records = []
        for item in self.read()["credentials"]:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                records.append(CredentialRecord(item["name"], str(item.get("endpoint", "us"))))
        return records

    def put_credential(self, record: CredentialRecord) -> None:
        data = self.read()
        items = [item for item in data["credentials"] if item.get("name") != record.name]
        items.append({"name": record.name, "endpoint": record.endpoint})
        items.sort(key=lambda item: str(item["name"]).casefold())
        data["credentials"] = items
        data["formatVersion"] = CONFIG_FORMAT_VERSION
        atomic_write_json(self.path, data)

    def remove_credential(self, name: str) -> bool:
        data = self.read()
        items = [item for item in data["credentials"] if item.get("name") != name]
        if len(items) == len(data["credentials"]):
            return False
        data["credentials"] = items
        atomic_write_json(self.path, data)
        return True
