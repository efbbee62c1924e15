"""Local collector that accepts Segment HTTP Tracking API calls, for offline use and tests.

It validates requests the way the Segment API does, records every accepted message and
notes the ones that Segment would accept with 200 but then drop. Segment documents a 400
response for invalid JSON, for a message over 32 KB and for a batch over 500 KB. It also
documents that a message without userId or anonymousId, or a track without event, is
accepted with 200 but dropped.

Write keys are masked in records, on the messages endpoint, on stdout and in log lines.
The full key is written only to the JSON Lines file passed as `log_path`.
"""

from __future__ import annotations

import base64
import binascii
import errno
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TextIO

logger = logging.getLogger(__name__)

MESSAGE_TYPES: tuple[str, ...] = ("identify", "track", "page", "screen", "group", "alias")
BATCH_ENDPOINT = "batch"
ENDPOINTS: frozenset[str] = frozenset((*MESSAGE_TYPES, BATCH_ENDPOINT))
API_PREFIX = "/v1/"
MESSAGES_PATH = "/_sandbox/messages"

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024

# Bodies announced as larger than this are rejected unread and the connection is closed.
# Smaller oversized bodies are read in full so that a kept-alive connection stays usable.
MAX_READ_BYTES = 8 * 1024 * 1024

# Idle kept-alive connections are closed after this many seconds.
IDLE_TIMEOUT_SECONDS = 120.0

NO_IDENTITY_NOTE = "no userId or anonymousId: Segment drops this message"

# Message type -> (field Segment requires for that type, note when it is missing).
_REQUIRED_FIELDS: dict[str, tuple[str, str]] = {
    "track": ("event", "no event: Segment drops a track message without one"),
    "group": ("groupId", "no groupId: Segment drops a group message without one"),
    "alias": ("previousId", "no previousId: Segment drops an alias message without one"),
}

# Message type -> field shown after the type in the foreground output lines.
_SUMMARY_FIELDS: dict[str, str] = {
    "track": "event",
    "page": "name",
    "screen": "name",
    "group": "groupId",
    "alias": "previousId",
}

_MAX_SUMMARY_VALUE_CHARS = 60


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted message. Each item of a batch request is recorded as its own message."""

    received_at: str
    endpoint: str
    type: str
    write_key_masked: str
    message: dict[str, Any]
    notes: tuple[str, ...]


class _RequestRejected(Exception):
    """Error status and reason that the handler sends in place of 200."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def mask_write_key(key: str) -> str:
    """Return `key` with all but its first 4 characters hidden, plus its length.

    Keys of 8 characters or fewer are hidden completely, because 4 characters would be
    half of the secret.
    """
    if len(key) <= 8:
        return f"•••• ({len(key)} chars)"
    return f"{key[:4]}… ({len(key)} chars)"


# --- Request validation (no HTTP objects, so it can be read and tested on its own) ---


def _json_kind(value: object) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _reject_json_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _parse_body_object(body: bytes) -> dict[str, Any]:
    """Parse a request body that must be a JSON object, or raise _RequestRejected (400)."""
    try:
        payload = json.loads(body, parse_constant=_reject_json_constant)
    except ValueError as error:
        raise _RequestRejected(
            HTTPStatus.BAD_REQUEST, f"request body is not valid JSON: {error}"
        ) from error
    except RecursionError as error:
        raise _RequestRejected(
            HTTPStatus.BAD_REQUEST,
            "request body is nested too deeply for the sandbox's JSON parser",
        ) from error

    if not isinstance(payload, dict):
        raise _RequestRejected(
            HTTPStatus.BAD_REQUEST,
            f"request body must be a JSON object, got a JSON {_json_kind(payload)}",
        )
    return payload


# The body of a batch with no other member, as clients such as segment-gui send it.
_PLAIN_BATCH_HEAD = '{"batch":['
_PLAIN_BATCH_TAIL = "]}"
# The compact ASCII JSON of a value is at most this many times as long as its source text:
# a character outside the Basic Multilingual Plane, written raw, becomes two \u escapes.
_MAX_COMPACT_GROWTH = 12


