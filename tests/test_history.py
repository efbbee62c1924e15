"""The send history file: checksummed lines, rotation, crashes and concurrent writers."""

from __future__ import annotations

import base64
import hashlib
import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from segment_gui.history import (
    RESPONSE_BODY_LIMIT,
    RESPONSE_CUT_MARKER,
    History,
    HistoryEntry,
    cut_response_body,
)
from segment_gui.logs import register_secret
from segment_gui.storage import app_paths

TESTS_DIR = str(Path(__file__).parent)
CRASH_MESSAGE = "was incomplete, probably cut by a crash; it was skipped"


def make_entry(**overrides: Any) -> HistoryEntry:
    fields: dict[str, Any] = {
        "endpoint": "http://127.0.0.1:9/v1",
        "credential": "local",
        "path": "track",
        "request_body": {"event": "Signed Up", "userId": "u1", "messageId": "m1"},
        "status": 200,
        "reason": "OK",
        "response_body": '{"success": true}',
        "error": None,
        "attempts": [{"number": 1, "outcome": "200 OK", "elapsedMs": 12.5, "waitedMs": 0.0}],
        "elapsed_ms": 12.5,
        "parameters": {"resource": "track", "operation": "event", "event": "Signed Up"},
        "settings": {"retryOnFail": False},
        "body_mode": "segment",
        "preset": "signup",
    }
    fields.update(overrides)
    return HistoryEntry.create(**fields)


def history(**options: Any) -> History:
    return History(app_paths(), **options)


def raw_lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")


def test_append_and_load_roundtrip() -> None:
    store = history()
    entry = make_entry(
        request_body={"event": "Café ☕", "properties": {"text": "line\nbreak\u2028sep"}},
        response_body="ok",
    )
    store.append(entry)

    entries, warnings = store.load()
    assert warnings == []
    assert entries == [entry]
    assert uuid.UUID(entry.id).version == 4
    assert entry.time.endswith("Z")


