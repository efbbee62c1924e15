"""The node spec loader and the display-rule evaluator, without Qt."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from segment_gui.model import resolve_parameters, visible_fields
from segment_gui.spec import SpecError, is_visible, load_spec, parse_spec

SPEC_FILE = Path(__file__).resolve().parents[1] / "resources" / "segment-node.json"

# The fields each operation shows, in order (from the node's parameter tables).
VISIBLE_FIELDS = {
    ("group", "add"): ["userId", "groupId", "traits", "context", "integrations", "advanced"],
    ("identify", "create"): ["userId", "traits", "context", "integrations", "advanced"],
    ("track", "event"): ["userId", "event", "context", "integrations", "properties", "advanced"],
    ("track", "page"): ["userId", "name", "context", "integrations", "properties", "advanced"],
    # Extensions that n8n's node lacks:
    ("identify", "alias"): ["userId", "previousId", "context", "integrations", "advanced"],
    ("track", "screen"): ["userId", "name", "context", "integrations", "properties", "advanced"],
}


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return json.loads(SPEC_FILE.read_text(encoding="utf-8"))


def test_load_bundled_spec() -> None:
    spec = load_spec()
    assert spec.name == "segment"
    assert spec.display_name == "Segment"
    assert spec.credentials == ("segmentApi",)
    assert [choice.value for choice in spec.resources()] == ["group", "identify", "track"]
    assert [choice.value for choice in spec.operations("track")] == ["event", "page", "screen"]
    assert [choice.value for choice in spec.operations("group")] == ["add"]
    assert [choice.value for choice in spec.operations("identify")] == ["create", "alias"]
    extensions = [
        c.value for r in ("group", "identify", "track") for c in spec.operations(r) if c.extension
    ]
    assert extensions == ["alias", "screen"]


def test_load_spec_no_qt_import() -> None:
    import subprocess

    code = (
        "import sys; from segment_gui.spec import load_spec; import segment_gui.payload; "
        "load_spec(); print(any(m.startswith('PySide6') for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(("call", "expected"), list(VISIBLE_FIELDS.items()))
def test_visible_fields_per_operation(call: tuple[str, str], expected: list[str]) -> None:
    spec = load_spec()
    resource, operation = call
    parameters = resolve_parameters(spec, {"resource": resource, "operation": operation})
    assert list(parameters) == ["resource", "operation", *expected]


def test_resource_default_is_identify() -> None:
    spec = load_spec()
    assert resolve_parameters(spec, {})["resource"] == "identify"
    assert resolve_parameters(spec, {})["operation"] == "create"


def test_operation_from_other_resource_falls_back() -> None:
    spec = load_spec()
    parameters = resolve_parameters(spec, {"resource": "group", "operation": "page"})
    assert parameters["operation"] == "add"


def test_hidden_values_dropped() -> None:
    spec = load_spec()
    parameters = resolve_parameters(
        spec, {"resource": "identify", "operation": "create", "event": "x", "groupId": "g"}
    )
    assert "event" not in parameters
    assert "groupId" not in parameters


def test_collections_shapes(raw: dict[str, Any]) -> None:
    spec = load_spec()
    traits = spec.fields_named("traits")[0]
    assert traits.multiple_values is True
    assert traits.placeholder == "Add Trait"
    row_fields = traits.collection_options[0].fields
    assert [f.name for f in row_fields] == ["key", "value", "valueType"]
    assert [f.extension for f in row_fields] == [False, False, True]
    assert row_fields[2].choice_values() == ["auto", "string", "number", "boolean", "null", "json"]
    advanced = spec.fields_named("advanced")[0]
    assert advanced.extension is True
    assert advanced.display_options is None
    context = spec.fields_named("context")[0]
    assert context.multiple_values is False
    names = [f.name for f in context.collection_options[0].fields]
    assert names == ["active", "ip", "locate", "page", "timezone", "app", "campaign", "device"]
    nested = {f.name: f for f in context.collection_options[0].fields}
    assert nested["campaign"].placeholder == "Campaign App"
    assert [f.name for f in nested["device"].collection_options[0].fields] == [
        "id",
        "manufacturer",
        "model",
        "name",
        "type",
        "version",
    ]
    integrations = spec.fields_named("integrations")[0]
    defaults = {f.name: f.default for f in integrations.collection_options[0].fields}
    assert defaults == {"all": True, "salesforce": False}


def test_settings_ranges() -> None:
    spec = load_spec()
    settings = {f.name: f for f in spec.settings}
    assert list(settings) == [
        "notes",
        "notesInFlow",
        "alwaysOutputData",
        "executeOnce",
        "retryOnFail",
        "maxTries",
        "waitBetweenTries",
        "onError",
    ]
    assert (settings["maxTries"].min_value, settings["maxTries"].max_value) == (2, 5)
    assert settings["maxTries"].default == 3
    assert (settings["waitBetweenTries"].min_value, settings["waitBetweenTries"].max_value) == (
        0,
        5000,
    )
    assert settings["waitBetweenTries"].default == 1000
    assert settings["onError"].choice_values() == [
        "stopWorkflow",
        "continueRegularOutput",
        "continueErrorOutput",
    ]


def test_settings_retry_fields_follow_rule() -> None:
    spec = load_spec()
    off = [f.name for f in visible_fields(spec.settings, {"retryOnFail": False})]
    on = [f.name for f in visible_fields(spec.settings, {"retryOnFail": True})]
    assert off == [
        "notes",
        "notesInFlow",
        "alwaysOutputData",
        "executeOnce",
        "retryOnFail",
        "onError",
    ]
    assert on == [
        "notes",
        "notesInFlow",
        "alwaysOutputData",
        "executeOnce",
        "retryOnFail",
        "maxTries",
        "waitBetweenTries",
        "onError",
    ]


@pytest.mark.parametrize(
    ("rules", "values", "expected"),
    [
        (None, {}, True),
        ({"show": {"resource": ["track"]}}, {"resource": "track"}, True),
        ({"show": {"resource": ["track"]}}, {"resource": "group"}, False),
        ({"show": {"resource": ["track"]}}, {}, False),
        (
            {"show": {"resource": ["track"], "operation": ["page"]}},
            {"resource": "track", "operation": "event"},
            False,
        ),
        ({"show": {"resource": ["track", "group"]}}, {"resource": "group"}, True),
        ({"hide": {"resource": ["track"]}}, {"resource": "track"}, False),
        ({"hide": {"resource": ["track"]}}, {"resource": "group"}, True),
        ({"hide": {"resource": ["track"]}}, {}, True),
        ({"hide": {"a": [1], "b": [2]}}, {"a": 0, "b": 2}, False),
        ({"show": {"retryOnFail": [True]}}, {"retryOnFail": True}, True),
        ({"show": {"retryOnFail": [True]}}, {"retryOnFail": 1}, False),
        ({"show": {"count": [1]}}, {"count": 1.0}, True),
        ({"show": {"a": ["x"]}, "hide": {"b": ["y"]}}, {"a": "x", "b": "y"}, False),
    ],
)
def test_display_rules(rules: Any, values: dict[str, Any], expected: bool) -> None:
    assert is_visible(rules, values) is expected


def _break(raw: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(raw)
    target = broken
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return broken


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "error_path", "words"),
    [
        (["properties"], {}, "$.properties", "expected a list"),
        (["name"], _DELETE, "$.name", "missing"),
        (["properties", 0, "type"], "dropdown", "$.properties[0].type", "unknown type 'dropdown'"),
        (["properties", 0, "default"], "nope", "$.properties[0].default", "not one of"),
        (["properties", 0, "options"], [], "$.properties[0].options", "at least one choice"),
        (["properties", 4, "default"], 5, "$.properties[4].default", "string default"),
        (
            ["properties", 4, "name"],
            "user id",
            "$.properties[4].name",
            "not a valid parameter name",
        ),
        (
            ["properties", 4, "displayOptions", "show"],
            ["x"],
            "$.properties[4].displayOptions.show",
            "expected an object",
        ),
        (
            ["properties", 4, "displayOptions", "when"],
            {},
            "$.properties[4].displayOptions.when",
            "unknown rule",
        ),
        (
            ["properties", 4, "displayOptions", "show", "resorce"],
            ["group"],
            "$.properties[4].displayOptions.show.resorce",
            "no parameter defines",
        ),
        (
            ["properties", 6, "options", 0, "values", 1, "type"],
            7,
            "$.properties[6].options[0].values[1].type",
            "expected a string",
        ),
        (
            ["properties", 7, "options", 0, "values", 5, "options", 0, "values", 0, "default"],
            None,
            "$.properties[7].options[0].values[5].options[0].values[0].default",
            "string default",
        ),
        (
            ["properties", 6, "typeOptions", "multipleValues"],
            "yes",
            "$.properties[6].typeOptions.multipleValues",
            "true or false",
        ),
        (["settings", 5, "default"], 9, "$.settings[5].default", "outside the range"),
        (
            ["settings", 5, "typeOptions", "minValue"],
            7,
            "$.settings[5].typeOptions",
            "greater than maxValue",
        ),
    ],
)
def test_loader_names_malformed_path(
    raw: dict[str, Any], path: list[Any], value: Any, error_path: str, words: str
) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(_break(raw, path, value), "test.json")
    assert caught.value.path == error_path
    assert words in caught.value.problem
    assert str(caught.value).startswith(f"test.json: {error_path}: ")


def test_loader_invalid_json_position(tmp_path: Path) -> None:
    broken = tmp_path / "spec.json"
    broken.write_text('{\n  "name": "segment",\n  "properties": [,]\n}\n', encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(broken)
    assert "line 3" in str(caught.value)
    assert str(broken) in str(caught.value)


def test_loader_second_operation_selector(raw: dict[str, Any]) -> None:
    broken = copy.deepcopy(raw)
    broken["properties"][3]["displayOptions"]["show"]["resource"] = ["group"]
    with pytest.raises(SpecError) as caught:
        parse_spec(broken, "test.json")
    assert caught.value.path == "$.properties[3]"
