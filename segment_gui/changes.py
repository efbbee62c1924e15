"""Describe the difference between two states of a form, for undo and redo.

A state is the flat value dict of a generated form: parameter name to value, where a
fixedCollection's value maps option names to a row dict (single) or a list of row dicts
(`multipleValues`). The description names the step as the form shows it, for example
"Add Property" or "Edit Properties › Property 3 › Value". It also gives the parameter path of
the field to focus after the step is undone or redone, which is the object name of that
field's editor.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from segment_gui.spec import Field

_MISSING = object()


@dataclass(frozen=True)
class Change:
    """One undoable step: its menu text and the path of the field it concerns."""

    text: str
    path: str


def describe_change(fields: Sequence[Field], before: Any, after: Any) -> Change:
    """Name the first difference between `before` and `after`, in the order of `fields`."""
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    return _describe(fields, before, after, trail=(), prefix="")


def _describe(
    fields: Sequence[Field],
    before: dict[str, Any],
    after: dict[str, Any],
    trail: tuple[str, ...],
    prefix: str,
) -> Change:
    changed = [f for f in fields if before.get(f.name, _MISSING) != after.get(f.name, _MISSING)]
    if not changed:
        # Only names the spec does not define differ, as in a hand-edited preset.
        return Change(f"Edit {' › '.join(trail) or 'parameters'}", prefix.rstrip("."))
    definition = changed[0]
    label = (*trail, definition.display_name)
    path = prefix + definition.name
    old, new = before.get(definition.name), after.get(definition.name)
    if not definition.collection_options:
        verb = "Edit" if definition.type in ("string", "number") else "Change"
        return Change(f"{verb} {' › '.join(label)}", path)
    old = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    for option in definition.collection_options:
        old_rows, new_rows = old.get(option.name), new.get(option.name)
        if old_rows == new_rows:
            continue
        option_path = f"{path}.{option.name}"
        if not definition.multiple_values:
            if not isinstance(old_rows, dict):
                return Change(f"Add {' › '.join(label)}", option_path)
            if not isinstance(new_rows, dict):
                return Change(f"Remove {' › '.join(label)}", path)
            return _describe(option.fields, old_rows, new_rows, label, option_path + ".")
        old_list = old_rows if isinstance(old_rows, list) else []
        new_list = new_rows if isinstance(new_rows, list) else []
        where = " › ".join(trail)
        suffix = f" in {where}" if where else ""
        if len(new_list) > len(old_list):
            index = _first_unequal(old_list, new_list)
            return Change(f"Add {option.display_name}{suffix}", f"{option_path}[{index}]")
        if len(new_list) < len(old_list):
            index = min(_first_unequal(old_list, new_list), len(new_list) - 1)
            return Change(
                f"Remove {option.display_name}{suffix}",
                f"{option_path}[{index}]" if index >= 0 else path,
            )
        index = _first_unequal(old_list, new_list)
        if _same_rows(old_list, new_list):
            return Change(f"Move {option.display_name}{suffix}", f"{option_path}[{index}]")
        row_label = (*label, f"{option.display_name} {index + 1}")
        old_row, new_row = old_list[index], new_list[index]
        return _describe(
            option.fields,
            old_row if isinstance(old_row, dict) else {},
            new_row if isinstance(new_row, dict) else {},
            row_label,
            f"{option_path}[{index}].",
        )
    return Change(f"Edit {' › '.join(label)}", path)


def _first_unequal(old: list[Any], new: list[Any]) -> int:
    for index, (a, b) in enumerate(zip(old, new, strict=False)):
        if a != b:
            return index
    return min(len(old), len(new))


def _same_rows(old: list[Any], new: list[Any]) -> bool:
    """Tell whether `new` contains the same rows as `old` in another order."""

    def key(row: Any) -> str:
        return json.dumps(row, sort_keys=True, default=str)

    return sorted(map(key, old)) == sorted(map(key, new))
