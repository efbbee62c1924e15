"""Input items: the JSON objects a node runs once for, as n8n's `$json`.

Items come from pasted text or from a `.json`, `.jsonl`/`.ndjson`, `.csv` or `.tsv` file.
Empty input is one empty item `{}`, as in n8n. Every function here is pure: on invalid input it
raises ItemsError and changes nothing, so the caller keeps the items it had.

CSV rules, chosen for spreadsheet exports:
- The first non-blank row is the header. Its names are stripped of surrounding spaces and must
  be unique and non-empty.
- The delimiter is a comma. When the header row has no comma but contains a semicolon or a
  tab, the more frequent of those two is used, because spreadsheets in many locales export
  with `;`. A `.tsv` file always uses a tab.
- Cells are strings, except two cases. A cell that reads `true` or `false` in any letter case
  becomes a boolean. A plain decimal number becomes an int or a float: `42`, `-3.5`, `0.25`.
  Type detection ignores surrounding spaces. Strings are kept exactly as written.
- These stay strings: leading zeros (`007`, zip code `01234`), a plus sign (`+1 555`), `.5`,
  `5.`, thousands separators and `null`. Exponents (`1e3`) stay strings because part numbers
  look like that, and spreadsheets write long numbers as `1.23E+15` with digits lost.
  Integers beyond 2**53 - 1 stay strings because JavaScript destinations cannot hold them
  exactly, and such long numbers are usually ids.
- An empty cell is "" as n8n's spreadsheet import keeps it, and a row with fewer cells than
  the header gets "" for the missing columns. A row with more cells is an error.
- Rows whose cells are all empty or spaces are skipped, such as the `,,,` rows that
  spreadsheets export below the data.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MAX_PINNED_BYTES = 1_000_000
# Nesting allowed in one item, counting the item object as level 1. Python's json module
# recurses once per level when reading and writing, so this limit stays far below the default
# recursion limit of 1000 while allowing much deeper nesting than event data needs.
MAX_ITEM_DEPTH = 100
# Integers beyond this lose precision in JavaScript, where most Segment destinations run.
MAX_SAFE_INTEGER = 2**53 - 1

INPUT_KINDS = ("auto", "json", "jsonl", "csv")
FILE_KINDS = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
}

_PASTED_SOURCE = "Input"
_ITEM_EXAMPLE = '{"email": "a@b.c"}'
_SHAPE_FIX = "Paste one JSON object, an array of objects, or one object per line."
_QUOTE_FIX = (
    "Check the quotes in this row: a quoted cell must end with a quote, "
    'and a quote inside a quoted cell is written twice ("").'
)
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+")
_NUMBER_CHARACTERS = frozenset("0123456789+-.eE")


class ItemsError(ValueError):
    """Input that cannot be read as items.

    The message names the source (the input or a file name), the position and the fix.
    `line` and `column` are 1-based, or None when the problem has no single position.
    """

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


class _JsonProblem(Exception):
    """A JSON text that failed to decode, with the character offset of the failure."""

    def __init__(
        self, message: str, offset: int | None, syntax: bool, token: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        # True for a syntax error, which may mean the text is in another format (JSON Lines).
        self.syntax = syntax
        # The rejected literal (NaN, an overflowing number), which the json hooks report
        # without its offset.
        self.token = token


def parse_items(text: str, kind: str = "auto") -> list[dict[str, Any]]:
    """Parse pasted text into items.

    `kind` is "json", "jsonl", "csv" or "auto". Auto reads JSON (one object or an array of
    objects), then JSON Lines when every non-blank line is a JSON object. Auto never parses CSV,
    but its error suggests choosing CSV when the text looks like a table. Empty or whitespace-only
    text is one empty item. Raises ItemsError for invalid input and ValueError for an unknown
    `kind`.
    """
    if kind not in INPUT_KINDS:
        raise ValueError(f"unknown input kind {kind!r}. Expected one of {', '.join(INPUT_KINDS)}")
    return _parse(text, kind, _PASTED_SOURCE)


def read_items_file(path: str | Path) -> list[dict[str, Any]]:
    """Read items from a file, choosing the format by its extension.

    The file must be UTF-8, with or without a byte order mark. Raises ItemsError for an
    unsupported extension, an unreadable file, text that is not UTF-8, or invalid content.
    """
    path = Path(path)
    source = path.name
    kind = FILE_KINDS.get(path.suffix.lower())
    if kind is None:
        extensions = ", ".join(FILE_KINDS)
        raise ItemsError(
            f'{source}: unsupported file type "{path.suffix or "no extension"}". '
            f"Open a file ending in one of {extensions}."
        )

    try:
        data = path.read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        raise ItemsError(
            f"{source}: cannot read {path} ({reason}). Check that the file exists and is readable."
        ) from error

    return _parse(_decode_utf8(data, source), kind, source)


def items_to_text(items: list[dict[str, Any]]) -> str:
    """Format items as a JSON array indented by two spaces, for the input editor."""
    return json.dumps(items, indent=2, ensure_ascii=False, allow_nan=False)


def check_pin_size(items: list[dict[str, Any]]) -> None:
    """Raise ItemsError when items are too large to save with a preset.

    The size is that of the items as compact UTF-8 JSON. The preset file itself is indented, so
    it takes more room on disk than this measure.
    """
    try:
        text = json.dumps(items, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        size = len(text.encode("utf-8"))
    except (TypeError, ValueError) as error:
        raise ItemsError(
            f"{_PASTED_SOURCE}: the items cannot be saved as JSON ({error})."
        ) from error

    if size > MAX_PINNED_BYTES:
        raise ItemsError(
            f"{_PASTED_SOURCE}: the items take {size:,} bytes as JSON, over the limit of "
            f"{MAX_PINNED_BYTES:,} bytes for input saved with a preset. Keep fewer items, "
            "or load them from a file when running."
        )


def table_columns(items: list[dict[str, Any]], limit: int = 50) -> list[str]:
    """Return the top-level keys of all items in first-seen order, at most `limit` of them."""
    columns: dict[str, None] = {}
    if limit <= 0:
        return []
    for item in items:
        for key in item:
            if key in columns:
                continue
            columns[key] = None
            if len(columns) >= limit:
                return list(columns)
    return list(columns)


# Format dispatch


def _parse(text: str, kind: str, source: str) -> list[dict[str, Any]]:
    text = text.removeprefix("\ufeff")
    if not text.strip():
        return [{}]

    if kind == "json":
        items = _parse_json(text, source)
    elif kind == "jsonl":
        items = _parse_jsonl(text, source)
    elif kind == "csv":
        items = _parse_csv(text, source, None)
    elif kind == "tsv":
        items = _parse_csv(text, source, "\t")
    else:
        items = _parse_auto(text, source)
    return items


def _parse_auto(text: str, source: str) -> list[dict[str, Any]]:
    try:
        value = _decode_json(text)
    except _JsonProblem as problem:
        if not problem.syntax:
            raise _json_error(source, text, problem, "") from None
        json_problem = problem
    else:
        return _items_from_json(value, text, source)

    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) >= 2:
        try:
            return _parse_jsonl(text, source)
        except ItemsError as jsonl_error:
            if _is_json_object(lines[0]):
                raise ItemsError(
                    f"{jsonl_error.message} The text is not one JSON value and its first line "
                    "is a JSON object, so it was read as JSON Lines.",
                    jsonl_error.line,
                    jsonl_error.column,
                ) from None

    header = _first_csv_row(text, _sniff_delimiter(text))
    if len(header) >= 2 and not text.lstrip().startswith(("{", "[")):
        columns = ", ".join(name.strip()[:30] for name in header[:5])
        raise ItemsError(
            f"{source}: the text is neither JSON nor JSON Lines, and it looks like CSV with the "
            f"columns {columns}. Choose the CSV format to read it as a table."
        )

    if json_problem.message.startswith("Extra data"):
        fix = (
            "Tried JSON and JSON Lines. More text follows the first JSON value, so to paste "
            "several objects put them in an array [{…}, {…}] or write one object per line."
        )
    else:
        fix = f"Tried JSON and JSON Lines. {_SHAPE_FIX}"
    raise _json_error(source, text, json_problem, fix) from None


# JSON and JSON Lines


def _parse_json(text: str, source: str) -> list[dict[str, Any]]:
    try:
        value = _decode_json(text)
    except _JsonProblem as problem:
        fix = (
            "Check the JSON there for a missing comma, quote or bracket." if problem.syntax else ""
        )
        raise _json_error(source, text, problem, fix) from None
    return _items_from_json(value, text, source)


def _parse_jsonl(text: str, source: str) -> list[dict[str, Any]]:
    # JSON Lines separates records with "\n" only. str.splitlines would also split on U+2028
    # and other characters that JSON allows unescaped inside strings.
    items = []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue

        try:
            value = _decode_json(line)
        except _JsonProblem as problem:
            column = None if problem.offset is None else problem.offset + 1
            where = _position_message(source, number, column)
            if problem.syntax:
                message = (
                    f"{where}: invalid JSON Lines ({problem.message}). "
                    "Every non-blank line must be one JSON object."
                )
            else:
                message = f"{where}: {problem.message}."
            raise ItemsError(message, number, column) from None

        if not isinstance(value, dict):
            column = _first_content_offset(line) + 1
            raise ItemsError(
                f"{source}, line {number}, column {column}: the line is {_json_type(value)}. "
                f"Every line must be a JSON object like {_ITEM_EXAMPLE}.",
                number,
                column,
            )

        problem_kind = _item_problem(value)
        if problem_kind is not None:
            offset = _too_deep_offset(line, 0) if problem_kind == "depth" else None
            column = None if offset is None else offset + 1
            raise ItemsError(
                f"{_position_message(source, number, column)}: the object "
                f"{_ITEM_PROBLEMS[problem_kind]}",
                number,
                column,
            )
        items.append(value)
    return items


def _items_from_json(value: Any, text: str, source: str) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        candidates = [value]
        base_depth = 0
    elif isinstance(value, list):
        candidates = value
        base_depth = 1
    else:
        line, column = _position(text, _first_content_offset(text))
        raise ItemsError(
            f"{_position_message(source, line, column)}: the JSON is {_json_type(value)}. "
            f"Paste an object like {_ITEM_EXAMPLE} or an array of objects.",
            line,
            column,
        )

    if not candidates:
        line, column = _position(text, _first_content_offset(text))
        raise ItemsError(
            f"{_position_message(source, line, column)}: the array is empty, so there is "
            "nothing to run. Add an object, or clear the input to run once with an empty item.",
            line,
            column,
        )

    for index, candidate in enumerate(candidates):
        if not isinstance(candidate, dict):
            line, column = _position(text, _element_offset(text, index))
            raise ItemsError(
                f"{_position_message(source, line, column)}: item {index + 1} is "
                f"{_json_type(candidate)}. Every item must be a JSON object like "
                f"{_ITEM_EXAMPLE}.",
                line,
                column,
            )

        problem_kind = _item_problem(candidate)
        if problem_kind is None:
            continue
        if problem_kind == "depth":
            offset = _too_deep_offset(text, base_depth)
        elif base_depth:
            offset = _element_offset(text, index)
        else:
            offset = _first_content_offset(text)
        line, column = _position(text, offset)
        raise ItemsError(
            f"{_position_message(source, line, column)}: item {index + 1} "
            f"{_ITEM_PROBLEMS[problem_kind]}",
            line,
            column,
        )
    return candidates


def _decode_json(text: str) -> Any:
    """Decode strict JSON, raising _JsonProblem for anything that is not usable JSON."""
    try:
        return json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_parse_finite_float,
            parse_int=_parse_int,
        )
    except json.JSONDecodeError as error:
        raise _JsonProblem(error.msg, error.pos, syntax=True) from None
    except _JsonProblem as problem:
        offset = None if problem.token is None else _token_offset(text, problem.token)
        raise _JsonProblem(problem.message, offset, syntax=False) from None
    except RecursionError:
        base_depth = 1 if text.lstrip().startswith("[") else 0
        message = f"the JSON nests more than {MAX_ITEM_DEPTH} levels deep. Flatten the data"
        raise _JsonProblem(message, _too_deep_offset(text, base_depth), syntax=False) from None


def _reject_constant(name: str) -> Any:
    # Python's json module accepts NaN and Infinity, but they are not JSON: JSON.parse in
    # JavaScript rejects them.
    raise _JsonProblem(
        f"{name} is not a JSON value. Use a number, a string or null", None, False, name
    )


def _parse_finite_float(token: str) -> float:
    number = float(token)
    if number in (float("inf"), float("-inf")):
        raise _JsonProblem(
            f"the number {token[:20]} is too large. Write it as a string if it is an id",
            None,
            False,
            token,
        )
    return number


def _parse_int(token: str) -> int:
    try:
        return int(token)
    except ValueError:
        # int() rejects more digits than sys.get_int_max_str_digits(), 4300 by default.
        digits = len(token.lstrip("-"))
        limit = sys.get_int_max_str_digits()
        raise _JsonProblem(
            f"the number {token[:20]}… has {digits} digits, more than the {limit} allowed. "
            "Write it as a string if it is an id",
            None,
            False,
            token,
        ) from None


def _json_error(source: str, text: str, problem: _JsonProblem, fix: str) -> ItemsError:
    line, column = _position(text, problem.offset)
    where = _position_message(source, line, column)
    if problem.syntax:
        message = f"{where}: invalid JSON ({problem.message})."
    else:
        message = f"{where}: {problem.message}."
    if fix:
        message += f" {fix}"
    return ItemsError(message, line, column)


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(_decode_json(line), dict)
    except _JsonProblem:
        return False


_ITEM_PROBLEMS = {
    "depth": f"nests objects and arrays more than {MAX_ITEM_DEPTH} levels deep. Flatten the data.",
    "surrogate": (
        "contains a lone surrogate such as \\ud800, which is not valid Unicode. "
        "Remove it or write the whole character."
    ),
}


def _item_problem(item: dict[str, Any]) -> str | None:
    """Return the key in _ITEM_PROBLEMS of the first problem found in an item, or None.

    Checks the nesting depth, and strings that are not valid Unicode: a JSON escape such as
    "\\ud800" decodes to a lone surrogate, which cannot be encoded as UTF-8 to send or save.
    """
    stack: list[tuple[Any, int]] = [(item, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list) and depth > MAX_ITEM_DEPTH:
            return "depth"
        if isinstance(value, dict):
            if not all(_is_unicode(key) for key in value):
                return "surrogate"
            stack.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)
        elif isinstance(value, str) and not _is_unicode(value):
            return "surrogate"
    return None


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


# Positions in JSON text


def _characters_outside_strings(text: str) -> Iterator[tuple[int, str]]:
    """Yield (offset, character) for characters outside JSON strings and each opening quote."""
    in_string = False
    escaped = False
    for offset, character in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif character == "\\":
                escaped = True
            elif character == '"':
                in_string = False
            continue
        if character == '"':
            in_string = True
        yield offset, character


def _token_offset(text: str, token: str) -> int | None:
    """Return the offset of the first `token` outside strings that is not part of a longer one."""
    for offset, _ in _characters_outside_strings(text):
        if not text.startswith(token, offset):
            continue
        before = text[offset - 1] if offset else " "
        after_offset = offset + len(token)
        after = text[after_offset] if after_offset < len(text) else " "
        if before not in _NUMBER_CHARACTERS and not after.isalnum() and after != ".":
            return offset
    return None


def _too_deep_offset(text: str, base_depth: int) -> int | None:
    """Return the offset of the first bracket nested deeper than an item may go."""
    depth = 0
    for offset, character in _characters_outside_strings(text):
        if character in "[{":
            depth += 1
            if depth > MAX_ITEM_DEPTH + base_depth:
                return offset
        elif character in "]}":
            depth -= 1
    return None


def _element_offset(text: str, index: int) -> int | None:
    """Return the offset where element `index` of the top-level JSON array starts."""
    depth = 0
    count = -1
    expecting_element = False
    for offset, character in _characters_outside_strings(text):
        if expecting_element and not character.isspace():
            count += 1
            if count == index:
                return offset
            expecting_element = False
        if character in "[{":
            depth += 1
            if depth == 1:
                expecting_element = True
        elif character in "]}":
            depth -= 1
        elif character == "," and depth == 1:
            expecting_element = True
    return None


def _first_content_offset(text: str) -> int:
    return len(text) - len(text.lstrip())


def _position(text: str, offset: int | None) -> tuple[int | None, int | None]:
    """Convert a character offset to a 1-based (line, column), counting "\\n" as json does."""
    if offset is None:
        return None, None
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _position_message(source: str, line: int | None, column: int | None) -> str:
    if line is None:
        return source
    if column is None:
        return f"{source}, line {line}"
    return f"{source}, line {line}, column {column}"


# CSV


def _parse_csv(text: str, source: str, delimiter: str | None) -> list[dict[str, Any]]:
    if delimiter is None:
        delimiter = _sniff_delimiter(text)
    # With newline="" the csv module splits rows on "\r\n", "\n" and "\r" and keeps line ends
    # inside quoted cells, as the csv documentation requires for file objects.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows = _csv_rows(reader, source)

    header_line, header = next(((line, row) for line, row in rows if not _is_blank(row)), (1, []))
    if not header:
        raise ItemsError(
            f"{source}: the CSV has only empty cells. Add a header row with column names "
            "and rows of values under it."
        )
    names = _header_names(header, header_line, source)

    items: list[dict[str, Any]] = []
    for line, row in rows:
        if _is_blank(row):
            continue
        if len(row) > len(names):
            raise ItemsError(
                f"{source}, line {line}: the row has {len(row)} cells but the header has "
                f"{len(names)} columns. Remove the extra cells, add names for them to the header, "
                "or quote cells that contain the delimiter.",
                line,
            )
        item = {name: _csv_value(cell) for name, cell in zip(names, row, strict=False)}
        for name in names[len(row) :]:
            item[name] = ""
        problem_kind = _item_problem(item)
        if problem_kind is not None:
            raise ItemsError(f"{source}, line {line}: the row {_ITEM_PROBLEMS[problem_kind]}", line)
        items.append(item)

    if not items:
        raise ItemsError(
            f"{source}, line {header_line}: the CSV has a header but no rows, so there is "
            "nothing to run. Add rows under the header, or clear the input to run once with "
            "an empty item.",
            header_line,
        )
    return items


def _csv_rows(reader: Any, source: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (first line number, cells) for each row, turning csv.Error into ItemsError."""
    while True:
        start_line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise ItemsError(
                f"{source}, line {start_line}: invalid CSV in the row starting on this line "
                f"({error}). {_QUOTE_FIX}",
                start_line,
            ) from None
        yield start_line, row


