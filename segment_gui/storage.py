"""Folders, atomic JSON files, file locks, presets and the config file.

Every file the app writes goes under `SEGMENT_GUI_HOME` when it is set (or the `home` argument),
otherwise under the platform's user folders from platformdirs.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from segment_gui.model import Preset, PresetError

try:
    import fcntl
except ImportError:  # Windows has no fcntl, so file_lock does not lock there.
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

APP_NAME = "segment-gui"
HOME_VARIABLE = "SEGMENT_GUI_HOME"
CONFIG_FORMAT_VERSION = 1
_SAFE_NAME_CHARACTERS = " -_.()"
_MAX_FILE_STEM = 120
# Seconds file_lock waits for another process to release a lock before it raises.
LOCK_TIMEOUT_SECONDS = 5.0
_LOCK_POLL_SECONDS = 0.02
# errno values of file systems that do not support flock (some NFS and FUSE mounts).
_LOCKING_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS}
# Preferences the window reads, with their defaults. Timeouts are in seconds; colorScheme is
# one of COLOR_SCHEMES, where "system" follows the desktop's light or dark setting.
PREFERENCE_DEFAULTS: dict[str, float | str] = {
    "connectTimeout": 5.0,
    "readTimeout": 30.0,
    "colorScheme": "system",
}
COLOR_SCHEMES = ("system", "light", "dark")
_MAX_TIMEOUT_SECONDS = 3600.0


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


class LockTimeoutError(TimeoutError):
    """Another process held a file's lock for longer than the lock timeout."""


