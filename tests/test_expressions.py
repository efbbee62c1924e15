"""The n8n expression engine, against a real V8 context from mini-racer."""

from __future__ import annotations

import asyncio
import copy
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segment_gui.expressions import (
    EXPRESSION_TIP,
    ExpressionEngine,
    ExpressionError,
    is_expression,
    shared_engine,
)
from segment_gui.spec import load_spec

REPOSITORY = Path(__file__).resolve().parent.parent
UUID_V4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
NOW = datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=UTC)
NOW_MS = 1714566615250
ENDLESS_LOOP = "={{ (() => { while (true) {} })() }}"
GROWING_ARRAY = (
    "={{ (() => { const rows = []; while (true) rows.push('y'.repeat(1000) + rows.length); })() }}"
)


@pytest.fixture
def engine() -> Iterator[ExpressionEngine]:
    expression_engine = ExpressionEngine()
    yield expression_engine
    expression_engine.close()


@pytest.fixture(scope="module")
def module_engine() -> Iterator[ExpressionEngine]:
    expression_engine = ExpressionEngine()
    yield expression_engine
    expression_engine.close()


def run_python(code: str, **environment: str) -> str:
    """Run `code` in a fresh interpreter with the repository importable; return its stdout."""
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY), **environment}
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


def test_tip_names_javascript() -> None:
    assert "{{ }}" in EXPRESSION_TIP
    assert "JavaScript" in EXPRESSION_TIP


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("={{ 1 }}", True),
        ("=", True),
        ("={{ $json.id }}", True),
        ("{{ $json.id }}", False),
        ("plain", False),
        ("", False),
        (1, False),
        (None, False),
    ],
)
def test_is_expression(value: object, expected: bool) -> None:
    assert is_expression(value) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("={{ 1 + 1 }}", 2),
        ("={{ 1.5 * 2 }}", 3),
        ("={{ 0.1 + 0.2 }}", 0.30000000000000004),
        ("={{ 1 < 2 }}", True),
        ("={{ 'a' + 'b' }}", "ab"),
        ("={{ null }}", None),
        ("={{ undefined }}", None),
        ("={{ }}", None),
        ("={{ [1, 'two', null] }}", [1, "two", None]),
        ("={{ {a: {b: [true]}} }}", {"a": {"b": [True]}}),
        ("={{ '}}' }}", "}}"),
        ("={{ `${1 + 1}` }}", "2"),
        ("= {{ false }}\n", False),
        ("={{ NaN }}", None),
        ("={{ 2 ** 53 }}", 2**53),
        ("={{ 6.130589621478617e16 }}", 6.130589621478617e16),
        ("={{ $json.id // the user's ID\n}}", "u1"),
    ],
)
def test_single_segment_keeps_type(
    module_engine: ExpressionEngine, expression: str, expected: Any
) -> None:
    result = module_engine.evaluate(expression, item={"id": "u1"})
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("=id-{{ $json.id }}", "id-u1"),
        ("={{ 1 }}{{ 2 }}", "12"),
        ("=n={{ 40 + 2 }}, ok={{ true }}", "n=42, ok=true"),
        ("=[{{ null }}|{{ undefined }}|{{ '' }}]", "[||]"),
        ("=obj {{ {a: 1, b: [2]} }}", 'obj {"a":1,"b":[2]}'),
        ("=list {{ [1, 'x'] }}", 'list [1,"x"]'),
        ("=at {{ new Date(0) }}", "at 1970-01-01T00:00:00.000Z"),
        ("=Hello world", "Hello world"),
        ("=", ""),
    ],
)
def test_mixed_text_concatenates(
    module_engine: ExpressionEngine, expression: str, expected: str
) -> None:
    assert module_engine.evaluate(expression, item={"id": "u1"}) == expected


def test_non_expression_returned_unchanged(engine: ExpressionEngine) -> None:
    assert engine.evaluate("{{ $json.id }}", item={"id": "u1"}) == "{{ $json.id }}"
    assert not engine.started


def test_variables(module_engine: ExpressionEngine) -> None:
    item = {"id": "u7", "user": {"plan": "pro"}}
    parameters = {"resource": "track", "userId": "={{ $json.id }}"}

    def evaluate(expression: str) -> Any:
        return module_engine.evaluate(
            expression, item=item, item_index=4, parameters=parameters, now=NOW
        )

    assert evaluate("={{ $json.user.plan }}") == "pro"
    assert evaluate("={{ $json }}") == item
    assert evaluate("={{ $input.item.json.id }}") == "u7"
    assert evaluate("={{ $input.item.json === $json }}") is True
    assert evaluate("={{ $itemIndex }}") == 4
    assert evaluate('={{ $parameter["resource"] }}') == "track"
    assert evaluate('={{ $parameter["userId"] }}') == "={{ $json.id }}"


