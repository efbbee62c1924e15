"""Run a preset over input items the way n8n runs a node: one message per item.

Each item's message is built from the preset's parameters with n8n expressions resolved for
that item, then sent in a request of its own or packed with others into `/v1/batch` requests.
The node settings decide what a failed item does to the rest of the run (On Error), whether
only the first item runs (Execute Once) and whether a failed request is tried again (Retry On
Fail). Nothing here uses Qt: the window calls `run_items` on a worker thread and the command
line calls it directly.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast, overload

from segment_gui.expressions import ExpressionEngine, ExpressionError, is_expression
from segment_gui.payload import (
    MAX_MESSAGE_BYTES,
    SEGMENT_MODE,
    Message,
    compose,
    describe,
    new_message_id,
    serialize,
)
from segment_gui.spec import NodeSpec
from segment_gui.transport import (
    CANCEL_POLL_SECONDS,
    DirectRequests,
    SendCancelled,
    SendError,
    SendOptions,
    SocketRegistry,
    _tracking_session,
    pin_environment,
    send,
    worker_pool,
)

logger = logging.getLogger(__name__)

# Segment's HTTP API documentation: the batch endpoint accepts at most 500 KB per request and
# 32 KB per message in it, and returns 400 Bad Request above either limit. 500 KB is read as
# 500 × 1024 = 512,000 bytes, as the local sandbox does, and batches are packed 1 KB below it.
# NOTE: the documentation does not say whether a KB is 1,000 or 1,024 bytes. Segment's own
# analytics-python packs batches to at most 475,000 bytes. If the API counts 500,000 bytes, a
# batch body between 500,000 and 510,976 bytes gets a 400 and all of its items fail.
SEGMENT_MAX_BATCH_BYTES = 500 * 1024
DEFAULT_MAX_BATCH_BYTES = SEGMENT_MAX_BATCH_BYTES - 1024
# `{"batch":[` and `]}` around the items, as payload.serialize writes them.
BATCH_ENVELOPE_BYTES = len(serialize({"batch": []}))
_BATCH_HEAD = b'{"batch":['
_BATCH_TAIL = b"]}"

# Message paths that Segment's batch endpoint accepts as an item's "type".
BATCH_TYPES = ("identify", "track", "page", "screen", "group", "alias")

# Response text kept per item, so a run over many items does not hold every response body.
# A longer response is not merged into the item's output either.
MAX_RESPONSE_BYTES = 2048
# on_progress is called at most once per interval, plus once when the run ends.
PROGRESS_INTERVAL_SECONDS = 0.1
# Failed items logged one by one per run; the rest are counted in the closing log line.
MAX_LOGGED_FAILURES = 20

SENT = "sent"
FAILED = "failed"
SKIPPED = "skipped"
CANCELLED = "cancelled"
ITEM_STATUSES = (SENT, FAILED, SKIPPED, CANCELLED)

SINGLE = "single"
BATCH = "batch"
DELIVERIES = (SINGLE, BATCH)

STOP_WORKFLOW = "stopWorkflow"
CONTINUE_REGULAR_OUTPUT = "continueRegularOutput"
CONTINUE_ERROR_OUTPUT = "continueErrorOutput"
ON_ERROR_CHOICES = (STOP_WORKFLOW, CONTINUE_REGULAR_OUTPUT, CONTINUE_ERROR_OUTPUT)


@dataclass
class RunSettings:
    """n8n's node settings that change how a run goes: Execute Once, Retry On Fail with its
    tries and wait in milliseconds, On Error and Always Output Data."""

    execute_once: bool = False
    retry_on_fail: bool = False
    max_tries: int = 3
    wait_between_tries: int = 1000  # milliseconds
    on_error: str = STOP_WORKFLOW
    always_output_data: bool = False

    def __post_init__(self) -> None:
        if self.on_error not in ON_ERROR_CHOICES:
            raise ValueError(
                f"On Error {self.on_error!r} is not valid; choose one of {list(ON_ERROR_CHOICES)}"
            )
        if self.max_tries < 1:
            raise ValueError(f"Max. Tries {self.max_tries} must be at least 1")
        if self.wait_between_tries < 0:
            raise ValueError(
                f"Wait Between Tries {self.wait_between_tries} ms must not be negative"
            )

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> RunSettings:
        """Read n8n's setting names (executeOnce, retryOnFail, maxTries, waitBetweenTries,
        onError, alwaysOutputData). Missing names keep their default.

        Raises ValueError when a value has the wrong type or is out of range.
        """
        defaults = cls()
        return cls(
            execute_once=_flag(settings, "executeOnce", defaults.execute_once),
            retry_on_fail=_flag(settings, "retryOnFail", defaults.retry_on_fail),
            max_tries=_whole_number(settings, "maxTries", defaults.max_tries),
            wait_between_tries=_whole_number(
                settings, "waitBetweenTries", defaults.wait_between_tries
            ),
            on_error=str(settings.get("onError", defaults.on_error)),
            always_output_data=_flag(settings, "alwaysOutputData", defaults.always_output_data),
        )

    def send_options(self, base: SendOptions) -> SendOptions:
        """Return `base` with n8n's retry settings applied: Max. Tries and Wait Between Tries
        when Retry On Fail is on, else a single try."""
        if self.retry_on_fail:
            return dataclasses.replace(
                base, max_tries=self.max_tries, wait_ms=self.wait_between_tries
            )
        return dataclasses.replace(base, max_tries=1)


def _flag(settings: Mapping[str, Any], name: str, default: bool) -> bool:
    value = settings.get(name, default)
    if not isinstance(value, bool):
        raise ValueError(f"setting {name} is {value!r}; expected true or false")
    return value


def _whole_number(settings: Mapping[str, Any], name: str, default: int) -> int:
    value = settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"setting {name} is {value!r}; expected a whole number")
    return int(value)


@dataclass(slots=True)
class ItemResult:
    """The outcome of one input item.

    `payload` is the body that was or would have been posted (the batch item, with its
    "type", in batch mode), or None when the message could not be built. `response` is at
    most MAX_RESPONSE_BYTES of the response text. `batch` is the 0-based number of the batch
    request that carried the item. `in_flight` marks a cancelled item whose request had
    started, so the server may have received it.

    NOTE: payloads copied from a run's MessageTemplate share the nested objects that contain
    no ID (context, properties), so a caller that changes one payload changes them all.
    """

    index: int
    status: str
    payload: dict[str, Any] | None = None
    http_status: int | None = None
    response: str = ""
    error: str = ""
    elapsed_ms: float = 0.0
    batch: int | None = None
    in_flight: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "status": self.status,
            "httpStatus": self.http_status,
            "response": self.response,
            "error": self.error,
            "elapsedMs": round(self.elapsed_ms, 3),
            "batch": self.batch,
            "inFlight": self.in_flight,
            "payload": self.payload,
        }


@dataclass(slots=True)
class _SentBatch:
    """A sent batch request, which represents the results of its items `first` to
    `first + len(entries) - 1`. Their batch items are `entries`."""

    first: int
    entries: Sequence[dict[str, Any]]
    number: int
    reply: _Reply
    status: str = SENT

    def result(self, index: int) -> ItemResult:
        """Return the result of item `index`, which this batch carried."""
        reply = self.reply
        return ItemResult(
            index,
            reply.status,
            self.entries[index - self.first],
            reply.http_status,
            reply.response,
            reply.error,
            reply.elapsed_ms,
            self.number,
            reply.in_flight,
        )


class RunResults(Sequence[ItemResult]):
    """The results of a run's items, in index order.

    The items of a sent batch share one record, and each item's ItemResult is made the
    first time it is read. Later reads return the same object.
    """

    __slots__ = ("_entries", "_indexes")

    def __init__(self, entries: list[ItemResult | _SentBatch], indexes: Sequence[int]) -> None:
        self._entries = entries
        self._indexes = indexes  # the item index of each entry

    def __len__(self) -> int:
        return len(self._entries)

    @overload
    def __getitem__(self, position: int) -> ItemResult: ...

    @overload
    def __getitem__(self, position: slice) -> list[ItemResult]: ...

    def __getitem__(self, position: int | slice) -> ItemResult | list[ItemResult]:
        if isinstance(position, slice):
            return [self._result(number) for number in range(*position.indices(len(self)))]
        if position < 0:
            position += len(self._entries)
            if position < 0:
                raise IndexError("run result index out of range")
        return self._result(position)

    def __iter__(self) -> Iterator[ItemResult]:
        for position in range(len(self._entries)):
            yield self._result(position)

    def __repr__(self) -> str:
        return f"<RunResults of {len(self)} items>"

    def _result(self, position: int) -> ItemResult:
        entry = self._entries[position]
        if isinstance(entry, _SentBatch):
            entry = self._entries[position] = entry.result(self._indexes[position])
        return entry

    def indexes_with_status(self, status: str) -> list[int]:
        """Return the indexes of the items with this status, without making their results."""
        return [
            index
            for index, entry in zip(self._indexes, self._entries, strict=True)
            if entry.status == status
        ]


@dataclass
class RunReport:
    """The outcome of a run: one result per input item in index order, and n8n-like output.

    `output` contains the items n8n's main output would carry. A sent item gives
    `{"success": true}` merged with the response's JSON object when that response is at most
    MAX_RESPONSE_BYTES. A failed item gives `{"error": …}` under continueRegularOutput. Under
    Always Output Data, one `{}` is added when nothing else came out and no failure stopped
    the run.
    `errors` contains the `{"error": …}` items of n8n's error output under continueErrorOutput.
    `stopped_at` is the index of the failed item that ended the run under stopWorkflow, and
    `error` then gives the reason.
    """

    results: Sequence[ItemResult]
    output: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    cancelled: bool
    elapsed_ms: float
    stopped_at: int | None = None
    error: str = ""

    @property
    def stopped(self) -> bool:
        return self.stopped_at is not None

    def with_status(self, status: str) -> list[int]:
        if isinstance(self.results, RunResults):
            return self.results.indexes_with_status(status)
        return [result.index for result in self.results if result.status == status]

    def sent(self) -> list[int]:
        return self.with_status(SENT)

    def failed(self) -> list[int]:
        return self.with_status(FAILED)

    @property
    def ok(self) -> bool:
        """True when every item was sent: nothing failed, was skipped or was cancelled."""
        return len(self.with_status(SENT)) == len(self.results)

    def counts(self) -> dict[str, int]:
        return {status: len(self.with_status(status)) for status in ITEM_STATUSES}

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "cancelled": self.cancelled,
            "stoppedAt": self.stopped_at,
            "error": self.error,
            "elapsedMs": round(self.elapsed_ms, 3),
            "counts": self.counts(),
            "results": [result.to_json() for result in self.results],
            "output": self.output,
            "errors": self.errors,
        }


@dataclass(frozen=True)
class RunProgress:
    """A snapshot for a progress bar: items finished out of `total`, how many were sent and
    failed, items finished per second so far, and the index being built or sent."""

    done: int
    total: int
    sent: int
    failed: int
    rate_per_s: float
    current: int | None


# -- building ---------------------------------------------------------------------------------


def _input_items(items: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Return the items to run; like n8n, a node without input runs once with an empty item."""
    return list(items) if items else [{}]


