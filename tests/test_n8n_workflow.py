"""Import of n8n workflow JSON as presets, export of presets as n8n nodes, and the round trip."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segment_gui.model import Preset
from segment_gui.n8n_workflow import (
    SEGMENT_NODE_TYPE,
    ExportNotice,
    WorkflowError,
    WorkflowImport,
    export_notices,
    export_workflow,
    import_presets,
    parse_workflow,
    read_workflow_file,
    workflow_json,
)
from segment_gui.spec import NodeSpec, load_spec
from segment_gui.storage import PresetStore, app_paths

WORKFLOW_FILE = Path(__file__).parent / "data" / "n8n-workflow.json"

TRACK_PARAMETERS = {
    "resource": "track",
    "userId": "={{ $json.userId }}",
    "event": "Signed Up",
    "context": {
        "contextUi": {
            "ip": "203.0.113.24",
            "locate": "en-GB",
            "app": {"appUi": {"name": "Acme Web", "version": "4.2.0", "build": "1187"}},
        }
    },
    "properties": {
        "propertiesUi": [
            {"key": "plan", "value": "={{ $json.plan }}"},
            {"key": "source", "value": "landing page"},
        ]
    },
}
IDENTIFY_PARAMETERS = {
    "userId": "={{ $('Edit Fields').item.json.userId }}",
    "traits": {
        "traitsUi": [
            {"key": "email", "value": "={{ $('Edit Fields').item.json.email }}"},
            {"key": "plan", "value": "pro"},
        ]
    },
    "integrations": {"integrationsUi": {"salesforce": True}},
}


@pytest.fixture(scope="module")
def spec() -> NodeSpec:
    return load_spec()


@pytest.fixture
def store() -> PresetStore:
    return PresetStore(app_paths())


def segment_node(name: str = "Segment", **extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "parameters": {"resource": "track", "event": "Viewed Pricing"},
        "id": str(uuid.uuid4()),
        "name": name,
        "type": SEGMENT_NODE_TYPE,
        "typeVersion": 1,
        "position": [0, 0],
    }
    node.update(extra)
    return node


def parse_file() -> WorkflowImport:
    return parse_workflow(WORKFLOW_FILE.read_text(encoding="utf-8"))


# Import


def test_parse_file_finds_two_presets() -> None:
    result = parse_file()
    assert [preset.name for preset in result.presets] == ["Track Signed Up", "Identify User"]


def test_parse_file_track_preset() -> None:
    track = parse_file().presets[0]
    assert track.parameters == TRACK_PARAMETERS
    assert track.credential is None
    assert track.settings == {}


def test_parse_file_identify_preset() -> None:
    identify = parse_file().presets[1]
    assert identify.parameters == IDENTIFY_PARAMETERS
    assert identify.credential == "Production"
    assert identify.settings == {
        "retryOnFail": True,
        "maxTries": 4,
        "notes": "Runs after the track call, so Salesforce gets the traits too.",
    }


def test_parse_file_lists_other_nodes() -> None:
    result = parse_file()
    assert result.skipped == [
        ("When clicking ‘Test workflow’", "n8n-nodes-base.manualTrigger"),
        ("Edit Fields", "n8n-nodes-base.set"),
        ("Notify CRM", "n8n-nodes-base.httpRequest"),
    ]
    assert result.warnings == []


def test_parse_keeps_expressions_unevaluated() -> None:
    track = parse_file().presets[0]
    assert track.parameters["userId"] == "={{ $json.userId }}"


def test_parse_clipboard_paste() -> None:
    copied = {
        "nodes": [
            segment_node("Track Pricing"),
            {**segment_node("Wait"), "type": "n8n-nodes-base.wait"},
        ],
        "connections": {
            "Track Pricing": {"main": [[{"node": "Wait", "type": "main", "index": 0}]]}
        },
        "pinData": {"Track Pricing": [{"json": {"ok": True}}]},
        "meta": {"instanceId": "abc"},
    }
    result = parse_workflow(json.dumps(copied))
    assert [preset.name for preset in result.presets] == ["Track Pricing"]
    assert result.presets[0].parameters == {"resource": "track", "event": "Viewed Pricing"}
    assert result.skipped == [("Wait", "n8n-nodes-base.wait")]


def test_parse_bare_node() -> None:
    result = parse_workflow(json.dumps(segment_node("Only One")))
    assert [preset.name for preset in result.presets] == ["Only One"]
    assert result.skipped == []


def test_parse_list_of_nodes() -> None:
    result = parse_workflow(json.dumps([segment_node("First"), segment_node("Second")]))
    assert [preset.name for preset in result.presets] == ["First", "Second"]


def test_parse_list_of_workflows() -> None:
    workflows = [
        {"name": "A", "nodes": [segment_node("From A")], "connections": {}},
        {"name": "B", "nodes": [segment_node("From B")], "connections": {}},
    ]
    result = parse_workflow(json.dumps(workflows))
    assert [preset.name for preset in result.presets] == ["From A", "From B"]


def test_parse_node_without_parameters() -> None:
    node = segment_node("Defaults")
    del node["parameters"]
    result = parse_workflow(json.dumps(node))
    assert result.presets[0].parameters == {}


def test_parse_invalid_json_line_column() -> None:
    text = '{\n  "nodes": [\n    {"name": "Segment",}\n  ]\n}'
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(text)
    assert "invalid JSON at line 3, column 24" in str(caught.value)


def test_parse_empty_text() -> None:
    with pytest.raises(WorkflowError, match="empty"):
        parse_workflow("  \n")


@pytest.mark.parametrize(
    "text",
    ['{"name": "My workflow"}', "[]", '{"nodes": [], "connections": {}}', "42", '"nodes"', "null"],
)
def test_parse_without_nodes(text: str) -> None:
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(text)
    assert 'expected n8n workflow JSON: an object with a "nodes" list' in str(caught.value)


def test_parse_nodes_not_a_list() -> None:
    with pytest.raises(WorkflowError, match='"nodes" in the workflow is an object'):
        parse_workflow('{"nodes": {"Segment": {}}, "connections": {}}')


def test_parse_rejects_nan() -> None:
    with pytest.raises(WorkflowError, match="NaN is not a JSON value"):
        parse_workflow('{"nodes": [{"type": "n8n-nodes-base.segment", "parameters": {"x": NaN}}]}')


def test_parse_rejects_huge_integer() -> None:
    with pytest.raises(WorkflowError, match="invalid JSON"):
        parse_workflow("[" + "7" * 5000 + "]")


def test_parse_rejects_deep_nesting() -> None:
    with pytest.raises(WorkflowError, match="nested too deeply"):
        parse_workflow("[" * 100_000 + "]" * 100_000)


def test_parse_skips_non_node_items() -> None:
    result = parse_workflow(json.dumps({"nodes": [segment_node("Real"), 7], "connections": {}}))
    assert [preset.name for preset in result.presets] == ["Real"]
    assert result.warnings == [
        'Ignored item 2 of the node list: expected a node object with a "type", found the number 7.'
    ]


def test_parse_type_version_warning() -> None:
    result = parse_workflow(json.dumps(segment_node("Newer", typeVersion=2)))
    assert [preset.name for preset in result.presets] == ["Newer"]
    assert result.warnings == [
        "Segment node 'Newer' has typeVersion 2, but segment-gui reads version 1; "
        "check its parameters after import."
    ]


def test_parse_type_version_one_point_zero() -> None:
    result = parse_workflow(json.dumps(segment_node("Float", typeVersion=1.0)))
    assert result.warnings == []


def test_parse_legacy_credential_string() -> None:
    result = parse_workflow(json.dumps(segment_node(credentials={"segmentApi": "Old Style"})))
    assert result.presets[0].credential == "Old Style"


def test_parse_unusable_credential_warns() -> None:
    result = parse_workflow(json.dumps(segment_node(credentials={"segmentApi": {"id": "3"}})))
    assert result.presets[0].credential is None
    assert "no usable segmentApi credential" in result.warnings[0]


def test_parse_parameters_not_object() -> None:
    result = parse_workflow(json.dumps(segment_node("Broken", parameters=["track"])))
    assert result.presets == []
    assert result.warnings == [
        "Segment node 'Broken' was not imported: its parameters are a list of 1 items, "
        "expected an object."
    ]


def test_parse_unnamed_node() -> None:
    node = segment_node()
    del node["name"]
    result = parse_workflow(json.dumps(node))
    assert result.presets[0].name == "Segment"
    assert result.warnings == ["A Segment node has no name; it is imported as 'Segment'."]


def test_parse_settings_kept_as_found() -> None:
    node = segment_node(
        notesInFlow=True,
        alwaysOutputData=True,
        executeOnce=True,
        waitBetweenTries=2500,
        onError="continueErrorOutput",
        color="#ff0000",
    )
    settings_found = parse_workflow(json.dumps(node)).presets[0].settings
    assert settings_found == {
        "notesInFlow": True,
        "alwaysOutputData": True,
        "executeOnce": True,
        "waitBetweenTries": 2500,
        "onError": "continueErrorOutput",
    }


def test_parse_legacy_continue_on_fail() -> None:
    result = parse_workflow(json.dumps(segment_node("Legacy", continueOnFail=True)))
    assert result.presets[0].settings == {"onError": "continueRegularOutput"}
    assert "continueOnFail" in result.warnings[0]


def test_parse_disabled_node_warns() -> None:
    result = parse_workflow(json.dumps(segment_node("Off", disabled=True)))
    assert result.warnings == ["Segment node 'Off' is disabled in n8n; it is imported anyway."]


def test_read_file_with_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "workflow.json"
    path.write_bytes(b"\xef\xbb\xbf" + WORKFLOW_FILE.read_bytes())
    assert len(read_workflow_file(path).presets) == 2


def test_read_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "workflow.json"
    path.write_bytes(b'{"nodes": ["\xff"]}')
    with pytest.raises(WorkflowError, match="not UTF-8 text"):
        read_workflow_file(path)


def test_read_file_missing(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match="cannot read"):
        read_workflow_file(tmp_path / "absent.json")


# Saving imported presets


def test_import_saves_presets(store: PresetStore) -> None:
    result = parse_file()
    report = import_presets(result, store, {"Production"})
    assert report.saved == [
        ("Track Signed Up", "Track Signed Up"),
        ("Identify User", "Identify User"),
    ]
    assert store.load("Track Signed Up") == result.presets[0]
    assert store.load("Identify User") == result.presets[1]
    assert report.missing_credentials == []


def test_import_renames_on_collision(store: PresetStore) -> None:
    original = Preset("Identify User", {"resource": "identify", "userId": "keep-me"})
    store.save(original)
    store.save(Preset("Identify User (2)", {"resource": "identify", "userId": "keep-me-too"}))
    report = import_presets(parse_file(), store, {"Production"})
    assert ("Identify User", "Identify User (3)") in report.saved
    assert store.load("Identify User") == original
    assert store.load("Identify User (2)").parameters["userId"] == "keep-me-too"
    assert store.load("Identify User (3)").parameters == IDENTIFY_PARAMETERS


def test_import_same_name_twice(store: PresetStore) -> None:
    result = parse_workflow(json.dumps([segment_node("Segment"), segment_node("Segment")]))
    report = import_presets(result, store, set())
    assert report.saved == [("Segment", "Segment"), ("Segment", "Segment (2)")]


def test_import_reports_missing_credential(store: PresetStore) -> None:
    report = import_presets(parse_file(), store, {"Staging"})
    assert report.missing_credentials == [("Identify User", "Production")]
    assert store.load("Identify User").credential == "Production"


def test_import_report_lines(store: PresetStore) -> None:
    store.save(Preset("Track Signed Up", {"resource": "track"}))
    result = parse_file()
    result.warnings.append("A warning from parsing.")
    lines = import_presets(result, store, set()).lines()
    assert lines == [
        "Imported node 'Track Signed Up' as preset 'Track Signed Up (2)', because a preset "
        "named 'Track Signed Up' already exists.",
        "Imported node 'Identify User' as preset 'Identify User'.",
        "Skipped node 'When clicking ‘Test workflow’': n8n-nodes-base.manualTrigger is not a "
        "Segment node.",
        "Skipped node 'Edit Fields': n8n-nodes-base.set is not a Segment node.",
        "Skipped node 'Notify CRM': n8n-nodes-base.httpRequest is not a Segment node.",
        "Preset 'Identify User' uses credential 'Production', which is not set up here; add a "
        "credential with that name or choose another one for the preset.",
        "A warning from parsing.",
    ]


def test_import_nothing_found_line(store: PresetStore) -> None:
    result = parse_workflow(json.dumps({"type": "n8n-nodes-base.noOp", "name": "Nothing"}))
    lines = import_presets(result, store, set()).lines()
    assert lines[0] == "No Segment nodes found; nothing was imported."


def test_import_name_too_long_fails(store: PresetStore) -> None:
    result = parse_workflow(json.dumps([segment_node("x" * 300), segment_node("Short")]))
    report = import_presets(result, store, set())
    assert report.saved == [("Short", "Short")]
    assert len(report.failed) == 1
    assert "too long" in report.failed[0][1]


# Export


def test_export_shape(spec: NodeSpec) -> None:
    preset = Preset(
        "Track Pricing",
        {"resource": "track", "operation": "event", "event": "Viewed Pricing"},
        credential="Production",
    )
    workflow = export_workflow([preset], spec)
    assert set(workflow) == {"nodes", "connections"}
    assert workflow["connections"] == {}
    node = workflow["nodes"][0]
    assert uuid.UUID(node.pop("id")).version == 4
    assert node == {
        "parameters": {"resource": "track", "operation": "event", "event": "Viewed Pricing"},
        "name": "Track Pricing",
        "type": "n8n-nodes-base.segment",
        "typeVersion": 1,
        "position": [0, 0],
        "credentials": {"segmentApi": {"id": None, "name": "Production"}},
    }


def test_export_positions_and_ids(spec: NodeSpec) -> None:
    presets = [Preset(f"P{index}", {"resource": "identify"}) for index in range(7)]
    nodes = export_workflow(presets, spec)["nodes"]
    assert [node["position"] for node in nodes] == [
        [0, 0],
        [220, 0],
        [440, 0],
        [660, 0],
        [880, 0],
        [0, 200],
        [220, 200],
    ]
    assert len({node["id"] for node in nodes}) == 7
    assert all("credentials" not in node for node in nodes)


def test_export_settings_non_default_only(spec: NodeSpec) -> None:
    preset = Preset(
        "Retry",
        {"resource": "identify"},
        settings={
            "retryOnFail": True,
            "maxTries": 3,
            "waitBetweenTries": 5000,
            "notes": "",
            "notesInFlow": False,
            "onError": "continueErrorOutput",
        },
    )
    node = export_workflow([preset], spec)["nodes"][0]
    exported = {key: node[key] for key in node if key not in ("parameters", "id", "position")}
    assert exported == {
        "name": "Retry",
        "type": SEGMENT_NODE_TYPE,
        "typeVersion": 1,
        "retryOnFail": True,
        "waitBetweenTries": 5000,
        "onError": "continueErrorOutput",
    }


def test_export_drops_extension_fields(spec: NodeSpec) -> None:
    preset = Preset(
        "Order",
        {
            "resource": "track",
            "operation": "event",
            "event": "Order Completed",
            "properties": {
                "propertiesUi": [
                    {"key": "total", "value": "42.5", "valueType": "number"},
                    {"key": "coupon", "value": "SPRING", "valueType": "auto"},
                    {"key": "gift", "value": "true", "valueType": "boolean"},
                ]
            },
            "advanced": {"advancedUi": {"anonymousId": "anon-7", "timestamp": "2024-05-01"}},
        },
    )
    parameters = export_workflow([preset], spec)["nodes"][0]["parameters"]
    assert parameters == {
        "resource": "track",
        "operation": "event",
        "event": "Order Completed",
        "properties": {
            "propertiesUi": [
                {"key": "total", "value": "42.5"},
                {"key": "coupon", "value": "SPRING"},
                {"key": "gift", "value": "true"},
            ]
        },
    }
    assert preset.parameters["properties"]["propertiesUi"][0]["valueType"] == "number"


def test_export_notices_list_dropped_fields(spec: NodeSpec) -> None:
    preset = Preset(
        "Order",
        {
            "resource": "track",
            "event": "Order Completed",
            "properties": {
                "propertiesUi": [
                    {"key": "total", "value": "42.5", "valueType": "number"},
                    {"key": "gift", "value": "true", "valueType": "boolean"},
                ]
            },
            "advanced": {"advancedUi": {"anonymousId": "anon-7"}},
        },
    )
    notices = export_notices([preset], spec)
    assert notices == [
        ExportNotice("Order", "Advanced"),
        ExportNotice("Order", "Properties > Type", 2),
    ]
    assert [notice.message() for notice in notices] == [
        "Preset 'Order': Advanced left out, because n8n's Segment node has no such parameter.",
        "Preset 'Order': Properties > Type left out of 2 rows, because n8n's Segment node has "
        "no such field.",
    ]


def test_export_traits_value_types(spec: NodeSpec) -> None:
    preset = Preset(
        "Identify",
        {
            "resource": "identify",
            "operation": "create",
            "traits": {"traitsUi": [{"key": "age", "value": "36", "valueType": "number"}]},
        },
    )
    parameters = export_workflow([preset], spec)["nodes"][0]["parameters"]
    assert parameters["traits"] == {"traitsUi": [{"key": "age", "value": "36"}]}
    assert export_notices([preset], spec) == [ExportNotice("Identify", "Traits > Type", 1)]


def test_export_default_extension_values_silent(spec: NodeSpec) -> None:
    preset = Preset(
        "Plain",
        {
            "resource": "track",
            "event": "Clicked",
            "properties": {"propertiesUi": [{"key": "a", "value": "1", "valueType": "auto"}]},
            "advanced": {},
        },
    )
    parameters = export_workflow([preset], spec)["nodes"][0]["parameters"]
    assert "advanced" not in parameters
    assert parameters["properties"] == {"propertiesUi": [{"key": "a", "value": "1"}]}
    assert export_notices([preset], spec) == []


@pytest.mark.parametrize(
    ("parameters", "label"),
    [
        ({"resource": "track", "operation": "screen", "name": "Home"}, "Operation 'Screen'"),
        ({"resource": "identify", "operation": "alias", "previousId": "anon"}, "Operation 'Alias'"),
        ({"operation": "alias", "userId": "u1"}, "Operation 'Alias'"),
    ],
)
def test_export_rejects_extension_operation(
    spec: NodeSpec, parameters: dict[str, Any], label: str
) -> None:
    presets = [Preset("Fine", {"resource": "identify"}), Preset("Mobile", parameters)]
    with pytest.raises(WorkflowError) as caught:
        export_workflow(presets, spec)
    message = str(caught.value)
    assert "preset 'Mobile'" in message
    assert label in message
    with pytest.raises(WorkflowError):
        export_notices(presets, spec)


def test_export_empty_list(spec: NodeSpec) -> None:
    with pytest.raises(WorkflowError, match="no presets to export"):
        export_workflow([], spec)


def test_export_keeps_unknown_parameters(spec: NodeSpec) -> None:
    preset = Preset("Future", {"resource": "track", "event": "E", "newOption": {"x": 1}})
    parameters = export_workflow([preset], spec)["nodes"][0]["parameters"]
    assert parameters["newOption"] == {"x": 1}


# Round trip


def test_round_trip_workflow_file(spec: NodeSpec) -> None:
    imported = parse_file().presets
    text = workflow_json(export_workflow(imported, spec))
    assert parse_workflow(text).presets == imported


def test_round_trip_through_store(spec: NodeSpec, store: PresetStore) -> None:
    import_presets(parse_file(), store, {"Production"})
    saved, errors = store.load_all()
    assert errors == []
    again = parse_workflow(workflow_json(export_workflow(saved, spec)))
    assert again.presets == saved
    assert again.warnings == []


def test_round_trip_drops_extension_fields(spec: NodeSpec) -> None:
    preset = Preset(
        "Order",
        {
            "resource": "track",
            "operation": "event",
            "event": "Order Completed",
            "userId": "u-9",
            "properties": {
                "propertiesUi": [{"key": "total", "value": "42.5", "valueType": "number"}]
            },
            "advanced": {"advancedUi": {"messageId": "m-1"}},
        },
        credential="Staging",
        settings={"executeOnce": True},
    )
    expected = copy.deepcopy(preset)
    del expected.parameters["advanced"]
    del expected.parameters["properties"]["propertiesUi"][0]["valueType"]
    again = parse_workflow(workflow_json(export_workflow([preset], spec))).presets
    assert again == [expected]


# Robustness

_KEYS = st.sampled_from(
    [
        "nodes",
        "type",
        "name",
        "parameters",
        "credentials",
        "segmentApi",
        "typeVersion",
        "connections",
        "notes",
        "retryOnFail",
        "maxTries",
        "onError",
        "continueOnFail",
        "disabled",
    ]
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.just(SEGMENT_NODE_TYPE)
)
_JSON_VALUES = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(_KEYS | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=25,
)


_NODES = st.fixed_dictionaries(
    {"type": st.sampled_from([SEGMENT_NODE_TYPE, "n8n-nodes-base.set"]) | _SCALARS},
    optional={
        "name": _SCALARS,
        "parameters": _JSON_VALUES,
        "credentials": st.dictionaries(st.just("segmentApi"), _JSON_VALUES) | _JSON_VALUES,
        "typeVersion": _SCALARS,
        "retryOnFail": _SCALARS,
        "maxTries": _SCALARS,
        "continueOnFail": _SCALARS,
        "disabled": _SCALARS,
    },
)
_WORKFLOW_INPUTS = st.one_of(
    _JSON_VALUES,
    _NODES,
    st.lists(_NODES | _JSON_VALUES, max_size=4),
    st.fixed_dictionaries(
        {"nodes": st.lists(_NODES | _JSON_VALUES, max_size=4) | _JSON_VALUES},
        optional={"connections": _JSON_VALUES},
    ),
)


@settings(max_examples=200, deadline=None)
@given(value=_WORKFLOW_INPUTS)
def test_parse_arbitrary_json(value: Any) -> None:
    """Any JSON value either parses into usable presets or raises WorkflowError."""
    try:
        result = parse_workflow(json.dumps(value))
    except WorkflowError:
        return
    for preset in result.presets:
        assert isinstance(preset.parameters, dict)
        assert preset.name.strip()
        assert preset.credential is None or isinstance(preset.credential, str)


@settings(max_examples=200, deadline=None)
@given(value=_WORKFLOW_INPUTS)
def test_export_arbitrary_import(value: Any) -> None:
    """Presets parsed from any JSON export without crashing and keep name and credential."""
    try:
        presets = parse_workflow(json.dumps(value)).presets
    except WorkflowError:
        return
    if not presets:
        return
    try:
        text = workflow_json(export_workflow(presets, load_spec()))
    except WorkflowError:
        return
    again = parse_workflow(text).presets
    assert [preset.name for preset in again] == [preset.name for preset in presets]
    assert [preset.credential for preset in again] == [preset.credential for preset in presets]


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=40))
def test_parse_arbitrary_text(text: str) -> None:
    try:
        parse_workflow(text)
    except WorkflowError:
        pass
