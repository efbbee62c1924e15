"""The events every throughput benchmark sends, so the app and each baseline send the same data.

The app builds messages from form values (parameter names as in the n8n Segment node). The
baselines send the same fields: analytics-python through its `track()` call, and the raw
requests loops as the exact bodies the app built.
"""

from __future__ import annotations

from typing import Any

USER_ID = "user-1"
EVENT = "Order Completed"
# The properties of every track event, as analytics-python receives them.
PROPERTIES: dict[str, Any] = {"orderId": "o-1", "revenue": 19.99, "currency": "USD"}
WRITE_KEY = "benchmark-write-key"

# Form values of a track call with fixed values. Property values are typed as text, as in the
# form, and the app's "Auto" type sends "19.99" as the number 19.99.
TRACK_VALUES: dict[str, Any] = {
    "resource": "track",
    "operation": "event",
    "userId": USER_ID,
    "event": EVENT,
    "properties": {
        "propertiesUi": [
            {"key": "orderId", "value": "o-1"},
            {"key": "revenue", "value": "19.99"},
            {"key": "currency", "value": "USD"},
        ]
    },
}

# The same call with an n8n expression in three fields: User ID, Event and one property.
EXPRESSION_VALUES: dict[str, Any] = {
    "resource": "track",
    "operation": "event",
    "userId": "={{ $json.id }}",
    "event": "={{ 'Plan ' + $json.plan }}",
    "properties": {
        "propertiesUi": [
            {"key": "orderId", "value": "o-1"},
            {"key": "seats", "value": "={{ $json.seats * 2 }}"},
            {"key": "currency", "value": "USD"},
        ]
    },
}


def plain_items(count: int) -> list[dict[str, Any]]:
    """Return `count` empty input items: each one sends TRACK_VALUES once."""
    return [{} for _ in range(count)]


def expression_items(count: int) -> list[dict[str, Any]]:
    """Return `count` input items with the fields that EXPRESSION_VALUES reads."""
    return [
        {"id": f"u-{index}", "plan": "pro" if index % 2 else "free", "seats": index % 50}
        for index in range(count)
    ]
