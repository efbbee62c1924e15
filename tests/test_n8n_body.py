"""Bodies that n8n's Segment node posts, rebuilt from form parameters."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segment_gui.n8n_body import N8N_OPERATIONS, N8nModeError, build_n8n_body, n8n_differences
from segment_gui.spec import load_spec

SPEC = load_spec()
ANONYMOUS_ID = "4f1c2b9e-0d6a-4c47-9a57-1d3e1f2a7b80"
EMPTY_CONTEXT: dict[str, dict[str, str]] = {"app": {}, "campaign": {}, "device": {}}

FULL_CONTEXT = {
    "contextUi": {
        "active": True,
        "ip": "1.2.3.4",
        "locate": "en-US",
        "page": "https://example.com/café",
        "timezone": "Europe/Paris",
        "app": {"appUi": {"name": "Shop 日本", "version": " 1.0 ", "build": ""}},
        "campaign": {
            "campaignUi": {
                "name": "Spring",
                "source": "newsletter",
                "medium": "",
                "term": "",
                "content": "🎉",
            }
        },
        "device": {
            "deviceUi": {
                "id": "d1",
                "manufacturer": "Acme",
                "model": "",
                "name": "My phone",
                "type": "ios",
                "version": "",
            }
        },
    }
}
FULL_CONTEXT_BODY = {
    "active": True,
    "ip": "1.2.3.4",
    "locate": "en-US",
    "page": "https://example.com/café",
    "timezone": "Europe/Paris",
    "app": {"name": "Shop 日本", "version": " 1.0 "},
    "campaign": {"name": "Spring", "source": "newsletter", "content": "🎉"},
    "device": {"id": "d1", "manufacturer": "Acme", "type": "ios"},
}

# A duplicate key (the later row wins), an empty key, unicode, surrounding spaces, and value
# types that n8n mode ignores.
ROWS = [
    {"key": "plan", "value": "free", "valueType": "auto"},
    {"key": "Café", "value": "日本 🎉"},
    {"key": "", "value": "no key"},
    {"key": "plan", "value": " pro ", "valueType": "string"},
    {"key": "count", "value": "42", "valueType": "number"},
]
ROWS_BODY = {"plan": " pro ", "Café": "日本 🎉", "": "no key", "count": "42"}

# The integrations block without `all`, which then takes its default (true).
INTEGRATIONS = {"integrationsUi": {"salesforce": True}}
INTEGRATIONS_BODY = {"all": True, "salesforce": True}


def build(values: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return build_n8n_body(SPEC, values, anonymous_id=ANONYMOUS_ID)


# Golden bodies: nothing filled in.


def test_identify_minimal() -> None:
    path, body = build({"resource": "identify", "operation": "create"})
    assert path == "identify"
    assert body == {
        "anonymousId": ANONYMOUS_ID,
        "traits": {},
        "context": EMPTY_CONTEXT,
        "integrations": {},
    }


def test_group_minimal() -> None:
    path, body = build({"resource": "group", "operation": "add"})
    assert path == "group"
    assert body == {
        "anonymousId": ANONYMOUS_ID,
        "groupId": "",
        "traits": {"company": {}, "address": {}},
        "context": EMPTY_CONTEXT,
        "integrations": {},
    }


def test_track_event_minimal() -> None:
    path, body = build({"resource": "track", "operation": "event"})
    assert path == "track"
    assert body == {
        "anonymousId": ANONYMOUS_ID,
        "event": "",
        "traits": {},
        "properties": {},
        "context": EMPTY_CONTEXT,
        "integrations": {},
    }


def test_track_page_minimal() -> None:
    path, body = build({"resource": "track", "operation": "page"})
    assert path == "page"
    assert body == {
        "anonymousId": ANONYMOUS_ID,
        "name": "",
        "traits": {},
        "properties": {},
        "context": EMPTY_CONTEXT,
        "integrations": {},
    }


def test_empty_values_use_defaults() -> None:
    path, body = build({})
    assert path == "identify"
    assert body == {
        "anonymousId": ANONYMOUS_ID,
        "traits": {},
        "context": EMPTY_CONTEXT,
        "integrations": {},
    }


# Golden bodies: everything filled in.


def test_identify_full() -> None:
    path, body = build(
        {
            "resource": "identify",
            "operation": "create",
            "userId": " user 日本 ",
            "traits": {"traitsUi": ROWS},
            "context": FULL_CONTEXT,
            "integrations": INTEGRATIONS,
        }
    )
    assert path == "identify"
    assert body == {
        "userId": " user 日本 ",
        "traits": ROWS_BODY,
        "context": FULL_CONTEXT_BODY,
        "integrations": INTEGRATIONS_BODY,
    }


def test_group_full() -> None:
    rows = [*ROWS, {"key": "company", "value": "Initech"}]
    path, body = build(
        {
            "resource": "group",
            "operation": "add",
            "userId": "u1",
            "groupId": "Café 🎉",
            "traits": {"traitsUi": rows},
            "context": FULL_CONTEXT,
            "integrations": INTEGRATIONS,
        }
    )
    assert path == "group"
    assert body == {
        "userId": "u1",
        "groupId": "Café 🎉",
        "traits": {"company": "Initech", "address": {}, **ROWS_BODY},
        "context": FULL_CONTEXT_BODY,
        "integrations": INTEGRATIONS_BODY,
    }


def test_track_event_full() -> None:
    path, body = build(
        {
            "resource": "track",
            "operation": "event",
            "userId": "u1",
            "event": " Signed Up ",
            "properties": {"propertiesUi": ROWS},
            "context": FULL_CONTEXT,
            "integrations": INTEGRATIONS,
        }
    )
    assert path == "track"
    assert body == {
        "userId": "u1",
        "event": " Signed Up ",
        "traits": {},
        "properties": ROWS_BODY,
        "context": FULL_CONTEXT_BODY,
        "integrations": INTEGRATIONS_BODY,
    }


def test_track_page_full() -> None:
    path, body = build(
        {
            "resource": "track",
            "operation": "page",
            "userId": "u1",
            "name": "Home 日本",
            "properties": {"propertiesUi": ROWS},
            "context": FULL_CONTEXT,
            "integrations": INTEGRATIONS,
        }
    )
    assert path == "page"
    assert body == {
        "userId": "u1",
        "name": "Home 日本",
        "traits": {},
        "properties": ROWS_BODY,
        "context": FULL_CONTEXT_BODY,
        "integrations": INTEGRATIONS_BODY,
    }


# Single behaviours.


def test_body_key_order() -> None:
    _, body = build(
        {
            "resource": "group",
            "operation": "add",
            "userId": "u1",
            "groupId": "g1",
            "context": FULL_CONTEXT,
        }
    )
    assert list(body) == ["userId", "groupId", "traits", "context", "integrations"]
    _, body = build({"resource": "track", "operation": "page"})
    assert list(body) == ["anonymousId", "name", "traits", "properties", "context", "integrations"]


@pytest.mark.parametrize(
    ("values", "member"),
    [
        ({"resource": "group", "operation": "add", "groupId": ""}, "groupId"),
        ({"resource": "track", "operation": "event", "event": ""}, "event"),
        ({"resource": "track", "operation": "page", "name": ""}, "name"),
    ],
)
def test_empty_main_parameter_sent(values: dict[str, Any], member: str) -> None:
    _, body = build({**values, "userId": "u1", "context": FULL_CONTEXT})
    assert member in body
    assert body[member] == ""


def test_user_id_untrimmed() -> None:
    _, body = build({"resource": "identify", "operation": "create", "userId": "  "})
    assert body["userId"] == "  "
    assert "anonymousId" not in body


def test_anonymous_id_from_argument() -> None:
    _, first = build_n8n_body(SPEC, {}, anonymous_id="first")
    _, second = build_n8n_body(SPEC, {}, anonymous_id="second")
    assert first["anonymousId"] == "first"
    assert second["anonymousId"] == "second"
    assert "userId" not in first


def test_no_segment_only_members() -> None:
    _, body = build({"resource": "track", "operation": "event", "context": FULL_CONTEXT})
    assert "messageId" not in body
    assert "timestamp" not in body
    assert "library" not in body["context"]
    assert "locale" not in body["context"]


def test_device_name_not_sent() -> None:
    context = {"contextUi": {"device": {"deviceUi": {"name": "My phone"}}}}
    _, body = build({"resource": "identify", "operation": "create", "context": context})
    assert body["context"] == EMPTY_CONTEXT


def test_context_skips_empty_fields() -> None:
    context = {
        "contextUi": {
            "active": False,
            "ip": "",
            "locate": "",
            "page": "",
            "timezone": "",
            "app": {"appUi": {"name": "", "version": "", "build": ""}},
        }
    }
    _, body = build({"resource": "identify", "operation": "create", "context": context})
    assert body["context"] == EMPTY_CONTEXT


def test_context_page_stays_string() -> None:
    page = '{"url": "https://example.com"}'
    context = {"contextUi": {"page": page}}
    _, body = build({"resource": "identify", "operation": "create", "context": context})
    assert body["context"]["page"] == page


@pytest.mark.parametrize(
    ("integrations", "expected"),
    [
        ({}, {}),
        ({"integrationsUi": {}}, {"all": True}),
        ({"integrationsUi": {"salesforce": False}}, {"all": True}),
        ({"integrationsUi": {"all": False}}, {}),
        ({"integrationsUi": {"all": False, "salesforce": True}}, {"salesforce": True}),
        ({"integrationsUi": {"all": True, "salesforce": True}}, {"all": True, "salesforce": True}),
    ],
)
def test_integration_toggles(integrations: dict[str, Any], expected: dict[str, bool]) -> None:
    values = {"resource": "track", "operation": "event", "integrations": integrations}
    _, body = build(values)
    assert body["integrations"] == expected


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"value": "only value"}, {"": "only value"}),
        ({"key": "only key"}, {"only key": ""}),
        ({}, {"": ""}),
        ({"key": " spaced ", "value": " kept "}, {" spaced ": " kept "}),
        ({"key": "n", "value": "3.50", "valueType": "number"}, {"n": "3.50"}),
        ({"key": "flag", "value": "true", "valueType": "boolean"}, {"flag": "true"}),
        ({"key": "obj", "value": '{"a": 1}', "valueType": "json"}, {"obj": '{"a": 1}'}),
    ],
)
def test_row_values_sent_as_typed(row: dict[str, Any], expected: dict[str, str]) -> None:
    values = {"resource": "identify", "operation": "create", "traits": {"traitsUi": [row]}}
    _, body = build(values)
    assert body["traits"] == expected


def test_group_address_row_replaces_default() -> None:
    traits = {"traitsUi": [{"key": "address", "value": "1 Main St"}]}
    _, body = build({"resource": "group", "operation": "add", "traits": traits})
    assert body["traits"] == {"company": {}, "address": "1 Main St"}


def test_advanced_ignored() -> None:
    plain = {"resource": "track", "operation": "event", "event": "Signed Up"}
    advanced = {
        "advancedUi": {
            "anonymousId": "fixed-anonymous",
            "timestamp": "2026-01-31T09:30:00Z",
            "messageId": "fixed-message",
            "destinations": {"destinationsUi": [{"name": "Mixpanel", "enabled": True}]},
        }
    }
    assert build({**plain, "advanced": advanced}) == build(plain)


def test_hidden_parameters_ignored() -> None:
    values = {
        "resource": "identify",
        "operation": "create",
        "groupId": "g1",
        "event": "Signed Up",
        "properties": {"propertiesUi": [{"key": "plan", "value": "pro"}]},
    }
    _, body = build(values)
    assert body == {
        "anonymousId": ANONYMOUS_ID,
        "traits": {},
        "context": EMPTY_CONTEXT,
        "integrations": {},
    }


@pytest.mark.parametrize(
    "values",
    [
        {"userId": 5},
        {"userId": None},
        {"traits": []},
        {"traits": {"traitsUi": "plan"}},
        {"traits": {"traitsUi": ["plan", 3, None]}},
        {"context": {"contextUi": []}},
        {"context": {"contextUi": {"active": "true", "ip": 5, "app": []}}},
        {"integrations": {"integrationsUi": None}},
    ],
)
def test_wrong_types_take_defaults(values: dict[str, Any]) -> None:
    _, body = build({"resource": "identify", "operation": "create", **values})
    assert body == {
        "anonymousId": ANONYMOUS_ID,
        "traits": {},
        "context": EMPTY_CONTEXT,
        "integrations": {},
    }


def test_wrong_row_fields_take_defaults() -> None:
    rows = [{"key": 7, "value": "seven"}, {"key": "list", "value": [1, 2]}]
    values = {"resource": "identify", "operation": "create", "traits": {"traitsUi": rows}}
    _, body = build(values)
    assert body["traits"] == {"": "seven", "list": ""}


def test_operations_table() -> None:
    assert N8N_OPERATIONS == {
        ("group", "add"): "group",
        ("identify", "create"): "identify",
        ("track", "event"): "track",
        ("track", "page"): "page",
    }


# Operations that n8n's node lacks.


@pytest.mark.parametrize(
    ("resource", "operation", "label"),
    [("track", "screen", '"Screen"'), ("identify", "alias", '"Alias"')],
)
def test_extension_operation_raises(resource: str, operation: str, label: str) -> None:
    with pytest.raises(N8nModeError) as raised:
        build({"resource": resource, "operation": operation, "userId": "u1"})
    message = str(raised.value)
    assert label in message
    assert f"{resource}:{operation}" in message
    assert '"Segment spec"' in message


def test_extension_operation_no_differences() -> None:
    assert n8n_differences(SPEC, {"resource": "track", "operation": "screen"}) == []


# Differences notice.

GENERAL_DIFFERENCES = 6


def differences(values: dict[str, Any]) -> list[str]:
    return n8n_differences(SPEC, values)


def test_differences_general_only() -> None:
    notes = differences({"resource": "identify", "operation": "create"})
    assert len(notes) == GENERAL_DIFFERENCES
    assert any("context.locate" in note for note in notes)
    assert any("messageId" in note for note in notes)
    assert any("All and Salesforce" in note for note in notes)
    assert any("page object" in note for note in notes)
    assert any("strings" in note for note in notes)
    assert any("even when empty" in note for note in notes)


def test_differences_all_conditions_short() -> None:
    values = {
        "resource": "group",
        "operation": "add",
        "context": FULL_CONTEXT,
        "traits": {"traitsUi": ROWS},
        "advanced": {"advancedUi": {"timestamp": "2026-01-31T09:30:00Z"}},
    }
    notes = differences(values)
    assert len(notes) == GENERAL_DIFFERENCES + 5
    for note in notes:
        assert len(note.split()) <= 20, note
        assert note.endswith("."), note


def test_differences_device_name() -> None:
    context = {"contextUi": {"device": {"deviceUi": {"name": "My phone"}}}}
    notes = differences({"resource": "identify", "operation": "create", "context": context})
    assert any("device.name" in note for note in notes)
    empty = {"contextUi": {"device": {"deviceUi": {"name": "", "id": "d1"}}}}
    notes = differences({"resource": "identify", "operation": "create", "context": empty})
    assert not any("device.name" in note for note in notes)


def test_differences_group_traits() -> None:
    base = {"resource": "group", "operation": "add", "groupId": "g1"}
    notes = differences(base)
    assert "Group traits include empty company and address objects." in notes

    company = {"traitsUi": [{"key": "company", "value": "Initech"}]}
    notes = differences({**base, "traits": company})
    assert "Group traits include an empty address object." in notes

    both = {"traitsUi": [{"key": "company", "value": "I"}, {"key": "address", "value": "A"}]}
    notes = differences({**base, "traits": both})
    assert not any("Group traits" in note for note in notes)

    notes = differences({"resource": "track", "operation": "event", "event": "E"})
    assert not any("Group traits" in note for note in notes)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"resource": "group", "operation": "add"}, 'Group ID is empty, so n8n sends groupId: "".'),
        ({"resource": "track", "operation": "event"}, 'Event is empty, so n8n sends event: "".'),
        ({"resource": "track", "operation": "page"}, 'Name is empty, so n8n sends name: "".'),
    ],
)
def test_differences_empty_main_parameter(values: dict[str, Any], expected: str) -> None:
    assert expected in differences(values)


@pytest.mark.parametrize(
    "values",
    [
        {"resource": "group", "operation": "add", "groupId": "g1"},
        {"resource": "track", "operation": "event", "event": "Signed Up"},
        {"resource": "track", "operation": "page", "name": " "},
        {"resource": "identify", "operation": "create"},
    ],
)
def test_differences_filled_main_parameter(values: dict[str, Any]) -> None:
    assert not any("is empty, so n8n sends" in note for note in differences(values))


def test_differences_advanced() -> None:
    base = {"resource": "track", "operation": "event", "event": "E"}
    set_notes = differences({**base, "advanced": {"advancedUi": {"messageId": "m1"}}})
    assert any("Advanced options" in note for note in set_notes)
    default_notes = differences({**base, "advanced": {"advancedUi": {"messageId": ""}}})
    assert not any("Advanced options" in note for note in default_notes)
    assert not any("Advanced options" in note for note in differences(base))


def test_differences_value_types() -> None:
    base = {"resource": "track", "operation": "event", "event": "E"}
    plain_rows = [{"key": "a", "value": "1", "valueType": "auto"}, {"key": "b", "value": "x"}]
    plain = differences({**base, "properties": {"propertiesUi": plain_rows}})
    assert not any("Value types" in note for note in plain)
    string_rows = [{"key": "a", "value": "1", "valueType": "string"}]
    string = differences({**base, "properties": {"propertiesUi": string_rows}})
    assert not any("Value types" in note for note in string)
    typed_rows = [{"key": "a", "value": "1", "valueType": "number"}]
    typed = differences({**base, "properties": {"propertiesUi": typed_rows}})
    assert any("Value types" in note for note in typed)


# Arbitrary input: only N8nModeError may come out.

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def mostly(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Draw from `strategy` three times in four, otherwise any JSON value."""
    return st.integers(0, 3).flatmap(lambda draw: JSON_VALUES if draw == 0 else strategy)


