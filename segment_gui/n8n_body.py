"""Build the body that n8n's Segment node (version 1) posts for the same parameters.

This mode lets users preview what their n8n workflow sends, so it copies the node's quirks
instead of following Segment's spec (see `segment_gui.payload` for that body):

- Every call carries `context.app`, `context.campaign`, `context.device` and `integrations`,
  as `{}` when unset. Group traits start as `{"company": {}, "address": {}}`. Identify sends
  `traits: {}`, and track and page send both `traits: {}` and `properties: {}`.
- Rows become keys in row order, so a later duplicate key wins. An empty key is sent as `""`.
  Keys and values are sent exactly as typed: strings, untrimmed, with no type conversion.
- `groupId`, `event` and `name` are sent even when empty.
- Context fields are copied only when non-empty, and `active` only when true. The locale goes
  out as `context.locate` and the page as a plain string. `context.device.name` is never sent.
- Integration toggles are copied only when true, as lowercase `all` and `salesforce`.
- There is no `messageId`, `timestamp` or `context.library`.

The segment-gui extensions (value types, the Advanced collection, the Screen and Alias
operations) do not exist in n8n's node. Value types and Advanced are ignored here, and the
extension operations raise N8nModeError.

A value whose JSON type does not fit its field (a number typed into a string field, a list
where a collection belongs) is treated as absent, so it takes its spec default. Inside
collections, absent values take their spec defaults too, as n8n fills them in.
This module is plain Python with no Qt import.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from segment_gui.model import resolve_parameters, visible_fields
from segment_gui.spec import CollectionOption, Field, NodeSpec

# (resource, operation) -> Segment API path, for the operations n8n's Segment node has.
N8N_OPERATIONS: dict[tuple[str, str], str] = {
    ("group", "add"): "group",
    ("identify", "create"): "identify",
    ("track", "event"): "track",
    ("track", "page"): "page",
}

# (resource, operation) -> the text parameter sent even when empty, and the body members that
# start as empty objects and receive the rows. Row collections are named like their member.
_MAIN_PARAMETER: dict[tuple[str, str], str | None] = {
    ("group", "add"): "groupId",
    ("identify", "create"): None,
    ("track", "event"): "event",
    ("track", "page"): "name",
}
_ROW_MEMBERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("group", "add"): ("traits",),
    ("identify", "create"): ("traits",),
    ("track", "event"): ("traits", "properties"),
    ("track", "page"): ("traits", "properties"),
}
_ROW_OPTIONS = {"traits": "traitsUi", "properties": "propertiesUi"}
_GROUP_TRAITS = ("company", "address")

_CONTEXT_TEXT = ("ip", "locate", "page", "timezone")
# Nested context collection -> (option name, fields n8n copies). n8n never copies device name.
_CONTEXT_OBJECTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "app": ("appUi", ("name", "version", "build")),
    "campaign": ("campaignUi", ("name", "source", "medium", "term", "content")),
    "device": ("deviceUi", ("id", "manufacturer", "model", "type", "version")),
}
_INTEGRATIONS = ("all", "salesforce")
_PLAIN_VALUE_TYPES = ("auto", "string")


class N8nModeError(ValueError):
    """An operation that n8n's Segment node lacks, so there is no n8n body to build."""


def build_n8n_body(
    spec: NodeSpec, values: Mapping[str, Any], *, anonymous_id: str
) -> tuple[str, dict[str, Any]]:
    """Build the API path and the body n8n's Segment node posts for `values`.

    n8n generates a new UUID v4 as `anonymousId` on every call when User ID is empty. The
    caller passes that ID as `anonymous_id`, so the preview and tests control it.
    Raises N8nModeError for an operation that n8n's node lacks, such as track:screen.
    """
    parameters = resolve_parameters(spec, values)
    call = _n8n_call(spec, parameters)
    fields = _fields_by_name(spec, parameters)

    body: dict[str, Any] = {}
    user_id = _text_parameter(fields, parameters, "userId")
    if user_id:
        body["userId"] = user_id
    else:
        body["anonymousId"] = anonymous_id

    main_parameter = _MAIN_PARAMETER[call]
    if main_parameter is not None:
        body[main_parameter] = _text_parameter(fields, parameters, main_parameter)

    for member in _ROW_MEMBERS[call]:
        initial: dict[str, Any] = {}
        if call == ("group", "add") and member == "traits":
            initial = {name: {} for name in _GROUP_TRAITS}
        rows = _collection_rows(fields, parameters, member)
        body[member] = _rows_to_object(rows, initial)

    body["context"] = _context(fields, parameters)
    body["integrations"] = _integrations(fields, parameters)
    return N8N_OPERATIONS[call], body