@contextmanager
def file_lock(path: Path, timeout: float | None = None, shared: bool = False) -> Iterator[None]:
    """Hold an advisory lock on `path` for the duration of the `with` block.

    The lock is `fcntl.flock` on `<path>.lock` in the same folder, which is created if missing
    and never deleted, because deleting it could let two processes lock different files.
    `shared` takes a read lock that only excludes writers. Separate calls conflict even within
    one process, so a thread must not take a lock it already holds. `timeout` defaults to
    `LOCK_TIMEOUT_SECONDS`, after which LockTimeoutError is raised. The kernel releases the
    lock when its process dies, so a crash leaves no stale lock behind.

    NOTE: without fcntl (Windows), or on a file system that does not support flock, this does
    not lock at all, and processes writing the same file at once can lose updates.
    """
    if timeout is None:
        timeout = LOCK_TIMEOUT_SECONDS
    if fcntl is None:
        yield
        return
    lock_path = path.with_name(path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        locked = _acquire(descriptor, lock_path, path, timeout, shared)
        try:
            yield
        finally:
            if locked:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def _acquire(descriptor: int, lock_path: Path, path: Path, timeout: float, shared: bool) -> bool:
    """Take the flock on `descriptor`. Return False when the file system does not support flock."""
    mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(descriptor, mode)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockTimeoutError(
                    f"timed out after {timeout:g} s waiting for the lock {lock_path}: another "
                    f"segment-gui window or command is writing {path}. Wait for it to finish "
                    "and try again."
                ) from None
            time.sleep(_LOCK_POLL_SECONDS)
        except OSError as error:
            if error.errno not in _LOCKING_UNSUPPORTED:
                raise
            logger.warning(
                "Cannot lock %s (%s); writing %s without a lock", lock_path, error.strerror, path
            )
            return False


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON so that a crash leaves either the old file or the new one, never a mix.

    The data goes to a temporary file in the same folder, is flushed and fsynced, then renamed
    over the target. The folder is fsynced too, so the rename itself survives a power loss.
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


def _modified_time(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


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
                preset.modified = _modified_time(path)
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
        except (ValueError, RecursionError) as error:
            # json.loads raises these for integers over 4300 digits and for very deep nesting.
            raise PresetError(f"preset {label}: cannot be read as JSON: {error}") from error
        except OSError as error:
            raise PresetError(f"preset {label}: cannot read {path}: {error.strerror}") from error
        return Preset.from_json(data, label)

    def exists(self, name: str) -> bool:
        return self.path_for(name).exists()

    def save(self, preset: Preset) -> Path:
        """Write the preset's file while holding its lock, which may raise LockTimeoutError."""
        check_preset_name(preset.name)
        path = self.path_for(preset.name)
        with file_lock(path):
            atomic_write_json(path, preset.to_json())
        logger.info("Saved preset %r to %s", preset.name, path)
        return path

    def delete(self, name: str) -> None:
        path = self.path_for(name)
        if not path.exists():
            raise PresetError(f"preset {name!r} not found in {self.folder}")
        with file_lock(path):
            if not path.exists():
                raise PresetError(f"preset {name!r} not found in {self.folder}")
            path.unlink()
        logger.info("Deleted preset %r", name)

    def rename(self, old: str, new: str) -> Preset:
        """Move preset `old` to the name `new`, holding the locks of both files."""
        check_preset_name(new)
        if old == new:
            return self.load(old)
        old_path, new_path = self.path_for(old), self.path_for(new)
        with ExitStack() as stack:
            # Both processes of a crossed rename take the locks in the same order.
            for path in sorted((old_path, new_path)):
                stack.enter_context(file_lock(path))
            if new_path.exists():
                raise PresetError(f"a preset named {new!r} already exists; choose another name")
            preset = self.load(old)
            preset.name = new
            atomic_write_json(new_path, preset.to_json())
            old_path.unlink()
        logger.info("Renamed preset %r to %r", old, new)
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


class ConfigError(ValueError):
    """A config file that cannot be used. It is left unchanged, and the message names the fix."""


class Config:
    """The config file: credential names and endpoints, and preferences, never keys.

    Every read-modify-write takes the file's lock, so two processes changing it at once lose
    neither change. A file that is not valid JSON raises ConfigError and is never overwritten.
    """

    def __init__(self, paths: AppPaths) -> None:
        self.path = paths.config_file

    def read(self) -> dict[str, Any]:
        """Return the config file's content, or an empty config when the file does not exist."""
        if not self.path.exists():
            return {"formatVersion": CONFIG_FORMAT_VERSION, "credentials": []}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ConfigError(
                f"config file {self.path} is not valid JSON (line {error.lineno}, column "
                f"{error.colno}: {error.msg}). It was left unchanged. Fix the file, or move it "
                "away so that segment-gui starts a new one."
            ) from error
        except UnicodeDecodeError as error:
            raise ConfigError(
                f"config file {self.path} is not UTF-8 text ({error.reason}). It was left "
                "unchanged. Fix the file, or move it away so that segment-gui starts a new one."
            ) from error
        if not isinstance(data, dict) or not isinstance(data.get("credentials", []), list):
            raise ConfigError(
                f'config file {self.path} is not a JSON object with a "credentials" list. It '
                "was left unchanged. Fix the file, or move it away so that segment-gui starts a "
                "new one."
            )
        data.setdefault("credentials", [])
        return data

    def credentials(self) -> list[CredentialRecord]:
        records = []
        for item in self.read()["credentials"]:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                records.append(CredentialRecord(item["name"], str(item.get("endpoint", "us"))))
        return records

    def put_credential(self, record: CredentialRecord) -> None:
        """Add or replace the credential named `record.name`, keeping all other content."""
        with file_lock(self.path):
            data = self.read()
            items = [item for item in data["credentials"] if _item_name(item) != record.name]
            items.append({"name": record.name, "endpoint": record.endpoint})
            items.sort(key=lambda item: str(_item_name(item)).casefold())
            data["credentials"] = items
            data["formatVersion"] = CONFIG_FORMAT_VERSION
            atomic_write_json(self.path, data)

    def remove_credential(self, name: str) -> bool:
        """Remove the credential named `name`. Return False when there was none."""
        with file_lock(self.path):
            data = self.read()
            items = [item for item in data["credentials"] if _item_name(item) != name]
            if len(items) == len(data["credentials"]):
                return False
            data["credentials"] = items
            atomic_write_json(self.path, data)
        return True

    def preferences(self) -> dict[str, Any]:
        """Return every preference in PREFERENCE_DEFAULTS, stored or default.

        A stored value that is invalid (a timeout that is not a number of seconds in (0, 3600],
        a color scheme not in COLOR_SCHEMES) is logged as a warning and replaced by its
        default. Stored keys that are not in PREFERENCE_DEFAULTS are ignored.
        """
        stored = self.read().get("preferences", {})
        if not isinstance(stored, dict):
            logger.warning(
                'Ignored "preferences" in %s: expected a JSON object, found %r; using defaults',
                self.path,
                stored,
            )
            stored = {}
        values: dict[str, Any] = dict(PREFERENCE_DEFAULTS)
        for key in PREFERENCE_DEFAULTS:
            if key not in stored:
                continue
            problem = _preference_problem(key, stored[key])
            if problem:
                logger.warning(
                    "Ignored preference in %s: %s; using the default %r",
                    self.path,
                    problem,
                    PREFERENCE_DEFAULTS[key],
                )
            elif key == "colorScheme":
                values[key] = stored[key]
            else:
                values[key] = float(stored[key])
        return values

    def set_preferences(self, values: dict[str, Any]) -> None:
        """Merge `values` into the stored preferences, keeping other preferences and content.

        Raises ValueError, before anything is written, for a key not in PREFERENCE_DEFAULTS or
        an invalid value (see `preferences()`).
        """
        for key, value in values.items():
            problem = _preference_problem(key, value)
            if problem:
                raise ValueError(problem)
        with file_lock(self.path):
            data = self.read()
            stored = data.get("preferences")
            if not isinstance(stored, dict):
                stored = {}
            data["preferences"] = {**stored, **values}
            data["formatVersion"] = CONFIG_FORMAT_VERSION
            atomic_write_json(self.path, data)


def _item_name(item: Any) -> Any:
    """Return a credential entry's name, or None for an entry that is not a JSON object."""
    return item.get("name") if isinstance(item, dict) else None


def _preference_problem(key: str, value: Any) -> str:
    """Describe why `value` is invalid for preference `key`, or return "" when it is valid."""
    if key not in PREFERENCE_DEFAULTS:
        known = ", ".join(PREFERENCE_DEFAULTS)
        return f"unknown preference {key!r}; known preferences: {known}"
    if key == "colorScheme":
        if value not in COLOR_SCHEMES:
            return f"colorScheme is {value!r}; expected one of {', '.join(COLOR_SCHEMES)}"
        return ""
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_number or not 0 < value <= _MAX_TIMEOUT_SECONDS:
        return (
            f"{key} is {value!r}; expected a number of seconds more than 0 and at most "
            f"{_MAX_TIMEOUT_SECONDS:g}"
        )
    return ""
