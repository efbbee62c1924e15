"""The send history: one JSON Lines record per send, with a checksum, rotated by size.

Each line of `history.jsonl` is `{"v": 1, "entry": {...}, "sha256": "..."}`, where `sha256` is
the hex digest of the entry's canonical JSON (sorted keys, no spaces, UTF-8). A line is written
with a single `os.write` on a file opened with O_APPEND and then fsynced, while holding
`file_lock` on the history file, so that processes appending at once never interleave lines.
When an append would make the file larger than `max_bytes`, the files are rotated first:
history.jsonl becomes history.1.jsonl, history.1.jsonl becomes history.2.jsonl, and so on, and
the oldest backup is dropped.

An entry contains the request body but no request headers, so the write key is not stored.
As a second check, `append` rejects an entry that contains a secret registered with
`segment_gui.logs.register_secret`.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from segment_gui.logs import contains_secret
from segment_gui.storage import AppPaths, file_lock

logger = logging.getLogger(__name__)

RECORD_VERSION = 1
# Maximum characters of a response body that an entry keeps. A longer body is cut and ends
# with RESPONSE_CUT_MARKER.
RESPONSE_BODY_LIMIT = 64 * 1024
RESPONSE_CUT_MARKER = (
    f"\n[cut: the response was longer than {RESPONSE_BODY_LIMIT} characters; "
    "only the first part is kept]"
)


@dataclass
class HistoryEntry:
    """One send: what was sent, where, and what came back."""

    id: str
    time: str
    endpoint: str
    credential: str | None
    path: str
    request_body: dict[str, Any]
    status: int | None
    reason: str
    response_body: str
    error: str | None
    attempts: list[dict[str, Any]]
    elapsed_ms: float
    parameters: dict[str, Any]
    settings: dict[str, Any]
    body_mode: str
    preset: str | None
    # The endpoint as chosen in the window ("sandbox", "us", a URL); "" in older entries.
    # A re-send to "sandbox" goes to the sandbox running now, whose port may have changed.
    endpoint_setting: str = ""

    @classmethod
    def create(cls, **fields: Any) -> HistoryEntry:
        """Create an entry with a new uuid4 `id` and the current UTC `time`.

        Pass every other field by keyword.
        """
        return cls(id=str(uuid.uuid4()), time=utc_timestamp(), **fields)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time,
            "endpoint": self.endpoint,
            "credential": self.credential,
            "path": self.path,
            "requestBody": self.request_body,
            "status": self.status,
            "reason": self.reason,
            "responseBody": cut_response_body(self.response_body),
            "error": self.error,
            "attempts": self.attempts,
            "elapsedMs": self.elapsed_ms,
            "parameters": self.parameters,
            "settings": self.settings,
            "bodyMode": self.body_mode,
            "preset": self.preset,
            "endpointSetting": self.endpoint_setting,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HistoryEntry:
        """Build an entry from `to_json` output.

        Raises ValueError naming a missing field or a field of the wrong type.
        """
        _check_types(data)
        return cls(
            id=data["id"],
            time=data["time"],
            endpoint=data["endpoint"],
            credential=data["credential"],
            path=data["path"],
            request_body=data["requestBody"],
            status=data["status"],
            reason=data["reason"],
            response_body=data["responseBody"],
            error=data["error"],
            attempts=data["attempts"],
            elapsed_ms=float(data["elapsedMs"]),
            parameters=data["parameters"],
            settings=data["settings"],
            body_mode=data["bodyMode"],
            preset=data["preset"],
            endpoint_setting=str(data.get("endpointSetting", "")),
        )


_NUMBER = (int, float)
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "time": (str,),
    "endpoint": (str,),
    "credential": (str, type(None)),
    "path": (str,),
    "requestBody": (dict,),
    "status": (int, type(None)),
    "reason": (str,),
    "responseBody": (str,),
    "error": (str, type(None)),
    "attempts": (list,),
    "elapsedMs": _NUMBER,
    "parameters": (dict,),
    "settings": (dict,),
    "bodyMode": (str,),
    "preset": (str, type(None)),
}


def _check_types(data: dict[str, Any]) -> None:
    for name, types in _FIELD_TYPES.items():
        if name not in data:
            raise ValueError(f"the entry has no {name!r} field")
        value = data[name]
        if isinstance(value, bool) or not isinstance(value, types):
            raise ValueError(
                f"the entry's {name!r} field has the invalid type {type(value).__name__}"
            )


def utc_timestamp() -> str:
    """Return the current UTC time in ISO 8601 with seconds, such as 2024-05-01T09:30:00Z."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def cut_response_body(text: str) -> str:
    """Return `text`, or its first RESPONSE_BODY_LIMIT characters and RESPONSE_CUT_MARKER.

    Cutting text that this function already cut returns it unchanged.
    """
    if len(text) <= RESPONSE_BODY_LIMIT or text.endswith(RESPONSE_CUT_MARKER):
        return text
    return text[:RESPONSE_BODY_LIMIT] + RESPONSE_CUT_MARKER


