"""Evaluate n8n expressions in parameter values with V8, through mini-racer.

A parameter value is an expression when it is a string starting with `=`. Everything inside
`{{ … }}` is JavaScript, evaluated once per input item, and text outside the braces is kept as
written. When the value after `=` is exactly one `{{ … }}` segment (whitespace around it
allowed), the result keeps its JavaScript type: number, boolean, string, object, array or null
(`undefined` becomes None). Otherwise each segment is converted to text and the pieces are
joined: objects and arrays through `JSON.stringify`, null and undefined as empty text, dates
as ISO 8601 text and everything else through `String()`.

Expressions see these variables:

- `$json`: the current input item. Each expression gets its own copy, so changing it in one
  expression leaves the item unchanged for the next one.
- `$input.item.json`: the same item. Only `$input.item` exists, not `$input.all()`,
  `first()` or `last()`.
- `$itemIndex`: the position of the item in the input.
- `$parameter`: the node's parameters as stored, so `$parameter["userId"]` of an expression
  field is the expression text, not its result.
- `$now` and `$today`: the evaluation time and the start of that day (see below).
- `$uuid()`: a random UUID version 4, built from bytes that Python reads from
  `secrets.token_hex`, never from `Math.random`.

`$now` and `$today` are JavaScript `Date` objects (a subclass) with a few methods of Luxon's
DateTime, which n8n uses for them: `toISO()`, `toISODate()`, `toMillis()`, `toSeconds()`,
`toUnixInteger()`, `toFormat()` with a subset of Luxon's tokens, and the properties `year`,
`month` (1 to 12), `day`, `hour`, `minute`, `second`, `millisecond`, `weekday` (1 is Monday)
and `offset` (minutes east of UTC). `String($now)` and `JSON.stringify($now)` give `toISO()`
text, as Luxon's do. All `Date` methods (`getTime()`, `toISOString()`, …) work as well. Times
are in the local time zone of this process.

Sandbox: V8 runs without any bridge to Python, so expressions cannot reach files, the network
or the application. Data goes in as JSON text and results come back as JSON text, so the
Python types are exactly those of `json.loads`. Each evaluation has a time limit, and the V8
heap has a memory limit. An expression that exceeds either fails with an ExpressionError, and
later evaluations work again.

Thread safety: one lock guards the V8 context of an engine, so the GUI thread (live preview)
and a worker thread (runs) can share one engine. A call waits while another thread is
evaluating, for at most about the other call's time limit per expression.

V8 starts only when the first `{{ }}` segment has to be evaluated; importing this module does
not import mini-racer.
"""

from __future__ import annotations

import atexit
import functools
import json
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from py_mini_racer import MiniRacer

EXPRESSION_TIP = "Anything inside {{ }} is JavaScript."

DEFAULT_TIMEOUT_MS = 1000
DEFAULT_MAX_MEMORY_BYTES = 64 * 1024 * 1024

# `$uuid()` draws 16 random bytes per call from a pool that Python fills before each
# evaluation: one UUID per `$uuid` in the code at first. An evaluation that needs more is run
# again with a pool 8 times larger, up to this many UUIDs.
MAX_UUIDS_PER_EVALUATION = 65536

# Maximum wait, after a timeout, for V8 to end the stopped evaluation (see _wait_for_stop).
STOP_WAIT_SECONDS = 30.0

# Every integer up to this size is exact as a JavaScript number (a double).
_EXACT_INTEGER_LIMIT = 2**53

# Name of the frozen object through which Python drives the JavaScript side.
_API = "__segmentGui"