def n8n_differences(spec: NodeSpec, values: Mapping[str, Any]) -> list[str]:
    """List how the n8n body for `values` differs from Segment's spec, one sentence each.

    The general differences come first and are always listed. Then come the ones that only
    apply to the current values. Returns [] for an operation n8n's node lacks, because
    build_n8n_body raises N8nModeError for it.
    """
    parameters = resolve_parameters(spec, values)
    try:
        call = _n8n_call(spec, parameters)
    except N8nModeError:
        return []
    fields = _fields_by_name(spec, parameters)

    notes = [
        "context.app, context.campaign, context.device and integrations are sent even when empty.",
        "The locale goes out as context.locate, which Segment does not read.",
        "context.page is sent as a string, but Segment expects a page object.",
        "All trait and property values are sent as strings.",
        "No messageId is sent, so Segment cannot deduplicate retries.",
        "Integration names are lowercase all and salesforce, but Segment's are All and Salesforce.",
    ]

    device = _context_values(fields, parameters).get("device")
    device_values = _option_values(_context_field(fields, "device"), device, "deviceUi")
    if device_values and device_values.get("name"):
        notes.append("n8n never sends context.device.name, so the device name you typed is lost.")

    if call == ("group", "add"):
        traits = _rows_to_object(_collection_rows(fields, parameters, "traits"), {})
        empty = [name for name in _GROUP_TRAITS if name not in traits]
        if len(empty) == 2:
            notes.append("Group traits include empty company and address objects.")
        elif empty:
            notes.append(f"Group traits include an empty {empty[0]} object.")

    main_parameter = _MAIN_PARAMETER[call]
    if main_parameter is not None and not _text_parameter(fields, parameters, main_parameter):
        label = fields[main_parameter].display_name if main_parameter in fields else main_parameter
        notes.append(f'{label} is empty, so n8n sends {main_parameter}: "".')

    if _advanced_is_set(fields, parameters):
        notes.append("Advanced options are set but ignored in this mode.")

    if _has_typed_rows(fields, parameters, call):
        notes.append(
            "Value types other than Auto and String are ignored, so those values are strings."
        )
    return notes


def _n8n_call(spec: NodeSpec, parameters: Mapping[str, Any]) -> tuple[str, str]:
    """Return the (resource, operation) pair, or raise N8nModeError when n8n's node lacks it."""
    resource = parameters.get("resource")
    operation = parameters.get("operation")
    call = (resource, operation)
    if isinstance(resource, str) and isinstance(operation, str) and call in N8N_OPERATIONS:
        return resource, operation

    resource_label = _choice_name(spec.resources(), resource)
    operations = spec.operations(resource) if isinstance(resource, str) else []
    operation_label = _choice_name(operations, operation)
    raise N8nModeError(
        f'n8n\'s Segment node has no "{operation_label}" operation for "{resource_label}" '
        f'({resource}:{operation}); switch Body to "Segment spec" to preview it.'
    )


def _choice_name(choices: list[Any], value: Any) -> str:
    for choice in choices:
        if choice.value == value:
            return str(choice.name)
    return str(value)


def _fields_by_name(spec: NodeSpec, parameters: Mapping[str, Any]) -> dict[str, Field]:
    return {
        spec_field.name: spec_field for spec_field in visible_fields(spec.properties, parameters)
    }


def _fits(spec_field: Field, value: Any) -> bool:
    """Check that `value` has the JSON type that `spec_field` stores."""
    if spec_field.type == "string":
        return isinstance(value, str)
    if spec_field.type == "boolean":
        return isinstance(value, bool)
    if spec_field.type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if spec_field.type == "fixedCollection":
        return isinstance(value, Mapping)
    if spec_field.type == "options":
        return any(
            value == choice and type(value) is type(choice) for choice in spec_field.choice_values()
        )
    return False


def _value_or_default(spec_field: Field, entry: Mapping[str, Any]) -> Any:
    value = entry.get(spec_field.name, spec_field.default)
    if not _fits(spec_field, value):
        value = spec_field.default
    return copy.deepcopy(value)


def _text_parameter(fields: Mapping[str, Field], parameters: Mapping[str, Any], name: str) -> str:
    """Return a top-level text parameter, or "" when it is hidden or not a string."""
    spec_field = fields.get(name)
    if spec_field is None:
        return ""
    value = _value_or_default(spec_field, parameters)
    return value if isinstance(value, str) else ""


