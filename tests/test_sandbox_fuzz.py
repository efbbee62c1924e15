"""Robustness tests: malformed HTTP sent to the local sandbox collector over raw sockets.

Every request goes to a collector that this module starts on 127.0.0.1. A reply must be a
2xx or a 4xx, except two 5xx codes that RFC 9110 (sections 15.6.2 and 15.6.6) prescribes
and http.server sends: 501 for a method that the server does not recognize, and 505 for
HTTP/2 and later. Every connection ends within a few seconds, the collector logs no
unhandled error, and it still accepts a valid message at the end.
"""

from __future__ import annotations

import base64
import errno
import gzip
import json
import logging
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segment_gui.sandbox import MAX_BATCH_BYTES, SandboxCollector, mask_write_key

KEY = "wk_fuzz_0123456789abcdefABCDEF"
AUTH_LINE = b"Authorization: Basic " + base64.b64encode(KEY.encode() + b":") + b"\r\n"
TIMEOUT_SECONDS = 5.0
VALID_BODY = b'{"userId": "u1", "event": "Fuzzed"}'

# 501 Not Implemented and 505 HTTP Version Not Supported, as the module docstring explains.
PROTOCOL_ERRORS = {501, 505}


class ErrorRecords(logging.Handler):
    """Log handler that collects the sandbox's ERROR records.

    The sandbox server logs every exception that a request handler does not catch at ERROR.
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        messages = [self.format(record) for record in self.records]
        self.records.clear()
        return messages


@pytest.fixture(scope="module")
def server_errors() -> Iterator[ErrorRecords]:
    handler = ErrorRecords()
    logger = logging.getLogger("segment_gui.sandbox")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture(scope="module")
def collector(server_errors: ErrorRecords) -> Iterator[SandboxCollector]:
    with SandboxCollector() as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def no_server_errors(server_errors: ErrorRecords) -> Iterator[None]:
    server_errors.take()
    yield
    assert server_errors.take() == []


def address(collector: SandboxCollector) -> tuple[str, int]:
    server = collector._server
    assert server is not None
    host, port = server.server_address[:2]
    assert str(host).startswith("127.")
    return str(host), int(port)


def exchange(collector: SandboxCollector, data: bytes, *, half_close: bool = True) -> bytes:
    """Send `data` on a new connection and return every byte received until the server closes.

    With `half_close` the client shuts down its sending side after `data`, so the server
    reads end of file wherever it expects more. A connection that stays open longer than
    TIMEOUT_SECONDS fails the test.
    """
    chunks: list[bytes] = []
    with socket.create_connection(address(collector), timeout=TIMEOUT_SECONDS) as connection:
        try:
            connection.sendall(data)
            if half_close:
                connection.shutdown(socket.SHUT_WR)
        except OSError as error:
            # The server replied and closed the connection before reading all of it; the
            # shutdown then races with the close and may report ENOTCONN.
            if error.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                raise
        while True:
            try:
                chunk = connection.recv(65536)
            except ConnectionResetError:
                break
            except TimeoutError:
                pytest.fail(
                    f"connection still open after {TIMEOUT_SECONDS} s; received "
                    f"{b''.join(chunks)[:200]!r} for request {data[:200]!r}"
                )
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def reply_statuses(data: bytes) -> list[int | None]:
    """Return the status code of each response in `data`, in order.

    http.server replies to a request line that it cannot read with a bare HTTP/0.9-style body,
    without a status line, and closes the connection. The code is then read from its HTML
    error page, and an HTTP/0.9 body without one (a JSON response to `GET /path`) is reported
    as None.
    """
    statuses: list[int | None] = []
    rest = data
    while rest:
        if not rest.startswith(b"HTTP/"):
            code = re.search(rb"Error code: (\d{3})", rest)
            statuses.append(int(code.group(1)) if code else None)
            break
        head, separator, rest = rest.partition(b"\r\n\r\n")
        assert separator, f"response head without an end: {head[:200]!r}"
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        match = re.fullmatch(r"HTTP/1\.[01] (\d{3})(?: .*)?", status_line)
        assert match, f"invalid status line {status_line!r}"
        status = int(match.group(1))
        statuses.append(status)
        if 100 <= status < 200:
            continue
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        assert len(rest) >= length, f"body shorter than its Content-Length {length}"
        rest = rest[length:]
    return statuses


def final_statuses(data: bytes) -> list[int | None]:
    return [status for status in reply_statuses(data) if status is None or status >= 200]


def assert_no_server_error(data: bytes, allowed: set[int] | None = None) -> None:
    for status in final_statuses(data):
        if status is None:
            continue
        assert 200 <= status < 300 or 400 <= status < 500 or status in (allowed or set()), (
            f"status {status} in reply {data[:300]!r}"
        )


def json_body(data: bytes) -> Any:
    """Return the decoded JSON body of the single response in `data`."""
    _, _, body = data.partition(b"\r\n\r\n")
    return json.loads(body)


def post(
    path: bytes,
    body: bytes,
    *,
    headers: bytes = b"",
    content_length: bytes | None = None,
    auth: bool = True,
) -> bytes:
    """Return a POST request with Basic auth unless `auth` is false.

    `content_length` replaces the real body length in the header, and b"" leaves the header out.
    """
    length = str(len(body)).encode() if content_length is None else content_length
    length_line = b"Content-Length: " + length + b"\r\n" if length else b""
    return (
        b"POST "
        + path
        + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + (AUTH_LINE if auth else b"")
        + headers
        + length_line
        + b"\r\n"
        + body
    )


def get(path: bytes, headers: bytes = b"") -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n"


# --- Request lines ---


@pytest.mark.parametrize(
    ("request_bytes", "expected"),
    [
        (b"\r\n\r\n", []),
        (b"   \r\n\r\n", []),
        (b"GET\r\n\r\n", [400]),
        (b"\x00\xff garbage\r\n\r\n", [400]),
        (b"POST /v1/track\r\n\r\n", [400]),
        (b"GET / HTTP/1.1 extra\r\n\r\n", [400]),
        (b"GET / HTTP/x.y\r\n\r\n", [400]),
        (b"GET / HTTP/1.1.1\r\n\r\n", [400]),
        (b"GET / FTP/1.0\r\n\r\n", [400]),
        (b"GET / HTTP/12345678901.1\r\n\r\n", [400]),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", [414]),
        (b"GET /v1/track?x=\xff\x00 HTTP/1.1\r\n\r\n", [405]),
        (b"GET http://example.com/v1/track HTTP/1.1\r\n\r\n", [404]),
        (b"GET //v1//track HTTP/1.1\r\n\r\n", [404]),
    ],
    ids=[
        "empty",
        "blank",
        "method-only",
        "binary",
        "post-without-version",
        "four-words",
        "version-letters",
        "version-three-parts",
        "wrong-protocol",
        "version-too-long",
        "path-70kb",
        "path-binary-query",
        "absolute-uri",
        "double-slashes",
    ],
)
def test_malformed_request_line(
    collector: SandboxCollector, request_bytes: bytes, expected: list[int]
) -> None:
    reply = exchange(collector, request_bytes)

    assert final_statuses(reply) == expected


@pytest.mark.parametrize(
    ("request_bytes", "expected"),
    [
        (b"FOO /v1/track HTTP/1.1\r\n\r\n", 501),
        (b"get /v1/track HTTP/1.1\r\n\r\n", 501),
        (b"BREW /_sandbox/messages HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 501),
        (b"PUT /v1/track HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 405),
        (b"DELETE /_sandbox/messages HTTP/1.1\r\n\r\n", 405),
        (b"PATCH /nowhere HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 404),
        (b"OPTIONS /v1/batch HTTP/1.1\r\n\r\n", 405),
        (b"GET /v1/track HTTP/1.0\r\n\r\n", 405),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
    ],
    ids=[
        "unknown",
        "lowercase",
        "unknown-with-body",
        "put",
        "delete",
        "patch-chunked",
        "options",
        "http-1.0",
        "http-2.0",
    ],
)
def test_methods_and_versions(
    collector: SandboxCollector, request_bytes: bytes, expected: int
) -> None:
    reply = exchange(collector, request_bytes)

    assert final_statuses(reply) == [expected]


def test_head_rejected(collector: SandboxCollector) -> None:
    # A reply to HEAD has a Content-Length but no body, so reply_statuses cannot split it.
    reply = exchange(collector, b"HEAD /v1/track HTTP/1.1\r\n\r\n")

    assert reply.startswith(b"HTTP/1.1 405 ")
    assert reply.endswith(b"\r\n\r\n")


def test_http09_get_answered(collector: SandboxCollector) -> None:
    # An HTTP/0.9 reply has no status line and no headers, only the body.
    reply = exchange(collector, b"GET /\r\n")

    assert json.loads(reply)["success"] is False


def test_http09_messages_answered(collector: SandboxCollector) -> None:
    reply = exchange(collector, b"GET /_sandbox/messages\r\n")

    assert isinstance(json.loads(reply), list)


# --- Headers ---


def test_header_line_100kb(collector: SandboxCollector) -> None:
    request_bytes = post(b"/v1/track", VALID_BODY, headers=b"X-Big: " + b"a" * 100_000 + b"\r\n")

    reply = exchange(collector, request_bytes)

    # The server closes with request bytes still unread, so some systems reset the
    # connection before the client reads the reply.
    assert final_statuses(reply) in ([431], [])


def test_header_count_1000(collector: SandboxCollector) -> None:
    headers = b"".join(b"X-Header-%d: %d\r\n" % (index, index) for index in range(1000))

    reply = exchange(collector, post(b"/v1/track", VALID_BODY, headers=headers))

    assert final_statuses(reply) in ([431], [])


def test_header_invalid_lines(collector: SandboxCollector) -> None:
    headers = b"no colon here\r\n: empty name\r\nX-Binary: \x00\xff\x7f\r\n \tfolded\r\n"

    reply = exchange(collector, post(b"/v1/track", VALID_BODY, headers=headers))

    assert_no_server_error(reply)
    assert final_statuses(reply) != []


@pytest.mark.parametrize(
    "authorization",
    [
        b"Basic",
        b"Basic !!!",
        b"Basic " + base64.b64encode(b"\xff\xfe:"),
        b"Basic " + base64.b64encode(b":password"),
        b"Bearer " + KEY.encode(),
        b"\xff\xff\xff",
        b"Basic " + b"*" * 50_000,
    ],
    ids=["no-credentials", "not-base64", "not-utf8", "empty-user", "bearer", "binary", "50kb"],
)
def test_authorization_invalid(collector: SandboxCollector, authorization: bytes) -> None:
    headers = b"Authorization: " + authorization + b"\r\n"
    request_bytes = post(b"/v1/track", VALID_BODY, headers=headers, auth=False)

    reply = exchange(collector, request_bytes)

    assert final_statuses(reply) == [401]


# --- Content-Length ---


@pytest.mark.parametrize(
    ("content_length", "expected"),
    [
        (b"", 411),
        (b"abc", 400),
        (b"-5", 400),
        (b"-0", 400),
        (b"1e3", 400),
        (b"0x10", 400),
        (b"\xb2", 400),
        (b"99999999999999999999999999", 413),
        (b"0", 400),
        (b"5", 400),
        (b"1000", 400),
    ],
    ids=[
        "missing",
        "letters",
        "negative",
        "negative-zero",
        "exponent",
        "hex",
        "superscript-two",
        "huge",
        "zero",
        "shorter-than-body",
        "longer-than-body",
    ],
)
def test_content_length_invalid(
    collector: SandboxCollector, content_length: bytes, expected: int
) -> None:
    request_bytes = post(b"/v1/track", VALID_BODY, content_length=content_length)

    reply = exchange(collector, request_bytes)

    assert final_statuses(reply)[:1] == [expected]
    assert_no_server_error(reply)


@pytest.mark.parametrize(
    "content_length", [b"\xb2", b"-1", b"abc", b"99999999999999", b"3", b" 3 "]
)
def test_content_length_on_get(collector: SandboxCollector, content_length: bytes) -> None:
    request_bytes = get(b"/_sandbox/messages", b"Content-Length: " + content_length + b"\r\n")

    reply = exchange(collector, request_bytes + b"abc")

    assert final_statuses(reply)[:1] == [200]
    assert_no_server_error(reply)


def test_content_length_duplicate(collector: SandboxCollector) -> None:
    headers = b"Content-Length: 1\r\n"

    reply = exchange(collector, post(b"/v1/track", VALID_BODY, headers=headers))

    assert_no_server_error(reply)
    assert final_statuses(reply) != []


# --- Bodies ---


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"hello", 400),
        (b"", 400),
        (b'{"userId": "\xff\xfe", "event": "e"}', 400),
        (b'{"userId": "u", "event": "e"', 400),
        (b"[1, 2]", 400),
        (b'"text"', 400),
        (b"null", 400),
        (b'{"userId": NaN, "event": "e"}', 400),
        (b'{"userId": Infinity}', 400),
        (b"[" * 100_000, 400),
        (b"[" * 2_000 + b"]" * 2_000, 400),
        (b'{"a": ' * 2_000 + b"1" + b"}" * 2_000, 400),
        (b'{"n": ' + b"1" * 5_000 + b"}", 400),
        (b"\xff\xfe{\x00}\x00", 200),
        (b'\xef\xbb\xbf{"userId": "u", "event": "e"}', 200),
    ],
    ids=[
        "not-json",
        "empty",
        "invalid-utf8",
        "truncated",
        "array",
        "string",
        "null",
        "nan",
        "infinity",
        "brackets-100k",
        "arrays-2000-deep",
        "objects-2000-deep",
        "integer-5000-digits",
        "utf16",
        "utf8-bom",
    ],
)
def test_body_invalid(collector: SandboxCollector, body: bytes, expected: int) -> None:
    reply = exchange(collector, post(b"/v1/track", body))

    assert final_statuses(reply) == [expected]


def test_batch_brackets_100k(collector: SandboxCollector) -> None:
    body = b'{"batch": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert len(body) <= MAX_BATCH_BYTES

    reply = exchange(collector, post(b"/v1/batch", body))

    assert final_statuses(reply) == [400]


def test_lone_surrogate_recorded(collector: SandboxCollector) -> None:
    body = b'{"userId": "\\ud800", "event": "\\udfff tail", "writeKey": "\\ud800abcdefghij"}'

    reply = exchange(collector, post(b"/v1/track", body))
    messages_reply = exchange(collector, get(b"/_sandbox/messages"))

    assert final_statuses(reply) == [200]
    assert final_statuses(messages_reply) == [200]
    recorded = [entry["message"] for entry in json_body(messages_reply)]
    assert {"userId": "\ud800", "event": "\udfff tail"}.items() <= recorded[-1].items()
    assert recorded[-1]["writeKey"] == mask_write_key("\ud800abcdefghij")


def test_lone_surrogate_logged(home: Path) -> None:
    log_path = home / "sandbox.jsonl"
    body = b'{"userId": "\\ud800", "event": "e"}'

    with SandboxCollector(log_path=log_path) as sandbox:
        reply = exchange(sandbox, post(b"/v1/track", body))

    assert final_statuses(reply) == [200]
    [line] = log_path.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["message"]["userId"] == "\ud800"


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        (b"text/plain", VALID_BODY, 200),
        (b"application/x-www-form-urlencoded", b"userId=u1&event=e", 400),
        (
            b"multipart/form-data; boundary=xyz",
            b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--xyz--\r\n',
            400,
        ),
        (b"\xff\x00", VALID_BODY, 200),
    ],
    ids=["text-plain", "form", "multipart", "binary"],
)
def test_content_type_wrong(
    collector: SandboxCollector, content_type: bytes, body: bytes, expected: int
) -> None:
    headers = b"Content-Type: " + content_type + b"\r\n"

    reply = exchange(collector, post(b"/v1/track", body, headers=headers))

    assert final_statuses(reply) == [expected]


def test_chunked_without_length(collector: SandboxCollector) -> None:
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(VALID_BODY), VALID_BODY)
    headers = b"Transfer-Encoding: chunked\r\n"

    reply = exchange(collector, post(b"/v1/track", chunked, headers=headers, content_length=b""))

    assert final_statuses(reply) == [411]


def test_chunked_with_length(collector: SandboxCollector) -> None:
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(VALID_BODY), VALID_BODY)
    headers = b"Transfer-Encoding: chunked\r\n"

    reply = exchange(collector, post(b"/v1/track", chunked, headers=headers))

    assert_no_server_error(reply)
    assert final_statuses(reply)[:1] == [400]


@pytest.mark.parametrize(
    ("encoding", "body", "expected"),
    [
        (b"gzip", VALID_BODY, 400),
        (b"gzip", gzip.compress(VALID_BODY)[:-12], 400),
        (b"gzip", gzip.compress(b"\x00" * 1_000_000), 400),
        (b"gzip", gzip.compress(b"not json"), 400),
        (b"gzip", b"", 400),
        (b"GZIP", gzip.compress(VALID_BODY), 200),
        (b"gzip", gzip.compress(VALID_BODY) + b"trailing", 200),
        (b"deflate", VALID_BODY, 415),
        (b"br", VALID_BODY, 415),
        (b"gzip, gzip", gzip.compress(gzip.compress(VALID_BODY)), 415),
        (b"\xff", VALID_BODY, 415),
    ],
    ids=[
        "not-gzip",
        "truncated",
        "bomb-1mb",
        "gzip-not-json",
        "empty",
        "uppercase",
        "trailing-bytes",
        "deflate",
        "brotli",
        "double",
        "binary",
    ],
)
def test_content_encoding(
    collector: SandboxCollector, encoding: bytes, body: bytes, expected: int
) -> None:
    headers = b"Content-Encoding: " + encoding + b"\r\n"

    reply = exchange(collector, post(b"/v1/track", body, headers=headers))

    assert final_statuses(reply) == [expected]


def test_expect_continue_huge(collector: SandboxCollector) -> None:
    headers = b"Expect: 100-continue\r\n"
    request_bytes = post(b"/v1/track", b"", headers=headers, content_length=b"999999999999")

    reply = exchange(collector, request_bytes)

    assert final_statuses(reply) == [413]


# --- Slow and partial requests ---


@pytest.mark.parametrize(
    "partial",
    [
        b"PO",
        b"POST /v1/track HTTP/1.1\r\n",
        b"POST /v1/track HTTP/1.1\r\nContent-Length: 100\r\n",
        post(b"/v1/track", VALID_BODY[:10], content_length=b"100"),
    ],
    ids=["method", "request-line", "headers", "body"],
)
def test_partial_request_closed(collector: SandboxCollector, partial: bytes) -> None:
    with socket.create_connection(address(collector), timeout=TIMEOUT_SECONDS) as connection:
        for offset in range(0, len(partial), 7):
            connection.sendall(partial[offset : offset + 7])
            time.sleep(0.005)

    reply = exchange(collector, post(b"/v1/track", VALID_BODY))

    assert final_statuses(reply) == [200]


def test_partial_request_blocks_nobody(collector: SandboxCollector) -> None:
    with socket.create_connection(address(collector), timeout=TIMEOUT_SECONDS) as stalled:
        stalled.sendall(post(b"/v1/track", b"{", content_length=b"1000"))

        reply = exchange(collector, post(b"/v1/track", VALID_BODY))

        assert final_statuses(reply) == [200]


def test_pipelined_requests(collector: SandboxCollector) -> None:
    request_bytes = (
        post(b"/v1/track", VALID_BODY) + get(b"/nowhere") + post(b"/v1/track", b"not json")
    )

    reply = exchange(collector, request_bytes)

    assert final_statuses(reply) == [200, 404, 400]


# --- Random bytes after a valid prefix ---

PREFIXES = [
    b"",
    b"POST ",
    b"POST /v1/track HTTP/1.1\r\n",
    b"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\n" + AUTH_LINE,
    b"POST /v1/batch HTTP/1.1\r\n" + AUTH_LINE + b"Content-Length: 64\r\n\r\n",
    b"POST /v1/track HTTP/1.1\r\n"
    + AUTH_LINE
    + b"Content-Encoding: gzip\r\nContent-Length: 40\r\n\r\n",
    b"POST /v1/track HTTP/1.1\r\n"
    + AUTH_LINE
    + b'Content-Length: 40\r\n\r\n{"userId": "u", "event": ',
    b"GET /_sandbox/messages HTTP/1.1\r\n",
]
RANDOM_TAILS = st.one_of(
    st.binary(max_size=300),
    st.lists(
        st.sampled_from(
            [b"\r\n", b": ", b"Content-Length: ", b"-1", b"99999999", b"\xb2", b"{", b"[", b'"']
        )
        | st.binary(max_size=12),
        max_size=30,
    ).map(b"".join),
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.sampled_from(PREFIXES), RANDOM_TAILS)
def test_random_bytes_after_prefix(
    collector: SandboxCollector, server_errors: ErrorRecords, prefix: bytes, tail: bytes
) -> None:
    reply = exchange(collector, prefix + tail)

    assert_no_server_error(reply, PROTOCOL_ERRORS)
    assert server_errors.take() == []


# --- After the run ---


def test_valid_track_after_fuzzing(collector: SandboxCollector) -> None:
    reply = exchange(collector, post(b"/v1/track", b'{"userId": "final", "event": "Done"}'))

    assert final_statuses(reply) == [200]
    assert json_body(reply) == {"success": True}
    assert collector.messages()[-1].message["userId"] == "final"


def test_recorded_messages_mask_keys(collector: SandboxCollector) -> None:
    body = json.dumps({"userId": "u", "event": "Keyed", "writeKey": KEY}).encode()
    exchange(collector, post(b"/v1/track", body, auth=False))

    messages_reply = exchange(collector, get(b"/_sandbox/messages"))

    records = collector.messages()
    assert records
    assert any(record.message.get("event") == "Keyed" for record in records)
    for record in records:
        assert KEY not in record.write_key_masked
        assert KEY not in json.dumps(record.message)
    assert final_statuses(messages_reply) == [200]
    assert KEY.encode() not in messages_reply