# NOTE: `$now`/`$today` differ from n8n's Luxon DateTime objects. Luxon methods missing from
# the module docstring's list, such as `plus`, `minus`, `setZone`, `startOf` and `diff`, fail
# with "TypeError: … is not a function". `toFormat` rejects tokens missing from FORMAT_TOKENS,
# such as month and weekday names. Times use this process's local time zone, not the n8n
# workflow's time zone setting.
_PRELUDE = r"""
(() => {
  "use strict";

  const ARGUMENT_NAMES = ["$json", "$input", "$itemIndex", "$parameter", "$now", "$today", "$uuid"];
  // Live preview compiles a new function per keystroke, so the cache is emptied at this size.
  const MAX_COMPILED = 2000;
  const compiled = new Map();

  let plan = [];
  let parametersText = "{}";
  let itemText = "{}";
  let itemIndex = 0;
  let nowMs = 0;
  let randomHex = "";
  let randomOffset = 0;
  let randomExhausted = false;

  const pad = (number, width) => String(number).padStart(width, "0");

  function formatOffset(date, style) {
    const minutes = -date.getTimezoneOffset();
    const sign = minutes < 0 ? "-" : "+";
    const hours = Math.floor(Math.abs(minutes) / 60);
    const rest = Math.abs(minutes) % 60;
    if (style === "Z") {
      return sign + hours + (rest ? ":" + pad(rest, 2) : "");
    }
    if (style === "ZZ") {
      return sign + pad(hours, 2) + ":" + pad(rest, 2);
    }
    return sign + pad(hours, 2) + pad(rest, 2);
  }

  // Luxon token -> formatter; the meaning of each token follows Luxon's toFormat.
  const FORMAT_TOKENS = {
    yyyy: (d) => pad(d.getFullYear(), 4),
    yy: (d) => pad(d.getFullYear() % 100, 2),
    y: (d) => String(d.getFullYear()),
    MM: (d) => pad(d.getMonth() + 1, 2),
    M: (d) => String(d.getMonth() + 1),
    dd: (d) => pad(d.getDate(), 2),
    d: (d) => String(d.getDate()),
    HH: (d) => pad(d.getHours(), 2),
    H: (d) => String(d.getHours()),
    hh: (d) => pad(d.getHours() % 12 || 12, 2),
    h: (d) => String(d.getHours() % 12 || 12),
    mm: (d) => pad(d.getMinutes(), 2),
    m: (d) => String(d.getMinutes()),
    ss: (d) => pad(d.getSeconds(), 2),
    s: (d) => String(d.getSeconds()),
    SSS: (d) => pad(d.getMilliseconds(), 3),
    S: (d) => String(d.getMilliseconds()),
    a: (d) => (d.getHours() < 12 ? "AM" : "PM"),
    Z: (d) => formatOffset(d, "Z"),
    ZZ: (d) => formatOffset(d, "ZZ"),
    ZZZ: (d) => formatOffset(d, "ZZZ"),
  };
  const SUPPORTED_TOKENS = Object.keys(FORMAT_TOKENS).join(" ");

  function formatDate(date, pattern) {
    if (Number.isNaN(date.getTime())) {
      return "Invalid DateTime";
    }
    const text = String(pattern);
    let output = "";
    let index = 0;
    while (index < text.length) {
      const character = text[index];
      if (character === "'") {
        // Quoted text is literal, and '' is one quote.
        const end = text.indexOf("'", index + 1);
        if (end === -1) {
          throw new RangeError("toFormat(): the quote at position " + index + " is not closed");
        }
        output += end === index + 1 ? "'" : text.slice(index + 1, end);
        index = end + 1;
      } else if (/[A-Za-z]/.test(character)) {
        let end = index;
        while (text[end] === character) {
          end += 1;
        }
        const token = text.slice(index, end);
        if (!Object.hasOwn(FORMAT_TOKENS, token)) {
          throw new RangeError(
            'toFormat(): the token "' + token + '" is not supported; supported tokens: ' +
              SUPPORTED_TOKENS + "; put literal letters in single quotes",
          );
        }
        output += FORMAT_TOKENS[token](date);
        index = end;
      } else {
        output += character;
        index += 1;
      }
    }
    return output;
  }

  class ExpressionDate extends Date {
    get year() { return this.getFullYear(); }
    get month() { return this.getMonth() + 1; }
    get day() { return this.getDate(); }
    get hour() { return this.getHours(); }
    get minute() { return this.getMinutes(); }
    get second() { return this.getSeconds(); }
    get millisecond() { return this.getMilliseconds(); }
    get weekday() { return this.getDay() === 0 ? 7 : this.getDay(); }
    get offset() { return -this.getTimezoneOffset(); }
    toISO() {
      return Number.isNaN(this.getTime()) ? null : formatDate(this, "yyyy-MM-dd'T'HH:mm:ss.SSSZZ");
    }
    toISODate() {
      return Number.isNaN(this.getTime()) ? null : formatDate(this, "yyyy-MM-dd");
    }
    toMillis() { return this.getTime(); }
    toSeconds() { return this.getTime() / 1000; }
    toUnixInteger() { return Math.floor(this.getTime() / 1000); }
    toFormat(pattern) { return formatDate(this, pattern); }
    toString() { return formatDate(this, "yyyy-MM-dd'T'HH:mm:ss.SSSZZ"); }
    toJSON() { return this.toISO(); }
  }

  function uuid() {
    if (randomOffset + 32 > randomHex.length) {
      randomExhausted = true;
      throw new Error(
        "$uuid() was called more than " + Math.floor(randomHex.length / 32) +
          " times in one evaluation",
      );
    }
    const hex = randomHex.slice(randomOffset, randomOffset + 32);
    randomOffset += 32;
    // RFC 9562 version 4: the version nibble is 4 and the variant bits are 10.
    const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-4" + hex.slice(13, 16) + "-" +
      variant + hex.slice(17, 20) + "-" + hex.slice(20, 32);
  }

  function compile(code) {
    let entry = compiled.get(code);
    if (entry === undefined) {
      if (compiled.size >= MAX_COMPILED) {
        compiled.clear();
      }
      try {
        // The line breaks keep a trailing // comment from swallowing the parenthesis.
        entry = code.trim() === ""
          ? () => undefined
          : new Function(...ARGUMENT_NAMES, "return (\n" + code + "\n);");
      } catch (error) {
        entry = { compileError: error };
      }
      compiled.set(code, entry);
    }
    if (typeof entry !== "function") {
      throw entry.compileError;
    }
    return entry;
  }

  function toText(value) {
    if (value === null || value === undefined) {
      return "";
    }
    if (value instanceof Date) {
      return String(value.toJSON() ?? "");
    }
    if (typeof value === "object") {
      return JSON.stringify(value) ?? "";
    }
    return String(value);
  }

  function describeError(error) {
    try {
      if (error instanceof Error) {
        return error.name + ": " + error.message;
      }
      const text = typeof error === "string" ? error : JSON.stringify(error) ?? String(error);
      return "Uncaught " + text;
    } catch {
      return "Uncaught exception that cannot be converted to text";
    }
  }

  function evaluateSegment(segment) {
    const item = JSON.parse(itemText);
    const today = new ExpressionDate(nowMs);
    today.setHours(0, 0, 0, 0);
    const value = compile(segment.code)(
      item,
      { item: { json: item } },
      itemIndex,
      JSON.parse(parametersText),
      new ExpressionDate(nowMs),
      today,
      uuid,
    );
    return segment.text ? JSON.stringify(toText(value)) : JSON.stringify(value);
  }

  // A null plan or parameters text keeps the one sent before.
  function setup(planText, newParametersText, newItemText, newItemIndex, newNowMs, newRandomHex) {
    if (planText !== null) {
      plan = JSON.parse(planText);
    }
    if (newParametersText !== null) {
      parametersText = newParametersText;
    }
    itemText = newItemText;
    itemIndex = newItemIndex;
    nowMs = newNowMs;
    randomHex = newRandomHex;
    randomOffset = 0;
  }

  // Evaluate the plan's segments (all of them, or those at `indices`). Returns JSON text:
  // {"x": whether $uuid() ran out of random bytes, "r": [{"v": value} or {} or {"e": error}]}.
  function run(indices) {
    randomExhausted = false;
    const selected = indices === null ? plan.map((_, index) => index) : indices;
    const results = [];
    for (const index of selected) {
      try {
        const text = evaluateSegment(plan[index]);
        results.push(text === undefined ? "{}" : '{"v":' + text + "}");
      } catch (error) {
        results.push(JSON.stringify({ e: describeError(error) }));
      }
    }
    return '{"x":' + randomExhausted + ',"r":[' + results.join(",") + "]}";
  }

  Object.defineProperty(globalThis, "__segmentGui", {
    value: Object.freeze({ setup, run }),
    writable: false,
    configurable: false,
    enumerable: false,
  });
})();
"""