def _find_option(spec_field: Field | None, option_name: str) -> CollectionOption | None:
    if spec_field is None or spec_field.type != "fixedCollection":
        return None
    for option in spec_field.collection_options:
        if option.name == option_name:
            return option
    return None


def _option_values(
    spec_field: Field | None, collection: Any, option_name: str
) -> dict[str, Any] | None:
    """Read the option of a single-value collection with defaults filled in.

    Returns None when the option was not added (n8n then sends nothing from it).
    """
    option = _find_option(spec_field, option_name)
    if option is None or not isinstance(collection, Mapping):
        return None
    entry = collection.get(option_name)
    if not isinstance(entry, Mapping):
        return None
    return {sub.name: _value_or_default(sub, entry) for sub in option.fields}


def _collection_rows(
    fields: Mapping[str, Field], parameters: Mapping[str, Any], name: str
) -> list[dict[str, Any]]:
    """Read the rows of a multiple-value collection, each with defaults filled in.

    A row that is not an object is skipped, because it has no fields to read.
    """
    spec_field = fields.get(name)
    option = _find_option(spec_field, _ROW_OPTIONS[name])
    collection = parameters.get(name)
    if option is None or not isinstance(collection, Mapping):
        return []
    rows = collection.get(option.name)
    if not isinstance(rows, list):
        return []
    return [
        {sub.name: _value_or_default(sub, row) for sub in option.fields}
        for row in rows
        if isinstance(row, Mapping)
    ]


def _rows_to_object(rows: list[dict[str, Any]], initial: dict[str, Any]) -> dict[str, Any]:
    """Set each row's key to its value, in row order, on top of `initial`."""
    result = dict(initial)
    for row in rows:
        key = row.get("key", "")
        value = row.get("value", "")
        if not isinstance(key, str):
            key = ""
        if not isinstance(value, str):
            value = ""
        result[key] = value
    return result


def _context_field(fields: Mapping[str, Field], name: str) -> Field | None:
    """Return the definition of a field inside the context collection's contextUi option."""
    option = _find_option(fields.get("context"), "contextUi")
    if option is None:
        return None
    for sub in option.fields:
        if sub.name == name:
            return sub
    return None


def _context_values(fields: Mapping[str, Field], parameters: Mapping[str, Any]) -> dict[str, Any]:
    values = _option_values(fields.get("context"), parameters.get("context"), "contextUi")
    return values or {}


def _context(fields: Mapping[str, Field], parameters: Mapping[str, Any]) -> dict[str, Any]:
    values = _context_values(fields, parameters)
    context: dict[str, Any] = {}
    if values.get("active") is True:
        context["active"] = True
    for name in _CONTEXT_TEXT:
        text = values.get(name)
        if isinstance(text, str) and text:
            context[name] = text

    for name, (option_name, copied) in _CONTEXT_OBJECTS.items():
        nested = _option_values(_context_field(fields, name), values.get(name), option_name)
        filled: dict[str, str] = {}
        for key in copied:
            text = (nested or {}).get(key)
            if isinstance(text, str) and text:
                filled[key] = text
        context[name] = filled
    return context


def _integrations(fields: Mapping[str, Field], parameters: Mapping[str, Any]) -> dict[str, bool]:
    values = _option_values(
        fields.get("integrations"), parameters.get("integrations"), "integrationsUi"
    )
    if values is None:
        return {}
    return {name: True for name in _INTEGRATIONS if values.get(name) is True}


def _advanced_is_set(fields: Mapping[str, Field], parameters: Mapping[str, Any]) -> bool:
    """Check whether the Advanced collection contains any value other than its defaults."""
    spec_field = fields.get("advanced")
    option = _find_option(spec_field, "advancedUi")
    if option is None:
        return False
    values = _option_values(spec_field, parameters.get("advanced"), "advancedUi")
    if values is None:
        return False
    return any(values[sub.name] != sub.default for sub in option.fields)


def _has_typed_rows(
    fields: Mapping[str, Field], parameters: Mapping[str, Any], call: tuple[str, str]
) -> bool:
    """Check whether any row sets a value type that this mode ignores."""
    for member in _ROW_MEMBERS[call]:
        for row in _collection_rows(fields, parameters, member):
            value_type = row.get("valueType", "auto")
            if isinstance(value_type, str) and value_type not in _PLAIN_VALUE_TYPES:
                return True
    return False