def test_variables_default_to_empty(module_engine: ExpressionEngine) -> None:
    assert module_engine.evaluate("={{ $json }}") == {}
    assert module_engine.evaluate("={{ $parameter }}") == {}
    assert module_engine.evaluate("={{ $itemIndex }}") == 0


def test_each_expression_gets_fresh_item(module_engine: ExpressionEngine) -> None:
    values = {"first": "={{ ($json.n = 99, $json.n) }}", "second": "={{ $json.n }}"}
    resolved, errors = module_engine.resolve(values, item={"n": 1})
    assert errors == {}
    assert resolved == {"first": 99, "second": 1}


def test_now_and_today(module_engine: ExpressionEngine) -> None:
    def evaluate(expression: str) -> Any:
        return module_engine.evaluate(expression, now=NOW)

    assert evaluate("={{ $now.toISOString() }}") == "2024-05-01T12:30:15.250Z"
    assert evaluate("={{ $now.getTime() }}") == NOW_MS
    assert evaluate("={{ $now.toMillis() }}") == NOW_MS
    assert evaluate("={{ $now.toUnixInteger() }}") == NOW_MS // 1000
    assert evaluate("={{ Date.parse($now.toISO()) }}") == NOW_MS
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", evaluate("={{ $now.toISO() }}")
    )
    assert evaluate("={{ $now }}") == evaluate("={{ $now.toISO() }}")
    assert evaluate("=at {{ $now }}") == "at " + evaluate("={{ $now.toISO() }}")
    assert evaluate("={{ $now - $now }}") == 0

    assert evaluate("={{ [$today.hour, $today.minute, $today.second, $today.millisecond] }}") == [
        0,
        0,
        0,
        0,
    ]
    assert evaluate("={{ $today.toISODate() === $now.toISODate() }}") is True
    assert evaluate("={{ $today <= $now && $now - $today < 86400000 }}") is True


def test_now_luxon_style_methods(module_engine: ExpressionEngine) -> None:
    def evaluate(expression: str) -> Any:
        return module_engine.evaluate(expression, now=NOW)

    local = NOW.astimezone()
    assert evaluate("={{ $now.toFormat('yyyy-MM-dd HH:mm:ss.SSS') }}") == local.strftime(
        "%Y-%m-%d %H:%M:%S.250"
    )
    assert evaluate("={{ $now.toFormat(\"dd/MM/yy 'at' h a\") }}") == local.strftime(
        "%d/%m/%y at "
    ) + str(local.hour % 12 or 12) + (" AM" if local.hour < 12 else " PM")
    assert evaluate("={{ [$now.year, $now.month, $now.day] }}") == [
        local.year,
        local.month,
        local.day,
    ]
    assert evaluate("={{ $now.weekday }}") == local.isoweekday()


def test_now_unsupported_format_token(module_engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError) as raised:
        module_engine.evaluate("={{ $now.toFormat('LLLL') }}")
    assert 'RangeError: toFormat(): the token "LLLL" is not supported' in str(raised.value)


def test_now_uses_local_time_zone() -> None:
    code = (
        "from datetime import datetime, UTC\n"
        "from segment_gui.expressions import ExpressionEngine\n"
        "engine = ExpressionEngine()\n"
        "now = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)\n"
        "print(engine.evaluate('={{ $now.toISO() }}|{{ $today.toISO() }}', now=now))\n"
        "engine.close()\n"
    )
    output = run_python(code, TZ="Asia/Kolkata")
    assert output == "2024-05-02T01:30:00.000+05:30|2024-05-02T00:00:00.000+05:30"


def test_uuid_format_and_uniqueness(module_engine: ExpressionEngine) -> None:
    first = module_engine.evaluate("={{ $uuid() }}")
    second = module_engine.evaluate("={{ $uuid() }}")
    assert UUID_V4.fullmatch(first)
    assert UUID_V4.fullmatch(second)
    assert first != second

    many = module_engine.evaluate("={{ Array.from({length: 1000}, () => $uuid()) }}")
    assert len(many) == 1000
    assert len(set(many)) == 1000
    assert all(UUID_V4.fullmatch(value) for value in many)


