"""Segment-spec messages built from parameters: golden bodies, value types and validation."""

from __future__ import annotations

from typing import Any

import pytest

from segment_gui import __version__
from segment_gui.model import copy_json, resolve_parameters
from segment_gui.payload import (
    MAX_MESSAGE_BYTES,
    MAX_VALUE_DEPTH,
    PayloadError,
    Problem,
    build_message,
    compose,
    convert_value,
    page_object,
    serialize,
)
from segment_gui.spec import load_spec

SPEC = load_spec()
LIBRARY = {"name": "segment-gui", "version": __version__}
ADVANCED = "advanced.advancedUi"


def build(values: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    message = build_message(SPEC, values, anonymous_id="anon-1", message_id="msg-1")
    return message.path, message.body


def check(values: dict[str, Any]) -> list[Problem]:
    return compose(SPEC, values, anonymous_id="anon-1", message_id="msg-1").problems


def rows(*pairs: tuple[str, str] | tuple[str, str, str]) -> list[dict[str, str]]:
    result = []
    for pair in pairs:
        row = {"key": pair[0], "value": pair[1]}
        if len(pair) == 3:
            row["valueType"] = pair[2]
        result.append(row)
    return result


FULL_CONTEXT = {
    "contextUi": {
        "active": True,
        "ip": "203.0.113.9",
        "locate": "en-US",
        "page": "https://shop.example/checkout?step=2#pay",
        "timezone": "Europe/Paris",
        "app": {"appUi": {"name": "Shop", "version": "2.1", "build": ""}},
        "campaign": {
            "campaignUi": {
                "name": "spring",
                "source": "news",
                "medium": "",
                "term": "",
                "content": "",
            }
        },
        "device": {
            "deviceUi": {
                "id": "d1",
                "manufacturer": "",
                "model": "",
                "name": "Pixel",
                "type": "",
                "version": "",
            }
        },
    }
}
FULL_CONTEXT_BODY = {
    "active": True,
    "ip": "203.0.113.9",
    "locale": "en-US",
    "timezone": "Europe/Paris",
    "page": {
        "url": "https://shop.example/checkout?step=2#pay",
        "path": "/checkout",
        "search": "?step=2",
        "hash": "#pay",
    },
    "app": {"name": "Shop", "version": "2.1"},
    "campaign": {"name": "spring", "source": "news"},
    "device": {"id": "d1", "name": "Pixel"},
    "library": LIBRARY,
}

GOLDEN = [
    (
        "identify minimal",
        {},
        "identify",
        {"anonymousId": "anon-1", "context": {"library": LIBRARY}, "messageId": "msg-1"},
    ),
    (
        "identify full",
        {
            "resource": "identify",
            "operation": "create",
            "userId": "u1",
            "traits": {
                "traitsUi": rows(
                    ("plan", "pro"), ("age", "42"), ("vip", "true"), ("name", "Zoë 日本 🚀")
                )
            },
            "context": FULL_CONTEXT,
            "integrations": {"integrationsUi": {"all": False, "salesforce": True}},
        },
        "identify",
        {
            "userId": "u1",
            "traits": {"plan": "pro", "age": 42, "vip": True, "name": "Zoë 日本 🚀"},
            "context": FULL_CONTEXT_BODY,
            "integrations": {"All": False, "Salesforce": True},
            "messageId": "msg-1",
        },
    ),
    (
        "group full",
        {
            "resource": "group",
            "operation": "add",
            "userId": "u1",
            "groupId": "g-9",
            "traits": {
                "traitsUi": rows(
                    ("name", "Initech"),
                    ("employees", "120", "number"),
                    ("tags", '["b2b", "eu"]', "json"),
                )
            },
            "integrations": {"integrationsUi": {}},
        },
        "group",
        {
            "userId": "u1",
            "groupId": "g-9",
            "traits": {"name": "Initech", "employees": 120, "tags": ["b2b", "eu"]},
            "context": {"library": LIBRARY},
            "integrations": {"All": True, "Salesforce": False},
            "messageId": "msg-1",
        },
    ),
    (
        "track event with types",
        {
            "resource": "track",
            "operation": "event",
            "event": "Order Completed",
            "properties": {
                "propertiesUi": rows(
                    ("total", "49.90"),
                    ("currency", "EUR", "string"),
                    ("zip", "01234", "auto"),
                    ("code", "007", "string"),
                    ("coupon", "anything", "null"),
                    ("gift", "False", "boolean"),
                    ("items", '[{"sku": "A1", "qty": 2}]', "json"),
                    ("note", " spaced "),
                )
            },
        },
        "track",
        {
            "anonymousId": "anon-1",
            "event": "Order Completed",
            "properties": {
                "total": 49.9,
                "currency": "EUR",
                "zip": "01234",
                "code": "007",
                "coupon": None,
                "gift": False,
                "items": [{"sku": "A1", "qty": 2}],
                "note": " spaced ",
            },
            "context": {"library": LIBRARY},
            "messageId": "msg-1",
        },
    ),
    (
        "track page",
        {"resource": "track", "operation": "page", "userId": "u", "name": "Pricing"},
        "page",
        {"userId": "u", "name": "Pricing", "context": {"library": LIBRARY}, "messageId": "msg-1"},
    ),
    (
        "track screen",
        {
            "resource": "track",
            "operation": "screen",
            "userId": "u",
            "name": "Home",
            "properties": {"propertiesUi": rows(("tab", "feed"))},
        },
        "screen",
        {
            "userId": "u",
            "name": "Home",
            "properties": {"tab": "feed"},
            "context": {"library": LIBRARY},
            "messageId": "msg-1",
        },
    ),
    (
        "identify alias",
        {"resource": "identify", "operation": "alias", "userId": "u-new", "previousId": "anon-old"},
        "alias",
        {
            "userId": "u-new",
            "previousId": "anon-old",
            "context": {"library": LIBRARY},
            "messageId": "msg-1",
        },
    ),
    (
        "advanced options",
        {
            "resource": "track",
            "operation": "event",
            "event": "Imported",
            "integrations": {"integrationsUi": {"all": True, "salesforce": False}},
            "advanced": {
                "advancedUi": {
                    "anonymousId": "anon-typed",
                    "generateAnonymousId": True,
                    "timestamp": "2024-03-01T12:00:00+01:00",
                    "messageId": "fixed-id",
                    "destinations": {
                        "destinationsUi": [
                            {"name": "Mixpanel", "enabled": False},
                            {"name": "Amplitude", "enabled": True},
                        ]
                    },
                }
            },
        },
        "track",
        {
            "anonymousId": "anon-typed",
            "event": "Imported",
            "context": {"library": LIBRARY},
            "integrations": {
                "All": True,
                "Salesforce": False,
                "Mixpanel": False,
                "Amplitude": True,
            },
            "timestamp": "2024-03-01T12:00:00+01:00",
            "messageId": "fixed-id",
        },
    ),
]


@pytest.mark.parametrize(("name", "values", "path", "body"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_body(name: str, values: dict[str, Any], path: str, body: dict[str, Any]) -> None:
    composition = compose(SPEC, values, anonymous_id="anon-1", message_id="msg-1")
    assert composition.errors() == []
    assert composition.message is not None
    assert composition.message.path == path
    assert composition.message.body == body
    assert list(composition.message.body) == list(body)


def test_hidden_parameters_not_sent() -> None:
    _, body = build(
        {
            "resource": "identify",
            "operation": "create",
            "event": "Leftover",
            "groupId": "g",
            "previousId": "p",
            "properties": {"propertiesUi": rows(("a", "b"))},
        }
    )
    assert set(body) == {"anonymousId", "context", "messageId"}


def test_userid_and_typed_anonymous_both_sent() -> None:
    _, body = build({"userId": "u1", "advanced": {"advancedUi": {"anonymousId": "a-7"}}})
    assert body["userId"] == "u1"
    assert body["anonymousId"] == "a-7"


def test_generated_anonymous_id_hint() -> None:
    composition = compose(SPEC, {}, anonymous_id="anon-1", message_id="m")
    assert composition.hints[f"{ADVANCED}.anonymousId"] == "Generated: anon-1"


def test_no_identity_blocks() -> None:
    found = check({"advanced": {"advancedUi": {"generateAnonymousId": False}}})
    assert found == [
        Problem(
            f"{ADVANCED}.anonymousId",
            "no identity: enter a User ID or an Anonymous ID, or turn Generate Anonymous ID "
            "back on",
        )
    ]


@pytest.mark.parametrize(
    ("values", "path", "message"),
    [
        (
            {"resource": "group", "operation": "add", "groupId": "  "},
            "groupId",
            "Group ID is required; enter a value",
        ),
        ({"resource": "track", "operation": "event"}, "event", "Event is required; enter a value"),
        (
            {"resource": "identify", "operation": "alias", "userId": "u"},
            "previousId",
            "Previous ID is required; enter a value",
        ),
        (
            {"resource": "identify", "operation": "alias", "previousId": "p"},
            "userId",
            "User ID is required; enter a value",
        ),
    ],
)
def test_required_fields(values: dict[str, Any], path: str, message: str) -> None:
    assert Problem(path, message) in check(values)
    with pytest.raises(PayloadError, match=message):
        build(values)


@pytest.mark.parametrize(
    ("value", "value_type", "message"),
    [
        ("12a", "number", "'12a' is not a number; enter digits such as 42, -7 or 9.99"),
        ("1e999", "number", "'1e999' is too large for a JSON number"),
        ("yes", "boolean", "'yes' is not a boolean; enter true or false"),
        (
            '{"a": 1,}',
            "json",
            "invalid JSON at line 1, column 9: Expecting property name enclosed in double quotes",
        ),
        ('{\n  "a": tru\n}', "json", "invalid JSON at line 2, column 8: Expecting value"),
        (
            "42",
            "json",
            "JSON values must be an object {…} or an array […]; use another type for single values",
        ),
        ("NaN", "json", "NaN is not valid JSON"),
    ],
)
def test_invalid_typed_values(value: str, value_type: str, message: str) -> None:
    values = {"traits": {"traitsUi": rows(("k", value, value_type))}}
    found = check(values)
    assert len(found) == 1
    assert found[0].path == "traits.traitsUi[0].value"
    assert found[0].is_error
    assert found[0].message.startswith(message)


@pytest.mark.parametrize(
    ("text", "value", "decided"),
    [
        ("true", True, "boolean"),
        ("false", False, "boolean"),
        ("True", "True", "string"),
        ("null", None, "null"),
        ("0", 0, "number"),
        ("-12", -12, "number"),
        ("3.5e2", 350.0, "number"),
        ("007", "007", "string"),
        (" 5", " 5", "string"),
        ("", "", "string"),
        ("9007199254740991", 9007199254740991, "number"),
        (
            "12345678901234567890",
            "12345678901234567890",
            "string (too large for a JavaScript number; choose Number to force it)",
        ),
        ("hello", "hello", "string"),
    ],
)
def test_auto_type_decisions(text: str, value: Any, decided: str) -> None:
    assert convert_value(text, "auto") == (value, decided)


def test_auto_decision_hint_per_row() -> None:
    composition = compose(
        SPEC,
        {"traits": {"traitsUi": rows(("a", "1"), ("b", "x"), ("c", "y", "string"))}},
        anonymous_id="a",
        message_id="m",
    )
    assert composition.hints["traits.traitsUi[0].value"] == "Auto: number"
    assert composition.hints["traits.traitsUi[1].value"] == "Auto: string"
    assert "traits.traitsUi[2].value" not in composition.hints


def test_duplicate_keys_warn_last_wins() -> None:
    values = {"traits": {"traitsUi": rows(("plan", "a"), ("x", "1"), ("plan", "b"))}}
    composition = compose(SPEC, values, anonymous_id="a", message_id="m")
    assert composition.sendable
    assert composition.warnings() == [
        Problem(
            "traits.traitsUi[2].key",
            "duplicate key 'plan': rows 1 and 3 set it; row 3 wins",
            "warning",
        )
    ]
    assert composition.message is not None
    assert composition.message.body["traits"] == {"plan": "b", "x": 1}


def test_value_without_key_warns() -> None:
    composition = compose(
        SPEC,
        {"traits": {"traitsUi": rows(("", "orphan"), ("", ""))}},
        anonymous_id="a",
        message_id="m",
    )
    assert [p.path for p in composition.warnings()] == ["traits.traitsUi[0].key"]
    assert composition.message is not None
    assert "traits" not in composition.message.body


def test_page_url_mapping() -> None:
    assert page_object("https://example.com") == {
        "url": "https://example.com",
        "path": "/",
        "search": "",
        "hash": "",
    }
    assert page_object(" https://example.com/a/b?x=1&y=%20#top ") == {
        "url": "https://example.com/a/b?x=1&y=%20#top",
        "path": "/a/b",
        "search": "?x=1&y=%20",
        "hash": "#top",
    }


def test_page_json_keeps_referrer_title() -> None:
    page = '{"url": "https://e.com/p", "referrer": "https://google.com", "title": "Pricing"}'
    assert page_object(page) == {
        "url": "https://e.com/p",
        "referrer": "https://google.com",
        "title": "Pricing",
    }


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ('{"path": ', "Page is not valid JSON (line 1, column 9: Expecting value)"),
        ("pricing", "Page 'pricing' is neither a URL nor a JSON object"),
        ("ftp://files.example/x", "Page 'ftp://files.example/x' is neither a URL"),
        ("[1, 2]", "Page '[1, 2]' is neither a URL"),
    ],
)
def test_page_invalid(text: str, start: str) -> None:
    found = check({"context": {"contextUi": {"page": text}}})
    assert [p.path for p in found] == ["context.contextUi.page"]
    assert found[0].message.startswith(start)


@pytest.mark.parametrize(
    ("text", "severity", "start"),
    [
        ("2024-13-01T00:00:00Z", "error", "timestamp '2024-13-01T00:00:00Z' is not an ISO 8601"),
        ("yesterday", "error", "timestamp 'yesterday' is not an ISO 8601"),
        ("2024-03-01", "error", "timestamp '2024-03-01' is not an ISO 8601"),
        ("2024-03-01T10:00:00", "warning", "no time zone given"),
    ],
)
def test_timestamp_checks(text: str, severity: str, start: str) -> None:
    found = check({"advanced": {"advancedUi": {"timestamp": text}}})
    assert [(p.path, p.severity) for p in found] == [(f"{ADVANCED}.timestamp", severity)]
    assert found[0].message.startswith(start)


def test_size_boundary_exact() -> None:
    def values(length: int) -> dict[str, Any]:
        return {"userId": "u", "traits": {"traitsUi": rows(("blob", "x" * length, "string"))}}

    base = len(build(values(0))[1] and serialize(build(values(0))[1]))
    fits = MAX_MESSAGE_BYTES - base
    path, body = build(values(fits))
    assert len(serialize(body)) == MAX_MESSAGE_BYTES
    found = check(values(fits + 1))
    assert found == [
        Problem(
            "",
            "the message is 32,769 bytes; Segment accepts at most 32,768 bytes (32 KB) per "
            "message. Remove some traits, properties or context",
        )
    ]


def test_size_counts_utf8_bytes() -> None:
    values = {"userId": "u", "traits": {"traitsUi": rows(("blob", "é" * 16400, "string"))}}
    assert any("bytes" in p.message for p in check(values))


def test_no_empty_objects() -> None:
    _, body = build({"traits": {"traitsUi": rows(("", ""))}, "context": {"contextUi": {}}})
    assert "traits" not in body
    assert [key for key, value in body.items() if value in ({}, [], "")] == []


def test_unknown_operation_named() -> None:
    values = {"resource": "track", "operation": "fly"}
    composition = compose(SPEC, values, anonymous_id="a", message_id="m")
    assert composition.message is None
    assert composition.problems == [
        Problem("operation", "Operation is 'fly'; expected one of event, page, screen")
    ]


def test_serialize_compact_utf8() -> None:
    assert serialize({"name": "Café", "n": 1}) == '{"name":"Café","n":1}'.encode()


def test_expression_blocks_send() -> None:
    values = {
        "userId": "={{ $json.id }}",
        "traits": {"traitsUi": rows(("email", "={{ $json.email }}"))},
    }
    composition = compose(SPEC, values, anonymous_id="a", message_id="m")
    assert [(p.path, p.severity) for p in composition.problems] == [
        ("userId", "error"),
        ("traits.traitsUi[0].value", "error"),
    ]
    assert (
        "is an n8n expression that was not evaluated for an input item"
        in composition.problems[0].message
    )
    assert not composition.sendable


@pytest.mark.parametrize(
    ("path", "label"),
    [
        (
            "advanced.advancedUi.destinations.destinationsUi[1].name",
            "Advanced › Destinations row 2 › Destination",
        ),
        ("properties.propertiesUi[0].value", "Properties row 1 › Value"),
        ("context.contextUi.app.appUi.name", "Context › App › Name"),
        ("event", "Event"),
        ("", ""),
    ],
)
def test_field_label(path: str, label: str) -> None:
    from segment_gui.payload import field_label

    assert field_label(SPEC, path) == label


# -- copies ---------------------------------------------------------------------------------


def test_copy_json_copies_containers() -> None:
    value = {"propertiesUi": [{"key": "plan", "value": "pro"}], "count": 2, "on": None}
    copied = copy_json(value)
    assert copied == value
    assert copied is not value
    assert copied["propertiesUi"] is not value["propertiesUi"]
    assert copied["propertiesUi"][0] is not value["propertiesUi"][0]
    copied["propertiesUi"][0]["value"] = "free"
    assert value["propertiesUi"][0]["value"] == "pro"


def test_copy_json_other_types_deep_copied() -> None:
    inner = [1, 2]
    value = {"pair": (inner, "x")}
    copied = copy_json(value)
    assert copied == value
    assert copied["pair"][0] is not inner


def test_resolve_parameters_returns_copies() -> None:
    values = {"resource": "track", "operation": "event", "properties": {"propertiesUi": []}}
    resolved = resolve_parameters(SPEC, values)
    resolved["properties"]["propertiesUi"].append({"key": "k", "value": "v"})
    assert values["properties"] == {"propertiesUi": []}
    shared = resolve_parameters(SPEC, values, copy_values=False)
    assert shared["properties"] is values["properties"]
    assert shared == resolve_parameters(SPEC, values)


def test_body_shares_no_values_with_parameters() -> None:
    app = {"appUi": {"name": "Shop", "version": "1.0"}}
    values = {
        "resource": "track",
        "operation": "event",
        "userId": "u-1",
        "event": "Seen",
        "context": {"contextUi": {"ip": "10.0.0.1", "app": app}},
    }
    composition = compose(SPEC, values, anonymous_id="anon-1", message_id="msg-1")
    assert composition.message is not None
    sent = composition.message.to_bytes()
    app["appUi"]["name"] = "Changed"
    assert composition.message.body["context"]["app"]["name"] == "Shop"
    assert composition.message.to_bytes() == sent


def test_value_nested_too_deep_rejected() -> None:
    deep: list[Any] = []
    for _ in range(MAX_VALUE_DEPTH + 5):
        deep = [deep]
    values = {"resource": "track", "operation": "event", "properties": {"propertiesUi": deep}}
    problems = check(values)
    assert [problem.path for problem in problems] == ["properties"]
    assert "nested more than 100 levels" in problems[0].message


def test_expression_in_row_blocks_send() -> None:
    values = {
        "resource": "track",
        "operation": "event",
        "userId": "u-1",
        "event": "Seen",
        "properties": {"propertiesUi": rows(("plan", "={{ $json.plan }}"))},
    }
    problems = [problem for problem in check(values) if "n8n expression" in problem.message]
    assert [problem.path for problem in problems] == ["properties.propertiesUi[0].value"]
