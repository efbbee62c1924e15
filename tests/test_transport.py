"""The HTTP sender against real servers on 127.0.0.1 that the tests start and stop themselves."""

from __future__ import annotations

import base64
import gc
import json
import logging
import random
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from segment_gui import transport
from segment_gui.endpoints import needs_insecure_confirmation
from segment_gui.payload import Message
from segment_gui.transport import (
    MASKED_AUTHORIZATION,
    USER_AGENT,
    Response,
    SendCancelled,
    SendConnectionError,
    SendOptions,
    SendTimeout,
    SendTLSError,
    SentRequest,
    backoff_seconds,
    connect_timeout_failure,
    pin_environment,
    read_timeout_failure,
    retry_after_seconds,
    send,
)

KEY = "wk_test_0123456789abcdefKEY"
KEY_BASE64 = base64.b64encode(f"{KEY}:".encode()).decode("ascii")
MESSAGE = Message("track", {"type": "track", "userId": "u1", "event": "Signed Up"})
FAST = SendOptions(connect_timeout=2.0, read_timeout=5.0, wait_ms=10)


# -- local servers --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """The recording server's response to one request."""

    status: int = 200
    body: bytes = b'{"success":true}'
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    delay: float = 0.0  # seconds before responding, cut short by the fixture's stop event


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class RecordingServer(ThreadingHTTPServer):
    """Records every POST and responds with the scripted replies, repeating the last one."""

    daemon_threads = True

    def __init__(self, replies: list[Reply]) -> None:
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self.replies = list(replies) or [Reply()]
        self.received: list[Received] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def next_reply(self, request: Received) -> Reply:
        with self.lock:
            self.received.append(request)
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that cancels or times out closes its socket before the response is written.
        pass


class _RecordingHandler(BaseHTTPRequestHandler):
    server: RecordingServer

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        received = Received("POST", self.path, dict(self.headers.items()), body)
        reply = self.server.next_reply(received)
        if reply.delay and self.server.stop.wait(reply.delay):
            return
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, *args: object) -> None:
        pass


class RawServer:
    """A TCP listener that hands each accepted connection to `handle` on a daemon thread."""

    def __init__(self, handle: Callable[[socket.socket], None]) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        # accept() is not woken by close() from another thread, so it polls for the stop flag.
        self.listener.settimeout(0.05)
        self.stopped = threading.Event()
        self.port = self.listener.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.handle = handle
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _address = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed
            with connection:
                connection.settimeout(5)
                self.handle(connection)

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.listener.close()


def read_request(connection: socket.socket) -> bytes:
    """Read one HTTP request (headers and a Content-Length body) from `connection`."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def reset_connection(connection: socket.socket) -> None:
    read_request(connection)
    # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def close_without_answer(connection: socket.socket) -> None:
    read_request(connection)


@pytest.fixture
def serve() -> Iterator[Callable[..., RecordingServer]]:
    """Start recording servers on 127.0.0.1 and stop them all when the test ends."""
    servers: list[RecordingServer] = []

    def start(*replies: Reply) -> RecordingServer:
        server = RecordingServer(list(replies))
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket], None]], RawServer]]:
    servers: list[RawServer] = []

    def start(handle: Callable[[socket.socket], None]) -> RawServer:
        server = RawServer(handle)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def closed_port() -> int:
    """Return a local port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def set_later(event: threading.Event, delay: float) -> None:
    def run() -> None:
        time.sleep(delay)
        event.set()

    threading.Thread(target=run, daemon=True).start()


class FixedRandom(random.Random):
    """Jitter source whose uniform(a, b) always returns `fraction` of the way from a to b."""

    def __init__(self, fraction: float) -> None:
        super().__init__(0)
        self.fraction = fraction

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.fraction


@pytest.fixture(autouse=True)
def fixed_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "backoff_random", FixedRandom(0.5))


# -- success --------------------------------------------------------------------------------


