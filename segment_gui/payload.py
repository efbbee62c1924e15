"""Build and check the Segment message that a form's parameters describe.

The body follows Segment's HTTP Tracking API spec, not n8n's node output. Empty values are left
out, and n8n's `locate` parameter goes out as Segment's `context.locale`. The integration
toggles use Segment's destination names `All` and `Salesforce`, and trait and property values
are converted by their row's value type. `compose()` returns the message together with every
problem found, each tied to the parameter path of the field at fault, so the window can show it
there.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from segment_gui import __version__
from segment_gui.model import check_types, copy_json, resolve_parameters, visible_fields
from segment_gui.spec import NodeSpec

LIBRARY_NAME = "segment-gui"
MAX_MESSAGE_BYTES = 32 * 1024
SEGMENT_MODE = "segment"
N8N_MODE = "n8n"
BODY_MODES = {SEGMENT_MODE: "Segment spec", N8N_MODE: "n8n Segment node v1"}

# (resource, operation) -> Segment API path, the member naming the call, the key-value collection.
_CALLS: dict[tuple[str, str], tuple[str, str | None, str | None]] = {
    ("group", "add"): ("group", "groupId", "traits"),
    ("identify", "create"): ("identify", None, "traits"),
    ("identify", "alias"): ("alias", "previousId", None),
    ("track", "event"): ("track", "event", "properties"),
    ("track", "page"): ("page", "name", "properties"),
    ("track", "screen"): ("screen", "name", "properties"),
}
_CONTEXT_TEXT = {"ip": "ip", "locate": "locale", "timezone": "timezone"}
_CONTEXT_OBJECTS = {"app": "appUi", "campaign": "campaignUi", "device": "deviceUi"}
_INTEGRATIONS = {"all": "All", "salesforce": "Salesforce"}
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_ADVANCED = "advanced.advancedUi"
MAX_VALUE_DEPTH = 100
# Larger integers lose precision in JavaScript, where most Segment destinations run.
MAX_SAFE_INTEGER = 2**53 - 1


class PayloadError(ValueError):
    """Parameters that cannot be sent as they are; the message names them and the fix."""


@dataclass(frozen=True)
class Problem:
    """A finding about the form. `path` is the parameter path of the field at fault, or ""
    for the message as a whole; errors block Send, warnings do not."""

    path: str
    message: str
    severity: str = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


@dataclass(frozen=True)
class Message:
    """A Segment API call: the path under the endpoint's base URL and the JSON body."""

    path: str
    body: dict[str, Any]

    def to_bytes(self) -> bytes:
        return serialize(self.body)


@dataclass
class Composition:
    """The outcome of `compose()`: the message (None when the operation is unknown), the
    problems found, and short notes for fields (what Auto decided, the generated ID)."""

    message: Message | None
    problems: list[Problem] = field(default_factory=list)
    hints: dict[str, str] = field(default_factory=dict)
    notice: list[str] = field(default_factory=list)

    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.is_error]

    def warnings(self) -> list[Problem]:
        return [problem for problem in self.problems if not problem.is_error]

    @property
    def sendable(self) -> bool:
        return self.message is not None and not self.errors()


