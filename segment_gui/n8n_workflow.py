"""Import Segment nodes from n8n workflow JSON as presets, and export presets as n8n nodes.

Import reads what n8n writes: a workflow file, the JSON that n8n puts on the clipboard when nodes
are copied (`{"nodes": [...], "connections": {...}}`), a single node object, a list of nodes or a
list of workflows. Parameters are taken exactly as n8n stores them, so expressions such as
`"={{ $json.email }}"` stay as written and nothing is evaluated.

Export writes the smallest JSON that n8n's editor accepts on paste: `nodes` and `connections`
(checked against the n8n 1.x editor source, which ignores pasted JSON that lacks either key).
Fields that segment-gui adds to n8n's Segment node (marked `extension` in the node description)
are left out and listed as `ExportNotice`s.

This module is plain Python with no Qt import.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segment_gui.model import SETTING_NAMES, Preset, PresetError, resolve_parameters, visible_fields
from segment_gui.spec import Field, NodeSpec
from segment_gui.storage import PresetStore

SEGMENT_NODE_TYPE = "n8n-nodes-base.segment"
SEGMENT_TYPE_VERSION = 1
CREDENTIAL_TYPE = "segmentApi"
DEFAULT_NODE_NAME = "Segment"
# Layout of exported nodes on n8n's canvas, in canvas pixels. n8n moves pasted nodes to the
# last click position, so only the spacing matters.
_NODE_SPACING_X = 220
_NODE_SPACING_Y = 200
_NODES_PER_ROW = 5
_EXPECTED_INPUT = (
    'expected n8n workflow JSON: an object with a "nodes" list (a workflow file or nodes copied '
    "in n8n's editor), a single node object, or a list of nodes"
)


class WorkflowError(ValueError):
    """Workflow JSON that cannot be imported, or presets that cannot be exported to n8n."""


@dataclass
class WorkflowImport:
    """The presets found in workflow JSON, the other nodes, and warnings about the input."""

    presets: list[Preset] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_workflow(text: str) -> WorkflowImport:
    """Turn the Segment nodes in workflow JSON into presets. Other nodes go to `skipped`.

    Raises WorkflowError for invalid JSON (with line and column) and for JSON without nodes.
    """
    data = _decode(text)
    nodes, warnings = _collect_nodes(data)
    result = WorkflowImport(warnings=warnings)
    for node in nodes:
        node_type = node["type"]
        if node_type != SEGMENT_NODE_TYPE:
            result.skipped.append((_node_label(node), node_type))
            continue
        preset = _preset_from_node(node, result.warnings)
        if preset is not None:
            result.presets.append(preset)
    return result


def read_workflow_file(path: str | Path) -> WorkflowImport:
    """Read a workflow file (UTF-8, with or without a byte order mark) and parse it."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise WorkflowError(f"cannot read {path}: {error.strerror}") from error
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise WorkflowError(
            f"{path} is not UTF-8 text (invalid byte at offset {error.start}); "
            "export the workflow from n8n again"
        ) from error
    return parse_workflow(text)


def _decode(text: str) -> Any:
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise WorkflowError(f"the text is empty; {_EXPECTED_INPUT}")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise WorkflowError(
            f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}; "
            f"{_EXPECTED_INPUT}"
        ) from error
    except WorkflowError:
        raise
    except ValueError as error:
        # Python rejects integers with more than 4300 digits (sys.get_int_max_str_digits()).
        raise WorkflowError(f"invalid JSON: {error}") from error
    except RecursionError as error:
        raise WorkflowError(f"the JSON is nested too deeply to read; {_EXPECTED_INPUT}") from error


def _reject_constant(name: str) -> Any:
    # Python's json module accepts NaN and Infinity, but they are not JSON: JSON.parse in n8n's
    # editor rejects them, so a preset holding one could not be exported back to n8n.
    raise WorkflowError(f"invalid JSON: {name} is not a JSON value; {_EXPECTED_INPUT}")