def test_uuid_differs_per_item(module_engine: ExpressionEngine) -> None:
    values = {"a": "={{ $uuid() }}", "b": "=id-{{ $uuid() }}"}
    seen = set()
    for index in range(20):
        resolved, errors = module_engine.resolve(values, item={}, item_index=index)
        assert errors == {}
        seen.add(resolved["a"])
        seen.add(resolved["b"].removeprefix("id-"))
    assert len(seen) == 40


def test_uuid_call_limit(module_engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError) as raised:
        module_engine.evaluate("={{ Array.from({length: 70000}, () => $uuid()).length }}")
    assert "$uuid() was called more than 65536 times in one evaluation" in str(raised.value)


def test_resolve_every_field_type(engine: ExpressionEngine) -> None:
    values = {
        "resource": "track",
        "operation": "={{ $json.kind }}",  # options field
        "userId": "={{ $json.id }}",
        "event": "=Order {{ $json.order.number }}",
        "timestamp": "2024-05-01T00:00:00Z",
        "sampleRate": "={{ $json.order.total / 2 }}",  # number field
        "anonymous": "={{ $json.order.total > 10 }}",  # boolean field
        "fixedNumber": 3,
        "fixedBoolean": False,
        "properties": {
            "propertiesUi": [
                {"key": "plan", "value": "={{ $json.plan }}"},
                {"key": "={{ 'item_' + $itemIndex }}", "value": "={{ $json.order }}"},
                {"key": "literal", "value": "as typed"},
            ]
        },
        "context": {"contextUi": {"app": {"appUi": {"name": "=Shop {{ $parameter.resource }}"}}}},
        "tags": ["={{ $json.kind }}", "static"],
    }
    original = copy.deepcopy(values)
    item = {"id": "u1", "kind": "event", "plan": "pro", "order": {"number": 17, "total": 25}}

    resolved, errors = engine.resolve(values, item=item, item_index=2)

    assert errors == {}
    assert resolved == {
        "resource": "track",
        "operation": "event",
        "userId": "u1",
        "event": "Order 17",
        "timestamp": "2024-05-01T00:00:00Z",
        "sampleRate": 12.5,
        "anonymous": True,
        "fixedNumber": 3,
        "fixedBoolean": False,
        "properties": {
            "propertiesUi": [
                {"key": "plan", "value": "pro"},
                {"key": "item_2", "value": {"number": 17, "total": 25}},
                {"key": "literal", "value": "as typed"},
            ]
        },
        "context": {"contextUi": {"app": {"appUi": {"name": "Shop track"}}}},
        "tags": ["event", "static"],
    }
    assert values == original


def test_resolve_without_expressions_skips_v8(engine: ExpressionEngine) -> None:
    values = {"userId": "u1", "properties": {"propertiesUi": [{"key": "a", "value": "=b"}]}}
    resolved, errors = engine.resolve(values, item={"id": 1})
    assert resolved == {
        "userId": "u1",
        "properties": {"propertiesUi": [{"key": "a", "value": "b"}]},
    }
    assert errors == {}
    assert not engine.started


def test_lazy_start(engine: ExpressionEngine) -> None:
    assert not engine.started
    assert engine.evaluate("=plain text") == "plain text"
    assert not engine.started

    assert engine.evaluate("={{ 2 * 21 }}") == 42
    assert engine.started

    engine.close()
    assert not engine.started
    assert engine.evaluate("={{ 1 }}") == 1
    assert engine.started


def test_import_does_not_load_mini_racer() -> None:
    code = (
        "import sys\n"
        "import segment_gui.expressions as expressions\n"
        "engine = expressions.ExpressionEngine()\n"
        "engine.resolve({'userId': 'u1', 'event': '=Signed Up'}, item={'id': 1})\n"
        "print('py_mini_racer' in sys.modules, engine.started)\n"
    )
    assert run_python(code) == "False False"


def test_syntax_error_message(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError) as raised:
        engine.evaluate("=id {{ $json.id + }}", item={"id": 1})
    error = raised.value
    assert str(error).startswith("{{ $json.id + }}: SyntaxError: ")
    assert error.expression == "{{ $json.id + }}"
    assert error.path == ""


def test_runtime_error_message(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError) as raised:
        engine.evaluate("={{ $json.user.id }}", item={})
    assert str(raised.value) == (
        "{{ $json.user.id }}: TypeError: Cannot read properties of undefined (reading 'id')"
    )
    assert raised.value.expression == "{{ $json.user.id }}"