class ExpressionError(ValueError):
    """An expression that could not be evaluated.

    `expression` is the failing `{{ … }}` segment as written (from `{{` to the end when `}}` is
    missing), or "" when the item or parameters cannot be converted to JSON. `path` is the
    parameter path in `resolve`, else "".
    """

    def __init__(self, message: str, *, expression: str = "", path: str = "") -> None:
        super().__init__(message)
        self.expression = expression
        self.path = path


def is_expression(value: object) -> bool:
    """Return whether `value` is an n8n expression: a string that starts with `=`."""
    return isinstance(value, str) and value.startswith("=")


@dataclass(frozen=True)
class _Segment:
    """One `{{ … }}` part of an expression."""

    source: str
    code: str


@dataclass(frozen=True)
class _Template:
    """A parsed expression: literal text and segments, in order."""

    parts: tuple[str | _Segment, ...]
    keeps_type: bool

    @property
    def segments(self) -> list[_Segment]:
        return [part for part in self.parts if isinstance(part, _Segment)]


@functools.lru_cache(maxsize=4096)
def _parse_template(value: str, as_text: bool = False) -> _Template:
    """Split an expression (with its leading `=`) into literal text and `{{ }}` segments.

    Raises ExpressionError when a `{{` has no closing `}}`. With `as_text`, the result is
    always text, even for a single segment.
    """
    expression = value[1:]
    parts: list[str | _Segment] = []
    position = 0
    while True:
        start = expression.find("{{", position)
        if start == -1:
            break
        end = _find_segment_end(expression, start + 2)
        if end == -1:
            source = expression[start:]
            raise ExpressionError(
                f"{source}: the closing }}}} is missing", expression=source.strip()
            )
        if start > position:
            parts.append(expression[position:start])
        parts.append(_Segment(expression[start : end + 2], expression[start + 2 : end]))
        position = end + 2
    if position < len(expression):
        parts.append(expression[position:])

    segments = [part for part in parts if isinstance(part, _Segment)]
    literal_text = "".join(part for part in parts if isinstance(part, str))
    keeps_type = not as_text and len(segments) == 1 and literal_text.strip() == ""
    return _Template(tuple(parts), keeps_type)