def _scan_plain_batch(body: bytes) -> tuple[list[Any], list[int]] | None:
    """Parse a UTF-8 body of exactly `{"batch":[item,item,…]}`, with no other member and no
    whitespace outside the items, into its items and the length of each item's source text.

    Returns None for any other body, valid or not, which `_parse_body_object` then parses.
    The items are what `json.loads` returns for them.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.startswith(_PLAIN_BATCH_HEAD) or not text.endswith(_PLAIN_BATCH_TAIL):
        return None
    # A decoder per body, because its scanner keeps a memo of keys during a call.
    decode = json.JSONDecoder(parse_constant=_reject_json_constant).raw_decode
    items: list[Any] = []
    lengths: list[int] = []
    position = len(_PLAIN_BATCH_HEAD)
    items_end = len(text) - len(_PLAIN_BATCH_TAIL)
    if position == items_end:
        return items, lengths
    while True:
        try:
            item, end = decode(text, position)
        except (ValueError, RecursionError):
            return None
        items.append(item)
        lengths.append(end - position)
        if end == items_end:
            return items, lengths
        if end > items_end or text[end] != ",":
            return None
        position = end + 1


def _check_body_size(endpoint: str, size: int) -> None:
    """Raise _RequestRejected (400) when a body of `size` bytes is over Segment's limit."""
    if endpoint == BATCH_ENDPOINT:
        if size > MAX_BATCH_BYTES:
            raise _RequestRejected(
                HTTPStatus.BAD_REQUEST,
                f"batch body is {size} bytes, over Segment's limit of {MAX_BATCH_BYTES} "
                "bytes per batch request; split it into smaller batches",
            )
        return

    if size > MAX_MESSAGE_BYTES:
        raise _RequestRejected(
            HTTPStatus.BAD_REQUEST,
            f"{endpoint} message is {size} bytes, over Segment's limit of "
            f"{MAX_MESSAGE_BYTES} bytes per message",
        )


def _batch_items(
    payload: dict[str, Any], source_lengths: list[int] | None = None
) -> list[dict[str, Any]]:
    """Return the messages of a batch body, or raise _RequestRejected (400).

    Each item is measured as compact JSON, because the HTTP body of a batch does not show
    how large each message is on its own. `source_lengths`, from `_scan_plain_batch`, gives
    the length of each item's source text. An item whose source is short enough that its
    compact JSON cannot exceed the limit is not serialized to measure it.
    """
    if "batch" not in payload:
        raise _RequestRejected(
            HTTPStatus.BAD_REQUEST,
            'batch body has no "batch" member; send {"batch": [message, ...]}',
        )

    items = payload["batch"]
    if not isinstance(items, list):
        raise _RequestRejected(
            HTTPStatus.BAD_REQUEST,
            f'"batch" must be a JSON array of message objects, got a JSON {_json_kind(items)}',
        )

    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _RequestRejected(
                HTTPStatus.BAD_REQUEST,
                f"batch[{index}] must be a JSON object, got a JSON {_json_kind(item)}",
            )
        if source_lengths is not None:
            if source_lengths[index] * _MAX_COMPACT_GROWTH <= MAX_MESSAGE_BYTES:
                continue
        size = len(json.dumps(item, separators=(",", ":")))
        if size > MAX_MESSAGE_BYTES:
            raise _RequestRejected(
                HTTPStatus.BAD_REQUEST,
                f"batch[{index}] is {size} bytes as compact JSON, over Segment's limit of "
                f"{MAX_MESSAGE_BYTES} bytes per message",
            )
    return items


def _write_key_from_basic_auth(header: str) -> str | None:
    """Return the user name of an HTTP Basic `Authorization` header, or None if malformed."""
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None

    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None

    user, _, _password = decoded.partition(":")
    return user or None