def test_error_names_failing_segment(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError) as raised:
        engine.evaluate("={{ 1 }} and {{ missing }}")
    assert str(raised.value) == "{{ missing }}: ReferenceError: missing is not defined"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("={{ (() => { throw new Error('no plan') })() }}", "Error: no plan"),
        ("={{ (() => { throw 'plain text' })() }}", "Uncaught plain text"),
        ("={{ (() => { throw {code: 7} })() }}", 'Uncaught {"code":7}'),
        ("={{ 10n }}", "TypeError: Do not know how to serialize a BigInt"),
    ],
)
def test_thrown_values_described(engine: ExpressionEngine, expression: str, message: str) -> None:
    with pytest.raises(ExpressionError) as raised:
        engine.evaluate(expression)
    assert str(raised.value).endswith(": " + message)


def test_unclosed_braces_error(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError) as raised:
        engine.evaluate("=Hello {{ $json.name")
    assert str(raised.value) == "{{ $json.name: the closing }} is missing"
    assert not engine.started


def test_resolve_reports_error_paths(engine: ExpressionEngine) -> None:
    values = {
        "userId": "={{ $json.user.id }}",
        "event": "={{ $json.event }}",
        "properties": {
            "propertiesUi": [
                {"key": "ok", "value": "={{ 1 }}"},
                {"key": "bad", "value": "={{ 1 + }}"},
            ]
        },
        "context": {"contextUi": {"app": {"appUi": {"name": "={{ $json.app"}}}},
    }

    resolved, errors = engine.resolve(values, item={"event": "Signed Up"})

    assert set(errors) == {
        "userId",
        "properties.propertiesUi[1].value",
        "context.contextUi.app.appUi.name",
    }
    assert errors["userId"] == (
        "{{ $json.user.id }}: TypeError: Cannot read properties of undefined (reading 'id')"
    )
    assert errors["properties.propertiesUi[1].value"].startswith("{{ 1 + }}: SyntaxError: ")
    assert errors["context.contextUi.app.appUi.name"] == "{{ $json.app: the closing }} is missing"
    assert resolved["event"] == "Signed Up"
    assert resolved["properties"]["propertiesUi"][0]["value"] == 1
    assert resolved["userId"] is None
    assert resolved["properties"]["propertiesUi"][1]["value"] is None


def test_unserializable_item_raises(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match="the input item cannot be converted to JSON"):
        engine.resolve({"userId": "={{ $json.id }}"}, item={"id": {1, 2}})
    with pytest.raises(ExpressionError, match="the input item cannot be converted to JSON"):
        engine.evaluate("={{ $json.n }}", item={"n": float("nan")})


def test_endless_loop_stops(engine: ExpressionEngine) -> None:
    started = time.monotonic()
    with pytest.raises(ExpressionError) as raised:
        engine.evaluate(ENDLESS_LOOP, timeout_ms=200)
    elapsed = time.monotonic() - started

    assert str(raised.value) == (
        "{{ (() => { while (true) {} })() }}: took longer than 200 ms and was stopped"
    )
    assert elapsed < 10
    assert engine.evaluate("={{ $json.n + 1 }}", item={"n": 1}) == 2


def test_endless_loop_default_timeout() -> None:
    engine = ExpressionEngine(timeout_ms=300)
    try:
        with pytest.raises(ExpressionError, match="took longer than 300 ms and was stopped"):
            engine.evaluate(ENDLESS_LOOP)
        assert engine.evaluate("={{ 'still working' }}") == "still working"
    finally:
        engine.close()


def test_endless_loop_in_resolve(engine: ExpressionEngine) -> None:
    values = {
        "userId": "={{ $json.id }}",
        "event": "=Loop {{ (() => { while (true) {} })() }}",
        "properties": {"propertiesUi": [{"key": "n", "value": "={{ $json.n * 2 }}"}]},
    }

    resolved, errors = engine.resolve(values, item={"id": "u1", "n": 4}, timeout_ms=200)

    assert errors == {
        "event": "{{ (() => { while (true) {} })() }}: took longer than 200 ms and was stopped"
    }
    assert resolved["userId"] == "u1"
    assert resolved["properties"]["propertiesUi"][0]["value"] == 8
    assert engine.resolve({"userId": "={{ $json.id }}"}, item={"id": "u2"}) == (
        {"userId": "u2"},
        {},
    )


