"""Input items from pasted text and files: JSON, JSON Lines and CSV, size limit and columns."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segment_gui.items import (
    MAX_ITEM_DEPTH,
    MAX_PINNED_BYTES,
    ItemsError,
    check_pin_size,
    items_to_text,
    parse_items,
    read_items_file,
    table_columns,
)

# JSON


def test_json_array_of_objects() -> None:
    text = '[{"email": "a@b.c", "plan": "pro"}, {"email": "d@e.f"}]'

    assert parse_items(text) == [{"email": "a@b.c", "plan": "pro"}, {"email": "d@e.f"}]
    assert parse_items(text, "json") == [{"email": "a@b.c", "plan": "pro"}, {"email": "d@e.f"}]


def test_json_single_object_is_one_item() -> None:
    assert parse_items('{"userId": "u1", "n": 2}') == [{"userId": "u1", "n": 2}]
    assert parse_items("{}") == [{}]


@pytest.mark.parametrize("kind", ["auto", "json", "jsonl", "csv"])
@pytest.mark.parametrize("text", ["", "   ", "\n\t\n", "\ufeff", "\ufeff  \r\n"])
def test_empty_text_is_one_empty_item(text: str, kind: str) -> None:
    assert parse_items(text, kind) == [{}]


def test_json_byte_order_mark_ignored() -> None:
    assert parse_items('\ufeff[{"a": 1}]') == [{"a": 1}]


def test_json_empty_array_rejected() -> None:
    with pytest.raises(ItemsError) as caught:
        parse_items("  []")

    assert "array is empty" in str(caught.value)
    assert "clear the input" in str(caught.value)
    assert (caught.value.line, caught.value.column) == (1, 3)


@pytest.mark.parametrize(
    ("element", "type_name"),
    [
        ("42", "a number"),
        ('"text"', "a string"),
        ("null", "null"),
        ("true", "a boolean"),
        ("[1, 2]", "an array"),
    ],
)
def test_json_non_object_item_named(element: str, type_name: str) -> None:
    text = '[\n  {"a": 1},\n  {"b": 2},\n  ' + element + "\n]"

    with pytest.raises(ItemsError) as caught:
        parse_items(text, "json")

    message = str(caught.value)
    assert f"item 3 is {type_name}" in message
    assert '{"email": "a@b.c"}' in message
    assert message.startswith("Input, line 4, column 3:")
    assert (caught.value.line, caught.value.column) == (4, 3)


def test_json_top_level_scalar_rejected() -> None:
    with pytest.raises(ItemsError) as caught:
        parse_items('"just a string"')

    assert "the JSON is a string" in str(caught.value)
    assert "array of objects" in str(caught.value)


def test_json_syntax_error_position() -> None:
    text = '{\n  "email": "a@b.c",\n  "plan": \n}'

    with pytest.raises(ItemsError) as caught:
        parse_items(text, "json")

    assert caught.value.line == 4
    assert caught.value.column == 1
    assert "line 4, column 1" in str(caught.value)
    assert "invalid JSON" in str(caught.value)


def test_auto_error_names_tried_formats() -> None:
    text = '[\n  {"a": 1}\n  {"b": 2}\n]'

    with pytest.raises(ItemsError) as caught:
        parse_items(text)

    assert (caught.value.line, caught.value.column) == (3, 3)
    assert "Tried JSON and JSON Lines" in str(caught.value)


def test_auto_objects_separated_by_commas_hint() -> None:
    with pytest.raises(ItemsError) as caught:
        parse_items('{"a": 1},\n{"b": 2}')

    assert (caught.value.line, caught.value.column) == (1, 9)
    assert "put them in an array" in str(caught.value)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_and_infinity_rejected(constant: str) -> None:
    text = '{"a": "NaN",\n "b": ' + constant + "}"

    with pytest.raises(ItemsError) as caught:
        parse_items(text)

    assert f"{constant} is not a JSON value" in str(caught.value)
    assert (caught.value.line, caught.value.column) == (2, 7)


def test_json_overflowing_float_rejected() -> None:
    with pytest.raises(ItemsError) as caught:
        parse_items('{"a": 1, "b": 1e400}')

    assert "too large" in str(caught.value)
    assert (caught.value.line, caught.value.column) == (1, 15)


def test_json_huge_integer_rejected() -> None:
    text = '[{"a": 1},\n {"b": ' + "9" * 5000 + "}]"

    with pytest.raises(ItemsError) as caught:
        parse_items(text)

    assert "5000 digits" in str(caught.value)
    assert (caught.value.line, caught.value.column) == (2, 8)


def test_json_large_integer_within_limit_kept() -> None:
    number = int("9" * 300)

    assert parse_items(f'{{"a": {number}}}') == [{"a": number}]


@pytest.mark.parametrize("depth", [MAX_ITEM_DEPTH + 1, 900, 5000, 100_000])
def test_json_too_deep_rejected(depth: int) -> None:
    text = '{"a":' * depth + "1" + "}" * depth

    with pytest.raises(ItemsError) as caught:
        parse_items(text)

    assert f"more than {MAX_ITEM_DEPTH} levels" in str(caught.value)
    assert caught.value.line == 1
    assert caught.value.column == 5 * MAX_ITEM_DEPTH + 1


def test_json_unbalanced_deep_brackets_rejected() -> None:
    with pytest.raises(ItemsError):
        parse_items("[" * 100_000)


def test_json_maximum_depth_accepted() -> None:
    depth = MAX_ITEM_DEPTH
    text = "[" + '{"a":' * depth + "1" + "}" * depth + "]"

    items = parse_items(text)

    assert parse_items(items_to_text(items)) == items


def test_json_lone_surrogate_rejected() -> None:
    with pytest.raises(ItemsError) as caught:
        parse_items('[{"a": 1},\n {"name": "\\ud800"}]')

    assert "item 2" in str(caught.value)
    assert "lone surrogate" in str(caught.value)
    assert (caught.value.line, caught.value.column) == (2, 2)


def test_json_escaped_surrogate_pair_kept() -> None:
    assert parse_items('{"emoji": "\\ud83d\\ude00"}') == [{"emoji": "😀"}]


def test_unknown_kind_is_value_error() -> None:
    with pytest.raises(ValueError, match="unknown input kind") as caught:
        parse_items("{}", "xml")

    assert not isinstance(caught.value, ItemsError)


# JSON Lines


def test_jsonl_objects_per_line() -> None:
    text = '{"a": 1}\r\n\n  {"b": "x\\ny"}\n{"c": [1, {"d": null}]}\n'
    expected = [{"a": 1}, {"b": "x\ny"}, {"c": [1, {"d": None}]}]

    assert parse_items(text, "jsonl") == expected
    assert parse_items(text) == expected


def test_jsonl_single_line() -> None:
    assert parse_items('{"a": 1}', "jsonl") == [{"a": 1}]


def test_jsonl_line_separator_inside_string() -> None:
    text = '{"a": "x\u2028y"}\n{"b": 2}'

    assert parse_items(text, "jsonl") == [{"a": "x\u2028y"}, {"b": 2}]


def test_jsonl_bad_line_position() -> None:
    text = '{"a": 1}\n\n{"b": 2,}\n{"c": 3}'

    with pytest.raises(ItemsError) as caught:
        parse_items(text, "jsonl")

    assert caught.value.line == 3
    assert caught.value.column == 9
    assert "line 3, column 9" in str(caught.value)
    assert "invalid JSON Lines" in str(caught.value)


def test_jsonl_non_object_line() -> None:
    with pytest.raises(ItemsError) as caught:
        parse_items('{"a": 1}\n  [1, 2]', "jsonl")

    assert "the line is an array" in str(caught.value)
    assert (caught.value.line, caught.value.column) == (2, 3)


def test_auto_jsonl_bad_line() -> None:
    text = '{"a": 1}\n{"b": 2}\n{"c": 3'

    with pytest.raises(ItemsError) as caught:
        parse_items(text)

    assert caught.value.line == 3
    assert "read as JSON Lines" in str(caught.value)


def test_jsonl_nan_rejected_with_position() -> None:
    with pytest.raises(ItemsError) as caught:
        parse_items('{"a": 1}\n{"b": NaN}', "jsonl")

    assert "NaN is not a JSON value" in str(caught.value)
    assert (caught.value.line, caught.value.column) == (2, 7)


# CSV


def test_csv_header_and_rows() -> None:
    text = "email,plan\na@b.c,pro\nd@e.f,free\n"

    assert parse_items(text, "csv") == [
        {"email": "a@b.c", "plan": "pro"},
        {"email": "d@e.f", "plan": "free"},
    ]


def test_csv_byte_order_mark_stripped() -> None:
    assert parse_items("\ufeffemail,plan\na@b.c,pro", "csv") == [{"email": "a@b.c", "plan": "pro"}]


def test_csv_quoted_comma_quote_and_newline() -> None:
    text = 'name,note\n"Doe, Jane","She said ""hi"""\n"Smith","line one\nline two"\n'

    assert parse_items(text, "csv") == [
        {"name": "Doe, Jane", "note": 'She said "hi"'},
        {"name": "Smith", "note": "line one\nline two"},
    ]


