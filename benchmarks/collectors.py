"""Collectors for the throughput benchmarks, each served from a process of its own.

`sandbox` is the app's SandboxCollector. `minimal` is a small HTTP/1.1 server written for the
benchmarks: it parses each body as JSON to count the messages and writes the whole response in
one write. Both listen on 127.0.0.1 only.

`python -m benchmarks.collectors serve KIND` prints the base URL, then reads commands from
stdin, one a line: `count` prints how many messages arrived, `clear` discards them and prints
`ok`, and `quit` (or the end of stdin) stops the server.

`python -m benchmarks.collectors CONFIG` measures each collector's ceiling: a client that
only posts pre-serialized bodies over one kept-alive connection, with no HTTP library.
"""

from __future__ import annotations

import json
import queue
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.common import BenchmarkError, Deadline, child_environment, child_main, median

KINDS = ("sandbox", "minimal")
LOOPBACK = "127.0.0.1"
START_TIMEOUT_SECONDS = 30.0
COMMAND_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
# Header lines and header bytes a minimal-collector request may have.
MAX_HEADER_LINES = 100
MAX_LINE_BYTES = 65536
MAX_BODY_BYTES = 8 * 1024 * 1024
SOCKET_TIMEOUT_SECONDS = 30.0


# -- minimal collector ----------------------------------------------------------------------


class _MinimalServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__((LOOPBACK, 0), _MinimalHandler)
        self.count_lock = threading.Lock()
        self.message_count = 0

    def add_messages(self, count: int) -> None:
        with self.count_lock:
            self.message_count += count


class _MinimalHandler(socketserver.StreamRequestHandler):
    server: _MinimalServer
    timeout = SOCKET_TIMEOUT_SECONDS
    disable_nagle_algorithm = True

    def handle(self) -> None:
        while self._serve_one():
            pass

    def _serve_one(self) -> bool:
        """Respond to one request; return False when the connection should close."""
        request_line = self.rfile.readline(MAX_LINE_BYTES)
        if not request_line:
            return False
        method, _, rest = request_line.decode("latin-1").partition(" ")
        path = rest.partition(" ")[0]

        length = 0
        keep_alive = True
        for _ in range(MAX_HEADER_LINES):
            line = self.rfile.readline(MAX_LINE_BYTES).decode("latin-1").strip()
            if not line:
                break
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "connection" and value.strip().lower() == "close":
                keep_alive = False
        else:
            self._respond(431, b'{"success":false}', keep_alive=False)
            return False

        if not 0 <= length <= MAX_BODY_BYTES:
            self._respond(413, b'{"success":false}', keep_alive=False)
            return False
        body = self.rfile.read(length)
        if method != "POST" or len(body) < length:
            self._respond(400, b'{"success":false}', keep_alive=False)
            return False

        try:
            payload = json.loads(body)
        except ValueError:
            self._respond(400, b'{"success":false}', keep_alive)
            return keep_alive
        batch = payload.get("batch") if isinstance(payload, dict) else None
        is_batch = path.rstrip("/").endswith("/batch") and isinstance(batch, list)
        self.server.add_messages(len(batch) if is_batch and batch is not None else 1)
        self._respond(200, b'{"success":true}', keep_alive)
        return keep_alive

    def _respond(self, status: int, body: bytes, keep_alive: bool) -> None:
        reason = {200: "OK", 400: "Bad Request", 413: "Payload Too Large"}.get(status, "Error")
        connection = "keep-alive" if keep_alive else "close"
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: {connection}\r\n\r\n"
        )
        # Head and body in one write, so Nagle's algorithm never holds back a second segment.
        self.connection.sendall(head.encode("ascii") + body)


class MinimalCollector:
    """The minimal collector in a daemon thread, with the same count and clear calls."""

    def __init__(self) -> None:
        self._server = _MinimalServer()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="minimal-collector", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def count(self) -> int:
        with self._server.count_lock:
            return self._server.message_count

    def clear(self) -> None:
        with self._server.count_lock:
            self._server.message_count = 0


# -- collector process ----------------------------------------------------------------------


