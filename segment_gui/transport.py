"""The HTTP sender.

`send()` blocks; the window runs it on a worker thread. requests is imported on first send to
keep it out of start-up. The window imports this module on its first send, and the endpoint
names and checks that it needs before then are in `segment_gui.endpoints`.
"""

from __future__ import annotations

import base64
import logging
import queue
import random
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from segment_gui import __version__
from segment_gui.payload import Message

logger = logging.getLogger(__name__)

USER_AGENT = f"segment-gui/{__version__}"
MASKED_AUTHORIZATION = "Basic ••••••"

MAX_BACKOFF_SECONDS = 30.0
MAX_REDIRECTS = 5
# How often the waiting thread checks the cancel event while a request runs.
CANCEL_POLL_SECONDS = 0.05
# How long a cancelled send waits for its request thread to let go of the socket.
CANCEL_JOIN_SECONDS = 0.5
_READ_CHUNK_BYTES = 64 * 1024

# Source of the backoff jitter. Tests replace it with a seeded or fixed `random.Random`.
backoff_random = random.Random()


class SendError(Exception):
    """A send that got no HTTP response; the message names what failed and what to try."""

    def __init__(
        self,
        message: str,
        request: SentRequest | None = None,
        attempts: list[Attempt] | None = None,
    ) -> None:
        super().__init__(message)
        self.request = request
        self.attempts: list[Attempt] = list(attempts or [])


class SendCancelled(SendError):
    """A send stopped by the caller's cancel event before a response arrived."""


class SendTimeout(SendError):
    """A connect timeout, or no response within the read timeout."""


class SendConnectionError(SendError):
    """A connection that failed: host name not resolved, or refused, reset or closed early."""


class SendTLSError(SendError):
    """A failed TLS handshake, or a server certificate that could not be verified."""


@dataclass(frozen=True)
class SendOptions:
    """Timeouts, retries and limits of one send."""

    connect_timeout: float = 5.0  # seconds
    read_timeout: float = 30.0  # seconds
    max_tries: int = 1  # n8n's Max. Tries when Retry On Fail is on, else 1
    wait_ms: int = 1000  # n8n's Wait Between Tries: the base of the exponential backoff
    retry_after_cap: float = 60.0  # longest Retry-After wait honoured, seconds
    max_body_bytes: int = 5 * 1024 * 1024  # response bytes kept, and the rest is cut

    def __post_init__(self) -> None:
        if not self.connect_timeout > 0:
            raise ValueError(f"connect_timeout {self.connect_timeout} must be more than 0")
        if not self.read_timeout > 0:
            raise ValueError(f"read_timeout {self.read_timeout} must be more than 0")
        if self.max_tries < 1:
            raise ValueError(f"max_tries {self.max_tries} must be at least 1")
        if self.wait_ms < 0:
            raise ValueError(f"wait_ms {self.wait_ms} must not be negative")
        if self.retry_after_cap < 0:
            raise ValueError(f"retry_after_cap {self.retry_after_cap} must not be negative")
        if self.max_body_bytes < 0:
            raise ValueError(f"max_body_bytes {self.max_body_bytes} must not be negative")