def _find_segment_end(text: str, start: int) -> int:
    """Return the index of the `}}` that closes the segment whose code starts at `start`.

    Braces, quotes and template literals in the JavaScript code are tracked, so an object
    literal such as `{{ {a: {b: 1}} }}` or a string containing `}}` does not end the segment.
    When the code is not balanced, the first `}}` is taken and V8 reports the syntax error.
    Returns -1 when there is no `}}` at all.
    """
    # Open constructs, innermost last: "{" (brace), "`" (template literal) and "${"
    # (substitution inside a template literal).
    stack: list[str] = []
    quote = ""
    index = start
    while index < len(text):
        character = text[index]
        if stack and stack[-1] == "`":
            if character == "\\":
                index += 2
                continue
            if character == "`":
                stack.pop()
            elif text.startswith("${", index):
                stack.append("${")
                index += 2
                continue
        elif quote:
            if character == "\\":
                index += 2
                continue
            if character == quote or character == "\n":
                quote = ""
        elif character in "'\"":
            quote = character
        elif character == "`":
            stack.append("`")
        elif character == "{":
            stack.append("{")
        elif character == "}":
            if stack:
                stack.pop()
            elif text.startswith("}}", index):
                return index
        index += 1
    return text.find("}}", start)


@dataclass(frozen=True)
class _ItemState:
    """Input of one evaluation, as the JSON text and numbers sent to V8."""

    item_text: str
    item_index: int
    parameters_text: str
    now_ms: int