def serve(kind: str) -> int:
    """Serve collector `kind` on 127.0.0.1 and run the commands read from stdin until quit."""
    if kind == "sandbox":
        from segment_gui.sandbox import SandboxCollector

        sandbox = SandboxCollector(host=LOOPBACK)
        sandbox.start()
        base_url = sandbox.base_url

        def count() -> int:
            return len(sandbox.messages())

        clear, stop = sandbox.clear, sandbox.stop
    elif kind == "minimal":
        minimal = MinimalCollector()
        minimal.start()
        base_url, count, clear, stop = minimal.base_url, minimal.count, minimal.clear, minimal.stop
    else:
        print(f"unknown collector {kind!r}; choose one of {', '.join(KINDS)}", file=sys.stderr)
        return 2

    print(base_url, flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "count":
                print(count(), flush=True)
            elif command == "clear":
                clear()
                print("ok", flush=True)
            elif command == "quit":
                break
            else:
                print(f"unknown command {command!r}", flush=True)
    finally:
        stop()
    return 0


class CollectorProcess:
    """A collector served by `python -m benchmarks.collectors serve KIND` in a child process."""

    def __init__(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown collector {kind!r}; choose one of {', '.join(KINDS)}")
        self.kind = kind
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.collectors", "serve", kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_environment(),
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read_lines, name="collector-output")
        self._reader.daemon = True
        self._reader.start()
        self.base_url = self._next_line(START_TIMEOUT_SECONDS)
        if not self.base_url.startswith(f"http://{LOOPBACK}:"):
            self.stop()
            raise BenchmarkError(f"{kind} collector did not start: {self.base_url!r}")

    def _read_lines(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(line.strip())

    def _next_line(self, timeout: float) -> str:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise BenchmarkError(
                f"{self.kind} collector sent no response within {timeout:.0f} s"
            ) from None

    def _command(self, command: str) -> str:
        assert self._process.stdin is not None
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()
        return self._next_line(COMMAND_TIMEOUT_SECONDS)

    def count(self) -> int:
        return int(self._command("count"))

    def clear(self) -> None:
        self._command("clear")

    def expect(self, count: int, client: str) -> None:
        """Check that `count` messages arrived since the last clear, then clear."""
        received = self.count()
        self.clear()
        if received != count:
            raise BenchmarkError(f"{client}: the collector received {received} of {count} messages")

    def stop(self) -> None:
        if self._process.poll() is None and self._process.stdin is not None:
            try:
                self._process.stdin.write("quit\n")
                self._process.stdin.close()
            except OSError:
                pass  # the process has already exited
        try:
            self._process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(STOP_TIMEOUT_SECONDS)

    def __enter__(self) -> CollectorProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


# -- ceiling --------------------------------------------------------------------------------


def build_requests(
    base_url: str, path: str, bodies: Sequence[bytes], authorization: str
) -> list[bytes]:
    """Return one HTTP/1.1 POST request per body, as the bytes written to the socket."""
    host_port, _, base_path = base_url.removeprefix("http://").partition("/")
    requests = []
    for body in bodies:
        head = (
            f"POST /{base_path}/{path} HTTP/1.1\r\nHost: {host_port}\r\n"
            "Content-Type: application/json\r\n"
            f"Authorization: {authorization}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode("ascii") + body)
    return requests


def post_sequentially(base_url: str, requests: Sequence[bytes]) -> float:
    """Send each pre-built request over one kept-alive socket, waiting for each response.

    Returns the seconds taken. Raises BenchmarkError on a status other than 200.
    """
    host, _, port = base_url.removeprefix("http://").partition("/")[0].partition(":")
    with socket.create_connection((host, int(port)), timeout=SOCKET_TIMEOUT_SECONDS) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = sock.makefile("rb")
        started = time.perf_counter()
        for request in requests:
            sock.sendall(request)
            status_line = reader.readline(MAX_LINE_BYTES)
            if b" 200 " not in status_line:
                raise BenchmarkError(f"collector responded with {status_line!r}, expected 200")
            length = 0
            for _ in range(MAX_HEADER_LINES):
                line = reader.readline(MAX_LINE_BYTES).strip()
                if not line:
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            reader.read(length)
        return time.perf_counter() - started


def measure_ceiling(config: dict[str, Any]) -> dict[str, Any]:
    """Measure each collector with bodies that the app built, posted by post_sequentially.

    Returns, per collector, the seconds of each run for `single_count` one-message requests
    and for `batch_count` messages packed into batches. A batch run posts those batches
    `batch_repeats` times, because a handful of requests is over too soon to time reliably.
    """
    from benchmarks.throughput import prepared_bodies
    from segment_gui.transport import basic_auth

    single_count = int(config["single_count"])
    batch_count = int(config["batch_count"])
    runs = int(config["runs"])
    batch_repeats = int(config["batch_repeats"])
    deadline = Deadline(float(config["budget_seconds"]))
    single_bodies = prepared_bodies(single_count, batched=False)
    batch_bodies = prepared_bodies(batch_count, batched=True)
    authorization = basic_auth("benchmark-write-key")

    results: dict[str, Any] = {}
    for kind in config["kinds"]:
        with CollectorProcess(kind) as collector:
            url = collector.base_url
            single_requests = build_requests(url, "track", single_bodies, authorization)
            batch_requests = build_requests(url, "batch", batch_bodies, authorization)
            batch_requests *= batch_repeats
            # One unrecorded pass of each, so both sides have their code and buffers warm.
            post_sequentially(url, single_requests)
            post_sequentially(url, batch_requests)
            collector.clear()
            single_seconds: list[float] = []
            batch_seconds: list[float] = []
            for run in range(runs):
                if run > 0 and deadline.expired():
                    break
                single_seconds.append(post_sequentially(url, single_requests))
                collector.expect(single_count, f"{kind} ceiling, single requests")
                batch_seconds.append(post_sequentially(url, batch_requests))
                collector.expect(batch_count * batch_repeats, f"{kind} ceiling, batch requests")
        results[kind] = {
            "single_seconds": single_seconds,
            "batch_seconds": batch_seconds,
            "single_per_second": single_count / median(single_seconds),
            "batch_events_per_second": batch_count * batch_repeats / median(batch_seconds),
            "batch_requests": len(batch_requests),
        }
    return {
        "single_count": single_count,
        "batch_count": batch_count * batch_repeats,
        "collectors": results,
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        raise SystemExit(serve(sys.argv[2]))
    child_main(measure_ceiling)