def test_csv_crlf_line_ends() -> None:
    text = 'a,b\r\n1,"x\r\ny"\r\n2,z\r\n'

    assert parse_items(text, "csv") == [{"a": 1, "b": "x\r\ny"}, {"a": 2, "b": "z"}]


def test_csv_empty_cells_are_empty_strings() -> None:
    assert parse_items("a,b,c\n,x,\n", "csv") == [{"a": "", "b": "x", "c": ""}]


def test_csv_unicode_kept() -> None:
    text = "name,city,mood\nCafé,日本,😀\n"

    assert parse_items(text, "csv") == [{"name": "Café", "city": "日本", "mood": "😀"}]


def test_csv_short_row_filled() -> None:
    assert parse_items("a,b,c\n1\n", "csv") == [{"a": 1, "b": "", "c": ""}]


def test_csv_long_row_rejected_with_line() -> None:
    text = 'a,b\n1,"two\nlines"\n3,4,5\n'

    with pytest.raises(ItemsError) as caught:
        parse_items(text, "csv")

    assert caught.value.line == 4
    assert "line 4" in str(caught.value)
    assert "3 cells but the header has 2 columns" in str(caught.value)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("42", 42),
        ("-7", -7),
        ("0", 0),
        ("-3.5", -3.5),
        ("0.25", 0.25),
        (" 42 ", 42),
        (str(2**53 - 1), 2**53 - 1),
        ("007", "007"),
        ("01234", "01234"),
        ("+1 555", "+1 555"),
        ("+42", "+42"),
        ("1e3", "1e3"),
        ("1.23E+15", "1.23E+15"),
        (".5", ".5"),
        ("5.", "5."),
        ("1,000", "1,000"),
        ("00.5", "00.5"),
        (str(2**53), str(2**53)),
        ("4111111111111111111", "4111111111111111111"),
        ("true", True),
        ("FALSE", False),
        ("True", True),
        ("yes", "yes"),
        ("null", "null"),
        (" text ", " text "),
    ],
)
def test_csv_value_types(cell: str, expected: Any) -> None:
    items = parse_items(f'value\n"{cell}"\n', "csv")

    assert items == [{"value": expected}]
    assert type(items[0]["value"]) is type(expected)