def serialize(body: Mapping[str, Any]) -> bytes:
    """Serialize a body exactly as it is posted: compact UTF-8 JSON."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def new_message_id() -> str:
    return str(uuid.uuid4())


def compose(
    spec: NodeSpec,
    values: Mapping[str, Any],
    *,
    anonymous_id: str,
    message_id: str,
    mode: str = SEGMENT_MODE,
) -> Composition:
    """Build the message for the visible parameters in `values` and check it.

    `anonymous_id` is sent only when User ID and the Advanced Anonymous ID are empty; callers
    keep it stable so the preview and the send agree. `message_id` is used unless the Advanced
    Message ID is fixed. `mode` selects Segment's spec or n8n's Segment node v1 body.
    """
    too_deep = [name for name, value in values.items() if _depth(value) > MAX_VALUE_DEPTH]
    if too_deep:
        message = f"is nested more than {MAX_VALUE_DEPTH} levels deep; simplify the value"
        return Composition(None, [Problem(name, message) for name in too_deep])
    values = _scalars_as_text(spec, values)
    # Not copied: the builders below only read the parameters, and copy what they put in the body.
    parameters = resolve_parameters(spec, values, copy_values=False)
    mismatches = check_types(visible_fields(spec.properties, parameters), values)
    if mismatches:
        return Composition(None, [Problem(name, message) for name, message in mismatches])
    call = (str(parameters.get("resource")), str(parameters.get("operation")))
    if call not in _CALLS:
        choices = ", ".join(f"{resource}:{operation}" for resource, operation in _CALLS)
        problem = Problem("operation", f"{call[0]}:{call[1]} is not supported; choose {choices}")
        return Composition(None, [problem])
    if mode == N8N_MODE:
        composition = _compose_n8n(spec, values, parameters, anonymous_id)
    elif mode == SEGMENT_MODE:
        composition = _SegmentBuilder(spec, parameters, anonymous_id, message_id).build(call)
    else:
        raise ValueError(f"unknown body mode {mode!r}; expected one of {sorted(BODY_MODES)}")
    composition.problems += _expression_problems(parameters)
    if composition.message is not None:
        try:
            composition.message.to_bytes()
        except UnicodeEncodeError:
            # _size_problems already reported it; a message that cannot be encoded is not shown.
            composition.message = None
    return composition


def _expression_problems(value: Any, path: str = "") -> list[Problem]:
    """Flag n8n expressions (`={{ … }}`): sending one as written would store the literal
    expression text in Segment, so it blocks Send."""
    if not _contains_expression(value):
        return []
    return _expression_problems_at(value, path)


def _contains_expression(value: Any) -> bool:
    """Tell whether any string in a JSON value starts with `=` and contains `{{`."""
    level = [value]
    while level:
        for item in level:
            if type(item) is str and item.startswith("=") and "{{" in item:
                return True
        level = _children(level)
    return False


def _expression_problems_at(value: Any, path: str) -> list[Problem]:
    if isinstance(value, str):
        if value.startswith("=") and "{{" in value:
            return [
                Problem(
                    path,
                    f"{value[:40]!r} is an n8n expression that was not evaluated for an input "
                    "item; replace it with the value to send",
                )
            ]
        return []
    found = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            found += _expression_problems_at(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _expression_problems_at(item, f"{path}[{index}]")
    return found


def build_message(
    spec: NodeSpec,
    values: Mapping[str, Any],
    *,
    anonymous_id: str,
    message_id: str,
    mode: str = SEGMENT_MODE,
) -> Message:
    """Build the message, raising PayloadError with every blocking problem when there is one."""
    composition = compose(spec, values, anonymous_id=anonymous_id, message_id=message_id, mode=mode)
    if composition.message is None or composition.errors():
        raise PayloadError("; ".join(describe(problem) for problem in composition.errors()))
    return composition.message


def field_label(spec: NodeSpec, path: str) -> str:
    """Name the field at a parameter path as the form shows it.

    `advanced.advancedUi.destinations.destinationsUi[1].name` becomes
    "Advanced › Destinations row 2 › Destination". Unknown segments are shown as written.
    """
    fields = spec.properties
    parts: list[str] = []
    segments = path.split(".") if path else []
    index = 0
    while index < len(segments):
        name, _, row = segments[index].partition("[")
        definition = next((f for f in fields if f.name == name), None)
        if definition is None:
            parts.append(segments[index])
            index += 1
            continue
        label = definition.display_name
        if definition.collection_options and index + 1 < len(segments):
            option_name, _, row = segments[index + 1].partition("[")
            option = next((o for o in definition.collection_options if o.name == option_name), None)
            if option is not None:
                fields = option.fields
                index += 1
        if row:
            label += f" row {int(row.rstrip(']')) + 1}"
        parts.append(label)
        index += 1
    return " › ".join(parts)


def _scalars_as_text(spec: NodeSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """Turn numbers and booleans given for text fields into text, as JavaScript's String() does.

    Expressions keep their result's type (`{{ $json.id }}` may give 42) and hand-edited presets
    may hold numbers where n8n stores text; Segment's IDs and names are strings.
    """
    text_fields = {f.name for f in spec.properties if f.type == "string"}
    result = dict(values)
    for name, value in values.items():
        if name in text_fields and isinstance(value, int | float) and not isinstance(value, bool):
            result[name] = json.dumps(value)
        elif name in text_fields and isinstance(value, bool):
            result[name] = "true" if value else "false"
    return result


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, measured level by level without recursion."""
    depth = 0
    level = [value]
    while True:
        level = [item for item in level if _is_container(item)]
        if not level:
            return depth
        depth += 1
        if depth > MAX_VALUE_DEPTH:
            return depth
        level = _children(level)


