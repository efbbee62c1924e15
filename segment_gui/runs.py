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
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from segment_gui.expressions import ExpressionEngine, ExpressionError
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
    SendCancelled,
    SendError,
    SendOptions,
    SocketRegistry,
    _tracking_session,
    send,
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

# Message paths that Segment's batch endpoint accepts as an item's "type".
BATCH_TYPES = ("identify", "track", "page", "screen", "group", "alias")

# Response text kept per item, so a run over many items does not hold every response body.
# A longer response is not merged into the item's output either.
MAX_RESPONSE_BYTES = 2048
# on_progress is called at most once per interval, plus once when the run ends.
PROGRESS_INTERVAL_SECONDS = 0.05
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


@dataclass
class ItemResult:
    """The outcome of one input item.

    `payload` is the body that was or would have been posted (the batch item, with its
    "type", in batch mode), or None when the message could not be built. `response` is at
    most MAX_RESPONSE_BYTES of the response text. `batch` is the 0-based number of the batch
    request that carried the item. `in_flight` marks a cancelled item whose request had
    started, so the server may have received it.
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

    results: list[ItemResult]
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
        return [result.index for result in self.results if result.status == status]

    def sent(self) -> list[int]:
        return self.with_status(SENT)

    def failed(self) -> list[int]:
        return self.with_status(FAILED)

    @property
    def ok(self) -> bool:
        """True when every item was sent: nothing failed, was skipped or was cancelled."""
        return all(result.status == SENT for result in self.results)

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


def _check_batch_item(
    message: Message, max_batch_bytes: int, max_message_bytes: int
) -> tuple[dict[str, Any], int, str]:
    """Return (batch item, its serialized size, "") or (item, size, why it fits in no batch)."""
    try:
        item = batch_item(message)
    except ValueError as error:
        return {}, 0, str(error)
    size = len(serialize(item))
    if size > max_message_bytes:
        return (
            item,
            size,
            f"the message is {size:,} bytes as a batch item; Segment accepts at most "
            f"{max_message_bytes:,} bytes per message. Remove some traits, properties or context",
        )
    if BATCH_ENVELOPE_BYTES + size > max_batch_bytes:
        return (
            item,
            size,
            f"the message is {size:,} bytes as a batch item and does not fit in a batch of at "
            f"most {max_batch_bytes:,} bytes",
        )
    return item, size, ""


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
    batches: list[list[tuple[int, dict[str, Any]]]] = []
    errors: dict[int, str] = {}
    current: list[tuple[int, dict[str, Any]]] = []
    current_bytes = BATCH_ENVELOPE_BYTES

    for index, message in messages:
        item, size, error = _check_batch_item(message, max_batch_bytes, max_message_bytes)
        if error:
            errors[index] = error
            continue
        separator = 1 if current else 0  # the comma between items
        if current and current_bytes + separator + size > max_batch_bytes:
            batches.append(current)
            current, current_bytes, separator = [], BATCH_ENVELOPE_BYTES, 0
        current.append((index, item))
        current_bytes += separator + size

    if current:
        batches.append(current)
    return batches, errors


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


class _Run:
    """State of one `run_items` call: the results so far, counters and the HTTP session."""

    def __init__(
        self,
        indexes: list[int],
        settings: RunSettings,
        cancel: threading.Event,
        on_progress: Callable[[RunProgress], None] | None,
        on_result: Callable[[ItemResult], None] | None,
    ) -> None:
        self.indexes = indexes
        self.settings = settings
        self.cancel = cancel
        self.on_progress = on_progress
        self.on_result = on_result
        self.results: dict[int, ItemResult] = {}
        self.outputs: dict[int, dict[str, Any]] = {}
        self.sent = 0
        self.failed = 0
        self.current: int | None = None
        self.stopped_at: int | None = None  # the failed item that stopped the run
        self.error = ""
        self.started = time.perf_counter()
        self.last_progress = -math.inf
        # One kept-alive session for the whole run. Its sockets register here, so a cancel
        # can shut down the one in flight instead of leaving it until the read timeout.
        self.registry = SocketRegistry()
        self.session = _tracking_session(self.registry)

    @property
    def stops_on_error(self) -> bool:
        return self.settings.on_error == STOP_WORKFLOW

    def finish(self, result: ItemResult, output: Mapping[str, Any] | None = None) -> None:
        """Record a finished item, count it, and call on_result and (throttled) on_progress."""
        self.results[result.index] = result
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
        if self.on_result is not None:
            self.on_result(result)
        self.progress()

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
        done = len(self.results)
        elapsed = now - self.started
        self.on_progress(
            RunProgress(
                done=done,
                total=len(self.indexes),
                sent=self.sent,
                failed=self.failed,
                rate_per_s=done / elapsed if elapsed > 0 else 0.0,
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
                base_url, message, write_key, options, cancel=self.cancel, session=self.session
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
        for index in self.indexes:
            if index in self.results:
                continue
            if self.stopped_at is not None:
                error = "not sent: an earlier item failed and On Error is Stop Workflow"
                self.finish(ItemResult(index, SKIPPED, error=error))
            else:
                self.finish(ItemResult(index, CANCELLED, error="not sent: the run was cancelled"))

    def report(self) -> RunReport:
        results = [self.results[index] for index in self.indexes]
        output: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for result in results:
            if result.status == SENT:
                output.append(self.outputs[result.index])
            elif result.status == FAILED:
                if self.settings.on_error == CONTINUE_REGULAR_OUTPUT:
                    output.append({"error": result.error})
                elif self.settings.on_error == CONTINUE_ERROR_OUTPUT:
                    errors.append({"error": result.error})
        # NOTE: n8n gives a node that stopped the workflow no output at all. Here the items
        # sent before the failure stay in `output`, because Segment has received them.
        stopped = self.stopped_at is not None
        if self.settings.always_output_data and not output and not stopped:
            output.append({})
        cancelled = any(result.status == CANCELLED for result in results)
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
    Setting `cancel` stops the run: a request in flight is cut within a second unless its
    response has arrived, and the items not yet sent are marked cancelled. `on_result` is called
    for each item as it finishes and `on_progress` at most 20 times a second plus once at the
    end, both on the calling thread.
    """
    if delivery not in DELIVERIES:
        raise ValueError(f"delivery {delivery!r} is not valid; choose one of {list(DELIVERIES)}")
    inputs = _input_items(items)
    if settings.execute_once:
        inputs = inputs[:1]
    options = settings.send_options(send_options or SendOptions())
    run = _Run(
        list(range(len(inputs))), settings, cancel or threading.Event(), on_progress, on_result
    )
    logger.info(
        "Run of %d item(s) started: delivery %s, On Error %s, %d tries per request",
        len(inputs),
        delivery,
        settings.on_error,
        options.max_tries,
    )

    def anonymous_id(index: int) -> str:
        return anonymous_id_for(index) if anonymous_id_for else new_message_id()

    try:
        if delivery == SINGLE:
            _run_single(
                run, spec, values, inputs, engine, mode, anonymous_id, base_url, write_key, options
            )
        else:
            _run_batches(
                run, spec, values, inputs, engine, mode, anonymous_id, base_url, write_key, options
            )
        run.mark_rest()
    finally:
        run.close()
    run.current = None
    run.progress(final=True)
    report = run.report()
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