@dataclass(frozen=True)
class SentRequest:
    """The request as sent, with the Authorization header masked."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Attempt:
    """One try of a send: its outcome, the HTTP status if one came, and the wait before it."""

    number: int
    outcome: str
    elapsed_ms: float
    status: int | None = None
    waited_ms: float = 0.0


@dataclass
class Response:
    status: int
    reason: str
    elapsed_ms: float
    headers: list[tuple[str, str]]
    body: bytes
    request: SentRequest
    attempts: list[Attempt] = field(default_factory=list)
    truncated: bool = False  # the body was cut at SendOptions.max_body_bytes
    redirect_note: str = ""  # a sentence about a redirect that was followed or not

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        """Return the first value of header `name` (case-insensitive), or None."""
        lowered = name.lower()
        return next((value for key, value in self.headers if key.lower() == lowered), None)

    def charset(self) -> str | None:
        """Return the charset parameter of Content-Type, or None when there is none."""
        content_type = self.header("Content-Type")
        if not content_type or "charset" not in content_type.lower():
            return None
        # email loads about 20 modules, so it is imported here rather than at start-up.
        from email.message import Message as HeaderParser

        parsed = HeaderParser()
        parsed["Content-Type"] = content_type
        charset = parsed.get_content_charset()
        return charset if isinstance(charset, str) else None

    def text(self) -> str:
        """Decode the body with the Content-Type charset or UTF-8, invalid bytes as U+FFFD."""
        charset = self.charset()
        if charset:
            try:
                return self.body.decode(charset, errors="replace")
            except LookupError:
                # An unknown name such as "x-foo", or a codec that is not a text encoding.
                pass
        return self.body.decode("utf-8", errors="replace")


def basic_auth(write_key: str) -> str:
    token = base64.b64encode(f"{write_key}:".encode()).decode("ascii")
    return f"Basic {token}"


# -- waits ----------------------------------------------------------------------------------


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a Retry-After value: whole seconds or an HTTP date. Return None when unusable.

    A date in the past gives 0. `now` defaults to the current UTC time.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        # parsedate_to_datetime returns a naive datetime for "-0000", and HTTP dates are GMT.
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def backoff_seconds(attempt: int, wait_ms: int, rng: random.Random | None = None) -> float:
    """Return the wait before `attempt` (2 or more): wait_ms × 2^(attempt−2) × U(0.5, 1.5).

    The result is capped at MAX_BACKOFF_SECONDS.
    """
    source = rng or backoff_random
    exponent = min(max(attempt - 2, 0), 20)
    seconds = wait_ms / 1000 * 2**exponent * source.uniform(0.5, 1.5)
    return min(seconds, MAX_BACKOFF_SECONDS)


def format_seconds(seconds: float) -> str:
    """Format a duration for messages: "3", "0.5", "1.2" (one decimal, no trailing zero)."""
    text = f"{seconds:.1f}"
    return text[:-2] if text.endswith(".0") else text


# -- failures -------------------------------------------------------------------------------


def host_label(url: str) -> str:
    """Return `host` or `host:port` of `url`, leaving out any user name or password."""
    parts = urlsplit(url)
    host = parts.hostname or parts.netloc
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port is not None else host


@dataclass(frozen=True)
class Failure:
    """A send attempt that got no HTTP response, in the words shown to the user."""

    kind: type[SendError]
    outcome: str  # a few words for the attempt list, e.g. "connection refused"
    message: str  # one sentence naming the host and what to do
    retryable: bool = True


def connect_timeout_failure(url: str, seconds: float) -> Failure:
    host = host_label(url)
    return Failure(
        SendTimeout,
        f"connect timed out after {format_seconds(seconds)} s",
        f"Connecting to {host} timed out after {format_seconds(seconds)} s, so check the "
        "endpoint URL and the network connection, or raise the connect timeout.",
    )


def read_timeout_failure(url: str, seconds: float) -> Failure:
    host = host_label(url)
    return Failure(
        SendTimeout,
        f"timed out after {format_seconds(seconds)} s",
        f"{host} sent no answer within {format_seconds(seconds)} s, so try again later or "
        "raise the read timeout.",
    )


def _causes(error: BaseException) -> Iterator[BaseException]:
    """Yield `error` and every exception it wraps: args, `.reason`, causes and contexts."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [*current.args, getattr(current, "reason", None)]
        linked += [current.__cause__, current.__context__]
        pending += [item for item in linked if isinstance(item, BaseException)]