def _build_item(
    spec: NodeSpec,
    values: Mapping[str, Any],
    item: Mapping[str, Any],
    index: int,
    engine: ExpressionEngine,
    anonymous_id: str,
    mode: str,
) -> tuple[Message | None, str]:
    """Resolve the expressions of `values` for one item and compose its message.

    Returns (message, "") or (None, the reasons it could not be built).
    """
    try:
        resolved, expression_errors = engine.resolve(values, item=dict(item), item_index=index)
    except ExpressionError as error:
        return None, f"expression failed: {error}"
    if expression_errors:
        reasons = "; ".join(f"{path}: {message}" for path, message in expression_errors.items())
        return None, f"expression failed: {reasons}"

    composition = compose(
        spec, resolved, anonymous_id=anonymous_id, message_id=new_message_id(), mode=mode
    )
    if not composition.sendable or composition.message is None:
        reasons = "; ".join(describe(problem) for problem in composition.errors())
        return None, reasons or "the message could not be built from the parameters"
    return composition.message, ""


def build_messages(
    spec: NodeSpec,
    values: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    *,
    engine: ExpressionEngine,
    anonymous_id_for: Callable[[int], str] | None = None,
    mode: str = SEGMENT_MODE,
) -> list[tuple[int, Message | None, str]]:
    """Build one message per item: (index, message, "") or (index, None, error).

    `anonymous_id_for(index)` supplies the anonymous ID of each item, so a preview and a send
    can agree. Without it every item gets a new UUID. No items build one message from `{}`.
    """
    built = []
    for index, item in enumerate(_input_items(items)):
        anonymous_id = anonymous_id_for(index) if anonymous_id_for else new_message_id()
        message, error = _build_item(spec, values, item, index, engine, anonymous_id, mode)
        built.append((index, message, error))
    return built


# -- batches ----------------------------------------------------------------------------------


def batch_item(message: Message) -> dict[str, Any]:
    """Return the message as an item of a batch body: its body with "type" from its path.

    Raises ValueError for a path that Segment's batch endpoint has no type for.
    """
    if message.path not in BATCH_TYPES:
        raise ValueError(
            f"a {message.path!r} message cannot go in a batch; batch items are one of "
            f"{', '.join(BATCH_TYPES)}"
        )
    return {"type": message.path, **message.body}


