"""Property tests: arbitrary JSON reaches the loaders and the payload builder without crashing.

The spec loader may raise only SpecError, the preset loader only PresetError, the preset store
and `compose()` nothing at all.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from segment_gui.model import BODY_MODE_NAMES, SETTING_NAMES, Preset, PresetError, visible_fields
from segment_gui.payload import MAX_MESSAGE_BYTES, N8N_MODE, SEGMENT_MODE, compose
from segment_gui.spec import FIELD_TYPES, Field, NodeSpec, SpecError, is_visible, parse_spec
from segment_gui.storage import PresetStore, app_paths, preset_file_name

SPEC_FILE = Path(__file__).resolve().parents[1] / "resources" / "segment-node.json"
SPEC_DATA: dict[str, Any] = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
SPEC: NodeSpec = parse_spec(SPEC_DATA, "segment-node.json")

# Every (resource, operation) pair that the bundled spec offers.
CALLS = [
    (resource.value, operation.value)
    for resource in SPEC.resources()
    for operation in SPEC.operations(str(resource.value))
]

# Texts that the payload builder reads specially: value-type keywords, numbers, JSON,
# URLs, timestamps and n8n expressions.
SPECIAL_TEXTS = [
    "",
    " ",
    "true",
    "false",
    "null",
    "42",
    "-7.5",
    "1e400",
    "0123",
    "{}",
    "[]",
    "[1, 2]",
    '{"a": 1}',
    '{"a": NaN}',
    "{not json",
    "https://example.com/pricing?plan=pro#top",
    "ftp://example.com/",
    "2026-01-31T09:30:00Z",
    "2026-01-31T09:30:00",
    "2026-01-31",
    "={{ $json.userId }}",
    "=plain",
]

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
TEXTS = st.sampled_from(SPECIAL_TEXTS) | st.text(max_size=30)


def strict_json(data: bytes) -> Any:
    """Decode `data` as standard JSON, raising ValueError for NaN and Infinity."""

    def reject(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    return json.loads(data, parse_constant=reject)


def nested_list(depth: int) -> list[Any]:
    """Return a list nested `depth` levels deep, built without recursion."""
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


# --- Spec loader ---


def json_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """List the path of every node in a decoded JSON document, the root included."""
    paths = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += json_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += json_paths(item, (*path, index))
    return paths


SPEC_PATHS = json_paths(SPEC_DATA)


def replace_at(document: Any, path: tuple[Any, ...], replacement: Any) -> Any:
    """Return a copy of `document` with the node at `path` replaced."""
    if not path:
        return replacement
    result = copy.deepcopy(document)
    parent = result
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = replacement
    return result


FIELD_KEYS = st.sampled_from(
    [
        "name",
        "displayName",
        "type",
        "default",
        "options",
        "displayOptions",
        "typeOptions",
        "required",
        "extension",
        "description",
        "placeholder",
        "values",
        "value",
    ]
)
TYPE_OPTION_KEYS = st.sampled_from(
    ["minValue", "maxValue", "multipleValues", "rows", "password", "generate"]
)


@st.composite
def spec_like_fields(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    """Draw a parameter definition that is often close to valid."""
    kind = draw(st.sampled_from([*sorted(FIELD_TYPES), "bogus"]))
    field: dict[str, Any] = {
        "name": draw(st.sampled_from(["resource", "operation", "userId", "x", "1bad", ""])),
        "displayName": draw(st.sampled_from(["Name", ""]) | st.text(max_size=5)),
        "type": kind,
        "default": draw(st.sampled_from(["", "a", 0, 1.5, True, {}, None, []]) | JSON_VALUES),
    }
    if kind == "options" or draw(st.booleans()):
        field["options"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {"name": st.text(max_size=3), "value": st.sampled_from(["a", "b", 1, True])}
                )
                | JSON_VALUES,
                max_size=3,
            )
        )
    if kind == "fixedCollection" and depth < 2:
        options = st.fixed_dictionaries(
            {
                "name": st.text(max_size=3),
                "displayName": st.text(max_size=3),
                "values": st.lists(spec_like_fields(depth + 1), max_size=3) | JSON_VALUES,
            }
        )
        field["options"] = draw(st.lists(options | JSON_VALUES, max_size=2))
    if draw(st.booleans()):
        rules = st.dictionaries(
            st.sampled_from(["show", "hide", "other"]),
            st.dictionaries(
                st.sampled_from(["resource", "operation", "missing"]),
                st.lists(st.sampled_from(["a", "b", 1, True])) | JSON_VALUES,
            )
            | JSON_VALUES,
        )
        field["displayOptions"] = draw(rules | JSON_VALUES)
    if draw(st.booleans()):
        field["typeOptions"] = draw(
            st.dictionaries(TYPE_OPTION_KEYS, JSON_VALUES, max_size=3) | JSON_VALUES
        )
    extra = draw(st.dictionaries(FIELD_KEYS, JSON_VALUES, max_size=2))
    return {**field, **extra} if draw(st.booleans()) else field


SPEC_LIKE = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["segment", ""]) | JSON_VALUES,
        "displayName": st.sampled_from(["Segment"]) | JSON_VALUES,
        "properties": st.lists(spec_like_fields(), max_size=5) | JSON_VALUES,
    },
    optional={
        "settings": st.lists(spec_like_fields(), max_size=2) | JSON_VALUES,
        "credentials": st.lists(st.fixed_dictionaries({"name": st.text()}) | JSON_VALUES),
        "version": JSON_VALUES | st.lists(SCALARS, max_size=3),
    },
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(JSON_VALUES, SPEC_LIKE))
@example({"name": "n", "displayName": "N", "properties": [], "version": [None, 1]})
@example({"name": "n", "displayName": "N", "properties": [], "version": ["2", 1]})
def test_parse_spec_arbitrary_json(data: Any) -> None:
    try:
        spec = parse_spec(data)
    except SpecError as error:
        assert error.path.startswith("$")
        return
    assert isinstance(spec, NodeSpec)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SPEC_PATHS), JSON_VALUES)
@example(("version",), [None, 1])
def test_parse_spec_mutated_node(path: tuple[Any, ...], replacement: Any) -> None:
    data = replace_at(SPEC_DATA, path, replacement)
    try:
        spec = parse_spec(data, "mutated.json")
    except SpecError as error:
        assert error.path.startswith("$"), error.path
        assert error.source == "mutated.json"
        return
    assert isinstance(spec, NodeSpec)


def test_parse_spec_unchanged_copy() -> None:
    assert parse_spec(copy.deepcopy(SPEC_DATA)) == SPEC


# --- Display rule evaluator ---

RULE_NAMES = st.sampled_from(["resource", "operation", "userId", "a", "b"])
RULE_SCALARS = (
    st.none()
    | st.booleans()
    | st.sampled_from([0, 1, -1, 0.0, 1.0, 2.5])
    | st.integers()
    | st.sampled_from(["", "a", "b", "track"])
)
RULE_LISTS = st.lists(RULE_SCALARS, max_size=4).map(tuple)
DISPLAY_OPTIONS = st.none() | st.dictionaries(
    st.sampled_from(["show", "hide"]), st.dictionaries(RULE_NAMES, RULE_LISTS, max_size=3)
)
VALUE_MAPS = st.dictionaries(RULE_NAMES | st.text(max_size=5), JSON_VALUES | RULE_SCALARS)


@settings(max_examples=200)
@given(DISPLAY_OPTIONS, VALUE_MAPS)
def test_is_visible_returns_bool(rules: Any, values: dict[str, Any]) -> None:
    assert isinstance(is_visible(rules, values), bool)


@settings(max_examples=100)
@given(VALUE_MAPS)
def test_is_visible_without_rules(values: dict[str, Any]) -> None:
    assert is_visible(None, values) is True
    assert is_visible({}, values) is True


@settings(max_examples=200)
@given(RULE_NAMES, RULE_SCALARS, RULE_LISTS, VALUE_MAPS)
def test_is_visible_show_listed_value(
    name: str, value: Any, others: tuple[Any, ...], values: dict[str, Any]
) -> None:
    current = {**values, name: value}
    assert is_visible({"show": {name: (*others, value)}}, current) is True


@settings(max_examples=200)
@given(RULE_NAMES, RULE_SCALARS, RULE_LISTS, VALUE_MAPS)
def test_is_visible_hide_listed_value(
    name: str, value: Any, others: tuple[Any, ...], values: dict[str, Any]
) -> None:
    current = {**values, name: value}
    assert is_visible({"hide": {name: (value, *others)}}, current) is False


def test_is_visible_bool_is_not_number() -> None:
    assert is_visible({"show": {"a": (1,)}}, {"a": True}) is False
    assert is_visible({"show": {"a": (True,)}}, {"a": 1}) is False
    assert is_visible({"show": {"a": (1.0,)}}, {"a": 1}) is True


def rule_field(name: str, rules: Any) -> Field:
    return Field(name=name, display_name=name, type="string", default="", display_options=rules)


@settings(max_examples=200)
@given(st.lists(DISPLAY_OPTIONS, min_size=1, max_size=5), st.lists(VALUE_MAPS, max_size=4))
def test_visible_fields_cache_matches_rules(rules: list[Any], value_maps: list[Any]) -> None:
    fields = tuple(rule_field(f"f{index}", rule) for index, rule in enumerate(rules))
    for values in [*value_maps, *value_maps]:  # the second pass reads the cache
        expected = [item for item in fields if is_visible(item.display_options, values)]
        assert visible_fields(fields, values) == expected


def test_visible_fields_cache_bool_is_not_number() -> None:
    fields = (rule_field("shown", {"show": {"a": (1,)}}),)
    assert visible_fields(fields, {"a": 1}) == list(fields)
    assert visible_fields(fields, {"a": True}) == []
    assert visible_fields(fields, {"a": 1}) == list(fields)


def test_visible_fields_list_value_not_cached() -> None:
    fields = (rule_field("shown", {"show": {"a": (1,)}}),)
    assert visible_fields(fields, {"a": [1]}) == []
    assert visible_fields(fields, {"a": 1}) == list(fields)


# --- Preset loader ---

PRESET_NAMES = st.text(min_size=1, max_size=20)
PRESET_LIKE = st.fixed_dictionaries(
    {
        "formatVersion": st.sampled_from([1, 1, 1, 2, 0, "1", None]) | JSON_VALUES,
        "name": PRESET_NAMES | JSON_VALUES,
        "parameters": st.dictionaries(st.text(max_size=8), JSON_VALUES) | JSON_VALUES,
    },
    optional={
        "credential": st.none() | st.text(max_size=8) | JSON_VALUES,
        "bodyMode": st.sampled_from([*BODY_MODE_NAMES, "other"]) | JSON_VALUES,
        **{name: JSON_VALUES for name in SETTING_NAMES},
    },
)
VALID_PRESETS = st.fixed_dictionaries(
    {
        "formatVersion": st.just(1),
        "name": PRESET_NAMES.filter(lambda name: name.strip() != ""),
        "parameters": st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4),
        "credential": st.none() | st.text(max_size=8),
        "bodyMode": st.sampled_from(BODY_MODE_NAMES),
    },
    optional={name: JSON_VALUES for name in SETTING_NAMES},
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(JSON_VALUES, PRESET_LIKE, VALID_PRESETS))
def test_preset_from_json_arbitrary(data: Any) -> None:
    try:
        preset = Preset.from_json(data, "label")
    except PresetError as error:
        assert "label" in str(error)
        return
    assert isinstance(preset, Preset)


@settings(max_examples=100, deadline=None)
@given(VALID_PRESETS)
def test_preset_round_trip(data: dict[str, Any]) -> None:
    preset = Preset.from_json(data, "label")
    assert Preset.from_json(preset.to_json(), "label") == preset
    assert preset.to_json() == data


FILE_CONTENTS = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=100).map(lambda text: text.encode("utf-8")),
    JSON_VALUES.map(lambda value: json.dumps(value).encode("utf-8")),
    PRESET_LIKE.map(lambda value: json.dumps(value).encode("utf-8")),
    st.sampled_from([b"", b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00", b'{"a": NaN}', b"\x00"]),
)


@st.composite
def preset_folders(draw: st.DrawFn) -> tuple[dict[str, bytes], set[str]]:
    """Draw preset files by file name, and the names of the files that must load."""
    files: dict[str, bytes] = {}
    loadable: set[str] = set()
    for index in range(draw(st.integers(min_value=0, max_value=6))):
        if draw(st.booleans()):
            data = draw(VALID_PRESETS)
            file_name = preset_file_name(str(data["name"]))
            if file_name in files:
                continue
            files[file_name] = json.dumps(data, ensure_ascii=draw(st.booleans())).encode("utf-8")
            loadable.add(file_name)
        else:
            files[f"file-{index}.json"] = draw(FILE_CONTENTS)
    return files, loadable


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(preset_folders())
def test_preset_store_load_all_garbage(
    tmp_path_factory: pytest.TempPathFactory, folder_files: tuple[dict[str, bytes], set[str]]
) -> None:
    files, loadable = folder_files
    home = tmp_path_factory.mktemp("home")
    store = PresetStore(app_paths(home))
    store.folder.mkdir(parents=True)
    for file_name, content in files.items():
        (store.folder / file_name).write_bytes(content)
    (store.folder / "notes.txt").write_bytes(b"not a preset")

    presets, errors = store.load_all()

    loaded = {preset_file_name(preset.name) for preset in presets}
    assert loadable <= loaded
    assert len(presets) + len(errors) == len(files)
    for file_name, content in files.items():
        path = store.folder / file_name
        reports = [error for error in errors if f"file {path}," in error]
        if file_name in loaded:
            assert reports == []
        else:
            assert len(reports) == 1, (file_name, errors)
            assert "left unchanged" in reports[0]
        assert path.read_bytes() == content
    assert not any("notes.txt" in error for error in errors)


def test_preset_store_reports_folder_named_json(home: Path) -> None:
    store = PresetStore(app_paths(home))
    (store.folder / "folder.json").mkdir(parents=True)

    presets, errors = store.load_all()

    assert presets == []
    assert len(errors) == 1
    assert "folder.json" in errors[0]


def test_preset_store_huge_integer(home: Path) -> None:
    store = PresetStore(app_paths(home))
    store.folder.mkdir(parents=True)
    body = '{"formatVersion": 1, "name": "big", "parameters": {"n": ' + "1" * 5000 + "}}"
    (store.folder / "big.json").write_text(body, encoding="utf-8")

    presets, errors = store.load_all()

    assert presets == []
    assert len(errors) == 1


def test_preset_store_deeply_nested(home: Path) -> None:
    store = PresetStore(app_paths(home))
    store.folder.mkdir(parents=True)
    (store.folder / "deep.json").write_text("[" * 100_000, encoding="utf-8")

    presets, errors = store.load_all()

    assert presets == []
    assert len(errors) == 1


# --- Payload builder ---


def field_values(spec_field: Field, depth: int = 0) -> st.SearchStrategy[Any]:
    """Return values shaped like `spec_field` stores them, mixed with arbitrary JSON."""
    return st.one_of(*[shaped_values(spec_field, depth)] * 3, JSON_VALUES)


def shaped_values(spec_field: Field, depth: int = 0) -> st.SearchStrategy[Any]:
    """Return values of the JSON type that `spec_field` stores, with mixed leaves inside."""
    if spec_field.type == "string":
        return TEXTS
    if spec_field.type == "boolean":
        return st.booleans()
    if spec_field.type == "number":
        return st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    if spec_field.type == "options":
        return st.sampled_from(spec_field.choice_values())
    if spec_field.type != "fixedCollection" or depth >= 3:
        return JSON_VALUES
    options = {}
    for option in spec_field.collection_options:
        row = st.fixed_dictionaries(
            {}, optional={sub.name: field_values(sub, depth + 1) for sub in option.fields}
        )
        options[option.name] = (
            st.lists(row | JSON_VALUES, max_size=4) if spec_field.multiple_values else row
        )
    return st.fixed_dictionaries({}, optional=options)


def parameter_values() -> st.SearchStrategy[dict[str, Any]]:
    """Return form values: spec parameters with random names beside them.

    Half of the drawn forms give every top-level parameter the JSON type of its definition,
    so that many of them reach the builders instead of stopping at the type check.
    """
    by_name: dict[str, list[Field]] = {}
    for spec_field in SPEC.properties:
        by_name.setdefault(spec_field.name, []).append(spec_field)
    names = [name for name in by_name if name not in ("resource", "operation")]
    typed = st.fixed_dictionaries(
        {},
        optional={
            name: st.one_of(*(shaped_values(definition) for definition in by_name[name]))
            for name in names
        },
    )
    mixed = st.fixed_dictionaries(
        {},
        optional={
            name: st.one_of(*(field_values(definition) for definition in by_name[name]))
            for name in names
        },
    )
    extra = st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=3)
    calls = st.sampled_from(CALLS).map(lambda call: {"resource": call[0], "operation": call[1]})
    odd_calls = st.fixed_dictionaries(
        {}, optional={"resource": JSON_VALUES, "operation": JSON_VALUES}
    )
    return st.builds(
        lambda call, values, more: {**more, **values, **call},
        st.one_of(calls, calls, calls, odd_calls),
        typed | mixed,
        extra,
    )


def check_composition(values: dict[str, Any], mode: str) -> None:
    composition = compose(SPEC, values, anonymous_id="a", message_id="m", mode=mode)

    if composition.sendable:
        assert composition.message is not None
        data = composition.message.to_bytes()
        assert len(data) <= MAX_MESSAGE_BYTES
        assert isinstance(strict_json(data), dict)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parameter_values())
def test_compose_segment_arbitrary_values(values: dict[str, Any]) -> None:
    check_composition(values, SEGMENT_MODE)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parameter_values())
def test_compose_n8n_arbitrary_values(values: dict[str, Any]) -> None:
    check_composition(values, N8N_MODE)


@pytest.mark.parametrize("mode", [SEGMENT_MODE, N8N_MODE])
def test_compose_oversized_message(mode: str) -> None:
    values = {"resource": "track", "operation": "event", "event": "x" * (MAX_MESSAGE_BYTES + 1)}

    composition = compose(SPEC, values, anonymous_id="a", message_id="m", mode=mode)

    assert not composition.sendable
    assert any("32 KB" in problem.message for problem in composition.errors())


@pytest.mark.parametrize("mode", [SEGMENT_MODE, N8N_MODE])
def test_compose_lone_surrogate(mode: str) -> None:
    values = {"resource": "track", "operation": "event", "event": "\ud800"}

    composition = compose(SPEC, values, anonymous_id="a", message_id="m", mode=mode)

    assert composition.message is None
    assert "not valid Unicode (\\ud800" in composition.errors()[0].message


@pytest.mark.parametrize(
    "extra",
    [
        {"properties": {"propertiesUi": [{"key": "k", "value": "[1e400]", "valueType": "json"}]}},
        {"context": {"contextUi": {"page": '{"title": 1e400}'}}},
    ],
    ids=["json-row", "page-object"],
)
def test_compose_number_overflow(extra: dict[str, Any]) -> None:
    values = {"resource": "track", "operation": "event", "event": "e", **extra}

    check_composition(values, SEGMENT_MODE)


@pytest.mark.parametrize(
    "extra",
    [
        {"properties": {"propertiesUi": [{"key": "k", "value": "[" * 5000, "valueType": "json"}]}},
        {"context": {"contextUi": {"page": '{"a": ' + "[" * 5000 + "]" * 5000 + "}"}}},
    ],
    ids=["json-row", "page-object"],
)
def test_compose_deeply_nested_text(extra: dict[str, Any]) -> None:
    values = {"resource": "track", "operation": "event", "event": "e", **extra}

    check_composition(values, SEGMENT_MODE)


@pytest.mark.parametrize("mode", [SEGMENT_MODE, N8N_MODE])
def test_compose_deeply_nested_value(mode: str) -> None:
    values = {"resource": "track", "operation": "event", "event": nested_list(600)}

    try:
        check_composition(values, mode)
    except RecursionError as error:
        # Raise a new error without the original's ~1000 frames, which pytest needs
        # seconds to format.
        raise RecursionError(str(error)) from None