def test_send_success(serve: Callable[..., RecordingServer]) -> None:
    headers = (("Content-Type", "application/json"), ("X-Test", "a"), ("X-Test", "b"))
    server = serve(Reply(body=b'{"success":true}', headers=headers))

    response = send(server.base_url, MESSAGE, KEY, FAST)

    assert response.ok
    assert response.status == 200
    assert response.reason == "OK"
    assert response.body == b'{"success":true}'
    assert response.truncated is False
    assert response.redirect_note == ""
    assert ("X-Test", "a") in response.headers
    assert ("X-Test", "b") in response.headers
    assert response.header("content-type") == "application/json"
    assert response.request.url == f"{server.base_url}/track"
    assert response.elapsed_ms > 0
    assert len(response.attempts) == 1
    attempt = response.attempts[0]
    assert (attempt.number, attempt.outcome, attempt.status) == (1, "200 OK", 200)
    assert attempt.waited_ms == 0.0
    assert len(server.received) == 1
    received = server.received[0]
    assert received.path == "/v1/track"
    assert json.loads(received.body) == MESSAGE.body
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["User-Agent"] == USER_AGENT


def test_send_authorization_masked(serve: Callable[..., RecordingServer]) -> None:
    server = serve(Reply())

    response = send(server.base_url, MESSAGE, KEY, FAST)

    assert server.received[0].headers["Authorization"] == f"Basic {KEY_BASE64}"
    assert response.request.headers["Authorization"] == MASKED_AUTHORIZATION
    assert KEY not in repr(response.request)
    assert KEY_BASE64 not in repr(response.request)