def describe_failure(error: BaseException, url: str, options: SendOptions) -> Failure:
    """Turn an exception from requests, urllib3 or the socket layer into a Failure."""
    import http.client
    import ssl

    import requests
    import urllib3.exceptions

    host = host_label(url)
    causes = list(_causes(error))

    def has(*kinds: type[BaseException]) -> BaseException | None:
        return next((cause for cause in causes if isinstance(cause, kinds)), None)

    if has(socket.gaierror, urllib3.exceptions.NameResolutionError):
        name = urlsplit(url).hostname or host
        return Failure(
            SendConnectionError,
            "host name not resolved",
            f"Could not resolve the host name {name}, so check the endpoint URL and the "
            "network connection.",
        )
    if has(ConnectionRefusedError):
        return Failure(
            SendConnectionError,
            "connection refused",
            f"Connection to {host} was refused, so check that the server is running and "
            "listens on that port.",
        )
    verify_error = has(ssl.SSLCertVerificationError)
    if verify_error is not None:
        detail = getattr(verify_error, "verify_message", "") or "certificate verify failed"
        return Failure(
            SendTLSError,
            "TLS certificate not verified",
            f"The TLS certificate of {host} could not be verified ({detail}), so check that the "
            "URL names the right server and that this system trusts its certificate authority.",
            retryable=False,
        )
    tls_error = has(ssl.SSLError)
    if tls_error is not None:
        detail = getattr(tls_error, "reason", None) or tls_error.__class__.__name__
        return Failure(
            SendTLSError,
            "TLS handshake failed",
            f"The TLS handshake with {host} failed ({detail}), so check that the endpoint "
            "serves HTTPS on that port.",
            retryable=False,
        )
    # RemoteDisconnected derives from ConnectionResetError, so it is tested first.
    if has(http.client.RemoteDisconnected):
        return Failure(
            SendConnectionError,
            "closed without an answer",
            f"{host} closed the connection without answering, so check that the endpoint URL "
            "points to an HTTP server.",
        )
    if has(ConnectionResetError):
        return Failure(
            SendConnectionError,
            "connection reset",
            f"{host} reset the connection, so try again, and if it keeps happening check for a "
            "proxy or firewall in between.",
        )
    # urllib3 derives NewConnectionError from ConnectTimeoutError, so test the requests class
    # (which excludes it) and only then the urllib3 one.
    connect_timeout = has(requests.ConnectTimeout)
    if connect_timeout is None:
        candidate = has(urllib3.exceptions.ConnectTimeoutError)
        if not isinstance(candidate, urllib3.exceptions.NewConnectionError):
            connect_timeout = candidate
    if connect_timeout is not None:
        return connect_timeout_failure(url, options.connect_timeout)
    if has(requests.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError):
        return read_timeout_failure(url, options.read_timeout)
    root = causes[-1]
    detail = f"{root.__class__.__name__}: {root}".rstrip(": ")
    return Failure(
        SendConnectionError,
        f"failed: {root.__class__.__name__}",
        f"The request to {host} failed ({detail}), so check the endpoint URL and the network "
        "connection.",
    )


# -- cancellable HTTP exchange --------------------------------------------------------------


class SocketRegistry:
    """The sockets one send has opened, so a cancel can shut them down from another thread.

    Shutting down a socket makes a read blocked on it return at once, which requests cannot do
    by itself. Sockets registered after `shutdown_all()` are shut down on registration.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._shut = False
        # Set once a connection of the session is open.
        self.connected = threading.Event()
        # Set by DirectRequests: connections then connect on a thread of their own and give
        # up when this event is set.
        self.cancel: threading.Event | None = None

    def register(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.add(sock)
            shut = self._shut
        self.connected.set()
        if shut:
            _shutdown_socket(sock)

    def shutdown_all(self) -> None:
        with self._lock:
            self._shut = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown_socket(sock)


def _shutdown_socket(sock: socket.socket) -> None:
    # The plain socket method on purpose: ssl.SSLSocket.shutdown also drops the TLS state,
    # which the thread still reading from it does not expect. The owner closes the socket.
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed, or never connected


def _tracking_session(registry: SocketRegistry) -> Any:
    """Return a requests Session whose HTTP and HTTPS connections register their sockets.

    NOTE: connections made through a proxy (ProxyManager) are not registered, and a cancel
    during a TLS handshake cannot reach the socket. In both cases `send` still returns within
    a second of the cancel, but the request thread keeps its socket open until its own timeout.
    """
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class TrackedHTTPConnection(HTTPConnection):
        def connect(self) -> None:
            if registry.cancel is None:
                super().connect()
            else:
                _connect_cancellable(super().connect, registry.cancel)
            registry.register(self.sock)

    class TrackedHTTPSConnection(HTTPSConnection):
        def connect(self) -> None:
            if registry.cancel is None:
                super().connect()
            else:
                _connect_cancellable(super().connect, registry.cancel)
            registry.register(self.sock)

    class TrackedHTTPPool(HTTPConnectionPool):
        ConnectionCls = TrackedHTTPConnection

    class TrackedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = TrackedHTTPSConnection

    class TrackingAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {
                "http": TrackedHTTPPool,
                "https": TrackedHTTPSPool,
            }

    session = requests.Session()
    adapter = TrackingAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def pin_environment(session: Any, url: str) -> None:
    """Resolve once the proxy and CA bundle settings that requests reads from the environment
    for `url`, and stop `session` from reading the environment again on every request.

    For a run of many requests to one origin this gives the same proxies and certificate
    checks as a session that reads them per request. It also stops requests from taking
    credentials for the host from ~/.netrc, which would replace the write key's
    Authorization header.

    An `http://` URL uses no certificates, so its session keeps `verify=True` even where
    REQUESTS_CA_BUNDLE names a file: requests 2.32 calls `os.path.isdir` on such a path
    for every request, which releases the GIL in the middle of a send.
    """
    settings = session.merge_environment_settings(url, {}, None, None, None)
    session.proxies = settings["proxies"]
    if urlsplit(url).scheme.lower() == "https":
        session.verify = settings["verify"]
    session.trust_env = False


@dataclass(frozen=True)
class _Reply:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    truncated: bool
    elapsed_ms: float


class _Cancelled(Exception):
    """The cancel event was set while a request ran."""


class DaemonPool:
    """Daemon threads that each run one submitted function at a time and then wait for the
    next one, so that a caller does not wait for a new thread to start.

    `Thread.start` returns only once the new thread runs, which can take milliseconds on a
    busy machine (docs/BENCHMARKS.md has figures). `submit` hands the function to an idle
    thread and returns at once. It starts a new thread only when every thread is busy, so
    the pool grows to the largest number of functions that ran at the same time. The
    threads are daemon threads, so a function still blocked at exit does not keep the
    process alive.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._idle = 0

    def submit(self, job: Callable[[], None]) -> None:
        """Run `job` on an idle thread of the pool, or on a new one."""
        with self._lock:
            start = self._idle == 0
            if not start:
                self._idle -= 1
        self._jobs.put(job)
        if start:
            threading.Thread(target=self._work, name=self._name, daemon=True).start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            except BaseException:  # logged, so that the thread stays in the pool
                logger.exception("A task on a %s thread failed", self._name)
            del job
            with self._lock:
                self._idle += 1