def _children(level: list[Any]) -> list[Any]:
    """Return the members of every dict or list in `level`, the next level down."""
    children: list[Any] = []
    for item in level:
        if type(item) is dict:
            children += item.values()
        elif type(item) is list:
            children += item
        elif type(item) is not str and isinstance(item, Mapping):
            children += item.values()
    return children


def _is_container(value: Any) -> bool:
    # The exact types first: isinstance against the Mapping ABC is slow for scalars.
    kind = type(value)
    if kind is dict or kind is list:
        return True
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return False
    return isinstance(value, Mapping | list)


def describe(problem: Problem) -> str:
    """Format a problem as one line for the command line: the field path, then the message."""
    return f"{problem.path}: {problem.message}" if problem.path else problem.message


def _compose_n8n(
    spec: NodeSpec, values: Mapping[str, Any], parameters: dict[str, Any], anonymous_id: str
) -> Composition:
    from segment_gui.n8n_body import N8nModeError, build_n8n_body, n8n_differences

    problems = _required_problems(spec, parameters)
    try:
        path, body = build_n8n_body(spec, values, anonymous_id=anonymous_id)
    except N8nModeError as error:
        return Composition(None, [Problem("operation", str(error)), *problems])
    message = Message(path, body)
    problems += _size_problems(message)
    return Composition(message, problems, notice=n8n_differences(spec, values))


def _required_problems(spec: NodeSpec, parameters: Mapping[str, Any]) -> list[Problem]:
    found = []
    for definition in visible_fields(spec.properties, parameters):
        value = parameters.get(definition.name)
        if definition.required and isinstance(value, str) and not value.strip():
            message = f"{definition.display_name} is required; enter a value"
            found.append(Problem(definition.name, message))
    return found


def _size_problems(message: Message) -> list[Problem]:
    try:
        size = len(message.to_bytes())
    except UnicodeEncodeError as error:
        bad = error.object[error.start : error.end].encode("unicode_escape").decode("ascii")
        return [
            Problem(
                "",
                f"the message contains text that is not valid Unicode ({bad}, a lone surrogate); "
                "remove it from the preset",
            )
        ]
    if size <= MAX_MESSAGE_BYTES:
        return []
    return [
        Problem(
            "",
            f"the message is {size:,} bytes; Segment accepts at most {MAX_MESSAGE_BYTES:,} bytes "
            "(32 KB) per message. Remove some traits, properties or context",
        )
    ]