def test_csv_header_names_stripped() -> None:
    assert parse_items(" email , plan\nx,y", "csv") == [{"email": "x", "plan": "y"}]


def test_csv_duplicate_header_rejected() -> None:
    with pytest.raises(ItemsError) as caught:
        parse_items("email,plan,email\n1,2,3", "csv")

    assert '"email" twice (columns 1 and 3)' in str(caught.value)
    assert caught.value.line == 1


def test_csv_empty_header_rejected() -> None:
    with pytest.raises(ItemsError) as caught:
        parse_items("email,,plan\n1,2,3", "csv")

    assert "column 2 of the header is empty" in str(caught.value)
    assert caught.value.line == 1


def test_csv_header_without_rows_rejected() -> None:
    with pytest.raises(ItemsError) as caught:
        parse_items("\n\nemail,plan\n", "csv")

    assert "header but no rows" in str(caught.value)
    assert caught.value.line == 3


def test_csv_blank_rows_skipped() -> None:
    text = "\na,b\n1,2\n\n,\n  ,  \n3,4\n,\n"

    assert parse_items(text, "csv") == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]


def test_csv_unclosed_quote_rejected() -> None:
    with pytest.raises(ItemsError) as caught:
        parse_items('a,b\n1,2\n3,"open\n4,5\n', "csv")

    assert caught.value.line == 3
    assert "invalid CSV" in str(caught.value)


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_csv_semicolon_and_tab_detected(delimiter: str) -> None:
    text = delimiter.join(["email", "amount"]) + "\n" + delimiter.join(["a@b.c", "1,5"])

    assert parse_items(text, "csv") == [{"email": "a@b.c", "amount": "1,5"}]