def loose_object(members: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Generate objects whose members mostly have the expected type. Any member may be absent."""
    optional = {name: mostly(strategy) for name, strategy in members.items()}
    return st.fixed_dictionaries({}, optional=optional)


def text_object(names: list[str]) -> st.SearchStrategy[Any]:
    return loose_object({name: st.text(max_size=8) for name in names})


ROW = loose_object(
    {
        "key": st.text(max_size=8),
        "value": st.text(max_size=8),
        "valueType": st.sampled_from(["auto", "string", "number", "boolean", "null", "json"]),
    }
)
ROW_COLLECTION = loose_object(
    {"traitsUi": st.lists(mostly(ROW), max_size=4), "propertiesUi": st.lists(ROW, max_size=4)}
)
CONTEXT = loose_object(
    {
        "contextUi": loose_object(
            {
                "active": st.booleans(),
                "ip": st.text(max_size=8),
                "locate": st.text(max_size=8),
                "page": st.text(max_size=8),
                "timezone": st.text(max_size=8),
                "app": loose_object({"appUi": text_object(["name", "version", "build"])}),
                "campaign": loose_object(
                    {"campaignUi": text_object(["name", "source", "medium", "term", "content"])}
                ),
                "device": loose_object(
                    {
                        "deviceUi": text_object(
                            ["id", "manufacturer", "model", "name", "type", "version"]
                        )
                    }
                ),
            }
        )
    }
)
CALLS = [*N8N_OPERATIONS, ("track", "screen"), ("identify", "alias")]
FIELDS = loose_object(
    {
        "userId": st.text(max_size=8),
        "groupId": st.text(max_size=8),
        "event": st.text(max_size=8),
        "name": st.text(max_size=8),
        "traits": ROW_COLLECTION,
        "properties": ROW_COLLECTION,
        "context": CONTEXT,
        "integrations": loose_object(
            {"integrationsUi": loose_object({"all": st.booleans(), "salesforce": st.booleans()})}
        ),
        "advanced": loose_object(
            {"advancedUi": text_object(["anonymousId", "timestamp", "messageId"])}
        ),
    }
)
# A matching resource and operation, because a mismatch falls back to identify:create. The
# last strategy covers any other resource and operation values.
PARAMETERS = st.builds(
    lambda call, fields: {**fields, "resource": call[0], "operation": call[1]},
    st.sampled_from(CALLS),
    FIELDS,
)
ANY_PARAMETERS = st.one_of(
    PARAMETERS,
    st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=5),
    st.fixed_dictionaries({}, optional={"resource": JSON_VALUES, "operation": JSON_VALUES}),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=ANY_PARAMETERS)
def test_arbitrary_parameters_only_mode_error(values: dict[str, Any]) -> None:
    notes = n8n_differences(SPEC, values)
    assert all(isinstance(note, str) for note in notes)
    try:
        path, body = build_n8n_body(SPEC, values, anonymous_id=ANONYMOUS_ID)
    except N8nModeError:
        assert notes == []
        return

    assert path in N8N_OPERATIONS.values()
    json.dumps(body, allow_nan=False)
    assert set(EMPTY_CONTEXT) <= set(body["context"])
    assert ("userId" in body) != ("anonymousId" in body)
    for member in ("traits", "properties"):
        for key, value in body.get(member, {}).items():
            assert isinstance(key, str)
            assert isinstance(value, str) or (value == {} and key in ("company", "address"))
    assert set(body["integrations"]) <= {"all", "salesforce"}
    assert all(value is True for value in body["integrations"].values())