@dataclass(frozen=True)
class _Outcome:
    """The result of one segment: `value`, or `error` when it failed."""

    value: Any = None
    error: str = ""


class _Stopped(Exception):
    """V8 stopped an evaluation because it reached the time or memory limit."""


class ExpressionEngine:
    """Evaluate n8n expressions in a sandboxed V8 context, started on first use.

    `timeout_ms` is the default time limit per evaluation and `max_memory_bytes` the limit of
    the V8 heap.

    NOTE: the contents of ArrayBuffers and typed arrays live outside the V8 heap, so the
    memory limit does not count them: `new Uint8Array(1e9)` is not stopped.
    """

    def __init__(
        self,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        max_memory_bytes: int = DEFAULT_MAX_MEMORY_BYTES,
    ) -> None:
        if timeout_ms <= 0:
            raise ValueError(f"timeout_ms must be positive, got {timeout_ms}")
        if max_memory_bytes <= 0:
            raise ValueError(f"max_memory_bytes must be positive, got {max_memory_bytes}")
        self.timeout_ms = timeout_ms
        self.max_memory_bytes = max_memory_bytes
        self._lock = threading.Lock()
        self._racer: MiniRacer | None = None
        # Plan and parameters as last sent to V8, so that they are sent again only on change.
        self._sent_plan: str | None = None
        self._sent_parameters: str | None = None

    @property
    def started(self) -> bool:
        """Whether V8 is running for this engine."""
        return self._racer is not None

    def evaluate(
        self,
        value: str,
        *,
        item: Mapping[str, Any] | None = None,
        item_index: int = 0,
        parameters: Mapping[str, Any] | None = None,
        now: datetime | None = None,
        timeout_ms: int | None = None,
    ) -> Any:
        """Evaluate one parameter value for an item and return the result.

        A value that is not an expression is returned unchanged. Raises ExpressionError when
        the expression fails, with the failing segment in the message.
        """
        if not is_expression(value):
            return value
        template = _parse_template(value)
        state = self._item_state(item, item_index, parameters or {}, now)
        results, errors = self._evaluate_templates([("", template)], state, timeout_ms)
        if errors:
            raise errors[""]
        return results[""]

    def resolve(
        self,
        values: Mapping[str, Any],
        *,
        item: Mapping[str, Any] | None = None,
        item_index: int = 0,
        now: datetime | None = None,
        timeout_ms: int | None = None,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Replace every expression in a parameter tree by its result for one item.

        Returns (a copy of `values` with the results, {parameter path: error message}). A
        failed expression's value is None in the copy. Paths are those of the form, such as
        "userId", "properties.propertiesUi[0].value" or "context.contextUi.app.appUi.name".
        `$parameter` is `values` as given. Raises ExpressionError only when `item` or `values`
        cannot be converted to JSON.

        All expressions of the item run together within the time limit. When they exceed it,
        each `{{ }}` segment runs again alone with the full limit, so the others still get
        their results and the error names the segment at fault.
        """
        expressions: list[tuple[str, str]] = []
        _collect_expressions(values, "", expressions)
        if not expressions:
            return _copy_with_results(values, "", {}), {}

        templates: list[tuple[str, _Template]] = []
        errors: dict[str, str] = {}
        for path, value in expressions:
            try:
                templates.append((path, _parse_template(value)))
            except ExpressionError as error:
                errors[path] = str(error)

        state = self._item_state(item, item_index, values, now)
        results, failures = self._evaluate_templates(templates, state, timeout_ms)
        errors.update((path, str(error)) for path, error in failures.items())
        for path in errors:
            results[path] = None
        return _copy_with_results(values, "", results), errors

    def render_subtitle(self, template: str, parameters: Mapping[str, Any]) -> str:
        """Evaluate the node's subtitle expression; return `template` itself if it fails."""
        if not is_expression(template):
            return template
        try:
            parsed = _parse_template(template, as_text=True)
            state = self._item_state(None, 0, parameters, None)
            results, errors = self._evaluate_templates([("", parsed)], state, None)
        except ExpressionError:
            return template
        if errors:
            return template
        return str(results[""])

    def close(self) -> None:
        """Stop V8. A later evaluation starts it again."""
        with self._lock:
            self._stop()

    def _item_state(
        self,
        item: Mapping[str, Any] | None,
        item_index: int,
        parameters: Mapping[str, Any],
        now: datetime | None,
    ) -> _ItemState:
        moment = now if now is not None else datetime.now(UTC)
        return _ItemState(
            item_text=_to_json_text(dict(item or {}), "the input item"),
            item_index=int(item_index),
            parameters_text=_to_json_text(dict(parameters), "the parameters"),
            now_ms=round(moment.timestamp() * 1000),
        )

    def _evaluate_templates(
        self,
        templates: list[tuple[str, _Template]],
        state: _ItemState,
        timeout_ms: int | None,
    ) -> tuple[dict[str, Any], dict[str, ExpressionError]]:
        """Evaluate parsed expressions for one item; return results and errors by path."""
        results: dict[str, Any] = {}
        errors: dict[str, ExpressionError] = {}
        segments = [
            (segment, not template.keeps_type)
            for _, template in templates
            for segment in template.segments
        ]
        if segments:
            with self._lock:
                outcomes = iter(self._run_segments(segments, state, timeout_ms or self.timeout_ms))
        else:
            outcomes = iter(())

        for path, template in templates:
            pieces: list[str] = []
            value: Any = None
            error: ExpressionError | None = None
            for part in template.parts:
                if isinstance(part, str):
                    pieces.append(part)
                    continue
                outcome = next(outcomes)
                if outcome.error and error is None:
                    error = ExpressionError(
                        f"{part.source}: {outcome.error}", expression=part.source, path=path
                    )
                elif template.keeps_type:
                    value = outcome.value
                else:
                    pieces.append(outcome.value)
            if error is not None:
                errors[path] = error
            elif template.keeps_type:
                results[path] = value
            else:
                results[path] = "".join(pieces)
        return results, errors

    def _run_segments(
        self, segments: list[tuple[_Segment, bool]], state: _ItemState, timeout_ms: int
    ) -> list[_Outcome]:
        """Evaluate segments, all in one V8 call, or one call each after a stop.

        Each `(segment, as_text)` yields one outcome, in order. Must be called with the lock.
        """
        plan_text = json.dumps(
            [{"code": segment.code, "text": as_text} for segment, as_text in segments]
        )
        try:
            return self._run_plan(plan_text, segments, None, state, timeout_ms)
        except _Stopped as stop:
            if len(segments) == 1:
                return [_Outcome(error=str(stop))]
        except ExpressionError as error:
            return [_Outcome(error=str(error))] * len(segments)

        # One of the segments reached a limit, so each runs alone.
        outcomes = []
        for index in range(len(segments)):
            try:
                outcomes += self._run_plan(plan_text, segments, [index], state, timeout_ms)
            except _Stopped as stop:
                outcomes.append(_Outcome(error=str(stop)))
            except ExpressionError as error:
                outcomes.append(_Outcome(error=str(error)))
        return outcomes

    def _run_plan(
        self,
        plan_text: str,
        segments: list[tuple[_Segment, bool]],
        indices: list[int] | None,
        state: _ItemState,
        timeout_ms: int,
    ) -> list[_Outcome]:
        """Run the plan's segments (all, or those at `indices`) in one V8 call.

        Raises _Stopped at the time or memory limit, and ExpressionError when V8 cannot start.
        """
        selected = range(len(segments)) if indices is None else indices
        uuid_count = sum(segments[index][0].code.count("$uuid") for index in selected)
        while True:
            reply = self._call(plan_text, indices, state, uuid_count, timeout_ms)
            if not reply["x"] or uuid_count >= MAX_UUIDS_PER_EVALUATION:
                break
            uuid_count = min(max(uuid_count * 8, 64), MAX_UUIDS_PER_EVALUATION)
        return [
            _Outcome(error=result["e"]) if "e" in result else _Outcome(value=result.get("v"))
            for result in reply["r"]
        ]

    def _call(
        self,
        plan_text: str,
        indices: list[int] | None,
        state: _ItemState,
        uuid_count: int,
        timeout_ms: int,
    ) -> dict[str, Any]:
        """Send the item state and run the plan in V8; return the decoded reply."""
        from py_mini_racer import JSEvalException, JSOOMException, JSTimeoutException

        racer = self._start()
        plan_argument = "null" if plan_text == self._sent_plan else json.dumps(plan_text)
        parameters_argument = (
            "null"
            if state.parameters_text == self._sent_parameters
            else json.dumps(state.parameters_text)
        )
        random_hex = secrets.token_hex(16 * uuid_count) if uuid_count else ""
        code = (
            f"{_API}.setup({plan_argument},{parameters_argument},{json.dumps(state.item_text)},"
            f"{state.item_index},{state.now_ms},{json.dumps(random_hex)});"
            f"{_API}.run({'null' if indices is None else json.dumps(indices)})"
        )
        # Until the call succeeds, V8's copy of the plan and parameters is unknown.
        self._sent_plan = self._sent_parameters = None
        try:
            reply = racer.eval(code, timeout_sec=timeout_ms / 1000)
        except JSTimeoutException as error:
            self._wait_for_stop(racer)
            raise _Stopped(f"took longer than {timeout_ms} ms and was stopped") from error
        except JSOOMException as error:
            self._stop()
            raise _Stopped(self._memory_message()) from error
        except JSEvalException as error:
            # Errors of the expressions themselves are caught in JavaScript, so this is a
            # failure of the engine. A fresh context is started for the next call.
            self._stop()
            raise ExpressionError(f"the JavaScript engine failed: {error}") from error
        if racer.was_hard_memory_limit_reached():
            # The heap passed the limit without a stop, e.g. for one large string. The flag
            # stays set in this context, so it is replaced.
            self._stop()
            raise _Stopped(self._memory_message())
        self._sent_plan = plan_text
        self._sent_parameters = state.parameters_text
        if not isinstance(reply, str):
            raise ExpressionError(f"internal error: V8 returned {type(reply).__name__}")
        decoded: dict[str, Any] = json.loads(reply, parse_int=_parse_js_integer)
        return decoded

    def _wait_for_stop(self, racer: MiniRacer) -> None:
        """Wait until V8 has ended an evaluation that timed out.

        V8 stops JavaScript code at once, but a built-in function such as `String.repeat` runs
        to its end first. Without this wait, the next evaluation would spend its own time limit
        on that tail, and closing the context before the end makes mini-racer report "Event loop
        is closed" from a callback. V8 runs calls in order, so a trivial call returns only after
        the stopped one has ended.
        """
        from py_mini_racer import JSEvalException

        try:
            racer.eval("0", timeout_sec=STOP_WAIT_SECONDS)
        except JSEvalException:
            # The stopped evaluation is still running after STOP_WAIT_SECONDS. The next call
            # queues behind it and fails at its own time limit until it ends.
            pass

    def _memory_message(self) -> str:
        megabytes = self.max_memory_bytes / (1024 * 1024)
        return f"used more than {megabytes:g} MB of memory and was stopped"

    def _start(self) -> MiniRacer:
        """Return the running V8 context, starting one if needed. Must hold the lock."""
        if self._racer is not None:
            return self._racer
        try:
            from py_mini_racer import JSEvalException, LibNotFoundError, MiniRacer
        except ImportError as error:
            raise ExpressionError(
                f"the JavaScript engine is not installed ({error}); install mini-racer"
            ) from error
        created: list[MiniRacer] = []
        failures: list[Exception] = []

        def create() -> None:
            try:
                created.append(MiniRacer())
            except (OSError, LibNotFoundError, JSEvalException) as error:
                failures.append(error)

        # MiniRacer() adopts the asyncio loop running in the calling thread, if there is one,
        # and its eval() with a timeout then fails on that thread. A new thread has no loop,
        # so MiniRacer starts its own loop thread.
        thread = threading.Thread(target=create, name="expression-engine-start")
        thread.start()
        thread.join()
        if not created:
            cause = failures[0] if failures else RuntimeError("no error was reported")
            raise ExpressionError(f"the JavaScript engine failed to start: {cause}") from cause
        racer = created[0]
        try:
            racer.set_hard_memory_limit(self.max_memory_bytes)
            racer.eval(_PRELUDE)
        except JSEvalException as error:
            racer.close()
            raise ExpressionError(f"the JavaScript engine failed to start: {error}") from error
        self._racer = racer
        self._sent_plan = self._sent_parameters = None
        return racer

    def _stop(self) -> None:
        racer, self._racer = self._racer, None
        self._sent_plan = self._sent_parameters = None
        if racer is not None:
            racer.close()


def _parse_js_integer(text: str) -> int | float:
    """Convert an integer written by JSON.stringify to int, or to float above 2**53.

    JavaScript numbers are doubles, so a larger integer is a double that JSON.stringify wrote
    in its shortest form (6.130589621478617e16 as 61305896214786170). float() gives back that
    exact double, while int() would give a different number.
    """
    number = int(text)
    return number if abs(number) <= _EXACT_INTEGER_LIMIT else float(text)


def _to_json_text(value: Any, name: str) -> str:
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise ExpressionError(f"{name} cannot be converted to JSON: {error}") from error


def _join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _collect_expressions(value: Any, path: str, found: list[tuple[str, str]]) -> None:
    """Append (path, expression) for every expression string in a parameter tree."""
    if is_expression(value):
        found.append((path, value))
    elif isinstance(value, Mapping):
        for key, child in value.items():
            _collect_expressions(child, _join_path(path, str(key)), found)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _collect_expressions(child, f"{path}[{index}]", found)


def _copy_with_results(value: Any, path: str, results: Mapping[str, Any]) -> Any:
    """Copy a parameter tree, putting `results[path]` in place of each expression."""
    if is_expression(value):
        return results[path]
    if isinstance(value, Mapping):
        return {
            key: _copy_with_results(child, _join_path(path, str(key)), results)
            for key, child in value.items()
        }
    if isinstance(value, list):
        return [
            _copy_with_results(child, f"{path}[{index}]", results)
            for index, child in enumerate(value)
        ]
    return value


_shared_engine: ExpressionEngine | None = None
_shared_engine_lock = threading.Lock()


def shared_engine() -> ExpressionEngine:
    """Return the process-wide engine, created on first call and closed at exit."""
    global _shared_engine
    with _shared_engine_lock:
        if _shared_engine is None:
            _shared_engine = ExpressionEngine()
            atexit.register(_shared_engine.close)
        return _shared_engine