class _SegmentBuilder:
    """Builds a Segment-spec body step by step, collecting problems and hints on the way."""

    def __init__(
        self, spec: NodeSpec, parameters: dict[str, Any], anonymous_id: str, message_id: str
    ) -> None:
        self.spec = spec
        self.parameters = parameters
        self.anonymous_id = anonymous_id
        self.message_id = message_id
        self.problems: list[Problem] = _required_problems(spec, parameters)
        self.hints: dict[str, str] = {}
        advanced = parameters.get("advanced", {})
        advanced = advanced.get("advancedUi", {}) if isinstance(advanced, Mapping) else {}
        self.advanced: Mapping[str, Any] = advanced if isinstance(advanced, Mapping) else {}

    def build(self, call: tuple[str, str]) -> Composition:
        path, main_member, map_member = _CALLS[call]
        body: dict[str, Any] = {}
        self._identity(body, alias=path == "alias")
        if main_member and _text(self.parameters.get(main_member)).strip():
            body[main_member] = copy_json(self.parameters[main_member])
        if map_member:
            mapping = self._rows(map_member)
            if mapping:
                body[map_member] = mapping
        body["context"] = self._context()
        integrations = self._integrations()
        if integrations:
            body["integrations"] = integrations
        timestamp = self._timestamp()
        if timestamp:
            body["timestamp"] = timestamp
        fixed_id = _text(self.advanced.get("messageId", "")).strip()
        body["messageId"] = fixed_id or self.message_id
        message = Message(path, body)
        self.problems += _size_problems(message)
        return Composition(message, self.problems, self.hints)

    # 1. Identity: userId, or an anonymousId typed or generated.
    def _identity(self, body: dict[str, Any], alias: bool) -> None:
        user_id = _text(self.parameters.get("userId", ""))
        typed_anonymous = _text(self.advanced.get("anonymousId", "")).strip()
        generate = self.advanced.get("generateAnonymousId", True) is not False
        if user_id.strip():
            body["userId"] = user_id
        if typed_anonymous:
            body["anonymousId"] = typed_anonymous
        elif not user_id.strip() and not alias:
            if generate:
                body["anonymousId"] = self.anonymous_id
                self.hints[f"{_ADVANCED}.anonymousId"] = f"Generated: {self.anonymous_id}"
            else:
                self.problems.append(
                    Problem(
                        f"{_ADVANCED}.anonymousId",
                        "no identity: enter a User ID or an Anonymous ID, or turn Generate "
                        "Anonymous ID back on",
                    )
                )

    # 2. Traits or properties rows, converted by their value type.
    def _rows(self, name: str) -> dict[str, Any]:
        collection = self.parameters.get(name, {})
        result: dict[str, Any] = {}
        seen: dict[str, int] = {}
        if not isinstance(collection, Mapping):
            return result
        for option, rows in collection.items():
            for index, row in enumerate(rows if isinstance(rows, list) else []):
                if not isinstance(row, Mapping):
                    continue
                base = f"{name}.{option}[{index}]"
                key = _text(row.get("key", "")).strip()
                text = _text(row.get("value", ""))
                if not key:
                    if text:
                        self.problems.append(
                            Problem(
                                f"{base}.key",
                                "this row has a value but no key, so it is not sent; enter a key",
                                "warning",
                            )
                        )
                    continue
                try:
                    value, decided = convert_value(text, _text(row.get("valueType", "auto")))
                except ValueError as error:
                    self.problems.append(Problem(f"{base}.value", str(error)))
                    continue
                if decided:
                    self.hints[f"{base}.value"] = f"Auto: {decided}"
                if key in seen:
                    self.problems.append(
                        Problem(
                            f"{base}.key",
                            f"duplicate key {key!r}: rows {seen[key] + 1} and {index + 1} set "
                            f"it; row {index + 1} wins",
                            "warning",
                        )
                    )
                seen[key] = index
                result[key] = value
        return result

    # 3. Context: only what was filled, plus the library.
    def _context(self) -> dict[str, Any]:
        values = _context_values(self.parameters.get("context", {}))
        context: dict[str, Any] = {}
        if values.get("active") is True:
            context["active"] = True
        for name, segment_name in _CONTEXT_TEXT.items():
            if _text(values.get(name, "")):
                context[segment_name] = copy_json(values[name])
        page = _text(values.get("page", ""))
        if page.strip():
            try:
                context["page"] = page_object(page)
            except ValueError as error:
                self.problems.append(Problem("context.contextUi.page", str(error)))
        for name, option in _CONTEXT_OBJECTS.items():
            nested = values.get(name, {})
            fields = nested.get(option, {}) if isinstance(nested, Mapping) else {}
            fields = fields if isinstance(fields, Mapping) else {}
            # Copied, because the parameters share their values with the form's.
            filled = {
                key: copy_json(value) for key, value in fields.items() if value not in ("", None)
            }
            if filled:
                context[name] = filled
        context["library"] = {"name": LIBRARY_NAME, "version": __version__}
        return context

    # 4. Integrations: the spec's two toggles, then destinations by name.
    def _integrations(self) -> dict[str, bool]:
        collection = self.parameters.get("integrations", {})
        toggles = collection.get("integrationsUi") if isinstance(collection, Mapping) else None
        result: dict[str, bool] = {}
        if isinstance(toggles, Mapping):
            defaults = {"all": True, "salesforce": False}
            for name, segment_name in _INTEGRATIONS.items():
                result[segment_name] = bool(toggles.get(name, defaults[name]))
        destinations = self.advanced.get("destinations", {})
        rows = destinations.get("destinationsUi", []) if isinstance(destinations, Mapping) else []
        for index, row in enumerate(rows if isinstance(rows, list) else []):
            if not isinstance(row, Mapping):
                continue
            name = _text(row.get("name", "")).strip()
            if not name:
                continue
            if name in result:
                self.problems.append(
                    Problem(
                        f"{_ADVANCED}.destinations.destinationsUi[{index}].name",
                        f"destination {name!r} is set more than once; this row wins",
                        "warning",
                    )
                )
            result[name] = row.get("enabled") is True
        return result

    # 5. Timestamp: ISO 8601, checked.
    def _timestamp(self) -> str:
        text = _text(self.advanced.get("timestamp", "")).strip()
        if not text:
            return ""
        try:
            moment = parse_timestamp(text)
        except ValueError as error:
            self.problems.append(Problem(f"{_ADVANCED}.timestamp", str(error)))
            return ""
        if moment.tzinfo is None:
            self.problems.append(
                Problem(
                    f"{_ADVANCED}.timestamp",
                    "no time zone given, so Segment reads it as UTC; add Z or an offset "
                    "such as +02:00",
                    "warning",
                )
            )
        return text


