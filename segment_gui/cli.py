"""Command line: `segment-gui [COMMAND]`. With no command it opens the main window.

Exit codes: 0 success, 1 a send that failed or got a non-2xx response, 2 invalid input (unknown
preset or credential, parameters that cannot be sent, bad arguments).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
import uuid
from pathlib import Path
from typing import Any, TextIO

from segment_gui import __version__
from segment_gui.logs import configure_logging

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is outside 0-65535; 0 picks a free port")
    return port


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError(f"timeout {text} must be more than 0 and at most 3600")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segment-gui",
        description="Build, preview and send Segment HTTP Tracking API messages. "
        "Without a command, opens the main window.",
    )
    parser.add_argument("--version", action="version", version=f"segment-gui {__version__}")
    parser.add_argument("--smoke-test", action="store_true", help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    sandbox = commands.add_parser(
        "sandbox",
        help="run the local Segment-compatible collector in the foreground",
        description="Run the local collector. Its first output line is its base URL. "
        "Stop it with Ctrl+C.",
    )
    sandbox.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default %(default)s)"
    )
    sandbox.add_argument(
        "--port", type=_port, default=0, help="TCP port; 0 picks a free one (default)"
    )
    sandbox.add_argument(
        "--log",
        type=Path,
        metavar="FILE",
        help="append every accepted message, with its full write key, to FILE as JSON Lines",
    )

    credential = commands.add_parser("credential", help="manage write keys in the OS keyring")
    credential_commands = credential.add_subparsers(dest="action", metavar="ACTION", required=True)
    credential_set = credential_commands.add_parser(
        "set",
        help="store a write key (read from standard input) under NAME",
        description="Store a credential. The write key is read from standard input "
        "(without echo on a terminal) and kept only in the OS keyring.",
    )
    credential_set.add_argument("name", metavar="NAME")
    credential_set.add_argument(
        "--endpoint",
        default="us",
        metavar="us|eu|sandbox|URL",
        help="where this credential sends (default %(default)s)",
    )
    credential_commands.add_parser("list", help="list credential names and endpoints, never keys")
    credential_delete = credential_commands.add_parser(
        "delete", help="delete a credential and its key"
    )
    credential_delete.add_argument("name", metavar="NAME")

    preset = commands.add_parser(
        "preset", help="list, show, delete, import or export saved presets"
    )
    preset_commands = preset.add_subparsers(dest="action", metavar="ACTION", required=True)
    preset_commands.add_parser("list", help="list preset names")
    preset_show = preset_commands.add_parser("show", help="print a preset file")
    preset_show.add_argument("name", metavar="NAME")
    preset_delete = preset_commands.add_parser("delete", help="delete a preset")
    preset_delete.add_argument("name", metavar="NAME")
    preset_import = preset_commands.add_parser(
        "import",
        help="import the Segment nodes of an n8n workflow as presets",
        description="Import every n8n-nodes-base.segment node of an n8n workflow JSON file (or "
        "of JSON copied from n8n's editor) as a preset. Existing presets are never overwritten.",
    )
    preset_import.add_argument("file", metavar="FILE", help="workflow JSON file; - reads stdin")
    preset_export = preset_commands.add_parser(
        "export",
        help="print presets as n8n workflow JSON",
        description="Print presets as workflow JSON that pastes into n8n's editor as Segment "
        "nodes. Fields n8n's node lacks are left out and listed on stderr.",
    )
    preset_export.add_argument("names", metavar="NAME", nargs="+")
    preset_export.add_argument(
        "--n8n", action="store_true", required=True, help="export as n8n nodes (the only format)"
    )

    payload = commands.add_parser(
        "payload",
        help="print the JSON body a preset would send, sending nothing",
        description="Print the JSON body PRESET would send. Exits 2 with the reason when the "
        "preset cannot be sent as it is.",
    )
    payload.add_argument("preset", metavar="PRESET")
    payload.add_argument(
        "--mode",
        choices=["segment", "n8n"],
        help="body to print: Segment's spec, or what n8n's Segment node v1 posts "
        "(default: the preset's Body setting)",
    )

    send = commands.add_parser(
        "send",
        help="send a preset and print the response",
        description="Send PRESET, print the status line and the response body. Exits 0 on a "
        "2xx answer and non-zero otherwise.",
    )
    send.add_argument("preset", metavar="PRESET")
    send.add_argument("--credential", metavar="NAME", help="credential to send with")
    send.add_argument(
        "--endpoint",
        metavar="us|eu|URL",
        help="override the credential's endpoint; a loopback URL works without a credential",
    )
    send.add_argument(
        "--timeout",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="read timeout: seconds to wait for the response once connected (default %(default)s)",
    )
    send.add_argument(
        "--connect-timeout",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="seconds to wait for the connection to the server (default %(default)s)",
    )
    send.add_argument(
        "--items",
        metavar="FILE",
        help="send one message per input item of FILE (.csv, .tsv, .json, .jsonl or .ndjson; "
        "- reads JSON or JSON Lines from standard input), resolving the preset's n8n expressions "
        "for each item, and print one result line per item, numbered from 1 (the --json report "
        "keeps the 0-based $itemIndex). Exits 1 when any item is not sent",
    )
    send.add_argument(
        "--batch",
        action="store_true",
        help="with --items: post the messages to /batch in as few requests as Segment's "
        "500 KB limit allows, instead of one request per item",
    )
    send.add_argument(
        "--json",
        action="store_true",
        help="with --items: print the whole run as one JSON report instead of result lines",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from segment_gui.storage import LockTimeoutError, app_paths

    paths = app_paths()
    configure_logging(paths.log_file)
    if args.command is None:
        from segment_gui.ui.app import run_app

        return run_app(smoke_test=args.smoke_test)
    handlers = {
        "sandbox": _run_sandbox,
        "credential": _run_credential,
        "preset": _run_preset,
        "payload": _run_payload,
        "send": _run_send,
    }
    try:
        return handlers[args.command](args, sys.stdout)
    except CliError as error:
        print(f"segment-gui: {error}", file=sys.stderr)
        return error.code
    except LockTimeoutError as error:
        print(f"segment-gui: {error}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader (for example `head`) closed the pipe; stop quietly like other tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_INVALID) -> None:
        super().__init__(message)
        self.code = code


def _run_sandbox(args: argparse.Namespace, out: TextIO) -> int:
    from segment_gui.sandbox import run_foreground

    return run_foreground(args.host, args.port, args.log, out=out)


def _credential_store() -> Any:
    from segment_gui.credentials import CredentialStore
    from segment_gui.storage import app_paths

    return CredentialStore(app_paths())


def _run_credential(args: argparse.Namespace, out: TextIO) -> int:
    from segment_gui.credentials import CredentialError
    from segment_gui.endpoints import EndpointError

    store = _credential_store()
    try:
        if args.action == "list":
            records = store.list()
            if not records:
                print(
                    "No credentials saved. Add one with: segment-gui credential set NAME", file=out
                )
            for record in records:
                print(f"{record.name}\t{record.endpoint}", file=out)
        elif args.action == "set":
            write_key = _read_write_key(args.name)
            store.set(args.name, args.endpoint, write_key)
            print(
                f"Saved credential {args.name!r} ({args.endpoint}); the key is in the keyring.",
                file=out,
            )
        elif args.action == "delete":
            store.delete(args.name)
            print(f"Deleted credential {args.name!r}.", file=out)
    except (CredentialError, EndpointError, ValueError) as error:
        raise CliError(str(error)) from error
    return EXIT_OK


def _read_write_key(name: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(f"Write key for {name}: ")
    line = sys.stdin.readline()
    if not line:
        raise CliError("no write key on standard input; pipe it in or run in a terminal")
    if not line.strip():
        raise CliError("the write key on standard input is empty; pipe in the key itself")
    return line.strip()


def _preset_store() -> Any:
    from segment_gui.storage import PresetStore, app_paths

    return PresetStore(app_paths())


def _load_preset(name: str) -> Any:
    from segment_gui.model import PresetError

    try:
        return _preset_store().load(name)
    except PresetError as error:
        raise CliError(str(error)) from error


def _run_preset(args: argparse.Namespace, out: TextIO) -> int:
    from segment_gui.model import PresetError

    store = _preset_store()
    if args.action == "list":
        from segment_gui.model import resolve_parameters
        from segment_gui.spec import load_spec

        spec = load_spec()
        presets, errors = store.load_all()
        for preset in presets:
            parameters = preset.parameters
            resolved = resolve_parameters(spec, parameters)
            call = f"{resolved.get('resource', '?')}:{resolved.get('operation', '?')}"
            print(f"{preset.name}\t{call}", file=out)
        for error in errors:
            print(f"segment-gui: {error}", file=sys.stderr)
        if not presets and not errors:
            print("No presets saved. Save one from the window with Ctrl+S.", file=out)
        return EXIT_OK
    if args.action == "show":
        preset = _load_preset(args.name)
        print(json.dumps(preset.to_json(), indent=2, ensure_ascii=False), file=out)
        return EXIT_OK
    if args.action == "import":
        return _import_workflow(args.file, out)
    if args.action == "export":
        return _export_workflow(args.names, out)
    try:
        store.delete(args.name)
    except PresetError as error:
        raise CliError(str(error)) from error
    print(f"Deleted preset {args.name!r}.", file=out)
    return EXIT_OK


def _import_workflow(file: str, out: TextIO) -> int:
    from segment_gui.n8n_workflow import (
        WorkflowError,
        import_presets,
        parse_workflow,
        read_workflow_file,
    )

    try:
        text = sys.stdin.read() if file == "-" else None
        result = parse_workflow(text) if text is not None else read_workflow_file(Path(file))
    except WorkflowError as error:
        raise CliError(f"cannot import {file}: {error}") from error
    known = {record.name for record in _credential_store().list()}
    report = import_presets(result, _preset_store(), known)
    for line in report.lines():
        print(line, file=out)
    return EXIT_OK if report.saved else EXIT_INVALID


def _export_workflow(names: list[str], out: TextIO) -> int:
    from segment_gui.n8n_workflow import (
        WorkflowError,
        export_notices,
        export_workflow,
        workflow_json,
    )
    from segment_gui.spec import load_spec

    spec = load_spec()
    presets = [_load_preset(name) for name in names]
    try:
        workflow = export_workflow(presets, spec)
    except WorkflowError as error:
        raise CliError(str(error)) from error
    for notice in export_notices(presets, spec):
        print(f"segment-gui: {notice.message()}", file=sys.stderr)
    print(workflow_json(workflow), file=out)
    return EXIT_OK


def _build(preset: Any, mode: str | None = None) -> Any:
    """Compose the preset's message; warnings go to stderr, errors end the command."""
    from segment_gui.expressions import shared_engine
    from segment_gui.payload import compose, describe, new_message_id
    from segment_gui.spec import load_spec

    # Expressions are evaluated for the preset's first saved input item, or for one empty
    # item as n8n does without input; `send --items` evaluates them per item.
    item = (preset.items or [{}])[0]
    values, expression_errors = shared_engine().resolve(preset.parameters, item=item, item_index=0)
    if expression_errors:
        reasons = "; ".join(f"{path}: {error}" for path, error in expression_errors.items())
        raise CliError(f"preset {preset.name!r} cannot be sent: expression failed: {reasons}")
    composition = compose(
        load_spec(),
        values,
        anonymous_id=str(uuid.uuid4()),
        message_id=new_message_id(),
        mode=mode or preset.body_mode,
    )
    for warning in composition.warnings():
        print(f"segment-gui: warning: {describe(warning)}", file=sys.stderr)
    for sentence in composition.notice:
        print(f"segment-gui: n8n mode: {sentence}", file=sys.stderr)
    if not composition.sendable:
        reasons = "; ".join(describe(error) for error in composition.errors())
        raise CliError(f"preset {preset.name!r} cannot be sent: {reasons}")
    return composition.message