def test_csv_comma_wins_over_semicolon() -> None:
    assert parse_items("a;b,c\n1,2", "csv") == [{"a;b": 1, "c": 2}]


def test_auto_suggests_csv_for_table() -> None:
    with pytest.raises(ItemsError) as caught:
        parse_items("email,plan\na@b.c,pro\n")

    assert "looks like CSV" in str(caught.value)
    assert "email, plan" in str(caught.value)


# Files


def write(path: Path, data: str | bytes) -> Path:
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("people.json", '[{"email": "a@b.c", "n": 1}]'),
        ("people.JSON", '{"email": "a@b.c", "n": 1}'),
        ("people.jsonl", '{"email": "a@b.c", "n": 1}\n'),
        ("people.ndjson", '{"email": "a@b.c", "n": 1}\n'),
        ("people.csv", "email,n\na@b.c,1\n"),
        ("people.tsv", "email\tn\na@b.c\t1\n"),
    ],
)
def test_file_read_by_extension(tmp_path: Path, name: str, content: str) -> None:
    path = write(tmp_path / name, content)

    assert read_items_file(path) == [{"email": "a@b.c", "n": 1}]
    assert read_items_file(str(path)) == [{"email": "a@b.c", "n": 1}]


def test_file_extension_decides_format(tmp_path: Path) -> None:
    path = write(tmp_path / "items.jsonl", '[\n  {"a": 1}\n]\n')

    with pytest.raises(ItemsError) as caught:
        read_items_file(path)

    assert str(caught.value).startswith("items.jsonl, line 1, column 2: invalid JSON Lines")


def test_csv_file_with_byte_order_mark(tmp_path: Path) -> None:
    path = write(tmp_path / "excel.csv", "\ufeffname,city\nCafé,日本\n".encode())

    assert read_items_file(path) == [{"name": "Café", "city": "日本"}]


def test_json_file_with_byte_order_mark(tmp_path: Path) -> None:
    path = write(tmp_path / "items.json", b'\xef\xbb\xbf[{"a": 1}]')

    assert read_items_file(path) == [{"a": 1}]


def test_empty_file_is_one_empty_item(tmp_path: Path) -> None:
    assert read_items_file(write(tmp_path / "empty.json", b"")) == [{}]


def test_file_not_utf8_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "latin1.csv", "name\nok\nCaf\xe9\n".encode("latin-1"))

    with pytest.raises(ItemsError) as caught:
        read_items_file(path)

    message = str(caught.value)
    assert message.startswith("latin1.csv, line 3:")
    assert "not UTF-8" in message
    assert "0xe9" in message
    assert "Save it as UTF-8" in message
    assert caught.value.line == 3


def test_file_utf16_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "excel.csv", "name\nCafé\n".encode("utf-16"))

    with pytest.raises(ItemsError, match="UTF-16"):
        read_items_file(path)


