"""Load and check the Segment node description, and evaluate its display rules.

The description follows n8n's node description shape: `properties` is a flat list of parameter
definitions, and one parameter name may appear several times with different `displayOptions`
(n8n defines `userId` once per operation). Parameter values live in one flat mapping keyed by
name, so a value typed for one operation stays when another operation shows the same name.

Fields and choices marked `"extension": true` are segment-gui additions that n8n's Segment node
lacks: value types, the Advanced collection, and the Screen and Alias operations. Exports to
n8n drop them.

This module is plain Python with no Qt import, so the payload builder, the CLI and tests use it
directly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

FIELD_TYPES = frozenset({"string", "number", "boolean", "options", "fixedCollection"})
DEFAULT_SPEC_NAME = "segment-node.json"
_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SpecError(ValueError):
    """A node description that cannot be used; the message names the JSON path at fault."""

    def __init__(self, source: str, path: str, problem: str) -> None:
        super().__init__(f"{source}: {path}: {problem}")
        self.source = source
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class Choice:
    """One entry of an `options` parameter."""

    name: str
    value: str | int | float | bool
    description: str = ""
    extension: bool = False


@dataclass(frozen=True)
class CollectionOption:
    """One option of a fixedCollection: a named group of fields (n8n's `options[].values`)."""

    name: str
    display_name: str
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Field:
    """A parameter definition, at the top level or inside a fixedCollection option."""

    name: str
    display_name: str
    type: str
    default: Any
    description: str = ""
    placeholder: str = ""
    required: bool = False
    display_options: Mapping[str, Mapping[str, tuple[Any, ...]]] | None = None
    choices: tuple[Choice, ...] = ()
    collection_options: tuple[CollectionOption, ...] = ()
    multiple_values: bool = False
    min_value: float | None = None
    max_value: float | None = None
    password: bool = False
    rows: int = 1
    generate: str = ""
    extension: bool = False
    no_data_expression: bool = False
    spec_path: str = ""

    def choice_values(self) -> list[Any]:
        return [choice.value for choice in self.choices]


@dataclass(frozen=True)
class NodeSpec:
    """A checked node description."""

    name: str
    display_name: str
    description: str
    subtitle: str
    version: int
    credentials: tuple[str, ...]
    properties: tuple[Field, ...]
    settings: tuple[Field, ...] = field(default=())

    def fields_named(self, name: str) -> list[Field]:
        return [prop for prop in self.properties if prop.name == name]

    def resources(self) -> list[Choice]:
        resource = self.fields_named("resource")
        return list(resource[0].choices) if resource else []

    def operations(self, resource: str) -> list[Choice]:
        for prop in self.fields_named("operation"):
            if is_visible(prop.display_options, {"resource": resource}):
                return list(prop.choices)
        return []


def is_visible(
    display_options: Mapping[str, Mapping[str, Sequence[Any]]] | None,
    values: Mapping[str, Any],
) -> bool:
    """Apply n8n's `displayOptions` rules to parameter `values`.

    `show`: every listed parameter must currently have one of its listed values (a missing
    parameter has none). `hide`: the field is hidden as soon as any listed parameter has one
    of its listed values. No rules means always visible.
    """
    if not display_options:
        return True
    for name, allowed in display_options.get("show", {}).items():
        if name not in values or not _matches(values[name], allowed):
            return False
    for name, hidden in display_options.get("hide", {}).items():
        if name in values and _matches(values[name], hidden):
            return False
    return True


def _matches(value: Any, listed: Sequence[Any]) -> bool:
    # A boolean True must not match the number 1 (Python treats them as equal).
    return any(value == item and type(value) is type(item) for item in listed) or (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and any(
            isinstance(item, int | float) and not isinstance(item, bool) and value == item
            for item in listed
        )
    )


def load_spec(path: str | Path | None = None) -> NodeSpec:
    """Read and check a node description file; the bundled Segment node when `path` is None."""
    if path is None:
        source = DEFAULT_SPEC_NAME
        text = (
            resources.files("segment_gui.resources")
            .joinpath(DEFAULT_SPEC_NAME)
            .read_text(encoding="utf-8")
        )
    else:
        source = str(path)
        text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SpecError(
            source, "$", f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from error
    return parse_spec(data, source)


def parse_spec(data: Any, source: str = "<spec>") -> NodeSpec:
    """Check a decoded node description and turn it into frozen definitions."""
    checker = _Checker(source)
    return checker.node(data)


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, problem: str) -> SpecError:
        return SpecError(self.source, path, problem)

    def node(self, data: Any) -> NodeSpec:
        self.expect(data, dict, "$", "an object")
        name = self.text(data, "name", "$", required=True)
        display_name = self.text(data, "displayName", "$", required=True)
        properties_data = data.get("properties")
        self.expect(properties_data, list, "$.properties", "a list")
        properties = tuple(
            self.field(item, f"$.properties[{index}]") for index, item in enumerate(properties_data)
        )
        settings_data = data.get("settings", [])
        self.expect(settings_data, list, "$.settings", "a list")
        settings = tuple(
            self.field(item, f"$.settings[{index}]") for index, item in enumerate(settings_data)
        )
        self.references(properties, "$.properties")
        self.references(settings, "$.settings")
        credentials_data = data.get("credentials", [])
        self.expect(credentials_data, list, "$.credentials", "a list")
        credentials = tuple(
            self.text(item, "name", f"$.credentials[{index}]", required=True)
            for index, item in enumerate(credentials_data)
        )
        version = data.get("version", 1)
        if isinstance(version, list):
            for index, item in enumerate(version):
                if not isinstance(item, int) or isinstance(item, bool):
                    raise self.fail(f"$.version[{index}]", f"expected an integer, got {item!r}")
            version = max(version, default=1)
        if not isinstance(version, int) or isinstance(version, bool):
            raise self.fail("$.version", f"expected an integer, got {version!r}")
        spec = NodeSpec(
            name=name,
            display_name=display_name,
            description=self.text(data, "description", "$"),
            subtitle=self.text(data, "subtitle", "$"),
            version=version,
            credentials=credentials,
            properties=properties,
            settings=settings,
        )
        self.operations(spec)
        return spec

    def expect(self, value: Any, kind: type, path: str, wanted: str) -> None:
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(path, f"expected {wanted}, got {_describe(value)}")

    def flag(self, data: dict[str, Any], key: str, path: str) -> bool:
        value = data.get(key, False)
        self.expect(value, bool, f"{path}.{key}", "true or false")
        return bool(value)

    def text(self, data: Any, key: str, path: str, required: bool = False) -> str:
        self.expect(data, dict, path, "an object")
        if key not in data:
            if required:
                raise self.fail(f"{path}.{key}", "missing")
            return ""
        value = data[key]
        self.expect(value, str, f"{path}.{key}", "a string")
        if required and not value:
            raise self.fail(f"{path}.{key}", "must not be empty")
        return str(value)

    def field(self, data: Any, path: str) -> Field:
        self.expect(data, dict, path, "an object")
        name = self.text(data, "name", path, required=True)
        if not _NAME_PATTERN.match(name):
            raise self.fail(f"{path}.name", f"{name!r} is not a valid parameter name")
        display_name = self.text(data, "displayName", path, required=True)
        kind = self.text(data, "type", path, required=True)
        if kind not in FIELD_TYPES:
            raise self.fail(
                f"{path}.type", f"unknown type {kind!r}; expected one of {sorted(FIELD_TYPES)}"
            )
        required = data.get("required", False)
        self.expect(required, bool, f"{path}.required", "true or false")
        type_options = data.get("typeOptions", {})
        self.expect(type_options, dict, f"{path}.typeOptions", "an object")
        choices: tuple[Choice, ...] = ()
        collection_options: tuple[CollectionOption, ...] = ()
        if kind == "options":
            choices = self.choices(data.get("options"), f"{path}.options")
        if kind == "fixedCollection":
            collection_options = self.collection_options(data.get("options"), f"{path}.options")
        min_value, max_value = self.range(type_options, f"{path}.typeOptions")
        multiple = type_options.get("multipleValues", False)
        self.expect(multiple, bool, f"{path}.typeOptions.multipleValues", "true or false")
        rows = type_options.get("rows", 1)
        self.expect(rows, int, f"{path}.typeOptions.rows", "an integer")
        password = type_options.get("password", False)
        self.expect(password, bool, f"{path}.typeOptions.password", "true or false")
        generate = type_options.get("generate", "")
        if generate not in ("", "uuid"):
            raise self.fail(
                f"{path}.typeOptions.generate", f"unknown generator {generate!r}; expected 'uuid'"
            )
        extension = self.flag(data, "extension", path)
        no_data_expression = self.flag(data, "noDataExpression", path)
        if "default" not in data:
            raise self.fail(f"{path}.default", "missing")
        result = Field(
            name=name,
            display_name=display_name,
            type=kind,
            default=data["default"],
            description=self.text(data, "description", path),
            placeholder=self.text(data, "placeholder", path),
            required=required,
            display_options=self.display_options(data.get("displayOptions"), path),
            choices=choices,
            collection_options=collection_options,
            multiple_values=multiple,
            min_value=min_value,
            max_value=max_value,
            password=password,
            rows=rows,
            generate=generate,
            extension=extension,
            no_data_expression=no_data_expression,
            spec_path=path,
        )
        self.default(result, f"{path}.default")
        return result

    def choices(self, data: Any, path: str) -> tuple[Choice, ...]:
        self.expect(data, list, path, "a list of choices")
        if not data:
            raise self.fail(path, "an options parameter needs at least one choice")
        result = []
        for index, item in enumerate(data):
            item_path = f"{path}[{index}]"
            name = self.text(item, "name", item_path, required=True)
            if "value" not in item:
                raise self.fail(f"{item_path}.value", "missing")
            value = item["value"]
            if not isinstance(value, str | int | float | bool):
                raise self.fail(f"{item_path}.value", f"expected a scalar, got {_describe(value)}")
            description = self.text(item, "description", item_path)
            result.append(Choice(name, value, description, self.flag(item, "extension", item_path)))
        values = [choice.value for choice in result]
        for index, value in enumerate(values):
            if values.index(value) != index:
                raise self.fail(f"{path}[{index}].value", f"duplicate choice value {value!r}")
        return tuple(result)

    def collection_options(self, data: Any, path: str) -> tuple[CollectionOption, ...]:
        self.expect(data, list, path, "a list of collection options")
        if not data:
            raise self.fail(path, "a fixedCollection needs at least one option")
        result = []
        for index, item in enumerate(data):
            item_path = f"{path}[{index}]"
            name = self.text(item, "name", item_path, required=True)
            display_name = self.text(item, "displayName", item_path, required=True)
            values = item.get("values")
            self.expect(values, list, f"{item_path}.values", "a list of fields")
            fields = tuple(
                self.field(value, f"{item_path}.values[{value_index}]")
                for value_index, value in enumerate(values)
            )
            names = [f.name for f in fields]
            for value_index, value_name in enumerate(names):
                if names.index(value_name) != value_index:
                    raise self.fail(
                        f"{item_path}.values[{value_index}].name",
                        f"duplicate field name {value_name!r} in option {name!r}",
                    )
            result.append(CollectionOption(name, display_name, fields))
        return tuple(result)

    def range(self, type_options: dict[str, Any], path: str) -> tuple[float | None, float | None]:
        bounds: list[float | None] = []
        for key in ("minValue", "maxValue"):
            value = type_options.get(key)
            if value is not None and (
                not isinstance(value, int | float) or isinstance(value, bool)
            ):
                raise self.fail(f"{path}.{key}", f"expected a number, got {_describe(value)}")
            bounds.append(value)
        low, high = bounds
        if low is not None and high is not None and low > high:
            raise self.fail(path, f"minValue {low} is greater than maxValue {high}")
        return low, high

    def display_options(
        self, data: Any, path: str
    ) -> Mapping[str, Mapping[str, tuple[Any, ...]]] | None:
        if data is None:
            return None
        path = f"{path}.displayOptions"
        self.expect(data, dict, path, "an object")
        result: dict[str, dict[str, tuple[Any, ...]]] = {}
        for rule, conditions in data.items():
            if rule not in ("show", "hide"):
                raise self.fail(f"{path}.{rule}", "unknown rule; expected 'show' or 'hide'")
            self.expect(conditions, dict, f"{path}.{rule}", "an object")
            result[rule] = {}
            for name, values in conditions.items():
                self.expect(values, list, f"{path}.{rule}.{name}", "a list of values")
                result[rule][name] = tuple(values)
        return result

    def default(self, spec_field: Field, path: str) -> None:
        value = spec_field.default
        kind = spec_field.type
        if kind == "string" and not isinstance(value, str):
            raise self.fail(path, f"a string parameter needs a string default, got {value!r}")
        if kind == "boolean" and not isinstance(value, bool):
            raise self.fail(path, f"a boolean parameter needs true or false, got {value!r}")
        if kind == "number":
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise self.fail(path, f"a number parameter needs a number default, got {value!r}")
            low, high = spec_field.min_value, spec_field.max_value
            if (low is not None and value < low) or (high is not None and value > high):
                raise self.fail(path, f"default {value} is outside the range {low}..{high}")
        if kind == "options" and value not in spec_field.choice_values():
            raise self.fail(path, f"default {value!r} is not one of {spec_field.choice_values()!r}")
        if kind == "fixedCollection" and not isinstance(value, dict):
            raise self.fail(path, f"a fixedCollection needs an object default, got {value!r}")

    def references(self, fields: tuple[Field, ...], path: str) -> None:
        """Check that display rules only name parameters defined beside them."""
        names = {f.name for f in fields}
        for index, spec_field in enumerate(fields):
            for rule, conditions in (spec_field.display_options or {}).items():
                for name in conditions:
                    if name not in names:
                        raise self.fail(
                            f"{path}[{index}].displayOptions.{rule}.{name}",
                            f"refers to {name!r}, which no parameter defines",
                        )

    def operations(self, spec: NodeSpec) -> None:
        """Check that every resource has exactly one operation selector shown for it."""
        for choice in spec.resources():
            selectors = [
                prop
                for prop in spec.fields_named("operation")
                if is_visible(prop.display_options, {"resource": choice.value})
            ]
            if len(selectors) > 1:
                raise self.fail(
                    selectors[1].spec_path,
                    f"a second operation selector is shown for resource {choice.value!r}",
                )


def _describe(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    for kind, label in names.items():
        if type(value) is kind:
            return f"{label} ({json.dumps(value)[:40]})"
    if isinstance(value, int | float):
        return f"the number {value}"
    return type(value).__name__