def _run_payload(args: argparse.Namespace, out: TextIO) -> int:
    message = _build(_load_preset(args.preset), args.mode)
    print(json.dumps(message.body, indent=2, ensure_ascii=False), file=out)
    return EXIT_OK


def _run_send(args: argparse.Namespace, out: TextIO) -> int:
    from segment_gui.credentials import CredentialError
    from segment_gui.endpoints import (
        SANDBOX_WRITE_KEY,
        EndpointError,
        is_loopback_url,
        resolve_base_url,
    )
    from segment_gui.model import check_types, resolve_settings
    from segment_gui.spec import load_spec
    from segment_gui.transport import SendError, SendOptions, send

    preset = _load_preset(args.preset)
    if args.items is None:
        if args.batch or args.json:
            raise CliError("--batch and --json apply to a run over items; add --items FILE")
        message = _build(preset)
    else:
        from segment_gui.items import ItemsError, parse_items, read_items_file

        try:
            if args.items == "-":
                items = parse_items(sys.stdin.read())
            else:
                items = read_items_file(Path(args.items))
        except ItemsError as error:
            raise CliError(str(error)) from error
    credential_name = args.credential or preset.credential
    try:
        if credential_name:
            store = _credential_store()
            record = store.get(credential_name)
            base_url = resolve_base_url(args.endpoint or record.endpoint)
            write_key = store.key(credential_name)
        elif args.endpoint:
            base_url = resolve_base_url(args.endpoint)
            if not is_loopback_url(base_url):
                raise CliError(
                    f"sending to {base_url} needs a write key; pass --credential NAME "
                    "(add one with `segment-gui credential set NAME`)"
                )
            write_key = SANDBOX_WRITE_KEY
        else:
            raise CliError(
                f"preset {preset.name!r} has no credential; pass --credential NAME, or "
                "--endpoint URL of a running `segment-gui sandbox`"
            )
    except (CredentialError, EndpointError) as error:
        raise CliError(str(error)) from error

    spec = load_spec()
    mismatches = check_types(list(spec.settings), preset.settings)
    if mismatches:
        reasons = "; ".join(message for _name, message in mismatches)
        raise CliError(f"preset {preset.name!r} has invalid settings: {reasons}")
    settings = resolve_settings(spec, preset.settings)
    options = SendOptions(
        connect_timeout=args.connect_timeout,
        read_timeout=args.timeout,
        max_tries=int(settings["maxTries"]) if settings["retryOnFail"] else 1,
        wait_ms=int(settings["waitBetweenTries"]),
    )
    if args.items is not None:
        return _send_items(args, preset, items, settings, base_url, write_key, options, out)

    def report_progress(text: str) -> None:
        print(f"segment-gui: {text}", file=sys.stderr)

    try:
        response = send(base_url, message, write_key, options, on_progress=report_progress)
    except SendError as error:
        raise CliError(f"send failed: {error}", EXIT_FAILED) from error
    except KeyboardInterrupt:
        raise CliError(
            "send cancelled with Ctrl+C, and the server may have received the message", EXIT_FAILED
        ) from None
    print(f"HTTP {response.status} {response.reason} ({response.elapsed_ms:.0f} ms)", file=out)
    print(_pretty(response.text()), file=out)
    if response.truncated:
        print(
            f"segment-gui: the response body was cut at {len(response.body):,} bytes",
            file=sys.stderr,
        )
    if response.redirect_note:
        print(f"segment-gui: {response.redirect_note}", file=sys.stderr)
    if not response.ok:
        print(
            f"segment-gui: {message.path} got {response.status} {response.reason} "
            f"from {response.request.url}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def _send_items(
    args: argparse.Namespace,
    preset: Any,
    items: list[dict[str, Any]],
    settings: dict[str, Any],
    base_url: str,
    write_key: str,
    options: Any,
    out: TextIO,
) -> int:
    """Run the preset over `items` and print each item's result or one JSON report.

    The run goes on a worker thread so that Ctrl+C on the main thread can cancel it and the
    items sent so far are still reported.
    """
    import http
    import threading

    from segment_gui.expressions import shared_engine
    from segment_gui.runs import BATCH, SENT, SINGLE, ItemResult, RunReport, RunSettings, run_items
    from segment_gui.spec import load_spec

    try:
        run_settings = RunSettings.from_settings(settings)
    except ValueError as error:
        raise CliError(f"preset {preset.name!r} has invalid settings: {error}") from error

    def print_result(result: ItemResult) -> None:
        if args.json:
            return
        if result.status == SENT:
            try:
                phrase = http.HTTPStatus(result.http_status or 0).phrase
            except ValueError:
                phrase = ""
            where = "" if result.batch is None else f", batch {result.batch}"
            status = f"{result.http_status} {phrase}".strip()
            line = f"item {result.index + 1}: sent {status} ({result.elapsed_ms:.0f} ms{where})"
        else:
            line = f"item {result.index + 1}: {result.status}: {result.error}"
        print(line, file=out, flush=True)

    reports: list[RunReport] = []
    failures: list[BaseException] = []
    cancel = threading.Event()
    finished = threading.Event()

    def run() -> None:
        try:
            reports.append(
                run_items(
                    load_spec(),
                    preset.parameters,
                    items,
                    run_settings,
                    base_url=base_url,
                    write_key=write_key,
                    delivery=BATCH if args.batch else SINGLE,
                    send_options=options,
                    engine=shared_engine(),
                    mode=preset.body_mode,
                    cancel=cancel,
                    on_result=print_result,
                )
            )
        except BaseException as error:  # re-raised on the main thread below
            failures.append(error)
        finally:
            finished.set()

    # The main thread waits on an Event, because after Ctrl+C interrupts a Thread.join, a
    # later join can return while the thread still runs (seen with CPython 3.11).
    worker = threading.Thread(target=run, name="segment-gui-run")
    worker.start()
    try:
        while not finished.wait(0.1):
            pass
    except KeyboardInterrupt:
        print("segment-gui: cancelling the run after Ctrl+C", file=sys.stderr, flush=True)
        cancel.set()
        try:
            finished.wait()
        except KeyboardInterrupt:
            raise CliError(
                "run stopped by a second Ctrl+C before it finished cancelling, so no report "
                "was printed; the item in flight may have been received",
                EXIT_FAILED,
            ) from None
    worker.join()
    if failures:
        raise failures[0]
    report = reports[0]

    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False), file=out)
    counts = report.counts()
    summary = ", ".join(f"{count} {status}" for status, count in counts.items())
    print(
        f"segment-gui: {len(report.results)} item(s): {summary} ({report.elapsed_ms:.0f} ms)",
        file=sys.stderr,
    )
    if report.error:
        print(f"segment-gui: {report.error}", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_FAILED


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text