def test_send_never_logs_key(
    serve: Callable[..., RecordingServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = serve(Reply(status=503), Reply())

    send(server.base_url, MESSAGE, KEY, SendOptions(max_tries=2, wait_ms=10))
    with pytest.raises(SendConnectionError):
        send(f"http://127.0.0.1:{closed_port()}/v1", MESSAGE, KEY, FAST)

    assert caplog.records
    for record in caplog.records:
        text = record.getMessage()
        assert KEY not in text, record
        assert KEY_BASE64 not in text, record
        assert "Authorization" not in text, record
    ours = [record for record in caplog.records if record.name == "segment_gui.transport"]
    infos = [record.getMessage() for record in ours if record.levelno == logging.INFO]
    warnings = [record.getMessage() for record in ours if record.levelno == logging.WARNING]
    assert any("attempt 1 of 2: 503 Service Unavailable" in text for text in infos)
    assert any("attempt 2 of 2: 200 OK" in text for text in infos)
    assert any("retrying" in text for text in warnings)
    assert any("connection refused" in text for text in warnings)


# -- timeouts -------------------------------------------------------------------------------


def test_send_read_timeout(serve: Callable[..., RecordingServer]) -> None:
    server = serve(Reply(delay=10))
    options = SendOptions(connect_timeout=2.0, read_timeout=0.5)

    started = time.perf_counter()
    with pytest.raises(SendTimeout) as caught:
        send(server.base_url, MESSAGE, KEY, options)
    elapsed = time.perf_counter() - started

    assert str(caught.value).startswith(f"127.0.0.1:{server.port} sent no answer within 0.5 s")
    assert caught.value.attempts[0].outcome == "timed out after 0.5 s"
    assert caught.value.request is not None
    assert 0.4 < elapsed < 5


@pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="relies on Linux dropping SYNs to a listener whose accept queue is full",
)
def test_send_connect_timeout() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = [socket.socket() for _ in range(4)]
    try:
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        time.sleep(0.1)
        options = SendOptions(connect_timeout=0.3, read_timeout=5.0)

        with pytest.raises(SendTimeout) as caught:
            send(f"http://127.0.0.1:{port}/v1", MESSAGE, KEY, options)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()

    assert str(caught.value).startswith(f"Connecting to 127.0.0.1:{port} timed out after 0.3 s")
    assert caught.value.attempts[0].outcome == "connect timed out after 0.3 s"


def test_timeout_messages() -> None:
    connect = connect_timeout_failure("http://127.0.0.1:5000/v1/track", 5.0)
    read = read_timeout_failure("https://api.segment.io/v1/track", 30.0)

    assert connect.message.startswith("Connecting to 127.0.0.1:5000 timed out after 5 s")
    assert connect.kind is SendTimeout
    assert read.message.startswith("api.segment.io sent no answer within 30 s")
    assert read.outcome == "timed out after 30 s"


# -- retries --------------------------------------------------------------------------------


def test_retry_until_success(serve: Callable[..., RecordingServer]) -> None:
    failures = 2
    server = serve(*[Reply(status=503)] * failures, Reply())
    options = SendOptions(max_tries=failures + 1, wait_ms=10)

    response = send(server.base_url, MESSAGE, KEY, options)

    assert response.status == 200
    assert len(server.received) == failures + 1
    assert [attempt.status for attempt in response.attempts] == [503, 503, 200]
    assert response.attempts[0].outcome == "503 Service Unavailable"
    assert response.attempts[0].waited_ms == 0.0
    assert response.attempts[1].waited_ms >= 5
    assert response.attempts[2].waited_ms >= 10


def test_retry_exhausted_returns_last(serve: Callable[..., RecordingServer]) -> None:
    server = serve(Reply(status=503, body=b"down"))

    response = send(server.base_url, MESSAGE, KEY, SendOptions(max_tries=3, wait_ms=10))

    assert response.status == 503
    assert response.body == b"down"
    assert len(server.received) == 3
    assert [attempt.number for attempt in response.attempts] == [1, 2, 3]
    assert all(attempt.outcome == "503 Service Unavailable" for attempt in response.attempts)


def test_retry_connection_refused() -> None:
    with pytest.raises(SendConnectionError) as caught:
        send(
            f"http://127.0.0.1:{closed_port()}/v1",
            MESSAGE,
            KEY,
            SendOptions(max_tries=2, wait_ms=10),
        )

    assert [attempt.outcome for attempt in caught.value.attempts] == ["connection refused"] * 2


@pytest.mark.parametrize("status", [400, 401, 404])
def test_client_error_not_retried(serve: Callable[..., RecordingServer], status: int) -> None:
    server = serve(Reply(status=status))

    response = send(server.base_url, MESSAGE, KEY, SendOptions(max_tries=3, wait_ms=10))

    assert response.status == status
    assert len(server.received) == 1
    assert len(response.attempts) == 1


def test_429_without_retries(serve: Callable[..., RecordingServer]) -> None:
    server = serve(Reply(status=429, headers=(("Retry-After", "1"),)))

    response = send(server.base_url, MESSAGE, KEY, SendOptions(max_tries=1))

    assert response.status == 429
    assert len(server.received) == 1


def test_429_waits_for_retry_after(serve: Callable[..., RecordingServer]) -> None:
    server = serve(Reply(status=429, headers=(("Retry-After", "1"),)), Reply())
    progress: list[str] = []

    response = send(
        server.base_url, MESSAGE, KEY, SendOptions(max_tries=3), on_progress=progress.append
    )

    assert response.status == 200
    assert len(server.received) == 2
    assert "Waiting 1 s for Retry-After before attempt 2 of 3" in progress
    assert f"Sending attempt 2 of 3 to 127.0.0.1:{server.port}" in progress
    assert response.attempts[0].outcome == "429 Too Many Requests"
    assert 900 <= response.attempts[1].waited_ms < 5000


def test_retry_after_http_date(serve: Callable[..., RecordingServer]) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    server = serve(Reply(status=429, headers=(("Retry-After", when),)), Reply())

    response = send(server.base_url, MESSAGE, KEY, SendOptions(max_tries=2))

    assert response.status == 200
    # The date has whole seconds, so the wait is between 1 and 2 s.
    assert 900 <= response.attempts[1].waited_ms < 5000


def test_retry_after_capped(serve: Callable[..., RecordingServer]) -> None:
    server = serve(Reply(status=429, headers=(("Retry-After", "120"),)), Reply())
    progress: list[str] = []
    options = SendOptions(max_tries=2, retry_after_cap=0.2)

    response = send(server.base_url, MESSAGE, KEY, options, on_progress=progress.append)

    assert response.status == 200
    assert response.attempts[0].outcome == (
        "429 Too Many Requests, Retry-After 120 s capped at 0.2 s"
    )
    assert 150 <= response.attempts[1].waited_ms < 2000
    assert "Waiting 0.2 s for Retry-After before attempt 2 of 2" in progress


def test_retry_after_parsing() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds(" 0 ", now) == 0.0
    assert retry_after_seconds("Wed, 01 May 2024 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Wed, 01 May 2024 12:00:30 -0000", now) == 30.0
    assert retry_after_seconds("Wed, 01 May 2024 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds("-5", now) is None
    assert retry_after_seconds(None, now) is None


def test_backoff_formula() -> None:
    low, middle, high = FixedRandom(0.0), FixedRandom(0.5), FixedRandom(1.0)

    assert backoff_seconds(2, 1000, middle) == 1.0
    assert backoff_seconds(3, 1000, middle) == 2.0
    assert backoff_seconds(4, 1000, low) == 2.0
    assert backoff_seconds(4, 1000, high) == 6.0
    assert backoff_seconds(9, 1000, high) == 30.0
    assert backoff_seconds(2, 0, high) == 0.0


def test_backoff_seeded_random_repeats() -> None:
    first = [backoff_seconds(n, 1000, random.Random(7)) for n in range(2, 6)]
    second = [backoff_seconds(n, 1000, random.Random(7)) for n in range(2, 6)]

    assert first == second
    for number, seconds in zip(range(2, 6), first, strict=True):
        base = 2 ** (number - 2)
        assert 0.5 * base <= seconds <= 1.5 * base


def test_backoff_progress_names_reason(serve: Callable[..., RecordingServer]) -> None:
    server = serve(Reply(status=502), Reply())
    progress: list[str] = []

    send(
        server.base_url,
        MESSAGE,
        KEY,
        SendOptions(max_tries=2, wait_ms=100),
        on_progress=progress.append,
    )

    # FixedRandom(0.5) makes the jitter factor 1, so the wait is exactly wait_ms.
    assert "Waiting 0.1 s before attempt 2 of 2 after 502 Bad Gateway" in progress


# -- cancel ---------------------------------------------------------------------------------


def test_cancel_during_slow_request(serve: Callable[..., RecordingServer]) -> None:
    server = serve(Reply(delay=20))
    cancel = threading.Event()
    set_later(cancel, 0.3)

    started = time.perf_counter()
    with pytest.raises(SendCancelled) as caught:
        send(server.base_url, MESSAGE, KEY, SendOptions(max_tries=3), cancel=cancel)
    elapsed = time.perf_counter() - started
    gc.collect()  # an unclosed socket would raise its ResourceWarning here, inside the test

    assert elapsed < 1.5
    # The socket shutdown ended the blocked read, so the request thread is gone too.
    request_threads = [t for t in threading.enumerate() if t.name == "segment-gui-request"]
    assert request_threads == []
    assert len(server.received) == 1
    assert [attempt.outcome for attempt in caught.value.attempts] == ["cancelled"]
    assert f"127.0.0.1:{server.port}" in str(caught.value)
    assert "may have received" in str(caught.value)


def test_cancel_during_retry_after(serve: Callable[..., RecordingServer]) -> None:
    server = serve(Reply(status=429, headers=(("Retry-After", "30"),)), Reply())
    cancel = threading.Event()
    set_later(cancel, 0.3)

    started = time.perf_counter()
    with pytest.raises(SendCancelled) as caught:
        send(server.base_url, MESSAGE, KEY, SendOptions(max_tries=2), cancel=cancel)
    elapsed = time.perf_counter() - started

    assert elapsed < 1.5
    assert len(server.received) == 1
    attempts = caught.value.attempts
    assert [attempt.outcome for attempt in attempts] == ["429 Too Many Requests", "cancelled"]
    assert attempts[1].waited_ms >= 200
    assert str(caught.value) == (
        f"Sending to 127.0.0.1:{server.port} was cancelled before attempt 2 of 2."
    )


def test_cancel_during_backoff(serve: Callable[..., RecordingServer]) -> None:
    server = serve(Reply(status=503))
    cancel = threading.Event()
    set_later(cancel, 0.3)

    started = time.perf_counter()
    with pytest.raises(SendCancelled):
        send(server.base_url, MESSAGE, KEY, SendOptions(max_tries=3, wait_ms=20000), cancel=cancel)

    assert time.perf_counter() - started < 1.5
    assert len(server.received) == 1


# -- redirects ------------------------------------------------------------------------------


def test_same_origin_307_followed(serve: Callable[..., RecordingServer]) -> None:
    server = serve(Reply(status=307, headers=(("Location", "/v1/moved"),)), Reply())

    response = send(server.base_url, MESSAGE, KEY, FAST)

    assert response.status == 200
    assert [request.path for request in server.received] == ["/v1/track", "/v1/moved"]
    second = server.received[1]
    assert second.method == "POST"
    assert second.body == MESSAGE.to_bytes()
    assert second.headers["Authorization"] == f"Basic {KEY_BASE64}"
    assert response.request.url == f"http://127.0.0.1:{server.port}/v1/moved"
    assert "was followed" in response.redirect_note
    assert len(response.attempts) == 1


@pytest.mark.parametrize("status", [302, 307])
def test_cross_origin_redirect_not_followed(
    serve: Callable[..., RecordingServer], status: int
) -> None:
    other = serve(Reply())
    target = f"http://127.0.0.1:{other.port}/v1/track"
    server = serve(Reply(status=status, headers=(("Location", target),)))

    response = send(server.base_url, MESSAGE, KEY, SendOptions(max_tries=3))

    assert response.status == status
    assert other.received == []
    assert len(server.received) == 1
    assert target in response.redirect_note
    assert "another port" in response.redirect_note
    assert "was not followed" in response.redirect_note
    assert f"the write key stays with 127.0.0.1:{server.port}." in response.redirect_note


def test_cross_scheme_redirect_not_followed(serve: Callable[..., RecordingServer]) -> None:
    target = "https://127.0.0.1:1/v1/track"
    server = serve(Reply(status=308, headers=(("Location", target),)))

    response = send(server.base_url, MESSAGE, KEY, FAST)

    assert response.status == 308
    assert "another scheme (https)" in response.redirect_note
    assert len(server.received) == 1


def test_same_origin_302_reported(serve: Callable[..., RecordingServer]) -> None:
    server = serve(Reply(status=302, headers=(("Location", "/v1/elsewhere"),)), Reply())

    response = send(server.base_url, MESSAGE, KEY, FAST)

    assert response.status == 302
    assert len(server.received) == 1
    assert "turns the POST into a GET" in response.redirect_note
    assert f"http://127.0.0.1:{server.port}/v1/elsewhere" in response.redirect_note


def test_redirect_loop_stops(serve: Callable[..., RecordingServer]) -> None:
    server = serve(Reply(status=307, headers=(("Location", "/v1/track"),)))

    response = send(server.base_url, MESSAGE, KEY, FAST)

    assert response.status == 307
    assert len(server.received) == transport.MAX_REDIRECTS + 1
    assert "redirected more than 5 times" in response.redirect_note


# -- connection failures --------------------------------------------------------------------


def test_refused_message() -> None:
    port = closed_port()

    with pytest.raises(SendConnectionError) as caught:
        send(f"http://127.0.0.1:{port}/v1", MESSAGE, KEY, FAST)

    assert str(caught.value) == (
        f"Connection to 127.0.0.1:{port} was refused, so check that the server is running "
        "and listens on that port."
    )
    assert caught.value.attempts[0].outcome == "connection refused"
    assert caught.value.attempts[0].status is None


def test_dns_failure_message(monkeypatch: pytest.MonkeyPatch) -> None:
    # A real lookup would query the machine's DNS server, which is not on loopback. So the
    # resolver's failure is raised locally, and everything above it runs for real.
    def fail_lookup(host: str, *args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail_lookup)
    with pytest.raises(SendConnectionError) as caught:
        send("http://segment-gui-test.invalid/v1", MESSAGE, KEY, FAST)

    assert str(caught.value).startswith(
        "Could not resolve the host name segment-gui-test.invalid, so check"
    )
    assert caught.value.attempts[0].outcome == "host name not resolved"


def test_reset_message(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(reset_connection)

    with pytest.raises(SendConnectionError) as caught:
        send(server.base_url, MESSAGE, KEY, FAST)

    assert str(caught.value).startswith(f"127.0.0.1:{server.port} reset the connection")
    assert caught.value.attempts[0].outcome == "connection reset"


def test_closed_without_answer(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(close_without_answer)

    with pytest.raises(SendConnectionError) as caught:
        send(server.base_url, MESSAGE, KEY, FAST)

    assert str(caught.value).startswith(
        f"127.0.0.1:{server.port} closed the connection without answering"
    )


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return cert, key


def test_tls_untrusted_certificate(
    serve: Callable[..., RecordingServer], self_signed: tuple[Path, Path]
) -> None:
    server = serve(Reply())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed)
    server.socket = context.wrap_socket(server.socket, server_side=True)

    with pytest.raises(SendTLSError) as caught:
        send(f"https://127.0.0.1:{server.port}/v1", MESSAGE, KEY, SendOptions(max_tries=3))

    assert str(caught.value).startswith(
        f"The TLS certificate of 127.0.0.1:{server.port} could not be verified"
    )
    assert "self-signed certificate" in str(caught.value)
    assert len(caught.value.attempts) == 1
    assert server.received == []


def test_tls_to_plain_http(serve: Callable[..., RecordingServer]) -> None:
    server = serve(Reply())

    with pytest.raises(SendTLSError) as caught:
        send(f"https://127.0.0.1:{server.port}/v1", MESSAGE, KEY, FAST)

    assert str(caught.value).startswith(f"The TLS handshake with 127.0.0.1:{server.port} failed")
    assert "serves HTTPS on that port" in str(caught.value)


# -- response bodies ------------------------------------------------------------------------


def test_body_truncated(serve: Callable[..., RecordingServer]) -> None:
    server = serve(Reply(body=b"x" * 5000, headers=(("Content-Type", "text/plain"),)))

    response = send(server.base_url, MESSAGE, KEY, SendOptions(max_body_bytes=1000))

    assert response.truncated is True
    assert response.body == b"x" * 1000


def test_body_at_limit_not_truncated(serve: Callable[..., RecordingServer]) -> None:
    server = serve(Reply(body=b"y" * 1000))

    response = send(server.base_url, MESSAGE, KEY, SendOptions(max_body_bytes=1000))

    assert response.truncated is False
    assert len(response.body) == 1000


def test_non_json_body(serve: Callable[..., RecordingServer]) -> None:
    page = b"<html><body>Bad gateway</body></html>"
    server = serve(Reply(status=502, body=page, headers=(("Content-Type", "text/html"),)))

    response = send(server.base_url, MESSAGE, KEY, FAST)

    assert response.body == page
    assert response.text() == page.decode()


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("text/plain; charset=ISO-8859-1", "café".encode("latin-1"), "café"),
        ('text/plain; charset="utf-8"', "café".encode(), "café"),
        ("text/plain", b"ok \xff\xfe end", "ok \ufffd\ufffd end"),
        ("text/plain; charset=x-foo", "café".encode(), "café"),
        ("text/plain; charset=base64", b"plain", "plain"),
        ("application/json; charset=utf-8", b"\xc3", "\ufffd"),
    ],
)
def test_text_decoding(content_type: str, body: bytes, expected: str) -> None:
    request = SentRequest("POST", "http://127.0.0.1/v1/track", {}, b"")
    response = Response(200, "OK", 1.0, [("Content-Type", content_type)], body, request)

    assert response.text() == expected


def test_latin1_body_over_http(serve: Callable[..., RecordingServer]) -> None:
    headers = (("Content-Type", "text/plain; charset=latin-1"),)
    server = serve(Reply(body="Grüße".encode("latin-1"), headers=headers))

    response = send(server.base_url, MESSAGE, KEY, FAST)

    assert response.text() == "Grüße"


# -- options and URLs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://api.example.com/v1", True),
        ("http://10.0.0.5:8080/v1", True),
        ("http://127.example.com/v1", True),
        ("http://[2001:db8::1]/v1", True),
        ("HTTP://api.example.com/v1", True),
        ("https://api.segment.io/v1", False),
        ("http://127.0.0.1:8080/v1", False),
        ("http://127.1.2.3/v1", False),
        ("http://localhost:9000/v1", False),
        ("http://LOCALHOST/v1", False),
        ("http://[::1]:8080/v1", False),
        ("http://[::ffff:127.0.0.1]/v1", False),
    ],
)
def test_needs_insecure_confirmation(url: str, expected: bool) -> None:
    assert needs_insecure_confirmation(url) is expected