def test_timeout_in_builtin_then_close() -> None:
    # V8 cannot stop JSON.stringify midway, so the evaluation ends some time after the limit.
    # The next evaluation must not inherit that tail, and closing must not race with it
    # (pytest turns the "Event loop is closed" callback error into a test error).
    engine = ExpressionEngine(max_memory_bytes=1024 * 1024 * 1024)
    try:
        with pytest.raises(ExpressionError, match="took longer than 20 ms and was stopped"):
            engine.evaluate("={{ JSON.stringify('x'.repeat(1e8)).length }}", timeout_ms=20)
        assert engine.evaluate("={{ 'next' }}", timeout_ms=100) == "next"

        with pytest.raises(ExpressionError, match="took longer than 20 ms and was stopped"):
            engine.evaluate("={{ JSON.stringify('x'.repeat(1e8)).length }}", timeout_ms=20)
    finally:
        engine.close()


def test_memory_bomb_stops(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError) as raised:
        engine.evaluate(GROWING_ARRAY, timeout_ms=20000)
    assert str(raised.value) == (
        GROWING_ARRAY[1:] + ": used more than 64 MB of memory and was stopped"
    )
    assert engine.evaluate("={{ [1, 2, 3].length }}") == 3


def test_huge_string_fails_clearly(engine: ExpressionEngine) -> None:
    with pytest.raises(ExpressionError) as raised:
        engine.evaluate("={{ 'x'.repeat(1e9) }}")
    assert str(raised.value) == "{{ 'x'.repeat(1e9) }}: RangeError: Invalid string length"

    with pytest.raises(ExpressionError) as raised:
        engine.evaluate("={{ 'x'.repeat(1e8) }}", timeout_ms=20000)
    assert str(raised.value) == (
        "{{ 'x'.repeat(1e8) }}: used more than 64 MB of memory and was stopped"
    )
    assert engine.evaluate("={{ 'x'.repeat(3) }}") == "xxx"


def test_memory_limit_is_configurable() -> None:
    engine = ExpressionEngine(max_memory_bytes=16 * 1024 * 1024)
    try:
        resolved, errors = engine.resolve(
            {"a": GROWING_ARRAY, "b": "={{ $json.b }}"}, item={"b": 5}, timeout_ms=20000
        )
        assert errors == {
            "a": GROWING_ARRAY[1:] + ": used more than 16 MB of memory and was stopped"
        }
        assert resolved["b"] == 5
    finally:
        engine.close()


def test_engine_rejects_invalid_limits() -> None:
    with pytest.raises(ValueError, match="timeout_ms must be positive"):
        ExpressionEngine(timeout_ms=0)
    with pytest.raises(ValueError, match="max_memory_bytes must be positive"):
        ExpressionEngine(max_memory_bytes=-1)


def test_threads_share_engine(engine: ExpressionEngine) -> None:
    results: dict[int, list[Any]] = {}

    def work(thread_number: int) -> None:
        results[thread_number] = [
            engine.resolve(
                {"n": "={{ $json.n * 10 + $itemIndex }}"},
                item={"n": thread_number},
                item_index=index,
            )[0]["n"]
            for index in range(50)
        ]

    threads = [threading.Thread(target=work, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    for number in range(4):
        assert results[number] == [number * 10 + index for index in range(50)]


def test_engine_inside_asyncio_loop(engine: ExpressionEngine) -> None:
    async def evaluate_in_loop() -> Any:
        return engine.evaluate("={{ $json.n + 1 }}", item={"n": 1}, timeout_ms=500)

    assert asyncio.run(evaluate_in_loop()) == 2
    assert engine.evaluate("={{ 3 }}") == 3


def test_render_subtitle(engine: ExpressionEngine) -> None:
    spec = load_spec()
    parameters = {"resource": "track", "operation": "event"}
    assert engine.render_subtitle(spec.subtitle, parameters) == "event:track"


def test_render_subtitle_falls_back(engine: ExpressionEngine) -> None:
    assert engine.render_subtitle("Segment", {}) == "Segment"
    assert engine.render_subtitle("={{ $parameter.x.y }}", {}) == "={{ $parameter.x.y }}"
    assert engine.render_subtitle("={{ $parameter.n", {}) == "={{ $parameter.n"
    assert engine.render_subtitle("={{ $parameter.n }}", {"n": 5}) == "5"


def test_shared_engine_is_one_instance() -> None:
    assert shared_engine() is shared_engine()


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(item=st.dictionaries(st.text(), JSON_VALUES, max_size=6))
def test_json_items_round_trip(module_engine: ExpressionEngine, item: dict[str, Any]) -> None:
    assert module_engine.evaluate("={{ $json }}", item=item) == item