def convert_value(text: str, value_type: str) -> tuple[Any, str]:
    """Convert a row's text by its value type; returns (value, what Auto decided or "").

    Raises ValueError with a message that names the text and the fix.
    """
    if value_type == "auto":
        if text in ("true", "false"):
            return text == "true", "boolean"
        if text == "null":
            return None, "null"
        if _JSON_NUMBER.fullmatch(text):
            number = _number(text)
            if isinstance(number, int) and abs(number) > MAX_SAFE_INTEGER:
                return text, "string (too large for a JavaScript number; choose Number to force it)"
            return number, "number"
        return text, "string"
    if value_type == "string":
        return text, ""
    if value_type == "number":
        if not _JSON_NUMBER.fullmatch(text.strip()):
            raise ValueError(f"{text!r} is not a number; enter digits such as 42, -7 or 9.99")
        return _number(text.strip()), ""
    if value_type == "boolean":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise ValueError(f"{text!r} is not a boolean; enter true or false")
        return lowered == "true", ""
    if value_type == "null":
        return None, ""
    if value_type == "json":
        return _json_value(text), ""
    raise ValueError(
        f"unknown value type {value_type!r}; choose Auto, String, Number, Boolean, Null or JSON"
    )


def _number(text: str) -> int | float:
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    number = float(text)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{text!r} is too large for a JSON number")
    return number


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:20]} is too large for JSON")
    return number


def _strict_json(text: str) -> Any:
    """Decode JSON text that will be re-sent: no NaN or Infinity, no overflowing numbers.

    Raises json.JSONDecodeError for syntax errors and ValueError for the rest.
    """
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError(
            "the JSON is nested too deeply; keep it under a few hundred levels"
        ) from None


def _json_value(text: str) -> Any:
    try:
        value = _strict_json(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from error
    if not isinstance(value, dict | list):
        raise ValueError(
            "JSON values must be an object {…} or an array […]; use another type for single values"
        )
    return value


def page_object(text: str) -> dict[str, Any]:
    """Read context.page: a JSON object is sent as it is; a URL becomes Segment's page fields.

    Raises ValueError when the text is neither.
    """
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            parsed = _strict_json(stripped)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"Page is not valid JSON (line {error.lineno}, column {error.colno}: "
                f"{error.msg}); fix the object or enter the page URL instead"
            ) from error
        if not isinstance(parsed, dict):
            raise ValueError("Page must be a JSON object or a URL")
        return parsed
    parts = urlsplit(stripped)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"Page {stripped!r} is neither a URL nor a JSON object; enter a full URL such as "
            'https://example.com/pricing or an object such as {"title": "Pricing"}'
        )
    return {
        "url": stripped,
        "path": parts.path or "/",
        "search": f"?{parts.query}" if parts.query else "",
        "hash": f"#{parts.fragment}" if parts.fragment else "",
    }


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO 8601 date and time; raises ValueError with an example of the format."""
    try:
        if "T" not in text:
            raise ValueError(text)
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"timestamp {text!r} is not an ISO 8601 date and time; use a form such as "
            "2026-01-31T09:30:00Z"
        ) from None


def _context_values(collection: Any) -> Mapping[str, Any]:
    values = collection.get("contextUi", {}) if isinstance(collection, Mapping) else {}
    return values if isinstance(values, Mapping) else {}


def _text(value: Any) -> str:
    """Return a parameter value as text; n8n stores strings, but hand-edited presets may not."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False)
