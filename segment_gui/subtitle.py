"""Render the node subtitle from the spec's subtitle expression.

The Segment node's subtitle is `={{$parameter["operation"] + ":" + $parameter["resource"]}}`.
This evaluator covers that form: `{{ }}` segments made of `$parameter["name"]` references and
string literals joined with `+`. Any other expression is shown as written by
`render_subtitle`, while `SubtitleRenderer` hands it to the expression engine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

# Rendered subtitles kept by SubtitleRenderer. The Segment node's subtitle reads resource and
# operation, which have a few choices each, but a template that reads free text needs a bound.
CACHE_SIZE = 256
_SEGMENT = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_REFERENCE = re.compile(r"""\$parameter\[\s*("[^"]*"|'[^']*')\s*\]""")
_TERM = re.compile(
    r"""\s*(?:\$parameter\[\s*(?P<ref>"[^"]*"|'[^']*')\s*\]|(?P<text>"(?:[^"\\]|\\.)*"))\s*"""
)


class UnsupportedExpression(ValueError):
    pass


class SubtitleRenderer:
    """Render one subtitle template, caching the text by the parameters it reads.

    A template that `render_subtitle` covers is rendered in Python, so showing the Segment
    node's subtitle never starts V8. Any other template goes to `engine_render`, which is called
    only then (and each time, because such a template may read any parameter).
    """

    def __init__(
        self, template: str, engine_render: Callable[[str, Mapping[str, Any]], str]
    ) -> None:
        self.template = template
        self._engine_render = engine_render
        self._supported = is_supported(template)
        names = tuple(match.group(1)[1:-1] for match in _REFERENCE.finditer(template))
        # The parameters `render` reads, or None when the engine may read any of them.
        self.names: tuple[str, ...] | None = names if self._supported else None
        self._cache: dict[str, str] = {}

    def render(self, parameters: Mapping[str, Any]) -> str:
        if self.names is None:
            return self._engine_render(self.template, parameters)
        key = json.dumps([parameters.get(name) for name in self.names], default=str)
        text = self._cache.get(key)
        if text is None:
            text = render_subtitle(self.template, parameters)
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = text
        return text


def is_supported(template: str) -> bool:
    """Return whether `render_subtitle` evaluates `template` instead of returning it as is."""
    if not template.startswith("="):
        return True
    try:
        for match in _SEGMENT.finditer(template[1:]):
            _evaluate(match.group(1), {})
    except UnsupportedExpression:
        return False
    return True


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