def _collect_nodes(data: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Return the node objects in decoded JSON, and warnings about items that are not nodes."""
    if isinstance(data, dict) and "nodes" in data:
        candidates = _workflow_nodes(data, "the workflow")
    elif isinstance(data, dict) and "type" in data:
        candidates = [data]
    elif isinstance(data, list):
        # A list contains nodes, or whole workflows as `n8n export:workflow --all` writes them.
        candidates = []
        for index, item in enumerate(data):
            if isinstance(item, dict) and "nodes" in item:
                candidates.extend(_workflow_nodes(item, f"workflow {index + 1} of the list"))
            else:
                candidates.append(item)
    else:
        raise WorkflowError(f"found {_describe(data)}, but {_EXPECTED_INPUT}")

    nodes = []
    warnings = []
    for index, item in enumerate(candidates):
        if isinstance(item, dict) and isinstance(item.get("type"), str):
            nodes.append(item)
        else:
            warnings.append(
                f"Ignored item {index + 1} of the node list: expected a node object with a "
                f'"type", found {_describe(item)}.'
            )
    if not nodes:
        raise WorkflowError(f"found no n8n nodes; {_EXPECTED_INPUT}")
    return nodes, warnings


def _workflow_nodes(workflow: dict[str, Any], label: str) -> list[Any]:
    nodes = workflow["nodes"]
    if not isinstance(nodes, list):
        raise WorkflowError(f'"nodes" in {label} is {_describe(nodes)}, expected a list of nodes')
    return nodes


def _preset_from_node(node: dict[str, Any], warnings: list[str]) -> Preset | None:
    """Build a preset from a Segment node, appending warnings about the node to `warnings`."""
    name = node.get("name")
    if not isinstance(name, str) or not name.strip():
        name = DEFAULT_NODE_NAME
        warnings.append(f"A Segment node has no name; it is imported as {name!r}.")

    parameters = node.get("parameters", {})
    if not isinstance(parameters, dict):
        warnings.append(
            f"Segment node {name!r} was not imported: its parameters are "
            f"{_describe(parameters)}, expected an object."
        )
        return None

    version = node.get("typeVersion", SEGMENT_TYPE_VERSION)
    if isinstance(version, bool) or version != SEGMENT_TYPE_VERSION:
        warnings.append(
            f"Segment node {name!r} has typeVersion {version!r}, but segment-gui reads version "
            f"{SEGMENT_TYPE_VERSION}; check its parameters after import."
        )
    if node.get("disabled") is True:
        warnings.append(f"Segment node {name!r} is disabled in n8n; it is imported anyway.")

    settings = {key: copy.deepcopy(node[key]) for key in SETTING_NAMES if key in node}
    if node.get("continueOnFail") is True and "onError" not in settings:
        # Workflows saved before n8n added On Error store `continueOnFail`, which n8n reads as
        # On Error "Continue".
        settings["onError"] = "continueRegularOutput"
        warnings.append(
            f"Segment node {name!r} uses the old setting continueOnFail; it is imported as "
            "On Error: Continue."
        )

    return Preset(
        name=name,
        parameters=copy.deepcopy(parameters),
        credential=_credential_name(node, name, warnings),
        settings=settings,
    )


def _credential_name(node: dict[str, Any], name: str, warnings: list[str]) -> str | None:
    credentials = node.get("credentials")
    if credentials is None:
        return None
    reference = credentials.get(CREDENTIAL_TYPE) if isinstance(credentials, dict) else None
    if isinstance(reference, dict):
        reference = reference.get("name")
    # Older n8n workflows store the credential name as a plain string, and n8n still reads it.
    if isinstance(reference, str) and reference:
        return reference
    warnings.append(
        f"Segment node {name!r} has no usable {CREDENTIAL_TYPE} credential reference; "
        "choose a credential for the preset."
    )
    return None


def _node_label(node: dict[str, Any]) -> str:
    name = node.get("name")
    return name if isinstance(name, str) and name else "(unnamed)"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {json.dumps(value)}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {json.dumps(value[:40], ensure_ascii=False)}"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    return "an object"


@dataclass
class ImportReport:
    """Outcome of `import_presets`.

    `saved` pairs each node name with the preset name it was saved under (they differ after a
    rename). `failed` pairs a node name with the reason it was not saved, and
    `missing_credentials` pairs a preset name with a credential name that is not set up.
    """

    saved: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    missing_credentials: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Describe the import in plain sentences, one per line, for the CLI and the window."""
        lines = []
        for node_name, preset_name in self.saved:
            if node_name == preset_name:
                lines.append(f"Imported node {node_name!r} as preset {preset_name!r}.")
            else:
                lines.append(
                    f"Imported node {node_name!r} as preset {preset_name!r}, because a preset "
                    f"named {node_name!r} already exists."
                )
        for node_name, reason in self.failed:
            lines.append(f"Could not save node {node_name!r} as a preset: {reason}")
        for node_name, node_type in self.skipped:
            lines.append(f"Skipped node {node_name!r}: {node_type} is not a Segment node.")
        for preset_name, credential in self.missing_credentials:
            lines.append(
                f"Preset {preset_name!r} uses credential {credential!r}, which is not set up "
                "here; add a credential with that name or choose another one for the preset."
            )
        lines.extend(self.warnings)
        if not self.saved and not self.failed:
            lines.insert(0, "No Segment nodes found; nothing was imported.")
        return lines


def import_presets(
    result: WorkflowImport, store: PresetStore, known_credentials: set[str]
) -> ImportReport:
    """Save the parsed presets to `store` without overwriting any preset saved before.

    A name already in use gets the first free suffix: "Segment (2)", "Segment (3)" and so on.
    A credential name not in `known_credentials` is reported, and the preset keeps it.
    """
    report = ImportReport(skipped=list(result.skipped), warnings=list(result.warnings))
    for preset in result.presets:
        name = free_preset_name(store, preset.name)
        saved = Preset(
            name=name,
            parameters=copy.deepcopy(preset.parameters),
            credential=preset.credential,
            settings=copy.deepcopy(preset.settings),
        )
        try:
            store.save(saved)
        except PresetError as error:
            report.failed.append((preset.name, str(error)))
            continue
        except OSError as error:
            report.failed.append((preset.name, f"writing the preset file failed: {error}"))
            continue
        report.saved.append((preset.name, name))
        if saved.credential is not None and saved.credential not in known_credentials:
            report.missing_credentials.append((name, saved.credential))
    return report


def free_preset_name(store: PresetStore, name: str) -> str:
    """Return `name` when no preset uses it, else `name (n)` with the smallest free n >= 2."""
    if not store.exists(name):
        return name
    number = 2
    while store.exists(f"{name} ({number})"):
        number += 1
    return f"{name} ({number})"


@dataclass(frozen=True)
class ExportNotice:
    """A segment-gui field left out of an exported node because n8n's Segment node lacks it.

    `parameter` is the display path, such as "Advanced" or "Properties > Type". `rows` counts
    the collection rows the field was removed from, and is 0 for a top-level parameter.
    """

    preset: str
    parameter: str
    rows: int = 0

    def message(self) -> str:
        if self.rows == 0:
            return (
                f"Preset {self.preset!r}: {self.parameter} left out, because n8n's Segment node "
                "has no such parameter."
            )
        plural = "row" if self.rows == 1 else "rows"
        return (
            f"Preset {self.preset!r}: {self.parameter} left out of {self.rows} {plural}, "
            "because n8n's Segment node has no such field."
        )


def export_workflow(presets: Sequence[Preset], spec: NodeSpec) -> dict[str, Any]:
    """Build workflow JSON that pastes into n8n's editor as one Segment node per preset.

    Node settings are written only when they differ from their default, as n8n does. The
    credential goes out by name with a null id. On paste, n8n drops a credential whose id it
    does not know, but keeps one with a null id and links it when exactly one of the user's
    Segment credentials has that name. Raises WorkflowError for an empty list and for a preset
    that uses an option n8n lacks (the Screen or Alias operation).
    """
    if not presets:
        raise WorkflowError("no presets to export; choose at least one preset")
    nodes = []
    for index, preset in enumerate(presets):
        parameters, _ = _export_parameters(preset, spec)
        nodes.append(_export_node(preset, parameters, spec, index))
    return {"nodes": nodes, "connections": {}}


def export_notices(presets: Sequence[Preset], spec: NodeSpec) -> list[ExportNotice]:
    """List the fields `export_workflow` leaves out of these presets.

    A field left at its default is left out without a notice, because n8n behaves the same
    without it. Raises WorkflowError like `export_workflow`.
    """
    notices: list[ExportNotice] = []
    for preset in presets:
        notices.extend(_export_parameters(preset, spec)[1])
    return notices


def workflow_json(workflow: dict[str, Any]) -> str:
    """Serialize exported workflow JSON as n8n formats it: indented, non-ASCII kept."""
    return json.dumps(workflow, indent=2, ensure_ascii=False) + "\n"


def _export_node(
    preset: Preset, parameters: dict[str, Any], spec: NodeSpec, index: int
) -> dict[str, Any]:
    node: dict[str, Any] = {
        "parameters": parameters,
        "id": str(uuid.uuid4()),
        "name": preset.name,
        "type": SEGMENT_NODE_TYPE,
        "typeVersion": spec.version,
        "position": [
            _NODE_SPACING_X * (index % _NODES_PER_ROW),
            _NODE_SPACING_Y * (index // _NODES_PER_ROW),
        ],
    }
    if preset.credential:
        node["credentials"] = {CREDENTIAL_TYPE: {"id": None, "name": preset.credential}}
    defaults = {setting.name: setting.default for setting in spec.settings}
    for name in SETTING_NAMES:
        if name not in preset.settings:
            continue
        value = preset.settings[name]
        if name in defaults and _same_value(value, defaults[name]):
            continue
        node[name] = copy.deepcopy(value)
    return node


def _same_value(value: Any, default: Any) -> bool:
    # Python treats True == 1 and False == 0, but a setting of 0 is not the default False.
    return type(value) is type(default) and value == default


def _export_parameters(preset: Preset, spec: NodeSpec) -> tuple[dict[str, Any], list[ExportNotice]]:
    """Return the preset's parameters without extension fields, and notices for what was dropped.

    Each stored name is matched to the definition visible for the preset's resource and
    operation, or to the first definition of that name when none is visible.
    """
    resolved = resolve_parameters(spec, preset.parameters)
    visible = visible_fields(spec.properties, resolved)
    _reject_extension_choices(preset, visible, resolved)
    definitions = {visible_field.name: visible_field for visible_field in visible}
    for spec_field in spec.properties:
        definitions.setdefault(spec_field.name, spec_field)

    dropper = _ExtensionDropper()
    notices = []
    parameters: dict[str, Any] = {}
    for name, value in preset.parameters.items():
        definition = definitions.get(name)
        if definition is None:
            parameters[name] = copy.deepcopy(value)
        elif definition.extension:
            if value != definition.default:
                notices.append(ExportNotice(preset.name, definition.display_name))
        elif definition.type == "fixedCollection":
            parameters[name] = dropper.collection(definition, value, definition.display_name)
        else:
            parameters[name] = copy.deepcopy(value)
    notices.extend(
        ExportNotice(preset.name, label, rows) for label, rows in dropper.dropped_rows.items()
    )
    return parameters, notices


def _reject_extension_choices(
    preset: Preset, visible: list[Field], resolved: dict[str, Any]
) -> None:
    # NOTE: only top-level options parameters are checked. No collection field in the node
    # description has an extension choice yet.
    for definition in visible:
        if definition.type != "options":
            continue
        for choice in definition.choices:
            if choice.extension and choice.value == resolved.get(definition.name):
                raise WorkflowError(
                    f"preset {preset.name!r} uses {definition.display_name} {choice.name!r}, "
                    "which n8n's Segment node does not have, so it cannot be exported to n8n; "
                    f"choose another {definition.display_name.lower()} or leave the preset out"
                )


class _ExtensionDropper:
    """Copies fixedCollection values without extension fields, counting the rows changed."""

    def __init__(self) -> None:
        self.dropped_rows: dict[str, int] = {}

    def collection(self, definition: Field, value: Any, label: str) -> Any:
        # Stored shape: {option name: row} or, with multipleValues, {option name: [row, ...]}.
        if not isinstance(value, dict):
            return copy.deepcopy(value)
        options = {option.name: option for option in definition.collection_options}
        result: dict[str, Any] = {}
        for option_name, option_value in value.items():
            option = options.get(option_name)
            if option is None:
                result[option_name] = copy.deepcopy(option_value)
            elif isinstance(option_value, list):
                result[option_name] = [self.row(option.fields, row, label) for row in option_value]
            else:
                result[option_name] = self.row(option.fields, option_value, label)
        return result

    def row(self, fields: tuple[Field, ...], row: Any, label: str) -> Any:
        if not isinstance(row, dict):
            return copy.deepcopy(row)
        definitions = {definition.name: definition for definition in fields}
        result: dict[str, Any] = {}
        for key, value in row.items():
            definition = definitions.get(key)
            if definition is None:
                result[key] = copy.deepcopy(value)
            elif definition.extension:
                if value != definition.default:
                    path = f"{label} > {definition.display_name}"
                    self.dropped_rows[path] = self.dropped_rows.get(path, 0) + 1
            elif definition.type == "fixedCollection":
                path = f"{label} > {definition.display_name}"
                result[key] = self.collection(definition, value, path)
            else:
                result[key] = copy.deepcopy(value)
        return result