# Runs the connects of DirectRequests sessions and the senders of batch runs.
worker_pool = DaemonPool("segment-gui-worker")


class _CancelWatcher:
    """One daemon thread that shuts down the sockets of each watched DirectRequests as soon
    as its cancel event is set, which ends a blocked send or read. It checks every
    CANCEL_POLL_SECONDS while any DirectRequests is open and sleeps while none is.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._watched: set[DirectRequests] = set()
        self._thread: threading.Thread | None = None

    def add(self, direct: DirectRequests) -> None:
        with self._condition:
            self._watched.add(direct)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="segment-gui-cancel", daemon=True
                )
                self._thread.start()
            self._condition.notify()

    def remove(self, direct: DirectRequests) -> None:
        with self._condition:
            self._watched.discard(direct)

    def _watch(self) -> None:
        while True:
            with self._condition:
                while not self._watched:
                    self._condition.wait()
                cancelled = [direct for direct in self._watched if direct.cancel.is_set()]
                self._watched.difference_update(cancelled)
            for direct in cancelled:
                direct.registry.shutdown_all()
            time.sleep(CANCEL_POLL_SECONDS)


_cancel_watcher = _CancelWatcher()


class DirectRequests:
    """Runs one caller's requests on the caller's own thread, for a run of many sends, where
    `send` would otherwise start a thread per request and wait for it.

    A shared watching thread shuts down the registry's sockets within CANCEL_POLL_SECONDS
    of `cancel` being set, which ends a blocked send or read. Connecting, which no shutdown
    reaches, runs on a thread of `worker_pool` (see `_tracking_session`), so a cancel
    interrupts it as well. Call `close` when the run ends.
    """

    def __init__(self, registry: SocketRegistry, cancel: threading.Event) -> None:
        self.registry = registry
        self.cancel = cancel
        registry.cancel = cancel
        _cancel_watcher.add(self)

    def close(self) -> None:
        _cancel_watcher.remove(self)


def _connect_cancellable(connect: Callable[[], None], cancel: threading.Event) -> None:
    """Run `connect` on a thread of `worker_pool` and wait for it, or raise _Cancelled on
    cancel.

    After a cancel the thread finishes its connect alone, within the connect timeout.
    """
    errors: list[BaseException] = []
    finished = threading.Event()

    def run() -> None:
        try:
            connect()
        except BaseException as error:  # handed to the waiting thread below
            errors.append(error)
        finally:
            finished.set()

    worker_pool.submit(run)
    while not finished.wait(CANCEL_POLL_SECONDS):
        if cancel.is_set():
            raise _Cancelled
    if errors:
        raise errors[0]


def _post_once(
    http: Any, url: str, body: bytes, headers: dict[str, str], options: SendOptions
) -> _Reply:
    """POST once without following redirects and read at most max_body_bytes + 1 bytes."""
    started = time.perf_counter()
    reply = http.post(
        url,
        data=body,
        headers=headers,
        timeout=(options.connect_timeout, options.read_timeout),
        allow_redirects=False,
        stream=True,
    )
    try:
        limit = options.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        for chunk in reply.raw.stream(_READ_CHUNK_BYTES, decode_content=True):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                break
        content = b"".join(chunks)
        return _Reply(
            status=reply.status_code,
            reason=reply.reason or "",
            headers=[(str(key), str(value)) for key, value in reply.raw.headers.items()],
            body=content[:limit],
            truncated=len(content) > limit,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )
    finally:
        # Closing a response whose body was not read to the end drops its connection.
        reply.close()


def _exchange(
    http: Any,
    url: str,
    body: bytes,
    headers: dict[str, str],
    options: SendOptions,
    registry: SocketRegistry,
    cancel: threading.Event,
    direct: DirectRequests | None = None,
) -> _Reply:
    """Run `_post_once` on a daemon thread, or on this thread with `direct`, and return its
    reply, or raise on cancel.

    requests cannot interrupt a blocked read, so this thread waits for either the request
    thread or the cancel event. On cancel it shuts down the send's sockets, which ends the
    blocked read, and gives the request thread a moment to close them.
    """
    if direct is not None:
        return _exchange_direct(http, url, body, headers, options, cancel)
    result: list[_Reply] = []
    errors: list[BaseException] = []
    finished = threading.Event()

    def run() -> None:
        try:
            result.append(_post_once(http, url, body, headers, options))
        except BaseException as error:  # handed to the waiting thread below
            errors.append(error)
        finally:
            finished.set()

    worker = threading.Thread(target=run, name="segment-gui-request", daemon=True)
    worker.start()
    try:
        while not finished.wait(CANCEL_POLL_SECONDS):
            if cancel.is_set():
                raise _Cancelled
    except BaseException:
        # On a cancel, or KeyboardInterrupt in a command-line send, stop the request in flight.
        registry.shutdown_all()
        worker.join(CANCEL_JOIN_SECONDS)
        raise
    # A reply that arrived before the cancel is returned, because the server has the message.
    if errors:
        raise errors[0]
    return result[0]


def _exchange_direct(
    http: Any,
    url: str,
    body: bytes,
    headers: dict[str, str],
    options: SendOptions,
    cancel: threading.Event,
) -> _Reply:
    """Run `_post_once` on this thread; DirectRequests ends it on cancel."""
    if cancel.is_set():
        raise _Cancelled
    try:
        return _post_once(http, url, body, headers, options)
    except Exception:
        # A cancel shuts down the socket, so the read fails; report the cancel instead.
        if cancel.is_set():
            raise _Cancelled from None
        raise


# -- redirects ------------------------------------------------------------------------------


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port or default


def _describe_other_origin(source: str, target: str) -> str:
    source_scheme, source_host, _ = _origin(source)
    target_scheme, target_host, _ = _origin(target)
    if source_host != target_host:
        return "another host"
    if source_scheme != target_scheme:
        return f"another scheme ({target_scheme})"
    return "another port"


def _location(reply: _Reply) -> str | None:
    return next((value for key, value in reply.headers if key.lower() == "location"), None)


# -- send -----------------------------------------------------------------------------------


@dataclass
class _AttemptResult:
    reply: _Reply
    url: str
    redirect_note: str


def _attempt(
    http: Any,
    url: str,
    body: bytes,
    headers: dict[str, str],
    options: SendOptions,
    registry: SocketRegistry,
    cancel: threading.Event,
    on_progress: Callable[[str], None] | None,
    direct: DirectRequests | None = None,
) -> _AttemptResult:
    """POST to `url` and follow same-origin 307 and 308 redirects, at most MAX_REDIRECTS."""
    start_host = host_label(url)
    current = url
    spent_ms = 0.0
    note = ""
    for hop in range(MAX_REDIRECTS + 1):
        reply = _exchange(http, current, body, headers, options, registry, cancel, direct)
        spent_ms += reply.elapsed_ms
        location = _location(reply)
        status = f"{reply.status} {reply.reason}".strip()
        if not 300 <= reply.status < 400:
            break
        if location is None:
            note = f"{host_label(current)} answered {status} without a Location header."
            break
        target = urljoin(current, location)
        if _origin(target) != _origin(current):
            where = _describe_other_origin(current, target)
            note = (
                f"{host_label(current)} answered {status} with a redirect to {target}, "
                f"{where}, and it was not followed so the write key stays with "
                f"{host_label(current)}."
            )
            logger.warning("Did not follow the redirect from %s to %s (%s)", current, target, where)
            break
        if reply.status not in (307, 308):
            note = (
                f"{host_label(current)} answered {status} with a redirect to {target}, which "
                "was not followed because that status turns the POST into a GET, so set the "
                "endpoint URL to the new address if it is right."
            )
            break
        if hop == MAX_REDIRECTS:
            note = (
                f"{start_host} redirected more than {MAX_REDIRECTS} times and the redirect to "
                f"{target} was not followed, so check the endpoint URL."
            )
            break
        logger.info("Following %s redirect from %s to %s", reply.status, current, target)
        if on_progress is not None:
            on_progress(f"Following the {reply.status} redirect to {target}")
        note = f"{start_host} redirected the request to {target} ({status}), and it was followed."
        current = target
    final = _Reply(reply.status, reply.reason, reply.headers, reply.body, reply.truncated, spent_ms)
    return _AttemptResult(final, current, note)


def _retry_wait(reply: _Reply, number: int, options: SendOptions) -> tuple[float, str, bool] | None:
    """Return (seconds, outcome note, from Retry-After) before the next try, or None.

    429 and 503 honour Retry-After (capped at retry_after_cap). Other 5xx, and 429 or 503
    without a usable Retry-After, use the exponential backoff.
    """
    if reply.status != 429 and reply.status < 500:
        return None
    if reply.status in (429, 503):
        header = next((value for key, value in reply.headers if key.lower() == "retry-after"), None)
        requested = retry_after_seconds(header)
        if requested is not None:
            if requested > options.retry_after_cap:
                note = (
                    f"Retry-After {format_seconds(requested)} s capped at "
                    f"{format_seconds(options.retry_after_cap)} s"
                )
                return options.retry_after_cap, note, True
            return requested, "", True
    return backoff_seconds(number + 1, options.wait_ms), "", False


def send(
    base_url: str,
    message: Message,
    write_key: str,
    options: SendOptions = SendOptions(),
    *,
    cancel: threading.Event | None = None,
    on_progress: Callable[[str], None] | None = None,
    session: Any = None,
    direct: DirectRequests | None = None,
) -> Response:
    """POST `message` to `{base_url}/{message.path}` with HTTP Basic auth and return the response.

    With `options.max_tries` above 1, connection errors, timeouts, 429 and 5xx responses are
    retried. Other 4xx responses and TLS failures are not. A retried POST may reach Segment twice
    and Segment drops the duplicate by its messageId. Redirects are followed only within the
    same scheme, host and port, so the write key never reaches another server.

    Raises SendError (or a subclass such as SendTimeout or SendCancelled) when the last attempt
    got no HTTP response. `on_progress` gets one sentence per wait and per retry, on this
    thread. With a caller's `session`, a cancel still returns within a second but cannot
    shut down that session's socket. With `direct`, whose registry must be the one of
    `session`, the requests run on this thread instead of a new thread per attempt.
    """
    url = f"{base_url.rstrip('/')}/{message.path}"
    body = message.to_bytes()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Authorization": basic_auth(write_key),
    }
    sent = SentRequest("POST", url, {**headers, "Authorization": MASKED_AUTHORIZATION}, body)
    cancel = cancel or threading.Event()
    registry = SocketRegistry()
    http = session if session is not None else _tracking_session(registry)
    attempts: list[Attempt] = []
    try:
        return _send_attempts(
            http, url, body, headers, sent, options, registry, cancel, on_progress, attempts, direct
        )
    finally:
        if session is None:
            http.close()


def _send_attempts(
    http: Any,
    url: str,
    body: bytes,
    headers: dict[str, str],
    sent: SentRequest,
    options: SendOptions,
    registry: SocketRegistry,
    cancel: threading.Event,
    on_progress: Callable[[str], None] | None,
    attempts: list[Attempt],
    direct: DirectRequests | None = None,
) -> Response:
    import requests
    import urllib3.exceptions

    host = host_label(url)
    tries = options.max_tries
    wait = 0.0
    waited_ms = 0.0
    for number in range(1, tries + 1):
        if wait > 0:
            started_wait = time.perf_counter()
            cancelled = cancel.wait(wait)
            waited_ms = (time.perf_counter() - started_wait) * 1000
            if cancelled:
                attempts.append(Attempt(number, "cancelled", 0.0, None, waited_ms))
                logger.warning("Send to %s cancelled before attempt %d", url, number)
                raise SendCancelled(
                    f"Sending to {host} was cancelled before attempt {number} of {tries}.",
                    sent,
                    attempts,
                )
        if cancel.is_set():
            attempts.append(Attempt(number, "cancelled", 0.0, None, waited_ms))
            raise SendCancelled(
                f"Sending to {host} was cancelled before attempt {number} of {tries}.",
                sent,
                attempts,
            )
        if number > 1 and on_progress is not None:
            on_progress(f"Sending attempt {number} of {tries} to {host}")

        started = time.perf_counter()
        try:
            result = _attempt(
                http, url, body, headers, options, registry, cancel, on_progress, direct
            )
        except _Cancelled:
            elapsed = (time.perf_counter() - started) * 1000
            attempts.append(Attempt(number, "cancelled", elapsed, None, waited_ms))
            logger.warning("Send to %s cancelled during attempt %d", url, number)
            raise SendCancelled(
                f"Sending to {host} was cancelled during attempt {number} of {tries}, after "
                "the request had started, so the server may have received the message.",
                sent,
                attempts,
            ) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
            # requests raises its own exceptions, and urllib3's while reading a streamed body.
            elapsed = (time.perf_counter() - started) * 1000
            failure = describe_failure(error, url, options)
            attempts.append(Attempt(number, failure.outcome, elapsed, None, waited_ms))
            logger.warning(
                "POST %s attempt %d of %d failed after %.0f ms: %s",
                url,
                number,
                tries,
                elapsed,
                failure.outcome,
            )
            if number >= tries or not failure.retryable:
                raise failure.kind(failure.message, sent, attempts) from error
            wait = backoff_seconds(number + 1, options.wait_ms)
            waited_ms = 0.0
            _report_wait(on_progress, url, wait, number + 1, tries, failure.outcome, False)
            continue

        reply = result.reply
        status_line = f"{reply.status} {reply.reason}".strip()
        logger.info(
            "POST %s attempt %d of %d: %s in %.0f ms",
            url,
            number,
            tries,
            status_line,
            reply.elapsed_ms,
        )
        retry = _retry_wait(reply, number, options) if number < tries else None
        outcome = status_line
        if retry is not None and retry[1]:
            outcome = f"{status_line}, {retry[1]}"
        attempts.append(Attempt(number, outcome, reply.elapsed_ms, reply.status, waited_ms))
        if retry is None:
            return Response(
                status=reply.status,
                reason=reply.reason,
                elapsed_ms=reply.elapsed_ms,
                headers=reply.headers,
                body=reply.body,
                request=SentRequest(sent.method, result.url, sent.headers, sent.body),
                attempts=attempts,
                truncated=reply.truncated,
                redirect_note=result.redirect_note,
            )
        wait, _note, from_retry_after = retry
        waited_ms = 0.0
        _report_wait(on_progress, url, wait, number + 1, tries, status_line, from_retry_after)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _report_wait(
    on_progress: Callable[[str], None] | None,
    url: str,
    seconds: float,
    number: int,
    tries: int,
    reason: str,
    from_retry_after: bool,
) -> None:
    logger.warning(
        "POST %s got %s, retrying in %.1f s (attempt %d of %d)",
        url,
        reason,
        seconds,
        number,
        tries,
    )
    if on_progress is None:
        return
    if from_retry_after:
        on_progress(
            f"Waiting {format_seconds(seconds)} s for Retry-After before attempt {number} "
            f"of {tries}"
        )
    else:
        on_progress(
            f"Waiting {format_seconds(seconds)} s before attempt {number} of {tries} after {reason}"
        )
