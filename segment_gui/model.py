"""Form values in n8n's stored parameter shape, and presets.

Parameters are one flat mapping from name to value, as n8n stores a node's `parameters`.
fixedCollection values keep n8n's stored shape: `{"traitsUi": [{"key": "plan", "value": "pro"}]}`
for a collection with multiple values, `{"contextUi": {"ip": "...", "app": {"appUi": {...}}}}`
for a single-value one, and `{}` when nothing was added.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from segment_gui.spec import CollectionOption, Field, NodeSpec, is_visible

PRESET_FORMAT_VERSION = 1
# Body modes: Segment's spec, or the body n8n's Segment node (version 1) posts.
BODY_MODE_NAMES = ("segment", "n8n")
# Types that copy_json shares instead of copying.
_IMMUTABLE_TYPES = frozenset({str, int, float, bool, type(None)})
SETTING_NAMES = (
    "notes",
    "notesInFlow",
    "alwaysOutputData",
    "executeOnce",
    "retryOnFail",
    "maxTries",
    "waitBetweenTries",
    "onError",
)


class PresetError(ValueError):
    """A preset file whose content cannot be used; the message names the preset and the fix."""


def visible_fields(fields: tuple[Field, ...], values: Mapping[str, Any]) -> list[Field]:
    """Return the fields whose display rules pass for `values`, in spec order.

    When one name is defined several times, the first visible definition wins, as in n8n.
    Results are cached by the values of the parameters that the rules name, because a form
    change evaluates the same rules about a dozen times.
    """
    if not isinstance(fields, tuple):  # a list could change after its result was cached
        return _evaluate_visible(fields, values)
    names = _rule_names(fields)
    # The type is part of the key, because True and 1 are the same dict key but not the same
    # value for the display rules.
    key = (
        id(fields),
        tuple((name in values, type(values.get(name)), values.get(name)) for name in names),
    )
    try:
        cached = _visible_cache.get(key)
    except TypeError:  # a rule names a parameter whose value is a list or an object
        return _evaluate_visible(fields, values)
    if cached is not None and cached[0] is fields:
        return list(cached[1])
    result = _evaluate_visible(fields, values)
    if len(_visible_cache) >= _VISIBLE_CACHE_SIZE:
        _visible_cache.clear()
    _visible_cache[key] = (fields, tuple(result))
    return result


# Visible fields by (id of the fields tuple, the values their rules read). The tuple is stored
# too, so an id that Python reuses for another tuple is not taken for the old one.
_VISIBLE_CACHE_SIZE = 256
_visible_cache: dict[tuple[Any, ...], tuple[tuple[Field, ...], tuple[Field, ...]]] = {}
_rule_names_cache: dict[int, tuple[tuple[Field, ...], tuple[str, ...]]] = {}


def _rule_names(fields: tuple[Field, ...]) -> tuple[str, ...]:
    """Return the parameter names that the display rules of `fields` read, sorted."""
    cached = _rule_names_cache.get(id(fields))
    if cached is not None and cached[0] is fields:
        return cached[1]
    names: set[str] = set()
    for spec_field in fields:
        for rules in (spec_field.display_options or {}).values():
            names.update(rules)
    result = tuple(sorted(names))
    if len(_rule_names_cache) >= _VISIBLE_CACHE_SIZE:
        _rule_names_cache.clear()
    _rule_names_cache[id(fields)] = (fields, result)
    return result


def _evaluate_visible(fields: tuple[Field, ...], values: Mapping[str, Any]) -> list[Field]:
    seen: set[str] = set()
    result = []
    for spec_field in fields:
        if spec_field.name in seen:
            continue
        if is_visible(spec_field.display_options, values):
            result.append(spec_field)
            seen.add(spec_field.name)
    return result


def resolve_parameters(
    spec: NodeSpec, values: Mapping[str, Any], *, copy_values: bool = True
) -> dict[str, Any]:
    """Return the visible parameters only, each with its value or its spec default.

    An `options` value that is not a choice of the visible definition (an operation left over
    from another resource) falls back to the default. Visibility of later parameters depends on
    earlier ones (operation on resource), so this repeats until nothing changes. The result
    contains copies, made once at the end. With `copy_values=False` it shares values and
    defaults with `values` and the spec, for callers that only read it.
    """
    resolved: dict[str, Any] = {}
    for _ in range(len(spec.properties) + 1):
        current = visible_fields(spec.properties, {**values, **resolved})
        updated = {item.name: _stored_or_default(item, values) for item in current}
        if updated == resolved:
            break
        resolved = updated
    if copy_values:
        return {name: copy_json(value) for name, value in resolved.items()}
    return resolved


def resolve_settings(spec: NodeSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """Return every node setting with its value or default; hidden ones keep their value."""
    return {spec_field.name: _value_or_default(spec_field, values) for spec_field in spec.settings}


def check_types(fields: list[Field], values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Check stored values against their definitions; returns (name, message) pairs.

    Only names present in `values` are checked, so absent ones take their default. A string
    starting with `=` is an n8n expression and is accepted for any type, as n8n stores it.
    """
    found = []
    for spec_field in fields:
        if spec_field.name not in values:
            continue
        value = values[spec_field.name]
        if isinstance(value, str) and value.startswith("="):
            continue
        expected = _type_mismatch(spec_field, value)
        if expected:
            found.append(
                (spec_field.name, f"{spec_field.display_name} is {value!r}; expected {expected}")
            )
    return found