def _resolve_write_key(authorization: str | None, payload: dict[str, Any]) -> str:
    """Return the write key from Basic auth, else from the body, or raise _RequestRejected (401).

    Basic auth wins when both are present.
    """
    if authorization:
        key = _write_key_from_basic_auth(authorization)
        if key:
            return key

    body_key = payload.get("writeKey")
    if isinstance(body_key, str) and body_key:
        return body_key

    if authorization:
        reason = (
            "Authorization header is not valid HTTP Basic auth with the write key as user "
            "name, and the body has no writeKey string"
        )
    else:
        reason = (
            "missing write key: send it as the HTTP Basic auth user name with an empty "
            "password, or as a writeKey string in the body"
        )
    raise _RequestRejected(HTTPStatus.UNAUTHORIZED, reason)


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def notes_for(message_type: str, message: dict[str, Any]) -> tuple[str, ...]:
    """List the reasons why Segment would accept `message` with 200 but then drop it."""
    required = _REQUIRED_FIELDS.get(message_type)
    if (
        message_type in MESSAGE_TYPES
        and not (_is_blank(message.get("userId")) and _is_blank(message.get("anonymousId")))
        and (required is None or not _is_blank(message.get(required[0])))
    ):
        return ()

    notes: list[str] = []
    if not message_type:
        notes.append("no type: Segment drops a batch message without one")
    elif message_type not in MESSAGE_TYPES:
        notes.append(
            f"unknown type {message_type!r}: Segment drops it, because the valid types are "
            f"{', '.join(MESSAGE_TYPES)}"
        )

    if _is_blank(message.get("userId")) and _is_blank(message.get("anonymousId")):
        notes.append(NO_IDENTITY_NOTE)

    if required is not None and _is_blank(message.get(required[0])):
        notes.append(required[1])
    return tuple(notes)


def _with_masked_key(message: dict[str, Any]) -> dict[str, Any]:
    if message.get("writeKey") is None:
        return message
    return {**message, "writeKey": mask_write_key(str(message["writeKey"]))}


