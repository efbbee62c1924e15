"""Build the Segment message that a form's parameters describe.

The body follows Segment's HTTP Tracking API spec, not n8n's node output: empty values are left
out, n8n's `locate` parameter goes out as Segment's `context.locale`, and the integration toggles
use Segment's destination names `All` and `Salesforce`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from segment_gui import __version__
from segment_gui.model import resolve_parameters
from segment_gui.spec import NodeSpec

LIBRARY_NAME = "segment-gui"
MAX_MESSAGE_BYTES = 32 * 1024

# (resource, operation) -> Segment API path and the members the body carries.
_CALLS: dict[tuple[str, str], tuple[str, str | None, str | None]] = {
    ("group", "add"): ("group", "groupId", "traits"),
    ("identify", "create"): ("identify", None, "traits"),
    ("track", "event"): ("track", "event", "properties"),
    ("track", "page"): ("page", "name", "properties"),
}
_CONTEXT_TEXT = {"ip": "ip", "locate": "locale", "timezone": "timezone"}
_CONTEXT_OBJECTS = {"app": "appUi", "campaign": "campaignUi", "device": "deviceUi"}
_INTEGRATIONS = {"all": "All", "salesforce": "Salesforce"}


class PayloadError(ValueError):
    """Parameters that cannot be sent as they are; the message says which and how to fix it."""


@dataclass(frozen=True)
class Message:
    """A Segment API call: the path under the endpoint's base URL and the JSON body."""

    path: str
    body: dict[str, Any]

    def to_bytes(self) -> bytes:
        return serialize(self.body)


def serialize(body: Mapping[str, Any]) -> bytes:
    """Serialize a body exactly as it is posted: compact UTF-8 JSON."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def new_message_id() -> str:
    return str(uuid.uuid4())


def problems(spec: NodeSpec, values: Mapping[str, Any]) -> list[str]:
    """List why the parameters cannot be sent as they are (empty when they can)."""
    parameters = resolve_parameters(spec, values)
    found = []
    call = (parameters.get("resource"), parameters.get("operation"))
    if call not in _CALLS:
        found.append(
            f"resource {call[0]!r} with operation {call[1]!r} is not supported; "
            f"choose one of {', '.join(f'{r}:{o}' for r, o in _CALLS)}"
        )
    for spec_field in spec.properties:
        if spec_field.required and spec_field.name in parameters:
            value = parameters[spec_field.name]
            if isinstance(value, str) and not value.strip():
                found.append(f"{spec_field.display_name} is required; enter a value")
    page = _context_values(parameters.get("context", {})).get("page", "")
    if isinstance(page, str) and page.strip().startswith("{"):
        try:
            json.loads(page)
        except json.JSONDecodeError as error:
            found.append(
                f"Context Page is not valid JSON (line {error.lineno}, column {error.colno}: "
                f"{error.msg}); fix the object or enter the page URL instead"
            )
    return sorted(set(found), key=found.index)


def build_message(
    spec: NodeSpec,
    values: Mapping[str, Any],
    *,
    anonymous_id: str,
    message_id: str,
    check: bool = True,
) -> Message:
    """Build the message for the visible parameters in `values`.

    `anonymous_id` is used only when User ID is empty; the caller keeps it stable so that the
    preview and the send agree. Raises PayloadError when `problems()` finds any, unless `check`
    is false (a preview of an unfinished form); an unsupported operation always raises.
    """
    found = problems(spec, values)
    parameters = resolve_parameters(spec, values)
    call = (parameters.get("resource"), parameters.get("operation"))
    if (found and check) or call not in _CALLS:
        raise PayloadError("; ".join(found))
    path, main_member, map_member = _CALLS[call]  # type: ignore[index]

    body: dict[str, Any] = {}
    user_id = parameters.get("userId", "")
    if user_id:
        body["userId"] = user_id
    else:
        body["anonymousId"] = anonymous_id
    if main_member and parameters.get(main_member):
        body[main_member] = parameters[main_member]
    if map_member:
        mapping = _rows_to_object(parameters.get(map_member, {}))
        if mapping:
            body[map_member] = mapping
    body["context"] = _context(parameters.get("context", {}))
    integrations = _integrations(parameters.get("integrations", {}))
    if integrations:
        body["integrations"] = integrations
    body["messageId"] = message_id
    return Message(path=path, body=body)


def _rows_to_object(collection: Mapping[str, Any]) -> dict[str, Any]:
    """Turn `{"traitsUi": [{"key": k, "value": v}, ...]}` into `{k: v}`; later keys win."""
    result: dict[str, Any] = {}
    for rows in collection.values():
        for row in rows if isinstance(rows, list) else []:
            key = str(row.get("key", "")).strip()
            if key:
                result[key] = row.get("value", "")
    return result


def _context_values(collection: Any) -> Mapping[str, Any]:
    values = collection.get("contextUi", {}) if isinstance(collection, Mapping) else {}
    return values if isinstance(values, Mapping) else {}


def _context(collection: Mapping[str, Any]) -> dict[str, Any]:
    values = _context_values(collection)
    context: dict[str, Any] = {}
    if values.get("active") is True:
        context["active"] = True
    for name, segment_name in _CONTEXT_TEXT.items():
        if values.get(name):
            context[segment_name] = values[name]
    page = values.get("page", "")
    if page:
        try:
            context["page"] = _page(page)
        except json.JSONDecodeError:
            context["page"] = page
    for name, option in _CONTEXT_OBJECTS.items():
        nested = values.get(name, {})
        fields = nested.get(option, {}) if isinstance(nested, Mapping) else {}
        filled = {key: value for key, value in fields.items() if value not in ("", None)}
        if filled:
            context[name] = filled
    context["library"] = {"name": LIBRARY_NAME, "version": __version__}
    return context


def _page(text: str) -> dict[str, Any]:
    """Read context.page: a JSON object is sent as it is, any other text as the page URL."""
    # NOTE: Segment's page object also has path, search and hash; a URL is not split into them.
    stripped = text.strip()
    if stripped.startswith("{"):
        parsed = json.loads(stripped)
        if isinstance(parsed, dict):
            return parsed
    return {"url": stripped}


def _integrations(collection: Mapping[str, Any]) -> dict[str, bool]:
    values = collection.get("integrationsUi") if isinstance(collection, Mapping) else None
    if not isinstance(values, Mapping):
        return {}
    return {
        segment_name: bool(values[name])
        for name, segment_name in _INTEGRATIONS.items()
        if name in values
    }