def batch_body_size(item_sizes: Sequence[int]) -> int:
    """Return the byte size of `{"batch":[…]}` holding items of these serialized sizes."""
    return BATCH_ENVELOPE_BYTES + sum(item_sizes) + max(len(item_sizes) - 1, 0)


@dataclass(slots=True)
class _Batch:
    """One batch request of a run: the items' indexes in order, their batch items (the
    payloads of their results) and the serialized body `{"batch":[…]}`.

    A template batch's `entries` make each batch item when it is read (`_TemplateItems`).
    """

    indexes: Sequence[int]
    entries: Sequence[dict[str, Any]]
    data: bytes


def _batch_size_problem(size: int, max_batch_bytes: int, max_message_bytes: int) -> str:
    """Return why a batch item of `size` serialized bytes fits in no batch, or ""."""
    if size > max_message_bytes:
        return (
            f"the message is {size:,} bytes as a batch item; Segment accepts at most "
            f"{max_message_bytes:,} bytes per message. Remove some traits, properties or context"
        )
    if BATCH_ENVELOPE_BYTES + size > max_batch_bytes:
        return (
            f"the message is {size:,} bytes as a batch item and does not fit in a batch of at "
            f"most {max_batch_bytes:,} bytes"
        )
    return ""


def _check_batch_item(
    message: Message, max_batch_bytes: int, max_message_bytes: int
) -> tuple[dict[str, Any], int, str]:
    """Return (batch item, its serialized size, "") or (item, size, why it fits in no batch)."""
    try:
        item = batch_item(message)
    except ValueError as error:
        return {}, 0, str(error)
    size = len(serialize(item))
    return item, size, _batch_size_problem(size, max_batch_bytes, max_message_bytes)


def _pack_sizes(sizes: Sequence[int], max_batch_bytes: int) -> list[tuple[int, int]]:
    """Split items of these serialized sizes, in order, into as few batches of at most
    `max_batch_bytes` as possible. Each batch is returned as a (start, end) slice.

    Every size must fit in a batch of its own.
    """
    bounds: list[tuple[int, int]] = []
    start = 0
    current_bytes = BATCH_ENVELOPE_BYTES
    for position, size in enumerate(sizes):
        separator = 1 if position > start else 0  # the comma between items
        if position > start and current_bytes + separator + size > max_batch_bytes:
            bounds.append((start, position))
            start, current_bytes, separator = position, BATCH_ENVELOPE_BYTES, 0
        current_bytes += separator + size
    if start < len(sizes):
        bounds.append((start, len(sizes)))
    return bounds


def pack_batches(
    messages: Sequence[tuple[int, Message]],
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
) -> tuple[list[list[tuple[int, dict[str, Any]]]], dict[int, str]]:
    """Pack messages, in order, into as few batches as the size limits allow.

    Every batch body `{"batch":[…]}`, serialized as it is posted, is at most `max_batch_bytes`
    long. A message whose batch item is over `max_message_bytes`, or could not fit even in a
    batch of its own, goes into no batch: it is returned in the errors, by index, with the
    reason.
    """
    if max_batch_bytes <= BATCH_ENVELOPE_BYTES:
        raise ValueError(
            f"max_batch_bytes {max_batch_bytes} leaves no room for items; the batch envelope "
            f"alone is {BATCH_ENVELOPE_BYTES} bytes"
        )
    errors: dict[int, str] = {}
    checked: list[tuple[int, dict[str, Any]]] = []
    sizes: list[int] = []
    for index, message in messages:
        item, size, error = _check_batch_item(message, max_batch_bytes, max_message_bytes)
        if error:
            errors[index] = error
            continue
        checked.append((index, item))
        sizes.append(size)
    batches = [checked[start:end] for start, end in _pack_sizes(sizes, max_batch_bytes)]
    return batches, errors


# -- messages composed once per run -----------------------------------------------------------


@dataclass(frozen=True)
class SerializedMessage(Message):
    """A message whose body is already serialized, so sending it does not serialize it again.

    `data` must be `serialize(body)`.
    """

    data: bytes = b""

    def to_bytes(self) -> bytes:
        return self.data


_Path = tuple[str | int, ...]


def _find_text(tree: Any, text: str, path: _Path = ()) -> list[_Path]:
    """Return the paths of the string values equal to `text` in a JSON tree."""
    if isinstance(tree, str):
        return [path] if tree == text else []
    found: list[_Path] = []
    if isinstance(tree, dict):
        for key, child in tree.items():
            found += _find_text(child, text, (*path, key))
    elif isinstance(tree, list):
        for index, child in enumerate(tree):
            found += _find_text(child, text, (*path, index))
    return found


def _contains_expression(tree: Any) -> bool:
    if is_expression(tree):
        return True
    if isinstance(tree, Mapping):
        return any(_contains_expression(child) for child in tree.values())
    if isinstance(tree, list):
        return any(_contains_expression(child) for child in tree)
    return False