def test_file_error_names_file(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.jsonl", '{"a": 1}\n{"a": }\n')

    with pytest.raises(ItemsError) as caught:
        read_items_file(path)

    assert str(caught.value).startswith("broken.jsonl, line 2, column 7:")


def test_file_missing_rejected(tmp_path: Path) -> None:
    with pytest.raises(ItemsError) as caught:
        read_items_file(tmp_path / "missing.json")

    assert "cannot read" in str(caught.value)
    assert "missing.json" in str(caught.value)


def test_file_directory_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "folder.json"
    folder.mkdir()

    with pytest.raises(ItemsError, match="cannot read"):
        read_items_file(folder)


@pytest.mark.parametrize("name", ["items.txt", "items", "items.xlsx"])
def test_file_unsupported_extension(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, '{"a": 1}')

    with pytest.raises(ItemsError) as caught:
        read_items_file(path)

    assert "unsupported file type" in str(caught.value)
    assert ".jsonl" in str(caught.value)


# Text, size limit and columns


def test_items_to_text_is_indented_json() -> None:
    items = [{"name": "Café", "n": 1}]

    text = items_to_text(items)

    assert text == '[\n  {\n    "name": "Café",\n    "n": 1\n  }\n]'
    assert json.loads(text) == items


def test_pin_size_boundary() -> None:
    overhead = len('[{"a":""}]')
    at_limit = [{"a": "x" * (MAX_PINNED_BYTES - overhead)}]
    over_limit = [{"a": "x" * (MAX_PINNED_BYTES - overhead + 1)}]

    check_pin_size(at_limit)
    with pytest.raises(ItemsError) as caught:
        check_pin_size(over_limit)

    message = str(caught.value)
    assert "1,000,001 bytes" in message
    assert "1,000,000 bytes" in message
    assert "Keep fewer items" in message
    assert "from a file" in message


def test_pin_size_counts_utf8_bytes() -> None:
    overhead = len('[{"a":""}]')
    characters = (MAX_PINNED_BYTES - overhead) // 2

    check_pin_size([{"a": "é" * characters}])
    with pytest.raises(ItemsError):
        check_pin_size([{"a": "é" * characters + "x"}])


def test_pin_size_leaves_items_unchanged() -> None:
    items = [{"a": [1, {"b": "c"}]}]
    before = copy.deepcopy(items)

    check_pin_size(items)
    items_to_text(items)
    table_columns(items)

    assert items == before


def test_table_columns_first_seen_order() -> None:
    items = [{"b": 1, "a": 2}, {"c": 3, "a": 4}, {}, {"d": 5, "b": 6}]

    assert table_columns(items) == ["b", "a", "c", "d"]


def test_table_columns_limit() -> None:
    items = [
        {f"key{index}": index for index in range(30)},
        {f"more{index}": 0 for index in range(30)},
    ]

    columns = table_columns(items)

    assert len(columns) == 50
    assert columns[:2] == ["key0", "key1"]
    assert columns[-1] == "more19"
    assert table_columns(items, limit=3) == ["key0", "key1", "key2"]
    assert table_columns(items, limit=0) == []
    assert table_columns([]) == []


# Properties

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)
ITEM_LISTS = st.lists(st.dictionaries(st.text(), JSON_VALUES, max_size=5), min_size=1, max_size=5)


@settings(max_examples=200, deadline=None)
@given(ITEM_LISTS)
def test_items_text_round_trip(items: list[dict[str, Any]]) -> None:
    text = items_to_text(items)

    assert parse_items(text) == items
    assert parse_items(text, "json") == items


# Characters that exercise the JSON, JSON Lines and CSV parsers more often than random text.
SYNTAX_TEXT = st.text(alphabet='{}[]",:;\t\r\n \\01-9.eE+aNInfity\ufeff\u2028é', max_size=60)
ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=()), max_size=80)


@settings(max_examples=200, deadline=None)
@given(st.one_of(SYNTAX_TEXT, ANY_TEXT), st.sampled_from(["auto", "json", "jsonl", "csv"]))
def test_any_text_parses_or_raises_items_error(text: str, kind: str) -> None:
    try:
        items = parse_items(text, kind)
    except ItemsError as error:
        assert str(error)
        return

    assert items
    assert all(isinstance(item, dict) for item in items)
    assert parse_items(items_to_text(items)) == items