def _canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(
        entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _strings(value: Any) -> Iterator[str]:
    """Yield every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


class History:
    """The history file and its rotated backups in the data folder."""

    def __init__(self, paths: AppPaths, max_bytes: int = 5_000_000, backups: int = 3) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes is {max_bytes}; expected a positive number of bytes")
        if backups < 0:
            raise ValueError(f"backups is {backups}; expected 0 or more")
        self.path = paths.history_file
        self.max_bytes = max_bytes
        self.backups = backups

    def backup_path(self, number: int) -> Path:
        """Return the path of backup `number`, where 1 is the newest: history.1.jsonl."""
        return self.path.with_name(f"{self.path.stem}.{number}{self.path.suffix}")

    def files(self) -> list[Path]:
        """Return the current file and every backup slot, newest first, existing or not."""
        return [self.path] + [self.backup_path(n) for n in range(1, self.backups + 1)]

    def append(self, entry: HistoryEntry) -> None:
        """Write `entry` as one line at the end of the history file, rotating first if needed.

        The response body is cut with `cut_response_body`. Raises ValueError, writing nothing,
        when the entry contains a registered secret or a value that JSON cannot hold (NaN, or
        an object that is not a dict, list, str, number, bool or None). Raises
        LockTimeoutError when another process holds the history lock for too long. A single
        entry larger than `max_bytes` is still written, to a file of its own.
        """
        data = entry.to_json()
        line = _encode_line(data)
        if contains_secret(line.decode("utf-8")) or any(map(contains_secret, _strings(data))):
            raise ValueError(
                f"history entry {entry.id} contains a registered secret (a write key or its "
                "Basic token); it was not written"
            )

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self.path):
            size = self.path.stat().st_size if self.path.exists() else 0
            if size > 0 and size + len(line) > self.max_bytes:
                self._rotate()
            descriptor = os.open(
                self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600
            )
            try:
                if _last_byte(descriptor) not in (b"", b"\n"):
                    # The previous writer died mid-line; start this record on a line of its own.
                    logger.warning("Repaired an incomplete last line in %s", self.path)
                    line = b"\n" + line
                _write_all(descriptor, line)
                os.fsync(descriptor)
            finally:
                os.close(descriptor)

    def _rotate(self) -> None:
        """Shift history.jsonl to history.1.jsonl and each backup up by one, under the lock."""
        if self.backups == 0:
            self.path.unlink()
        else:
            self.backup_path(self.backups).unlink(missing_ok=True)
            for number in range(self.backups - 1, 0, -1):
                older = self.backup_path(number)
                if older.exists():
                    os.replace(older, self.backup_path(number + 1))
            os.replace(self.path, self.backup_path(1))
        _fsync_folder(self.path.parent)
        logger.info("Rotated the send history %s", self.path)

    def load(self, limit: int = 500) -> tuple[list[HistoryEntry], list[str]]:
        """Return up to `limit` entries, newest first, and one warning per skipped line.

        The current file is read first and then the backups, until `limit` entries are found.
        A line that is not valid JSON, has a wrong checksum, has a newer record version or
        lacks a field is skipped. So is an incomplete last line, which a crash mid-append
        leaves behind. Each warning names the file and the line number.
        """
        entries: list[HistoryEntry] = []
        warnings: list[str] = []
        if limit <= 0:
            return entries, warnings
        with file_lock(self.path, shared=True):
            for path in self.files():
                if not path.exists():
                    continue
                for entry in self._read_file(path, warnings):
                    entries.append(entry)
                    if len(entries) >= limit:
                        return entries, warnings
        return entries, warnings

    def _read_file(self, path: Path, warnings: list[str]) -> Iterator[HistoryEntry]:
        """Yield the file's valid entries, last line first, adding a warning per bad line."""
        content = path.read_bytes()
        lines = content.split(b"\n")
        # A file that ends with "\n" splits into a last element that is empty.
        torn = lines.pop() if lines else b""
        if torn:
            try:
                entry = _decode_line(torn)
            except ValueError:
                warning = (
                    f"the last line (line {len(lines) + 1}) of {path} was incomplete, "
                    "probably cut by a crash; it was skipped"
                )
                logger.warning("%s", warning)
                warnings.append(warning)
            else:
                yield entry
        for index in range(len(lines) - 1, -1, -1):
            if not lines[index].strip():
                continue
            try:
                entry = _decode_line(lines[index])
            except ValueError as error:
                warning = f"line {index + 1} of {path} was skipped: {error}"
                logger.warning("%s", warning)
                warnings.append(warning)
            else:
                yield entry

    def clear(self) -> None:
        """Delete the history file and its backups."""
        with file_lock(self.path):
            for path in self.files():
                path.unlink(missing_ok=True)
        logger.info("Cleared the send history %s", self.path)


def _sha256(data: bytes) -> str:
    # hashlib loads OpenSSL's libcrypto, about 3.5 MiB of resident memory, so the window
    # imports it on the first history write or read, not at start-up.
    from hashlib import sha256

    return sha256(data).hexdigest()


def _encode_line(entry: dict[str, Any]) -> bytes:
    try:
        canonical = _canonical(entry)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"history entry {entry.get('id')} cannot be stored as JSON: {error}"
        ) from error
    record = {
        "v": RECORD_VERSION,
        "entry": entry,
        "sha256": _sha256(canonical),
    }
    # json.dumps escapes line breaks inside strings, so the record is exactly one line.
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8") + b"\n"