def test_line_holds_entry_and_checksum() -> None:
    store = history()
    store.append(make_entry())

    content = store.path.read_bytes()
    assert content.endswith(b"\n")
    assert content.count(b"\n") == 1
    record = json.loads(content)
    assert record["v"] == 1
    canonical = json.dumps(
        record["entry"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    assert record["sha256"] == hashlib.sha256(canonical).hexdigest()
    assert "Authorization" not in content.decode()
    assert record["entry"]["requestBody"]["event"] == "Signed Up"


def test_load_newest_first_with_limit() -> None:
    store = history()
    entries = [make_entry(request_body={"number": n}) for n in range(5)]
    for entry in entries:
        store.append(entry)

    loaded, warnings = store.load()
    assert [e.request_body["number"] for e in loaded] == [4, 3, 2, 1, 0]
    assert warnings == []
    loaded, _ = store.load(limit=2)
    assert [e.request_body["number"] for e in loaded] == [4, 3]
    assert store.load(limit=0) == ([], [])


def test_load_without_file() -> None:
    assert history().load() == ([], [])


def test_checksum_mismatch_skipped() -> None:
    store = history()
    for number in range(3):
        store.append(make_entry(request_body={"number": number}))
    lines = raw_lines(store.path)
    lines[1] = lines[1].replace(b'"number":1', b'"number":7')
    store.path.write_bytes(b"\n".join(lines))

    entries, warnings = store.load()
    assert [e.request_body["number"] for e in entries] == [2, 0]
    assert len(warnings) == 1
    assert f"line 2 of {store.path}" in warnings[0]
    assert "checksum does not match" in warnings[0]


def test_invalid_lines_skipped() -> None:
    store = history()
    store.append(make_entry(request_body={"number": 0}))
    with store.path.open("ab") as handle:
        handle.write(b"not json\n")
        handle.write(b"\n")
        handle.write(b'{"v": 2, "entry": {}, "sha256": "00"}\n')
        handle.write(b'{"v": 1, "entry": {"id": "x"}, "sha256": "00"}\n')
        handle.write(b"\xff\xfe\n")
    entry = {**make_entry().to_json(), "status": "200"}
    canonical = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    record = {"v": 1, "entry": entry, "sha256": hashlib.sha256(canonical.encode()).hexdigest()}
    with store.path.open("ab") as handle:
        handle.write(json.dumps(record).encode() + b"\n")
    store.append(make_entry(request_body={"number": 1}))

    entries, warnings = store.load()
    assert [e.request_body["number"] for e in entries] == [1, 0]
    assert len(warnings) == 5
    assert "line 7 of" in warnings[0]
    assert "'status' field has the invalid type str" in warnings[0]
    assert "line 6 of" in warnings[1]
    assert "not UTF-8" in warnings[1]
    assert "line 5 of" in warnings[2]
    assert "checksum does not match" in warnings[2]
    assert "line 4 of" in warnings[3]
    assert "record version is 2" in warnings[3]
    assert "line 2 of" in warnings[4]
    assert "not valid JSON" in warnings[4]


def test_torn_last_line_skipped_then_repaired() -> None:
    store = history()
    store.append(make_entry(request_body={"number": 0}))
    store.append(make_entry(request_body={"number": 1}))
    whole = store.path.read_bytes()
    full_line = whole.split(b"\n")[1]
    store.path.write_bytes(whole + full_line[: len(full_line) // 2])

    entries, warnings = store.load()
    assert [e.request_body["number"] for e in entries] == [1, 0]
    assert warnings == [f"the last line (line 3) of {store.path} {CRASH_MESSAGE}"]

    store.append(make_entry(request_body={"number": 2}))
    lines = raw_lines(store.path)
    assert lines[2] == full_line[: len(full_line) // 2]
    assert lines[-1] == b""
    entries, warnings = store.load()
    assert [e.request_body["number"] for e in entries] == [2, 1, 0]
    assert len(warnings) == 1
    assert f"line 3 of {store.path}" in warnings[0]
    assert "not valid JSON" in warnings[0]


def test_last_line_without_newline_accepted() -> None:
    store = history()
    store.append(make_entry(request_body={"number": 0}))
    store.path.write_bytes(store.path.read_bytes().rstrip(b"\n"))

    entries, warnings = store.load()
    assert [e.request_body["number"] for e in entries] == [0]
    assert warnings == []
    store.append(make_entry(request_body={"number": 1}))
    entries, warnings = store.load()
    assert [e.request_body["number"] for e in entries] == [1, 0]
    assert warnings == []


def test_rotation_keeps_backups() -> None:
    probe = history()
    probe.append(make_entry(request_body={"number": -1}))
    line_size = probe.path.stat().st_size
    probe.clear()
    # Two lines fit in a file, so every third append rotates.
    store = history(max_bytes=line_size * 2 + line_size // 2, backups=2)
    for number in range(8):
        store.append(make_entry(request_body={"number": number}))

    assert store.path.name == "history.jsonl"
    assert store.backup_path(1).name == "history.1.jsonl"
    assert len(raw_lines(store.path)) - 1 == 2
    assert len(raw_lines(store.backup_path(1))) - 1 == 2
    assert len(raw_lines(store.backup_path(2))) - 1 == 2
    assert not store.backup_path(3).exists()
    entries, warnings = store.load()
    assert [e.request_body["number"] for e in entries] == [7, 6, 5, 4, 3, 2]
    assert warnings == []
    entries, _ = store.load(limit=3)
    assert [e.request_body["number"] for e in entries] == [7, 6, 5]


def test_rotation_without_backups() -> None:
    store = history(max_bytes=10, backups=0)
    store.append(make_entry(request_body={"number": 0}))
    store.append(make_entry(request_body={"number": 1}))

    entries, _ = store.load()
    assert [e.request_body["number"] for e in entries] == [1]
    assert sorted(p.name for p in store.path.parent.glob("history*")) == [
        "history.jsonl",
        "history.jsonl.lock",
    ]


def test_oversized_entry_gets_own_file() -> None:
    store = history(max_bytes=100, backups=3)
    store.append(make_entry(request_body={"number": 0}))
    store.append(make_entry(request_body={"number": 1}))

    assert len(raw_lines(store.path)) - 1 == 1
    assert len(raw_lines(store.backup_path(1))) - 1 == 1


def test_invalid_options_rejected() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        history(max_bytes=0)
    with pytest.raises(ValueError, match="backups"):
        history(backups=-1)


def test_clear_removes_all_files() -> None:
    store = history(max_bytes=10, backups=2)
    for number in range(3):
        store.append(make_entry(request_body={"number": number}))
    assert store.backup_path(2).exists()

    store.clear()
    assert store.load() == ([], [])
    assert not any(path.exists() for path in store.files())
    store.append(make_entry())
    assert len(store.load()[0]) == 1


def test_entry_with_secret_rejected() -> None:
    secret = f"wk_{uuid.uuid4().hex}"
    token = base64.b64encode(f"{secret}:".encode()).decode()
    register_secret(secret)
    store = history()

    with pytest.raises(ValueError, match="registered secret"):
        store.append(make_entry(request_body={"writeKey": secret}))
    with pytest.raises(ValueError, match="registered secret"):
        store.append(make_entry(response_body=f"echo: Basic {token}"))
    with pytest.raises(ValueError, match="registered secret"):
        store.append(make_entry(parameters={f"key {secret}": 1}))
    assert not store.path.exists()
    store.append(make_entry(request_body={"writeKey": "not-registered"}))
    assert len(store.load()[0]) == 1


def test_entry_not_json_rejected() -> None:
    store = history()
    with pytest.raises(ValueError, match="cannot be stored as JSON"):
        store.append(make_entry(elapsed_ms=float("nan")))
    with pytest.raises(ValueError, match="cannot be stored as JSON"):
        store.append(make_entry(request_body={"when": object()}))
    assert not store.path.exists()


def test_long_response_body_cut() -> None:
    store = history()
    body = "é" * (RESPONSE_BODY_LIMIT + 10)
    store.append(make_entry(response_body=body))

    stored = store.load()[0][0].response_body
    assert stored == "é" * RESPONSE_BODY_LIMIT + RESPONSE_CUT_MARKER
    assert cut_response_body(stored) == stored
    assert cut_response_body("short") == "short"


# A writer process: appends COUNT entries tagged with WORKER once the GO file exists.
WRITER = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from test_history import make_entry
from segment_gui.history import History
from segment_gui.storage import app_paths

worker, go = sys.argv[2], Path(sys.argv[6])
count, max_bytes, backups = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
store = History(app_paths(), max_bytes=max_bytes, backups=backups)
while not go.exists():
    time.sleep(0.005)
for number in range(count):
    store.append(make_entry(request_body={"worker": worker, "number": number, "pad": "x" * 300}))
"""


# An entry line of the writers is about 900 bytes, so 3_000 rotates after every third append.
# The 80 backups hold 243 lines or more, so no entry is dropped.
@pytest.mark.parametrize("max_bytes", [5_000_000, 3_000], ids=["one-file", "rotating"])
def test_concurrent_process_appends(tmp_path: Path, max_bytes: int) -> None:
    workers, count, backups = 4, 50, 80
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                TESTS_DIR,
                f"w{worker}",
                str(count),
                str(max_bytes),
                str(backups),
                str(go),
            ],
            stderr=subprocess.PIPE,
        )
        for worker in range(workers)
    ]
    time.sleep(0.5)
    go.touch()
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr.decode()

    store = history(max_bytes=max_bytes, backups=backups)
    entries, warnings = store.load(limit=10_000)
    assert warnings == []
    assert len(entries) == workers * count
    assert len({entry.id for entry in entries}) == workers * count
    for worker in range(workers):
        numbers = [
            entry.request_body["number"]
            for entry in reversed(entries)
            if entry.request_body["worker"] == f"w{worker}"
        ]
        assert numbers == list(range(count))
    if max_bytes < 5_000_000:
        assert store.backup_path(1).exists()
        assert not store.backup_path(backups).exists()
        for path in store.files():
            if path.exists():
                assert path.stat().st_size <= max_bytes


# A process that appends two entries, then dies from SIGKILL halfway through writing a third.
CRASHER = """
import os, signal, sys
sys.path.insert(0, sys.argv[1])
from test_history import make_entry
from segment_gui.history import History
from segment_gui.storage import app_paths

store = History(app_paths())
store.append(make_entry(request_body={"number": 0}))
store.append(make_entry(request_body={"number": 1}))
real_write = os.write

def write_half_then_die(descriptor, data):
    real_write(descriptor, bytes(data[: len(data) // 2]))
    os.kill(os.getpid(), signal.SIGKILL)

os.write = write_half_then_die
store.append(make_entry(request_body={"number": 2}))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_process_killed_mid_append() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CRASHER, TESTS_DIR], capture_output=True, timeout=60
    )
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()

    store = history()
    assert not store.path.read_bytes().endswith(b"\n")
    entries, warnings = store.load()
    assert [e.request_body["number"] for e in entries] == [1, 0]
    assert warnings == [f"the last line (line 3) of {store.path} {CRASH_MESSAGE}"]

    store.append(make_entry(request_body={"number": 3}))
    entries, warnings = store.load()
    assert [e.request_body["number"] for e in entries] == [3, 1, 0]
    assert len(warnings) == 1
    assert f"line 3 of {store.path}" in warnings[0]


# A process that appends large entries in a loop until it is killed.
LOOPER = """
import sys
sys.path.insert(0, sys.argv[1])
from test_history import make_entry
from segment_gui.history import History
from segment_gui.storage import app_paths

store = History(app_paths(), max_bytes=2_000_000, backups=50)
number = 0
while True:
    store.append(make_entry(request_body={"number": number, "pad": "y" * 200_000}))
    number += 1
"""


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_killed_looping_writer_loses_at_most_last() -> None:
    store = history(max_bytes=2_000_000, backups=50)
    with subprocess.Popen([sys.executable, "-c", LOOPER, TESTS_DIR]) as process:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not store.backup_path(1).exists():
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    entries, warnings = store.load(limit=100_000)
    numbers = sorted(entry.request_body["number"] for entry in entries)
    assert store.backup_path(1).exists()
    assert len(numbers) >= 2
    assert numbers == list(range(len(numbers)))
    assert len(warnings) <= 1
    if warnings:
        assert CRASH_MESSAGE in warnings[0]
        assert f"of {store.path}" in warnings[0]

    store.append(make_entry(request_body={"number": -1}))
    entries, _ = store.load(limit=1)
    assert entries[0].request_body["number"] == -1