def _run_single(
    run: _Run,
    spec: NodeSpec,
    values: Mapping[str, Any],
    inputs: list[Mapping[str, Any]],
    engine: ExpressionEngine,
    mode: str,
    anonymous_id: Callable[[int], str],
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
        message, error = _build_item(spec, values, item, index, engine, anonymous_id(index), mode)
        if message is None:
            run.finish(ItemResult(index, FAILED, error=error))
            continue
        reply = run.post(base_url, message, write_key, options)
        result = ItemResult(
            index,
            reply.status,
            payload=message.body,
            http_status=reply.http_status,
            response=reply.response,
            error=reply.error,
            elapsed_ms=reply.elapsed_ms,
            in_flight=reply.in_flight,
        )
        run.finish(result, reply.output)


def _run_batches(
    run: _Run,
    spec: NodeSpec,
    values: Mapping[str, Any],
    inputs: list[Mapping[str, Any]],
    engine: ExpressionEngine,
    mode: str,
    anonymous_id: Callable[[int], str],
    base_url: str,
    write_key: str,
    options: SendOptions,
) -> None:
    """Build and check every message, pack them into batches and send the batches in order.

    Items are built and checked in index order, and under Stop Workflow the items before the
    first failed one are still sent, so a run ends the same way in batch mode as in single
    mode.
    """
    built: list[tuple[int, Message]] = []
    for index, item in enumerate(inputs):
        if run.interrupted():
            break
        run.current = index
        run.progress()
        message, error = _build_item(spec, values, item, index, engine, anonymous_id(index), mode)
        if message is None:
            run.finish(ItemResult(index, FAILED, error=error))
            continue
        checked, _size, error = _check_batch_item(
            message, DEFAULT_MAX_BATCH_BYTES, MAX_MESSAGE_BYTES
        )
        if error:
            run.finish(ItemResult(index, FAILED, payload=checked or message.body, error=error))
            continue
        built.append((index, message))
    if run.cancel.is_set():
        return

    # Every message passed the checks above, so packing reports no errors.
    batches, _errors = pack_batches(built)
    for number, batch in enumerate(batches):
        if run.cancel.is_set():
            return
        if run.stopped_at is not None and batch[0][0] > run.stopped_at:
            return
        run.current = batch[0][0]
        run.progress()
        body = {"batch": [item for _index, item in batch]}
        reply = run.post(base_url, Message("batch", body), write_key, options)
        if reply.status == FAILED:
            first, last = batch[0][0] + 1, batch[-1][0] + 1
            reply.error = f"the batch request with items {first} to {last} failed: {reply.error}"
        for index, item in batch:
            result = ItemResult(
                index,
                reply.status,
                payload=item,
                http_status=reply.http_status,
                response=reply.response,
                error=reply.error,
                elapsed_ms=reply.elapsed_ms,
                batch=number,
                in_flight=reply.in_flight,
            )
            run.finish(result, reply.output)