@pytest.mark.parametrize(
    "changes",
    [
        {"connect_timeout": 0},
        {"read_timeout": -1},
        {"max_tries": 0},
        {"wait_ms": -1},
        {"retry_after_cap": -1},
        {"max_body_bytes": -1},
    ],
)
def test_options_rejected(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SendOptions(**changes)  # type: ignore[arg-type]


# -- environment pinned per run ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "verify"),
    [("http://127.0.0.1:9/v1", True), ("https://127.0.0.1:9/v1", "CA_FILE")],
)
def test_pin_environment_ca_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, verify: object
) -> None:
    import requests

    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.setenv("NO_PROXY", "*")

    with requests.Session() as session:
        pin_environment(session, url)

        assert session.verify == (str(bundle) if verify == "CA_FILE" else verify)
        assert session.trust_env is False


# -- worker threads ---------------------------------------------------------------------------


def wait_until_idle(pool: transport.DaemonPool, threads: int) -> None:
    """Wait until `threads` threads of the pool wait for a task, or fail after 5 s."""
    deadline = time.monotonic() + 5
    while pool._idle < threads:
        assert time.monotonic() < deadline, f"{pool._idle} of {threads} threads became idle"
        time.sleep(0.01)


def test_daemon_pool_reuses_idle_thread(caplog: pytest.LogCaptureFixture) -> None:
    pool = transport.DaemonPool("test-pool")
    threads: list[threading.Thread] = []

    def fail() -> None:
        threads.append(threading.current_thread())
        raise RuntimeError("task failed on purpose")

    with caplog.at_level(logging.ERROR, logger="segment_gui.transport"):
        pool.submit(fail)
        wait_until_idle(pool, 1)
        # The thread went back to the pool after the failed task, so it runs the next one.
        pool.submit(lambda: threads.append(threading.current_thread()))
        wait_until_idle(pool, 1)

    assert len(threads) == 2
    assert threads[0] is threads[1]
    assert threads[0].daemon
    assert threads[0].name == "test-pool"
    assert "task failed on purpose" in caplog.text


def test_daemon_pool_runs_tasks_concurrently() -> None:
    pool = transport.DaemonPool("test-pool")
    release = threading.Event()
    started = threading.Semaphore(0)

    def block() -> None:
        started.release()
        release.wait(5)

    try:
        pool.submit(block)
        pool.submit(block)

        assert started.acquire(timeout=5)
        assert started.acquire(timeout=5)
    finally:
        release.set()