def _typed_messages(
    endpoint: str, payload: dict[str, Any], source_lengths: list[int] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    if endpoint != BATCH_ENDPOINT:
        return [(endpoint, payload)]

    # NOTE: batch-level members such as context and integrations are not merged into the
    # recorded items, so each record shows only the fields of its own item.
    typed: list[tuple[str, dict[str, Any]]] = []
    for item in _batch_items(payload, source_lengths):
        item_type = item.get("type")
        typed.append((item_type if isinstance(item_type, str) else "", item))
    return typed


def _utc_timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _record_as_json(record: ReceivedMessage, write_key: str) -> dict[str, Any]:
    """Return the JSON shape used by the log file (full key) and the messages endpoint."""
    return {
        "receivedAt": record.received_at,
        "endpoint": record.endpoint,
        "type": record.type,
        "writeKey": write_key,
        "message": record.message,
        "notes": list(record.notes),
    }


# --- HTTP server ---


class _SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_port = False
    # On Windows SO_REUSEADDR lets a second server bind a port that is already in use.
    allow_reuse_address = sys.platform != "win32"

    def __init__(self, address: tuple[str, int], collector: SandboxCollector) -> None:
        self.collector = collector
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _SandboxHandler)

    def add_connection(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def discard_connection(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut down kept-alive connections, whose handler threads would otherwise keep serving."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # The client closed it already.

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            logger.debug("connection from %s closed: %s", client_address, error)
            return
        logger.exception("sandbox failed to handle a request from %s", client_address)


class _SandboxHandler(BaseHTTPRequestHandler):
    server: _SandboxServer

    protocol_version = "HTTP/1.1"
    server_version = "segment-gui-sandbox"
    # A buffered wfile sends headers and body in one write. With two writes and Nagle's
    # algorithm on, the second write waits for the client's delayed ACK on a kept-alive
    # connection: 43 ms per request, measured with 50 requests.Session posts over loopback
    # on Linux 6.18.
    wbufsize = -1
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_SECONDS

    def setup(self) -> None:
        super().setup()
        self.server.add_connection(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.discard_connection(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def do_POST(self) -> None:
        endpoint = self._endpoint()
        if endpoint is None:
            self._reject_route()
            return

        try:
            write_key, typed_messages = self._parse_request(endpoint)
        except _RequestRejected as error:
            self._send_error_json(error.status, error.reason)
            return

        self.server.collector._record(endpoint, write_key, typed_messages)
        self._send_json(HTTPStatus.OK, {"success": True})

    def do_GET(self) -> None:
        if self._path() == MESSAGES_PATH:
            self._discard_body()
            self._send_json(HTTPStatus.OK, self.server.collector._messages_as_json())
        else:
            self._reject_route()

    def do_HEAD(self) -> None:
        self.do_GET()

    def _reject_route(self) -> None:
        """Send 405 for a known path with the wrong method, else 404."""
        self._discard_body()
        if self._path() == MESSAGES_PATH:
            self._reject_method("GET")
        elif self._endpoint() is not None:
            self._reject_method("POST")
        else:
            self._reject_unknown_path()

    do_PUT = _reject_route
    do_PATCH = _reject_route
    do_DELETE = _reject_route
    do_OPTIONS = _reject_route

    def _discard_body(self) -> None:
        """Read and drop an unused request body, so the kept-alive connection stays in step.

        A body that cannot be skipped safely closes the connection after the response.
        """
        value = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True
        elif value is not None:
            # isdigit() alone accepts "²", which int() rejects.
            length = int(value) if value.isascii() and value.isdigit() else -1
            if 0 <= length <= MAX_READ_BYTES:
                self.rfile.read(length)
            else:
                self.close_connection = True

    def _path(self) -> str:
        return self.path.partition("?")[0]

    def _endpoint(self) -> str | None:
        path = self._path().rstrip("/")
        if not path.startswith(API_PREFIX):
            return None
        name = path.removeprefix(API_PREFIX)
        return name if name in ENDPOINTS else None

    def _parse_request(self, endpoint: str) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
        body = self._read_body(endpoint)
        _check_body_size(endpoint, len(body))
        scanned = _scan_plain_batch(body) if endpoint == BATCH_ENDPOINT else None
        source_lengths: list[int] | None = None
        if scanned is None:
            payload = _parse_body_object(body)
        else:
            payload = {"batch": scanned[0]}
            source_lengths = scanned[1]
        write_key = _resolve_write_key(self.headers.get("Authorization"), payload)
        return write_key, _typed_messages(endpoint, payload, source_lengths)

    def _read_body(self, endpoint: str) -> bytes:
        length = self._content_length()
        if length > MAX_READ_BYTES:
            self.close_connection = True
            raise _RequestRejected(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"request body is {length} bytes, over the sandbox's read limit of "
                f"{MAX_READ_BYTES} bytes; Segment accepts at most {MAX_BATCH_BYTES} bytes",
            )

        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            raise _RequestRejected(
                HTTPStatus.BAD_REQUEST,
                f"request body ended after {len(body)} of the {length} bytes in Content-Length",
            )
        return self._decode_content(endpoint, body)

    def _content_length(self) -> int:
        value = self.headers.get("Content-Length")
        if value is None:
            self.close_connection = True
            raise _RequestRejected(
                HTTPStatus.LENGTH_REQUIRED,
                "missing Content-Length header: the sandbox does not accept chunked "
                "request bodies, so send the body with a Content-Length",
            )
        try:
            length = int(value)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise _RequestRejected(
                HTTPStatus.BAD_REQUEST, f"invalid Content-Length header {value!r}"
            )
        return length

    def _decode_content(self, endpoint: str, body: bytes) -> bytes:
        encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding in ("", "identity"):
            return body
        if encoding == "gzip":
            limit = MAX_BATCH_BYTES if endpoint == BATCH_ENDPOINT else MAX_MESSAGE_BYTES
            return _gunzip(body, limit)
        raise _RequestRejected(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            f"unsupported Content-Encoding {encoding!r}: send the body as gzip or uncompressed",
        )

    def _reject_unknown_path(self) -> None:
        self._send_error_json(
            HTTPStatus.NOT_FOUND,
            f"no endpoint at {self._path()}; POST messages to {API_PREFIX}"
            f"{{{','.join(MESSAGE_TYPES)},{BATCH_ENDPOINT}}}",
        )

    def _reject_method(self, allowed: str) -> None:
        self._send_error_json(
            HTTPStatus.METHOD_NOT_ALLOWED,
            f"method {self.command} is not allowed on {self._path()}; use {allowed}",
            {"Allow": allowed},
        )

    def _send_error_json(
        self, status: HTTPStatus, reason: str, headers: dict[str, str] | None = None
    ) -> None:
        logger.debug("rejected %s %s with %d: %s", self.command, self._path(), status, reason)
        extra = dict(headers or {})
        if status == HTTPStatus.UNAUTHORIZED:
            extra["WWW-Authenticate"] = 'Basic realm="segment-gui sandbox"'
        self._send_json(status, {"success": False, "error": reason}, extra)

    def _send_json(
        self, status: HTTPStatus, payload: object, headers: dict[str, str] | None = None
    ) -> None:
        # A lone surrogate, which a client can send as a "\ud800" escape, cannot be encoded
        # as UTF-8. It occurs only inside JSON strings, so backslashreplace writes it back as
        # that same escape and the body stays valid JSON.
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8", "backslashreplace")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()


def _gunzip(body: bytes, limit: int) -> bytes:
    """Decompress a gzip body, stopping after `limit` + 1 bytes so a small body cannot expand
    without bound."""
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # 16 selects gzip framing
    try:
        data = decompressor.decompress(body, limit + 1)
    except zlib.error as error:
        raise _RequestRejected(
            HTTPStatus.BAD_REQUEST, f"request body is not valid gzip: {error}"
        ) from error

    if len(data) > limit:
        raise _RequestRejected(
            HTTPStatus.BAD_REQUEST,
            f"gzip request body decompresses to more than {limit} bytes, over Segment's limit",
        )
    if not decompressor.eof:
        raise _RequestRejected(HTTPStatus.BAD_REQUEST, "gzip request body is truncated")
    return data


# --- Collector ---


class SandboxCollector:
    """Segment-compatible HTTP collector serving from a daemon thread.

    Binding to a host other than loopback makes the collector reachable from other
    machines, so it happens only when the caller passes such a host.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        log_path: Path | None = None,
        on_message: Callable[[ReceivedMessage], None] | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._log_path = log_path
        self._on_message = on_message

        self._state_lock = threading.Lock()
        self._server: _SandboxServer | None = None
        self._thread: threading.Thread | None = None

        self._messages_lock = threading.Lock()
        self._messages: list[ReceivedMessage] = []

        self._log_lock = threading.Lock()
        self._log_file: TextIO | None = None

    @property
    def base_url(self) -> str:
        """URL of the `/v1` API, for example `http://127.0.0.1:41234/v1`."""
        server = self._server
        if server is None:
            raise RuntimeError("sandbox is not running: call start() before reading base_url")

        host, port = str(server.server_address[0]), int(server.server_address[1])
        if host in ("0.0.0.0", "::"):
            # Windows clients cannot connect to 0.0.0.0 or ::, so the URL names loopback.
            host = "127.0.0.1" if host == "0.0.0.0" else "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/v1"

    def start(self) -> None:
        """Bind the socket and serve in a daemon thread. Raises OSError if binding fails."""
        with self._state_lock:
            if self._server is not None:
                raise RuntimeError(f"sandbox is already running at {self.base_url}")

            log_file = _open_log(self._log_path) if self._log_path is not None else None
            try:
                server = _SandboxServer((self._host, self._port), self)
            except OSError:
                if log_file is not None:
                    log_file.close()
                raise

            with self._log_lock:
                self._log_file = log_file
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},  # stop() waits up to one interval
                name="segment-gui-sandbox",
                daemon=True,
            )
            self._thread.start()
            base_url = self.base_url

        if not _is_loopback(self._host):
            logger.warning(
                "sandbox listens on %s, which is not a loopback address: other machines can "
                "send messages to it",
                self._host,
            )
        logger.info("sandbox listening at %s", base_url)

    def stop(self) -> None:
        """Stop serving, close the socket and open connections, and join the thread."""
        with self._state_lock:
            server, thread = self._server, self._thread
            self._server, self._thread = None, None
            if server is None:
                return

            server.shutdown()
            server.close_connections()
            server.server_close()
            if thread is not None:
                thread.join(timeout=5.0)
                if thread.is_alive():
                    logger.warning("sandbox server thread did not stop within 5 seconds")

            with self._log_lock:
                if self._log_file is not None:
                    self._log_file.close()
                    self._log_file = None
        logger.info("sandbox stopped")

    def messages(self) -> list[ReceivedMessage]:
        with self._messages_lock:
            return list(self._messages)

    def clear(self) -> None:
        with self._messages_lock:
            self._messages.clear()

    def _messages_as_json(self) -> list[dict[str, Any]]:
        """Return the records in the shape of the log file, with masked write keys."""
        return [_record_as_json(record, record.write_key_masked) for record in self.messages()]

    def _record(
        self, endpoint: str, write_key: str, typed_messages: Iterable[tuple[str, dict[str, Any]]]
    ) -> list[ReceivedMessage]:
        """Record accepted messages, append them to the log file and call `on_message`.

        `typed_messages` pairs each message with its type. Messages are stored with the
        write key masked, and the log file gets them as received, with the full key.
        """
        received_at = _utc_timestamp()
        masked_key = mask_write_key(write_key)
        pairs = [
            (
                ReceivedMessage(
                    received_at=received_at,
                    endpoint=endpoint,
                    type=message_type,
                    write_key_masked=masked_key,
                    message=_with_masked_key(message),
                    notes=notes_for(message_type, message),
                ),
                message,
            )
            for message_type, message in typed_messages
        ]
        records = [record for record, _ in pairs]

        with self._messages_lock:
            self._messages.extend(records)
        self._append_log(pairs, write_key)
        for record in records:
            self._notify(record)
        return records

    def _append_log(
        self, pairs: list[tuple[ReceivedMessage, dict[str, Any]]], write_key: str
    ) -> None:
        with self._log_lock:
            if self._log_file is None:
                return
            try:
                for record, raw_message in pairs:
                    line = _record_as_json(record, write_key)
                    line["message"] = raw_message
                    self._log_file.write(json.dumps(line, ensure_ascii=False) + "\n")
                    self._log_file.flush()
            except OSError as error:
                logger.error(
                    "failed to append %d message(s) to sandbox log %s: %s",
                    len(pairs),
                    self._log_path,
                    error,
                )

    def _notify(self, record: ReceivedMessage) -> None:
        if self._on_message is None:
            return
        try:
            self._on_message(record)
        except Exception:
            logger.exception("on_message callback failed for a %s message", record.type)

    def __enter__(self) -> SandboxCollector:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _open_log(path: Path) -> TextIO:
    """Open the log for appending, readable by the owner only because it contains full keys.

    The permissions apply only when the file is created, and Windows ignores them.
    """
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    # backslashreplace writes a lone surrogate as its JSON escape, as _send_json does.
    return open(descriptor, "a", encoding="utf-8", errors="backslashreplace", newline="\n")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- Foreground command ---


def _format_value(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) > _MAX_SUMMARY_VALUE_CHARS:
        text = text[: _MAX_SUMMARY_VALUE_CHARS - 1] + "…"
    if isinstance(value, str) and (not text or any(c.isspace() or c == '"' for c in text)):
        return json.dumps(text, ensure_ascii=False)
    return text


def format_message_line(record: ReceivedMessage) -> str:
    """Format a record as one line of foreground output, with one more line per note."""
    clock = datetime.fromisoformat(record.received_at).astimezone().strftime("%H:%M:%S")
    parts = [clock, record.type or "(no type)"]
    if record.endpoint == BATCH_ENDPOINT:
        parts.append("(batch)")

    message = record.message
    summary_field = _SUMMARY_FIELDS.get(record.type)
    if summary_field is not None and not _is_blank(message.get(summary_field)):
        parts.append(f"{summary_field}={_format_value(message[summary_field])}")
    for identity_field in ("userId", "anonymousId"):
        if not _is_blank(message.get(identity_field)):
            parts.append(f"{identity_field}={_format_value(message[identity_field])}")
            break
    parts.append(f"key={record.write_key_masked}")

    lines = [" ".join(parts)]
    lines.extend(f"  note: {note}" for note in record.notes)
    return "\n".join(lines)


class _LineWriter:
    """Thread-safe line output that flushes after each line."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._lock = threading.Lock()

    def write_line(self, line: str) -> None:
        with self._lock:
            try:
                self._out.write(line + "\n")
            except UnicodeEncodeError:
                # A console without UTF-8 cannot show the ellipsis and bullets of masked keys.
                self._out.write(line.encode("ascii", "replace").decode("ascii") + "\n")
            self._out.flush()


def _describe_start_error(error: OSError, host: str, port: int, log_path: Path | None) -> str:
    if error.filename is not None:
        return (
            f"cannot open log file {log_path}: {error.strerror}. Choose a writable path with --log."
        )
    if error.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {host}:{port}: port {port} is already in use. "
            "Choose another port with --port, or pass --port 0 to use any free port."
        )
    return f"cannot listen on {host}:{port}: {error.strerror or error}. Check --host and --port."


def run_foreground(host: str, port: int, log_path: Path | None, out: TextIO | None = None) -> int:
    """Serve until SIGINT or SIGTERM, printing the base URL first and then each message.

    Returns 0 after a signal, or 2 if the port or the log file cannot be opened.
    `out` defaults to the current `sys.stdout`. Signal handlers are installed only when
    this runs in the main thread, because Python allows them nowhere else.
    """
    writer = _LineWriter(out if out is not None else sys.stdout)
    collector = SandboxCollector(
        host,
        port,
        log_path,
        on_message=lambda record: writer.write_line(format_message_line(record)),
    )
    try:
        collector.start()
    except OSError as error:
        print(_describe_start_error(error, host, port, log_path), file=sys.stderr, flush=True)
        return 2

    stop_requested = threading.Event()
    previous_handlers = _install_stop_handlers(stop_requested)
    try:
        writer.write_line(collector.base_url)
        _print_banner(log_path)
        # Wake up now and then: on Windows a blocked wait does not see Ctrl+C.
        while not stop_requested.wait(0.5):
            pass
    finally:
        collector.stop()
        _restore_handlers(previous_handlers)

    print(f"stopped after {len(collector.messages())} message(s)", file=sys.stderr, flush=True)
    return 0


def _print_banner(log_path: Path | None) -> None:
    print("sandbox collector running; press Ctrl+C to stop", file=sys.stderr, flush=True)
    if log_path is not None:
        print(f"full write keys are logged to {log_path}", file=sys.stderr, flush=True)


_SignalHandler = Callable[[int, FrameType | None], Any] | int | None


def _install_stop_handlers(stop_requested: threading.Event) -> dict[int, _SignalHandler]:
    if threading.current_thread() is not threading.main_thread():
        logger.debug("not in the main thread, so SIGINT and SIGTERM handlers are not installed")
        return {}

    def request_stop(signum: int, frame: FrameType | None) -> None:
        logger.debug("received signal %d, stopping the sandbox", signum)
        stop_requested.set()

    previous: dict[int, _SignalHandler] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, request_stop)
    return previous


def _restore_handlers(previous: dict[int, _SignalHandler]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