def _decode_line(line: bytes) -> HistoryEntry:
    """Parse and check one line; raises ValueError with the reason it cannot be used."""
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"it is not UTF-8 text ({error.reason})") from error
    except json.JSONDecodeError as error:
        raise ValueError(f"it is not valid JSON ({error.msg} at column {error.colno})") from error
    if not isinstance(record, dict):
        raise ValueError("it is not a JSON object")
    version = record.get("v")
    if version != RECORD_VERSION:
        raise ValueError(
            f"its record version is {version!r}, but this segment-gui reads version "
            f"{RECORD_VERSION}"
        )
    entry = record.get("entry")
    checksum = record.get("sha256")
    if not isinstance(entry, dict) or not isinstance(checksum, str):
        raise ValueError('it lacks an "entry" object or a "sha256" string')
    if _sha256(_canonical(entry)) != checksum:
        raise ValueError("its sha256 checksum does not match its entry")
    return HistoryEntry.from_json(entry)


def _last_byte(descriptor: int) -> bytes:
    """Return the file's last byte, or b"" for an empty file.

    Only the read offset moves, and O_APPEND writes still go to the end.
    """
    if os.fstat(descriptor).st_size == 0:
        return b""
    os.lseek(descriptor, -1, os.SEEK_END)
    return os.read(descriptor, 1)


def _write_all(descriptor: int, data: bytes) -> None:
    """Write all of `data`, calling os.write again after a short write.

    A regular file takes the data in one call unless the disk is full or a signal interrupts.
    """
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