def _sniff_delimiter(text: str) -> str:
    header = _first_csv_row(text, ",")
    if len(header) != 1:
        return ","
    semicolons = header[0].count(";")
    tabs = header[0].count("\t")
    if semicolons == 0 and tabs == 0:
        return ","
    return ";" if semicolons >= tabs else "\t"


def _first_csv_row(text: str, delimiter: str) -> list[str]:
    """Return the first non-blank row, or [] if there is none or it is invalid CSV."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        for row in reader:
            if not _is_blank(row):
                return row
    except csv.Error:
        return []
    return []


def _header_names(header: list[str], line: int, source: str) -> list[str]:
    names = [cell.strip() for cell in header]
    first_column: dict[str, int] = {}
    for column, name in enumerate(names, start=1):
        if not name:
            raise ItemsError(
                f"{source}, line {line}: column {column} of the header is empty. Give every "
                "column a name, or remove the extra delimiter at the end of the line.",
                line,
            )
        if name in first_column:
            raise ItemsError(
                f'{source}, line {line}: the header names "{name}" twice (columns '
                f"{first_column[name]} and {column}). Give every column a unique name.",
                line,
            )
        first_column[name] = column
    return names


def _is_blank(row: list[str]) -> bool:
    return all(not cell.strip() for cell in row)


def _csv_value(cell: str) -> Any:
    """Convert a cell by the rules in the module docstring: booleans and plain numbers."""
    stripped = cell.strip()
    lowered = stripped.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False

    if _INTEGER.fullmatch(stripped):
        number = int(stripped)
        if abs(number) <= MAX_SAFE_INTEGER:
            return number
        return cell
    if _DECIMAL.fullmatch(stripped):
        return float(stripped)
    return cell


# Files


def _decode_utf8(data: bytes, source: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ItemsError(f"{source}: the file is UTF-16 text. Save it as UTF-8 and open it again.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ItemsError(
            f"{source}, line {line}: the file is not UTF-8 text (byte 0x{data[error.start]:02x} "
            f"at offset {error.start} is invalid). Save it as UTF-8 and open it again.",
            line,
        ) from None