def _replace_at(tree: Any, path: _Path, value: Any) -> Any:
    """Return a copy of `tree` with `value` at `path`; only the containers on the path are
    copied, the rest is shared with `tree`."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy: Any = dict(tree) if isinstance(tree, dict) else list(tree)
    copy[head] = _replace_at(tree[head], rest, value)
    return copy


def _json_string_content(text: str) -> bytes:
    """Return `text` as it appears between the quotes of a serialized JSON string.

    Raises UnicodeEncodeError for a lone surrogate, as `serialize` does.
    """
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text.encode("ascii")
    return json.dumps(text, ensure_ascii=False)[1:-1].encode("utf-8")


# Byte tables that set the version nibble (4) and the variant bits (10xx) of a UUID.
_UUID_VERSION_4 = bytes(byte & 0x0F | 0x40 for byte in range(256))
_UUID_VARIANT = bytes(byte & 0x3F | 0x80 for byte in range(256))


def uuid4_text(count: int) -> str:
    """Return `count` random UUIDs (version 4, RFC 4122) in the form of `str(uuid.uuid4())`,
    separated by commas, from one `os.urandom` call and without a Python loop per UUID."""
    return uuid4_bytes(count).decode("ascii")


def uuid4_bytes(count: int) -> bytes:
    """Return `uuid4_text(count)` encoded as ASCII."""
    if count <= 0:
        return b""
    data = bytearray(os.urandom(16 * count))
    data[6::16] = data[6::16].translate(_UUID_VERSION_4)
    data[8::16] = data[8::16].translate(_UUID_VARIANT)
    # Each UUID becomes 8 groups of 4 hex digits with a "-" after each group but the last
    # of the text, 40 characters a UUID. Deleting the dashes after groups 7, 6 and 1 leaves
    # the 8-4-4-4-12 form, and the dash after each UUID becomes the comma.
    text = bytearray(data.hex("-", 2), "ascii")
    del text[34::40]
    del text[29::39]
    del text[4::38]
    text[36::37] = b"," * (count - 1)
    return bytes(text)


def uuid4_strings(count: int) -> list[str]:
    """Return `count` random UUIDs (version 4, RFC 4122) as strings, in the form of
    `str(uuid.uuid4())`."""
    return uuid4_text(count).split(",") if count > 0 else []


class _UUIDSource:
    """Hands out random UUID strings, made in blocks, for the message IDs of a run."""

    BLOCK = 512

    def __init__(self) -> None:
        self._ready: list[str] = []

    def next(self) -> str:
        if not self._ready:
            self._ready = uuid4_strings(self.BLOCK)
        return self._ready.pop()

    def take_bytes(self, count: int) -> bytes:
        """Return `count` new UUIDs separated by commas, as `uuid4_bytes` does."""
        return uuid4_bytes(count)


class _TreeTemplate:
    """A JSON tree and its serialized form with two placeholder strings, the message ID and
    the anonymous ID, which `copy` and `render` replace."""

    def __init__(self, tree: dict[str, Any], message_id: str, anonymous_id: str) -> None:
        self.tree = tree
        self.message_id_paths = _find_text(tree, message_id)
        self.anonymous_id_paths = _find_text(tree, anonymous_id)
        self.top_level = all(
            len(path) == 1 for path in self.message_id_paths + self.anonymous_id_paths
        )
        data = serialize(tree)
        parts = data.split(message_id.encode("ascii"))
        self.pieces = [part.split(anonymous_id.encode("ascii")) for part in parts]
        self.size = len(data)
        # Without an anonymous ID, the pieces between the message IDs are joined directly.
        self.flat_pieces = parts if all(len(pieces) == 1 for pieces in self.pieces) else None
        # A placeholder inside a longer string, or in a key, cannot be replaced by path.
        self.usable = len(parts) - 1 == len(self.message_id_paths) and sum(
            len(pieces) - 1 for pieces in self.pieces
        ) == len(self.anonymous_id_paths)
        # The serialized tree as segments[0] ID segments[1] ID … segments[-1], and for each
        # ID in that order whether it is the message ID (True) or the anonymous ID (False).
        self.segments: list[bytes] = []
        self.slots: list[bool] = []
        for number, pieces in enumerate(self.pieces):
            if number:
                self.slots.append(True)
            self.slots += [False] * (len(pieces) - 1)
            self.segments += pieces

    def copy(self, message_id: str, anonymous_id: str) -> dict[str, Any]:
        if self.top_level:
            copy = dict(self.tree)
            for (key,) in self.message_id_paths:
                copy[str(key)] = message_id
            for (key,) in self.anonymous_id_paths:
                copy[str(key)] = anonymous_id
            return copy
        tree: Any = self.tree
        for path in self.message_id_paths:
            tree = _replace_at(tree, path, message_id)
        for path in self.anonymous_id_paths:
            tree = _replace_at(tree, path, anonymous_id)
        return dict(tree)

    def render(self, message_id: bytes, anonymous_id: bytes) -> bytes:
        if self.flat_pieces is not None:
            return message_id.join(self.flat_pieces)
        return message_id.join([anonymous_id.join(pieces) for pieces in self.pieces])

    def render_all(
        self, message_ids: list[bytes], anonymous_ids: list[bytes], head: bytes, tail: bytes
    ) -> bytes:
        """Return `head`, then `render` of each pair of IDs joined by commas, then `tail`.

        The result is made by one `bytes.join`, because every further copy of a body of
        500 KB costs more than the join itself: a new buffer that size takes fresh pages.
        The list to join holds, for each copy, each ID followed by the segment after it.
        The segment after the last ID of a copy also carries the comma and the first
        segment of the next copy.
        """
        count = len(message_ids)
        if count == 0:
            return head + tail
        segments, slots = self.segments, self.slots
        width = len(slots)
        if width == 0:
            copies = [segments[0]] * count
            copies[0] = head + copies[0]
            copies[-1] += tail
            return b",".join(copies)
        parts: list[bytes] = [b""] * (2 * width * count)
        for position, is_message_id in enumerate(slots):
            parts[2 * position :: 2 * width] = message_ids if is_message_id else anonymous_ids
            following = segments[position + 1]
            if position == width - 1:
                following += b"," + segments[0]
            parts[2 * position + 1 :: 2 * width] = [following] * count
        parts[0] = head + segments[0] + parts[0]
        parts[-1] = segments[-1] + tail
        return b"".join(parts)


class MessageTemplate:
    """The message of a run whose parameters contain no expression, composed once.

    Without expressions every item's message is the same except for the IDs generated per
    item: messageId and, when no User ID or Anonymous ID is set, anonymousId. `create`
    composes the message once with two random placeholder IDs, and `message` and
    `batch_item` copy it with an item's IDs in their place. The copies share the nested
    objects that contain no ID, so callers must not change them.
    """

    def __init__(self, message: Message, message_id: str, anonymous_id: str) -> None:
        self.path = message.path
        self._body = _TreeTemplate(message.body, message_id, anonymous_id)
        self._item: _TreeTemplate | None = None
        if message.path in BATCH_TYPES:
            self._item = _TreeTemplate(batch_item(message), message_id, anonymous_id)
        # Both placeholders are UUIDs, so they have the same length.
        self._placeholder_bytes = len(message_id)
        self.usable = self._body.usable and (self._item is None or self._item.usable)

    @classmethod
    def create(
        cls, spec: NodeSpec, values: Mapping[str, Any], mode: str = SEGMENT_MODE
    ) -> MessageTemplate | None:
        """Compose the message for `values` once, or return None when that cannot stand for
        every item: the values contain an expression, or the message has a blocking problem
        (each item then gets the problem from its own `compose` call)."""
        if _contains_expression(values):
            return None
        message_id, anonymous_id = new_message_id(), new_message_id()
        composition = compose(
            spec, values, anonymous_id=anonymous_id, message_id=message_id, mode=mode
        )
        if not composition.sendable or composition.message is None:
            return None
        template = cls(composition.message, message_id, anonymous_id)
        return template if template.usable else None

    @property
    def uses_anonymous_id(self) -> bool:
        return bool(self._body.anonymous_id_paths)

    def item_copy(self, message_id: str, anonymous_id: str) -> dict[str, Any]:
        """Return the batch item with these IDs as a dict, without serializing it."""
        assert self._item is not None
        return self._item.copy(message_id, anonymous_id)

    def _encoded(self, message_id: str, anonymous_id: str) -> tuple[bytes, bytes] | None:
        """Return both IDs as serialized, or None when they cannot be encoded or make the
        body longer than Segment accepts, which compose would report."""
        try:
            message_id_bytes = _json_string_content(message_id)
            anonymous_id_bytes = _json_string_content(anonymous_id) if anonymous_id else b""
        except UnicodeEncodeError:
            return None
        body = self._body
        size = (
            body.size
            + len(body.message_id_paths) * (len(message_id_bytes) - self._placeholder_bytes)
            + len(body.anonymous_id_paths) * (len(anonymous_id_bytes) - self._placeholder_bytes)
        )
        if size > MAX_MESSAGE_BYTES:
            return None
        return message_id_bytes, anonymous_id_bytes

    def message(self, message_id: str, anonymous_id: str) -> SerializedMessage | None:
        """Return the message with these IDs, serialized, or None when the IDs change the
        outcome of compose's checks (size or encoding), so the item must be composed alone."""
        encoded = self._encoded(message_id, anonymous_id)
        if encoded is None:
            return None
        body = self._body.copy(message_id, anonymous_id)
        return SerializedMessage(self.path, body, self._body.render(*encoded))

    def batch_item_size(self) -> int | None:
        """Return the serialized size of every batch item whose IDs are UUIDs (the length of
        the placeholders), or None when the message has no batch type."""
        return None if self._item is None else self._item.size

    def batch(self, indexes: range, uuids: _UUIDSource) -> _Batch:
        """Return the batch of items `indexes`, each with a new messageId and, where the
        message has one, a new anonymousId, both taken from `uuids`.

        Every item has the size that `batch_item_size` returns. The body is rendered in one
        join, so its cost per item is that of a few list slots. The batch items, which only
        the items' results show, are made when they are read.
        """
        assert self._item is not None
        count = len(indexes)
        message_ids = uuids.take_bytes(count).split(b",")
        anonymous_ids = uuids.take_bytes(count).split(b",") if self.uses_anonymous_id else []
        body = self._item.render_all(message_ids, anonymous_ids, _BATCH_HEAD, _BATCH_TAIL)
        return _Batch(indexes, _TemplateItems(self, message_ids, anonymous_ids), body)

    def batch_item(self, message_id: str, anonymous_id: str) -> tuple[dict[str, Any], bytes] | None:
        """Return the batch item with these IDs and its serialized form, or None as `message`
        does, or when the message's path has no batch type."""
        if self._item is None:
            return None
        encoded = self._encoded(message_id, anonymous_id)
        if encoded is None:
            return None
        return self._item.copy(message_id, anonymous_id), self._item.render(*encoded)


