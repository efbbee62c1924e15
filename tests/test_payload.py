"""Messages built from parameters, for every operation."""

from __future__ import annotations

from typing import Any

import pytest

from segment_gui import __version__
from segment_gui.payload import PayloadError, build_message, problems, serialize
from segment_gui.spec import load_spec

SPEC = load_spec()
LIBRARY = {"name": "segment-gui", "version": __version__}


def build(values: dict[str, Any], **kwargs: Any) -> tuple[str, dict[str, Any]]:
    message = build_message(SPEC, values, anonymous_id="anon-1", message_id="msg-1", **kwargs)
    return message.path, message.body


def test_identify_minimal() -> None:
    path, body = build({})
    assert path == "identify"
    assert body == {"anonymousId": "anon-1", "context": {"library": LIBRARY}, "messageId": "msg-1"}


def test_identify_traits_and_user() -> None:
    traits = {"traitsUi": [{"key": "plan", "value": "pro"}, {"key": "email", "value": "a@b.c"}]}
    path, body = build(
        {"resource": "identify", "operation": "create", "userId": "u1", "traits": traits}
    )
    assert path == "identify"
    assert body["userId"] == "u1"
    assert "anonymousId" not in body
    assert body["traits"] == {"plan": "pro", "email": "a@b.c"}


def test_group_add() -> None:
    path, body = build(
        {
            "resource": "group",
            "operation": "add",
            "userId": "u1",
            "groupId": "g1",
            "traits": {"traitsUi": [{"key": "name", "value": "Initech"}]},
        }
    )
    assert path == "group"
    assert body["groupId"] == "g1"
    assert body["traits"] == {"name": "Initech"}
    assert "properties" not in body


def test_track_event() -> None:
    path, body = build(
        {
            "resource": "track",
            "operation": "event",
            "event": "Signed Up",
            "properties": {"propertiesUi": [{"key": "plan", "value": "pro"}]},
        }
    )
    assert path == "track"
    assert body == {
        "anonymousId": "anon-1",
        "event": "Signed Up",
        "properties": {"plan": "pro"},
        "context": {"library": LIBRARY},
        "messageId": "msg-1",
    }


def test_track_page() -> None:
    path, body = build({"resource": "track", "operation": "page", "userId": "u", "name": "Signup"})
    assert path == "page"
    assert body["name"] == "Signup"
    assert "event" not in body


def test_page_without_name_omits_it() -> None:
    _, body = build({"resource": "track", "operation": "page", "userId": "u"})
    assert "name" not in body


def test_hidden_parameters_not_sent() -> None:
    _, body = build(
        {
            "resource": "identify",
            "operation": "create",
            "event": "Leftover",
            "groupId": "g",
            "properties": {"propertiesUi": [{"key": "a", "value": "b"}]},
        }
    )
    assert "event" not in body
    assert "groupId" not in body
    assert "properties" not in body


def test_context_maps_fields() -> None:
    context = {
        "contextUi": {
            "active": True,
            "ip": "203.0.113.9",
            "locate": "en-US",
            "page": "",
            "timezone": "Europe/Paris",
            "app": {"appUi": {"name": "Shop", "version": "2.1", "build": ""}},
            "campaign": {
                "campaignUi": {
                    "name": "",
                    "source": "news",
                    "medium": "",
                    "term": "",
                    "content": "",
                }
            },
            "device": {
                "deviceUi": {
                    "id": "",
                    "manufacturer": "",
                    "model": "",
                    "name": "",
                    "type": "",
                    "version": "",
                }
            },
        }
    }
    _, body = build({"context": context})
    assert body["context"] == {
        "active": True,
        "ip": "203.0.113.9",
        "locale": "en-US",
        "timezone": "Europe/Paris",
        "app": {"name": "Shop", "version": "2.1"},
        "campaign": {"source": "news"},
        "library": LIBRARY,
    }
    assert "locate" not in body["context"]
    assert "device" not in body["context"]


def test_context_inactive_omitted() -> None:
    _, body = build({"context": {"contextUi": {"active": False, "ip": ""}}})
    assert body["context"] == {"library": LIBRARY}


def test_context_page_url_and_json() -> None:
    _, body = build({"context": {"contextUi": {"page": "https://example.com/pricing"}}})
    assert body["context"]["page"] == {"url": "https://example.com/pricing"}
    _, body = build(
        {"context": {"contextUi": {"page": '{"path": "/pricing", "title": "Pricing"}'}}}
    )
    assert body["context"]["page"] == {"path": "/pricing", "title": "Pricing"}


def test_context_page_invalid_json_problem() -> None:
    found = problems(SPEC, {"context": {"contextUi": {"page": '{"path": '}}})
    assert len(found) == 1
    assert "Context Page is not valid JSON" in found[0]
    assert "line 1" in found[0]


def test_integrations_segment_names() -> None:
    _, body = build({"integrations": {"integrationsUi": {"all": False, "salesforce": True}}})
    assert body["integrations"] == {"All": False, "Salesforce": True}


def test_integrations_absent_when_not_added() -> None:
    _, body = build({"integrations": {}})
    assert "integrations" not in body


def test_empty_keys_skipped_and_later_wins() -> None:
    rows = [{"key": "", "value": "x"}, {"key": "plan", "value": "a"}, {"key": "plan", "value": "b"}]
    _, body = build({"traits": {"traitsUi": rows}})
    assert body["traits"] == {"plan": "b"}


def test_no_empty_objects() -> None:
    _, body = build(
        {"traits": {"traitsUi": [{"key": "", "value": ""}]}, "context": {"contextUi": {}}}
    )
    assert "traits" not in body
    empty = [key for key, value in body.items() if value in ({}, [], "")]
    assert empty == []


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"resource": "group", "operation": "add", "groupId": "  "}, "Group ID is required"),
        ({"resource": "track", "operation": "event"}, "Event is required"),
    ],
)
def test_required_fields_block(values: dict[str, Any], words: str) -> None:
    assert any(words in problem for problem in problems(SPEC, values))
    with pytest.raises(PayloadError, match=words):
        build(values)


def test_unchecked_preview_builds() -> None:
    path, body = build({"resource": "track", "operation": "event"}, check=False)
    assert path == "track"
    assert "event" not in body


def test_serialize_compact_utf8() -> None:
    assert serialize({"name": "Café", "n": 1}) == '{"name":"Café","n":1}'.encode()
