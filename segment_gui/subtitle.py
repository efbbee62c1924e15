"""Render the node subtitle from the spec's subtitle expression.

The Segment node's subtitle is `={{$parameter["operation"] + ":" + $parameter["resource"]}}`.
This evaluator covers that form: `{{ }}` segments made of `$parameter["name"]` references and
string literals joined with `+`. Any other expression is shown as written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_SEGMENT = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_TERM = re.compile(
    r"""\s*(?:\$parameter\[\s*(?P<ref>"[^"]*"|'[^']*')\s*\]|(?P<text>"(?:[^"\\]|\\.)*"))\s*"""
)


class UnsupportedExpression(ValueError):
    pass


def render_subtitle(template: str, parameters: Mapping[str, Any]) -> str:
    """Evaluate `template` against the node's parameters; return it unchanged if unsupported."""
    if not template.startswith("="):
        return template
    try:
        return _SEGMENT.sub(lambda match: _evaluate(match.group(1), parameters), template[1:])
    except UnsupportedExpression:
        return template


def _evaluate(expression: str, parameters: Mapping[str, Any]) -> str:
    parts = []
    for term in _split_plus(expression):
        match = _TERM.fullmatch(term)
        if match is None:
            raise UnsupportedExpression(term)
        if match.group("ref") is not None:
            value = parameters.get(match.group("ref")[1:-1])
            parts.append("undefined" if value is None else _to_text(value))
        else:
            parts.append(json.loads(match.group("text")))
    return "".join(parts)


def _split_plus(expression: str) -> list[str]:
    terms, current, quote = [], [], ""
    for character in expression:
        if quote:
            current.append(character)
            if character == quote and (len(current) < 2 or current[-2] != "\\"):
                quote = ""
        elif character in "\"'":
            quote = character
            current.append(character)
        elif character == "+":
            terms.append("".join(current))
            current = []
        else:
            current.append(character)
    terms.append("".join(current))
    return terms


def _to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)