def _type_mismatch(spec_field: Field, value: Any) -> str:
    """Describe what `value` should be, or return "" when it fits the definition."""
    kind = spec_field.type
    if kind == "string":
        return "" if isinstance(value, str) else "text"
    if kind == "boolean":
        return "" if isinstance(value, bool) else "true or false"
    if kind == "number":
        low, high = spec_field.min_value, spec_field.max_value
        wanted = "a number" + (
            f" from {low:g} to {high:g}" if low is not None and high is not None else ""
        )
        if not isinstance(value, int | float) or isinstance(value, bool):
            return wanted
        if (low is not None and value < low) or (high is not None and value > high):
            return wanted
        return ""
    if kind == "options":
        choices = spec_field.choice_values()
        return "" if value in choices else "one of " + ", ".join(str(c) for c in choices)
    if kind == "fixedCollection" and not isinstance(value, dict):
        return "an object such as {}"
    return ""


def _value_or_default(spec_field: Field, values: Mapping[str, Any]) -> Any:
    return copy_json(_stored_or_default(spec_field, values))


def _stored_or_default(spec_field: Field, values: Mapping[str, Any]) -> Any:
    """Return the stored value, or the default when it is unset or not a choice; not copied."""
    if spec_field.name not in values:
        return spec_field.default
    value = values[spec_field.name]
    if spec_field.type == "options" and value not in spec_field.choice_values():
        return spec_field.default
    return value


def copy_json(value: Any) -> Any:
    """Copy a parameter value: dicts and lists are copied at every level, and str, int, float,
    bool and None are shared, because they are immutable. Any other type goes through
    `copy.deepcopy`. This is several times faster than `copy.deepcopy` on the JSON values the
    form stores."""
    kind = type(value)
    if kind is dict:
        return {key: copy_json(item) for key, item in value.items()}
    if kind is list:
        return [copy_json(item) for item in value]
    if kind in _IMMUTABLE_TYPES:
        return value
    return copy.deepcopy(value)


def default_option_value(option: CollectionOption) -> dict[str, Any]:
    """Return the value of a newly added collection option: every leaf field at its default.

    Nested fixedCollections start empty (`{}`), as n8n adds them only on request.
    """
    return {sub.name: copy_json(sub.default) for sub in option.fields}


def compact_parameters(
    spec: NodeSpec, values: Mapping[str, Any], *, copy_values: bool = True
) -> dict[str, Any]:
    """Return the visible parameters that differ from their default, plus resource and operation.

    This is what a preset stores, like n8n, which omits parameters left at their default.
    With `copy_values=False` the result shares values with `values` and the spec, for callers
    that only compare it.
    """
    resolved = resolve_parameters(spec, values, copy_values=copy_values)
    defaults = {f.name: f.default for f in visible_fields(spec.properties, resolved)}
    return {
        name: value
        for name, value in resolved.items()
        if name in ("resource", "operation") or value != defaults.get(name)
    }


@dataclass
class Preset:
    """A saved request: parameters in n8n's stored shape, the credential name and settings."""

    name: str
    parameters: dict[str, Any]
    credential: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    body_mode: str = "segment"
    # Input items saved with the preset, like n8n's pinData; None when the preset has none.
    items: list[dict[str, Any]] | None = None
    # When the preset file last changed (seconds since the epoch); None until read from disk.
    # It is not saved in the preset and is not compared.
    modified: float | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "formatVersion": PRESET_FORMAT_VERSION,
            "name": self.name,
            "parameters": self.parameters,
            "credential": self.credential,
            "bodyMode": self.body_mode,
        }
        for name in SETTING_NAMES:
            if name in self.settings:
                data[name] = self.settings[name]
        if self.items is not None:
            data["pinData"] = [{"json": item} for item in self.items]
        return data

    @classmethod
    def from_json(cls, data: Any, label: str) -> Preset:
        """Check a decoded preset file; `label` names it in error messages."""
        if not isinstance(data, dict):
            raise PresetError(f"preset {label}: expected a JSON object at the top level")
        version = data.get("formatVersion")
        if version != PRESET_FORMAT_VERSION:
            if isinstance(version, int) and version > PRESET_FORMAT_VERSION:
                raise PresetError(
                    f"preset {label}: written in format version {version}, but this version of "
                    f"segment-gui reads format version {PRESET_FORMAT_VERSION}; update segment-gui"
                )
            raise PresetError(
                f"preset {label}: formatVersion is {version!r}, expected {PRESET_FORMAT_VERSION}"
            )
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise PresetError(f"preset {label}: 'name' must be a non-empty string")
        parameters = data.get("parameters")
        if not isinstance(parameters, dict):
            raise PresetError(f"preset {label}: 'parameters' must be a JSON object")
        credential = data.get("credential")
        if credential is not None and not isinstance(credential, str):
            raise PresetError(f"preset {label}: 'credential' must be a string or null")
        settings = {key: data[key] for key in SETTING_NAMES if key in data}
        body_mode = data.get("bodyMode", "segment")
        if body_mode not in BODY_MODE_NAMES:
            raise PresetError(
                f"preset {label}: bodyMode is {body_mode!r}; "
                f"expected one of {list(BODY_MODE_NAMES)}"
            )
        return cls(
            name=name,
            parameters=parameters,
            credential=credential,
            settings=settings,
            body_mode=body_mode,
            items=_pinned_items(data.get("pinData"), label),
        )


def _pinned_items(data: Any, label: str) -> list[dict[str, Any]] | None:
    """Read `pinData`: a list of `{"json": {...}}` entries, as n8n pins a node's output."""
    if data is None:
        return None
    if not isinstance(data, list):
        raise PresetError(
            f"preset {label}: 'pinData' must be a list of {{\"json\": {{...}}}} items"
        )
    items = []
    for index, entry in enumerate(data):
        if not isinstance(entry, dict) or not isinstance(entry.get("json"), dict):
            raise PresetError(
                f'preset {label}: pinData item {index + 1} must look like {{"json": {{...}}}}'
            )
        items.append(entry["json"])
    return items