class _TemplateItems(Sequence[dict[str, Any]]):
    """The batch items of a template batch, each copied from the template when it is read.

    Every read returns a new copy, which shares the template's nested objects as
    `MessageTemplate.batch_item` does.
    """

    __slots__ = ("_template", "_message_ids", "_anonymous_ids")

    def __init__(
        self, template: MessageTemplate, message_ids: list[bytes], anonymous_ids: list[bytes]
    ) -> None:
        self._template = template
        self._message_ids = message_ids
        self._anonymous_ids = anonymous_ids  # empty when the message has no anonymousId

    def __len__(self) -> int:
        return len(self._message_ids)

    @overload
    def __getitem__(self, position: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, position: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, position: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(position, slice):
            return [self[number] for number in range(*position.indices(len(self)))]
        message_id = self._message_ids[position].decode("ascii")
        anonymous_id = self._anonymous_ids[position].decode("ascii") if self._anonymous_ids else ""
        return self._template.item_copy(message_id, anonymous_id)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for position in range(len(self._message_ids)):
            yield self[position]


# -- running ----------------------------------------------------------------------------------


def _cut_text(text: str, limit: int = MAX_RESPONSE_BYTES) -> str:
    """Cut `text` to at most `limit` UTF-8 bytes without splitting a character."""
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", "ignore")


def _response_object(text: str) -> dict[str, Any]:
    """Return the response body as a JSON object, or {} when it is not one."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


@dataclass
class _Reply:
    """The outcome of one request, for a single message or a whole batch."""

    status: str
    http_status: int | None = None
    response: str = ""
    error: str = ""
    elapsed_ms: float = 0.0
    in_flight: bool = False
    output: dict[str, Any] = field(default_factory=dict)

    def result(
        self, index: int, payload: dict[str, Any] | None, batch: int | None = None
    ) -> ItemResult:
        """Return the result of item `index`, which this request carried."""
        return ItemResult(
            index,
            self.status,
            payload=payload,
            http_status=self.http_status,
            response=self.response,
            error=self.error,
            elapsed_ms=self.elapsed_ms,
            batch=batch,
            in_flight=self.in_flight,
        )


class _Run:
    """State of one `run_items` call: the results so far, counters and the HTTP session."""

    def __init__(
        self,
        total: int,
        settings: RunSettings,
        cancel: threading.Event,
        on_progress: Callable[[RunProgress], None] | None,
        on_result: Callable[[ItemResult], None] | None,
    ) -> None:
        self.total = total
        self.settings = settings
        self.cancel = cancel
        self.on_progress = on_progress
        self.on_result = on_result
        # A sent batch of consecutive items has one _SentBatch in all of its items' places.
        self.results: list[ItemResult | _SentBatch | None] = [None] * total
        # 1 for each item that has a result, so `bytearray.find` locates the first without.
        self.finished = bytearray(total)
        self.done = 0
        self.reported = 0  # items 0 … reported - 1 have been passed to on_result
        self.outputs: list[dict[str, Any] | None] = [None] * total  # of sent items
        self.sent = 0
        self.failed = 0
        self.current: int | None = None
        self.stopped_at: int | None = None  # the failed item that stopped the run
        self.error = ""
        self.started = time.perf_counter()
        self.last_progress = -math.inf
        # One kept-alive session for the whole run, whose requests run one at a time on the
        # run's own thread, or in batch mode on the sender's thread. Its sockets register
        # here, so a cancel can shut down the one in flight instead of leaving it until the
        # read timeout.
        self.registry = SocketRegistry()
        self.session = _tracking_session(self.registry)
        self.direct = DirectRequests(self.registry, cancel)

    @property
    def stops_on_error(self) -> bool:
        return self.settings.on_error == STOP_WORKFLOW

    def finish(self, result: ItemResult, output: Mapping[str, Any] | None = None) -> None:
        """Record a finished item and count it, then report results and (throttled) progress."""
        self._record(result, output)
        self._report_results()
        self.progress()

    def finish_batch(self, batch: _Batch, number: int, reply: _Reply) -> None:
        """Record the items of batch request `number`, which share its reply, then report
        them.

        A sent batch of consecutive items, as batches mostly are, is recorded as one
        _SentBatch, whose items' results are made when they are read.

        NOTE: the sent items of one request share one output dict, so a caller that changes
        one item of `RunReport.output` changes the others of that request too.
        """
        indexes, count = batch.indexes, len(batch.indexes)
        first, last = indexes[0], indexes[-1]
        if reply.status == SENT:
            shared = {"success": True, **reply.output}
            if last - first + 1 == count:
                self.results[first : last + 1] = [
                    _SentBatch(first, batch.entries, number, reply)
                ] * count
                self.outputs[first : last + 1] = [shared] * count
                self.finished[first : last + 1] = b"\x01" * count
            else:
                for index, entry in zip(indexes, batch.entries, strict=True):
                    self.results[index] = reply.result(index, entry, number)
                    self.outputs[index] = shared
                    self.finished[index] = 1
            self.done += count
            self.sent += count
        else:
            for index, entry in zip(indexes, batch.entries, strict=True):
                self._record(reply.result(index, entry, number), reply.output)
        self._report_results()
        self.progress()

    def _record(self, result: ItemResult, output: Mapping[str, Any] | None) -> None:
        self.results[result.index] = result
        self.finished[result.index] = 1
        self.done += 1
        if result.status == SENT:
            self.sent += 1
            self.outputs[result.index] = {"success": True, **(output or {})}
        elif result.status == FAILED:
            self.failed += 1
            self._log_failure(result)
            if self.stops_on_error and self.stopped_at is None:
                self.stopped_at = result.index
                self.error = (
                    f"item {result.index + 1} failed, so the run stopped (On Error is Stop "
                    f"Workflow): {result.error}"
                )

    def _report_results(self) -> None:
        """Call on_result for the finished items in index order.

        Batch mode finishes an item that cannot be built before the items ahead of it are
        sent, so such a result waits here until every earlier item has finished.
        """
        if self.on_result is None:
            position = self.finished.find(0, self.reported)
            self.reported = self.total if position < 0 else position
            return
        results = self.results
        while self.reported < self.total:
            result = results[self.reported]
            if result is None:
                return
            if isinstance(result, _SentBatch):
                result = results[self.reported] = result.result(self.reported)
            self.reported += 1
            if self.on_result is not None:
                self.on_result(result)

    def _log_failure(self, result: ItemResult) -> None:
        if self.failed <= MAX_LOGGED_FAILURES:
            logger.warning("Item %d failed: %s", result.index + 1, result.error)
        if self.failed == MAX_LOGGED_FAILURES:
            logger.warning("More items may fail; they are counted at the end of the run")

    def progress(self, final: bool = False) -> None:
        if self.on_progress is None:
            return
        now = time.perf_counter()
        if not final and now - self.last_progress < PROGRESS_INTERVAL_SECONDS:
            return
        self.last_progress = now
        elapsed = now - self.started
        self.on_progress(
            RunProgress(
                done=self.done,
                total=self.total,
                sent=self.sent,
                failed=self.failed,
                rate_per_s=self.done / elapsed if elapsed > 0 else 0.0,
                current=None if final else self.current,
            )
        )

    def interrupted(self) -> bool:
        return self.stopped_at is not None or self.cancel.is_set()

    def post(self, base_url: str, message: Message, write_key: str, options: SendOptions) -> _Reply:
        """Send one request and describe its outcome. A non-2xx response is a failure."""
        started = time.perf_counter()
        try:
            response = send(
                base_url,
                message,
                write_key,
                options,
                cancel=self.cancel,
                session=self.session,
                direct=self.direct,
            )
        except SendCancelled as cancelled:
            # The request thread may still be reading, so end its read now.
            self.registry.shutdown_all()
            elapsed = (time.perf_counter() - started) * 1000
            return _Reply(CANCELLED, error=str(cancelled), elapsed_ms=elapsed, in_flight=True)
        except SendError as failure:
            elapsed = (time.perf_counter() - started) * 1000
            return _Reply(FAILED, error=str(failure), elapsed_ms=elapsed)

        text = response.text()
        stored_text = _cut_text(text)
        output = _response_object(text) if stored_text == text else {}
        status_line = f"{response.status} {response.reason}".strip()
        if not response.ok:
            detail = _cut_text(text, 300).strip()
            reason = f"HTTP {status_line}" + (f": {detail}" if detail else "")
            return _Reply(FAILED, response.status, stored_text, reason, response.elapsed_ms)
        return _Reply(SENT, response.status, stored_text, "", response.elapsed_ms, output=output)

    def mark_rest(self) -> None:
        """Give every item without a result its final status: cancelled when the run was
        cancelled, skipped when a failure stopped it."""
        if self.done == self.total:
            self._report_results()
            return
        for index, result in enumerate(self.results):
            if result is not None:
                continue
            if self.stopped_at is not None:
                error = "not sent: an earlier item failed and On Error is Stop Workflow"
                self._record(ItemResult(index, SKIPPED, error=error), None)
            else:
                error = "not sent: the run was cancelled"
                self._record(ItemResult(index, CANCELLED, error=error), None)
        self._report_results()

    def report(self) -> RunReport:
        entries: list[ItemResult | _SentBatch]
        indexes: Sequence[int]
        if self.done == self.total:
            entries = cast(list[ItemResult | _SentBatch], list(self.results))  # no None is left
            indexes = range(self.total)
        else:
            indexes = [index for index, entry in enumerate(self.results) if entry is not None]
            entries = [entry for entry in self.results if entry is not None]
        results = RunResults(entries, indexes)
        output: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        if self.sent == self.total:
            output = cast(list[dict[str, Any]], list(self.outputs))  # every item has one
        elif self.sent == len(entries):
            output = [item for item in self.outputs if item is not None]
        else:
            # Only sent items are _SentBatch entries, so every other entry is an ItemResult.
            for index, entry in zip(indexes, entries, strict=True):
                if entry.status == SENT:
                    sent_output = self.outputs[index]
                    assert sent_output is not None
                    output.append(sent_output)
                elif entry.status == FAILED:
                    assert isinstance(entry, ItemResult)
                    if self.settings.on_error == CONTINUE_REGULAR_OUTPUT:
                        output.append({"error": entry.error})
                    elif self.settings.on_error == CONTINUE_ERROR_OUTPUT:
                        errors.append({"error": entry.error})
        # NOTE: n8n gives a node that stopped the workflow no output at all. Here the items
        # sent before the failure stay in `output`, because Segment has received them.
        stopped = self.stopped_at is not None
        if self.settings.always_output_data and not output and not stopped:
            output.append({})
        cancelled = self.sent < len(entries) and any(entry.status == CANCELLED for entry in entries)
        return RunReport(
            results=results,
            output=output,
            errors=errors,
            cancelled=cancelled,
            elapsed_ms=(time.perf_counter() - self.started) * 1000,
            stopped_at=self.stopped_at,
            error=self.error,
        )

    def close(self) -> None:
        self.direct.close()
        self.session.close()


def run_items(
    spec: NodeSpec,
    values: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    settings: RunSettings,
    *,
    base_url: str,
    write_key: str,
    delivery: str = SINGLE,
    send_options: SendOptions | None = None,
    engine: ExpressionEngine,
    mode: str = SEGMENT_MODE,
    anonymous_id_for: Callable[[int], str] | None = None,
    cancel: threading.Event | None = None,
    on_progress: Callable[[RunProgress], None] | None = None,
    on_result: Callable[[ItemResult], None] | None = None,
) -> RunReport:
    """Send one message per input item and return what happened to each.

    `delivery` "single" posts each message on its own, in order, over one kept-alive
    connection. "batch" builds every message first and posts them to `{base_url}/batch` in
    as few requests as the size limits allow, and a failed batch fails all of its items.
    Parameters without an expression are composed once for the whole run (MessageTemplate).
    Setting `cancel` stops the run: a request in flight is cut within a second unless its
    response has arrived, and the items not yet sent are marked cancelled. `on_result` is called
    for each item in index order once it and every item before it have finished, and
    `on_progress` at most 10 times a second plus once at the end, both on the calling thread.
    """
    if delivery not in DELIVERIES:
        raise ValueError(f"delivery {delivery!r} is not valid; choose one of {list(DELIVERIES)}")
    inputs = _input_items(items)
    if settings.execute_once:
        inputs = inputs[:1]
    options = settings.send_options(send_options or SendOptions())
    run = _Run(len(inputs), settings, cancel or threading.Event(), on_progress, on_result)
    pin_environment(run.session, base_url)
    logger.info(
        "Run of %d item(s) started: delivery %s, On Error %s, %d tries per request",
        len(inputs),
        delivery,
        settings.on_error,
        options.max_tries,
    )
    builder = _ItemBuilder(spec, values, engine, mode, anonymous_id_for)
    try:
        if delivery == SINGLE:
            _run_single(run, builder, inputs, base_url, write_key, options)
        else:
            _run_batches(run, builder, inputs, base_url, write_key, options)
        run.mark_rest()
    finally:
        run.close()
    run.current = None
    run.progress(final=True)
    report = run.report()
    if logger.isEnabledFor(logging.INFO):
        counts = report.counts()
        logger.info(
            "Run of %d item(s) ended in %.0f ms: %d sent, %d failed, %d skipped, %d cancelled",
            len(inputs),
            report.elapsed_ms,
            counts[SENT],
            counts[FAILED],
            counts[SKIPPED],
            counts[CANCELLED],
        )
    return report


class _ItemBuilder:
    """Builds each item's message: from the run's MessageTemplate when the parameters contain
    no expression, else by resolving the expressions for the item and composing it."""

    def __init__(
        self,
        spec: NodeSpec,
        values: Mapping[str, Any],
        engine: ExpressionEngine,
        mode: str,
        anonymous_id_for: Callable[[int], str] | None,
    ) -> None:
        self.spec = spec
        self.values = values
        self.engine = engine
        self.mode = mode
        self.anonymous_id_for = anonymous_id_for
        self.template = MessageTemplate.create(spec, values, mode)
        self.uuids = _UUIDSource()

    def anonymous_id(self, index: int) -> str:
        return self.anonymous_id_for(index) if self.anonymous_id_for else self.uuids.next()

    def _template_ids(self, index: int) -> tuple[str, str]:
        assert self.template is not None
        # Without an anonymousId in the message, no ID is generated or requested for it.
        anonymous_id = self.anonymous_id(index) if self.template.uses_anonymous_id else ""
        return self.uuids.next(), anonymous_id

    def message(self, index: int, item: Mapping[str, Any]) -> tuple[Message | None, str]:
        """Return (the message of item `index`, "") or (None, why it could not be built)."""
        if self.template is not None:
            message = self.template.message(*self._template_ids(index))
            if message is not None:
                return message, ""
        built, error = _build_item(
            self.spec, self.values, item, index, self.engine, self.anonymous_id(index), self.mode
        )
        if built is None:
            return None, error
        return SerializedMessage(built.path, built.body, built.to_bytes()), ""

    def batch_item(
        self, index: int, item: Mapping[str, Any]
    ) -> tuple[dict[str, Any] | None, bytes, str]:
        """Return (batch item, its bytes, "") or (the item or None, b"", why it fits in no
        batch), checked against the 32 KB and batch size limits."""
        if self.template is not None:
            prepared = self.template.batch_item(*self._template_ids(index))
            if prepared is not None:
                batch_entry, data = prepared
                error = _batch_size_problem(len(data), DEFAULT_MAX_BATCH_BYTES, MAX_MESSAGE_BYTES)
                return batch_entry, (b"" if error else data), error
        message, error = self.message(index, item)
        if message is None:
            return None, b"", error
        try:
            batch_entry = batch_item(message)
        except ValueError as problem:
            return message.body, b"", str(problem)
        data = serialize(batch_entry)
        error = _batch_size_problem(len(data), DEFAULT_MAX_BATCH_BYTES, MAX_MESSAGE_BYTES)
        return batch_entry, (b"" if error else data), error


def _run_single(
    run: _Run,
    builder: _ItemBuilder,
    inputs: list[Mapping[str, Any]],
    base_url: str,
    write_key: str,
    options: SendOptions,
) -> None:
    """Build and send the items one after the other, as n8n's node does."""
    for index, item in enumerate(inputs):
        if run.interrupted():
            return
        run.current = index
        run.progress()
        message, error = builder.message(index, item)
        if message is None:
            run.finish(ItemResult(index, FAILED, error=error))
            continue
        reply = run.post(base_url, message, write_key, options)
        run.finish(reply.result(index, message.body), reply.output)


def _run_batches(
    run: _Run,
    builder: _ItemBuilder,
    inputs: list[Mapping[str, Any]],
    base_url: str,
    write_key: str,
    options: SendOptions,
) -> None:
    """Build and check the messages in index order and pack them into batches, and post each
    full batch while the next one is built.

    A batch closes when the next item would not fit, so the batches are those of
    `pack_batches`. Under Stop Workflow an item that cannot be built first sends the batch
    of the items before it and waits for the reply. So a run ends the same way in batch mode
    as in single mode, at the first failed item. Each item is serialized once, and a
    batch body is the join of its items' bytes.
    """
    sender = _BatchSender(run, base_url, write_key, options)
    try:
        per_batch = _items_per_batch(builder)
        if per_batch:
            _send_template_batches(run, builder, len(inputs), per_batch, sender)
        else:
            _build_and_send(run, builder, inputs, sender)
    finally:
        sender.join()


def _items_per_batch(builder: _ItemBuilder) -> int:
    """Return how many items fill a batch when every item comes from the run's template with
    generated IDs and so has the same size, or 0 when items must be built one by one."""
    template = builder.template
    if template is None or (builder.anonymous_id_for and template.uses_anonymous_id):
        return 0
    size = template.batch_item_size()
    if size is None or _batch_size_problem(size, DEFAULT_MAX_BATCH_BYTES, MAX_MESSAGE_BYTES):
        return 0
    # n items take BATCH_ENVELOPE_BYTES + n × size + (n − 1) commas.
    return (DEFAULT_MAX_BATCH_BYTES - BATCH_ENVELOPE_BYTES + 1) // (size + 1)


def _send_template_batches(
    run: _Run, builder: _ItemBuilder, count: int, per_batch: int, sender: _BatchSender
) -> None:
    """Build and send the batches of a run whose items all come from its template.

    No such item can fail to build, and all have one size, so the batches are those of
    `pack_batches`: `per_batch` items each, built a batch at a time.
    """
    assert builder.template is not None
    for start in range(0, count, per_batch):
        if run.interrupted():
            break
        run.current = start
        run.progress()
        indexes = range(start, min(start + per_batch, count))
        sender.send(builder.template.batch(indexes, builder.uuids))
        if start == 0 and per_batch < count:
            sender.wait_for_connection()
    sender.wait()


def _build_and_send(
    run: _Run, builder: _ItemBuilder, inputs: list[Mapping[str, Any]], sender: _BatchSender
) -> None:
    current: list[tuple[int, dict[str, Any], bytes]] = []
    current_bytes = BATCH_ENVELOPE_BYTES
    for index, item in enumerate(inputs):
        if run.interrupted():
            break
        run.current = index
        run.progress()
        batch_entry, data, error = builder.batch_item(index, item)
        if error:
            if run.stops_on_error:
                sender.send(_joined_batch(current))
                current, current_bytes = [], BATCH_ENVELOPE_BYTES
                sender.wait()
                if run.interrupted():
                    break
            run.finish(ItemResult(index, FAILED, payload=batch_entry, error=error))
            continue
        assert batch_entry is not None
        separator = 1 if current else 0  # the comma between items
        if current and current_bytes + separator + len(data) > DEFAULT_MAX_BATCH_BYTES:
            sender.send(_joined_batch(current))
            current, current_bytes, separator = [], BATCH_ENVELOPE_BYTES, 0
        current.append((index, batch_entry, data))
        current_bytes += separator + len(data)
    sender.send(_joined_batch(current))
    sender.wait()


def _joined_batch(items: list[tuple[int, dict[str, Any], bytes]]) -> _Batch:
    """Return the batch of these (index, batch item, its bytes), its body joined from the
    items' bytes."""
    return _Batch(
        [index for index, _entry, _data in items],
        [entry for _index, entry, _data in items],
        _BATCH_HEAD + b",".join([data for _index, _entry, data in items]) + _BATCH_TAIL,
    )


class _BatchSender:
    """Posts a run's batches in order on one thread of `worker_pool`, while the run thread
    builds the next batch and records the replies, in item order.

    At most MAX_OUTSTANDING batches are sent and not yet recorded: one in flight and one
    queued, so the thread posts the next batch as soon as a reply arrives. The thread posts
    nothing more after a cancel, an exception, or a failed batch under Stop Workflow. The
    batches it does not post get no results, so `_Run.mark_rest` marks their items.
    """

    MAX_OUTSTANDING = 2

    def __init__(self, run: _Run, base_url: str, write_key: str, options: SendOptions) -> None:
        self.run = run
        self.base_url = base_url
        self.write_key = write_key
        self.options = options
        self.number = 0  # the number of the next batch whose reply is recorded
        self.outstanding = 0
        self.condition = threading.Condition()
        self.queued: deque[_Batch | None] = deque()  # None stops the thread
        self.replies: deque[tuple[_Batch, _Reply | BaseException | None]] = deque()
        self.started = False
        self.stopped = threading.Event()  # set when _post_queued returns

    def send(self, batch: _Batch) -> None:
        """Queue `batch` unless it is empty or the run was interrupted. First record replies
        until fewer than MAX_OUTSTANDING batches are outstanding."""
        while self.outstanding >= self.MAX_OUTSTANDING:
            self._record_next()
        if not batch.indexes or self.run.interrupted():
            return
        self.run.current = batch.indexes[0]
        with self.condition:
            self.queued.append(batch)
            self.outstanding += 1
            self.condition.notify_all()
        if not self.started:
            self.started = True
            worker_pool.submit(self._post_queued)

    def _post_queued(self) -> None:
        """Post each queued batch in turn, on the sender's thread, until None is queued."""
        try:
            self._post_until_stopped()
        finally:
            self.stopped.set()

    def _post_until_stopped(self) -> None:
        halted = False
        while True:
            with self.condition:
                while not self.queued:
                    self.condition.wait()
                batch = self.queued.popleft()
            if batch is None:
                return
            reply: _Reply | BaseException | None = None
            if not halted and not self.run.cancel.is_set():
                message = SerializedMessage("batch", {"batch": batch.entries}, batch.data)
                try:
                    posted = self.run.post(self.base_url, message, self.write_key, self.options)
                except BaseException as error:  # re-raised on the run thread by _record_next
                    reply, halted = error, True
                else:
                    reply = posted
                    halted = posted.status == CANCELLED
                    halted = halted or (posted.status == FAILED and self.run.stops_on_error)
            with self.condition:
                self.replies.append((batch, reply))
                self.condition.notify_all()

    def wait_for_connection(self) -> None:
        """Wait until the run's session has opened its connection, or a reply has arrived.

        Building a batch holds the GIL for about 0.5 ms. While the first request connects,
        which takes a thread of `worker_pool` and the sender's thread in turn, building the
        next batch delayed the first request by about 1 ms. Connections made through a
        proxy are not registered, so such a run waits for the first reply instead.
        """
        connected = self.run.registry.connected
        while not connected.wait(CANCEL_POLL_SECONDS):
            with self.condition:
                if self.replies or not self.outstanding:
                    return
            if self.run.cancel.is_set():
                return

    def wait(self) -> None:
        """Wait for every outstanding batch and record its items' results."""
        while self.outstanding:
            self._record_next()

    def join(self) -> None:
        """Stop the thread, without recording results. With a batch still outstanding, wait
        until its post has ended, so the run's session is not closed under it."""
        if not self.started:
            return
        with self.condition:
            self.queued.clear()
            self.queued.append(None)
            self.condition.notify_all()
            idle = self.outstanding == 0  # every reply is recorded, so nothing is posting
        if not idle:
            self.stopped.wait()

    def _record_next(self) -> None:
        """Wait for the oldest outstanding batch and record its items' results."""
        with self.condition:
            while not self.replies:
                self.condition.wait()
            batch, reply = self.replies.popleft()
            self.outstanding -= 1
        if reply is None:
            return  # not posted
        number = self.number
        self.number += 1
        if isinstance(reply, BaseException):
            raise reply
        if reply.status == FAILED:
            first, last = batch.indexes[0] + 1, batch.indexes[-1] + 1
            reply.error = f"the batch request with items {first} to {last} failed: {reply.error}"
        self.run.finish_batch(batch, number, reply)
