"""Endpoints and the HTTP sender.

`send()` blocks; the window runs it on a worker thread. requests is imported on first send to
keep it out of start-up.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from segment_gui import __version__
from segment_gui.payload import Message

logger = logging.getLogger(__name__)

ENDPOINTS = {
    "us": "https://api.segment.io/v1",
    "eu": "https://events.eu1.segmentapis.com/v1",
}
ENDPOINT_LABELS = {
    "us": "Segment US",
    "eu": "Segment EU",
    "sandbox": "Local sandbox",
}
SANDBOX = "sandbox"
# Sent to a loopback collector when no credential is chosen; it is not a secret.
SANDBOX_WRITE_KEY = "sandbox-write-key"
DEFAULT_TIMEOUT = (5.0, 30.0)
USER_AGENT = f"segment-gui/{__version__}"


class EndpointError(ValueError):
    """An endpoint setting that is neither a known name nor a usable URL."""


class SendError(Exception):
    """A send that got no HTTP response; the message says what failed and what to try."""

    def __init__(self, message: str, request: SentRequest | None = None) -> None:
        super().__init__(message)
        self.request = request
        self.attempts: list[Attempt] = []


class SendCancelled(SendError):
    pass


def check_endpoint(endpoint: str) -> None:
    """Accept `us`, `eu`, `sandbox` or an http(s) URL with a host."""
    if endpoint in ENDPOINTS or endpoint == SANDBOX:
        return
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointError(
            f"endpoint {endpoint!r} is not valid; use us, eu, sandbox or a URL such as "
            "http://127.0.0.1:8080/v1"
        )


def resolve_base_url(endpoint: str, sandbox_url: str | None = None) -> str:
    """Return the base URL (ending in `/v1` for Segment) that message paths are joined to."""
    check_endpoint(endpoint)
    if endpoint == SANDBOX:
        if sandbox_url is None:
            raise EndpointError(
                "the local sandbox runs inside the window; for the command line start "
                "`segment-gui sandbox` and pass its URL with --endpoint"
            )
        return sandbox_url
    return ENDPOINTS.get(endpoint, endpoint).rstrip("/")


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host == "localhost" or host.startswith("127.") or host == "::1"


def endpoint_label(endpoint: str) -> str:
    return ENDPOINT_LABELS.get(endpoint, endpoint)


@dataclass(frozen=True)
class SentRequest:
    """The request as sent, with the Authorization header masked."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Attempt:
    number: int
    outcome: str
    elapsed_ms: float


@dataclass
class Response:
    status: int
    reason: str
    elapsed_ms: float
    headers: list[tuple[str, str]]
    body: bytes
    request: SentRequest
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class RetryPolicy:
    """n8n's Retry On Fail: `max_tries` attempts in all, `wait_ms` between them."""

    max_tries: int = 1
    wait_ms: int = 0


def basic_auth(write_key: str) -> str:
    token = base64.b64encode(f"{write_key}:".encode()).decode("ascii")
    return f"Basic {token}"


def send(
    base_url: str,
    message: Message,
    write_key: str,
    *,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    retry: RetryPolicy | None = None,
    cancel: threading.Event | None = None,
    session: Any = None,
) -> Response:
    """POST `message` to `{base_url}/{message.path}` with HTTP Basic auth.

    Retries (when `retry` allows more than one try) follow connection errors, timeouts, 429 and
    5xx answers. Redirects are not followed, so the write key never reaches another host.
    """
    import requests

    url = f"{base_url.rstrip('/')}/{message.path}"
    body = message.to_bytes()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Authorization": basic_auth(write_key),
    }
    masked = {**headers, "Authorization": "Basic ••••••"}
    sent = SentRequest("POST", url, masked, body)
    policy = retry or RetryPolicy()
    cancel = cancel or threading.Event()
    http = session or requests.Session()
    attempts: list[Attempt] = []
    try:
        for number in range(1, max(1, policy.max_tries) + 1):
            if number > 1 and cancel.wait(policy.wait_ms / 1000):
                break
            started = time.perf_counter()
            try:
                reply = http.post(
                    url, data=body, headers=headers, timeout=timeout, allow_redirects=False
                )
            except requests.RequestException as error:
                elapsed = (time.perf_counter() - started) * 1000
                reason = describe_error(error, url, timeout)
                attempts.append(Attempt(number, reason, elapsed))
                logger.warning("Send attempt %d to %s failed: %s", number, url, reason)
                if number >= policy.max_tries or cancel.is_set():
                    failure = SendError(reason, sent)
                    failure.attempts = attempts
                    raise failure from error
                continue
            elapsed = (time.perf_counter() - started) * 1000
            attempts.append(Attempt(number, f"{reply.status_code} {reply.reason}", elapsed))
            logger.info("Sent %s: %d %s in %.0f ms", url, reply.status_code, reply.reason, elapsed)
            retryable = reply.status_code == 429 or reply.status_code >= 500
            if not retryable or number >= policy.max_tries or cancel.is_set():
                return Response(
                    status=reply.status_code,
                    reason=reply.reason or "",
                    elapsed_ms=elapsed,
                    headers=list(reply.headers.items()),
                    body=reply.content,
                    request=sent,
                    attempts=attempts,
                )
    finally:
        if session is None:
            http.close()
    cancelled = SendCancelled("Send cancelled before the next attempt", sent)
    cancelled.attempts = attempts
    raise cancelled


def describe_error(error: Exception, url: str, timeout: tuple[float, float]) -> str:
    """Turn a requests exception into one plain sentence with a hint."""
    import requests

    host = urlsplit(url).netloc
    if isinstance(error, requests.ConnectTimeout):
        return f"Connecting to {host} timed out after {timeout[0]:g} s; check the endpoint"
    if isinstance(error, requests.ReadTimeout):
        return f"{host} sent no answer within {timeout[1]:g} s; try again later"
    if isinstance(error, requests.exceptions.SSLError):
        return f"TLS handshake with {host} failed; check the URL and the system's certificates"
    if isinstance(error, requests.ConnectionError):
        text = str(error)
        if "Name or service not known" in text or "getaddrinfo" in text:
            return f"Cannot resolve host {host}; check the endpoint URL and your network"
        if "refused" in text.lower():
            return f"Connection to {host} refused; is the server running on that port?"
        return f"Connection to {host} failed: {error.__class__.__name__}; check the network"
    return f"Request to {host} failed: {error}"
